"""The book's tools: per-section timing of executed chapters, and the generated bench and instructor pages."""

from __future__ import annotations

import json

import nbformat
import pytest

from tools.bench import BENCH_JSON, BENCH_PAGE, SECTIONS_PAGE, _page, _sections_page
from tools.notebooks import section_seconds


def _timed(seconds: float) -> dict:
    return {"execution": {"iopub.execute_input": "2026-11-21T10:00:00.000000Z",
                          "shell.execute_reply": f"2026-11-21T10:00:{seconds:09.6f}Z"}}


def test_section_seconds_sums_code_cells_under_each_heading() -> None:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title\n\nIntro."),
        nbformat.v4.new_code_cell("a", metadata=_timed(1.5)),
        nbformat.v4.new_markdown_cell("Some text.\n\n## 1. First\n\n### a detail (not a section)"),
        nbformat.v4.new_code_cell("b", metadata=_timed(2.0)),
        nbformat.v4.new_code_cell("c", metadata=_timed(0.25)),
        nbformat.v4.new_markdown_cell("## 2. Prose only"),
        nbformat.v4.new_markdown_cell("## 3. Last"),
        nbformat.v4.new_code_cell("d", metadata=_timed(3.0)),
    ])
    nb.cells.insert(3, nbformat.v4.new_markdown_cell("```python\n# a comment, not a heading\n```"))
    nb.cells.insert(4, nbformat.v4.new_code_cell(""))  # empty: never executed, so never timed
    assert section_seconds(nb) == [("(opening) Title", 1.5), ("1. First", 2.25), ("3. Last", 3.0)]


def test_section_seconds_needs_recorded_timing() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_code_cell("a")])
    with pytest.raises(ValueError, match="record_timing"):
        section_seconds(nb)


def test_generated_pages_match_data_bench_json() -> None:
    """book/bench.md and book/instructor_timings.md are written by `make bench` from data/bench.json."""
    result = json.loads(BENCH_JSON.read_text())
    assert BENCH_PAGE.read_text() == _page(result), "book/bench.md is stale: run `make bench`"
    assert SECTIONS_PAGE.read_text() == _sections_page(result), "book/instructor_timings.md is stale: run `make bench`"
    assert result["book_seconds"] <= 60, f"make book took {result['book_seconds']} s (goal: at most 60 s)"
    for chapter in result["chapters"]:
        assert chapter["sections"], f"{chapter['chapter']}: no section times"
        total = sum(s["seconds"] for s in chapter["sections"])
        assert total <= chapter["seconds"], f"{chapter['chapter']}: sections sum to more than the chapter"
