"""``make student``: learners' copies of the chapters, with every exercise's solution replaced by a stub.

    python -m tools.student [--out build/student] [CHAPTER ...]

In a chapter, an exercise is a code cell tagged ``exercise`` whose solution sits between ``# BEGIN SOLUTION`` and
``# END SOLUTION`` (see the authoring guide). The learner's copy keeps everything else, replaces those lines (markers
included) by ``raise NotImplementedError(...)`` at the same indentation, and clears every output, execution count
and saved widget state, so that the learner starts from a clean notebook. Copies are written as
``<out>/chapters/<chapter>.ipynb``: run them from there, with the book's package installed (``pip install -e .``).
The book's pages go to ``<out>/book/`` as they are, so that the chapters' links to the glossary and the other pages
open beside them.

A learner's work is never overwritten: ``<out>/.written.json`` records the sha256 of every file as it was written,
and a later run replaces a file only while it is still exactly that (a copy the learner edited, or ran and saved,
is kept, and the run says so and how to start that chapter afresh).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tools.notebooks import ROOT, chapter_paths

OUT = ROOT / "build" / "student"
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
_EXERCISE_TITLE = re.compile(r"^#+\s*(Exercise\s+\S+)", re.MULTILINE)
#: a sentence of a chapter that tells the reader of the book where the solution is folded: not true in a copy
_FOLDED = re.compile(r"[^.!?\n]*\bfolded\b[^.!?]*?(?:\.|:[^.!?]*\.)", re.IGNORECASE)
NO_SOLUTION_HERE = "In this copy the solution is a stub for you to replace: try it, then run the check."


def stub_solution(source: str, message: str) -> str:
    """The cell's source with the lines from ``# BEGIN SOLUTION`` to ``# END SOLUTION`` replaced by a stub."""
    lines = source.splitlines()
    begins = [i for i, line in enumerate(lines) if line.strip() == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.strip() == END]
    if len(begins) != 1 or len(ends) != 1 or not begins[0] < ends[0]:
        raise ValueError(f"an exercise cell needs exactly one {BEGIN!r} line before one {END!r} line:\n{source}")
    indent = lines[begins[0]][: len(lines[begins[0]]) - len(lines[begins[0]].lstrip())]
    stub = f"{indent}raise NotImplementedError({message!r})"
    return "\n".join([*lines[: begins[0]], stub, *lines[ends[0] + 1 :]])


def learner_copy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A learner's copy of an executed chapter: solutions stubbed, outputs and widget state cleared."""
    copy = nbformat.from_dict(nb)
    title = "this exercise"
    for cell in copy.cells:
        if cell.cell_type == "markdown":
            found = _EXERCISE_TITLE.search(cell.source)
            title = found.group(1) if found else title
            cell.source = _FOLDED.sub(
                lambda m: (" " if m.group(0)[:1].isspace() else "") + NO_SOLUTION_HERE, cell.source
            )
            continue
        if cell.cell_type != "code":
            continue
        if "exercise" in cell.metadata.get("tags", []):
            cell.source = stub_solution(cell.source, f"{title}: replace this line with your solution")
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != "hide-input"]  # nothing to hide
            title = "this exercise"  # the next exercise names itself in its own heading
        elif BEGIN in cell.source:
            raise ValueError(f"a cell not tagged 'exercise' holds a solution:\n{cell.source}")
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
    copy.metadata.pop("widgets", None)
    return copy


#: the record of what was written, by path relative to the output folder
RECORD = ".written.json"


@dataclass
class Copies:
    """What :func:`write_copies` did: the files it wrote, and those it kept because the learner changed them."""

    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_copies(out: Path = OUT, names: list[str] | None = None) -> Copies:
    """Write the learners' copies of the chapters (all, or those named) into ``out/chapters`` and the book's pages
    into ``out/book``, never replacing a file the learner has changed since it was written."""
    record_path = out / RECORD
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    files: dict[Path, bytes] = {}
    for path in chapter_paths(names):
        copy = learner_copy(nbformat.read(path, as_version=4))
        nbformat.validate(copy)
        files[out / "chapters" / path.name] = nbformat.writes(copy).encode() + b"\n"
    for page in sorted((ROOT / "book").glob("*.md")):
        files[out / "book" / page.name] = page.read_bytes()
    done = Copies()
    for target, data in files.items():
        key = target.relative_to(out).as_posix()
        if target.exists() and _sha256(target.read_bytes()) != record.get(key):
            done.kept.append(target)  # edited (or run and saved) by the learner, or never written by this tool
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        record[key] = _sha256(data)
        done.written.append(target)
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return done


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.student", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the copies (default: build/student)")
    parser.add_argument("chapters", nargs="*")
    args = parser.parse_args(argv)
    done = write_copies(args.out, args.chapters)
    show = lambda path: path.relative_to(ROOT) if path.is_relative_to(ROOT) else path  # noqa: E731
    written = [p for p in done.written if p.suffix == ".ipynb"]
    if written:
        print(
            f"wrote {len(written)} learner copies: "
            + ", ".join(p.name for p in written)
            + f" in {show(written[0].parent)}"
        )
    for path in done.kept:
        print(
            f"kept {show(path)}: it has changed since make student wrote it (your work). To start it afresh, "
            f"rename or delete it and run make student again."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
