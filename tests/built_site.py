"""The built HTML book as data: its pages, their links and assets, and a local server for the browser test.

Used by ``tests/test_site.py``; nothing here builds the book (``make book`` does).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
NOT_PAGES = ("_static", "_sources", "_images", "_sphinx_design_static", "jupyter_execute")
#: pages Sphinx adds to those of the table of contents
GENERATED_PAGES = ("index", "genindex", "search")
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HOW_TO_INSTALL_CHROMIUM = (
    "The browser test drives the system's Chromium and never downloads one. Install it with the system's "
    "package manager (Debian/Ubuntu: `sudo apt-get install chromium`; macOS: `brew install --cask chromium`), "
    "or point BOOK_CHROMIUM at a Chromium or Chrome executable."
)


def source_markdown(path: Path) -> tuple[str, nbformat.NotebookNode | None]:
    """The Markdown of a page (a chapter's Markdown cells, joined), and the notebook if it is a chapter."""
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown"), nb
    return path.read_text("utf-8"), None


def toc_pages() -> list[str]:
    """Every document of ``_toc.yml``, in book order, as paths without suffix (``chapters/01_bilinear``)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    docs = [toc["root"]]
    for part in toc.get("parts", []):
        docs.extend(entry["file"] for entry in part["chapters"])
    return docs


def expected_pages() -> list[str]:
    """The pages the built site must have: those of the table of contents and Sphinx's own."""
    return [*toc_pages(), *GENERATED_PAGES]


def built_pages(site: Path = SITE) -> list[str]:
    """The HTML pages of the built site, as paths relative to it without ``.html``."""
    return sorted(
        p.relative_to(site).with_suffix("").as_posix()
        for p in site.rglob("*.html")
        if p.relative_to(site).parts[0] not in NOT_PAGES
    )


def chromium_path() -> str | None:
    """The Chromium to drive: ``$BOOK_CHROMIUM``, else the first Chromium or Chrome on the PATH."""
    if os.environ.get("BOOK_CHROMIUM"):
        return shutil.which(os.environ["BOOK_CHROMIUM"])  # a path or a name on the PATH; None if not executable
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class _PageParser(HTMLParser):
    """The ids, links and loaded resources of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []  # (tag.attribute, url)
        self.external_assets: list[str] = []
        self.inline_styles: list[str] = []
        self._in_style = self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for key in ("id", "name") if tag == "a" else ("id",):
            if a.get(key):
                self.ids.add(a[key])
        for attr in ("href", "src"):
            if attr in a:
                self.links.append((f"{tag}.{attr}", a[attr]))
        rel = a.get("rel", "").lower()
        if tag == "script" and is_external(a.get("src", "")):
            self.external_assets.append(a["src"])
        if (
            tag == "link"
            and is_external(a.get("href", ""))
            and (
                any(r in rel for r in ("stylesheet", "preload", "modulepreload", "icon", "font"))
                or a.get("as") in ("font", "style", "script")
            )
        ):
            self.external_assets.append(a["href"])
        if tag in ("img", "iframe", "source", "embed") and is_external(a.get("src", "")):
            self.external_assets.append(a["src"])
        if "style" in a:
            self.inline_styles.append(a["style"])
        self._in_style = tag == "style"
        self._in_script = tag == "script" and "src" not in a

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.inline_styles.append(data)
        if self._in_script:
            self.external_assets += _SCRIPT_EXTERNAL.findall(data)


def is_external(url: str) -> bool:
    """A URL that leaves the site: with a scheme (other than ``data:``) or protocol-relative."""
    url = url.strip()
    if url.startswith("//"):
        return True
    scheme = urlsplit(url).scheme.lower()
    return bool(scheme) and scheme not in ("data", "blob")


#: a script, style sheet or font on another host, named inside an inline script (which might load it)
_SCRIPT_EXTERNAL = re.compile(
    r"""(?:https?:)?//[\w.-]+\.[a-z]{2,}/[^'"\s<>]*?\.(?:m?js|css|woff2?|ttf|otf|eot)\b""", re.IGNORECASE
)
_CSS_EXTERNAL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])\s*((?:https?:)?//[^'")\s]+)""", re.IGNORECASE)


def external_urls_in_css(text: str) -> list[str]:
    """``url(…)`` and ``@import`` targets of a style sheet that leave the site."""
    return _CSS_EXTERNAL.findall(text)


@functools.cache
def parse_page(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def broken_internal_links(site: Path = SITE) -> list[str]:
    """Every internal link or resource of every page that points at a missing file or a missing anchor."""
    broken = []
    for page in sorted(site.rglob("*.html")):
        if page.relative_to(site).parts[0] in NOT_PAGES:
            continue
        for where, url in parse_page(page).links:
            if is_external(url) or url.startswith(("mailto:", "javascript:")) or url in ("", "#"):
                continue
            target, fragment = urldefrag(url)
            target = unquote(urlsplit(target).path)
            file = (page.parent / target).resolve() if target else page
            if file.is_dir():
                file = file / "index.html"
            name = f"{page.relative_to(site)}: {where}={url}"
            if not file.exists():
                shown = file.relative_to(site.resolve()) if file.is_relative_to(site.resolve()) else file
                broken.append(f"{name} (no file {shown})")
            elif fragment and file.suffix == ".html" and unquote(fragment) not in parse_page(file).ids:
                broken.append(f"{name} (no anchor #{fragment})")
    return broken


class _RecordingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves quietly, and records every response's status and path (``log``), so that a 404 of any kind (a favicon
    the browser asks for on its own included) can fail the browser test."""

    def __init__(self, *args, log: list[tuple[int, str]], **kwargs) -> None:
        self._log = log
        super().__init__(*args, **kwargs)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        try:
            self._log.append((int(code), self.path))
        except (TypeError, ValueError):
            pass

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def serve(site: Path = SITE, log: list[tuple[int, str]] | None = None) -> Iterator[str]:
    """Serve ``site`` on 127.0.0.1 (a free port) in a thread; yields the base URL. Responses go into ``log``."""
    handler = functools.partial(_RecordingHandler, directory=str(site), log=[] if log is None else log)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
