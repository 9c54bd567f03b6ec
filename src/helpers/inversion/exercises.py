"""Chapter 4's exercises: the distance and the in-ball filter, one activation patch, and reading a preimage."""

from __future__ import annotations

from functools import lru_cache

import torch

from ..exercises import Exercise, Prediction
from .distance import in_ball, min_distance
from .patching import cumulative_patching
from .tasks import ADDITION, addition_tokens
from .transformer import ProbedTransformer

__all__ = ["PROPERTIES", "exercise_in_ball", "exercise_patch", "exercise_reading", "reading_answer"]


def _in_ball(query: torch.Tensor, activations: torch.Tensor, valid: torch.Tensor, epsilon: float):
    distance, _ = min_distance(query, activations, valid)
    return distance, in_ball(distance, epsilon)


def _in_ball_inputs() -> list[tuple]:
    g = torch.Generator().manual_seed(41)
    inputs = []
    for n, t, d, eps in ((5, 4, 8, 0.1), (40, 14, 32, 0.3), (3, 1, 2, 1.5)):
        query = torch.randn(d, generator=g, dtype=torch.float64)
        acts = (
            query
            + torch.randn(n, t, d, generator=g, dtype=torch.float64)
            * query.norm()
            * torch.rand(n, t, 1, generator=g, dtype=torch.float64)
            * 0.3
            / d**0.5
        )
        acts[0, -1] = query  # one exact member
        valid = torch.rand(n, t, generator=g) < 0.8
        valid[:, 0] = True
        inputs.append((query, acts, valid, eps))
    return inputs


exercise_in_ball = Exercise(
    "Exercise 4.1 — the distance and the in-ball filter", _in_ball, _in_ball_inputs, rtol=1e-10, atol=1e-12
)


def _patch(
    model: ProbedTransformer,
    original: torch.Tensor,
    contrast: torch.Tensor,
    site: str,
    at: int,
    answer_position: int,
    original_answer: int,
    contrast_answer: int,
) -> float:
    return cumulative_patching(
        model, original, contrast, [(site, at)], answer_position, original_answer, contrast_answer
    )[-1]


@lru_cache(maxsize=1)
def _patch_model() -> ProbedTransformer:
    """A small untrained addition model with fixed weights: the same object for every check (it is never changed)."""
    torch.manual_seed(42)
    return ProbedTransformer(ADDITION.size, ADDITION.length, 16, 2, 2, 32).eval().requires_grad_(False)


def _patch_inputs() -> list[tuple]:
    model = _patch_model()
    a, b = torch.tensor([615, 123, 999]), torch.tensor([861, 456, 999])
    c, d = torch.tensor([215, 723, 199]), torch.tensor([361, 456, 999])
    original, contrast = addition_tokens(a, b), addition_tokens(c, d)
    cases = [(0, "attn0.1", 8), (1, "resid_mid0", 1), (2, "mlp1", 8), (0, "attn1.0", 3)]
    return [
        (model, original[i, :9], contrast[i, :9], site, at, 8, int(original[i, 9]), int(contrast[i, 9]))
        for i, site, at in cases
    ]


exercise_patch = Exercise(
    "Exercise 4.3 — patch one component from the contrast run", _patch, _patch_inputs, rtol=1e-4, atol=1e-5
)

#: What an addition preimage at ``=`` might keep, numbered for the reading exercise.
PROPERTIES = {
    1: "the hundreds digits {F1, S1}",
    2: "the tens carry C2",
    3: "the first answer digit A1",
    4: "nothing beyond chance",
}


def reading_answer(gain: dict[str, float], threshold: float = 0.5) -> int:
    """The property (numbered as in :data:`PROPERTIES`) that a site's preimage keeps most above chance, from its
    statistics (the exact ball's, or the sampler's). ``gain``: (kept share − chance) / (1 − chance) per property
    name ``F1S1``, ``C2``, ``A1`` (0 at chance, 1 when always kept); 4 when no gain reaches ``threshold``."""
    names = ["F1S1", "C2", "A1"]
    best = max(names, key=lambda k: gain[k])
    return names.index(best) + 1 if gain[best] >= threshold else 4


#: Exercise 4.2: the layer-0 head that attends most to the hundreds digits from ``=`` keeps them in its preimage.
#: The chapter checks that the exact balls' statistics give the same answer (:func:`reading_answer`).
exercise_reading = Prediction(
    "Exercise 4.2 — what does the hundreds head at '=' encode?",
    1,
    hint="read the head's row of the table: which property do the exact ball's members keep far more often than "
    "the chance row?",
    why="every member of its exact ball keeps the hundreds digits, and the tens carry no more often than chance",
)
