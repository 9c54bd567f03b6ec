"""The LIB chapter's exercises: the bias-folded centred Gram matrix, the matrix M, rotating and scaling by M's
eigenvectors, and the squared edges."""

from __future__ import annotations

import torch

from ..exercises import Exercise, Prediction
from .bases import interaction_matrix, rotate_scale_truncate
from .edges import edges_from_jacobians

__all__ = [
    "centred_gram",
    "exercise_centred_gram",
    "exercise_edges",
    "exercise_m",
    "exercise_predict",
    "exercise_rotate",
    "rotated_basis",
]


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
    return [
        (torch.randn(shape, generator=g, dtype=torch.float64) * 2 + 0.7,)
        for shape in [(40, 1, 3), (25, 3, 5), (9, 2, 2)]
    ]


def _m_inputs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(32)
    cases = []
    for n, t, k, s, d, dt in [(6, 1, 4, 1, 5, 3), (5, 2, 3, 3, 4, 4), (3, 1, 2, 2, 3, 2)]:
        cases.append(
            (
                torch.randn(n, t, k, s, d, generator=g, dtype=torch.float64),
                torch.randn(dt, d, generator=g, dtype=torch.float64),
            )
        )
    return cases


def rotated_basis(M: torch.Tensor, R: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``C`` (d + 1, k) and ``Λ`` (k,): M's non-constant block diagonalised, the constant held first, truncated
    relative to the largest Λ, scaled by ``Λ^{1/2}`` (the reference for the learner's ``rotate_scale_truncate``)."""
    c, lam, _ = rotate_scale_truncate(M, R, threshold)
    return c, lam


def _rotate_inputs() -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    g = torch.Generator().manual_seed(34)
    cases = []
    for rows, dt, d in [(9, 5, 6), (3, 6, 6), (12, 4, 3)]:  # 3 rows: rank 3 < 5 non-constant directions, truncated
        a = torch.randn(rows, dt, generator=g, dtype=torch.float64)
        cases.append((a.T @ a, torch.randn(d + 1, dt, generator=g, dtype=torch.float64), 1e-10))
    # the threshold is relative to the largest eigenvalue: on M scaled by 1e-12 an absolute 1e-10 would drop everything
    a = torch.randn(9, 5, generator=g, dtype=torch.float64)
    cases.append((1e-12 * (a.T @ a), torch.randn(7, 5, generator=g, dtype=torch.float64), 1e-10))
    return cases


def _signs_fixed(output: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """An eigenvector's sign is arbitrary: flip each column of C so that its largest entry is positive."""
    c, lam = output
    c = torch.as_tensor(c)
    biggest = c.gather(0, c.abs().argmax(dim=0, keepdim=True))
    return c * torch.sign(biggest), lam


def _edge_inputs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(33)
    cases = []
    for n, t, k, s, j in [(7, 1, 3, 1, 4), (4, 2, 5, 3, 2), (2, 1, 1, 2, 3)]:
        cases.append(
            (
                torch.randn(n, t, k, s, j, generator=g, dtype=torch.float64),
                torch.randn(n, s, j, generator=g, dtype=torch.float64),
            )
        )
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

exercise_predict = Prediction(
    title="Exercise 3.3 — predict before you compute",
    answer=10,
    hint="What does the Jacobian of a linear map look like, and how does its size bound the rank of M?",
    why="the logits read hidden 2 through one 10 × 32 matrix, the same for every image: the stacked Jacobian, and "
    "with it M, has rank at most 10, so at most 10 non-constant eigenvalues of M are not zero",
)

exercise_rotate = Exercise(
    title="Exercise 3.4 — rotate, scale, truncate",
    reference=rotated_basis,
    make_inputs=_rotate_inputs,
    rtol=1e-8,
    atol=1e-10,
    canonical=_signs_fixed,
)

exercise_edges = Exercise(
    title="Exercise 3.5 — squared edges",
    reference=edges_from_jacobians,
    make_inputs=_edge_inputs,
    rtol=1e-10,
    atol=1e-10,
)
