"""Constructed counting inputs that differ from each other in one property only, to test a reading of model B.

A reading such as "this activation keeps the count but not the letter's identity" is a claim about distances: inputs
that differ only in the letter's identity should land within ε of each other, inputs that differ only in the count
should not. Sampling a decoder cannot isolate one property; building the inputs by hand can.
"""

from __future__ import annotations

import string
from typing import NamedTuple

import torch

from .analysis import require_positive_int
from .tasks import COUNTING, encode
from .transformer import ProbedTransformer

__all__ = ["Variants", "counting_variants", "pair_distances"]


class Variants(NamedTuple):
    """Four aligned batches (n, T) of counting problems: ``original``; ``more``, with one non-target letter turned
    into the target (count + 1, same length and letters); ``shuffled``, the same letters in another order (same
    count); ``renamed``, the target letter replaced everywhere by a letter absent from the string (same count and
    order, another identity)."""

    original: torch.Tensor
    more: torch.Tensor
    shuffled: torch.Tensor
    renamed: torch.Tensor


def counting_variants(n: int, generator: torch.Generator) -> Variants:
    """``n`` random problems (target count 1–8, the two other letters 2–9 and 1–9 times) and their three variants."""
    require_positive_int(n, "n")
    letters = string.ascii_lowercase
    out: dict[str, list[torch.Tensor]] = {"original": [], "more": [], "shuffled": [], "renamed": []}

    def draw(low: int, high: int) -> int:
        return int(torch.randint(low, high + 1, (1,), generator=generator))

    def problem(body: list[str], target: str) -> torch.Tensor:
        return encode(COUNTING, "B" + "".join(body) + "|" + target + ":" + str(body.count(target)) + "E")

    for _ in range(n):
        target, other, third, absent = (letters[i] for i in torch.randperm(26, generator=generator)[:4].tolist())
        body = [target] * draw(1, 8) + [other] * draw(2, 9) + [third] * draw(1, 9)
        body = [body[i] for i in torch.randperm(len(body), generator=generator).tolist()]
        more = list(body)
        more[more.index(other)] = target
        shuffled = [body[i] for i in torch.randperm(len(body), generator=generator).tolist()]
        out["original"].append(problem(body, target))
        out["more"].append(problem(more, target))
        out["shuffled"].append(problem(shuffled, target))
        out["renamed"].append(problem([absent if c == target else c for c in body], absent))
    return Variants(**{k: torch.stack(v) for k, v in out.items()})


@torch.no_grad()
def pair_distances(model: ProbedTransformer, a: torch.Tensor, b: torch.Tensor, site: str, offset: int) -> torch.Tensor:
    """``‖z_a − z_b‖ / ‖z_a‖`` (n,) at ``site``, at the position ``offset`` from ``:`` (0 ``:``, −1 the target
    letter) of each pair of problems (a[i], b[i]); both problems of a pair have ``:`` at the same position."""
    colon = COUNTING.vocab.index(":")
    at_a, at_b = ((x == colon).nonzero()[:, 1] for x in (a, b))
    if a.shape != b.shape or a.shape[0] != at_a.numel() or not torch.equal(at_a, at_b):
        raise ValueError("a and b must be batches of problems with one ':' each, at the same positions")
    rows = torch.arange(a.shape[0])
    za = model(a, cache=[site], stop_early=True)[1][site][rows, at_a + offset]
    zb = model(b, cache=[site], stop_early=True)[1][site][rows, at_b + offset]
    return (za - zb).norm(dim=-1) / za.norm(dim=-1)
