"""Each check of the browser test fails on a page with the defect it looks for, and passes on the page without it.

The pages are small hand-written HTML files (and, for the explorer, a copy of the built chapter 1 with its widget
links removed), served on 127.0.0.1 and opened in the system's headless Chromium, as in ``test_site.py``.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from built_site import SITE, serve
from page_checks import (
    explorers_respond,
    http_errors,
    navigation_opens,
    raw_table_text,
    small_figure_text,
    solution_markers,
    split_words,
    too_wide_outputs,
)
from test_site import CHROMIUM_FLAGS, require_chromium

COLUMN = '<article class="bd-article" style="width: 600px">{}</article>'
PAGES = {
    "raw_table.html": COLUMN.format("<p>| quantity | paper |\n|---|---|\n| accuracy | 0.96 |</p>"),
    "table.html": COLUMN.format(
        "<table><tr><td>quantity</td><td>paper</td></tr></table><pre>| in code |---| ok |</pre>"
    ),
    "wide.html": COLUMN.format(
        '<div class="cell_output" style="overflow-x: auto"><pre style="white-space: pre">' + "x" * 400 + "</pre></div>"
    ),
    "wrapped.html": COLUMN.format(
        '<div class="cell_output"><pre style="white-space: pre-wrap">' + "x " * 400 + "</pre></div>"
    ),
    "markers.html": COLUMN.format("<pre>def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION</pre>"),
    "no_markers.html": COLUMN.format("<pre>def f(x):\n    return x</pre>"),
    # a ☰ button wired to nothing, beside a sidebar that stays off-screen (the defect of two mismatched themes)
    "dead_toggle.html": '<button class="primary-toggle">☰</button>'
    '<div class="bd-sidebar-primary" style="position: fixed; left: -300px; width: 280px">nav</div>',
    "live_toggle.html": '<button class="primary-toggle" onclick="document.querySelector(\'.bd-sidebar-primary\')'
    ".style.left = '0px'\">☰</button>"
    '<div class="bd-sidebar-primary" style="position: fixed; left: -300px; width: 280px">nav</div>',
    "missing_image.html": '<img src="nowhere.png">',
    # a narrow table whose cells break anywhere (the book's old stylesheet), and the same with breaks at spaces
    "split_words.html": COLUMN.format(
        '<table style="width: 40px"><tr><td style="overflow-wrap: anywhere">'
        "the bilinear degeneracy resid_pre0</td></tr></table>"
    ),
    "figure.html": COLUMN.format('<div class="cell_output"><img src="wide.png" style="max-width: 100%"></div>'),
    "whole_words.html": COLUMN.format(
        '<div style="overflow-x: auto; width: 40px"><table><tr><td>'
        "the bilinear degeneracy resid_pre0 right-hand</td></tr></table></div>"
    ),
}


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> Iterator[tuple[object, str, list]]:
    """A browser on the defect pages, and a copy of chapter 1 whose explorer lost its links."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    root = tmp_path_factory.mktemp("defects")
    for name, body in PAGES.items():
        (root / name).write_text(f"<!doctype html><html><body>{body}</body></html>", encoding="utf-8")
    _unlinked_copy_of_chapter_1(root)
    import matplotlib.pyplot as plt
    import numpy as np

    plt.imsave(root / "wide.png", np.zeros((100, 1000)))  # 1000 px wide, shown in a 600-px column
    log: list[tuple[int, str]] = []
    with serve(root, log) as base, sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(30_000)
        yield context, base, log
        context.close()
        chromium.close()


def _unlinked_copy_of_chapter_1(root: Path) -> None:
    """The built site with chapter 1's saved widget state stripped of its jslinks: the controls still move, but
    nothing tells the figure stacks to switch (the defect of an explorer built with ``interactive``)."""
    if not (SITE / "chapters" / "01_bilinear.html").exists():
        pytest.fail("No built book: run `make book` first (`make test` does).")
    shutil.copytree(SITE, root / "site")
    page = root / "site" / "chapters" / "01_bilinear.html"
    html = page.read_text("utf-8")
    pattern = re.compile(r'(<script type="application/vnd.jupyter.widget-state\+json">)(.*?)(</script>)', re.S)
    match = pattern.search(html)
    assert match, "chapter 1 has no saved widget state"
    state = json.loads(match.group(2))
    models = state["state"]
    links = [k for k, m in models.items() if m["model_name"] == "LinkModel"]
    assert links, "chapter 1's explorer has no links to remove"
    for key in links:
        del models[key]
    page.write_text(html[: match.start(2)] + json.dumps(state) + html[match.end(2) :], "utf-8")


def _open(pages, name: str, width: int = 1280):
    context, base, _ = pages
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": 844})
    page.goto(base + name, wait_until="load")
    return page


@pytest.mark.parametrize(
    "check, bad, good",
    [
        (raw_table_text, "raw_table.html", "table.html"),
        (too_wide_outputs, "wide.html", "wrapped.html"),
        (solution_markers, "markers.html", "no_markers.html"),
        (split_words, "split_words.html", "whole_words.html"),
    ],
)
def test_check_fails_on_the_defect_and_passes_without_it(pages, check, bad, good):
    page = _open(pages, bad)
    assert check(page), f"{check.__name__} missed the defect of {bad}"
    page.close()
    page = _open(pages, good)
    assert check(page) == [], f"{check.__name__} complained about {good}"
    page.close()


def test_navigation_check_fails_on_a_dead_toggle(pages):
    page = _open(pages, "dead_toggle.html", 390)
    assert navigation_opens(page) == ["the ☰ button does not open the navigation"]
    page.close()
    page = _open(pages, "live_toggle.html", 390)
    assert navigation_opens(page) == []
    page.close()


def test_http_error_check_reports_a_404(pages):
    _, _, log = pages
    start = len(log)
    page = _open(pages, "missing_image.html")
    page.wait_for_load_state("networkidle")
    page.close()
    assert http_errors(log, start) == ["HTTP 404: /nowhere.png"]


def test_explorer_check_fails_when_the_figures_are_not_linked_to_the_controls(pages):
    page = _open(pages, "site/chapters/01_bilinear.html")
    page.wait_for_function("() => document.querySelectorAll('.book-explorer img').length > 0")
    problems = explorers_respond(page)
    assert problems and "did not change" in problems[0], problems
    page.close()


def test_explorer_check_fails_when_a_figure_covers_a_slider(pages):
    """The defect of chapter 2's explorer, restored by the stylesheet it had: the slider wrapped inside itself, its
    track fell under the figure, and a click on the track reached the figure."""
    page = _open(pages, "site/chapters/02_degeneracy.html")
    page.wait_for_function("() => document.querySelectorAll('.book-explorer img').length > 0")
    page.add_style_tag(
        content=".book-explorer .widget-slider { flex-wrap: wrap !important; width: auto !important;"
        " max-width: 100% !important; }"
    )
    page.wait_for_timeout(300)
    problems = explorers_respond(page)
    assert problems and "lands on <img" in problems[0] and "not on the control" in problems[0], problems
    page.close()


def test_figure_text_check_measures_the_rendered_scale(pages):
    """A 1000-px figure shown in a 600-px column at 0.6: 10-px text becomes 6 px (too small), 16-px text 9.6 px."""
    page = _open(pages, "figure.html")
    page.wait_for_function("() => document.querySelector('img').complete")
    args = {"explorer_dpi": 80, "book_dpi": 100, "minimum": 9}
    problems = small_figure_text(page, [(1000, 10.0)], **args)
    assert len(problems) == 1 and "6.0 px on the page" in problems[0], problems
    assert small_figure_text(page, [(1000, 16.0)], **args) == []
    assert "2 in the chapter" in small_figure_text(page, [(1000, 16.0)] * 2, **args)[0]
    page.close()
