"""Execute the book's chapters: in place (``make execute``), or once each for timing (``make bench``).

    python -m tools.notebooks execute [CHAPTER ...]    # re-run chapters top to bottom on a fresh kernel, in place

Chapters run with their folder as the working directory, on a fresh ``python3`` kernel of this environment,
with progress bars hidden (``BOOK_PROGRESS=0``) so that no stderr reaches the committed outputs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
TIMEOUT_S = 1200


def chapter_paths(names: list[str] | None = None) -> list[Path]:
    """The chapters, in book order, or those named (by stem or path)."""
    paths = sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return paths
    chosen = []
    for name in names:
        match = [p for p in paths if p.stem == Path(name).stem]
        if not match:
            raise SystemExit(f"no chapter {name!r}; chapters are {[p.stem for p in paths]}")
        chosen.extend(match)
    return chosen


def execute(path: Path, *, write: bool = True) -> nbformat.NotebookNode:
    """Execute one chapter on a fresh kernel, top to bottom; optionally write it back in place."""
    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("BOOK_PROGRESS", "0")
    client = NotebookClient(
        nb,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    client.execute()
    for cell in nb.cells:  # drop volatile metadata
        cell.metadata.pop("execution", None)
    if not _has_widgets(nb):  # nbclient stores an empty widget state otherwise
        nb.metadata.pop("widgets", None)
    if write:
        nbformat.write(nb, path)
    return nb


def _has_widgets(nb: nbformat.NotebookNode) -> bool:
    return any(
        "application/vnd.jupyter.widget-view+json" in out.get("data", {})
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.notebooks")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("execute", help="re-execute chapters in place on a fresh kernel")
    p.add_argument("chapters", nargs="*")
    args = parser.parse_args(argv)
    for path in chapter_paths(args.chapters):
        start = time.perf_counter()
        print(f"executing {path.relative_to(ROOT)} …", flush=True)
        execute(path)
        print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
