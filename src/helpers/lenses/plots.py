"""Drawing helpers for chapter 5: a bar chart of one reading and a distance map over the (a, b) grid (the explorer),
the spread of attention over inputs, a Jacobian's singular values with its gap, and SGLD traces."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["attention_spread", "bar_reading", "distance_map", "llc_traces", "singular_values"]


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


def distance_map(
    ax: plt.Axes, distance: np.ndarray, epsilons: Sequence[float], *, title: str, query: tuple[int, int]
) -> None:
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


def attention_spread(axes: Sequence[plt.Axes], share: np.ndarray, accuracies: dict[str, float]) -> None:
    """Left: a histogram per head of its attention to ``a`` over every input (``share``: (n, heads)). Right: the
    model's accuracy with patterns replaced by their means (``accuracies``: a bar per replacement)."""
    share = np.asarray(share, dtype=float)
    if share.ndim != 2:
        raise ValueError(f"share must be (inputs, heads), got shape {share.shape}")
    bins = np.linspace(0, 1, 41)
    for h in range(share.shape[1]):
        axes[0].hist(share[:, h], bins=bins, histtype="step", lw=1.3, label=f"head {h}")
    axes[0].set(xlabel="attention from '=' to a (the rest goes to b)", ylabel="inputs", title="per input")
    axes[0].legend(fontsize=8)
    names = list(accuracies)
    y = np.arange(len(names))[::-1]
    axes[1].barh(y, [accuracies[n] for n in names], color=["0.5"] + ["C3"] * (len(names) - 1))
    axes[1].set_yticks(y, names, fontsize=8)
    axes[1].set(xlim=(0, 1.02), xlabel="accuracy, all pairs", title="patterns replaced by their means")
    for yi, n in zip(y, names):
        axes[1].text(
            min(accuracies[n], 0.98), yi, f" {accuracies[n]:.2f}", va="center", ha="right", fontsize=8, color="white"
        )


def singular_values(ax: plt.Axes, spectra: dict[str, np.ndarray], rank: int) -> None:
    """Each spectrum (singular values, any order) relative to its largest, sorted, on a log axis, and a dashed
    line after the ``rank``-th value, where the measured gap is."""
    for name, values in spectra.items():
        v = np.sort(np.asarray(values, dtype=float))[::-1]
        ax.semilogy(np.arange(1, len(v) + 1), np.maximum(v / v[0], 1e-18), lw=1.5, label=name)
    ax.axvline(rank + 0.5, color="C3", ls="--", lw=1, label=f"rank {rank:,}")
    ax.set(xlabel="singular value index", ylabel="singular value / largest", ylim=(1e-18, 3))
    ax.legend(fontsize=8, loc="lower left")


def llc_traces(ax: plt.Axes, traces: dict[str, np.ndarray], burnin: int) -> None:
    """For each protocol, ``nβ (L(w_t) − L(w*))`` along the chains (mean over chains, averaged over windows of 25
    steps), with the burn-in shaded: where the trace is flat, the estimate has stopped moving."""
    for name, trace in traces.items():
        trace = np.asarray(trace, dtype=float)
        windows = trace[: len(trace) // 25 * 25].reshape(-1, 25).mean(axis=1)
        ax.plot(np.arange(len(windows)) * 25 + 12, windows, lw=1.3, label=name)
    ax.axvspan(0, burnin, color="0.9", zorder=0, label="burn-in")
    ax.set(xlabel="SGLD step", ylabel="nβ (L(w) − L(w*))")
    ax.legend(fontsize=8)
