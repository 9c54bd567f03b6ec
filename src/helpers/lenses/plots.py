"""Drawing helpers for chapter 5's explorer: a bar chart of one reading, and a distance map over the (a, b) grid."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["bar_reading", "distance_map"]


def bar_reading(ax: plt.Axes, values: Sequence[float], names: Sequence[str], *, title: str, xlabel: str) -> None:
    """Horizontal bars, largest first from the top, each named (a lens's reading of one input)."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) != len(names):
        raise ValueError(f"need one name per value, got {len(values)} values and {len(names)} names")
    y = np.arange(len(values))[::-1]
    ax.barh(y, values, color=np.where(values >= 0, "C0", "C3"))
    ax.set_yticks(y, names, fontsize=8)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)


def distance_map(ax: plt.Axes, distance: np.ndarray, epsilons: Sequence[float], *, title: str,
                 query: tuple[int, int]) -> None:
    """The normalised distance of every input (p, p) to a query, on a colour scale from 0 to 1.5, with the
    ε-preimages ringed."""
    distance = np.asarray(distance, dtype=float)
    if distance.ndim != 2 or distance.shape[0] != distance.shape[1]:
        raise ValueError(f"distance must be a square (p, p) grid, got shape {distance.shape}")
    image = ax.imshow(distance, cmap="viridis_r", origin="lower", vmin=0, vmax=1.5)
    plt.colorbar(image, ax=ax, label="D (1.5 and above alike)", fraction=0.046)
    for eps, marker, colour in zip(epsilons, ("o", "s"), ("C3", "white")):
        a, b = np.nonzero(distance <= eps)
        ax.scatter(b, a, s=14, facecolors="none", edgecolors=colour, marker=marker, lw=0.8, label=f"D ≤ {eps:g}")
    ax.scatter([query[1]], [query[0]], s=40, marker="x", color="k", label="query")
    ax.legend(fontsize=7, loc="upper right")
    ax.set(xlabel="b", ylabel="a")
    ax.set_title(title, fontsize=10)
