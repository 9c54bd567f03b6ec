"""Notebook hygiene: every chapter is committed executed, clean, self-describing and listed in the book.

These checks read the committed notebooks; nbval (run by `make test` over `chapters/`) re-executes them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from helpers.runtime import MIN_TEXT_PX
from helpers.tables import PYTHON_VALUE
from tools.notebooks import (
    DRAWING_LABELS,
    RUNNING_TIME,
    STUDY_TIME,
    fold_labels,
    is_drawing_cell,
    noise_prints,
    rounded_seconds,
    stated_seconds,
    study_sentence,
)

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
BENCH = ROOT / "data" / "bench.json"
ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:work|root|home|tmp|Users|usr|opt|var)/")
#: the fold of every exercise's solution, in every chapter
SOLUTION_LABELS = {"code_prompt_show": "Show the solution", "code_prompt_hide": "Hide the solution"}
FIGURE_CHECK_LINE = re.compile(r"^figure '[^']+': data matches its reference", re.M)


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def _stream_text(cell, name: str) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == name)


@pytest.fixture(params=CHAPTERS, ids=[p.stem for p in CHAPTERS])
def chapter(request):
    path = request.param
    return path, nbformat.read(path, as_version=4)


def test_there_are_chapters():
    assert CHAPTERS, "no chapters found in chapters/"
    assert all(re.match(r"^\d\d_[a-z0-9_]+$", p.stem) for p in CHAPTERS), [p.stem for p in CHAPTERS]


def test_executed_top_to_bottom(chapter):
    path, nb = chapter
    counts = [c.execution_count for c in _code_cells(nb)]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name} was not executed top to bottom on a fresh kernel (counts {counts}); run `make execute`"
    )


def test_no_errors_or_warnings(chapter):
    path, nb = chapter
    for i, cell in enumerate(_code_cells(nb)):
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"{path.name}, code cell {i + 1}: an error output"
        stderr = _stream_text(cell, "stderr")
        assert "warn" not in stderr.lower(), f"{path.name}, code cell {i + 1}: a warning on stderr: {stderr[:300]}"
        assert not stderr.strip(), f"{path.name}, code cell {i + 1}: stderr output (progress bar?): {stderr[:300]}"


def test_no_rounding_noise_printed(chapter):
    """No committed output prints a number below 1e-9 unless it is a stated bound: such a number is a rounding
    residual, which differs between CPUs and would fail the reader's `make test`. Print a verdict instead."""
    path, nb = chapter
    found = noise_prints(nb)
    assert not found, (
        f"{path.name}: "
        + "; ".join(f"code cell {cell} prints a rounding-noise number: {line!r}" for cell, line in found)
        + " — print a verdict against a stated bound (helpers.verdicts.verdict) instead"
    )


def test_markdown_tables_in_outputs_have_one_cell_per_column(chapter):
    """A `|` inside a cell of a Markdown table starts a new column and shifts every cell after it (escape it, as
    helpers.tables.markdown_table does)."""
    path, nb = chapter
    unescaped = re.compile(r"(?<!\\)\|")
    for i, cell in enumerate(_code_cells(nb)):
        for out in cell.get("outputs", []):
            lines = [l for l in out.get("data", {}).get("text/markdown", "").splitlines() if l.startswith("|")]
            counts = {len(unescaped.findall(line)) for line in lines}
            assert len(counts) <= 1, f"{path.name}, code cell {i + 1}: table rows with different cell counts: {lines}"


def test_no_table_cell_shows_a_python_value(chapter):
    """A reader sees "yes", "—" or "not defined", never Python's True, None, nan or inf (helpers.tables refuses them;
    this reads what the committed chapters print, tables built by hand included)."""
    path, nb = chapter
    for i, cell in enumerate(_code_cells(nb)):
        for out in cell.get("outputs", []):
            markdown = out.get("data", {}).get("text/markdown", "")
            rows = [line for line in markdown.splitlines() if line.startswith("|")]
            shown = [m.group(0) for row in rows for m in PYTHON_VALUE.finditer(row)]
            assert not shown, f"{path.name}, code cell {i + 1}: a table shows Python values {shown}: {rows[:3]}"


def test_no_absolute_paths(chapter):
    path, _ = chapter
    match = ABSOLUTE_PATH.search(path.read_text())
    assert match is None, (
        f"{path.name} contains an absolute path near {path.read_text()[match.start() - 40 : match.end() + 40]!r}"
    )


def test_opens_with_title_objectives_prerequisites_and_time(chapter):
    path, nb = chapter
    first = nb.cells[0]
    assert first.cell_type == "markdown", f"{path.name} must open with a Markdown cell"
    text = first.source
    assert re.match(r"^# \S", text), f"{path.name}: the first cell must start with a level-one title"
    assert re.search(r"\*\*Learning objectives\.?\*\*", text), f"{path.name}: no learning objectives"
    assert re.search(r"\*\*Prerequisites\.?\*\*", text), f"{path.name}: no prerequisites"
    assert RUNNING_TIME.search(text), f"{path.name}: no '**Running time.** … N s/min' line"


def test_stated_running_time_is_the_benchs(chapter):
    """The running time a chapter states is the one `make bench` measured, rounded as `make bench` writes it."""
    path, nb = chapter
    bench = json.loads(BENCH.read_text())
    measured = {row["chapter"]: row["seconds"] for row in bench["chapters"]}
    assert path.stem in measured, f"{path.stem} is not in data/bench.json; run `make bench`"
    assert stated_seconds(nb) == rounded_seconds(measured[path.stem]), (
        f"{path.name} states {stated_seconds(nb):.0f} s, make bench measured {measured[path.stem]:.0f} s: "
        "run `make bench`, which rewrites the sentence"
    )


def test_stated_study_time_is_computed_from_the_chapter(chapter):
    """Reading time and exercise count, as `python -m tools.notebooks tidy` (run by make execute) writes them."""
    path, nb = chapter
    stated = STUDY_TIME.search(nb.cells[0].source)
    assert stated, f"{path.name}: no '**Study time.**' sentence in the opening cell (python -m tools.notebooks tidy)"
    assert stated.group(0) == study_sentence(nb), (
        f"{path.name}: the study time is stale, {stated.group(0)!r} instead of {study_sentence(nb)!r}: run "
        "`python -m tools.notebooks tidy`"
    )


def test_drawing_cells_and_only_they_are_folded_as_drawing_code(chapter):
    """A cell that only draws is folded in the book ("Show the drawing code"), and so is a cell of claim records
    ("Show the claim records"), so that the method's code stands out; a cell with method code is not
    (python -m tools.notebooks tidy, run by make execute, keeps this so)."""
    path, nb = chapter
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "exercise" in cell.metadata.get("tags", []):
            continue
        folded = cell.metadata.get("mystnb") if "hide-input" in cell.metadata.get("tags", []) else None
        assert folded == fold_labels(cell), (
            f"{path.name}, cell {i}: folded as {folded}, should be {fold_labels(cell)}"
            f" (run python -m tools.notebooks tidy): {cell.source[:80]!r}"
        )
        assert folded != DRAWING_LABELS or is_drawing_cell(cell)


def test_every_figure_is_drawn_for_the_column_with_readable_text(chapter):
    """Each figure output was drawn by helpers.runtime.figure_png: fitted to the column, twice as sharp, its smallest
    text at least MIN_TEXT_PX at its drawn width, and no two of its texts over each other. (The browser test checks
    the text size again at the scale the page shows it.)"""
    path, nb = chapter
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if "image/png" not in out.get("data", {}):
                continue
            meta = out.get("metadata", {}).get("image/png", {})
            assert {"width", "book_text_px", "book_text_overlaps"} <= set(meta), (
                f"{path.name}, cell {i}: a figure not drawn by helpers.runtime.figure_png (run setup() first)"
            )
            assert meta["book_text_px"] >= MIN_TEXT_PX, f"{path.name}, cell {i}: text of {meta['book_text_px']} px"
            assert meta["book_text_overlaps"] == 0, (
                f"{path.name}, cell {i}: {meta['book_text_overlaps']} pairs of texts drawn over each other, "
                f"such as {meta.get('book_overlapping_texts', [])[:3]}"
            )


def test_every_figure_is_checked(chapter):
    """A cell that shows an image also reports that the data behind it matches its reference."""
    path, nb = chapter
    for i, cell in enumerate(_code_cells(nb)):
        images = sum("image/png" in o.get("data", {}) for o in cell.get("outputs", []))
        checks = len(FIGURE_CHECK_LINE.findall(_stream_text(cell, "stdout")))
        assert checks >= images, (
            f"{path.name}, code cell {i + 1}: {images} figure(s) but {checks} figure check(s); "
            "pass the figure's data to the chapter's FigureCheck"
        )
    assert "FigureCheck(" in "".join(c.source for c in _code_cells(nb)), f"{path.name} makes no FigureCheck"


def test_setup_is_called_first(chapter):
    """setup(seed=...) runs before any computation: in the first code cell after the install cell (which only
    fetches the book's helpers where they are missing, as in Colab)."""
    path, nb = chapter
    cells = [c for c in _code_cells(nb) if "book-install" not in c.metadata.get("tags", [])]
    assert re.search(r"\bsetup\(seed=\d+", cells[0].source), (
        f"{path.name}: the first code cell must call setup(seed=...)"
    )


def test_exercises_follow_the_format(chapter):
    path, nb = chapter
    cells = nb.cells
    number = int(path.stem[:2])
    task = ""  # the Markdown since the previous exercise
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown":
            task += cell.source + "\n"
        if "exercise" not in cell.metadata.get("tags", []):
            continue
        assert re.search(rf"^### Exercise {number}\.\d+ — \S", task, re.M), (
            f"{path.name}, cell {i}: the exercise's task needs a heading '### Exercise {number}.k — title' before it"
        )
        task = ""
        assert cell.cell_type == "code", f"{path.name}: only code cells may be tagged 'exercise'"
        assert "hide-input" in cell.metadata["tags"], f"{path.name}: an exercise cell must be folded (hide-input)"
        assert cell.metadata.get("mystnb") == SOLUTION_LABELS, (
            f"{path.name}, cell {i}: the fold of an exercise says {SOLUTION_LABELS['code_prompt_show']!r} (metadata "
            f"'mystnb': {SOLUTION_LABELS}), not the book's default for folded code"
        )
        src = cell.source
        assert src.count("# BEGIN SOLUTION") == 1 and src.count("# END SOLUTION") == 1, (
            f"{path.name}: an exercise cell needs one '# BEGIN SOLUTION' … '# END SOLUTION' block"
        )
        following = next(c for c in cells[i + 1 :] if c.cell_type == "code")
        assert re.match(r"(\w+) = \w+\.\w+\.check\(\s*\1,?\s*\)", following.source), (
            f"{path.name}, cell {i}: an exercise is followed by its check cell, which rebinds the name "
            f"(`fn = module.exercise.check(fn)`) so that a learner who skips it goes on with the reference: "
            f"{following.source[:80]!r}"
        )
        assert "✓" in _stream_text(following, "stdout"), f"{path.name}: the committed solution must pass its check"


def test_every_chapter_is_in_the_table_of_contents():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = set()

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.add(str(Path(node["file"]).with_suffix("")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    missing = [p.stem for p in CHAPTERS if f"chapters/{p.stem}" not in files]
    assert not missing, f"chapters missing from _toc.yml: {missing}"


def test_every_explorer_responds_from_saved_state_and_is_checked(chapter):
    """The HTML book has no kernel: an explorer responds there only through widgets linked in the browser. So every
    widget has saved state, the state holds figure stacks switched by jslinks from the controls (what
    helpers.explorers.static_explorer builds), it stays under 3 MB, and the next cell checks the default figure's
    data without drawing the figure a second time."""
    path, nb = chapter
    cells = _code_cells(nb)
    views = [
        i
        for i, c in enumerate(cells)
        for o in c.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    if not views:
        return
    widgets_metadata = nb.metadata.get("widgets", {})
    size = len(json.dumps(widgets_metadata))
    assert size <= 3_000_000, f"{path.name}: saved widget state is {size / 1e6:.1f} MB, more than 3 MB"
    state = widgets_metadata.get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    stacks = {k for k, m in state.items() if m["model_name"] == "StackModel"}
    links = [m["state"] for m in state.values() if m["model_name"] == "LinkModel"]
    linked = {t[0].removeprefix("IPY_MODEL_") for t in (l["target"] for l in links) if t[1] == "selected_index"}
    for i in views:
        for o in cells[i].outputs:
            model = o.get("data", {}).get("application/vnd.jupyter.widget-view+json", {}).get("model_id")
            if model:
                assert model in state, f"{path.name}, code cell {i + 1}: widget {model} has no saved state"
        assert stacks and stacks <= linked, (
            f"{path.name}, code cell {i + 1}: an explorer whose figures are not stacks linked to its controls "
            "cannot respond in the static book (build it with helpers.explorers.static_explorer)"
        )
        assert not any("image/png" in o.get("data", {}) for o in cells[i].outputs), (
            f"{path.name}, code cell {i + 1}: the explorer's figure is drawn again outside the widget"
        )
        following = cells[i + 1] if i + 1 < len(cells) else None
        assert following is not None and FIGURE_CHECK_LINE.search(_stream_text(following, "stdout")), (
            f"{path.name}, code cell {i + 1}: the cell after an explorer must check its default figure's data"
        )
        assert not any("image/png" in o.get("data", {}) for o in following.outputs), (
            f"{path.name}, code cell {i + 2}: the explorer's default figure is shown twice"
        )
