"""Reading preimages in numbers (addition): the true ε-ball of a query over all 810,000 problems, which properties of
the query it keeps (or the decoder's in-ball samples keep), and the uniform prior over the problems."""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from .tasks import ADDITION, addition_tokens

__all__ = [
    "PROPERTY_NAMES",
    "addition_properties",
    "all_addition_tokens",
    "ball_keeping",
    "chance_keeping",
    "decoder_scores",
    "exact_distances",
    "prior_next_token_probs",
    "problem_index",
    "problem_index_of_operands",
    "require_positive_int",
    "roc_auc",
    "share_keeping",
]

#: The properties read off addition preimages at ``=``: the hundreds digit of each operand, the unordered pair of
#: them, the tens carry and the first answer digit.
PROPERTY_NAMES = ("F1", "S1", "F1S1", "C2", "A1")


def addition_properties(tokens: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per sequence (n, 14): ``well_formed`` (``B ddd + ddd = …``), the operands' hundreds digits ``F1`` and ``S1`` and
    the unordered pair of them ``F1S1`` (a code), the tens carry ``C2`` (F2 + S2 + the ones carry ≥ 10) and the first
    answer digit ``A1``.
    Values of malformed sequences are meaningless; mask them with ``well_formed``."""
    if tokens.ndim != 2 or tokens.shape[1] != ADDITION.length:
        raise ValueError(f"tokens must be (n, {ADDITION.length}), got {tuple(tokens.shape)}")
    digit = lambda i: tokens[:, i].clamp(max=9)  # noqa: E731
    well_formed = problem_index_of_operands(tokens) >= 0
    f1, f2, f3, s1, s2, s3 = (digit(i) for i in (1, 2, 3, 5, 6, 7))
    ones_carry = (f3 + s3 >= 10).long()
    tens_carry = (f2 + s2 + ones_carry >= 10).long()
    total = (100 * f1 + 10 * f2 + f3) + (100 * s1 + 10 * s2 + s3)
    a1 = torch.where(total >= 1000, total // 1000, total // 100)
    return {
        "well_formed": well_formed,
        "F1": f1,
        "S1": s1,
        "F1S1": torch.minimum(f1, s1) * 10 + torch.maximum(f1, s1),
        "C2": tens_carry,
        "A1": a1,
    }


def share_keeping(query: torch.Tensor, samples: torch.Tensor) -> dict[str, float]:
    """For the well-formed ``samples`` (n, 14), the share that keep each property of ``query`` (14,)."""
    return _share_keeping(query, addition_properties(samples))


def _share_keeping(query: torch.Tensor, s: dict[str, torch.Tensor]) -> dict[str, float]:
    """:func:`share_keeping` given the samples' properties ``s``."""
    q = addition_properties(query[None])
    keep = s["well_formed"]
    if not keep.any():
        raise ValueError("no well-formed sample to read")
    return {name: float((s[name][keep] == q[name][0]).float().mean()) for name in PROPERTY_NAMES}


@lru_cache(maxsize=1)
def all_addition_tokens() -> torch.Tensor:
    """All 810,000 addition problems as tokens (810000, 14), ``a`` major (built once, then cached)."""
    a, b = torch.meshgrid(torch.arange(100, 1000), torch.arange(100, 1000), indexing="ij")
    return addition_tokens(a.reshape(-1), b.reshape(-1))


@lru_cache(maxsize=1)
def _all_properties() -> dict[str, torch.Tensor]:
    """:func:`addition_properties` of all 810,000 problems (built once, then cached: 20 MB)."""
    return addition_properties(all_addition_tokens())


def chance_keeping(query: torch.Tensor) -> dict[str, float]:
    """The share of all 810,000 problems that keep each property of ``query`` (14,): what a preimage that carried
    no information about it would keep."""
    return _share_keeping(query, _all_properties())


def ball_keeping(query: torch.Tensor, distance: torch.Tensor, epsilon: float = 0.1) -> tuple[int, dict[str, float]]:
    """The exact ε-ball of ``query`` (14,) given every problem's ``distance`` (810000,) from :func:`exact_distances`:
    its size and the share of its members that keep each property of the query (NaN for an empty ball)."""
    if distance.shape != (all_addition_tokens().shape[0],):
        raise ValueError(f"distance must hold one value per problem (810000,), got {tuple(distance.shape)}")
    inside = distance <= epsilon
    if not inside.any():
        return 0, {name: float("nan") for name in PROPERTY_NAMES}
    members = {name: values[inside] for name, values in _all_properties().items()}
    return int(inside.sum()), _share_keeping(query, members)


def prior_next_token_probs(tokens: torch.Tensor) -> torch.Tensor:
    """``p(x_t | x_<t)`` for t = 1 … 13 (n, 13) under the uniform distribution over the 810,000 problems: what a
    decoder that saw no activation would learn in the limit, the no-information reference for token shading.

    1/9 for a hundreds digit 1–9, 1/10 for another operand digit, 1 for ``+``, ``=`` and every token of the answer
    that the operands determine, 0 for a token that no problem continues its prefix with, and 0 after such a token
    (the prefix is then no problem's)."""
    if tokens.ndim != 2 or tokens.shape[1] != ADDITION.length:
        raise ValueError(f"tokens must be (n, {ADDITION.length}), got {tuple(tokens.shape)}")
    n = tokens.shape[0]
    digit = tokens <= 9
    probs = torch.zeros(n, ADDITION.length - 1)
    for t in range(1, 9):
        if t in (4, 8):
            probs[:, t - 1] = (tokens[:, t] == (11 if t == 4 else 12)).float()
        elif t in (1, 5):
            probs[:, t - 1] = (digit[:, t] & (tokens[:, t] > 0)).float() / 9
        else:
            probs[:, t - 1] = digit[:, t].float() / 10
    index = problem_index_of_operands(tokens)
    expected = all_addition_tokens()[index.clamp(min=0)]  # (n, 14): the answer the operands determine
    probs[:, 8:] = ((tokens[:, 9:] == expected[:, 9:]) & (index >= 0)[:, None]).float()
    return probs.cumprod(dim=1).gt(0).float() * probs  # 0 after the first impossible token


def problem_index_of_operands(tokens: torch.Tensor) -> torch.Tensor:
    """The row in :func:`all_addition_tokens` of the problem whose prompt ``B ddd + ddd =`` each sequence (n, 14)
    starts with (whatever follows), or −1 where the first nine tokens are no problem's prompt."""
    digits = tokens[:, [1, 2, 3, 5, 6, 7]]
    ok = (
        (tokens[:, 0] == 10)
        & (tokens[:, 4] == 11)
        & (tokens[:, 8] == 12)
        & (digits <= 9).all(dim=1)
        & (digits[:, 0] > 0)
        & (digits[:, 3] > 0)
    )
    digits = digits.clamp(max=9)
    a = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
    b = digits[:, 3] * 100 + digits[:, 4] * 10 + digits[:, 5]
    return torch.where(ok, (a - 100) * 900 + (b - 100), torch.full_like(a, -1))


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


@torch.no_grad()
def decoder_scores(
    decoder, tokens: torch.Tensor, z_query: torch.Tensor, site_id: int, pad: int, *, chunk: int = 1024
) -> torch.Tensor:
    """The decoder's teacher-forced log-likelihood (n,) of every sequence of ``tokens`` (n, T) given one activation
    ``z_query`` (d,) at site ``site_id``, padding ``pad`` left out (:meth:`Decoder.log_likelihood`), scored ``chunk``
    sequences at a time: the memory of one chunk, and the scores of one call on all of them (up to a BLAS that rounds
    a product by its number of rows)."""
    require_positive_int(chunk, "chunk")
    return torch.cat(
        [
            decoder.log_likelihood(part, z_query.expand(part.shape[0], -1), torch.full((part.shape[0],), site_id), pad)
            for part in tokens.split(chunk)
        ]
    )


@torch.no_grad()
def exact_distances(
    model, query: torch.Tensor, position: int, sites: list[str], *, chunk: int = 800
) -> dict[str, torch.Tensor]:
    """The distance ``D`` (minimum over valid positions) of every one of the 810,000 problems to the query's
    activation at ``position``, per site, in one pass over all problems for all the sites and queries.

    Args:
        query: one query (14,), giving distances (810000,) per site, or k queries (k, 14), giving (k, 810000).
        chunk: problems per step (rounded down to whole hundreds, at least a hundred): the memory of one step.

    A causal model computes the same activations at a shared prefix for every problem that begins with it, so each
    prefix is run once: the model runs on the 8,100 six-token prefixes ``B F1 F2 F3 + S1`` (its own forward pass),
    then on S2 for each of them, then on positions 7–12 of every problem, each part attending to its prefix's keys
    and values (:func:`_run_on_after`, the same operations). Position 13 holds ``E`` or padding, never a valid
    position. The distances at a prefix's positions are computed once for all the problems that share it.
    ``‖z − q‖`` is computed from the differences, as :func:`~helpers.inversion.distance.min_distance` does
    (``torch.cdist`` without its matrix-product shortcut, which would lose small distances to cancellation). Each
    query's distances are those of a pass for that query alone, in any chunk (up to a BLAS that rounds a product by its
    number of rows)."""
    from .distance import min_distance
    from .sampler import valid_positions

    require_positive_int(chunk, "chunk")
    if query.ndim not in (1, 2) or query.shape[-1] != ADDITION.length:
        raise ValueError(f"query must be (14,) or (k, 14) tokens, got {tuple(query.shape)}")
    queries = query.reshape(-1, ADDITION.length)  # (k, 14)
    everything = all_addition_tokens()  # (810000, 14): S3 varies fastest, then S2
    if everything.shape[0] % 100 or not (
        torch.equal(everything[:, :6].reshape(-1, 100, 6), everything[::100, None, :6].expand(-1, 100, -1))
        and torch.equal(everything[:, :7].reshape(-1, 10, 7), everything[::10, None, :7].expand(-1, 10, -1))
    ):
        raise ValueError(
            "the problems must come in hundreds that share their first six tokens, in tens that share their first seven"
        )
    valid = valid_positions(everything, ADDITION)
    if valid[:, 13:].any():
        raise ValueError("position 13 must hold E or padding")
    _, cache_q = model(queries, cache=sites)
    z_q = torch.stack([cache_q[site][:, position] for site in sites])  # (sites, k, d)
    for z in z_q.reshape(-1, z_q.shape[-1]):
        min_distance(z, z_q[:1, :1])  # its checks (a finite, non-zero query), once; the loop skips them
    norms = z_q.norm(dim=-1)  # (sites, k)

    def gaps(part: dict[str, torch.Tensor]) -> torch.Tensor:
        """The sites' normalised distances (sites, ..., T, k) from their activations (..., T, d)."""
        z = torch.stack([part[site] for site in sites])
        flat = z.reshape(z.shape[0], -1, z.shape[-1])  # (sites, m, d)
        near = torch.cdist(flat, z_q, compute_mode="donot_use_mm_for_euclid_dist")  # ‖z − q‖ from the differences
        return near.div_(norms[:, None]).reshape(*z.shape[:-1], -1)

    wanted = sorted(set(sites) | set(_layer_inputs(model)))
    n_sites, k = len(sites), queries.shape[0]
    out = torch.empty(n_sites, k, everything.shape[0], dtype=z_q.dtype)
    per_step = max(1, chunk // 100)
    for start in range(0, everything.shape[0] // 100, per_step):
        rows = slice(100 * start, 100 * (start + per_step))
        block = everything[rows].reshape(-1, 10, 10, ADDITION.length)  # (g, S2, S3, 14)
        g = block.shape[0]
        _, first = model(block[:, 0, 0, :6], cache=wanted, stop_early=True)  # positions 0–5 (g, 6, d)
        second = _run_on_after(model, block[:, :, 0, 6:7], _inputs(model, first))  # S2 (g, 10, 1, d)
        seven = [
            torch.cat([a[:, None].expand(-1, 10, -1, -1), b], dim=2).reshape(g * 10, 7, -1)
            for a, b in zip(_inputs(model, first), _inputs(model, second))
        ]  # layer inputs at positions 0–6
        third = _run_on_after(model, block[..., 7:13].reshape(g * 10, 10, 6), seven)  # (g · 10, 10, 6, d)
        near = torch.minimum(gaps(first).amin(dim=2)[:, :, None], gaps(second)[:, :, :, 0])  # (sites, g, 10, k)
        far = gaps(third).masked_fill(~valid[rows, 7:13].reshape(g * 10, 10, 6, 1), math.inf).amin(dim=3)
        nearest = torch.minimum(near.reshape(n_sites, g * 10, 1, k), far)  # (sites, g · 10, 10, k)
        out[:, :, rows] = nearest.reshape(n_sites, -1, k).transpose(1, 2)
    result = {site: out[i] for i, site in enumerate(sites)}
    return result if query.ndim == 2 else {site: d[0] for site, d in result.items()}


def _inputs(model, part: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """What each layer reads, from a pass's sites."""
    return [part[name] for name in _layer_inputs(model)]


def _layer_inputs(model) -> list[str]:
    """The site each layer reads: ``resid_pre0``, then the previous layer's ``resid_post``."""
    return ["resid_pre0"] + [f"resid_post{layer}" for layer in range(model.n_layers - 1)]


def _run_on_after(model, tokens: torch.Tensor, inputs: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's sites (p, b, s, d) at the positions P … P + s − 1 of ``tokens`` (p, b, s): b continuations of each
    of p prefixes whose layer inputs (residual streams, (p, P, d) per layer) are ``inputs``. The operations of
    :class:`~helpers.inversion.transformer.ProbedTransformer`'s forward pass, with the prefix's keys and values
    computed from its residual stream and shared by its b continuations; the softmax written out (faster on rows this
    short)."""
    p, b, s = tokens.shape
    P = inputs[0].shape[1]
    x = model.embed(tokens) + model.pos[P : P + s]  # (p, b, s, d)
    sites = {"resid_pre0": x}
    future = torch.ones(s, P + s, dtype=torch.bool).triu(diagonal=P + 1)  # a position sees the prefix and itself
    for layer in range(model.n_layers):
        k_old, v_old = torch.einsum("ptd,chde->cphte", model.ln1[layer](inputs[layer]), model.W_QKV[layer][1:])
        q, k, v = torch.einsum("pbtd,chde->cpbhte", model.ln1[layer](x), model.W_QKV[layer])  # each (p, b, H, s, e)
        scores = torch.cat(
            [torch.einsum("pbhqe,phke->pbhqk", q, k_old), torch.einsum("pbhqe,pbhke->pbhqk", q, k)], dim=-1
        ) / math.sqrt(model.d_head)  # (p, b, H, s, P + s)
        scores = scores.masked_fill(future, -math.inf)
        weights = (scores - scores.amax(dim=-1, keepdim=True)).exp()
        weights = weights / weights.sum(dim=-1, keepdim=True)
        z = torch.einsum("pbhqk,phke->pbhqe", weights[..., :P], v_old) + torch.einsum(
            "pbhqk,pbhke->pbhqe", weights[..., P:], v
        )
        results = torch.einsum("pbhqe,hed->pbhqd", z, model.W_O[layer])  # each head's write (p, b, H, s, d)
        total = model.b_O[layer]
        for head in range(model.n_heads):
            sites[f"attn{layer}.{head}"] = results[:, :, head]
            total = total + results[:, :, head]
        x = sites[f"resid_mid{layer}"] = x + total
        sites[f"mlp{layer}"] = model.mlp[layer](model.ln2[layer](x))
        x = sites[f"resid_post{layer}"] = x + sites[f"mlp{layer}"]
    return sites


def require_positive_int(value: object, name: str) -> None:
    """Refuse anything but a positive int (a bool is not one), naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def problem_index(tokens: torch.Tensor) -> torch.Tensor:
    """The row of each sequence (n, 14) in :func:`all_addition_tokens`, or −1 for a sequence that is not exactly one
    of the 810,000 problems (malformed, or a wrong answer)."""
    index = problem_index_of_operands(tokens)
    exact = (index >= 0) & (all_addition_tokens()[index.clamp(min=0)] == tokens).all(dim=1)
    return torch.where(exact, index, torch.full_like(index, -1))
