"""Tables in chapter outputs: Markdown that the book renders with MyST (and JupyterLab with jupyterlab-myst).

    >>> from helpers.tables import markdown_table
    >>> print(markdown_table(["quantity", "LIB | PCA"], [["directions", "12 | 61"]]))
    | quantity | LIB \\| PCA |
    |---|---|
    | directions | 12 \\| 61 |

A ``|`` inside a cell would start a new column: it is escaped. A cell never shows a Python value to the reader:
``True``, ``None``, ``nan`` or ``inf`` (alone or inside a string, as in ``"nan (nan)"``) is refused with a message
that says to write it in words ("yes", "—", "not defined"). Display the result with ``IPython.display.Markdown``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

__all__ = ["markdown_table"]

#: Python's spelling of a truth value, of nothing, or of a float that is not a number, as a whole word
PYTHON_VALUE = re.compile(r"\b(?:True|False|None|nan|NaN|inf)\b")


def _cell(value: object) -> str:
    text = str(value)
    if (
        isinstance(value, bool)
        or value is None
        or (isinstance(value, float) and not math.isfinite(value))
        or PYTHON_VALUE.search(text)
    ):
        raise ValueError(
            f"a table cell would show the Python value {text!r} to the reader: write it in words "
            "(for example 'yes'/'no', '—', 'not defined')"
        )
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table with ``header`` and ``rows`` (each as long as the header), pipes in cells escaped.

    Raises:
        ValueError: an empty header, a row of another length than the header, or a cell that would show a Python
            value (``True``, ``None``, ``nan``, ``inf``).
    """
    if not header:
        raise ValueError("a table needs a header")
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"row {i} has {len(row)} cells, the header {len(header)}: {list(row)!r}")
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
