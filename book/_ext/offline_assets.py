"""Serve the book's JavaScript from the book itself, so that the site works with no internet.

MathJax 3, require.js and the Jupyter widgets HTML manager are installed from the npm registry into
``web/node_modules`` (``make assets``, run by ``make book``; never committed). At ``builder-inited`` this
extension copies the files the pages load into ``_build/offline-assets/vendor/npm/`` (laid out as in
``node_modules``) and adds that folder to ``html_static_path``, so they are served as ``_static/vendor/npm/…``;
``static/offline-widgets.js`` lets the widget manager find its fonts there and typeset with MathJax 3.
``_config.yml`` points MathJax (``mathjax_path``) and myst-nb's widget loader (``nb_ipywidgets_js``) at those files.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

from docutils import nodes
from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinxcontrib.bibtex.plugin import register_plugin as register_bibtex_plugin
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.label import LabelReferenceStyle

#: (package folder in node_modules, its files or folders to serve), laid out as in node_modules under vendor/npm/
#: Licence notices travel with the copies: MathJax's LICENSE, require.js's header, and the widget manager's
#: package.json (BSD-3-Clause) with dist/embed.js.LICENSE.txt (the notices of the libraries it bundles).
ASSETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mathjax", ("es5", "LICENSE")),
    ("requirejs", ("require.js",)),
    ("@jupyter-widgets/html-manager", ("dist", "package.json")),
)
#: what is not needed to serve the pages (source maps, the non-AMD bundles)
SKIP = shutil.ignore_patterns("*.map", "embed.js", "libembed-amd.js")
HOW_TO_INSTALL = "run `make assets` (or `npm ci --ignore-scripts --prefix web`), then build again"


def node_modules(root: Path) -> Path:
    """The installed npm packages, or a clear error saying how to install them."""
    modules = root / "web" / "node_modules"
    missing = [pkg for pkg, files in ASSETS for f in files if not (modules / pkg / f).exists()]
    if missing:
        raise ExtensionError(
            f"The book serves MathJax, require.js and the widget manager itself, but {missing} are not "
            f"installed in {modules}: {HOW_TO_INSTALL}."
        )
    return modules


def stage(modules: Path, destination: Path) -> None:
    """Copy the assets into ``destination/vendor`` (replacing an earlier copy)."""
    vendor = destination / "vendor"
    if vendor.exists():
        shutil.rmtree(vendor)
    for pkg, files in ASSETS:
        for f in files:
            source, target = modules / pkg / f, vendor / "npm" / pkg / f
            if source.is_dir():
                shutil.copytree(source, target, ignore=SKIP)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)


def drop_thebe(app: Sphinx) -> None:
    """Unhook sphinx-thebe, which jupyter-book always loads: the book has no live kernel, and thebe would put a
    script URL on unpkg.com (twice, with a redeclaration error) into every page."""
    for event, listeners in app.events.listeners.items():
        app.events.listeners[event] = [
            listener
            for listener in listeners
            if not getattr(listener.handler, "__module__", "").startswith("sphinx_thebe")
        ]
    app.registry.css_files = [(name, attrs) for name, attrs in app.registry.css_files if "thebe" not in str(name)]
    app.builder.init_css_files()  # the builder collected them before this event


#: the repository URL _config.yml holds until the book is published: no Colab button points there
PLACEHOLDER_REPOSITORY = "https://github.com/interp-course-book/reading-networks"


def _on_config_inited(app: Sphinx, config) -> None:
    # sphinx-book-theme leaves the page's default colour mode empty, which pydata-sphinx-theme reports as a
    # console error; the book is drawn for a light background
    config.html_context.setdefault("default_mode", "light")
    # a Colab button on the placeholder repository opens nothing: show it only once the book has a real home
    options = config.html_theme_options
    if options.get("repository_url", "").rstrip("/") == PLACEHOLDER_REPOSITORY:
        launch = dict(options.get("launch_buttons") or {})
        launch["colab_url"] = ""
        options["launch_buttons"] = launch


def _on_builder_inited(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    drop_thebe(app)
    root = Path(app.confdir)
    staged = Path(app.outdir).parent / "offline-assets"
    stage(node_modules(root), staged)
    own = Path(__file__).parent / "static"  # offline-widgets.js, book.css, the favicon
    app.config.html_static_path = [*app.config.html_static_path, str(staged), str(own)]
    # the favicon at the site's root too: browsers ask for /favicon.ico on pages that name none (index.html)
    app.config.html_extra_path = [*app.config.html_extra_path, str(Path(__file__).parent / "extra")]


#: the markers that delimit an exercise's reference solution in a chapter (tools/student.py stubs what lies between)
_SOLUTION_MARKER = re.compile(r"^[ \t]*# (?:BEGIN|END) SOLUTION[^\n]*\n?", re.MULTILINE)


def strip_solution_markers(app: Sphinx, doctree: nodes.document) -> None:
    """Remove the ``# BEGIN SOLUTION`` / ``# END SOLUTION`` lines from the code shown in the book: they are for the
    learners' copies, not for a reader of the solution."""
    for block in doctree.findall(nodes.literal_block):
        text = block.astext()
        if "SOLUTION" in text and _SOLUTION_MARKER.search(text):
            cleaned = _SOLUTION_MARKER.sub("", text)
            block.rawsource = cleaned
            block.children = [nodes.Text(cleaned)]


def _last_name(person) -> str:
    return Text.from_latex(" ".join(person.prelast_names + person.last_names)).render_as("text")


class AuthorYearLabels(BaseLabelStyle):
    """Author-year labels, "Pearce et al., 2024", with a letter after the year where two would be equal
    ("Bushnaq et al., 2024a" and "2024b"). The text cites with the same labels (``BookReferences``)."""

    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = []
        for entry in entries:
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = [_last_name(p) for p in people]
            who = f"{names[0]} et al." if len(names) >= 3 else (" and ".join(names) or entry.fields.get("title", "?"))
            labels.append(f"{who}, {entry.fields.get('year', 'n.d.')}")
        repeated = {label for label in labels if labels.count(label) > 1}
        seen: dict[str, int] = {}
        for label in labels:
            if label in repeated:
                seen[label] = seen.get(label, 0) + 1
                label += "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            yield label


@dataclasses.dataclass
class BookReferences(LabelReferenceStyle):
    """Citations in the text by the reference list's own labels, in parentheses: "(Pearce et al., 2024)"."""

    bracket_parenthetical: BracketStyle = dataclasses.field(default_factory=lambda: BracketStyle(left="(", right=")"))


class BookStyle(UnsrtStyle):
    """unsrt's entries (with their URL or DOI as a link), sorted by author and year, labelled by author and year."""

    default_label_style = AuthorYearLabels
    default_sorting_style = "author_year_title"


register_plugin("pybtex.style.labels", "book_author_year", AuthorYearLabels)
register_plugin("pybtex.style.formatting", "book", BookStyle)
register_bibtex_plugin("sphinxcontrib.bibtex.style.referencing", "book", BookReferences)


def _on_build_finished(app: Sphinx, exception: Exception | None) -> None:
    """Copy the book's own static files over those of an earlier build: Sphinx 7.4 leaves a file already in _build
    alone, and skips copying when no page changed, so an edited book.css would otherwise never reach the site."""
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    for mine in (Path(__file__).parent / "static").iterdir():
        shutil.copy2(mine, static / mine.name)


def _search_without_glossary_entries() -> None:
    """Sphinx 7.4 indexes every glossary term as an index entry too, so a search for a term listed the glossary
    twice: once for the entry, once for the page's text. Keep the page's own result only."""
    from sphinx.search import IndexBuilder

    if getattr(IndexBuilder.freeze, "_book_patched", False):
        return
    freeze = IndexBuilder.freeze

    def freeze_without_term_entries(self):
        data = freeze(self)
        entries = data.get("indexentries", {})
        for name in list(entries):
            entries[name] = [entry for entry in entries[name] if not str(entry[1]).startswith("term-")]
            if not entries[name]:
                del entries[name]
        return data

    freeze_without_term_entries._book_patched = True
    IndexBuilder.freeze = freeze_without_term_entries


def setup(app: Sphinx) -> dict:
    _search_without_glossary_entries()
    app.connect("build-finished", _on_build_finished)
    app.connect("config-inited", _on_config_inited)
    app.connect("builder-inited", _on_builder_inited)
    app.connect("doctree-read", strip_solution_markers)
    app.add_css_file("book.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
