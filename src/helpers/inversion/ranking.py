"""Rank all 810,000 addition problems by the decoder's log-likelihood, exactly, without scoring them all.

Completeness asks where the decoder puts the true ε-ball among *every* problem: the precision of its top-|ball|
problems, the rank of the ball's worst-scored member, and the ROC AUC of members against all non-members. Scoring
all 810,000 problems takes minutes on a CPU. A branch-and-bound search over the problems' shared prefixes gives the
same numbers in seconds: a problem's log-likelihood is a sum of per-token log-probabilities, each ≤ 0, so the
log-likelihood of its operand prefix (``B F1 F2 F3 + S1 S2 S3``) bounds its full log-likelihood from above. Every
problem whose prefix already scores below the worst member's full score is out-ranked by every member, and the
search never extends it. Only the problems that could score at or above the worst member are scored in full.

The search extends prefixes one token at a time, and the decoder runs one position at a time with it
(:class:`~helpers.inversion.decoder_steps.DecoderSteps`): a child computes only its new position, attending to the
keys and values its parent kept. A problem's score is the teacher-forced log-likelihood
(:func:`~helpers.inversion.analysis.decoder_scores`), summed in another order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, NamedTuple

import torch

from .analysis import all_addition_tokens, require_positive_int, roc_auc
from .decoder_steps import Steps
from .tasks import ADDITION

__all__ = ["Ranking", "SLACK", "exact_ranking", "scores_above"]

#: The prefix search keeps a prefix that falls short of the threshold by less than this (in nats), so that a problem
#: whose full score sits at the threshold survives the rounding of a differently batched forward pass.
SLACK = 1e-3

_PLUS = 11  # the token '+'
_LAST_OPERAND = 7  # the position of S3: its children are whole problems


class _Prefixes(NamedTuple):
    """Prefixes of one length: the first row (n,) of the ``size`` consecutive problems each begins, its log-likelihood
    so far (n,), its state in the steps, and log p(next token) (n, vocab)."""

    first: torch.Tensor
    size: int
    bound: torch.Tensor
    past: Any
    next: torch.Tensor


def _options(position: int) -> torch.Tensor:
    """The tokens a problem can hold at ``position`` (1 … 7): '+', or a digit, not 0 where an operand starts."""
    if position == 4:
        return torch.tensor([_PLUS])
    return torch.arange(1 if position in (1, 5) else 0, 10)


@torch.no_grad()
def scores_above(
    steps: Steps, threshold: float, *, among: torch.Tensor | None = None, chunk: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every problem whose log-likelihood under ``steps`` is ≥ ``threshold`` (and, with ``among`` (810000,) booleans,
    that is among them): its row in :func:`~helpers.inversion.analysis.all_addition_tokens` (m,), in row order, and its
    log-likelihood (m,). Found by extending operand prefixes digit by digit and dropping a prefix as soon as its
    log-likelihood is below the threshold (or no problem of ``among`` begins with it), ``chunk`` prefixes a step.
    Problems within :data:`SLACK` below the threshold may be returned too. ``threshold=-math.inf`` scores every
    problem of ``among``."""
    require_positive_int(chunk, "chunk")
    everything = all_addition_tokens()
    counts = None
    if among is not None:
        if among.shape != (everything.shape[0],) or among.dtype != torch.bool:
            raise ValueError(f"among must be ({everything.shape[0]},) booleans, got {among.dtype} {tuple(among.shape)}")
        counts = torch.cat([torch.zeros(1, dtype=torch.long), among.long().cumsum(dim=0)])  # problems before each row
    past, log_p = steps.extend(None, None, everything[:1, :1])  # the start token
    root = _Prefixes(torch.zeros(1, dtype=torch.long), everything.shape[0], torch.zeros(1), past, log_p[:, -1])
    found = list(_descend(steps, root, 1, threshold - SLACK, counts, chunk))
    if not found:
        return torch.empty(0, dtype=torch.long), torch.empty(0)
    rows, scores = zip(*found)
    return torch.cat(rows), torch.cat(scores)


def _descend(
    steps: Steps, prefixes: _Prefixes, position: int, line: float, counts: torch.Tensor | None, chunk: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Extend ``prefixes`` by the token at ``position`` and keep the children at or above ``line`` (depth first, so
    that memory holds a few chunks' keys and values); at S3, score the rest of every whole problem left."""
    options = _options(position)
    n, o = prefixes.first.shape[0], options.shape[0]
    size = prefixes.size // o
    bound = (prefixes.bound[:, None] + prefixes.next[:, options]).reshape(-1)  # (n · o,)
    first = (prefixes.first[:, None] + torch.arange(o) * size).reshape(-1)
    keep = bound >= line
    if counts is not None:
        keep &= counts[first + size] > counts[first]
    parent = torch.arange(n).repeat_interleave(o)[keep]
    token, bound, first = options.repeat(n)[keep], bound[keep], first[keep]
    for part in torch.arange(parent.shape[0]).split(chunk) if parent.shape[0] else ():
        if position == _LAST_OPERAND:  # whole problems: S3 = A … E in one step
            tokens = all_addition_tokens()[first[part]]
            _, log_p = steps.extend(prefixes.past, parent[part], tokens[:, _LAST_OPERAND:-1])  # (m, 6, vocab)
            targets = tokens[:, _LAST_OPERAND + 1 :]
            picked = log_p.gather(-1, targets[..., None])[..., 0] * (targets != ADDITION.pad)
            scores = bound[part] + picked.sum(dim=1)
            keep_whole = scores >= line
            yield first[part][keep_whole], scores[keep_whole]
        else:
            past, log_p = steps.extend(prefixes.past, parent[part], token[part][:, None])
            yield from _descend(
                steps, _Prefixes(first[part], size, bound[part], past, log_p[:, -1]), position + 1, line, counts, chunk
            )


class Ranking(NamedTuple):
    """Where the true ε-ball lies when all 810,000 problems are ranked by the decoder's log-likelihood."""

    ball_size: int
    total: int
    auc: float  # P(member outscores non-member) over all members × all non-members, ties counting ½
    precision_at_ball: float  # share of members among the top-|ball| problems (a tie at the |ball|-th place is broken
    #                           by row order, a-major)
    worst_rank: int  # 1 + how many problems score strictly above the ball's worst-scored member
    rows: torch.Tensor  # (m,) every problem scoring at or above the worst member, best first
    scores: torch.Tensor  # (m,) their log-likelihoods
    members: torch.Tensor  # (m,) whether each is in the ball


@torch.no_grad()
def exact_ranking(steps: Steps, distance: torch.Tensor, *, epsilon: float = 0.1, chunk: int = 1024) -> Ranking:
    """Rank every problem by its log-likelihood under ``steps`` (the decoder given one activation,
    :class:`~helpers.inversion.decoder_steps.DecoderSteps`) and place the ε-ball of ``distance`` (810000,) in that
    ranking, exactly: the worst member's score is the search's threshold (:func:`scores_above`), and every problem
    below it is out-ranked by every member, which decides its pairs in the AUC."""
    everything = all_addition_tokens()
    if distance.shape != (everything.shape[0],):
        raise ValueError(
            f"distance must hold one value per problem ({everything.shape[0]},), got {tuple(distance.shape)}"
        )
    inside = distance <= epsilon
    k = int(inside.sum())
    if k == 0 or k == everything.shape[0]:
        raise ValueError("the ball must hold at least one problem and leave at least one out")
    _, member_scores = scores_above(steps, -math.inf, among=inside, chunk=chunk)
    rows, scores = scores_above(steps, float(member_scores.min()), chunk=chunk)
    order = scores.argsort(descending=True, stable=True)
    rows, scores = rows[order], scores[order]
    is_member = inside[rows]
    if int(is_member.sum()) != k:
        raise RuntimeError("the prefix search lost a member of the ball: the score bound does not hold")
    worst = scores[is_member].min()  # the line, drawn with the search's own scores
    rows, scores, is_member = rows[scores >= worst], scores[scores >= worst], is_member[scores >= worst]
    above_worst = scores > worst
    n_out = everything.shape[0] - k
    near = scores[~is_member]  # the non-members that score at or above the worst member; the rest score below all
    # AUC: every member beats every non-member that the search dropped; the rest of the pairs by rank statistics
    near_part = roc_auc(scores[is_member], near) * near.numel() if near.numel() else 0.0
    auc = (near_part + (n_out - near.numel())) / n_out
    return Ranking(
        k,
        everything.shape[0],
        float(auc),
        float(is_member[:k].float().mean()),
        int(above_worst.sum()) + 1,
        rows,
        scores,
        is_member,
    )
