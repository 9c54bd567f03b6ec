"""The LIB chapter's exercises: the bias-folded centred Gram matrix, the matrix M, and the squared edges."""

from __future__ import annotations

import torch

from ..exercises import Exercise
from .bases import interaction_matrix
from .edges import edges_from_jacobians

__all__ = ["centred_gram", "exercise_centred_gram", "exercise_edges", "exercise_m"]


def centred_gram(activations: torch.Tensor) -> torch.Tensor:
    """The (d + 1, d + 1) Gram matrix of centred activations (n, P, d) with a constant 1 appended.

    Positions count as samples: the mean and the average run over all ``n · P`` rows.
    """
    rows = activations.reshape(-1, activations.shape[-1])  # (n·P, d)
    centred = rows - rows.mean(dim=0)
    folded = torch.cat([centred, torch.ones_like(centred[:, :1])], dim=1)  # (n·P, d + 1)
    return folded.T @ folded / rows.shape[0]


def _gram_inputs() -> list[tuple[torch.Tensor]]:
    g = torch.Generator().manual_seed(31)
    return [(torch.randn(shape, generator=g, dtype=torch.float64) * 2 + 0.7,) for shape in [(40, 1, 3), (25, 3, 5), (9, 2, 2)]]


def _m_inputs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(32)
    cases = []
    for n, t, k, s, d, dt in [(6, 1, 4, 1, 5, 3), (5, 2, 3, 3, 4, 4), (3, 1, 2, 2, 3, 2)]:
        cases.append((torch.randn(n, t, k, s, d, generator=g, dtype=torch.float64),
                      torch.randn(dt, d, generator=g, dtype=torch.float64)))
    return cases


def _edge_inputs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(33)
    cases = []
    for n, t, k, s, j in [(7, 1, 3, 1, 4), (4, 2, 5, 3, 2), (2, 1, 1, 2, 3)]:
        cases.append((torch.randn(n, t, k, s, j, generator=g, dtype=torch.float64),
                      torch.randn(n, s, j, generator=g, dtype=torch.float64)))
    return cases


exercise_centred_gram = Exercise(
    title="Exercise 3.1 — fold in the constant and centre",
    reference=centred_gram,
    make_inputs=_gram_inputs,
    rtol=1e-10,
    atol=1e-10,
)

exercise_m = Exercise(
    title="Exercise 3.2 — the matrix M",
    reference=interaction_matrix,
    make_inputs=_m_inputs,
    rtol=1e-10,
    atol=1e-10,
)

exercise_edges = Exercise(
    title="Exercise 3.3 — squared edges",
    reference=edges_from_jacobians,
    make_inputs=_edge_inputs,
    rtol=1e-10,
    atol=1e-10,
)
