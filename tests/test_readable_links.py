"""Citations, glossary terms and page links are plain Markdown links, readable in every viewer of a chapter.

The book (Sphinx), JupyterLab and a code host's notebook viewer all render ``[words](address)``; only the first knows
MyST roles such as ``{cite}`key```, which the others show as raw text or as "⚠key" (tests/test_jupyterlab.py opens
every chapter in JupyterLab). Here, without a build: no role is left in the chapters' and pages' Markdown, every
link to a paper carries the label and address of its entry in ``book/references.bib``, every glossary link names a
term the glossary defines, and every relative link points to a file that exists.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
from built_site import source_markdown
from sphinx.util.nodes import _make_id

ROOT = Path(__file__).resolve().parents[1]
ROLE = re.compile(r"\{(cite(?::\w+)?|term|doc|ref|numref)\}`")
LINK = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])+)\]\(([^)\s]+)\)")
CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
SEED_PAPERS = {"pearce2024bilinear", "bushnaq2024degeneracy", "bushnaq2024lib", "huang2024inversionview"}


def sources() -> list[tuple[Path, str]]:
    """(path, Markdown without code) of every book page and of every chapter's Markdown cells."""
    paths = [*sorted((ROOT / "book").glob("*.md")), *sorted((ROOT / "chapters").glob("*.ipynb"))]
    return [(path, CODE.sub("", source_markdown(path)[0])) for path in paths]


def bibliography() -> dict[str, tuple[str, str, str]]:
    """key -> (who, year with its letter, address) of every entry, labelled as the References page labels it."""
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import offline_assets  # noqa: F401  (registers the book's label style)
    from pybtex.database import parse_file
    from pybtex.plugin import find_plugin

    entries = list(
        find_plugin("pybtex.style.sorting", "author_year_title")().sort(
            parse_file(ROOT / "book" / "references.bib").entries.values()
        )
    )
    labels = offline_assets.AuthorYearLabels().format_labels(entries)
    found = {}
    for entry, label in zip(entries, labels):
        who, year = label.rsplit(", ", 1)
        fields = entry.fields
        address = fields.get("url") or (
            f"https://arxiv.org/abs/{fields.get('eprint')}"
            if fields.get("eprint")
            else f"https://doi.org/{fields.get('doi')}"
            if fields.get("doi")
            else ""
        )
        found[entry.key] = (who, year, address)
    return found


def glossary_ids() -> set[str]:
    """The ids Sphinx gives the glossary's terms (``term-Gram-matrix``)."""
    text = (ROOT / "book" / "glossary.md").read_text("utf-8")
    block = text.split("```{glossary}", 1)[1].split("\n```", 1)[0]
    terms = [line.strip() for line in block.splitlines() if line.strip() and not line[0].isspace()]
    return {_make_id(f"term-{term}") for term in terms}


def test_no_myst_role_in_any_chapter_or_page() -> None:
    left = [f"{path.relative_to(ROOT)}: {m.group(0)}…" for path, text in sources() for m in ROLE.finditer(text)]
    assert not left, "MyST roles, which JupyterLab and code hosts show as raw text (use Markdown links):\n" + "\n".join(
        left
    )


def test_citations_carry_their_entrys_label_and_address() -> None:
    entries = bibliography()
    by_address = {address: key for key, (_, _, address) in entries.items()}
    assert SEED_PAPERS <= set(entries) and all(address for _, _, address in entries.values())
    wrong, cited = [], set()
    for path, text in sources():
        for words, target in LINK.findall(text):
            if target not in by_address:
                continue
            key = by_address[target]
            who, year, _ = entries[key]
            cited.add(key)
            # "(Pearce et al., 2024)" in parentheses; "Pearce et al. (2024)" in a sentence; the authors written out
            if words not in (f"{who}, {year}", f"{who} ({year})") and not words.endswith(f" ({year})"):
                wrong.append(f"{path.relative_to(ROOT)}: [{words}]({target}) should read {who!r}, {year!r}")
    assert not wrong, "\n".join(wrong)
    assert cited == set(entries), f"entries of references.bib that nothing cites: {sorted(set(entries) - cited)}"


def test_glossary_links_name_a_term_and_relative_links_exist() -> None:
    ids = glossary_ids()
    assert {"term-Gram-matrix", "term-Jacobian", "term-preimage"} <= ids  # "ε-preimage": Sphinx keeps ASCII only
    broken = []
    for path, text in sources():
        for words, target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            file, _, anchor = target.partition("#")
            where = (path.parent / file).resolve()
            if not where.exists():
                broken.append(f"{path.relative_to(ROOT)}: [{words}]({target}): no such file")
            elif where.name == "glossary.md" and anchor and anchor not in ids:
                broken.append(f"{path.relative_to(ROOT)}: [{words}]({target}): the glossary has no such term")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(
    "text, problem, says",
    [
        ("see {cite}`pearce2024bilinear`", "role", "MyST roles"),
        ("see [Pearce et al., 2023](https://arxiv.org/abs/2410.08417)", "label", "should read"),
        ("see [Bushnaq et al., 2024](https://arxiv.org/abs/2405.10928)", "label", "should read"),  # its letter missing
        ("see [Gram](../book/glossary.md#term-Gram-matrices)", "term", "the glossary has no such term"),
        ("see [the bench](../book/benchmarks.md)", "term", "no such file"),
    ],
)
def test_the_checks_see_each_defect(text: str, problem: str, says: str, monkeypatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "sources", lambda: [(ROOT / "chapters" / "x.ipynb", text)])
    check = {
        "role": test_no_myst_role_in_any_chapter_or_page,
        "label": test_citations_carry_their_entrys_label_and_address,
        "term": test_glossary_links_name_a_term_and_relative_links_exist,
    }[problem]
    with pytest.raises(AssertionError, match=says):
        check()


def test_the_notation_page_names_symbols_its_chapters_use() -> None:
    """Every symbol of book/notation.md's tables appears, as written there, in the chapter its row links to."""
    page = (ROOT / "book" / "notation.md").read_text("utf-8")
    rows = [line for line in page.splitlines() if line.startswith("| $")]
    assert len(rows) >= 30
    missing = []
    for row in rows:
        symbols_cell, *_, where = [cell.strip() for cell in row.strip("|").split("|")]
        chapter = re.search(r"\(\.\./(chapters/\S+\.ipynb)\)", where).group(1)
        text = "\n".join(c.source for c in nbformat.read(ROOT / chapter, 4).cells if c.cell_type == "markdown")
        for symbol in re.findall(r"\$([^$]+)\$", symbols_cell):
            if symbol not in text and f"${symbol}$" not in text:
                missing.append(f"{symbol!r} not in {chapter}")
    assert not missing, "\n".join(missing)
