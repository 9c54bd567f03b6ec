"""Edges between the features of adjacent node layers: squared gradient × activation, summed over positions
inside the square (or integrated gradients)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from .._checks import require_tensor
from .bases import Basis, Section, _acts, augment
from .sections import _target_jacobians, section_jacobians


def edges_from_jacobians(feature_jacobians: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Squared edges ``E[i, j] = 1/(n·S) Σ_{x,t} (Σ_s ∂f̂'_{t,i}/∂f̂_{s,j} · f̂_{s,j})²`` (gradient × activation).

    Args:
        feature_jacobians: (n, T, K, S, J) Jacobians of the next layer's features with respect to this layer's.
        features: (n, S, J) this layer's features.
    Returns ``E`` (K, J), non-negative.
    """
    jf = require_tensor(feature_jacobians, "feature_jacobians", ndim=5)
    f = require_tensor(features, "features", ndim=3)
    if (jf.shape[0], jf.shape[3], jf.shape[4]) != tuple(f.shape):
        raise ValueError(f"feature_jacobians {tuple(jf.shape)} do not fit features {tuple(f.shape)}")
    attributions = torch.einsum("ntksj,nsj->ntkj", jf, f)  # A[x, t, i, j]: summed over input positions
    return attributions.pow(2).sum(dim=(0, 1)) / (f.shape[0] * f.shape[1])


def squared_edges(
    section: Section,
    basis: Basis,
    next_basis: Basis,
    activations: torch.Tensor,
    *,
    integration: Literal["gradient", "integrated"] = "gradient",
    n_steps: int = 8,
    chunk_size: int = 512,
) -> torch.Tensor:
    """Squared edges (K, J) between ``basis`` features of ``activations`` and ``next_basis`` features.

    ``integration="gradient"`` is gradient × activation at the real activations: the small part of the activations
    outside the kept subspace is held fixed, so the point is exactly the data (the book's choice; the reference
    implementation evaluates at the projection ``f̂ C⁺`` instead, which differs only by what the truncation dropped);
    ``"integrated"`` replaces the gradient by its average along ``α f̂`` for α in (0, 1] (Gauss–Legendre with
    ``n_steps`` nodes, baseline the zero point in feature coordinates: integrated gradients). The small part of
    the activations outside the basis's kept subspace is held fixed along the path, as in
    :func:`interaction_graph_loop`.
    """
    f = _acts(activations)
    feats = basis.features(f)  # (n, S, J)
    if integration == "gradient":
        alphas, weights = np.array([1.0]), np.array([1.0])
    elif integration == "integrated":
        if not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"n_steps must be a positive int, got {n_steps!r}")
        nodes, w = np.polynomial.legendre.leggauss(n_steps)
        alphas, weights = (nodes + 1) / 2, w / 2
    else:
        raise ValueError(f"integration must be 'gradient' or 'integrated', got {integration!r}")
    # the part of the activations outside the kept subspace is held fixed, so that α = 1 is the real activation
    rest = augment(f) - basis.inverse(feats)
    total = torch.zeros(next_basis.size, basis.size, dtype=torch.float64)
    for chunk, outside in zip(feats.split(chunk_size), rest.split(chunk_size)):
        attributions = 0
        for alpha, weight in zip(alphas, weights):
            points = basis.inverse(alpha * chunk) + outside  # (c, S, D): α f̂ mapped back to augmented activations
            raw = section_jacobians(section, points, chunk_size=chunk_size)
            jf = torch.einsum("ntksd,jd->ntksj", _target_jacobians(raw, next_basis), basis.C_pinv)
            attributions = attributions + weight * torch.einsum("ntksj,nsj->ntkj", jf, chunk)
        total += attributions.pow(2).sum(dim=(0, 1))
    return total / (feats.shape[0] * feats.shape[1])
