"""``make student``: learners' copies of the chapters, with every exercise's solution replaced by a stub.

    python -m tools.student [--out build/student] [CHAPTER ...]

In a chapter, an exercise is a code cell tagged ``exercise`` whose solution sits between ``# BEGIN SOLUTION`` and
``# END SOLUTION`` (see the authoring guide). The learner's copy keeps everything else, replaces those lines (markers
included) by ``raise NotImplementedError(...)`` at the same indentation, and clears every output, execution count
and saved widget state, so that the learner starts from a clean notebook. Copies are written as
``<out>/chapters/<chapter>.ipynb``: run them from there, with the book's package installed (``pip install -e .``).
"""

from __future__ import annotations

import argparse
import re
import sys
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
            cell.source = _FOLDED.sub(lambda m: (" " if m.group(0)[:1].isspace() else "") + NO_SOLUTION_HERE,
                                      cell.source)
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


def write_copies(out: Path = OUT, names: list[str] | None = None) -> list[Path]:
    """Write the learners' copies of the chapters (all, or those named) into ``out/chapters``."""
    target = out / "chapters"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path in chapter_paths(names):
        copy = learner_copy(nbformat.read(path, as_version=4))
        nbformat.validate(copy)
        nbformat.write(copy, target / path.name)
        written.append(target / path.name)
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.student", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the copies (default: build/student)")
    parser.add_argument("chapters", nargs="*")
    args = parser.parse_args(argv)
    for path in write_copies(args.out, args.chapters):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
