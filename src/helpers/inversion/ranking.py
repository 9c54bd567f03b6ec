"""Rank all 810,000 addition problems by the decoder's log-likelihood, exactly, without scoring them all.

Completeness asks where the decoder puts the true ε-ball among *every* problem: the precision of its top-|ball|
problems, the rank of the ball's worst-scored member, and the ROC AUC of members against all non-members. Scoring
all 810,000 problems takes minutes on a CPU. A branch-and-bound search over the problems' shared prefixes gives the
same numbers in seconds: a problem's log-likelihood is a sum of per-token log-probabilities, each ≤ 0, so the
log-likelihood of its operand prefix (``B F1 F2 F3 + S1 S2 S3``) bounds its full log-likelihood from above. Every
problem whose prefix already scores below the worst member's full score is out-ranked by every member, and the
search never extends it. Only the problems that could score at or above the worst member are scored in full.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .analysis import activation_copies, all_addition_tokens, decoder_scores, roc_auc
from .tasks import ADDITION

__all__ = ["Ranking", "exact_ranking", "scores_above", "sequence_scores"]

#: The prefix search keeps a prefix that falls short of the threshold by less than this (in nats), so that a problem
#: whose full score sits at the threshold survives the rounding of a shorter forward pass.
SLACK = 1e-3

_PLUS = 11  # the token '+'
_OPERAND_DIGITS = (1, 2, 3, 5, 6, 7)  # positions of F1 F2 F3 and S1 S2 S3


def sequence_scores(decoder, tokens: torch.Tensor, z: torch.Tensor, site_id: int, *, temperature: float = 1.0,
                    chunk: int = 1024) -> torch.Tensor:
    """Teacher-forced ``log p(x | z, site)`` (n,) of complete problems (n, 14) under the decoder's next-token
    distribution at ``temperature`` (logits divided by it), one activation ``z`` (d,) for all, ``chunk`` at a time.
    With ``z`` of shape (c, d), c copies of an activation (with noise, say), the score is the mean over the copies:
    :func:`~helpers.inversion.analysis.decoder_scores` with the addition task's padding."""
    return decoder_scores(decoder, tokens, z, site_id, ADDITION.pad, temperature=temperature, chunk=chunk)


def _check(z: torch.Tensor, temperature: float, chunk: int) -> None:
    """Refuse a bad temperature, chunk or z before the search starts."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive int, got {chunk!r}")
    activation_copies(z)


@torch.no_grad()
def scores_above(decoder, z: torch.Tensor, site_id: int, threshold: float, *, temperature: float = 1.0,
                 chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Every problem whose log-likelihood given ``z`` is ≥ ``threshold``: its row in
    :func:`~helpers.inversion.analysis.all_addition_tokens` (m,) and its log-likelihood (m,), found by extending
    operand prefixes digit by digit and dropping a prefix as soon as its log-likelihood is below the threshold.
    Problems within :data:`SLACK` below the threshold may be returned too."""
    _check(z, temperature, chunk)
    everything = all_addition_tokens()
    prefixes = everything[:1, :1]  # (1, 1): the start token
    bound = torch.zeros(1)
    for position in range(1, 8):
        if position == 4:
            options = torch.tensor([_PLUS])
        else:
            options = torch.arange(1 if position in (1, 5) else 0, 10)  # no leading zero
        log_p = _next_log_probs(decoder, prefixes, z, site_id, temperature, chunk)[:, options]  # (n, options)
        bound = (bound[:, None] + log_p).reshape(-1)
        prefixes = torch.cat([prefixes.repeat_interleave(len(options), dim=0),
                              options.repeat(prefixes.shape[0])[:, None]], dim=1)
        keep = bound >= threshold - SLACK
        prefixes, bound = prefixes[keep], bound[keep]
    digits = prefixes[:, list(_OPERAND_DIGITS)]
    a = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
    b = digits[:, 3] * 100 + digits[:, 4] * 10 + digits[:, 5]
    rows = (a - 100) * 900 + (b - 100)
    scores = sequence_scores(decoder, everything[rows], z, site_id, temperature=temperature, chunk=chunk)
    keep = scores >= threshold - SLACK  # the caller draws the exact line (its own scores may round differently)
    return rows[keep], scores[keep]


def _next_log_probs(decoder, prefixes: torch.Tensor, z: torch.Tensor, site_id: int, temperature: float,
                    chunk: int) -> torch.Tensor:
    """log p(next token | prefix, z) (n, vocab) of every prefix (n, t)."""
    out = []
    for part in prefixes.split(chunk):
        n = part.shape[0]
        copies = activation_copies(z)
        total = 0
        for copy in copies:
            logits = decoder(part, copy.expand(n, -1), torch.full((n,), site_id))[:, -1] / temperature
            total = total + logits.log_softmax(dim=-1)
        out.append(total / copies.shape[0])
    return torch.cat(out)


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
def exact_ranking(decoder, z: torch.Tensor, site_id: int, distance: torch.Tensor, *, epsilon: float = 0.1,
                  temperature: float = 1.0, chunk: int = 1024) -> Ranking:
    """Rank every problem by the decoder's log-likelihood given ``z`` (d,) and place the ε-ball of ``distance``
    (810000,) in that ranking, exactly: the worst member's score is the search's threshold (:func:`scores_above`),
    and every problem below it is out-ranked by every member, which decides its pairs in the AUC."""
    everything = all_addition_tokens()
    if distance.shape != (everything.shape[0],):
        raise ValueError(f"distance must hold one value per problem ({everything.shape[0]},), got {tuple(distance.shape)}")
    inside = distance <= epsilon
    members = inside.nonzero()[:, 0]
    if members.numel() == 0 or members.numel() == everything.shape[0]:
        raise ValueError("the ball must hold at least one problem and leave at least one out")
    member_scores = sequence_scores(decoder, everything[members], z, site_id, temperature=temperature, chunk=chunk)
    threshold = float(member_scores.min())
    rows, scores = scores_above(decoder, z, site_id, threshold, temperature=temperature, chunk=chunk)
    order = scores.argsort(descending=True, stable=True)
    rows, scores = rows[order], scores[order]
    is_member = inside[rows]
    if int(is_member.sum()) != members.numel():
        raise RuntimeError("the prefix search lost a member of the ball: the score bound does not hold")
    worst = scores[is_member].min()  # the line, drawn with the search's own scores
    rows, scores, is_member = rows[scores >= worst], scores[scores >= worst], is_member[scores >= worst]
    k = members.numel()
    above_worst = scores > worst
    n_out = everything.shape[0] - k
    near = scores[~is_member]  # the non-members that score at or above the worst member; the rest score below all
    # AUC: every member beats every non-member that the search dropped; the rest of the pairs by rank statistics
    near_part = roc_auc(scores[is_member], near) * near.numel() if near.numel() else 0.0
    auc = (near_part + (n_out - near.numel())) / n_out
    return Ranking(k, everything.shape[0], float(auc), float(is_member[:k].float().mean()),
                   int(above_worst.sum()) + 1, rows, scores, is_member)
