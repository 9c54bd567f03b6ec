"""Reading preimages in numbers (addition): which properties of the query the in-ball samples keep, and how complete
the decoder's proposals are, checked against the true ε-ball over all 810,000 problems."""

from __future__ import annotations

from typing import NamedTuple

import torch

from .tasks import ADDITION

__all__ = ["Completeness", "addition_properties", "completeness", "roc_auc", "share_keeping"]


def addition_properties(tokens: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per sequence (n, 14): ``well_formed`` (``B ddd + ddd = …``), the operands' hundreds digits as an unordered pair
    ``F1S1`` (a code), the tens carry ``C2`` (F2 + S2 + the ones carry ≥ 10) and the first answer digit ``A1``.
    Values of malformed sequences are meaningless; mask them with ``well_formed``."""
    if tokens.ndim != 2 or tokens.shape[1] != ADDITION.length:
        raise ValueError(f"tokens must be (n, {ADDITION.length}), got {tuple(tokens.shape)}")
    digit = lambda i: tokens[:, i].clamp(max=9)  # noqa: E731
    well_formed = (tokens[:, 0] == 10) & (tokens[:, 4] == 11) & (tokens[:, 8] == 12) \
        & (tokens[:, [1, 2, 3, 5, 6, 7]] <= 9).all(dim=1) & (tokens[:, 1] > 0) & (tokens[:, 5] > 0)
    f1, f2, f3, s1, s2, s3 = (digit(i) for i in (1, 2, 3, 5, 6, 7))
    ones_carry = (f3 + s3 >= 10).long()
    tens_carry = (f2 + s2 + ones_carry >= 10).long()
    total = (100 * f1 + 10 * f2 + f3) + (100 * s1 + 10 * s2 + s3)
    a1 = torch.where(total >= 1000, total // 1000, total // 100)
    return {"well_formed": well_formed, "F1S1": torch.minimum(f1, s1) * 10 + torch.maximum(f1, s1),
            "C2": tens_carry, "A1": a1}


def share_keeping(query: torch.Tensor, samples: torch.Tensor) -> dict[str, float]:
    """For the well-formed ``samples`` (n, 14), the share that keep each property of ``query`` (14,)."""
    q = addition_properties(query[None])
    s = addition_properties(samples)
    keep = s["well_formed"]
    if not keep.any():
        raise ValueError("no well-formed sample to read")
    return {name: float((s[name][keep] == q[name][0]).float().mean()) for name in ("F1S1", "C2", "A1")}


def roc_auc(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """P(a random positive scores above a random negative), ties counting ½: the Mann–Whitney statistic by ranks."""
    if positive.numel() == 0 or negative.numel() == 0:
        raise ValueError("need at least one positive and one negative score")
    scores = torch.cat([positive, negative]).double()
    order = scores.argsort()
    ranks = torch.empty_like(scores)
    ranks[order] = torch.arange(1, scores.numel() + 1, dtype=torch.float64)
    for value in scores.unique()[torch.unique(scores, return_counts=True)[1] > 1]:  # average ranks of ties
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    n_pos, n_neg = positive.numel(), negative.numel()
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class Completeness(NamedTuple):
    """The true ball over all problems against what the decoder proposes."""

    ball_size: int
    total: int
    distinct_found: int
    auc: float


@torch.no_grad()
def completeness(model, decoder, query: torch.Tensor, site: str, position: int, found: torch.Tensor, *,
                 epsilon: float = 0.1, negatives: int = 50_000, chunk: int = 8192,
                 generator: torch.Generator) -> Completeness:
    """The true ε-ball of the query's activation over all 810,000 problems, and the decoder's view of it.

    ``found``: the decoder's verified in-ball samples (m, 14). The AUC compares the decoder's teacher-forced
    log-likelihood of every in-ball problem with that of ``negatives`` random out-of-ball ones.
    """
    from .distance import min_distance
    from .sampler import activation, valid_positions
    from .tasks import addition_tokens

    a, b = torch.meshgrid(torch.arange(100, 1000), torch.arange(100, 1000), indexing="ij")
    everything = addition_tokens(a.reshape(-1), b.reshape(-1))  # (810000, 14)
    z_q = activation(model, query[None], site)[0, position]
    distance = torch.cat([min_distance(z_q, activation(model, part, site), valid_positions(part, ADDITION))[0]
                          for part in everything.split(chunk)])
    inside = distance <= epsilon
    site_id = model.sites.index(site)

    def loglik(tokens: torch.Tensor) -> torch.Tensor:
        return torch.cat([decoder.log_likelihood(part, z_q.expand(part.shape[0], -1),
                                                 torch.full((part.shape[0],), site_id), ADDITION.pad)
                          for part in tokens.split(chunk)])

    outside = (~inside).nonzero()[:, 0]
    outside = outside[torch.randperm(outside.shape[0], generator=generator)[:negatives]]
    auc = roc_auc(loglik(everything[inside]), loglik(everything[outside])) if inside.any() else float("nan")
    codes = lambda t: (t * (15 ** torch.arange(t.shape[1]))).sum(dim=1)  # noqa: E731  a sequence's code
    members = set(codes(everything[inside]).tolist())
    distinct = len(set(codes(found).tolist()) & members) if found.numel() else 0
    return Completeness(int(inside.sum()), everything.shape[0], distinct, auc)
