"""Serve the book's JavaScript from the book itself, so that the site works with no internet.

MathJax 3, require.js and the Jupyter widgets HTML manager are installed from the npm registry into
``web/node_modules`` (``make assets``, run by ``make book``; never committed). At ``builder-inited`` this
extension copies the files the pages load into ``_build/offline-assets/vendor/npm/`` (laid out as in
``node_modules``) and adds that folder to ``html_static_path``, so they are served as ``_static/vendor/npm/…``;
``static/offline-widgets.js`` lets the widget manager find its fonts there and typeset with MathJax 3. ``_config.yml`` points MathJax
(``mathjax_path``) and myst-nb's widget loader (``nb_ipywidgets_js``) at those files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

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
            listener for listener in listeners if not getattr(listener.handler, "__module__", "").startswith("sphinx_thebe")
        ]
    app.registry.css_files = [(name, attrs) for name, attrs in app.registry.css_files if "thebe" not in str(name)]
    app.builder.init_css_files()  # the builder collected them before this event


def _on_config_inited(app: Sphinx, config) -> None:
    # sphinx-book-theme leaves the page's default colour mode empty, which pydata-sphinx-theme reports as a
    # console error; the book is drawn for a light background
    config.html_context.setdefault("default_mode", "light")


def _on_builder_inited(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    drop_thebe(app)
    root = Path(app.confdir)
    staged = Path(app.outdir).parent / "offline-assets"
    stage(node_modules(root), staged)
    own = Path(__file__).parent / "static"  # offline-widgets.js
    app.config.html_static_path = [*app.config.html_static_path, str(staged), str(own)]


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _on_config_inited)
    app.connect("builder-inited", _on_builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
