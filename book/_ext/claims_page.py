"""The "What reproduces" page, written at build time from the claim records of the committed chapters.

Each chapter states the claims it tests with ``helpers.claims.show``, which prints a table and records every claim
in that output's metadata (``book_claims``). At the start of a build this extension reads those records from the
committed notebooks (nothing is executed), re-checks each one (a ``reproduces`` whose values left their bounds stops
the build), and writes ``book/_generated/reproduces_claims.md``, which ``book/reproduces.md`` includes (its headings
are level 1, shifted to level 2 by the include): the count of claims per verdict, one section per paper with a row
per claim linking to the chapter cell that prints it, and the claims the book could not test with their reasons.
When the build has written the chapters' pages, it checks that each linked cell still carries its claim's anchor,
and fails the build if one does not.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

from helpers.claims import PAPERS, VERDICTS, Claim, ClaimError, anchor, claim_row, table_cell

GENERATED = Path("book") / "_generated" / "reproduces_claims.md"
#: the paper of each chapter, in the book's order, and the method's name
SECTIONS = (
    ("pearce2024bilinear", "Bilinear MLPs"),
    ("bushnaq2024degeneracy", "Degeneracy and the Interaction Basis"),
    ("bushnaq2024lib", "The Local Interaction Basis"),
    ("huang2024inversionview", "InversionView"),
    ("book", "The book's own claims"),
)


@dataclass(frozen=True)
class Located:
    """A claim and where it is printed: the chapter's file stem, the cell's index, the section it sits in."""

    claim: Claim
    chapter: str
    cell: int
    section: str


def read_claims(chapters: Path) -> list[Located]:
    """Every claim recorded in the committed chapters' outputs, re-checked (ClaimError on a record that no longer
    supports its verdict), in chapter order."""
    found: list[Located] = []
    for path in sorted(chapters.glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        section = ""
        for index, cell in enumerate(nb["cells"]):
            source = "".join(cell["source"])
            if cell["cell_type"] == "markdown":
                headings = re.findall(r"^## (.+)$", source, re.MULTILINE)
                section = headings[-1] if headings else section
                continue
            for output in cell.get("outputs", []):
                for record in output.get("metadata", {}).get("book_claims", []):
                    claim = Claim.from_record(record)
                    shown = "".join(output.get("data", {}).get("text/markdown", ""))
                    if claim_row(claim) not in shown:  # the row the record makes, word for word
                        raise ClaimError(f"{path.name}, cell {index}: claim {claim.id} is recorded but not printed")
                    found.append(Located(claim, path.stem, index, section))
    ids = [f.claim.id for f in found]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ClaimError(f"claim ids recorded twice: {repeated}")
    return found


def _link(located: Located) -> str:
    number = int(located.chapter[:2])
    section = re.match(r"(\d+)\.", located.section)
    where = f"chapter {number}" + (f", §{section.group(1)}" if section else "")
    return f'<a href="../chapters/{located.chapter}.html#{anchor(located.claim.id)}">{where}</a>'


def page(found: list[Located]) -> str:
    """The Markdown the page includes."""
    counts = Counter(f.claim.verdict for f in found)
    tally = ", ".join(f"**{counts[v]}** {v}" for v in VERDICTS if counts[v])
    papers = sum(1 for f in found if f.claim.paper != "book")
    lines = [
        "<!-- Written at build time by book/_ext/claims_page.py from the chapters' claim records: do not edit. -->",
        "",
        f"**{len(found)} claims**: {papers} of the four papers, {len(found) - papers} of the book's own. "
        f"Verdicts: {tally}.",
    ]
    for key, method in SECTIONS:
        rows = [f for f in found if f.claim.paper == key and f.claim.verdict != "not testable here"]
        if not rows:
            continue
        label, url = PAPERS[key]
        title = method if key == "book" else f"{method}: [{label}]({url})"
        lines += [
            "",
            f"# {title}",
            "",
            "| where | the claim | this book measures | verdict | printed in |",
            "|---|---|---|---|---|",
        ]
        for f in rows:
            c = f.claim
            measured = c.measured + (f" ({c.protocol})" if c.protocol else "")
            source = "the book" if key == "book" else c.where
            lines.append(
                f"| {table_cell(source)} | {table_cell(c.says)} | {table_cell(measured)} | "
                f"{table_cell(c.verdict_cell())} | {_link(f)} |"
            )
    untested = [f for f in found if f.claim.verdict == "not testable here"]
    if untested:
        lines += [
            "",
            "# What the book could not test",
            "",
            "| paper | where | the claim | why | listed in |",
            "|---|---|---|---|---|",
        ]
        for f in untested:
            label, url = PAPERS[f.claim.paper]
            lines.append(
                f"| [{label}]({url}) | {table_cell(f.claim.where)} | {table_cell(f.claim.says)} | "
                f"{table_cell(f.claim.why)} | {_link(f)} |"
            )
    return "\n".join(lines) + "\n"


def _write(app: Sphinx) -> None:
    root = Path(app.srcdir)
    try:
        found = read_claims(root / "chapters")
    except ClaimError as err:
        raise ExtensionError(f"claims_page: {err}") from None
    target = root / GENERATED
    target.parent.mkdir(parents=True, exist_ok=True)
    text = page(found)
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    app.env.book_claims = [(f.chapter, f.claim.id) for f in found]


def _check_anchors(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    missing = []
    for chapter, claim_id in getattr(app.env, "book_claims", []):
        html = Path(app.outdir) / "chapters" / f"{chapter}.html"
        if html.exists() and f'id="{anchor(claim_id)}"' not in html.read_text(encoding="utf-8"):
            missing.append(f"{chapter}: {claim_id}")
    if missing:
        raise ExtensionError(
            "claims_page: the page links to claims their chapter no longer prints: " + ", ".join(missing)
        )


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", _write)
    app.connect("build-finished", _check_anchors)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
