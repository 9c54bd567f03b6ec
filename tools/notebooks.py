"""Execute the book's chapters: in place (``make execute``), or once each for timing (``make bench``).

    python -m tools.notebooks execute [CHAPTER ...]    # re-run chapters top to bottom on a fresh kernel, in place

Chapters run with their folder as the working directory, on a fresh ``python3`` kernel of this environment,
with progress bars hidden (``BOOK_PROGRESS=0``) so that no stderr reaches the committed outputs.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
TIMEOUT_S = 1200


def chapter_paths(names: list[str] | None = None) -> list[Path]:
    """The chapters, in book order, or those named (by stem or path)."""
    paths = sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return paths
    chosen = []
    for name in names:
        match = [p for p in paths if p.stem == Path(name).stem]
        if not match:
            raise SystemExit(f"no chapter {name!r}; chapters are {[p.stem for p in paths]}")
        chosen.extend(match)
    return chosen


def execute(path: Path, *, write: bool = True, record_timing: bool = False) -> nbformat.NotebookNode:
    """Execute one chapter on a fresh kernel, top to bottom; optionally write it back in place.

    With ``record_timing`` the returned notebook keeps each code cell's ``metadata.execution`` timestamps (see
    :func:`section_seconds`); they are never written to the committed chapter.
    """
    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("BOOK_PROGRESS", "0")
    client = NotebookClient(
        nb,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=record_timing,
    )
    client.execute()
    if not _has_widgets(nb):  # nbclient stores an empty widget state otherwise
        nb.metadata.pop("widgets", None)
    if write:
        committed = nbformat.from_dict(nb)
        for cell in committed.cells:  # drop volatile metadata
            cell.metadata.pop("execution", None)
        nbformat.write(committed, path)
    return nb


def section_seconds(nb: nbformat.NotebookNode) -> list[tuple[str, float]]:
    """Wall time of each section of an executed chapter: (heading, seconds), in order.

    A section starts at each level-1 or level-2 heading (``#`` or ``##``) of a Markdown cell; its time is the sum
    over its code cells of the kernel's time from receiving the cell to replying. Sections without code (but the
    first) are left out.
    """
    from datetime import datetime

    sections: list[list] = []
    timed = False
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            prose = re.sub(r"^(```|~~~).*?^\1", "", cell.source, flags=re.MULTILINE | re.DOTALL)  # not code blocks
            titles = [h.strip() for h in re.findall(r"^#{1,2} (.+)$", prose, re.MULTILINE)]
            if titles and index == 0:  # the chapter's title: its section is the opening
                titles[0] = f"(opening) {titles[0]}"
            sections += [[title, 0.0] for title in titles]
        elif cell.cell_type == "code":
            timing = cell.metadata.get("execution", {})
            start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
            if start is None or end is None:  # an empty cell is not executed
                continue
            timed = True
            if not sections:
                sections.append(["(before the first heading)", 0.0])
            elapsed = datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(
                start.replace("Z", "+00:00")
            )
            sections[-1][1] += elapsed.total_seconds()
    if not timed and any(c.cell_type == "code" and c.source.strip() for c in nb.cells):
        raise ValueError("section_seconds needs a chapter executed with record_timing=True")
    return [(title, seconds) for i, (title, seconds) in enumerate(sections) if i == 0 or seconds > 0]


#: The sentence in a chapter's opening cell that states its running time: ``**Running time.** About N s …``.
RUNNING_TIME = re.compile(r"(\*\*Running time\.?\*\*[^\n]*?)(\d+(?:\.\d+)?)(\s*)(s|seconds|min|minutes)\b", re.I)


def rounded_seconds(seconds: float) -> int:
    """How a chapter states a measured running time: to the nearest 5 s below a minute, to the nearest 10 s above
    (never 0)."""
    step = 5 if seconds < 60 else 10
    return max(step, int(round(seconds / step)) * step)


def stated_seconds(nb: nbformat.NotebookNode) -> float:
    """The running time (s) a chapter's opening cell states."""
    match = RUNNING_TIME.search(nb.cells[0].source)
    if match is None:
        raise ValueError("no '**Running time.** … N s' sentence in the opening cell")
    return float(match.group(2)) * (60 if match.group(4).lower().startswith("min") else 1)


def state_running_time(path: Path, seconds: float) -> bool:
    """Write the measured ``seconds``, rounded (:func:`rounded_seconds`), into the chapter's running-time sentence;
    only the opening cell's text changes (no re-execution). Returns whether the file changed."""
    nb = nbformat.read(path, as_version=4)
    text = nb.cells[0].source
    if RUNNING_TIME.search(text) is None:
        raise ValueError(f"{path.name}: no '**Running time.** … N s' sentence in the opening cell")
    new = RUNNING_TIME.sub(lambda m: f"{m.group(1)}{rounded_seconds(seconds)} s", text, count=1)
    if new == text:
        return False
    nb.cells[0].source = new
    nbformat.write(nb, path)
    return True


#: How fast the book assumes a reader reads its prose (technical text with formulas: slower than the usual 200-250)
WORDS_PER_MINUTE = 150
#: The sentence in a chapter's opening cell that states its study time (written by :func:`state_study_time`)
STUDY_TIME = re.compile(r"\*\*Study time\.\*\*.*?(?=\n\n|\Z)", re.S)
_LINK_TARGET = re.compile(r"\]\([^)\s]*\)")
_WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")


def study_facts(nb: nbformat.NotebookNode) -> tuple[int, int, int]:
    """(words of prose, minutes to read them at WORDS_PER_MINUTE rounded to 5, exercises) of a chapter. Prose is
    its Markdown cells without the study-time sentence, link addresses and code; a formula counts its words."""
    prose = "\n".join(STUDY_TIME.sub("", c.source) for c in nb.cells if c.cell_type == "markdown")
    prose = _LINK_TARGET.sub("]", re.sub(r"```.*?```", "", prose, flags=re.S))
    words = len(_WORD.findall(prose))
    minutes = max(5, int(round(words / WORDS_PER_MINUTE / 5)) * 5)
    exercises = sum("exercise" in c.metadata.get("tags", []) for c in nb.cells if c.cell_type == "code")
    return words, minutes, exercises


def study_sentence(nb: nbformat.NotebookNode) -> str:
    """The chapter's study-time sentence, from :func:`study_facts`."""
    words, minutes, exercises = study_facts(nb)
    return (
        f"**Study time.** About {minutes} minutes of reading ({words:,} words at {WORDS_PER_MINUTE} a minute),\n"
        f"and {exercises} exercise{'s' if exercises != 1 else ''} to solve in your own copy (`make lab`)."
    )


def state_study_time(path: Path) -> bool:
    """Write the study-time sentence into the chapter's opening cell, after its running-time paragraph (replacing an
    earlier one). Returns whether the file changed."""
    nb = nbformat.read(path, as_version=4)
    text = nb.cells[0].source
    sentence = study_sentence(nb)
    if STUDY_TIME.search(text):
        new = STUDY_TIME.sub(lambda m: sentence, text, count=1)
    else:
        match = RUNNING_TIME.search(text)
        if match is None:
            raise ValueError(f"{path.name}: no '**Running time.** … N s' sentence in the opening cell")
        end = text.find("\n\n", match.end())
        end = len(text) if end < 0 else end
        new = text[:end] + "\n\n" + sentence + text[end:]
    if new == text:
        return False
    nb.cells[0].source = new
    nbformat.write(nb, path)
    return True


#: A line of drawing code: a call on a figure, axes or the plotting helpers, a figure check, or the loop and
#: bracket lines around such calls
_DRAWING_LINE = re.compile(
    r"\b(?:plt|ax\d*|axes|axs|fig|grid|plots?|cbar|im)\.|\bdraw_\w*\(|\bplot_\w*\(|^\s*check\("
    r"|\bset_(?:title|xlabel|ylabel|xticks|yticks|xlim|ylim)|^\s*(?:for|if|else|elif)\b.*:\s*$|^\s*[\]\)\}],?\s*$"
    r"|^\s*f?\""
)
#: the share of a figure cell's code lines that must be drawing for the cell to be folded
DRAWING_SHARE = 0.75
#: the fold of a drawing cell in the book
DRAWING_LABELS = {"code_prompt_show": "Show the drawing code", "code_prompt_hide": "Hide the drawing code"}
#: the fold of a cell of claim records in the book
CLAIMS_LABELS = {"code_prompt_show": "Show the claim records", "code_prompt_hide": "Hide the claim records"}


def is_drawing_cell(cell: nbformat.NotebookNode) -> bool:
    """A code cell that draws a figure and does little else: it shows an image, defines no function, is no
    exercise, and at least DRAWING_SHARE of its code lines draw (:data:`_DRAWING_LINE`)."""
    if cell.cell_type != "code" or "exercise" in cell.metadata.get("tags", []):
        return False
    if not any("image/png" in out.get("data", {}) for out in cell.get("outputs", [])):
        return False
    if re.search(r"^\s*(?:def|class) ", cell.source, re.MULTILINE):
        return False
    lines = [line for line in cell.source.splitlines() if line.strip() and not line.strip().startswith("#")]
    return bool(lines) and sum(bool(_DRAWING_LINE.search(line)) for line in lines) >= DRAWING_SHARE * len(lines)


def is_claims_cell(cell: nbformat.NotebookNode) -> bool:
    """A cell that states a chapter's claims (``helpers.claims.show``): its table is what the reader reads."""
    return cell.cell_type == "code" and "claims.show(" in cell.source


def fold_labels(cell: nbformat.NotebookNode) -> dict | None:
    """The fold a code cell gets in the book: drawing code, claim records, or none."""
    if is_drawing_cell(cell):
        return DRAWING_LABELS
    if is_claims_cell(cell):
        return CLAIMS_LABELS
    return None


def fold_code_cells(path: Path) -> int:
    """Fold the input of every drawing cell of a chapter in the book ("Show the drawing code"), and of every cell of
    claim records ("Show the claim records"), so that the method's code stands out; unfold a cell that is no longer
    one. Returns how many cells changed."""
    nb = nbformat.read(path, as_version=4)
    changed = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or "exercise" in cell.metadata.get("tags", []):
            continue
        tags = cell.metadata.get("tags", [])
        folded = cell.metadata.get("mystnb") if "hide-input" in tags else None
        wanted = fold_labels(cell)
        if wanted == folded:
            continue
        if wanted is not None:
            cell.metadata["tags"] = [*(t for t in tags if t != "hide-input"), "hide-input"]
            cell.metadata["mystnb"] = dict(wanted)
        else:
            cell.metadata["tags"] = [t for t in tags if t != "hide-input"]
            cell.metadata.pop("mystnb", None)
            if not cell.metadata["tags"]:
                cell.metadata.pop("tags")
        changed += 1
    if changed:
        nbformat.write(nb, path)
    return changed


# A number in a chapter's output, and the words that make a small number a stated bound rather than a measurement.
_NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+−]?\d+)?(?![\w.])")
_BOUND_BEFORE = re.compile(r"(?:≤|<=?|\b(?:atol|rtol|tol|tolerance|bound|threshold|to|within|below)\s*[=:]?)\s*$", re.I)
NOISE_FLOOR = 1e-9


def _output_texts(cell: nbformat.NotebookNode) -> list[str]:
    texts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            texts.append(out["text"])
        for mime in ("text/plain", "text/markdown", "text/html"):
            if mime in out.get("data", {}):
                texts.append(out["data"][mime])
    return ["".join(t) if isinstance(t, list) else t for t in texts]


def noise_prints(nb: nbformat.NotebookNode, *, floor: float = NOISE_FLOOR) -> list[tuple[int, str]]:
    """Lines of committed outputs that print a number below ``floor`` (not zero) that is not a stated bound.

    Such a number is almost always a rounding residual, and rounding differs between CPUs: the book prints a verdict
    against a bound instead (:func:`helpers.verdicts.verdict`). A number counts as a stated bound when it follows
    ``≤``, ``<``, ``atol=``, ``tolerance``, ``to``, ``within`` and the like. Returns ``(code cell number, line)`` pairs,
    code cells counted from 1 as in the hygiene tests' messages.
    """
    found = []
    code_cells = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    for number, cell in enumerate(code_cells, start=1):
        for text in _output_texts(cell):
            for line in text.splitlines():
                for match in _NUMBER.finditer(line):
                    try:
                        value = abs(float(match.group().replace("−", "-")))
                    except ValueError:  # pragma: no cover - the pattern only matches numbers
                        continue
                    if 0 < value < floor and not _BOUND_BEFORE.search(line[: match.start()]):
                        found.append((number, line.strip()))
                        break
    return found


def _has_widgets(nb: nbformat.NotebookNode) -> bool:
    return any(
        "application/vnd.jupyter.widget-view+json" in out.get("data", {})
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.notebooks")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("execute", help="re-execute chapters in place on a fresh kernel")
    p.add_argument("chapters", nargs="*")
    p = sub.add_parser("tidy", help="write each chapter's study-time sentence and fold its drawing cells")
    p.add_argument("chapters", nargs="*")
    args = parser.parse_args(argv)
    if args.command == "tidy":
        for path in chapter_paths(args.chapters):
            study, folds = state_study_time(path), fold_code_cells(path)
            print(f"{path.name}: study time {'updated' if study else 'unchanged'}; {folds} fold(s) changed")
        return _write_schedules()
    for path in chapter_paths(args.chapters):
        start = time.perf_counter()
        print(f"executing {path.relative_to(ROOT)} …", flush=True)
        execute(path)
        state_study_time(path)
        fold_code_cells(path)  # after the run: a drawing cell is one that shows a figure
        print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    return _write_schedules()


def _write_schedules() -> int:
    """The instructor page's schedules read the chapters' sections and exercises: rewrite them after a change."""
    from tools import schedules  # imports this module

    return schedules.main([])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
