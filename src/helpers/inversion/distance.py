"""The ε-preimage of an activation: the normalised distance, minimised over positions, and the in-ball filter.

An activation ``z^q`` holds the information shared by every input whose activation at the same site comes within
``ε`` of it, ``D(z^q, z) = ‖z^q − z‖ / ‖z^q‖ ≤ ε`` at some position. Membership is decided by re-running the probed
model, never by the decoder that proposed the input: a weak decoder finds fewer members, it cannot add false ones.
"""

from __future__ import annotations

import math

import torch

from .._checks import require_tensor

__all__ = ["EPSILON", "in_ball", "min_distance"]

#: The paper's ε for its small tasks.
EPSILON = 0.1


def min_distance(query: torch.Tensor, activations: torch.Tensor, valid: torch.Tensor | None = None) \
        -> tuple[torch.Tensor, torch.Tensor]:
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
    values, positions = _position_distances(query, activations, valid).min(dim=1)
    return values, torch.where(torch.isfinite(values), positions, torch.full_like(positions, -1))


def _position_distances(query: torch.Tensor, activations: torch.Tensor,
                        valid: torch.Tensor | None) -> torch.Tensor:
    """``‖z^q − z_t‖ / ‖z^q‖`` at every position (n, T), inf where not ``valid``: :func:`min_distance` without its
    checks, for callers that check their arguments once and then call it on many batches."""
    d = (activations - query).norm(dim=-1) / float(query.norm())  # (n, T)
    return d if valid is None else d.masked_fill(~valid, math.inf)


def in_ball(distances: torch.Tensor, epsilon: float = EPSILON) -> torch.Tensor:
    """Which distances are within ``ε`` (booleans)."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0 or not math.isfinite(epsilon):
        raise ValueError(f"epsilon must be a positive finite number, got {epsilon!r}")
    return distances <= epsilon
