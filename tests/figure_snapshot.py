"""What a matplotlib figure shows, as plain data, and a check of it against a committed snapshot.

The chapters' figures are judged by eye once; what was looked at is then frozen here, so that a change to a drawing
helper (a label, a colour, a limit, the data drawn, a marker) fails a test until someone looks again and rewrites
the snapshot on purpose: ``BOOK_SNAPSHOTS=write pytest tests/test_plots.py``. A snapshot holds every axes' texts,
limits, scales, ticks and place in the figure, and every line, bar, marker set, image, span and text with its data
and style.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import colors  # noqa: E402
from matplotlib.collections import Collection  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.text import Text  # noqa: E402

SNAPSHOTS = Path(__file__).parent / "snapshots"
WRITE_VARIABLE = "BOOK_SNAPSHOTS"


def _num(x: Any) -> Any:
    """Numbers to 6 significant digits (more than a figure can show, far above rounding noise); arrays to lists."""
    array = np.asarray(x, dtype=float)
    rounded = np.vectorize(lambda v: float(f"{v:.6g}") if np.isfinite(v) else str(v), otypes=[object])(array)
    return rounded.tolist() if array.ndim else rounded.item()


def _colour(c: Any) -> Any:
    if c is None or (isinstance(c, str) and c == "none"):
        return "none"
    if isinstance(c, str):
        return colors.to_hex(c, keep_alpha=True)
    array = np.asarray(c, dtype=float)
    if array.ndim == 2:
        return [colors.to_hex(row, keep_alpha=True) for row in array]
    return colors.to_hex(array, keep_alpha=True)


def _text(t: Text) -> dict[str, Any]:
    return {
        "text": t.get_text(),
        "xy": _num(t.get_position()),
        "size": _num(t.get_fontsize()),
        "family": t.get_fontfamily(),
        "colour": _colour(t.get_color()),
        "ha": t.get_horizontalalignment(),
        "va": t.get_verticalalignment(),
    }


def _line(line: Line2D) -> dict[str, Any]:
    return {
        "x": _num(line.get_xdata()),
        "y": _num(line.get_ydata()),
        "colour": _colour(line.get_color()),
        "lw": _num(line.get_linewidth()),
        "ls": line.get_linestyle(),
        "marker": str(line.get_marker()),
        "label": line.get_label(),
        "z": _num(line.get_zorder()),
    }


def _patch(p: Patch) -> dict[str, Any]:
    path = p.get_path().transformed(p.get_patch_transform())
    return {
        "kind": type(p).__name__,
        "vertices": _num(path.vertices),
        "face": _colour(p.get_facecolor()),
        "edge": _colour(p.get_edgecolor()),
        "lw": _num(p.get_linewidth()),
        "label": p.get_label(),
        "fill": p.get_fill(),
        "z": _num(p.get_zorder()),
    }


def _collection(c: Collection) -> dict[str, Any]:
    paths = c.get_paths()
    sizes = _num(c.get_sizes()) if hasattr(c, "get_sizes") else None  # a LineCollection has none
    return {
        "kind": type(c).__name__,
        "offsets": _num(c.get_offsets()),
        "sizes": sizes,
        "face": _colour(c.get_facecolor()),
        "edge": _colour(c.get_edgecolor()),
        "lw": _num(c.get_linewidths()),
        "paths": [_num(p.vertices) for p in paths[:3]],
        "label": c.get_label(),
    }


def _image(im: AxesImage) -> dict[str, Any]:
    return {
        "array": _num(np.ma.filled(im.get_array().astype(float), np.nan)),
        "cmap": im.get_cmap().name,
        "clim": _num(im.get_clim()),
        "origin": im.origin,
        "extent": _num(im.get_extent()),
        "interpolation": im.get_interpolation(),
        "z": _num(im.get_zorder()),
    }


def _ticks(axis) -> dict[str, Any]:
    labels = axis.get_ticklabels()
    return {
        "at": _num(axis.get_ticklocs()),
        "labels": [t.get_text() for t in labels],
        "size": _num(labels[0].get_fontsize()) if labels else None,
    }


def _axes(ax: plt.Axes) -> dict[str, Any]:
    legend = ax.get_legend()
    return {
        "title": _text(ax.title),
        "xlabel": _text(ax.xaxis.label),
        "ylabel": _text(ax.yaxis.label),
        "position": [round(float(v), 3) for v in ax.get_position().bounds],  # in figure fractions, to 0.1 %
        "aspect": _num(ax.get_aspect()) if ax.get_aspect() != "auto" else "auto",
        "spines": sorted(side for side, spine in ax.spines.items() if spine.get_visible()),
        "xlim": _num(ax.get_xlim()),
        "ylim": _num(ax.get_ylim()),
        "scale": [ax.get_xscale(), ax.get_yscale()],
        "xticks": _ticks(ax.xaxis),
        "yticks": _ticks(ax.yaxis),
        "lines": [_line(x) for x in ax.get_lines()],
        "patches": [_patch(x) for x in ax.patches],
        "collections": [_collection(x) for x in ax.collections],
        "images": [_image(x) for x in ax.get_images()],
        "texts": [_text(x) for x in ax.texts],
        "legend": None
        if legend is None
        else {
            "texts": [t.get_text() for t in legend.get_texts()],
            "size": _num(legend.get_texts()[0].get_fontsize()),
            "loc": legend._loc,
        },
    }


def describe(fig: plt.Figure) -> dict[str, Any]:
    """The figure as plain data: its size, its own texts, and each axes in order (a colour bar is an axes)."""
    fig.canvas.draw()  # settle ticks and limits as a reader sees them
    return {
        "size": _num(fig.get_size_inches()),
        "suptitle": None if fig._suptitle is None else _text(fig._suptitle),
        "texts": [_text(t) for t in fig.texts],
        "axes": [_axes(ax) for ax in fig.axes],
    }


def _first_difference(a: Any, b: Any, where: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{where}.{key}: present in one only"
            found = _first_difference(a[key], b[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} items, the snapshot has {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            found = _first_difference(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{where}: {a!r}, the snapshot has {b!r}"


def check_snapshot(name: str, fig: plt.Figure) -> None:
    """Compare ``fig`` with ``tests/snapshots/<name>.json`` (or write it with ``BOOK_SNAPSHOTS=write``)."""
    seen = json.loads(json.dumps(describe(fig)))
    plt.close(fig)
    path = SNAPSHOTS / f"{name}.json"
    if os.environ.get(WRITE_VARIABLE, "").strip().lower() == "write":
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(json.dumps(seen, indent=1, sort_keys=True) + "\n")
        return
    if not path.exists():
        raise AssertionError(f"no snapshot {path.name}: look at the figure, then write it with {WRITE_VARIABLE}=write")
    difference = _first_difference(seen, json.loads(path.read_text()))
    if difference:
        raise AssertionError(
            f"figure {name!r} differs from its snapshot at {difference}. If the change is meant, "
            f"look at the figure and rewrite the snapshot ({WRITE_VARIABLE}=write)"
        )


def check_text_snapshot(name: str, text: str) -> None:
    """Compare a drawn text (HTML an explorer or viewer shows) with ``tests/snapshots/<name>``, or write it."""
    path = SNAPSHOTS / name
    if os.environ.get(WRITE_VARIABLE, "").strip().lower() == "write":
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text)
        return
    if not path.exists():
        raise AssertionError(f"no snapshot {path.name}: look at the output, then write it with {WRITE_VARIABLE}=write")
    stored = path.read_text()
    if text != stored:
        line = next(i for i, (a, b) in enumerate(zip(text.splitlines() + [""], stored.splitlines() + [""])) if a != b)
        seen, kept = text.splitlines()[line : line + 1], stored.splitlines()[line : line + 1]
        raise AssertionError(
            f"{name!r} differs from its snapshot at line {line + 1}: {seen} against {kept}. If the "
            f"change is meant, look at it and rewrite the snapshot ({WRITE_VARIABLE}=write)"
        )
