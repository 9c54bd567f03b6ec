"""The built book (``make book`` first): offline, consistent, and working in a real browser.

Static checks read ``_build/html``: every page of the table of contents is built, nothing loads a script, style
or font from the internet, and every internal link and anchor resolves. The browser test serves the site on
127.0.0.1 and drives the system's headless Chromium with Playwright: for every page, no console errors and no
failed or external requests, every image loaded, every formula typeset by MathJax, every widget drawn from its
saved state, every folded solution closed until clicked; the search page finds "eigenvector". It saves one
screenshot per page under ``_build/screenshots/``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import yaml
from built_site import (
    HOW_TO_INSTALL_CHROMIUM,
    ROOT,
    SCREENSHOTS,
    SITE,
    broken_internal_links,
    built_pages,
    chromium_path,
    expected_pages,
    external_urls_in_css,
    is_external,
    parse_page,
    serve,
    source_markdown,
)
from page_checks import (
    explorers_respond,
    http_errors,
    navigation_opens,
    raw_table_text,
    small_figure_text,
    solution_markers,
    split_words,
    too_wide_outputs,
    wide_equations,
)

PAGES = expected_pages()
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
HUB_URL = (CONFIG.get("launch_buttons") or {}).get("jupyterhub_url")
REPOSITORY = CONFIG["repository"]["url"].rstrip("/")
sys.path.insert(0, str(ROOT / "book" / "_ext"))
from offline_assets import PLACEHOLDER_REPOSITORY  # noqa: E402 - the book's own extension names the placeholder

CHROMIUM_FLAGS = [  # no sandbox as root in CI; no background traffic to Google's hosts (the network is closed)
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def site() -> Path:
    if not (SITE / "index.html").exists():
        pytest.fail(f"No built book in {SITE}: run `make book` first (`make test` does).")
    return SITE


# --- static checks -----------------------------------------------------------------------------------------------


def test_every_page_of_the_toc_is_built_and_nothing_else(site: Path) -> None:
    assert sorted(built_pages(site)) == sorted(PAGES), "pages differ from _toc.yml (a stale build? `make clean book`)"


def test_site_loads_no_script_style_or_font_from_the_internet(site: Path) -> None:
    found = []
    for page in site.rglob("*.html"):
        parsed = parse_page(page)
        found += [f"{page.relative_to(site)}: {url}" for url in parsed.external_assets]
        found += [f"{page.relative_to(site)}: {url}" for s in parsed.inline_styles for url in external_urls_in_css(s)]
    for sheet in site.rglob("*.css"):
        found += [f"{sheet.relative_to(site)}: {url}" for url in external_urls_in_css(sheet.read_text("utf-8"))]
    assert not found, "the built site loads these from the internet:\n" + "\n".join(found)


def test_external_url_detection() -> None:
    assert is_external("https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js")
    assert is_external("//fonts.googleapis.com/css?family=Lato")
    assert not is_external("../_static/vendor/mathjax/tex-mml-chtml.js")
    assert not is_external("data:image/png;base64,AAAA")
    css = (
        "@import 'https://fonts.googleapis.com/x.css'; a { background: url(\"//x.org/a.woff2\") } "
        "b { src: url(f.woff) }"
    )
    assert external_urls_in_css(css) == ["https://fonts.googleapis.com/x.css", "//x.org/a.woff2"]


def test_no_broken_internal_links_or_anchors(site: Path) -> None:
    broken = broken_internal_links(site)
    assert not broken, "broken internal links:\n" + "\n".join(broken)


def test_internal_link_check_finds_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(
        '<p id="here"></p><a href="a.html#here">ok</a><a href="b.html">x</a>'
        '<a href="a.html#gone">y</a><img src="_images/f.png">'
    )
    broken = broken_internal_links(tmp_path)
    assert len(broken) == 3 and "b.html" in broken[0] and "#gone" in broken[1] and "f.png" in broken[2]


def test_every_chapter_offers_its_notebook_launch_buttons_and_repository(site: Path) -> None:
    for page in (p for p in PAGES if p.startswith("chapters/")):
        hrefs = [url for _, url in parse_page(site / f"{page}.html").links]
        name = Path(page).name
        assert f"../_sources/chapters/{name}.ipynb" in hrefs, f"{page}: no download button for the notebook"
        assert (site / "_sources" / "chapters" / f"{name}.ipynb").exists()
        colab = any(
            u.startswith("https://colab.research.google.com/github/") and u.endswith(f"{name}.ipynb") for u in hrefs
        )
        assert colab == (REPOSITORY != PLACEHOLDER_REPOSITORY), (
            f"{page}: Colab button {'shown for the placeholder repository' if colab else 'missing'}"
        )
        assert REPOSITORY in hrefs, f"{page}: no link to the book's repository ({REPOSITORY})"
        hub = any("hub/user-redirect/git-pull" in u for u in hrefs)
        assert hub == bool(HUB_URL), f"{page}: JupyterHub button {'missing' if HUB_URL else 'shown without a hub URL'}"


# --- the browser test ----------------------------------------------------------------------------------------------


def require_chromium() -> str:
    """The Chromium to drive, or a failure (never a skip) that says how to install it."""
    executable = chromium_path()
    if executable is None:
        pytest.fail(f"Chromium not found. {HOW_TO_INSTALL_CHROMIUM}", pytrace=False)
    return executable


#: the widths every page is checked at: a desktop window and a phone
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")
def browser(site: Path) -> Iterator[tuple[dict, str, list]]:
    """Headless Chromium contexts on the served site, one per width of WIDTHS (the phone's with touch), and the
    server's log of (status, path) responses."""
    executable = require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright for Python is missing: `pip install -e '.[dev]'` (make test does).", pytrace=False)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    log: list[tuple[int, str]] = []
    with serve(site, log) as base, sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        # a desktop with a mouse, and a phone whose controls are driven by a finger (taps)
        contexts = {
            width: chromium.new_context(
                viewport={"width": w, "height": h}, service_workers="block", has_touch=width == "phone"
            )
            for width, (w, h) in WIDTHS.items()
        }
        for context in contexts.values():
            context.set_default_timeout(TIMEOUT_MS)
        yield contexts, base, log
        for context in contexts.values():
            context.close()
        chromium.close()


def _open(context, base: str, path: str, size: tuple[int, int] = WIDTHS["desktop"]):
    """Open a page, recording console errors, page errors, failed requests and every request leaving the site."""
    page = context.new_page()
    page.set_viewport_size({"width": size[0], "height": size[1]})
    problems: list[str] = []

    def route(r):
        if r.request.url.startswith(base):
            r.continue_()
        else:
            problems.append(f"request leaving the site: {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"uncaught error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url} ({r.failure})"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.goto(base + path, wait_until="load")
    return page, problems


WAIT_FOR_MATHJAX = """() => !document.querySelector('.math') ||
    (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise !== undefined)"""
UNTYPESET_MATH = """async () => {
    if (window.MathJax && window.MathJax.startup) await window.MathJax.startup.promise;
    const all = [...document.querySelectorAll('.math')];
    return {total: all.length,
            untypeset: all.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 60)),
            errors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 60))};
}"""
WIDGET_VIEWS = "script[type='application/vnd.jupyter.widget-view+json']"
WIDGET_REPORT = f"""() => [...document.querySelectorAll("{WIDGET_VIEWS}")].map(s => {{
    const area = s.previousElementSibling;
    if (!area || !area.querySelector('.jupyter-widgets')) return {{drawn: false}};
    return {{drawn: true,
             controls: area.querySelectorAll('.widget-slider, .widget-dropdown, .widget-toggle-buttons, '
                                             + '.widget-checkbox, select, input').length,
             images: [...area.querySelectorAll('img')].filter(i => i.complete && i.naturalWidth > 0).length,
             height: area.getBoundingClientRect().height,
             error: /Error displaying widget/i.test(area.textContent)}};
}})"""
WIDGETS_DRAWN = f"""() => ({WIDGET_REPORT})().every(w => w.drawn && w.controls > 0 && w.images > 0 && w.height > 50)"""
BROKEN_IMAGES = "() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
EXERCISE_FOLDS = ".cell.tag_exercise details.hide.above-input"


def _source(page_path: str) -> tuple[str, nbformat.NotebookNode | None]:
    """:func:`built_site.source_markdown` of a built page's source ("" and None for Sphinx's own pages)."""
    if page_path == "index":
        page_path = expected_pages()[0]  # index.html redirects to the root document
    for suffix in (".md", ".ipynb"):
        if (ROOT / f"{page_path}{suffix}").exists():
            return source_markdown(ROOT / f"{page_path}{suffix}")
    return "", None


def _has_math(markdown: str) -> bool:
    """Whether MyST Markdown holds a formula ($…$, $$…$$ or a math directive/role) outside code."""
    if re.search(r"^(```|~~~)\{math\}|\{math\}`", markdown, re.MULTILINE):
        return True
    prose = re.sub(r"^(```|~~~).*?^\1", "", markdown, flags=re.MULTILINE | re.DOTALL)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    inline = r"\$[^\s$](?:[^$\n]*[^\s$])?\$(?!\d)"  # as dollarmath: no space inside the dollars, no digit after
    return bool(re.search(rf"\$\$|{inline}", prose))


def test_math_detection() -> None:
    assert _has_math("a $x^2$ b") and _has_math("$$\nx\n$$") and _has_math("```{math}\nx\n```")
    assert not _has_math("`npm_config_cache=$PWD/x`, costs $5 or $10") and not _has_math("```bash\necho $HOME $X\n```")


def _check_page(page, path: str, width: str = "desktop") -> None:
    markdown, nb = _source(path)
    if path == "index":
        page.wait_for_url(f"**/{expected_pages()[0]}.html")
        page.wait_for_load_state("load")

    page.wait_for_function(WAIT_FOR_MATHJAX)
    math = page.evaluate(UNTYPESET_MATH)
    if _has_math(markdown):
        assert math["total"] > 0, "the source has math but the page has none"
    assert not math["untypeset"], f"formulas not typeset: {math['untypeset'][:5]}"
    assert not math["errors"], f"TeX errors: {math['errors'][:5]}"

    if nb is not None and "widgets" in nb.metadata:
        assert page.locator(WIDGET_VIEWS).count() > 0, "the notebook's widgets were not embedded"
        try:
            page.wait_for_function(WIDGETS_DRAWN)
        except Exception as error:
            raise AssertionError(f"widgets not drawn from their saved state: {page.evaluate(WIDGET_REPORT)}") from error
        assert not any(w["error"] for w in page.evaluate(WIDGET_REPORT)), "a widget failed to render"

    page.wait_for_load_state("networkidle")
    broken = page.evaluate(BROKEN_IMAGES)
    assert not broken, f"images that did not load: {broken}"
    stem = path.replace("/", "__") + ("" if width == "desktop" else f"__{WIDTHS[width][0]}px")
    page.screenshot(path=SCREENSHOTS / f"{stem}.png", full_page=True)

    seen = raw_table_text(page) + too_wide_outputs(page) + split_words(page) + solution_markers(page)
    seen += wide_equations(page)
    if width == "desktop" and nb is not None:  # figure text readable at the book's column (helpers.runtime)
        from helpers.explorers import EXPLORER_DPI
        from helpers.runtime import MIN_TEXT_PX, STYLE

        figures = [
            (o.metadata["image/png"]["width"], o.metadata["image/png"]["book_text_px"])
            for c in nb.cells
            if c.cell_type == "code"
            for o in c.get("outputs", [])
            if "image/png" in o.get("data", {})
        ]
        seen += small_figure_text(
            page, figures, explorer_dpi=EXPLORER_DPI, book_dpi=float(STYLE["figure.dpi"]), minimum=MIN_TEXT_PX
        )
    tables = page.locator("article .pst-scrollable-table-container")
    if width == "phone" and tables.count():  # the widest table, as a phone shows it (scrolling in its own box)
        widest = max(range(tables.count()), key=lambda i: tables.nth(i).evaluate("e => e.scrollWidth"))
        tables.nth(widest).evaluate("e => e.scrollIntoView({block: 'start', behavior: 'instant'})")
        page.wait_for_timeout(500)
        page.screenshot(path=SCREENSHOTS / f"{stem}__widest_table.png")
    if nb is not None and "widgets" in nb.metadata:  # by mouse on the desktop, by a finger's taps on the phone
        seen += explorers_respond(page, SCREENSHOTS / stem, touch=width == "phone")
    assert not seen, "\n".join(seen)

    exercises = sum("exercise" in c.metadata.get("tags", []) for c in nb.cells) if nb is not None else 0
    assert page.locator(EXERCISE_FOLDS).count() == exercises, "not every exercise's solution is folded"
    folds = page.locator("details.hide.above-input")
    for i in range(folds.count()):
        fold = folds.nth(i)
        code = fold.locator(".cell_input")
        assert fold.get_attribute("open") is None and not code.is_visible(), f"fold {i} is open before a click"
        fold.locator("summary").click()
        assert fold.get_attribute("open") is not None and code.is_visible(), f"fold {i} did not open on a click"

    if width == "phone":  # last: the open navigation drawer covers the page
        page.evaluate("window.scrollTo(0, 0)")
        closed = navigation_opens(page)
        page.screenshot(path=SCREENSHOTS / f"{stem}__navigation.png")
        assert not closed, "\n".join(closed)


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("path", PAGES)
def test_page_in_a_real_browser(browser, path: str, width: str) -> None:
    contexts, base, log = browser
    start = len(log)
    page, problems = _open(contexts[width], base, f"{path}.html", WIDTHS[width])
    try:
        _check_page(page, path, width)
    except Exception as error:  # what the browser reported usually says why
        raise AssertionError(
            f"{path} ({width}): {error}\nthe browser reported:\n" + "\n".join(problems or ["nothing"])
        ) from error
    finally:
        page.close()
    problems += http_errors(log, start)
    assert not problems, f"{path} ({width}):\n" + "\n".join(problems)


@pytest.mark.parametrize("query", ["eigenvector", "glossary"])
def test_search_lists_each_page_once(browser, query: str) -> None:
    contexts, base, _ = browser
    page, problems = _open(contexts["desktop"], base, f"search.html?q={query}")
    try:
        page.locator("#search-results .search-summary").wait_for()
        results = page.locator("#search-results ul.search li")
        assert results.count() > 0, f"no result: {page.locator('#search-results').inner_text()[:300]}"
        found = [results.nth(i).locator("a").first.get_attribute("href") or "" for i in range(results.count())]
        assert query != "eigenvector" or any("01_bilinear" in href for href in found), found
        pages = [href.split("#")[0].split("?")[0] for href in found]
        assert len(pages) == len(set(pages)), f"a page is listed twice: {pages}"
        page.screenshot(path=SCREENSHOTS / f"search__{query}.png", full_page=True)
    finally:
        page.close()
    assert not problems, "\n".join(problems)


def test_missing_chromium_fails_with_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    for value in ("", "/nonexistent/chromium"):
        monkeypatch.setenv("BOOK_CHROMIUM", value)
        with pytest.raises(pytest.fail.Exception, match=r"apt-get install chromium"):
            require_chromium()
    monkeypatch.setenv("BOOK_CHROMIUM", sys.executable)  # any executable file is taken as given
    assert require_chromium() == sys.executable


# --- consistency of the sources (no build needed) ------------------------------------------------------------------


def test_each_chapter_installs_the_helpers_from_the_books_repository() -> None:
    """In Colab a chapter has no helpers: its first code cell clones the repository of _config.yml and installs them
    (and does nothing where they are installed)."""
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert "book-install" in first.metadata.get("tags", []), f"{path.name}: the first code cell must install"
        assert f'REPOSITORY = "{REPOSITORY}"' in first.source, f"{path.name}: install cell names another repository"
        assert 'find_spec("helpers") is None' in first.source and "pip" in first.source
        assert not first.get("outputs"), f"{path.name}: the install cell printed something where helpers exist"
