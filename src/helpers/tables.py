"""Tables in chapter outputs: Markdown that the book renders with MyST (and JupyterLab with jupyterlab-myst).

    >>> from helpers.tables import markdown_table
    >>> print(markdown_table(["quantity", "LIB | PCA"], [["directions", "12 | 61"]]))
    | quantity | LIB \\| PCA |
    |---|---|
    | directions | 12 \\| 61 |

A ``|`` inside a cell would start a new column: it is escaped. Display the result with
``IPython.display.Markdown``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["markdown_table"]


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table with ``header`` and ``rows`` (each as long as the header), pipes in cells escaped.

    Raises:
        ValueError: an empty header, or a row of another length than the header.
    """
    if not header:
        raise ValueError("a table needs a header")
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"row {i} has {len(row)} cells, the header {len(header)}: {list(row)!r}")
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
