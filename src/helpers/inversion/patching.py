"""Activation patching with contrast inputs, cumulative and in either order, as InversionView's causal check.

A component is a site at one position (a head's output at the target letter, the embeddings at a position, …).
Patching a set of components runs the original input with each component's value taken from the contrast input's
run; the logit difference ``LD = logit[original answer] − logit[contrast answer]`` at the answer-predicting position
moves from its original value towards the contrast's as the components that carry the information are patched.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .transformer import ProbedTransformer

__all__ = ["cumulative_patching", "flip_one_letter", "logit_difference", "resample_digits"]


def logit_difference(logits: torch.Tensor, position: int, original_answer: int, contrast_answer: int) -> float:
    """``logit[original answer] − logit[contrast answer]`` at ``position`` of one input's logits (1, T, vocab)."""
    return float((logits[0, position, original_answer] - logits[0, position, contrast_answer]).detach())


@torch.no_grad()
def cumulative_patching(
    model: ProbedTransformer,
    original: torch.Tensor,
    contrast: torch.Tensor,
    components: Sequence[tuple[str, int]],
    position: int,
    original_answer: int,
    contrast_answer: int,
) -> list[float]:
    """LD with the first k components patched from the contrast, for k = 0, …, len(components).

    ``original`` and ``contrast`` are token sequences (T,) of the same length; components are (site, position) pairs.
    """
    if original.shape != contrast.shape or original.ndim != 1:
        raise ValueError(
            f"original and contrast must be (T,) of one shape, got {tuple(original.shape)} and {tuple(contrast.shape)}"
        )
    if len({c for c in components}) != len(components):
        raise ValueError("components must be distinct")
    sites = sorted({site for site, _ in components})
    _, contrast_cache = model(contrast[None], cache=sites)
    t = original.shape[0]
    values = [logit_difference(model(original[None])[0], position, original_answer, contrast_answer)]
    for k in range(1, len(components) + 1):
        patch_at: dict[str, torch.Tensor] = {}
        for site, at in components[:k]:
            if not 0 <= at < t:
                raise ValueError(f"position {at} is outside the input (length {t})")
            patch_at.setdefault(site, torch.zeros(t, dtype=torch.bool))[at] = True
        logits, _ = model(original[None], patch={s: contrast_cache[s] for s in patch_at}, patch_at=patch_at)
        values.append(logit_difference(logits, position, original_answer, contrast_answer))
    return values


def flip_one_letter(tokens: torch.Tensor, answer_at: int, generator: torch.Generator) -> torch.Tensor:
    """A counting problem (T,) with one letter of the string changed so that the target's count changes by one:
    a non-target letter becomes the target (count + 1), or, when the count is 9 or no other letter exists, a copy of
    the target becomes another letter of the string (count − 1). Same length, same target, answer updated."""
    from .tasks import COUNTING

    if (
        tokens.ndim != 1
        or not 5 <= answer_at < tokens.shape[0]
        or int(tokens[answer_at - 1]) != COUNTING.vocab.index(":")
    ):
        raise ValueError("need one counting problem (T,) and the position of its count digit (right after ':')")
    target = int(tokens[answer_at - 2])
    letters = tokens[1 : answer_at - 3]  # the string between B and |
    count = int((letters == target).sum())
    others = (letters != target).nonzero()[:, 0]
    flipped = tokens.clone()
    if count < 9 and others.numel():
        pick = others[torch.randint(0, others.numel(), (1,), generator=generator)]
        flipped[1 + pick] = target
        count += 1
    else:
        if count < 2 or not others.numel():
            raise ValueError("cannot change the count by one without changing the string's letters")
        copies = (letters == target).nonzero()[:, 0]
        pick = copies[torch.randint(0, copies.numel(), (1,), generator=generator)]
        flipped[1 + pick] = letters[others[0]]
        count -= 1
    flipped[answer_at] = 25 + count  # the digit d is token 25 + d
    return flipped


def resample_digits(
    a: int, b: int, place: int, changes, generator: torch.Generator, tries: int = 1000
) -> tuple[int, int]:
    """New operands with the digits at ``place`` (0 hundreds, 1 tens, 2 ones) of both ``a`` and ``b`` redrawn (the
    hundreds from 1–9) until ``changes(a, b, a', b')`` holds (e.g. the first answer digit differs)."""
    if place not in (0, 1, 2):
        raise ValueError(f"place must be 0, 1 or 2, got {place}")
    scale = 10 ** (2 - place)
    low = 1 if place == 0 else 0
    for _ in range(tries):
        da, db = (int(v) for v in torch.randint(low, 10, (2,), generator=generator))
        a2 = a - (a // scale % 10) * scale + da * scale
        b2 = b - (b // scale % 10) * scale + db * scale
        if changes(a, b, a2, b2):
            return a2, b2
    raise ValueError(f"no resampling of place {place} of {a} + {b} satisfies the condition in {tries} tries")
