"""Claims of the papers, set beside the book's measurements: one record per claim, a table per chapter, one page.

A chapter states a claim once, as a :class:`Claim`: the paper, where it says it (section, figure, table), what it
says, what the chapter measured and how (data, sample size, settings), and a verdict:

- ``reproduces``: the measurement agrees; the record carries the measured values and the bounds they must lie in
  (the paper's number with a stated tolerance, or the side of a threshold the paper's statement needs);
- ``reproduces in kind``: the same direction or shape at another size; ``why`` says why the size differs;
- ``differs``: the measurement disagrees; ``measured`` holds the number that decides it and ``why`` says so;
- ``not testable here``: ``why`` says why (GPU scale, data not shipped, a body of the paper not available);

and, for the book's own claims (``paper="book"``: chapter 5's, and checks of other chapters), ``holds`` (values
within bounds, like ``reproduces``) or ``does not hold``.

:func:`show` displays a chapter's claims as one Markdown table and records them in the output's metadata
(``book_claims``), where the book's "What reproduces" page reads them at build time without running anything. A
record whose values leave its bounds cannot be made: the chapter stops at that cell, and the test that re-reads the
committed records (``tests/test_claims.py``) fails, so a number that drifts cannot keep its green mark.

>>> c = Claim("1-demo", "pearce2024bilinear", "§4.2", "eigenvectors are consistent across seeds",
...           "cosine 0.82", "3 seeds", "reproduces", values=(0.82,), bounds=(0.75, 1.0))
>>> c.verdict
'reproduces'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

__all__ = [
    "PAPERS",
    "VERDICTS",
    "Claim",
    "ClaimError",
    "anchor",
    "claim_row",
    "claims_table",
    "show",
    "table_cell",
]

#: the bibliography key of each paper the book tests (book/references.bib), its label and address; "book" marks the
#: book's own claims
PAPERS: dict[str, tuple[str, str]] = {
    "pearce2024bilinear": ("Pearce et al. (2024)", "https://arxiv.org/abs/2410.08417"),
    "bushnaq2024degeneracy": ("Bushnaq et al. (2024b)", "https://arxiv.org/abs/2405.10927"),
    "bushnaq2024lib": ("Bushnaq et al. (2024a)", "https://arxiv.org/abs/2405.10928"),
    "huang2024inversionview": ("Huang et al. (2024)", "https://arxiv.org/abs/2405.17653"),
    "book": ("the book's own", ""),
}
#: the verdicts a paper's claim may take, and those of the book's own claims
PAPER_VERDICTS = ("reproduces", "reproduces in kind", "differs", "not testable here")
BOOK_VERDICTS = ("holds", "does not hold")
VERDICTS = PAPER_VERDICTS + BOOK_VERDICTS
#: verdicts that rest on values within bounds (recomputed by the honesty test)
MEASURED = ("reproduces", "holds")
_ID = re.compile(r"^[0-5]-[a-z0-9]+(?:-[a-z0-9]+)*$")


class ClaimError(ValueError):
    """A claim record that is incomplete, or whose values do not support its verdict."""


def _number(x: float) -> str:
    if x == 0 or 1e-3 <= abs(x) < 1e4:
        return f"{x:.3g}"
    return f"{x:.1e}".replace(".0e", "e")


@dataclass(frozen=True)
class Claim:
    """One claim of a paper (or of the book), with the book's measurement and its verdict.

    ``id`` is ``<chapter digit>-<words>`` (``1-seed-cosine``); ``bounds`` is ``(low, high)``, either end ``None``
    when open, and every value must lie in it (inclusive) for a ``reproduces`` or ``holds`` verdict.
    """

    id: str
    paper: str
    where: str
    says: str
    measured: str
    protocol: str
    verdict: str
    why: str = ""
    values: tuple[float, ...] = ()
    bounds: tuple[float | None, float | None] | None = None

    def __post_init__(self) -> None:
        try:  # numbers from numpy or torch, stored as plain floats (the record is JSON)
            object.__setattr__(self, "values", tuple(float(v) for v in self.values))
            if self.bounds is not None:
                bounds = tuple(None if b is None else float(b) for b in self.bounds)
                object.__setattr__(self, "bounds", bounds)
        except (TypeError, ValueError) as err:
            raise ClaimError(f"claim {self.id}: values and bounds must be numbers ({err})") from None
        problems = []
        if not _ID.match(self.id):
            problems.append(f"id {self.id!r} is not '<chapter digit>-<lowercase words>'")
        if self.paper not in PAPERS:
            problems.append(f"paper {self.paper!r} is none of {', '.join(PAPERS)}")
        allowed = BOOK_VERDICTS if self.paper == "book" else PAPER_VERDICTS
        if self.verdict not in allowed:
            problems.append(f"verdict {self.verdict!r}: a claim of {self.paper!r} takes one of {', '.join(allowed)}")
        if self.paper != "book" and not self.where.strip():
            problems.append("where: say where the paper says it (section, figure, table)")
        for name in ("says", "protocol") if self.verdict != "not testable here" else ("says",):
            if not getattr(self, name).strip():
                problems.append(f"{name} is empty")
        if self.verdict in MEASURED:
            problems += self._measured_problems()
        elif not self.why.strip():
            problems.append(f"a verdict {self.verdict!r} needs `why`")
        if self.verdict == "differs" and not self.measured.strip():
            problems.append("a verdict 'differs' needs the measurement that decides it")
        if problems:
            raise ClaimError(f"claim {self.id}: " + "; ".join(problems))

    def _measured_problems(self) -> list[str]:
        if not self.values:
            return [f"a verdict {self.verdict!r} needs the measured values"]
        if self.bounds is None or len(self.bounds) != 2 or self.bounds == (None, None):
            return [f"a verdict {self.verdict!r} needs bounds (low, high) for its values"]
        low, high = self.bounds
        outside = [
            v
            for v in self.values
            if not math.isfinite(v) or (low is not None and v < low) or (high is not None and v > high)
        ]
        if outside:
            return [
                f"value(s) {', '.join(map(_number, outside))} outside the bounds {self.tolerance()}: the verdict "
                f"{self.verdict!r} no longer holds (state the measured verdict)"
            ]
        return []

    def tolerance(self) -> str:
        """The bounds in words: '≥ 0.75', '≤ 1e-10', 'in [0.8, 0.9]'."""
        if self.bounds is None:
            return ""
        low, high = self.bounds
        if low is None:
            return f"≤ {_number(high)}"
        if high is None:
            return f"≥ {_number(low)}"
        return f"in [{_number(low)}, {_number(high)}]"

    def record(self) -> dict:
        """The claim as JSON-ready data (the output metadata a page reads)."""
        data = asdict(self)
        data["values"] = list(self.values)
        data["bounds"] = list(self.bounds) if self.bounds is not None else None
        return data

    @classmethod
    def from_record(cls, data: dict) -> Claim:
        """A claim from its record, re-checked: values outside their bounds raise ClaimError."""
        data = dict(data)
        data["values"] = tuple(data.get("values") or ())
        data["bounds"] = tuple(data["bounds"]) if data.get("bounds") is not None else None
        return cls(**data)

    def verdict_cell(self) -> str:
        """The verdict as a table cell: the word, then the bounds its values met, or the reason. (The values
        themselves are in ``measured``, formatted by the chapter, and in the record.)"""
        if self.verdict in MEASURED:
            return f"**{self.verdict}** (bound: {self.tolerance()})"
        return f"**{self.verdict}**: {self.why}"


def anchor(claim_id: str) -> str:
    """The HTML id of a claim's row in its chapter (the page links to it)."""
    return f"claim-{claim_id}"


def table_cell(text: str) -> str:
    """Text as one Markdown table cell: on one line, its pipes escaped."""
    return " ".join(str(text).replace("|", "\\|").split())


def claim_row(claim: Claim) -> str:
    """One claim as a row of :func:`claims_table`, carrying its anchor."""
    source = "the book" if claim.paper == "book" else claim.where
    measured = claim.measured + (f" ({claim.protocol})" if claim.protocol else "")
    return (
        f'| <span id="{anchor(claim.id)}"></span>{table_cell(source)} | {table_cell(claim.says)} | '
        f"{table_cell(measured) or '—'} | {table_cell(claim.verdict_cell())} |"
    )


def claims_table(claims: Sequence[Claim]) -> str:
    """A chapter's claims as a Markdown table: where the paper says it, the claim, what the book measures (with its
    protocol), the verdict; each row carries its claim's anchor."""
    lines = ["| where | the claim | this book measures | verdict |", "|---|---|---|---|"]
    return "\n".join([*lines, *(claim_row(c) for c in claims)])


def show(claims: Iterable[Claim]) -> None:
    """Display a chapter's claims as a table, recording them in the output's metadata (``book_claims``)."""
    from IPython.display import Markdown, display

    claims = list(claims)
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        raise ClaimError(f"claim ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    if not claims:
        raise ClaimError("no claims to show")
    display(Markdown(claims_table(claims)), metadata={"book_claims": [c.record() for c in claims]})
