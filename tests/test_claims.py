"""The claim records (helpers.claims) and the "What reproduces" page built from them (book/_ext/claims_page.py).

The honesty test: every record committed in a chapter is re-read and its verdict recomputed from its own values and
bounds, so a number that drifts out of tolerance cannot keep its *reproduces* (shown on a record moved out of
tolerance); and a record that its cell no longer prints fails the page.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from helpers.claims import PAPERS, Claim, ClaimError, claims_table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import claims_page  # noqa: E402 - the book's own Sphinx extension, a plain module

CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


def _records(path: Path) -> list[dict]:
    nb = json.loads(path.read_text())
    return [
        record
        for cell in nb["cells"]
        if cell["cell_type"] == "code"
        for output in cell.get("outputs", [])
        for record in output.get("metadata", {}).get("book_claims", [])
    ]


def _claim(**changes) -> Claim:
    fields = dict(
        id="1-demo",
        paper="pearce2024bilinear",
        where="§4.2",
        says="eigenvectors agree across seeds",
        measured="cosine 0.82",
        protocol="3 seeds",
        verdict="reproduces",
        values=(0.82,),
        bounds=(0.75, 0.95),
    )
    return Claim(**{**fields, **changes})


@pytest.mark.parametrize("path", CHAPTERS[1:], ids=[p.stem for p in CHAPTERS[1:]])
def test_every_committed_record_still_earns_its_verdict(path: Path) -> None:
    records = _records(path)
    assert records, f"{path.name} records no claims: its comparison table must be built with helpers.claims.show"
    for record in records:
        claim = Claim.from_record(record)  # raises ClaimError when a value left its bounds
        assert claim.id.startswith(path.stem[1] + "-"), f"{claim.id}: a claim's id starts with its chapter's digit"


def test_a_value_moved_out_of_tolerance_loses_its_mark(tmp_path) -> None:
    """The drift test, shown to fail: chapter 1's cross-seed cosine moved below its bound."""
    record = next(r for r in _records(ROOT / "chapters" / "01_bilinear.ipynb") if r["id"] == "1-seed-cosine")
    Claim.from_record(record)
    low = record["bounds"][0]
    with pytest.raises(ClaimError, match="outside the bounds.*no longer holds"):
        Claim.from_record({**record, "values": [low - 0.01]})
    # the same record in a copy of the chapter stops the page from being written
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    nb = json.loads((ROOT / "chapters" / "01_bilinear.ipynb").read_text())
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            for r in output.get("metadata", {}).get("book_claims", []):
                if r["id"] == "1-seed-cosine":
                    r["values"] = [low - 0.01]
    (chapters / "01_bilinear.ipynb").write_text(json.dumps(nb))
    with pytest.raises(ClaimError, match="1-seed-cosine"):
        claims_page.read_claims(chapters)


@pytest.mark.parametrize("edit", ["table", "record"])
def test_a_record_its_cell_no_longer_prints_fails_the_page(tmp_path, edit: str) -> None:
    """The table edited by hand, or a record whose measurement no longer matches the printed row."""
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    nb = json.loads((ROOT / "chapters" / "03_lib.ipynb").read_text())
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            if "book_claims" in output.get("metadata", {}):
                if edit == "table":
                    output["data"]["text/markdown"] = "| the table, edited by hand |"
                else:
                    output["metadata"]["book_claims"][0]["measured"] += " (and more)"
    (chapters / "03_lib.ipynb").write_text(json.dumps(nb))
    with pytest.raises(ClaimError, match="recorded but not printed"):
        claims_page.read_claims(chapters)


def test_a_verdict_needs_what_supports_it() -> None:
    with pytest.raises(ClaimError, match="needs the measured values"):
        _claim(values=())
    with pytest.raises(ClaimError, match="needs bounds"):
        _claim(bounds=None)
    with pytest.raises(ClaimError, match="needs `why`"):
        _claim(verdict="reproduces in kind", values=(), bounds=None)
    with pytest.raises(ClaimError, match="takes one of"):
        _claim(verdict="holds")  # a paper's claim does not 'hold': it reproduces
    with pytest.raises(ClaimError, match="takes one of"):
        _claim(paper="book", where="")  # the book's own claims hold or do not
    with pytest.raises(ClaimError, match="say where the paper says it"):
        _claim(where=" ")
    with pytest.raises(ClaimError, match="paper 'smith2020'"):
        _claim(paper="smith2020")
    with pytest.raises(ClaimError, match="outside the bounds"):
        _claim(values=(float("nan"),))
    assert _claim(bounds=(None, 0.95)).tolerance() == "≤ 0.95" and _claim().tolerance() == "in [0.75, 0.95]"
    assert _claim(values=(0.75,)).verdict == "reproduces"  # bounds are inclusive


def test_a_record_round_trips_and_its_row_carries_its_anchor() -> None:
    claim = _claim()
    again = Claim.from_record(json.loads(json.dumps(claim.record())))
    assert again == claim
    table = claims_table([claim])
    assert '<span id="claim-1-demo"></span>§4.2' in table and "**reproduces** (bound: in [0.75, 0.95])" in table
    assert claims_table([_claim(says="a | b")]).count("a \\| b") == 1


def test_the_page_counts_every_verdict_and_lists_what_could_not_be_tested(tmp_path) -> None:
    found = claims_page.read_claims(ROOT / "chapters")
    text = claims_page.page(found)
    papers = {f.claim.paper for f in found}
    assert papers == set(PAPERS), f"the page lacks claims of {set(PAPERS) - papers}"
    for verdict in {f.claim.verdict for f in found}:
        count = sum(f.claim.verdict == verdict for f in found)
        assert f"**{count}** {verdict}" in text
    untested = [f for f in found if f.claim.verdict == "not testable here"]
    assert untested and "# What the book could not test" in text
    for f in found:
        assert f'href="../chapters/{f.chapter}.html#claim-{f.claim.id}"' in text
    # a chapter copied twice repeats its ids: refused
    shutil.copy(ROOT / "chapters" / "03_lib.ipynb", tmp_path / "03_lib.ipynb")
    shutil.copy(ROOT / "chapters" / "03_lib.ipynb", tmp_path / "03_lib_copy.ipynb")
    with pytest.raises(ClaimError, match="recorded twice"):
        claims_page.read_claims(tmp_path)
