"""Bilinear layers read from their weights (Pearce et al. 2024, arXiv 2410.08417).

A bilinear layer is a gated linear unit without its nonlinearity, ``g(x) = (W x) ⊙ (V x)``. Each output unit
``a`` is a quadratic form, ``g(x)_a = xᵀ (w_a v_aᵀ) x``, so the layer *is* a third-order tensor
``B[a, i, j] = ½ (W[a, i] V[a, j] + W[a, j] V[a, i])`` (only the symmetric part of ``w_a v_aᵀ`` matters, since
``xᵀ A x = 0`` for antisymmetric ``A``). Any output direction ``u`` gives an *interaction matrix*
``Q = Σ_a u_a B[a]``, and its eigendecomposition ``Q = Σ_i λ_i e_i e_iᵀ`` rewrites the output along ``u`` exactly as
``uᵀ g(x) = Σ_i λ_i (e_i · x)²``: a sum of squared projections with no cross terms.

Shapes in this module: ``h`` hidden (bilinear output) units, ``d`` inputs to the bilinear layer, ``c`` classes.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .._checks import require_tensor
from ..linalg import canonical_signs

__all__ = [
    "BilinearClassifier",
    "Eigen",
    "bilinear_tensor",
    "class_interaction_matrices",
    "eigen_logits",
    "eigendecompose",
    "fold_bias",
    "hosvd",
    "interaction_matrix",
    "pinv_masks",
    "pixel_vectors",
]


class BilinearClassifier(nn.Module):
    """``embed (n_in → d, no bias) → bilinear (d → h) → head (h → c, no bias)``.

    The bilinear layer has weights ``w`` and ``v`` (each ``h × d``; ``h = d`` unless ``hidden`` is given) and,
    with ``bias=True``, biases. With ``embed=False`` the bilinear layer reads the input directly (``d = n_in``).
    """

    def __init__(
        self,
        n_in: int,
        d: int,
        n_classes: int,
        *,
        hidden: int | None = None,
        bias: bool = False,
        embed: bool = True,
    ) -> None:
        super().__init__()
        hidden = d if hidden is None else hidden
        if min(n_in, d, n_classes, hidden) < 1:
            raise ValueError(
                f"sizes must be positive, got n_in={n_in}, d={d}, n_classes={n_classes}, hidden={hidden}"
            )
        if not embed and d != n_in:
            raise ValueError(f"without an embedding d must equal n_in ({n_in}), got {d}")
        self.embed = nn.Linear(n_in, d, bias=False) if embed else nn.Identity()
        self.w = nn.Linear(d, hidden, bias=bias)
        self.v = nn.Linear(d, hidden, bias=bias)
        self.head = nn.Linear(hidden, n_classes, bias=False)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The bilinear layer's output ``(W e) ⊙ (V e)`` for the embedded input ``e``."""
        e = self.embed(x)
        return self.w(e) * self.v(e)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(x))


def _square_pair(w: torch.Tensor, v: torch.Tensor) -> None:
    require_tensor(w, "w", ndim=2)
    require_tensor(v, "v", ndim=2)
    if w.shape != v.shape:
        raise ValueError(f"w and v must have the same shape (h, d), got {tuple(w.shape)} and {tuple(v.shape)}")


def bilinear_tensor(w: torch.Tensor, v: torch.Tensor, *, symmetric: bool = True) -> torch.Tensor:
    """The (h, d, d) tensor with ``B[a] = w_a v_aᵀ``, symmetrised to ``½ (w_a v_aᵀ + v_a w_aᵀ)`` by default."""
    _square_pair(w, v)
    b = torch.einsum("ai,aj->aij", w, v)  # (h, d, d)
    return (b + b.transpose(1, 2)) / 2 if symmetric else b


def interaction_matrix(w: torch.Tensor, v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The symmetric (d, d) interaction matrix ``Q = Σ_a u_a ½ (w_a v_aᵀ + v_a w_aᵀ)`` of output direction ``u``."""
    _square_pair(w, v)
    require_tensor(u, "u", ndim=1)
    if u.shape[0] != w.shape[0]:
        raise ValueError(f"u must have one entry per hidden unit ({w.shape[0]}), got {u.shape[0]}")
    q = torch.einsum("a,ai,aj->ij", u, w, v)  # (d, d)
    return (q + q.T) / 2


def fold_bias(
    w: torch.Tensor, bw: torch.Tensor, v: torch.Tensor, bv: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold biases into the weights as an extra constant input: ``W' = [W | b_w]``, ``V' = [V | b_v]``.

    Then ``(W x + b_w) ⊙ (V x + b_v) = (W' x') ⊙ (V' x')`` with ``x' = [x, 1]``. In ``Q`` built from
    ``W', V'`` the top-left ``d × d`` block is the interaction part, the last row and column (off the corner)
    hold half the linear part, and the corner is the constant.
    """
    _square_pair(w, v)
    for name, b in (("bw", bw), ("bv", bv)):
        require_tensor(b, name, ndim=1)
        if b.shape[0] != w.shape[0]:
            raise ValueError(f"{name} must have one entry per hidden unit ({w.shape[0]}), got {b.shape[0]}")
    return torch.cat([w, bw[:, None]], dim=1), torch.cat([v, bv[:, None]], dim=1)


def class_interaction_matrices(model: BilinearClassifier) -> torch.Tensor:
    """The (c, d', d') interaction matrices of every class logit, in the bilinear layer's input space.

    ``d' = d + 1`` when the layer has biases (folded in as a constant last input), else ``d``.
    """
    w, v = model.w.weight.detach(), model.v.weight.detach()
    if model.w.bias is not None:
        w, v = fold_bias(w, model.w.bias.detach(), v, model.v.bias.detach())
    u = model.head.weight.detach()  # (c, h)
    q = torch.einsum("ca,ai,aj->cij", u, w, v)  # (c, d', d')
    return (q + q.transpose(1, 2)) / 2


class Eigen(NamedTuple):
    """Eigenvalues (..., k) and eigenvectors (..., d, k), as columns, ordered by decreasing |λ|."""

    values: torch.Tensor
    vectors: torch.Tensor


def eigendecompose(q: torch.Tensor) -> Eigen:
    """Eigendecompose one (d, d) or a batch (c, d, d) of symmetric matrices, ordered by decreasing |λ|.

    Each eigenvector has its largest-magnitude entry positive (a fixed sign convention).
    """
    q = require_tensor(q, "q")
    if q.ndim not in (2, 3) or q.shape[-1] != q.shape[-2]:
        raise ValueError(f"q must be a square matrix or a batch of them, got shape {tuple(q.shape)}")
    asym = (q - q.transpose(-1, -2)).abs().max()
    if asym > 1e-5 * q.abs().max().clamp_min(1e-30):
        raise ValueError(f"q must be symmetric (max |Q - Qᵀ| = {float(asym):.3g}); symmetrise it first")
    values, vectors = torch.linalg.eigh((q + q.transpose(-1, -2)) / 2)
    order = torch.argsort(values.abs(), dim=-1, descending=True, stable=True)
    values = torch.gather(values, -1, order)
    vectors = torch.gather(vectors, -1, order.unsqueeze(-2).expand_as(vectors))
    if vectors.ndim == 2:
        vectors = canonical_signs(vectors)
    else:
        vectors = torch.stack([canonical_signs(m) for m in vectors])
    return Eigen(values, vectors)


def eigen_logits(values: torch.Tensor, projections: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """``Σ_i λ_i (p_i · x)²`` over the ``k`` eigenpairs of largest |λ| (all when ``k`` is None).

    Args:
        values: (c, m) eigenvalues, ordered by decreasing |λ| (as :func:`eigendecompose` returns them).
        projections: (n, c, m) the projections ``p_i · x`` of every input on every eigenvector.
        k: how many eigenpairs to keep per class.

    Returns:
        (n, c) logits.
    """
    require_tensor(values, "values", ndim=2)
    require_tensor(projections, "projections", ndim=3)
    if projections.shape[1:] != values.shape:
        raise ValueError(f"projections (n, c, m) must match values (c, m) = {tuple(values.shape)}, "
                         f"got {tuple(projections.shape)}")
    if k is not None:
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= values.shape[1]:
            raise ValueError(f"k must be an int between 0 and {values.shape[1]}, got {k!r}")
        values, projections = values[:, :k], projections[..., :k]
    return torch.einsum("cm,ncm->nc", values, projections**2)


def hosvd(b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Higher-order SVD of an (o, d, d) tensor with symmetric slices: ``B = Σ_s σ_s u_s ⊗ Q_s``.

    Returns the singular values (r,), the output directions ``u_s`` as columns (o, r) and the interaction
    matrices ``Q_s`` (r, d, d), each of unit Frobenius norm, with ``r = min(o, d²)``. Symmetric slices span at
    most ``d (d + 1) / 2`` dimensions: singular values beyond that are zero and their ``Q_s`` are arbitrary.
    """
    b = require_tensor(b, "b", ndim=3)
    o, d, d2 = b.shape
    if d != d2:
        raise ValueError(f"b must have square slices (o, d, d), got {tuple(b.shape)}")
    u, s, vh = torch.linalg.svd(b.reshape(o, d * d), full_matrices=False)
    signs = torch.sign(u[u.abs().argmax(dim=0), torch.arange(u.shape[1])])
    signs[signs == 0] = 1
    return s, u * signs, (vh * signs[:, None]).reshape(-1, d, d)


def pixel_vectors(embed_weight: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Map eigenvectors from embedding space to input space: ``W_eᵀ e`` for every column ``e``.

    Args:
        embed_weight: (d, n_in) the embedding ``W_e``.
        vectors: (..., d, m) eigenvectors as columns (``Eigen.vectors``).

    Returns:
        (..., m, n_in): one input-space vector per eigenvector, so that ``logit = Σ λ (p · x)²`` exactly.
        They are *not* orthonormal in input space.
    """
    require_tensor(embed_weight, "embed_weight", ndim=2)
    require_tensor(vectors, "vectors")
    if vectors.ndim < 2 or vectors.shape[-2] != embed_weight.shape[0]:
        raise ValueError(f"vectors (..., d, m) must have d = {embed_weight.shape[0]} rows, got {tuple(vectors.shape)}")
    return torch.einsum("dp,...dm->...mp", embed_weight, vectors)


def pinv_masks(values: torch.Tensor, vectors: torch.Tensor, embed_weight: torch.Tensor, top: int = 10) -> torch.Tensor:
    """Adversarial masks read from the weights alone, one per top positive eigenvector of every class.

    Stack the ``top`` most positive eigenvectors of all ``c`` classes (embedding space) as columns of ``K``
    (d, c·top); the rows of ``pinv(K)`` are *keys* with ``key_j · K[:, i] = δ_ij``: each key excites its own
    eigenvector and, as far as possible, none of the others. Mapped to input space with ``W_eᵀ``.

    Returns:
        (c, top, n_in) masks, not yet scaled or signed.
    """
    require_tensor(values, "values", ndim=2)
    require_tensor(vectors, "vectors", ndim=3)
    c, d, m = vectors.shape
    if values.shape != (c, m):
        raise ValueError(f"values must have shape (c, m) = {(c, m)}, got {tuple(values.shape)}")
    if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= m:
        raise ValueError(f"top must be an int between 1 and {m}, got {top!r}")
    order = torch.argsort(values, dim=1, descending=True)[:, :top]  # (c, top) most positive first
    keys_of = torch.gather(vectors, 2, order[:, None, :].expand(c, d, top))  # (c, d, top)
    k = keys_of.permute(1, 0, 2).reshape(d, c * top)  # (d, c·top)
    keys = torch.linalg.pinv(k)  # (c·top, d)
    return (keys @ embed_weight).reshape(c, top, -1)
