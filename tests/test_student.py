"""`make student`: learners' copies of the chapters (tools/student.py).

A learner's copy keeps every cell but replaces each exercise's solution by a stub. A learner who skips an exercise
goes on: its check prints a notice and hands the reference solution to the cells after it, so chapter 0's copy runs
to its end with every exercise skipped, and every chapter's copy runs past its first exercise. The solutions in the
committed chapters, run outside their chapter, must pass every exercise check, and the stubs are reported skipped.
A copy the learner has edited is never overwritten by a later `make student` (or `make lab`).
"""

from __future__ import annotations

import ast
import contextlib
import io
import re

import nbformat
import pytest
import torch
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tools.notebooks import chapter_paths
from tools.student import BEGIN, END, NO_SOLUTION_HERE, learner_copy, stub_solution, write_copies

CHAPTERS = chapter_paths()
_CHECK = re.compile(r"^\w+ = (\w+)\.(\w+)\.check\(\s*(\w+),?\s*\)", re.MULTILINE)


def _exercise_cells(nb: nbformat.NotebookNode) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if "exercise" in c.metadata.get("tags", [])]


def test_stub_keeps_signature_docstring_and_indentation() -> None:
    source = f'def f(x):\n    """Doc."""\n    {BEGIN}\n    y = x + 1\n    return y\n    {END}\n\nprint(1)'
    stubbed = stub_solution(source, "Exercise 9.9: your turn")
    assert (
        stubbed == 'def f(x):\n    """Doc."""\n    raise NotImplementedError(\'Exercise 9.9: your turn\')\n\nprint(1)'
    )
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
    (written,) = write_copies(tmp_path, [path.stem]).written[:1]
    copy = nbformat.read(written, as_version=4)
    assert len(copy.cells) == len(original.cells)
    exercises = _exercise_cells(original)
    assert exercises, f"{path.stem} has no exercise"
    for i, (before, after) in enumerate(zip(original.cells, copy.cells)):
        if i in exercises:
            solution = before.source.split(BEGIN)[1].split(END)[0]
            # lines that could be nothing but the solution (a lone bracket also closes the signature)
            body = [line.strip() for line in solution.splitlines() if len(re.findall(r"\w", line)) > 2]
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


def _run(copy: nbformat.NotebookNode, folder) -> list[tuple[int, dict]]:
    """Execute ``copy`` in ``folder``; the (cell index, output) of every error."""
    client = NotebookClient(copy, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    with contextlib.suppress(CellExecutionError):
        client.execute()
    return [
        (i, out)
        for i, c in enumerate(copy.cells)
        if c.cell_type == "code"
        for out in c.outputs
        if out.output_type == "error"
    ]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_learner_copy_runs_past_its_first_exercise_skipped(path, tmp_path, monkeypatch) -> None:
    """Up to the code cell after the first exercise's check: the check says the exercise is skipped, and the next
    cell runs with the reference solution (chapter 0's copy runs to its end instead, in the test below)."""
    monkeypatch.setenv("BOOK_PROGRESS", "0")
    (written,) = write_copies(tmp_path, [path.stem]).written[:1]
    copy = nbformat.read(written, as_version=4)
    first_check = _exercise_cells(copy)[0] + 1
    after = next(i for i in range(first_check + 1, len(copy.cells)) if copy.cells[i].cell_type == "code")
    copy.cells = copy.cells[: after + 1]
    errors = _run(copy, written.parent)
    assert not errors, f"errors in cells {[(i, out.ename, out.evalue[:200]) for i, out in errors]}"
    notice = "".join(o.get("text", "") for o in copy.cells[first_check].outputs)
    assert notice.startswith("⚠ Exercise") and "skipped" in notice, notice


def test_chapter_0s_copy_runs_to_its_end_with_every_exercise_skipped(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BOOK_PROGRESS", "0")
    (written,) = write_copies(tmp_path, ["00_workbench"]).written[:1]
    copy = nbformat.read(written, as_version=4)
    errors = _run(copy, written.parent)
    assert not errors, f"errors in cells {[(i, out.ename, out.evalue[:200]) for i, out in errors]}"
    notices = [
        i
        for i, c in enumerate(copy.cells)
        if c.cell_type == "code"
        for o in c.outputs
        if o.get("text", "").startswith("⚠ Exercise")
    ]
    assert notices == [i + 1 for i in _exercise_cells(copy)], notices


def _namespace_of(nb: nbformat.NotebookNode) -> dict:
    """The chapter's imports (every import statement of its code cells), run in a fresh namespace."""
    imports = [
        ast.unparse(node)
        for c in nb.cells
        if c.cell_type == "code"
        for node in ast.parse(c.source).body
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    namespace: dict = {"torch": torch}
    exec("\n".join(imports), namespace)
    return namespace


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_reference_solutions_pass_every_check_and_stubs_are_skipped(path) -> None:
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
                returned = exercise.check(namespace[function])
            if solved:
                assert "✓" in out.getvalue() and returned is namespace[function], out.getvalue()
            else:  # skipped: an exercise hands on its reference, a prediction its stub (nothing uses it later)
                assert out.getvalue().startswith("⚠ ") and "skipped" in out.getvalue(), out.getvalue()
                assert returned is getattr(exercise, "reference", namespace[function])


def test_a_learners_edited_copy_is_never_overwritten(tmp_path, capsys) -> None:
    """make student twice: an untouched copy is refreshed, an edited one (or one run and saved) is kept and named."""
    from tools.student import main

    first = write_copies(tmp_path, ["00_workbench", "01_bilinear"])
    edited, untouched = tmp_path / "chapters" / "00_workbench.ipynb", tmp_path / "chapters" / "01_bilinear.ipynb"
    assert {edited, untouched} <= set(first.written) and (tmp_path / "book" / "glossary.md") in first.written
    nb = nbformat.read(edited, as_version=4)
    nb.cells[0].source += "\n\nMy notes."
    nbformat.write(nb, edited)
    mine = edited.read_bytes()
    untouched.write_bytes(untouched.read_bytes())  # touched on disk, same bytes: still the tool's own copy
    assert main(["--out", str(tmp_path), "00_workbench", "01_bilinear"]) == 0
    assert edited.read_bytes() == mine, "the learner's edited copy was overwritten"
    said = capsys.readouterr().out
    assert "kept" in said and "00_workbench.ipynb" in said and "rename or delete it" in said
    assert "01_bilinear.ipynb" in said.split("kept")[0], "the untouched copy was not refreshed"
    edited.unlink()  # the learner starts afresh
    assert edited in write_copies(tmp_path, ["00_workbench"]).written
