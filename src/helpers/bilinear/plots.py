"""Drawings of chapter 1 that are longer than a notebook cell should be.

- :func:`decomposition_diagram`: the method in one picture, tensor ``B`` → output direction ``u`` → interaction
  matrix ``Q`` → eigenpairs, drawn from a real model's numbers;
- :func:`contribution_bars`: one input's logits as sums of eigen-contributions ``λ_i (e_i · x)²``.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._checks import require_tensor
from .tensors import eigendecompose

__all__ = ["contribution_bars", "decomposition_diagram"]

_CMAP = "RdBu_r"  # red for positive, blue for negative: the bars below use the same convention


def _sign_colours(values) -> list[str]:
    return ["tab:red" if v > 0 else "tab:blue" for v in values]


def _heat(ax: Axes, values: np.ndarray, limit: float, *, annotate: bool = True, fontsize: float = 7) -> None:
    """A signed heatmap on a shared colour scale, with each cell's value written on it (no signed zeros)."""
    ax.imshow(values, cmap=_CMAP, vmin=-limit, vmax=limit)
    ax.set_xticks([])
    ax.set_yticks([])
    if annotate:
        for (i, j), value in np.ndenumerate(values):
            shown = f"{value:.2f}".replace("-0.00", "0.00")
            ax.text(
                j,
                i,
                shown,
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if abs(value) > 0.6 * limit else "black",
            )


def decomposition_diagram(tensor: torch.Tensor, u: torch.Tensor, labels: Sequence[str] | None = None) -> Figure:
    """Draw ``B (h, d, d)`` → ``u (h,)`` → ``Q = Σ_a u_a B[a]`` → eigenvalues and eigenvectors, in two rows for the
    book's column (B and u above, Q and its eigenpairs below).

    ``Q`` and its eigenpairs (by decreasing ``|λ|``) are computed here from ``tensor`` and ``u``; ``labels`` name
    the ``d`` inputs. Every number drawn is the model's own; nothing is schematic.
    """
    require_tensor(tensor, "tensor", ndim=3)
    require_tensor(u, "u", ndim=1)
    h, d, _ = tensor.shape
    if u.shape[0] != h:
        raise ValueError(f"u must have one entry per slice of the tensor ({h}), got shape {tuple(u.shape)}")
    labels = list(labels) if labels is not None else [str(i) for i in range(d)]
    b, uu = tensor.detach().double(), u.detach().double()
    q = torch.einsum("a,aij->ij", uu, b)  # (d, d)
    eigen = eigendecompose(q)
    b, uu, q = b.numpy(), uu.numpy(), q.numpy()
    values, vectors = eigen.values.numpy(), eigen.vectors.numpy()

    # drawn for the book's column, in two rows: B and the choice of u above, Q and its eigenpairs below
    fig = plt.figure(figsize=(6.8, 6.6), layout="none")  # axes placed by hand
    cols = (h + 1) // 2
    b_limit = float(np.abs(b).max())
    width = 0.54 / cols
    for a in range(h):
        row, col = divmod(a, cols)
        ax = fig.add_axes((0.02 + col * width, 0.74 - row * 0.2, width * 0.85, 0.13))
        _heat(ax, b[a], b_limit, annotate=False)
        ax.set_title(f"B[{a}]", fontsize=8)
    fig.text(0.02, 0.95, f"tensor B: {h} slices of {d}×{d}, one per hidden unit", fontsize=9)

    ax_u = fig.add_axes((0.76, 0.53, 0.06, 0.36))
    _heat(ax_u, uu[:, None], float(np.abs(uu).max()), fontsize=7)
    ax_u.set_yticks(range(h), [str(a) for a in range(h)], fontsize=7)
    ax_u.set_title("output\ndirection u", fontsize=9)

    ax_q = fig.add_axes((0.1, 0.05, 0.34, 0.34))
    _heat(ax_q, q, float(np.abs(q).max()))
    ax_q.set_xticks(range(d), labels, fontsize=7)
    ax_q.set_yticks(range(d), labels, fontsize=7)
    ax_q.set_title("Q = Σₐ uₐ B[a]", fontsize=9)

    ax_l = fig.add_axes((0.7, 0.3, 0.27, 0.09))
    ax_l.bar(range(len(values)), values, color=_sign_colours(values))
    ax_l.axhline(0, color="k", lw=0.5)
    ax_l.set_xticks(range(len(values)), [f"λ{i + 1}" for i in range(len(values))], fontsize=7)
    ax_l.tick_params(axis="y", labelsize=7)
    ax_l.set_title("eigenvalues λᵢ (by |λ|)", fontsize=9)
    ax_v = fig.add_axes((0.7, 0.03, 0.27, 0.19))
    _heat(ax_v, vectors, 1.0)
    ax_v.set_xticks(range(vectors.shape[1]), [f"e{i + 1}" for i in range(vectors.shape[1])], fontsize=7)
    ax_v.set_yticks(range(d), labels, fontsize=7)
    ax_v.set_title("eigenvectors eᵢ (columns)", fontsize=9)

    for x, y, arrow, text in ((0.65, 0.72, "→", "pick an\noutput u"), (0.57, 0.22, "→", "eigen-\ndecompose")):
        fig.text(x, y, arrow, fontsize=20, ha="center", va="center")
        fig.text(x, y - 0.05, text, fontsize=7, ha="center", va="top")
    fig.text(0.27, 0.47, "↓", fontsize=20, ha="center", va="center")
    fig.text(0.3, 0.47, "contract with u", fontsize=7, ha="left", va="center")
    return fig


def contribution_bars(ax: Axes, contributions: torch.Tensor, title: str, top: int = 6) -> list[int]:
    """Bars of one logit's eigen-contributions ``λ_i (e_i · x)²``: the ``top`` largest by size, then the rest summed.

    Returns the indices of the eigenpairs drawn, largest first.
    """
    require_tensor(contributions, "contributions", ndim=1)
    c = contributions.detach().double()
    order = torch.argsort(c.abs(), descending=True)
    shown = order[:top]
    heights = [float(c[i]) for i in shown] + [float(c[order[top:]].sum())]
    names = [f"#{int(i) + 1}" for i in shown] + ["rest"]
    ax.bar(range(len(heights)), heights, color=_sign_colours(heights))
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(range(len(heights)), names, fontsize=7)
    ax.set_title(title, fontsize=9)
    return [int(i) for i in shown]
