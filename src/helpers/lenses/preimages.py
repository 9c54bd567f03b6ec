"""Exact ε-preimages on the mod-add model: with p² inputs, every input's activation is computed once and the
preimage of any activation is found by enumeration (chapter 4's distance, no decoder)."""

from __future__ import annotations

import math

import torch

from .._checks import require_tensor
from ..inversion.distance import in_ball, min_distance
from ..lib.modadd import ModAddTransformer

__all__ = ["distances", "exact_preimage", "frequency_projector", "offset_similarity", "site_activations"]

@torch.no_grad()
def site_activations(model: ModAddTransformer, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every site's activation at ``=`` for ``tokens`` (n, 3): ``resid_mid`` (after attention), ``hidden`` (the
    bilinear layer, ``(x W) ⊙ (x V)``), ``pre_unembed`` (after the MLP) and ``logits``, each (n, width)."""
    if model.mlp_kind != "bilinear":
        raise ValueError("site_activations reads the bilinear model's hidden layer")
    _, mid, post, logits = (a[:, -1] for a in model.node_activations(tokens))
    hidden = (mid @ model.W_in) * (mid @ model.V_in)
    return {"resid_mid": mid, "hidden": hidden, "pre_unembed": post, "logits": logits}


def exact_preimage(activations: torch.Tensor, query: torch.Tensor, epsilon: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalised distance ``‖z_q − z‖ / ‖z_q‖`` of every input's activation (n, d) to ``query`` (d,), (n,),
    and the ε-preimage as a mask (n,): chapter 4's definition, one position per input."""
    activations = require_tensor(activations, "activations", ndim=2)
    query = require_tensor(query, "query", ndim=1)
    if query.shape[0] != activations.shape[1]:
        raise ValueError(f"query has width {query.shape[0]}, the activations {activations.shape[1]}")
    distance, _ = min_distance(query, activations[:, None])
    return distance, in_ball(distance, epsilon)


def distances(activations: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
    """The normalised distance (q, n) from each of ``queries`` (q, d) to every input's activation (n, d), computed
    difference by difference (no ``‖a‖² + ‖b‖² − 2 a·b`` shortcut, whose cancellation would blur small distances)
    without holding the (q, n, d) differences in memory."""
    activations = require_tensor(activations, "activations", ndim=2)
    queries = require_tensor(queries, "queries", ndim=2)
    if queries.shape[1] != activations.shape[1]:
        raise ValueError(f"queries have width {queries.shape[1]}, the activations {activations.shape[1]}")
    gaps = torch.cdist(queries, activations, compute_mode="donot_use_mm_for_euclid_dist")  # (q, n)
    return gaps / queries.norm(dim=1, keepdim=True)


def frequency_projector(model: ModAddTransformer, frequency: int) -> torch.Tensor:
    """The orthogonal projector (d, d) onto the residual directions that write the logit waves
    ``cos(2π w c / p)`` and ``sin(2π w c / p)``: the span of ``W_U`` times the two waves."""
    p = model.p
    if not (isinstance(frequency, int) and 1 <= frequency <= p // 2):
        raise ValueError(f"frequency must be an int in 1 … {p // 2}, got {frequency!r}")
    c = torch.arange(p, dtype=model.W_U.dtype)
    waves = torch.stack([torch.cos(2 * math.pi * frequency * c / p), torch.sin(2 * math.pi * frequency * c / p)], 1)
    basis, _ = torch.linalg.qr(model.W_U.detach() @ waves)  # (d, 2), orthonormal
    return basis @ basis.T


def offset_similarity(frequencies: list[int], p: int, weights: list[float] | None = None) -> torch.Tensor:
    """``Σ_w P_w cos(2π w δ / p)`` over the given frequencies for every offset δ = 0 … p − 1, (p,).

    If the logits of sum ``s`` are waves over the classes, ``ℓ_c(s) = Σ_w A_w cos(2π w (c − s) / p + φ_w)``, then
    ``‖ℓ(s) − ℓ(s + δ)‖² = p Σ_w A_w² (1 − cos(2π w δ / p))``: two sums are close exactly when this similarity,
    with ``P_w ∝ A_w²`` the power of frequency ``w``, is large. ``weights`` are the ``P_w`` (default: all 1).
    """
    if not frequencies or any(not (isinstance(w, int) and 1 <= w <= p // 2) for w in frequencies):
        raise ValueError(f"frequencies must be ints in 1 … {p // 2}, got {frequencies!r}")
    weights = [1.0] * len(frequencies) if weights is None else [float(v) for v in weights]
    if len(weights) != len(frequencies):
        raise ValueError(f"need one weight per frequency, got {len(weights)} for {len(frequencies)}")
    delta = torch.arange(p, dtype=torch.float64)
    return sum(v * torch.cos(2 * math.pi * w * delta / p) for w, v in zip(frequencies, weights))
