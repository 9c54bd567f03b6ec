"""Glossary links written as plain Markdown, resolved as glossary references in the HTML book.

The chapters are read in three places: the HTML book, JupyterLab and a code host's notebook viewer. Only the first
knows Sphinx roles, so the chapters link a term as ordinary Markdown,
``[Gram matrices](../book/glossary.md#term-Gram-matrix)``, which every viewer shows as the words with a link to
the glossary. MyST checks only a page's headings for the part after ``#``, not its glossary entries, so this
extension resolves such a link itself, before MyST does: to the term's entry when the glossary defines a term with
that id, and with a warning (an error under ``-W``) when it does not, so a renamed or misspelled term fails the
build.
"""

from __future__ import annotations

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.nodes import make_refnode

LOGGER = logging.getLogger(__name__)
#: the Sphinx ids of glossary entries start so
TERM_ID = "term-"


class GlossaryLinks(SphinxPostTransform):
    """``[words](…/glossary.md#term-Id)`` → a reference to the glossary entry with that id."""

    default_priority = 8  # before MyST's own resolver (9), which would look for a heading of that id

    def run(self, **kwargs) -> None:
        objects = self.env.get_domain("std").objects  # (kind, name) -> (docname, id)
        terms = {node_id: docname for (kind, _), (docname, node_id) in objects.items() if kind == "term"}
        for node in list(self.document.findall(addnodes.pending_xref)):
            anchor = node.get("reftargetid") or ""
            if node.get("reftype") != "myst" or node.get("refdomain") != "doc" or not anchor.startswith(TERM_ID):
                continue
            contnode = node[0].deepcopy() if node.children else nodes.Text(anchor)
            if terms.get(anchor) != node["reftarget"]:
                LOGGER.warning(
                    f"glossary link to {node['reftarget']}#{anchor}: the glossary defines no term with "
                    f"that id (ids are 'term-' and the term's words joined by '-', e.g. 'term-Gram-matrix')",
                    location=node,
                    type="glossary_links",
                )
                node.replace_self(contnode)
                continue
            node.replace_self(
                make_refnode(
                    self.app.builder, node.get("refdoc", self.env.docname), node["reftarget"], anchor, contnode
                )
            )


def setup(app: Sphinx) -> dict:
    app.add_post_transform(GlossaryLinks)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
