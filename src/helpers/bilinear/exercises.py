"""The exercises of the bilinear chapter: references are the functions of ``helpers.bilinear`` (or built from them)."""

from __future__ import annotations

import torch

from ..exercises import Exercise
from ..linalg import canonical_signs
from .sentiment import bare_phrase_scores
from .tensors import bilinear_tensor, eigen_logits, eigendecompose, fold_bias, interaction_matrix

__all__ = [
    "bias_parts",
    "exercise_bare_phrases",
    "exercise_bias_parts",
    "exercise_eigen",
    "exercise_pinv_mask",
    "exercise_symmetric_tensor",
    "exercise_truncated_logits",
    "pinv_mask",
]


def bias_parts(
    w: torch.Tensor, bw: torch.Tensor, v: torch.Tensor, bv: torch.Tensor, u: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``u · ((W x + b_w) ⊙ (V x + b_v)) = xᵀ Q x + l · x + c``: returns ``Q`` (d, d), ``l`` (d,) and ``c`` ()."""
    folded = interaction_matrix(*fold_bias(w, bw, v, bv), u)  # (d + 1, d + 1), the constant input last
    d = w.shape[1]
    return folded[:d, :d], 2 * folded[:d, d], folded[d, d]


def pinv_mask(eigenvectors: torch.Tensor, embed_weight: torch.Tensor, j: int) -> torch.Tensor:
    """The mask ``m_j = W_eᵀ k_j`` (n_in,): ``k_j`` is row ``j`` of the pseudo-inverse of the eigenvectors
    (columns of ``eigenvectors``, (d, r), embedding space), so ``k_j · eigenvectors[:, i] = δ_ij``."""
    return torch.linalg.pinv(eigenvectors)[j] @ embed_weight


def _bias_inputs() -> list[tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(14)
    return [
        tuple(torch.randn(*shape, generator=g, dtype=torch.float64) for shape in ((h, d), (h,), (h, d), (h,), (h,)))
        for h, d in [(3, 2), (6, 4), (5, 7)]
    ]


def _mask_inputs() -> list[tuple]:
    g = torch.Generator().manual_seed(15)
    out = []
    for d, r, n_in, j in [(6, 3, 10, 0), (8, 5, 12, 4), (5, 5, 9, 2)]:
        # eigenvectors of different classes' matrices are not orthogonal to each other: with orthonormal columns the
        # pseudo-inverse would be the transpose, and the transpose (the plausible wrong answer) would pass
        vectors = torch.randn(d, r, generator=g, dtype=torch.float64)
        out.append((vectors, torch.randn(d, n_in, generator=g, dtype=torch.float64), j))
    return out


def _phrase_inputs() -> list[tuple]:
    g = torch.Generator().manual_seed(16)
    out = []
    for vocab, negators, adjectives in [(6, [0], [1, 2]), (9, [0, 1, 2], [3, 4, 5, 6]), (5, [4], [0, 2, 3])]:
        a = torch.randn(vocab, vocab, generator=g, dtype=torch.float64)
        out.append(((a + a.T) / 2, negators, adjectives))
    return out


def _pairs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(11)
    return [
        (torch.randn(h, d, generator=g, dtype=torch.float64), torch.randn(h, d, generator=g, dtype=torch.float64))
        for h, d in [(3, 2), (5, 4), (8, 6), (1, 3)]
    ]


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

exercise_bias_parts = Exercise(
    title="Exercise 1.2 — interaction, linear and constant parts",
    reference=bias_parts,
    make_inputs=_bias_inputs,
    rtol=1e-10,
    atol=1e-10,
)

exercise_eigen = Exercise(
    title="Exercise 1.3 — eigenpairs ordered by importance",
    reference=_eigen_reference,
    make_inputs=_symmetric,
    rtol=1e-8,
    atol=1e-8,
    canonical=_canonical_eigen,
)

exercise_truncated_logits = Exercise(
    title="Exercise 1.4 — truncated logits",
    reference=eigen_logits,
    make_inputs=_truncation,
    rtol=1e-10,
    atol=1e-10,
)

exercise_pinv_mask = Exercise(
    title="Exercise 1.5 — a pseudo-inverse mask",
    reference=pinv_mask,
    make_inputs=_mask_inputs,
    rtol=1e-8,
    atol=1e-10,
)

exercise_bare_phrases = Exercise(
    title="Exercise 1.6 — bare phrases scored from the weights",
    reference=bare_phrase_scores,
    make_inputs=_phrase_inputs,
    rtol=1e-10,
    atol=1e-10,
)
