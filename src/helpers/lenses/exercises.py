"""Chapter 5's exercises: the interaction matrix of a Fourier direction, an exact preimage, and reading the key
frequencies off the bilinear spectrum."""

from __future__ import annotations

import torch

from ..exercises import Exercise, Prediction
from .bilinear_lens import fourier_matrix
from .preimages import exact_preimage

__all__ = ["exercise_fourier_matrix", "exercise_preimage", "exercise_key_frequencies"]


def _fourier_inputs() -> list[tuple]:
    g = torch.Generator().manual_seed(51)
    inputs = []
    for p, d, w in ((7, 3, 1), (13, 5, 4), (113, 8, 42)):
        q = torch.randn(p, d, d, generator=g, dtype=torch.float64)
        inputs.append(((q + q.transpose(1, 2)) / 2, w))
    return inputs


exercise_fourier_matrix = Exercise(
    "Exercise 5.1 — the interaction matrix of a Fourier direction",
    fourier_matrix,
    _fourier_inputs,
    rtol=1e-10,
    atol=1e-10,
)


def _preimage_inputs() -> list[tuple]:
    g = torch.Generator().manual_seed(52)
    inputs = []
    for n, d, eps in ((10, 2, 0.1), (200, 16, 0.3), (50, 4, 1.0)):
        acts = torch.randn(n, d, generator=g, dtype=torch.float64)
        query = acts[3] + 0.05 * torch.randn(d, generator=g, dtype=torch.float64)
        inputs.append((acts, query, eps))
    return inputs


exercise_preimage = Exercise(
    "Exercise 5.3 — an exact preimage by enumeration", exact_preimage, _preimage_inputs, rtol=1e-10, atol=1e-12
)

exercise_key_frequencies = Prediction(
    "Exercise 5.2 — how many frequencies does the bilinear layer use?",
    answer=4,
    hint="Look for the frequencies whose interaction matrix Q_w has eigenvalues far above those of every other "
    "frequency, and count them; the power of W_out W_U in the left panel tells the same story.",
    why="Q_w at 42, 38, 49 and 32 has eigenvalues of a few hundred, at every other frequency they stay at 30 or below; "
    "those four frequencies hold about 99 % of the power the bilinear units write into the logits.",
)
