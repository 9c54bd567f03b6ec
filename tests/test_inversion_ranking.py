"""Chapter 4's exact ranking (helpers.inversion.ranking): the branch-and-bound search over operand prefixes must give
what scoring all 810,000 problems gives; and the decoder run a position at a time (helpers.inversion.decoder_steps)
must give the decoder's own log-probabilities.

Most tests use a stand-in decoder whose logits at position t depend only on t, the token there, z and the site (a
Markov chain; in one variant it also knows the sum): every problem's log-likelihood is then a sum of tabulated
log-probabilities, which this file computes by itself, and the search without a threshold scores all 810,000
problems in seconds, so the search can be checked against brute force over everything. The last tests run small
real :class:`~helpers.inversion.decoder.Decoder`s."""

from __future__ import annotations

import math
from functools import cache

import pytest
import torch

from helpers.inversion import ranking
from helpers.inversion.analysis import all_addition_tokens, decoder_scores, roc_auc
from helpers.inversion.decoder_steps import DecoderSteps
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
            right = all_addition_tokens()[_row_of(tokens)][:, 8 : t + 1]
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


class _MarkovSteps:
    """The stand-in run as :class:`~helpers.inversion.decoder_steps.Steps`: its state is the tokens so far, and each
    extension asks it for the logits of the whole sequence (it is a table: nothing to keep)."""

    def __init__(self, decoder: _Markov, z: torch.Tensor, site: int, temperature: float = 1.0) -> None:
        self.decoder, self.copies, self.site, self.temperature = decoder, z.reshape(-1, D_ACT), site, temperature

    def extend(self, past, parents, tokens):
        sequences = tokens if past is None else torch.cat([past if parents is None else past[parents], tokens], dim=1)
        n, s = tokens.shape
        per_copy = [
            self.decoder(sequences, copy.expand(n, -1), torch.full((n,), self.site))[:, -s:] for copy in self.copies
        ]
        return sequences, torch.stack([(lg / self.temperature).log_softmax(dim=-1) for lg in per_copy]).mean(dim=0)


def _closed_form(decoder: _Markov, z: torch.Tensor, site: int, temperature: float, upto: int = STEPS) -> torch.Tensor:
    """Every problem's log-likelihood (810000,) in float64 from the tables, or of its first ``upto`` predictions."""
    every = all_addition_tokens()
    lp = decoder.log_probs(z, site, temperature)
    t = torch.arange(upto)
    picked = lp[t, every[:, :upto], every[:, 1 : upto + 1]]
    return (picked * (every[:, 1 : upto + 1] != ADDITION.pad)).sum(dim=1)


CONFIGS = {  # name: (decoder seed, sure of the sum, z shape, z seed, site, temperature)
    "one z": (0, False, (D_ACT,), 1, 1, 1.0),
    "sure, two copies at T=1.7": (0, True, (2, D_ACT), 2, 0, 1.7),
}


@cache
def _setup(name: str) -> tuple[_Markov, _MarkovSteps, torch.Tensor]:
    """The stand-in, its steps, and the search's score of all 810,000 problems with no threshold (once per file)."""
    seed, sure, shape, z_seed, site, temperature = CONFIGS[name]
    decoder = _Markov(seed, sure)
    steps = _MarkovSteps(decoder, torch.randn(*shape, generator=gen(z_seed)), site, temperature)
    rows, everything = ranking.scores_above(steps, -math.inf, chunk=100_000)
    assert torch.equal(rows, torch.arange(N))
    decoder.scored.clear()
    return decoder, steps, everything


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
def test_the_search_without_a_threshold_scores_every_problem_as_the_tables_do(name: str) -> None:
    """With no threshold the search scores all 810,000 problems, in row order, with the closed form's scores
    (temperature dividing the logits, copies averaged), the same in any chunk and among any subset; the twins make
    exact ties."""
    decoder, steps, everything = _setup(name)
    expected = _closed_form(decoder, steps.copies, steps.site, steps.temperature)
    assert everything.shape == (N,) and everything.dtype == torch.float32
    assert float((everything.double() - expected).abs().max()) < 1e-4
    some = torch.zeros(N, dtype=torch.bool)
    some[torch.randperm(N, generator=gen(4))[:500]] = True
    for chunk in (1, 77):
        rows, scores = ranking.scores_above(steps, -math.inf, among=some, chunk=chunk)
        assert torch.equal(rows, some.nonzero()[:, 0]) and torch.equal(scores, everything[rows])
    twins = _row_of(addition_tokens(torch.tensor([100, 101, 110, 111]), torch.tensor([100, 100, 100, 100])))
    assert bool((everything[twins] == everything[twins[0]]).all())
    rows, scores = ranking.scores_above(steps, -math.inf, among=torch.zeros(N, dtype=torch.bool))
    assert rows.shape == scores.shape == (0,)


def test_copies_are_averaged_and_temperature_divides_the_logits() -> None:
    decoder, steps, everything = _setup("one z")
    some = torch.zeros(N, dtype=torch.bool)
    some[torch.randperm(N, generator=gen(5))[:400]] = True
    z = steps.copies[0]

    def scores(zz: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        return ranking.scores_above(_MarkovSteps(decoder, zz, steps.site, temperature), -math.inf, among=some)[1]

    single = everything[some]
    assert torch.allclose(scores(z[None]), single, rtol=0, atol=1e-5)
    assert torch.allclose(scores(z.expand(3, -1)), single, rtol=0, atol=1e-4)
    other = torch.randn(D_ACT, generator=gen(6))
    pair = torch.stack([z, other])
    for temperature in (0.5, 2.5):
        got = scores(pair, temperature)
        assert torch.allclose(got, (scores(z, temperature) + scores(other, temperature)) / 2, rtol=0, atol=1e-4)
        closed = _closed_form(decoder, pair, steps.site, temperature)[some]
        assert torch.allclose(got.double(), closed, rtol=0, atol=1e-4)
        assert not torch.allclose(got, single, rtol=0, atol=0.1)


# ---------------------------------------------------------------- the search


@pytest.mark.parametrize("name", list(CONFIGS))
def test_scores_above_finds_every_problem_at_or_above_the_threshold(name: str) -> None:
    """Against all 810,000 scores: every problem at or above the threshold (ties at it included), nothing more than
    SLACK below it, each once, with the full scores' values."""
    decoder, steps, everything = _setup(name)
    values, counts = torch.unique(everything, return_counts=True)  # ascending
    tied = values[counts >= 2]
    n_above = N - torch.searchsorted(everything.sort().values, tied, right=True)
    at_a_tie = float(tied[(n_above >= 300) & (n_above <= 2000)].max())  # a threshold two or more problems sit at
    best = float(everything.max())
    for threshold in (best, at_a_tie, at_a_tie - 0.37):
        rows, scores = ranking.scores_above(steps, threshold)
        assert rows.dtype == torch.long and rows.unique().numel() == rows.numel()
        assert torch.equal(scores, everything[rows])
        wanted = set((everything >= threshold).nonzero()[:, 0].tolist())
        assert wanted <= set(rows.tolist()), (name, threshold)
        assert bool((scores >= threshold - ranking.SLACK).all())
        assert len(wanted) <= rows.numel() < len(wanted) + 50  # a few within SLACK below, no more
    among = torch.rand(N, generator=gen(8)) < 0.3
    rows, scores = ranking.scores_above(steps, at_a_tie, among=among)  # a subset: its problems above the line
    assert set((among & (everything >= at_a_tie)).nonzero()[:, 0].tolist()) <= set(rows.tolist())
    assert bool(among[rows].all()) and torch.equal(scores, everything[rows])
    rows, scores = ranking.scores_above(steps, 0.5)  # above every problem
    assert rows.shape == scores.shape == (0,)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_the_search_scores_in_full_only_the_problems_whose_operands_reach_the_threshold(name: str) -> None:
    """The bound is the log-likelihood of B F1 F2 F3 + S1 S2 S3, '+' included (copies averaged, at the temperature):
    exactly the problems whose operand prefix reaches the threshold (less SLACK) are scored in full, each once (for
    each copy), and few of all 810,000."""
    decoder, steps, everything = _setup(name)
    threshold = float(everything.sort(descending=True).values[2000])
    prefix = _closed_form(decoder, steps.copies, steps.site, steps.temperature, upto=7)
    decoder.scored.clear()
    ranking.scores_above(steps, threshold)
    scored = _row_of(torch.cat(decoder.scored))
    decoder.scored.clear()
    scored, times = scored.unique(return_counts=True)
    assert bool((times == steps.copies.shape[0]).all())  # once per copy of z
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
    decoder, steps, everything = _setup(name)
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

    result = ranking.exact_ranking(steps, distance, epsilon=0.1)
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
    decoder, steps, everything = _setup("one z")
    order = everything.argsort(descending=True, stable=True)
    ranked = everything[order]
    assert ranked[24] > ranked[25] and ranked[23] > ranked[24]
    distance = torch.ones(N)
    distance[order[:25]] = 0.0
    result = ranking.exact_ranking(steps, distance)
    assert (result.ball_size, result.auc, result.precision_at_ball, result.worst_rank) == (25, 1.0, 1.0, 25)
    assert torch.equal(result.rows, order[:25]) and bool(result.members.all())

    one = order[3000]
    score = everything[one]
    distance = torch.ones(N)
    distance[one] = 0.0
    result = ranking.exact_ranking(steps, distance)
    n_above, n_tied = int((everything > score).sum()), int((everything == score).sum()) - 1
    assert result.worst_rank == 1 + n_above and result.precision_at_ball == float(n_above == 0)
    assert result.auc == pytest.approx((N - 1 - n_above - n_tied + 0.5 * n_tied) / (N - 1), abs=1e-12)
    assert result.rows.numel() == n_above + n_tied + 1


# ---------------------------------------------------------------- a real decoder


def _small_decoder(seed: int, n_layers: int = 1) -> torch.nn.Module:
    """A small random Decoder with peaked next-token distributions (a trained one's are)."""
    from helpers.inversion.decoder import Decoder

    torch.manual_seed(seed)
    decoder = Decoder(
        V, ADDITION.length, D_ACT, 2, d_model=8, n_layers=n_layers, n_heads=2, n_cond_blocks=1, d_cond=8
    ).eval()
    with torch.no_grad():
        decoder.unembed.weight.mul_(4.0)
    return decoder


@torch.no_grad()
@pytest.mark.parametrize("how", ["one z", "two copies at T=0.7", "one z per sequence"])
def test_decoder_steps_give_the_decoders_own_log_probabilities(how: str) -> None:
    """Sequences grown in pieces (a start, one token, three tokens, picked and repeated by ``parents``) get at every
    new position the log-probabilities of one forward pass over the whole sequence (temperature dividing the
    logits, copies averaged); and sampling draws what the decoder's own sampler draws."""
    decoder, g = _small_decoder(1, n_layers=2), gen(21)
    n = 6
    z = torch.randn(D_ACT if how == "one z" else (2, D_ACT) if how.startswith("two") else (n, D_ACT), generator=g)
    temperature = 0.7 if "T=0.7" in how else 1.0
    steps = DecoderSteps(decoder, z, 1, temperature=temperature, per_sequence=how.endswith("per sequence"))
    tokens = all_addition_tokens()[torch.randperm(N, generator=g)[:n]]

    def expected(upto: int) -> torch.Tensor:  # (n, upto, V) from one pass, mean over the copies
        copies = z[:, None] if how.endswith("per sequence") else z.reshape(-1, D_ACT)[:, None].expand(-1, n, -1)
        return torch.stack(
            [
                (decoder(tokens[:, :upto], c, torch.full((n,), 1)) / temperature).log_softmax(dim=-1)
                for c in (copies if not how.endswith("per sequence") else copies.transpose(0, 1))
            ]
        ).mean(dim=0)

    past, got = steps.extend(None, None, tokens[:, :1])
    parts = [got]
    past, got = steps.extend(past, None, tokens[:, 1:2])
    parts.append(got)
    past, got = steps.extend(past, torch.arange(n), tokens[:, 2:5])
    parts.append(got)
    assert torch.allclose(torch.cat(parts, dim=1), expected(5), rtol=0, atol=1e-5)
    if not how.endswith("per sequence"):  # children of a few parents, as the search makes them
        parents = torch.tensor([0, 0, 3])
        _, got = steps.extend(past, parents, tokens[parents, 5:7])
        full = expected(7)
        assert torch.allclose(got, full[parents, 5:7], rtol=0, atol=1e-5)
    else:
        drawn = steps.sample(n, 10, 13, gen(22))
        own = decoder.sample(z, torch.full((n,), 1), 10, 13, temperature, gen(22))
        assert torch.equal(drawn, own)


def test_decoder_steps_refuse_a_bad_temperature_or_z() -> None:
    decoder = _small_decoder(1)
    for temperature in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="temperature"):
            DecoderSteps(decoder, torch.zeros(D_ACT), 0, temperature=temperature)
    for shape in ((), (0,), (2, 3, D_ACT), (3, 0), (0, D_ACT)):
        with pytest.raises(ValueError, match="z must be"):
            DecoderSteps(decoder, torch.zeros(shape), 0)


@torch.no_grad()
def test_a_real_decoder_ranks_as_its_own_scores_do() -> None:
    """The search with a small Decoder against its teacher-forced scores (analysis.decoder_scores): every problem of
    a subset at or above a threshold, nothing below it; and an exact ranking whose ball is six of them."""
    decoder, z, site = _small_decoder(0), torch.randn(D_ACT, generator=gen(1)), 1
    steps = DecoderSteps(decoder, z, site)
    every = all_addition_tokens()

    def by_hand(rows: torch.Tensor) -> torch.Tensor:
        return decoder_scores(decoder, every[rows], z, site, ADDITION.pad, chunk=100_000)

    rows, scores = ranking.scores_above(steps, -math.inf, among=torch.arange(N) < 4000)  # the first 4,000
    assert torch.equal(rows, torch.arange(4000)) and torch.allclose(scores, by_hand(rows), rtol=0, atol=1e-4)
    threshold = float(scores.sort(descending=True).values[1])
    rows, scores = ranking.scores_above(steps, threshold, chunk=4096)
    assert 31 < rows.numel() < 5000 and rows.unique().numel() == rows.numel()
    assert torch.allclose(scores, by_hand(rows), rtol=0, atol=1e-4)
    assert bool((scores >= threshold - ranking.SLACK).all())
    checked = torch.cat([torch.arange(4000), torch.randperm(N, generator=gen(9))[:20_000]]).unique()
    truth = by_hand(checked)
    found = set(rows.tolist())
    assert all(r in found for r in checked[truth >= threshold + 1e-4].tolist())
    assert not any(r in found for r in checked[truth < threshold - ranking.SLACK - 1e-4].tolist())

    order = scores.argsort(descending=True)
    members = rows[order[torch.tensor([0, 2, 5, 9, 14, 30])]]
    distance = torch.ones(N)
    distance[members] = 0.0
    result = ranking.exact_ranking(steps, distance, chunk=4096)
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
    _, steps, _ = _setup("one z")
    for bad in (torch.ones(N - 1), torch.ones(N, 1), torch.ones(())):
        with pytest.raises(ValueError, match="distance"):
            ranking.exact_ranking(steps, bad)
    with pytest.raises(ValueError, match="ball"):
        ranking.exact_ranking(steps, torch.ones(N))  # nothing within ε
    with pytest.raises(ValueError, match="ball"):
        ranking.exact_ranking(steps, torch.zeros(N))  # everything within ε
    for chunk in (0, -3, 1.5, True):
        with pytest.raises(ValueError, match="chunk"):
            ranking.scores_above(steps, -20.0, chunk=chunk)
    for among in (torch.ones(N - 1, dtype=torch.bool), torch.ones(N), torch.ones(N, 1, dtype=torch.bool)):
        with pytest.raises(ValueError, match="among"):
            ranking.scores_above(steps, -20.0, among=among)
