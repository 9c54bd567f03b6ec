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

__all__ = ["cumulative_patching", "logit_difference"]


def logit_difference(logits: torch.Tensor, position: int, original_answer: int, contrast_answer: int) -> float:
    """``logit[original answer] − logit[contrast answer]`` at ``position`` of one input's logits (1, T, vocab)."""
    return float((logits[0, position, original_answer] - logits[0, position, contrast_answer]).detach())


@torch.no_grad()
def cumulative_patching(model: ProbedTransformer, original: torch.Tensor, contrast: torch.Tensor,
                        components: Sequence[tuple[str, int]], position: int, original_answer: int,
                        contrast_answer: int) -> list[float]:
    """LD with the first k components patched from the contrast, for k = 0, …, len(components).

    ``original`` and ``contrast`` are token sequences (T,) of the same length; components are (site, position) pairs.
    """
    if original.shape != contrast.shape or original.ndim != 1:
        raise ValueError(f"original and contrast must be (T,) of one shape, got {tuple(original.shape)} and "
                         f"{tuple(contrast.shape)}")
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
