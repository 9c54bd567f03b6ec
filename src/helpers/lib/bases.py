"""Bases of one node layer: the bias folded in as a constant coordinate, centring, the Gram step (truncation 1,
whitening), the matrix M of a target's Jacobians, and the LIB basis (truncation 2, scaling); PCA and identity
baselines. Conventions in :mod:`helpers.lib`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .._checks import require_tensor
from ..linalg import eigh_descending

Section = Callable[[torch.Tensor], torch.Tensor]
DEFAULT_THRESHOLD = 1e-12


def _acts(x: object, name: str = "activations") -> torch.Tensor:
    """Activations as a finite float64 tensor (n, positions, d); a 2-D (n, d) tensor gets one position."""
    x = require_tensor(x, name)
    if x.ndim == 2:
        x = x.unsqueeze(1)
    if x.ndim != 3:
        raise ValueError(f"{name} must have shape (n, d) or (n, positions, d), got {tuple(x.shape)}")
    return x.to(torch.float64)


def _threshold(threshold: float) -> float:
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0 <= threshold < 1:
        raise ValueError(f"threshold must be a number in [0, 1), got {threshold!r}")
    return float(threshold)


def augment(x: torch.Tensor) -> torch.Tensor:
    """Append the constant coordinate: (..., d) → (..., d + 1), last entry 1."""
    return torch.cat([x, torch.ones_like(x[..., :1])], dim=-1)


def centring_matrix(mean: torch.Tensor) -> torch.Tensor:
    """``Y`` ((d+1) × (d+1)) with ``[f, 1] @ Y = [f − mean, 1]``: centring as a linear map, thanks to the constant."""
    mean = require_tensor(mean, "mean", ndim=1)
    d = mean.shape[0]
    y = torch.eye(d + 1, dtype=mean.dtype)
    y[d, :d] = -mean
    return y


def count_above(values: torch.Tensor, threshold: float) -> int:
    """How many of the non-constant ``values[1:]`` exceed ``threshold`` times the largest of them."""
    values = require_tensor(values, "values", ndim=1)
    rest = values[1:]
    if rest.numel() == 0:
        return 0
    return int((rest > _threshold(threshold) * rest.max()).sum())


@dataclass(frozen=True)
class Basis:
    """A basis of one node layer: ``f̂ = [f, 1] @ C``; feature 0 is the constant direction.

    ``values`` are the second moments of the features: Λ for LIB, the variances for PCA (1 for the constant
    of PCA, whose feature is exactly 1). ``gram_values`` are all eigenvalues of the centred, bias-folded Gram
    matrix before truncation (constant first), kept for spectra.
    """

    kind: str
    C: torch.Tensor
    C_pinv: torch.Tensor
    values: torch.Tensor
    mean: torch.Tensor
    gram_values: torch.Tensor

    @property
    def size(self) -> int:
        """Number of features (the constant included)."""
        return self.C.shape[1]

    def features(self, activations: torch.Tensor) -> torch.Tensor:
        """Features (..., k) of activations (..., d)."""
        activations = require_tensor(activations, "activations")
        if activations.shape[-1] != self.mean.shape[0]:
            raise ValueError(f"activations have {activations.shape[-1]} coordinates, the basis expects {self.mean.shape[0]}")
        return augment(activations.to(self.C.dtype)) @ self.C

    def inverse(self, features: torch.Tensor) -> torch.Tensor:
        """Augmented activations (..., d + 1) from features (..., k): ``f̂ @ C⁺``."""
        features = require_tensor(features, "features")
        if features.shape[-1] != self.size:
            raise ValueError(f"features have {features.shape[-1]} coordinates, the basis has {self.size}")
        return features @ self.C_pinv


@dataclass(frozen=True)
class GramStep:
    """Step 1 of LIB: the centred, bias-folded Gram matrix and its eigendecomposition, truncated.

    ``U`` ((d+1) × d_t) holds the kept eigenvectors (the constant direction first), ``D`` (d_t,) their
    eigenvalues, ``Y`` the centring matrix, ``mean`` the mean activation, ``all_values`` every eigenvalue.
    """

    U: torch.Tensor
    D: torch.Tensor
    Y: torch.Tensor
    mean: torch.Tensor
    all_values: torch.Tensor

    @property
    def W(self) -> torch.Tensor:
        """The PCA basis ``Y U``: centre, then rotate onto the Gram eigenvectors."""
        return self.Y @ self.U

    @property
    def W_pinv(self) -> torch.Tensor:
        """``Uᵀ Y⁻¹``."""
        return self.U.T @ torch.linalg.inv(self.Y)

    @property
    def R(self) -> torch.Tensor:
        """The whitening map ``Y U D^{-1/2}``: whitened coordinates have the identity as Gram matrix."""
        return self.W / self.D.sqrt()

    @property
    def R_pinv(self) -> torch.Tensor:
        """``D^{1/2} Uᵀ Y⁻¹``, so that ``R R⁺`` projects onto the kept subspace."""
        return self.D.sqrt()[:, None] * self.W_pinv


def gram_step(activations: torch.Tensor, *, threshold: float = DEFAULT_THRESHOLD) -> GramStep:
    """Fold in the constant, centre, build the Gram matrix ``G = E[f̃ᵀ f̃]`` and keep its large eigendirections.

    After centring, ``G = blockdiag(Cov, 1)``: the constant direction is an exact eigenvector (eigenvalue 1),
    put first. Non-constant directions with eigenvalue ≤ ``threshold`` × the largest non-constant one are dropped.
    """
    f = _acts(activations)
    threshold = _threshold(threshold)
    d = f.shape[-1]
    rows = f.reshape(-1, d)  # positions count as samples: (n·P, d)
    mean = rows.mean(dim=0)
    y = centring_matrix(mean)
    centred = augment(rows) @ y  # (n·P, d + 1), last column 1
    gram = centred.T @ centred / rows.shape[0]  # (d + 1, d + 1)
    values, vectors = eigh_descending(gram[:d, :d], symmetrize=True)  # the covariance block
    constant = torch.zeros(d + 1, 1, dtype=rows.dtype)
    constant[d] = 1.0
    vectors = torch.cat([constant, torch.cat([vectors, torch.zeros(1, d, dtype=rows.dtype)])], dim=1)
    values = torch.cat([torch.ones(1, dtype=rows.dtype), values])
    rest = values[1:]
    keep = torch.cat([torch.tensor([True]), rest > threshold * rest.max().clamp_min(0)])
    return GramStep(vectors[:, keep], values[keep], y, mean, values)


def pca_basis(activations: torch.Tensor, *, threshold: float = DEFAULT_THRESHOLD) -> Basis:
    """The PCA baseline: ``C = Y U`` (centred Gram eigenvectors, no whitening, no Jacobians); values = variances."""
    step = gram_step(activations, threshold=threshold)
    return Basis("pca", step.W, step.W_pinv, step.D, step.mean, step.all_values)


def identity_basis(d: int) -> Basis:
    """The unrotated basis of a final layer (the logits): ``f̂ = f``, no constant feature."""
    if not isinstance(d, int) or d < 1:
        raise ValueError(f"d must be a positive int, got {d!r}")
    eye = torch.eye(d, dtype=torch.float64)
    c = torch.cat([eye, torch.zeros(1, d, dtype=torch.float64)])  # (d + 1, d)
    ones = torch.ones(d, dtype=torch.float64)
    return Basis("identity", c, c.T.clone(), ones, torch.zeros(d, dtype=torch.float64), ones)


def interaction_matrix(target_jacobians: torch.Tensor, R_pinv: torch.Tensor) -> torch.Tensor:
    """``M = R⁺ M' R⁺ᵀ`` with ``M' = 1/(n·S) Σ_{x,t,i,s} J[x,t,i,s,:]ᵀ J[x,t,i,s,:]``.

    Args:
        target_jacobians: (n, T, K, S, D) Jacobians of K target features at T output positions with respect
            to the D augmented coordinates at S input positions, one per example.
        R_pinv: (d_t, D), the pseudo-inverse of the whitening map.
    Returns ``M`` (d_t, d_t): the Gram matrix of the target Jacobians in whitened coordinates.
    """
    j = require_tensor(target_jacobians, "target_jacobians", ndim=5)
    r_pinv = require_tensor(R_pinv, "R_pinv", ndim=2)
    if r_pinv.shape[1] != j.shape[-1]:
        raise ValueError(f"R_pinv has {r_pinv.shape[1]} columns, the Jacobians have {j.shape[-1]} input coordinates")
    n, _, _, s, d = j.shape
    rows = j.to(torch.float64).reshape(-1, d)  # every (x, t, i, s) is one row
    m_prime = rows.T @ rows / (n * s)  # (D, D)
    return r_pinv.to(torch.float64) @ m_prime @ r_pinv.T.to(torch.float64)


def rotate_scale_truncate(m: torch.Tensor, R: torch.Tensor, threshold: float = DEFAULT_THRESHOLD,
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Step 3 of LIB: eigendecompose ``M`` with the constant direction (index 0) held fixed, truncate, scale.

    Only the non-constant block ``M[1:, 1:]`` is diagonalised (``M[0, 1:]`` is discarded); the constant keeps its
    diagonal entry of ``M`` as its "eigenvalue" and is dropped only when that is 0. Non-constant directions with
    ``Λ ≤ threshold ×`` the largest are dropped. Returns ``C = R V Λ^{1/2}`` (d + 1, k), ``Λ`` (k,) and ``V`` (d_t, k).
    """
    m = require_tensor(m, "M", ndim=2)
    R = require_tensor(R, "R", ndim=2)
    if m.shape[0] != m.shape[1] or R.shape[1] != m.shape[0]:
        raise ValueError(f"M must be square with as many rows as R has columns, got {tuple(m.shape)} and {tuple(R.shape)}")
    threshold = _threshold(threshold)
    values, vectors = eigh_descending(m[1:, 1:], symmetrize=True)  # non-constant block only
    k = vectors.shape[0]
    v = torch.zeros(k + 1, k + 1, dtype=m.dtype)
    v[0, 0] = 1.0
    v[1:, 1:] = vectors
    lam = torch.cat([m[:1, 0], values])  # the constant's "eigenvalue" is its diagonal entry of M
    keep = torch.cat([torch.tensor([True]), values > threshold * values.max().clamp_min(0)])
    keep &= lam > 0  # the constant too, if nothing downstream depends on it
    v, lam = v[:, keep], lam[keep]
    return R @ v * lam.sqrt(), lam, v


def _lib_from_m(step: GramStep, m: torch.Tensor, threshold: float) -> Basis:
    """Steps 3–4: rotate, scale and truncate (:func:`rotate_scale_truncate`), then build C⁺."""
    c, lam, v = rotate_scale_truncate(m, step.R, threshold)
    c_pinv = (v.T @ step.R_pinv) / lam.sqrt()[:, None]
    return Basis("lib", c, c_pinv, lam, step.mean, step.all_values)


def lib_basis(activations: torch.Tensor, target_jacobians: torch.Tensor, *, threshold: float = DEFAULT_THRESHOLD) -> Basis:
    """The LIB basis of one node layer, given the Jacobians of its target.

    Args:
        activations: (n, P, d) (or (n, d)) activations of the layer.
        target_jacobians: (n, T, K, P, d + 1) Jacobians of the target features with respect to the augmented
            activations: the next layer's LIB features for LIB proper, or the network output (the parameter
            that lets the Interaction Basis chapter reuse this function).
        threshold: relative truncation threshold of both eigendecompositions.
    """
    f = _acts(activations)
    j = require_tensor(target_jacobians, "target_jacobians", ndim=5)
    if j.shape[0] != f.shape[0] or j.shape[3] != f.shape[1] or j.shape[4] != f.shape[2] + 1:
        raise ValueError(
            f"target_jacobians {tuple(j.shape)} do not fit activations {tuple(f.shape)}: expected "
            f"({f.shape[0]}, T, K, {f.shape[1]}, {f.shape[2] + 1})"
        )
    step = gram_step(f, threshold=threshold)
    return _lib_from_m(step, interaction_matrix(j, step.R_pinv), _threshold(threshold))
