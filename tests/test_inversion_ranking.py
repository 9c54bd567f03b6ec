"""Chapter 4's exact ranking (helpers.inversion.ranking): the branch-and-bound search over operand prefixes must give
what scoring all 810,000 problems gives.

Most tests use a stand-in decoder whose logits at position t depend only on t, the token there, z and the site (a
Markov chain; in one variant it also knows the sum): every problem's log-likelihood is then a sum of tabulated
log-probabilities, which this file computes by itself, and scoring all 810,000 problems through the module takes a
second or two, so the search can be checked against brute force over everything. One test runs a small real
:class:`~helpers.inversion.decoder.Decoder`."""

from __future__ import annotations

import math
from functools import lru_cache

import pytest
import torch

from helpers.inversion import ranking
from helpers.inversion.analysis import all_addition_tokens, roc_auc
from helpers.inversion.tasks import ADDITION, addition_tokens

N = 810_000
STEPS = ADDITION.length - 1  # 13 next-token predictions per problem
V = ADDITION.size
D_ACT = 4
PLUS, EQUALS = 11, 12


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _number(digits: torch.Tensor) -> torch.Tensor:
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


def _row_of(tokens: torch.Tensor) -> torch.Tensor:
    """The row in all_addition_tokens() (a major) of problems, complete or not, given through S3 (n, ≥ 8)."""
    return (_number(tokens[:, 1:4]) - 100) * 900 + (_number(tokens[:, 5:8]) - 100)


class _Markov:
    """A stand-in decoder: ``logits[t] = table[t, token_t] + Σ_i z_i w[site, i, t]``.

    Each row's logits are computed from that row alone (the z term from the first row, which must equal every other:
    the module passes one activation expanded), so a problem's score is the same bit for bit in any batch and the
    module's own full scoring is an exact reference for its search. Digits 0 and 1 are twins (same row, same column of
    every table), so problems whose tokens differ only by 0 ↔ 1 tie exactly (B100+100=200E and B101+100=201E).
    The answer positions are unsure (their log-probabilities are about −2.7 each), the '+' and '=' fairly sure.
    With ``sure`` it knows the sum, as a trained decoder does: from '=' on, the right next token's logit is raised by
    ``SURE`` (computed from the operands in its input), so the operands' bound is nearly tight. Every full-length
    input (n, 13) it is asked to score is recorded in ``scored``."""

    SURE = 8.0

    def __init__(self, seed: int, sure: bool = False) -> None:
        g = gen(seed)
        table = 3.0 * torch.randn(STEPS, V, V, generator=g)
        table[8:] *= 0.2  # the answer's tokens: near-uniform
        table[3, :, PLUS] += 2.0  # after F3: '+' likely, not certain (log p about −0.1 … −3)
        table[7, :, EQUALS] += 2.0
        table[:, :, 1] = table[:, :, 0]
        table[:, 1, :] = table[:, 0, :]
        w = 0.5 * torch.randn(2, D_ACT, STEPS, V, generator=g)
        w[..., 1] = w[..., 0]
        self.table, self.w, self.sure = table, w, sure
        self.scored: list[torch.Tensor] = []

    def _bias(self, z: torch.Tensor, site: int) -> torch.Tensor:
        return torch.einsum("d,dtv->tv", z, self.w[site])  # (13, V)

    def __call__(self, tokens: torch.Tensor, z: torch.Tensor, site: torch.Tensor) -> torch.Tensor:
        n, t = tokens.shape
        assert 1 <= t <= STEPS and z.shape == (n, D_ACT) and site.shape == (n,), (tokens.shape, z.shape, site.shape)
        assert tokens.dtype == torch.long and bool((tokens[:, 0] == 10).all())  # every input starts with B
        if t == STEPS:
            self.scored.append(tokens.clone())
        if n == 0:
            return torch.zeros(0, t, V)
        assert bool((z == z[:1]).all()) and bool((site == site[:1]).all())
        logits = self.table[torch.arange(t), tokens] + self._bias(z[0], int(site[0]))[:t]
        if self.sure and t >= 8:
            right = all_addition_tokens()[_row_of(tokens)][:, 8:t + 1]
            logits[torch.arange(n)[:, None], torch.arange(7, t), right] += self.SURE
        return logits

    def log_probs(self, z: torch.Tensor, site: int, temperature: float) -> torch.Tensor:
        """log p(next | position, token) (13, V, V) in float64, the mean over the copies of z (d,) or (c, d)."""
        per_copy = []
        for copy in z.reshape(-1, D_ACT):
            logits = self.table.double() + torch.einsum("d,dtv->tv", copy.double(), self.w[site].double())[:, None]
            lp = (logits / temperature).log_softmax(dim=-1)
            if self.sure:  # the next token j was the right one: its logit raised by SURE, every row and j alike
                raised = logits[7:, :, None, :] + self.SURE * torch.eye(V, dtype=torch.float64)  # (6, V, j, V)
                lp[7:] = (raised / temperature).log_softmax(dim=-1).diagonal(dim1=-2, dim2=-1)
            per_copy.append(lp)
        return torch.stack(per_copy).mean(dim=0)


def _closed_form(decoder: _Markov, z: torch.Tensor, site: int, temperature: float, upto: int = STEPS) -> torch.Tensor:
    """Every problem's log-likelihood (810000,) in float64 from the tables, or of its first ``upto`` predictions."""
    every = all_addition_tokens()
    lp = decoder.log_probs(z, site, temperature)
    t = torch.arange(upto)
    picked = lp[t, every[:, :upto], every[:, 1:upto + 1]]
    return (picked * (every[:, 1:upto + 1] != ADDITION.pad)).sum(dim=1)


CONFIGS = {  # name: (decoder seed, sure of the sum, z shape, z seed, site, temperature)
    "one z": (0, False, (D_ACT,), 1, 1, 1.0),
    "sure, two copies at T=1.7": (0, True, (2, D_ACT), 2, 0, 1.7),
}


@lru_cache(maxsize=None)
def _setup(name: str) -> tuple[_Markov, torch.Tensor, int, float, torch.Tensor]:
    """The stand-in, z, site, temperature and the module's score of all 810,000 problems (scored once per file)."""
    seed, sure, shape, z_seed, site, temperature = CONFIGS[name]
    decoder = _Markov(seed, sure)
    z = torch.randn(*shape, generator=gen(z_seed))
    everything = ranking.sequence_scores(decoder, all_addition_tokens(), z, site, temperature=temperature,
                                         chunk=100_000)
    decoder.scored.clear()
    return decoder, z, site, temperature, everything


def _brute_auc(scores: torch.Tensor, inside: torch.Tensor) -> float:
    """P(member outscores non-member), ties ½, over all members × all non-members, by counting with a sorted list."""
    members, others = scores[inside].double(), scores[~inside].double().sort().values
    below = torch.searchsorted(others, members, right=False).double()
    at_most = torch.searchsorted(others, members, right=True).double()
    return float((below + 0.5 * (at_most - below)).sum() / (members.numel() * others.numel()))


# ---------------------------------------------------------------- the reference itself

def test_rows_and_brute_auc_helpers() -> None:
    assert torch.equal(_row_of(all_addition_tokens()), torch.arange(N))
    g = gen(3)
    scores = torch.randint(0, 20, (300,), generator=g).float()  # many ties
    inside = torch.rand(300, generator=g) < 0.3
    assert math.isclose(_brute_auc(scores, inside), roc_auc(scores[inside], scores[~inside]), rel_tol=1e-12)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_sequence_scores_are_the_tabulated_sums(name: str) -> None:
    """The module's scores of all 810,000 problems are the closed form's (temperature dividing the logits, copies
    averaged), in any chunk; the twins make exact ties."""
    decoder, z, site, temperature, everything = _setup(name)
    expected = _closed_form(decoder, z, site, temperature)
    assert everything.shape == (N,) and everything.dtype == torch.float32
    assert torch.allclose(everything.double(), expected, rtol=0, atol=1e-4)
    assert float((everything.double() - expected).abs().max()) < 1e-4
    some = torch.randperm(N, generator=gen(4))[:500]
    tokens = all_addition_tokens()[some]
    assert torch.equal(ranking.sequence_scores(decoder, tokens, z, site, temperature=temperature, chunk=1),
                       everything[some])
    assert torch.equal(ranking.sequence_scores(decoder, tokens, z, site, temperature=temperature, chunk=77),
                       everything[some])
    twins = addition_tokens(torch.tensor([100, 101, 110, 111]), torch.tensor([100, 100, 100, 100]))
    twin_scores = ranking.sequence_scores(decoder, twins, z, site, temperature=temperature)
    assert bool((twin_scores == twin_scores[0]).all())
    assert ranking.sequence_scores(decoder, tokens[:0], z, site).shape == (0,)


def test_copies_are_averaged_and_temperature_divides_the_logits() -> None:
    decoder, z, site, _, _ = _setup("one z")
    tokens = all_addition_tokens()[torch.randperm(N, generator=gen(5))[:400]]
    rows = _row_of(tokens)
    single = ranking.sequence_scores(decoder, tokens, z, site)
    assert torch.allclose(ranking.sequence_scores(decoder, tokens, z[None], site), single, rtol=0, atol=1e-5)
    assert torch.allclose(ranking.sequence_scores(decoder, tokens, z.expand(3, -1), site), single, rtol=0, atol=1e-4)
    other = torch.randn(D_ACT, generator=gen(6))
    pair = torch.stack([z, other])
    for temperature in (0.5, 2.5):
        mean = (ranking.sequence_scores(decoder, tokens, z, site, temperature=temperature)
                + ranking.sequence_scores(decoder, tokens, other, site, temperature=temperature)) / 2
        got = ranking.sequence_scores(decoder, tokens, pair, site, temperature=temperature)
        assert torch.allclose(got, mean, rtol=0, atol=1e-4)
        assert torch.allclose(got.double(), _closed_form(decoder, pair, site, temperature)[rows], rtol=0, atol=1e-4)
        assert not torch.allclose(got, single, rtol=0, atol=0.1)


# ---------------------------------------------------------------- the search

@pytest.mark.parametrize("name", list(CONFIGS))
def test_scores_above_finds_every_problem_at_or_above_the_threshold(name: str) -> None:
    """Against all 810,000 scores: every problem at or above the threshold (ties at it included), nothing more than
    SLACK below it, each once, with the full scores' values."""
    decoder, z, site, temperature, everything = _setup(name)
    values, counts = torch.unique(everything, return_counts=True)  # ascending
    tied = values[counts >= 2]
    n_above = N - torch.searchsorted(everything.sort().values, tied, right=True)
    at_a_tie = float(tied[(n_above >= 300) & (n_above <= 2000)].max())  # a threshold two or more problems sit at
    best = float(everything.max())
    for threshold in (best, at_a_tie, at_a_tie - 0.37):
        rows, scores = ranking.scores_above(decoder, z, site, threshold, temperature=temperature)
        assert rows.dtype == torch.long and rows.unique().numel() == rows.numel()
        assert torch.equal(scores, everything[rows])
        wanted = set((everything >= threshold).nonzero()[:, 0].tolist())
        assert wanted <= set(rows.tolist()), (name, threshold)
        assert bool((scores >= threshold - ranking.SLACK).all())
        assert len(wanted) <= rows.numel() < len(wanted) + 50  # a few within SLACK below, no more
    rows, scores = ranking.scores_above(decoder, z, site, 0.5, temperature=temperature)  # above every problem
    assert rows.shape == scores.shape == (0,)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_the_search_scores_in_full_only_the_problems_whose_operands_reach_the_threshold(name: str) -> None:
    """The bound is the log-likelihood of B F1 F2 F3 + S1 S2 S3, '+' included (copies averaged, at the temperature):
    exactly the problems whose operand prefix reaches the threshold (less SLACK) are scored in full, each once (for
    each copy), and few of all 810,000."""
    decoder, z, site, temperature, everything = _setup(name)
    threshold = float(everything.sort(descending=True).values[2000])
    prefix = _closed_form(decoder, z, site, temperature, upto=7)
    decoder.scored.clear()
    ranking.scores_above(decoder, z, site, threshold, temperature=temperature)
    scored = _row_of(torch.cat(decoder.scored))
    decoder.scored.clear()
    scored, times = scored.unique(return_counts=True)
    assert bool((times == z.reshape(-1, D_ACT).shape[0]).all())  # once per copy of z
    line = threshold - ranking.SLACK
    surely = set((prefix >= line + 1e-4).nonzero()[:, 0].tolist())
    maybe = set((prefix >= line - 1e-4).nonzero()[:, 0].tolist())
    assert surely <= set(scored.tolist()) <= maybe
    assert 2000 < scored.numel() < N // 4


@pytest.mark.parametrize("name", list(CONFIGS))
def test_exact_ranking_places_the_ball_as_scoring_everything_does(name: str) -> None:
    """A ball of 41 problems: 20 of the best 60, 20 further down, and its worst member tied exactly with two
    non-members (so that ties count ½ in the AUC and not at all in the worst rank), one member at distance exactly ε.
    AUC, precision, worst rank and the rows must be those of all 810,000 scores."""
    decoder, z, site, temperature, everything = _setup(name)
    order = everything.argsort(descending=True, stable=True)
    ascending = everything.sort().values
    values, counts = torch.unique(everything, return_counts=True)
    tied = values[counts >= 3]
    n_above = N - torch.searchsorted(ascending, tied, right=True)
    worst_score = tied[(n_above >= 1000) & (n_above <= 3000)].max()
    at_worst = (everything == worst_score).nonzero()[:, 0]
    g = gen(11)
    n_strictly_above = int((everything > worst_score).sum())
    top = order[torch.randperm(60, generator=g)[:20]]
    further = order[60 + torch.randperm(n_strictly_above - 60, generator=g)[:20]]
    members = torch.cat([top, further, at_worst[1:2]])
    inside = torch.zeros(N, dtype=torch.bool)
    inside[members] = True
    distance = 0.2 + torch.rand(N, generator=g)
    distance[members] = 0.05 * torch.rand(members.numel(), generator=g)
    distance[top[0]] = 0.1  # on the ball's edge: a member
    distance[order[1000]] = float(torch.nextafter(torch.tensor(0.1), torch.tensor(1.0)))  # just outside
    inside[order[1000]] = False
    k = int(inside.sum())
    assert k == 41 and not inside[at_worst[0]] and not inside[at_worst[2]]
    assert everything[order[k - 1]] > everything[order[k]]  # no tie at the top-|ball| line: precision is unambiguous

    result = ranking.exact_ranking(decoder, z, site, distance, epsilon=0.1, temperature=temperature)
    assert (result.ball_size, result.total) == (k, N)
    assert result.worst_rank == 1 + n_strictly_above
    assert result.auc == pytest.approx(_brute_auc(everything, inside), abs=1e-9)
    assert result.precision_at_ball == pytest.approx(float(inside[order[:k]].float().mean()), abs=1e-12)
    assert 0.3 < result.precision_at_ball < 0.7 and 0.99 < result.auc < 1.0
    wanted = set((everything >= worst_score).nonzero()[:, 0].tolist())
    assert set(result.rows.tolist()) == wanted and result.rows.numel() == len(wanted)
    assert torch.equal(result.scores, everything[result.rows])
    assert bool((result.scores[:-1] >= result.scores[1:]).all())
    assert torch.equal(result.members, inside[result.rows]) and int(result.members.sum()) == k


def test_exact_ranking_of_the_best_problems() -> None:
    """A ball of the 25 best problems (no tie at the 25th): AUC 1, precision 1, worst rank 25; and of one problem
    halfway down the ranking, the closed forms for a single member."""
    decoder, z, site, temperature, everything = _setup("one z")
    order = everything.argsort(descending=True, stable=True)
    ranked = everything[order]
    assert ranked[24] > ranked[25] and ranked[23] > ranked[24]
    distance = torch.ones(N)
    distance[order[:25]] = 0.0
    result = ranking.exact_ranking(decoder, z, site, distance)
    assert (result.ball_size, result.auc, result.precision_at_ball, result.worst_rank) == (25, 1.0, 1.0, 25)
    assert torch.equal(result.rows, order[:25]) and bool(result.members.all())

    one = order[3000]
    score = everything[one]
    distance = torch.ones(N)
    distance[one] = 0.0
    result = ranking.exact_ranking(decoder, z, site, distance)
    n_above, n_tied = int((everything > score).sum()), int((everything == score).sum()) - 1
    assert result.worst_rank == 1 + n_above and result.precision_at_ball == float(n_above == 0)
    assert result.auc == pytest.approx((N - 1 - n_above - n_tied + 0.5 * n_tied) / (N - 1), abs=1e-12)
    assert result.rows.numel() == n_above + n_tied + 1


# ---------------------------------------------------------------- a real decoder

class _KnowsTheSum:
    """A small random Decoder, made sure of the answer as a trained one is: from '=' on, the right token's logit is
    raised by 30. Its scores round by batch (SLACK must absorb that) and it takes prefixes of any length."""

    def __init__(self) -> None:
        from helpers.inversion.decoder import Decoder

        torch.manual_seed(0)
        self.decoder = Decoder(V, ADDITION.length, D_ACT, 2, d_model=8, n_layers=1, n_heads=1, n_cond_blocks=1,
                               d_cond=8).eval()
        with torch.no_grad():
            self.decoder.unembed.weight.mul_(4.0)

    def __call__(self, tokens: torch.Tensor, z: torch.Tensor, site: torch.Tensor) -> torch.Tensor:
        logits = self.decoder(tokens, z, site)
        if tokens.shape[1] < 8:
            return logits
        a = tokens[:, 1] * 100 + tokens[:, 2] * 10 + tokens[:, 3]
        b = tokens[:, 5] * 100 + tokens[:, 6] * 10 + tokens[:, 7]
        right = addition_tokens(a, b)[:, 8:tokens.shape[1] + 1]
        return torch.cat([logits[:, :7], logits[:, 7:] + 30.0 * torch.nn.functional.one_hot(right, V)], dim=1)


@torch.no_grad()
def test_a_real_decoder_ranks_as_its_own_scores_do() -> None:
    decoder, z, site = _KnowsTheSum(), torch.randn(D_ACT, generator=gen(1)), 1
    every = all_addition_tokens()

    def by_hand(rows: torch.Tensor) -> torch.Tensor:  # one call on all rows, no module code
        tokens = every[rows]
        logits = decoder(tokens[:, :-1], z.expand(rows.numel(), -1), torch.full((rows.numel(),), site))
        picked = logits.log_softmax(dim=-1).gather(-1, tokens[:, 1:, None])[..., 0]
        return (picked * (tokens[:, 1:] != ADDITION.pad)).sum(dim=1)

    threshold = -17.0
    rows, scores = ranking.scores_above(decoder, z, site, threshold, chunk=4096)
    assert 50 < rows.numel() < 2000 and rows.unique().numel() == rows.numel()
    assert torch.allclose(scores, by_hand(rows), rtol=0, atol=1e-4)
    assert bool((scores >= threshold - ranking.SLACK).all())
    # completeness where the found problems crowd (every b with the best three a) and on a random sample
    best_a = (rows[scores.argsort(descending=True)[:3]] // 900).unique()
    checked = torch.cat([(best_a[:, None] * 900 + torch.arange(900)).reshape(-1),
                         torch.randperm(N, generator=gen(9))[:3000]]).unique()
    truth = by_hand(checked)
    assert int((truth >= threshold).sum()) >= 20
    found = set(rows.tolist())
    assert all(r in found for r in checked[truth >= threshold + 1e-4].tolist())
    assert not any(r in found for r in checked[truth < threshold - ranking.SLACK - 1e-4].tolist())

    order = scores.argsort(descending=True)
    members = rows[order[torch.tensor([0, 2, 5, 9, 14, 30])]]
    distance = torch.ones(N)
    distance[members] = 0.0
    result = ranking.exact_ranking(decoder, z, site, distance, chunk=4096)
    worst = float(scores[order[30]])
    assert result.ball_size == 6
    assert 1 + int((scores > worst + 1e-4).sum()) <= result.worst_rank <= 1 + int((scores > worst - 1e-4).sum())
    inside = torch.zeros(N, dtype=torch.bool)
    inside[members] = True
    full = torch.full((N,), -1e9)  # every problem the search dropped scores below every member
    full[rows] = scores
    assert result.auc == pytest.approx(_brute_auc(full, inside), abs=1e-4)
    assert torch.allclose(result.scores, by_hand(result.rows), rtol=0, atol=1e-4)


# ---------------------------------------------------------------- bad input

def test_bad_input_is_refused() -> None:
    decoder, z, site, _, _ = _setup("one z")
    tokens = all_addition_tokens()[:5]
    for bad in (torch.ones(N - 1), torch.ones(N, 1), torch.ones(())):
        with pytest.raises(ValueError, match="distance"):
            ranking.exact_ranking(decoder, z, site, bad)
    with pytest.raises(ValueError, match="ball"):
        ranking.exact_ranking(decoder, z, site, torch.ones(N))  # nothing within ε
    with pytest.raises(ValueError, match="ball"):
        ranking.exact_ranking(decoder, z, site, torch.zeros(N))  # everything within ε
    for temperature in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="temperature"):
            ranking.sequence_scores(decoder, tokens, z, site, temperature=temperature)
    for chunk in (0, -3, 1.5, True):
        with pytest.raises(ValueError, match="chunk"):
            ranking.sequence_scores(decoder, tokens, z, site, chunk=chunk)
    for shape in ((), (0,), (2, 3, D_ACT), (3, 0)):
        with pytest.raises(ValueError, match="z must be"):
            ranking.sequence_scores(decoder, tokens, torch.zeros(shape), site)
    decoder.scored.clear()


@pytest.mark.parametrize("case", ["sequence_scores, z (0, d)", "scores_above, z (0, d)", "scores_above, chunk 0"])
def test_bad_input_to_the_search_is_refused_too(case: str) -> None:
    decoder, z, site, _, _ = _setup("one z")
    with pytest.raises(ValueError):
        if case == "sequence_scores, z (0, d)":
            ranking.sequence_scores(decoder, all_addition_tokens()[:5], torch.zeros(0, D_ACT), site)
        elif case == "scores_above, z (0, d)":
            ranking.scores_above(decoder, torch.zeros(0, D_ACT), site, -20.0)
        else:
            ranking.scores_above(decoder, z, site, -20.0, chunk=0)
