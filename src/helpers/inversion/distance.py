"""The ε-preimage of an activation: the normalised distance, minimised over positions, and the in-ball filter.

An activation ``z^q`` holds the information shared by every input whose activation at the same site comes within
``ε`` of it, ``D(z^q, z) = ‖z^q − z‖ / ‖z^q‖ ≤ ε`` at some position. Membership is decided by re-running the probed
model, never by the decoder that proposed the input: a weak decoder finds fewer members, it cannot add false ones.
"""

from __future__ import annotations

import math

import torch

from .._checks import require_tensor

__all__ = ["EPSILON", "ball_sizes", "in_ball", "min_distance"]

#: The paper's ε for its small tasks.
EPSILON = 0.1


def min_distance(
    query: torch.Tensor, activations: torch.Tensor, valid: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``min_t ‖z^q − z_t‖ / ‖z^q‖`` over the valid positions of each input, and the position that attains it.

    Args:
        query: the query activation (d,), not zero.
        activations: the same site's activations of n inputs at T positions (n, T, d).
        valid: (n, T) booleans, the positions that count (e.g. not padding); default all.
    Returns distances (n,) and positions (n,); an input with no valid position gets distance inf and position −1.
    """
    require_tensor(query, "query", ndim=1)
    require_tensor(activations, "activations", ndim=3)
    if activations.shape[0] == 0:
        raise ValueError("activations is an empty batch")
    if activations.shape[-1] != query.shape[0]:
        raise ValueError(f"activations have width {activations.shape[-1]}, the query {query.shape[0]}")
    if not float(query.norm()) > 0:
        raise ValueError("the query activation is zero: a distance relative to its norm is undefined")
    if valid is not None and valid.shape != activations.shape[:2]:
        raise ValueError(f"valid must have shape {tuple(activations.shape[:2])}, got {tuple(valid.shape)}")
    d = (activations - query).norm(dim=-1) / float(query.norm())  # (n, T)
    if valid is not None:
        d = d.masked_fill(~valid, math.inf)
    values, positions = d.min(dim=1)
    return values, torch.where(torch.isfinite(values), positions, torch.full_like(positions, -1))


def ball_sizes(distances: torch.Tensor, epsilons) -> torch.Tensor:
    """How many of each row's distances (q, n) are within each ``ε`` of ``epsilons`` (m,): the sizes (m, q) of q
    queries' ε-balls at m radii, the same counts as ``(distances[None] <= ε[:, None, None]).sum(-1)``, found by
    sorting each row once instead of building that (m, q, n) mask (and its sum's copy of it in int64)."""
    if not isinstance(distances, torch.Tensor) or distances.ndim != 2 or not distances.is_floating_point():
        raise ValueError("distances must be a floating (q, n) tensor")
    bounds = torch.as_tensor(epsilons, dtype=distances.dtype)
    if bounds.ndim != 1 or distances.isnan().any() or bounds.isnan().any():
        raise ValueError(
            "distances and epsilons must not hold NaN (inf is a distance beyond every ε), and epsilons "
            f"must be one-dimensional, got shape {tuple(bounds.shape)}"
        )
    ordered = distances.sort(dim=1).values
    counts = torch.searchsorted(ordered, bounds.expand(ordered.shape[0], -1).contiguous(), right=True)  # (q, m)
    return counts.T.contiguous()  # (m, q), laid out as the mask's sum would be (a later mean sums in its order)


def in_ball(distances: torch.Tensor, epsilon: float = EPSILON) -> torch.Tensor:
    """Which distances are within ``ε`` (booleans)."""
    if (
        isinstance(epsilon, bool)
        or not isinstance(epsilon, (int, float))
        or not epsilon > 0
        or not math.isfinite(epsilon)
    ):
        raise ValueError(f"epsilon must be a positive finite number, got {epsilon!r}")
    return distances <= epsilon
