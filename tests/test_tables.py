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


@pytest.mark.parametrize("value", [True, False, None, float("nan"), float("inf"), "nan (nan)", "tensor(True)", "-inf"])
def test_a_python_value_is_refused_with_words_to_use(value):
    with pytest.raises(ValueError, match="Python value .* write it in words"):
        markdown_table(["quantity", "value"], [["x", value]])


@pytest.mark.parametrize("value", ["yes", "—", "not defined", 0, 0.5, "information", "Nonetheless", "infinite"])
def test_words_and_numbers_are_kept(value):
    assert markdown_table(["q", "v"], [["x", value]]).splitlines()[2] == f"| x | {value} |"
