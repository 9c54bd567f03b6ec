"""`make student`: learners' copies of the chapters (tools/student.py).

A learner's copy keeps every cell but replaces each exercise's solution by a stub; it must run from the top until
its first exercise check, which must say the exercise is not done yet. The solutions in the committed chapters,
run outside their chapter, must pass every exercise check, and the stubs must fail it.
"""

from __future__ import annotations

import contextlib
import io
import re

import nbformat
import pytest
import torch
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from helpers.exercises import ExerciseNotDone
from tools.notebooks import chapter_paths
from tools.student import NO_SOLUTION_HERE, BEGIN, END, learner_copy, stub_solution, write_copies

CHAPTERS = chapter_paths()
_CHECK = re.compile(r"^(\w+)\.(\w+)\.check\((\w+)\)", re.MULTILINE)


def _exercise_cells(nb: nbformat.NotebookNode) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if "exercise" in c.metadata.get("tags", [])]


def test_stub_keeps_signature_docstring_and_indentation() -> None:
    source = f'def f(x):\n    """Doc."""\n    {BEGIN}\n    y = x + 1\n    return y\n    {END}\n\nprint(1)'
    stubbed = stub_solution(source, "Exercise 9.9: your turn")
    assert stubbed == 'def f(x):\n    """Doc."""\n    raise NotImplementedError(\'Exercise 9.9: your turn\')\n\nprint(1)'
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(stubbed, namespace)
    with pytest.raises(NotImplementedError, match="Exercise 9.9"):
        namespace["f"](1)


@pytest.mark.parametrize("source", ["def f():\n    return 1", f"{END}\n{BEGIN}", f"{BEGIN}\n{BEGIN}\n{END}"])
def test_stub_rejects_cells_without_one_marked_solution(source: str) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        stub_solution(source, "x")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_learner_copy_has_stubs_and_no_solutions_or_outputs(path, tmp_path) -> None:
    original = nbformat.read(path, as_version=4)
    (written,) = write_copies(tmp_path, [path.stem])
    copy = nbformat.read(written, as_version=4)
    assert len(copy.cells) == len(original.cells)
    exercises = _exercise_cells(original)
    assert exercises, f"{path.stem} has no exercise"
    for i, (before, after) in enumerate(zip(original.cells, copy.cells)):
        if i in exercises:
            solution = before.source.split(BEGIN)[1].split(END)[0]
            body = [line.strip() for line in solution.splitlines() if line.strip()]
            assert all(line not in after.source for line in body), f"cell {i} still holds its solution"
            assert "raise NotImplementedError('Exercise " in after.source and BEGIN not in after.source
            assert "hide-input" not in after.metadata.get("tags", [])
        elif after.cell_type == "markdown":
            assert "folded" not in after.source.lower(), f"cell {i} says a solution is folded away: {after.source}"
            if "folded" in before.source.lower():
                assert NO_SOLUTION_HERE in after.source
        else:
            assert after.source == before.source
        if after.cell_type == "code":
            assert after.outputs == [] and after.execution_count is None
    assert "widgets" not in copy.metadata


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_learner_copy_runs_until_its_first_exercise(path, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BOOK_PROGRESS", "0")
    (written,) = write_copies(tmp_path, [path.stem])
    copy = nbformat.read(written, as_version=4)
    first_check = _exercise_cells(copy)[0] + 1
    client = NotebookClient(copy, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(written.parent)}})
    with pytest.raises(CellExecutionError):
        client.execute()
    errors = [(i, out) for i, c in enumerate(copy.cells) if c.cell_type == "code"
              for out in c.outputs if out.output_type == "error"]
    assert len(errors) == 1, f"errors in cells {[i for i, _ in errors]}"
    index, error = errors[0]
    assert index == first_check, f"the copy stopped at cell {index}, not at the first exercise check ({first_check})"
    assert error.ename == "ExerciseNotDone" and "not done" in error.evalue.lower(), error.evalue


def _namespace_of(nb: nbformat.NotebookNode) -> dict:
    """The chapter's imports (every import statement of its code cells), run in a fresh namespace."""
    imports = [line for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines()
               if re.match(r"(from \S+ )?import ", line)]
    namespace: dict = {"torch": torch}
    exec("\n".join(imports), namespace)
    return namespace


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_reference_solutions_pass_every_check_and_stubs_do_not(path) -> None:
    nb = nbformat.read(path, as_version=4)
    copy = learner_copy(nb)
    for i in _exercise_cells(nb):
        module, exercise_name, function = _CHECK.search(nb.cells[i + 1].source).groups()
        for cell, solved in ((nb.cells[i], True), (copy.cells[i], False)):
            namespace = _namespace_of(nb)
            exec(cell.source, namespace)
            exercise = getattr(namespace[module], exercise_name)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                if solved:
                    exercise.check(namespace[function])
                else:
                    with pytest.raises(ExerciseNotDone):
                        exercise.check(namespace[function])
            if solved:
                assert "✓" in out.getvalue(), out.getvalue()
