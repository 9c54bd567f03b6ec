"""Where the book keeps its committed artefacts.

``data/`` lives at the repository root (the helpers are installed in editable mode, ``pip install -e .``).
The environment variable ``BOOK_DATA`` points the whole book at another data folder, which the tests use
to work on copies of the committed artefacts.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REPO_ROOT", "data_dir", "checkpoint_dir", "reference_dir"]

REPO_ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """``$BOOK_DATA`` if set, else ``<repo>/data``."""
    override = os.environ.get("BOOK_DATA")
    return Path(override) if override else REPO_ROOT / "data"


def checkpoint_dir() -> Path:
    """The folder of cached weights and their manifest."""
    return data_dir() / "checkpoints"


def reference_dir(chapter: str) -> Path:
    """The folder of one chapter's figure references."""
    return data_dir() / "references" / chapter
