"""The exercises of the bilinear chapter: references are the functions of ``helpers.bilinear``."""

from __future__ import annotations

import torch

from .bilinear import bilinear_tensor, eigen_logits, eigendecompose
from .exercises import Exercise
from .linalg import canonical_signs

__all__ = ["exercise_eigen", "exercise_symmetric_tensor", "exercise_truncated_logits"]


def _pairs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(11)
    return [(torch.randn(h, d, generator=g, dtype=torch.float64), torch.randn(h, d, generator=g, dtype=torch.float64))
            for h, d in [(3, 2), (5, 4), (8, 6), (1, 3)]]


def _symmetric() -> list[tuple[torch.Tensor]]:
    g = torch.Generator().manual_seed(12)
    out = []
    for d in (2, 5, 9):
        a = torch.randn(d, d, generator=g, dtype=torch.float64)
        out.append((a + a.T,))
    return out


def _truncation() -> list[tuple]:
    g = torch.Generator().manual_seed(13)
    out = []
    for n, c, m, k in [(4, 3, 5, 2), (10, 10, 8, 8), (3, 2, 6, 0), (6, 4, 7, 1)]:
        values = torch.randn(c, m, generator=g, dtype=torch.float64)
        order = torch.argsort(values.abs(), dim=1, descending=True)
        out.append((torch.gather(values, 1, order), torch.randn(n, c, m, generator=g, dtype=torch.float64), k))
    return out


def _eigen_reference(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    values, vectors = eigendecompose(q)
    return values, vectors


def _canonical_eigen(out):
    values, vectors = out
    return values, canonical_signs(vectors) if isinstance(vectors, torch.Tensor) else vectors


exercise_symmetric_tensor = Exercise(
    title="Exercise 1.1 — the symmetric bilinear tensor",
    reference=bilinear_tensor,
    make_inputs=_pairs,
    rtol=1e-10,
    atol=1e-10,
)

exercise_eigen = Exercise(
    title="Exercise 1.2 — eigenpairs ordered by importance",
    reference=_eigen_reference,
    make_inputs=_symmetric,
    rtol=1e-8,
    atol=1e-8,
    canonical=_canonical_eigen,
)

exercise_truncated_logits = Exercise(
    title="Exercise 1.3 — truncated logits",
    reference=eigen_logits,
    make_inputs=_truncation,
    rtol=1e-10,
    atol=1e-10,
)
