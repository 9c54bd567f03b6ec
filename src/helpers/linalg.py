"""The linear algebra every method of the book leans on: Gram matrices, PCA, sorted eigendecompositions, SVD.

Eigenvectors and singular vectors are defined only up to sign (and up to rotation inside a repeated
eigenvalue). Every function here returns them with a fixed sign convention, the entry of largest magnitude
positive, so that figures drawn from them are reproducible and can be checked against references.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ._checks import as_matrix, require_tensor

__all__ = [
    "PCA",
    "canonical_signs",
    "effective_rank",
    "eigh_descending",
    "gram",
    "pca",
    "svd_canonical",
]


def gram(x: torch.Tensor, *, centre: bool = False) -> torch.Tensor:
    """The (d, d) second-moment matrix ``xᵀx / n`` of data ``x`` (n, d); with ``centre`` the covariance.

    The covariance divides by ``n`` (not ``n - 1``): it is the second moment of the centred data.
    """
    x = as_matrix(x, "x")
    if centre:
        x = x - x.mean(dim=0, keepdim=True)
    # x: (n, d) -> (d, d)
    return torch.einsum("nd,ne->de", x, x) / x.shape[0]


def canonical_signs(vectors: torch.Tensor) -> torch.Tensor:
    """Flip each column of ``vectors`` (d, k) so that its entry of largest magnitude is positive."""
    vectors = require_tensor(vectors, "vectors", ndim=2)
    index = vectors.abs().argmax(dim=0)  # (k,)
    signs = torch.sign(vectors[index, torch.arange(vectors.shape[1], device=vectors.device)])
    signs[signs == 0] = 1
    return vectors * signs


def eigh_descending(matrix: torch.Tensor, *, symmetrize: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (descending) and eigenvectors (as columns, canonical signs) of a symmetric matrix.

    Args:
        matrix: a symmetric (d, d) matrix; asymmetry beyond rounding raises, unless ``symmetrize``.
        symmetrize: use ``(M + Mᵀ) / 2`` instead of raising.
    """
    matrix = require_tensor(matrix, "matrix", ndim=2)
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square, got shape {tuple(matrix.shape)}")
    asym = (matrix - matrix.T).abs().max()
    scale = matrix.abs().max().clamp_min(torch.finfo(matrix.dtype).tiny)
    if symmetrize:
        matrix = (matrix + matrix.T) / 2
    elif asym > 1e3 * torch.finfo(matrix.dtype).eps * scale:
        raise ValueError(
            f"matrix is not symmetric (max |M - Mᵀ| = {float(asym):.3g}); pass symmetrize=True to use (M + Mᵀ)/2"
        )
    values, vectors = torch.linalg.eigh(matrix)
    order = torch.argsort(values, descending=True)
    return values[order], canonical_signs(vectors[:, order])


def svd_canonical(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Thin SVD ``matrix = U diag(S) Vᵀ`` with each left singular vector in canonical sign (V follows)."""
    matrix = require_tensor(matrix, "matrix", ndim=2)
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    flipped = canonical_signs(u)
    signs = (flipped * u).sum(dim=0).sign()
    signs[signs == 0] = 1
    return flipped, s, vh.T * signs


class PCA(NamedTuple):
    """Principal components of data: ``components`` (d, k) columns, ``variances`` (k,), and the ``mean`` (d,)."""

    components: torch.Tensor
    variances: torch.Tensor
    mean: torch.Tensor

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Coordinates (n, k) of data ``x`` (n, d) along the components."""
        x = as_matrix(x, "x")
        if x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"x has {x.shape[1]} features, the PCA was fitted on {self.mean.shape[0]}")
        return (x - self.mean) @ self.components

    @property
    def explained_ratio(self) -> torch.Tensor:
        """Share of the kept variance along each component (sums to 1 over the kept components)."""
        return self.variances / self.variances.sum()


def pca(x: torch.Tensor, k: int | None = None) -> PCA:
    """PCA of ``x`` (n, d) from the eigendecomposition of its covariance (the centred Gram matrix)."""
    x = as_matrix(x, "x")
    d = x.shape[1]
    if k is None:
        k = d
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= d:
        raise ValueError(f"k must be an int between 1 and {d}, got {k!r}")
    values, vectors = eigh_descending(gram(x, centre=True), symmetrize=True)
    return PCA(vectors[:, :k], values[:k].clamp_min(0), x.mean(dim=0))


def effective_rank(values: torch.Tensor) -> float:
    """``(Σ|λ|)² / Σλ²``: 1 for one non-zero value, ``k`` for ``k`` equal ones."""
    values = require_tensor(values, "values", ndim=1)
    squares = (values**2).sum()
    if squares == 0:
        raise ValueError("effective rank of all-zero values is undefined")
    return float(values.abs().sum() ** 2 / squares)
