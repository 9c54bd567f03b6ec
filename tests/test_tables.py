"""helpers.tables: Markdown tables whose cells may hold a pipe, and a clear error for a ragged row."""

from __future__ import annotations

import re

import pytest

from helpers.tables import markdown_table

_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def test_a_pipe_in_a_cell_stays_in_its_cell():
    table = markdown_table(["quantity", "LIB | PCA"], [["directions", "12 | 61 / 13 | 20"], ["x", 0.5]])
    lines = table.splitlines()
    assert lines[1] == "|---|---|"
    assert {len(_UNESCAPED_PIPE.findall(line)) for line in lines} == {3}  # every row: two cells
    assert "12 \\| 61 / 13 \\| 20" in lines[2] and lines[3] == "| x | 0.5 |"


@pytest.mark.parametrize("header, rows, message", [([], [], "needs a header"), (["a", "b"], [["1"]], "row 0 has 1")])
def test_bad_tables_raise_clearly(header, rows, message):
    with pytest.raises(ValueError, match=message):
        markdown_table(header, rows)
