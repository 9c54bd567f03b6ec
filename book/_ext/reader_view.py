"""What a reader of the HTML book sees of a chapter's checks: the figure, not the line that checked it.

Every figure's data is compared with its reference when the chapter runs (``helpers.figures.FigureCheck``), which
prints ``figure 'name': data matches its reference (…)``; nbval compares that line like every output, so it stays in
the notebook (and in JupyterLab). In the book the line stood between the prose and the figure, 65 times; this
extension removes it from the rendered outputs (an output left empty goes with it).
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx.application import Sphinx

#: the line FigureCheck prints when a figure's data matches its reference
FIGURE_CHECK_LINE = re.compile(r"^figure '[^'\n]+': data matches its reference[^\n]*\n?", re.MULTILINE)


def drop_figure_check_lines(app: Sphinx, doctree: nodes.document) -> None:
    for block in list(doctree.findall(nodes.literal_block)):
        if "output" not in block.get("classes", []) or not FIGURE_CHECK_LINE.search(block.astext()):
            continue
        left = FIGURE_CHECK_LINE.sub("", block.astext())
        if left.strip():
            block.rawsource = left
            block.children = [nodes.Text(left)]
        else:
            block.parent.remove(block)


def setup(app: Sphinx) -> dict:
    app.connect("doctree-read", drop_figure_check_lines)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
