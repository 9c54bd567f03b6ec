"""Chapter 4's helpers (InversionView): the tasks, the probed transformer's sites and patching, the distance."""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import pytest
import torch

from helpers.inversion.distance import in_ball, min_distance
from helpers.inversion.tasks import (
    ADDITION,
    COUNTING,
    addition_problems,
    addition_tokens,
    counting_batch,
    decode,
    encode,
)
from helpers.inversion.transformer import ProbedTransformer

if TYPE_CHECKING:  # the tests import the decoder where they build one
    from helpers.inversion.decoder import Decoder


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- tasks


def test_addition_tokens_spell_the_sums() -> None:
    a, b = torch.tensor([615, 100, 999, 500]), torch.tensor([861, 100, 999, 499])
    texts = [decode(ADDITION, t) for t in addition_tokens(a, b)]
    assert texts == ["B615+861=1476E", "B100+100=200E", "B999+999=1998E", "B500+499=999E"]
    assert torch.equal(addition_tokens(a[:1], b[:1])[0], encode(ADDITION, "B615+861=1476E"))
    with pytest.raises(ValueError, match="100–999"):
        addition_tokens(torch.tensor([99]), torch.tensor([100]))
    with pytest.raises(ValueError, match="outside"):
        encode(ADDITION, "B1x2")


def test_addition_split_covers_every_problem_once() -> None:
    train, test = addition_problems()
    assert train.shape[0] + test.shape[0] == 900 * 900 and test.shape[0] == 202500
    codes = torch.cat([train, test]) @ torch.tensor([1000, 1])
    assert codes.unique().shape[0] == 810000


def test_counting_answers_are_the_counts() -> None:
    tokens, at = counting_batch(50, gen(0))
    for row, position in zip(tokens, at):
        text = decode(COUNTING, row)
        letters, rest = text[1:].split("|")
        query, count = rest[0], rest[2]
        assert text[0] == "B" and rest[1] == ":" and rest[3:] == "E"
        assert len(set(letters)) == 3 and query in letters
        assert letters.count(query) == int(count) and COUNTING.vocab[int(row[position])] == count
    runs = [
        sum(1 for k in range(1, len(t)) if t[k] != t[k - 1])
        for t in (decode(COUNTING, r)[1:].split("|")[0] for r in tokens)
    ]
    assert sum(r > 2 for r in runs) > 40  # shuffled: the three letters are not left in three blocks


# ---------------------------------------------------------------- the probed transformer


def _model() -> ProbedTransformer:
    torch.manual_seed(0)
    return ProbedTransformer(ADDITION.size, ADDITION.length, d_model=16, n_layers=2, n_heads=2, d_mlp=32).eval()


def test_sites_add_up_and_are_causal() -> None:
    model = _model()
    tokens = addition_tokens(torch.tensor([123, 456]), torch.tensor([789, 111]))
    logits, cache = model(tokens, cache=model.sites)
    for l in range(2):
        writes = sum(cache[f"attn{l}.{h}"] for h in range(2)) + model.b_O[l]
        assert torch.allclose(
            cache[f"resid_mid{l}"] - cache[f"resid_pre{l}" if l == 0 else f"resid_post{l - 1}"], writes, atol=1e-5
        )
        assert torch.allclose(cache[f"resid_post{l}"] - cache[f"resid_mid{l}"], cache[f"mlp{l}"], atol=1e-5)
    changed = tokens.clone()
    changed[:, 6] = (changed[:, 6] + 1) % 10  # a later token: earlier positions must not move
    _, other = model(changed, cache=["resid_post1"])
    assert torch.equal(other["resid_post1"][:, :6], cache["resid_post1"][:, :6])
    assert not torch.allclose(other["resid_post1"][:, 6:], cache["resid_post1"][:, 6:])
    with pytest.raises(KeyError, match="unknown sites"):
        model(tokens, cache=["attn0.7"])


def test_patching_with_the_original_is_a_no_op_and_with_the_contrast_gives_the_contrast() -> None:
    model = _model()
    original = addition_tokens(torch.tensor([123]), torch.tensor([456]))
    contrast = addition_tokens(torch.tensor([923]), torch.tensor([456]))
    logits, cache = model(original, cache=model.sites)
    contrast_logits, contrast_cache = model(contrast, cache=model.sites)
    for site in model.sites:
        same, _ = model(original, patch={site: cache[site]})
        assert torch.equal(same, logits), site
    # the last residual stream decides the logits: patching it in full gives the contrast's logits
    patched, _ = model(original, patch={"resid_post1": contrast_cache["resid_post1"]})
    assert torch.allclose(patched, contrast_logits, atol=1e-6)
    # patching one head changes the output, unless the two inputs agree there
    moved, _ = model(original, patch={"attn0.0": contrast_cache["attn0.0"]})
    assert not torch.allclose(moved, logits)
    with pytest.raises(ValueError, match="shape"):
        model(original, patch={"attn0.0": contrast_cache["attn0.0"][:, :5]})


# ---------------------------------------------------------------- the distance and the ε-ball


def test_distance_is_zero_on_the_query_scale_invariant_and_minimised_over_positions() -> None:
    g = gen(1)
    acts = torch.randn(5, 4, 3, generator=g)
    query = acts[2, 1].clone()
    values, positions = min_distance(query, acts)
    assert values[2] == 0 and positions[2] == 1
    scaled, _ = min_distance(7.5 * query, 7.5 * acts)
    assert torch.allclose(scaled, values)
    by_hand = torch.tensor([min(float((query - acts[i, t]).norm() / query.norm()) for t in range(4)) for i in range(5)])
    assert torch.allclose(values, by_hand)
    valid = torch.ones(5, 4, dtype=torch.bool)
    valid[2, 1] = False
    masked, where = min_distance(query, acts, valid)
    assert masked[2] > 0 and where[2] != 1
    valid[3] = False
    masked, where = min_distance(query, acts, valid)
    assert math.isinf(masked[3]) and where[3] == -1


def test_in_ball_agrees_with_brute_force_on_a_tiny_task() -> None:
    """All 3-token inputs over 4 symbols through a fixed random embedding + cumulative sum: the ball of a query is
    the inputs with some prefix sum within ε of the query's, found here by a plain loop."""
    g = gen(2)
    table = torch.randn(4, 2, generator=g)
    inputs = torch.tensor(list(itertools.product(range(4), repeat=3)))  # (64, 3)
    acts = table[inputs].cumsum(dim=1)  # (64, 3, 2): a 'site' at every position
    query = acts[17, 2]
    for eps in (0.05, 0.3, 1.0):
        found = in_ball(min_distance(query, acts)[0], eps)
        brute = torch.tensor(
            [any(float((acts[i, t] - query).norm()) <= eps * float(query.norm()) for t in range(3)) for i in range(64)]
        )
        assert torch.equal(found, brute)
    assert found[17]


def test_ball_sizes_count_what_the_mask_counts() -> None:
    """The sizes of many balls at many radii, by sorting: the mask's counts, ties at ε and inf (never inside) too."""
    from helpers.inversion.distance import ball_sizes

    distances = torch.rand(30, 500, generator=gen(4), dtype=torch.float64).round(decimals=2)  # many ties
    distances[3, :100] = math.inf
    epsilons = [0.0, 0.1, 0.25, 0.5, 0.99, 1.0]
    sizes = ball_sizes(distances, epsilons)
    mask = distances[None] <= torch.tensor(epsilons, dtype=torch.float64)[:, None, None]
    assert torch.equal(sizes, mask.sum(-1)) and sizes.is_contiguous() and sizes[-1, 3] == 400
    with pytest.raises(ValueError, match="NaN"):
        ball_sizes(torch.full((2, 3), math.nan), epsilons)


def test_distance_and_ball_reject_bad_input() -> None:
    acts = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match="zero"):
        min_distance(torch.zeros(4), acts)
    with pytest.raises(ValueError, match="empty"):
        min_distance(torch.ones(4), torch.zeros(0, 3, 4))
    with pytest.raises(ValueError, match="width"):
        min_distance(torch.ones(5), acts)
    for bad in (0.0, -0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="epsilon"):
            in_ball(torch.zeros(3), bad)


# ---------------------------------------------------------------- the decoder and the sampler


def _decoder(n_sites: int) -> Decoder:
    from helpers.inversion.decoder import Decoder

    torch.manual_seed(1)
    return Decoder(ADDITION.size, ADDITION.length, 16, n_sites, d_model=32, n_layers=2, n_heads=4).eval()


def test_decoder_is_causal_conditioned_and_its_likelihood_sums_its_logits() -> None:
    decoder = _decoder(3)
    tokens = addition_tokens(torch.tensor([123, 456]), torch.tensor([789, 111]))
    z, site = torch.randn(2, 16, generator=gen(3)), torch.tensor([0, 2])
    logits = decoder(tokens, z, site)
    later = tokens.clone()
    later[:, 7] = (later[:, 7] + 1) % 10
    assert torch.equal(decoder(later, z, site)[:, :7], logits[:, :7])
    assert not torch.allclose(decoder(tokens, z + 1.0, site), logits)  # the activation reaches every position
    assert not torch.allclose(decoder(tokens, z, torch.tensor([1, 1])), logits)  # and so does the site
    with torch.no_grad():
        logp = decoder(tokens[:, :-1], z, site).log_softmax(-1)  # (2, 13, vocab)
        by_hand = torch.tensor(
            [
                sum(float(logp[i, t, tokens[i, t + 1]]) for t in range(13) if tokens[i, t + 1] != ADDITION.pad)
                for i in range(2)
            ]
        )
    with torch.no_grad():
        assert torch.allclose(decoder.log_likelihood(tokens, z, site, ADDITION.pad), by_hand, atol=1e-4)
    with pytest.raises(ValueError, match="temperature"):
        decoder.sample(z, site, 10, 3, 0.0, gen(0))


def test_sampler_verifies_every_candidate_by_re_running_the_probed_model() -> None:
    """Every sample marked inside is within ε by a brute-force re-run, every other one is not; and the preimage of
    the start token's embedding is everything (all candidates begin with it)."""
    from helpers.inversion.sampler import activation, propose_and_verify, valid_positions

    model = _model()
    decoder = _decoder(len(model.sites))
    query = addition_tokens(torch.tensor([615]), torch.tensor([861]))[0]
    samples = propose_and_verify(
        decoder, model, ADDITION, query, "resid_mid0", 8, per_setting=16, epsilon=0.5, generator=gen(4)
    )
    z_q = activation(model, query[None], "resid_mid0")[0, 8]
    acts = activation(model, samples.tokens, "resid_mid0")
    valid = valid_positions(samples.tokens, ADDITION)
    for i in range(samples.tokens.shape[0]):
        best = min((float((acts[i, t] - z_q).norm() / z_q.norm()) for t in range(14) if valid[i, t]), default=math.inf)
        assert math.isclose(best, float(samples.distance[i]), rel_tol=1e-5) or best == float(samples.distance[i])
        assert bool(samples.inside[i]) == (best <= 0.5)
    everything = propose_and_verify(decoder, model, ADDITION, query, "resid_pre0", 0, per_setting=8, generator=gen(5))
    assert everything.inside.all() and (everything.distance == 0).all()
    with pytest.raises(KeyError, match="unknown site"):
        propose_and_verify(decoder, model, ADDITION, query, "attn9.0", 8, generator=gen(0))
    with pytest.raises(ValueError, match="position"):
        propose_and_verify(decoder, model, ADDITION, query, "resid_mid0", 13, generator=gen(0))  # padding
    with pytest.raises(ValueError, match="epsilon"):
        propose_and_verify(decoder, model, ADDITION, query, "resid_mid0", 8, epsilon=0.0, generator=gen(0))
    with pytest.raises(ValueError, match="non-empty"):
        activation(model, torch.zeros(0, 14, dtype=torch.long), "resid_mid0")


def test_cumulative_patching_ends_at_the_contrast_and_positions_are_local() -> None:
    from helpers.inversion.patching import cumulative_patching, logit_difference

    model = _model()
    original = addition_tokens(torch.tensor([123]), torch.tensor([456]))[0]
    contrast = addition_tokens(torch.tensor([923]), torch.tensor([456]))[0]
    contrast_logits, _ = model(contrast[None])
    # patching the last residual stream at the answer position makes that position's logits the contrast's
    lds = cumulative_patching(model, original, contrast, [("attn0.0", 1), ("resid_post1", 8)], 8, 5, 3)
    assert lds[0] == logit_difference(model(original[None])[0], 8, 5, 3)
    assert math.isclose(lds[-1], logit_difference(contrast_logits, 8, 5, 3), rel_tol=1e-5, abs_tol=1e-5)
    # a patch at one position leaves every earlier position alone
    _, cache = model(contrast[None], cache=["attn0.1"])
    at = torch.zeros(14, dtype=torch.bool)
    at[6] = True
    _, clean = model(original[None], cache=["resid_post1"])
    _, patched = model(
        original[None], cache=["resid_post1"], patch={"attn0.1": cache["attn0.1"]}, patch_at={"attn0.1": at}
    )
    assert torch.equal(patched["resid_post1"][:, :6], clean["resid_post1"][:, :6])
    assert not torch.allclose(patched["resid_post1"][:, 6], clean["resid_post1"][:, 6])
    with pytest.raises(ValueError, match="distinct"):
        cumulative_patching(model, original, contrast, [("attn0.0", 1), ("attn0.0", 1)], 8, 5, 3)
    with pytest.raises(ValueError, match="outside"):
        cumulative_patching(model, original, contrast, [("attn0.0", 20)], 8, 5, 3)


def test_viewer_sorts_rules_at_epsilon_once_and_escapes() -> None:
    from helpers.inversion.analysis import prior_next_token_probs
    from helpers.inversion.viewer import preimage_html, token_shading

    tokens = addition_tokens(torch.tensor([111, 222, 333, 444]), torch.tensor([100, 100, 100, 100]))
    distance = torch.tensor([0.3, 0.05, 0.2, 0.01])
    import re

    page = preimage_html(ADDITION, tokens, distance, epsilon=0.1, title="a0.0 at '=' <query>")
    assert "&lt;query&gt;" in page
    lines = [line for line in page.splitlines() if "white-space: nowrap" in line or line.startswith("<hr")]
    texts = [re.sub("<[^>]+>", "", line) for line in lines]
    assert texts == ["0.010B444+100=544E", "0.050B222+100=322E", "", "0.200B333+100=433E", "0.300B111+100=211E"]
    decoder = _decoder(3)
    z = torch.randn(16, generator=gen(6))
    prior = prior_next_token_probs(tokens)
    shade = token_shading(decoder, tokens, z, 1, prior)
    assert shade.shape == tokens.shape and (shade[:, 0] == 0).all() and (shade.abs() <= 1).all()
    own = decoder(tokens[:, :-1], z.expand(4, -1), torch.ones(4, dtype=torch.long)).softmax(-1)
    own = own.gather(-1, tokens[:, 1:, None])[..., 0]
    assert (token_shading(decoder, tokens, z, 1, own) == 0).all()  # a reference equal to the decoder raises nothing
    with pytest.raises(ValueError, match="reference"):
        token_shading(decoder, tokens, z, 1, prior[:, 1:])
    with pytest.raises(ValueError, match="non-empty"):
        preimage_html(ADDITION, tokens[:0], distance[:0])


def test_addition_properties_and_shares_by_hand() -> None:
    from helpers.inversion.analysis import addition_properties, share_keeping

    tokens = torch.stack(
        [encode(ADDITION, s) for s in ("B615+861=1476E", "B861+615=1476E", "B155+166=321E", "B15+861=8E")]
    )
    p = addition_properties(tokens)
    assert p["well_formed"].tolist() == [True, True, True, False]
    assert p["F1"][:3].tolist() == [6, 8, 1] and p["S1"][:3].tolist() == [8, 6, 1]
    assert p["F1S1"][:3].tolist() == [68, 68, 11]  # the hundreds digits as an unordered pair
    assert p["C2"][:3].tolist() == [0, 0, 1]  # 1 + 6 = 7, no carry; 5 + 6 + 1 = 12, carry
    assert p["A1"][:3].tolist() == [1, 1, 3]
    shares = share_keeping(tokens[0], tokens[1:])  # the malformed one is left out
    # the swapped problem keeps the unordered pair {6, 8} but neither operand's own hundreds digit
    assert shares == {"F1": 0.0, "S1": 0.0, "F1S1": 0.5, "C2": 0.5, "A1": 0.5}


def test_prior_next_token_probs_by_hand() -> None:
    """The uniform distribution over the 810,000 problems, token by token, against counts done by hand."""
    from helpers.inversion.analysis import all_addition_tokens, prior_next_token_probs

    tokens = torch.stack([encode(ADDITION, s) for s in ("B615+861=1476E", "B615+861=1477E", "B015+861=876E")])
    p = prior_next_token_probs(tokens)
    tenth, ninth = 0.1, 1 / 9
    assert torch.allclose(p[0], torch.tensor([ninth, tenth, tenth, 1, ninth, tenth, tenth, 1, 1, 1, 1, 1, 1]))
    assert p[1, 10].item() == 1 and p[1, 11].item() == 0 and p[1, 12].item() == 0  # a wrong last digit, then nothing
    assert (p[2] == 0).all()  # a leading zero: no problem starts so
    every = prior_next_token_probs(all_addition_tokens()[::997])  # every problem has probability 1 / 810,000
    assert torch.allclose(
        every.log().sum(dim=1).double(),
        torch.full((every.shape[0],), -math.log(810_000), dtype=torch.float64),
        atol=1e-5,
    )


def test_roc_auc_matches_counting_pairs() -> None:
    from helpers.inversion.analysis import roc_auc

    g = gen(7)
    pos, neg = torch.randn(40, generator=g) + 0.7, torch.randn(55, generator=g)
    pos[:5] = neg[:5]  # some ties
    pairs = (pos[:, None] > neg[None]).double() + 0.5 * (pos[:, None] == neg[None]).double()
    assert math.isclose(roc_auc(pos, neg), float(pairs.mean()), rel_tol=1e-12)
    assert roc_auc(torch.tensor([2.0]), torch.tensor([1.0])) == 1.0
    with pytest.raises(ValueError):
        roc_auc(torch.tensor([]), neg)


def _hundreds(n: int, seed: int) -> torch.Tensor:
    """n random blocks of the 810,000 problems that share B F1 F2 F3 + S1 (a hundred each, in order): the smallest
    stand-in that has their structure."""
    from helpers.inversion.analysis import all_addition_tokens

    blocks = torch.randperm(8100, generator=gen(seed))[:n]
    return all_addition_tokens()[(blocks[:, None] * 100 + torch.arange(100)).reshape(-1)]


@torch.no_grad()
def test_exact_distances_of_several_queries_are_each_querys_own(monkeypatch) -> None:
    """k queries in one pass give, row by row, what a pass for each query alone gives (rows not swapped, each query's
    own activation and norm); a (14,) query gives one row, as before."""
    from helpers.inversion import analysis

    problems = _hundreds(6, seed=31)
    monkeypatch.setattr(analysis, "all_addition_tokens", lambda: problems)
    model, sites = _model(), ["attn0.1", "resid_post0"]
    queries = addition_tokens(torch.tensor([615, 250, 999]), torch.tensor([861, 750, 100]))
    together = analysis.exact_distances(model, queries, 8, sites, chunk=300)
    for k, query in enumerate(queries):
        alone = analysis.exact_distances(model, query, 8, sites, chunk=200)
        for site in sites:
            assert together[site].shape == (3, 600) and alone[site].shape == (600,)
            assert torch.allclose(together[site][k], alone[site], rtol=0, atol=1e-6), (k, site)
    assert not torch.allclose(together["resid_post0"][0], together["resid_post0"][1])  # the queries do differ
    with pytest.raises(ValueError, match="query must be"):
        analysis.exact_distances(model, queries[:, :9], 8, sites)


@torch.no_grad()
def test_exact_distances_and_scores_do_not_depend_on_the_chunk(monkeypatch) -> None:
    """The pass over shared prefixes gives min_distance's distances over all problems run at once through the model's
    own forward pass, in any chunk, to float32 rounding; and the decoder's scores are those of one call on every
    sequence. Problems that do not come in tens sharing a prefix, or in hundreds, are refused."""
    from helpers.inversion import analysis
    from helpers.inversion.sampler import valid_positions

    problems = _hundreds(25, seed=32)
    monkeypatch.setattr(analysis, "all_addition_tokens", lambda: problems)  # 2,500 problems stand in for 810,000
    model, sites = _model(), ["attn0.1", "resid_post0", "resid_mid1"]
    query = addition_tokens(torch.tensor([615]), torch.tensor([861]))[0]
    _, cache_q = model(query[None], cache=sites)
    _, cache = model(problems, cache=sites)
    for chunk in (1, 256, 1000, 5000):
        distances = analysis.exact_distances(model, query, 8, sites, chunk=chunk)
        for site in sites:  # distances of order 1: rounding moves them by 1e-7, a misplaced chunk by far more
            at_once = min_distance(cache_q[site][0, 8], cache[site], valid_positions(problems, ADDITION))[0]
            assert torch.allclose(distances[site], at_once, rtol=0, atol=1e-6), (chunk, site)
    with pytest.raises(ValueError, match="chunk"):
        analysis.exact_distances(model, query, 8, sites, chunk=0)
    for shuffled in (problems[torch.randperm(2500, generator=gen(33))], problems[:2450]):
        monkeypatch.setattr(analysis, "all_addition_tokens", lambda: shuffled)
        with pytest.raises(ValueError, match="hundreds"):
            analysis.exact_distances(model, query, 8, sites)
    monkeypatch.setattr(analysis, "all_addition_tokens", lambda: problems)

    decoder, site = _decoder(len(model.sites)), "resid_post0"
    z_query, site_id = cache_q[site][0, 8], model.sites.index(site)
    some = problems[:300]
    by_hand = decoder.log_likelihood(some, z_query.expand(300, -1), torch.full((300,), site_id), ADDITION.pad)
    assert torch.allclose(
        analysis.decoder_scores(decoder, some, z_query, site_id, ADDITION.pad, chunk=7), by_hand, rtol=0, atol=1e-4
    )  # chapter 5's scores, for any task's padding
    with pytest.raises(ValueError, match="chunk"):
        analysis.decoder_scores(decoder, some, z_query, site_id, ADDITION.pad, chunk=0)


def test_chance_keeping_is_share_keeping_over_all_problems() -> None:
    from helpers.inversion.analysis import all_addition_tokens, chance_keeping, share_keeping

    for a, b in ((615, 861), (100, 100), (999, 999)):
        query = addition_tokens(torch.tensor([a]), torch.tensor([b]))[0]
        assert chance_keeping(query) == share_keeping(query, all_addition_tokens())


def test_stopping_early_gives_the_same_site_values() -> None:
    model = _model()
    tokens = addition_tokens(torch.tensor([123, 456]), torch.tensor([789, 111]))
    _, full = model(tokens, cache=model.sites)
    for site in model.sites:
        logits, early = model(tokens, cache=[site], stop_early=True)
        assert logits is None and torch.equal(early[site], full[site])


def test_display_subset_mixes_members_and_the_nearest_misses() -> None:
    """14 of 20 rows from the ball (70 %), the other 6 the nearest non-members, sorted; one side short: the other
    fills."""
    from helpers.inversion.sampler import Samples, display_subset

    distance = torch.tensor([0.05, 0.5, 0.02, 0.3, 0.12, 0.08] * 10)
    inside = distance <= 0.1
    samples = Samples(
        torch.zeros(60, 3, dtype=torch.long), distance, torch.zeros(60, dtype=torch.long), inside, torch.ones(60)
    )
    shown = display_subset(samples, rows=20, inside_share=0.7, generator=gen(1))
    assert shown.shape == (20,) and len(set(shown.tolist())) == 20
    assert int(inside[shown].sum()) == 14
    assert (distance[shown].diff() >= 0).all()
    assert torch.allclose(distance[shown][14:], torch.full((6,), 0.12))  # the nearest misses: every 0.12 first
    few = Samples(samples.tokens[:4], distance[:4], samples.position[:4], inside[:4], samples.temperature[:4])
    assert int(few.inside[display_subset(few, rows=4, inside_share=0.0, generator=gen(2))].sum()) == 2
    with pytest.raises(ValueError, match="rows"):
        display_subset(samples, rows=0, generator=gen(0))


def test_problem_index_finds_each_problem_and_rejects_wrong_answers() -> None:
    from helpers.inversion.analysis import all_addition_tokens, problem_index

    a, b = torch.tensor([100, 615, 999, 123]), torch.tensor([100, 861, 999, 456])
    tokens = addition_tokens(a, b)
    index = problem_index(tokens)
    assert index.tolist() == [0, 515 * 900 + 761, 810000 - 1, 23 * 900 + 356]
    assert (all_addition_tokens()[index] == tokens).all()
    wrong = tokens.clone()
    wrong[1, 9] = 2  # 615 + 861 = 2476: not a problem
    malformed = tokens.clone()
    malformed[2, 4] = 12  # '=' where '+' belongs
    assert problem_index(torch.cat([wrong[1:2], malformed[2:3]])).tolist() == [-1, -1]


def test_contrasts_change_only_what_they_say() -> None:
    """flip_one_letter: same length and target, one letter changed, count ±1 and the answer digit follows;
    resample_digits: only the chosen place changes, and the condition holds."""
    from helpers.inversion.patching import flip_one_letter, resample_digits

    tokens, at = counting_batch(200, gen(3))
    g = gen(4)
    for row, where in zip(tokens, at.tolist()):
        flipped = flip_one_letter(row, where, g)
        target = int(row[where - 2])
        count = lambda t: int((t[1 : where - 3] == target).sum())  # noqa: E731
        assert int((flipped != row).sum()) == 2  # one letter and the answer digit
        assert abs(count(flipped) - count(row)) == 1 and int(flipped[where]) == 25 + count(flipped)
    with pytest.raises(ValueError, match="count digit"):
        flip_one_letter(tokens[0], 3, g)
    for a, b in ((615, 861), (123, 456), (999, 100)):
        a2, b2 = resample_digits(a, b, 0, lambda a, b, c, d: str(a + b)[0] != str(c + d)[0], g)
        assert a2 % 100 == a % 100 and b2 % 100 == b % 100 and 100 <= a2 <= 999 and 100 <= b2 <= 999
        assert str(a + b)[0] != str(a2 + b2)[0]
        a3, b3 = resample_digits(a, b, 2, lambda *_: True, g)
        assert a3 // 10 == a // 10 and b3 // 10 == b // 10
    with pytest.raises(ValueError, match="place"):
        resample_digits(615, 861, 3, lambda *_: True, g)


def test_draw_preimage_draws_one_row_per_sample_and_one_rule() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.inversion.viewer import draw_preimage

    tokens = addition_tokens(torch.tensor([615, 600, 111]), torch.tensor([861, 800, 222]))
    fig, ax = plt.subplots()
    draw_preimage(ax, ADDITION, tokens, torch.tensor([0.01, 0.05, 0.4]), shading=torch.zeros(3, 14))
    assert len(ax.patches) == 3 and len(ax.lines) == 1  # three bars, one rule
    assert abs(ax.lines[0].get_ydata()[0] - 0.5) < 1e-9  # between the second row (y = 1) and the third (y = 0)
    assert sum(1 for t in ax.texts) == 14 + 14 + 13  # characters, padding dropped
    plt.close(fig)
    after_end = tokens[2:3].clone()
    after_end[0, 13] = 7  # a sampler's garbage after E: not part of the input, not shown
    fig, ax = plt.subplots()
    draw_preimage(ax, ADDITION, after_end, torch.tensor([0.3]))
    assert "".join(t.get_text() for t in ax.texts) == "B111+222=333E"
    plt.close(fig)


def test_draw_preimage_as_chapter_4_shows_it() -> None:
    """Rows, shading by a sample's difference, the ε rule and every character's colour, against a snapshot."""
    import matplotlib.pyplot as plt

    from helpers.inversion.viewer import draw_preimage
    from tests.figure_snapshot import check_snapshot

    tokens = addition_tokens(torch.tensor([615, 600, 111, 450]), torch.tensor([861, 800, 222, 549]))
    shading = torch.linspace(0, 1, 4 * 14).reshape(4, 14)
    fig, ax = plt.subplots(figsize=(5, 3))
    draw_preimage(ax, ADDITION, tokens, torch.tensor([0.0, 0.1, 0.1, 0.7]), shading=shading, title="four")
    check_snapshot("inversion_draw_preimage", fig)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    draw_preimage(axes[0], ADDITION, tokens[:2], torch.tensor([0.3, 0.5]))  # all outside: no rule
    draw_preimage(axes[1], ADDITION, tokens[:3], torch.tensor([0.1, 0.25, 0.5]), epsilon=0.2)  # rule after row 1
    assert len(axes[0].lines) == 0 and len(axes[1].lines) == 1 and axes[1].lines[0].get_ydata()[0] == 1.5
    check_snapshot("inversion_draw_preimage_rules", fig)
    with pytest.raises(ValueError) as refused:
        draw_preimage(axes[0], ADDITION, tokens[:0], torch.zeros(0))
    assert str(refused.value) == ("need a non-empty batch of tokens (n, T) and distances (n,), got (0, 14) and (0,)")


# --------------------------------------------------------------------------------------------- the cached models
# Each cache's recorded metrics are recomputed here from its weights, with the evaluation written out independently
# of the helpers that computed them at training time (the same held-out data, drawn the same way).


def test_model_a_exact_match_recomputed_from_the_cache() -> None:
    from helpers.checkpoints import read_manifest
    from helpers.inversion import probed
    from helpers.inversion.tasks import ADDITION, addition_problems, addition_tokens

    model, metrics = probed.load_addition_model()
    assert metrics == read_manifest()["inversion_addition_model"]["metrics"]
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    _, test = addition_problems(seed=probed.ADDITION_CONFIG["split_seed"])
    held_out = test[: probed.ADDITION_CONFIG["eval_problems"]]
    # the metric, on the whole held-out set, by the helper
    assert probed.addition_exact_match(model, held_out) == pytest.approx(metrics["exact_match"], abs=1e-6)
    # the helper, on 3,000 of them, against greedy decoding and exact match written out here
    some = held_out[:3000]
    truth = addition_tokens(some[:, 0], some[:, 1])  # (n, 14): B a + b = answer E, padded
    tokens = truth.clone()
    tokens[:, 9:] = ADDITION.pad
    with torch.no_grad():
        for position in range(9, ADDITION.length):  # greedy, one token at a time
            tokens[:, position] = model(tokens[:, :position])[0][:, -1].argmax(-1)
    assert torch.equal(probed.greedy_answers(model, some, chunk=700), tokens)  # in chunks too
    config = {**probed.ADDITION_CONFIG, "eval_problems": 3000}  # the chaotic rule's answers, on these 3,000
    assert torch.equal(probed.addition_predictions(model.state_dict(), config), tokens[:, 9:].reshape(-1))
    tokens[:, 9][0] = (tokens[:, 9][0] + 1) % 10  # one wrong first digit
    right = ((tokens[:, 9:] == truth[:, 9:]) | (truth[:, 9:] == ADDITION.pad)).all(dim=1)
    wrong_model = _GuessWith(tokens)
    assert probed.addition_exact_match(wrong_model, some) == pytest.approx(float(right.float().mean()), abs=1e-9)


class _GuessWith(torch.nn.Module):
    """A stand-in model whose greedy answers are given rows of tokens (it predicts each row's next token)."""

    def __init__(self, rows: torch.Tensor) -> None:
        super().__init__()
        self.rows = rows

    def forward(self, tokens: torch.Tensor):
        logits = torch.full((*tokens.shape, 16), -1.0)
        index = self.rows[: tokens.shape[0], tokens.shape[1]]
        logits[torch.arange(tokens.shape[0]), -1, index] = 1.0
        return logits, {}


def test_model_b_accuracies_recomputed_from_the_cache() -> None:
    from helpers.checkpoints import read_manifest
    from helpers.inversion import probed
    from helpers.inversion.tasks import counting_batch

    model, metrics = probed.load_counting_model()
    assert metrics == read_manifest()["inversion_counting_model"]["metrics"] and not model.training
    config = probed.COUNTING_CONFIG
    tokens, at = counting_batch(config["eval_problems"], torch.Generator().manual_seed(config["eval_seed"]))
    rows = torch.arange(tokens.shape[0])
    with torch.no_grad():
        guess = model(tokens)[0][rows, at - 1].argmax(-1)  # the token predicted at ':'
    assert torch.equal(probed.counting_answers(model, tokens, at), guess)
    assert torch.equal(probed.counting_predictions(model.state_dict(), config), guess)  # the chaotic rule's
    right = guess == tokens[rows, at]
    assert torch.equal(probed.counting_accuracy(model, tokens, at), right)
    counts = tokens[rows, at] - 25  # the count digit's token, as a number
    assert float(right.float().mean()) == pytest.approx(metrics["accuracy"], abs=1e-6)
    assert float(right[counts <= 3].float().mean()) == pytest.approx(metrics["accuracy_counts_1_3"], abs=1e-6)


def test_decoder_held_out_losses_and_predictions_recomputed_from_the_cache() -> None:
    from helpers.checkpoints import read_manifest
    from helpers.inversion import decoder as inv_decoder
    from helpers.inversion import probed
    from helpers.inversion.tasks import ADDITION, addition_problems, addition_tokens

    decoder, curve, metrics = inv_decoder.load_addition_decoder()
    assert metrics == read_manifest()["inversion_addition_decoder"]["metrics"] and not decoder.training
    assert curve.ndim == 1 and len(curve) == inv_decoder.DECODER_CONFIG["steps"] // inv_decoder.LOSS_EVERY
    model, _ = probed.load_addition_model()
    _, test = addition_problems(seed=probed.ADDITION_CONFIG["split_seed"])
    n, g = inv_decoder.DECODER_CONFIG["eval_pairs"], torch.Generator().manual_seed(1)
    chosen = test[torch.randint(0, test.shape[0], (n,), generator=g)]
    tokens = addition_tokens(chosen[:, 0], chosen[:, 1])
    site = torch.randint(0, len(model.sites), (n,), generator=g)
    allowed = ((tokens != 10) & (tokens != 13) & (tokens != ADDITION.pad)).float()  # not B, E or padding
    position = torch.multinomial(allowed, 1, generator=g)[:, 0]
    with torch.no_grad():
        _, cache = model(tokens, cache=model.sites)
        z = torch.stack([cache[model.sites[s]][i, t] for i, (s, t) in enumerate(zip(site.tolist(), position.tolist()))])
    got_tokens, got_z, got_site = inv_decoder.activation_pairs(
        model, model.sites, test, n, torch.Generator().manual_seed(1)
    )
    assert torch.equal(got_tokens, tokens) and torch.equal(got_site, site) and torch.allclose(got_z, z, atol=1e-6)
    shuffled = torch.randperm(n, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for name, zz in (("eval_loss", z), ("shuffled_eval_loss", z[shuffled])):
            logits = decoder(tokens[:, :-1], zz, site)
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, ADDITION.size), tokens[:, 1:].reshape(-1), ignore_index=ADDITION.pad
            )
            assert float(loss) == pytest.approx(metrics[name], rel=1e-4), name
        guesses = decoder(tokens[:, :-1], z, site).argmax(-1)[tokens[:, 1:] != ADDITION.pad]
    tensors = {**decoder.state_dict(), inv_decoder.LOSS_CURVE: curve}
    assert torch.equal(inv_decoder.decoder_predictions(tensors, inv_decoder.DECODER_CONFIG), guesses)


def test_addition_properties_of_all_810000_problems_against_integer_arithmetic() -> None:
    """By enumeration, against the operands as integers: a tens carry exactly when the last two digits sum to 100 or
    more (ones digits summing to exactly 10 carry), and the first answer digit of a sum at or past 1000 is 1."""
    from helpers.inversion.analysis import addition_properties, all_addition_tokens

    tokens = all_addition_tokens()
    a, b = torch.meshgrid(torch.arange(100, 1000), torch.arange(100, 1000), indexing="ij")
    a, b = a.reshape(-1), b.reshape(-1)
    p = addition_properties(tokens)
    total = a + b
    assert bool(p["well_formed"].all())
    assert torch.equal(p["F1"], a // 100) and torch.equal(p["S1"], b // 100)
    assert torch.equal(p["F1S1"], torch.minimum(a // 100, b // 100) * 10 + torch.maximum(a // 100, b // 100))
    assert torch.equal(p["C2"], (a % 100 + b % 100 >= 100).long())
    first = torch.where(total >= 1000, torch.ones_like(total), total // 100)
    assert torch.equal(p["A1"], first)
    edge = (a == 105) & (b == 195)  # 5 + 5 = 10 and 0 + 9 + 1 = 10: both carries, at their thresholds
    assert int(p["C2"][edge]) == 1 and int(p["A1"][(a == 500) & (b == 500)]) == 1  # 1000 exactly


def test_cumulative_patching_at_every_step_equals_one_patched_run() -> None:
    """Every intermediate value, not only the two ends: the k-th is one run with the first k components patched,
    two of them at one site (positions 1 and 5 of attn0.0), built here by hand."""
    from helpers.inversion.patching import cumulative_patching, logit_difference

    model = _model()
    original = addition_tokens(torch.tensor([123]), torch.tensor([456]))[0]
    contrast = addition_tokens(torch.tensor([923]), torch.tensor([486]))[0]
    components = [("attn0.0", 1), ("attn0.1", 6), ("attn0.0", 5), ("mlp0", 7)]
    lds = cumulative_patching(model, original, contrast, components, 8, 5, 4)
    _, cache = model(contrast[None], cache=["attn0.0", "attn0.1", "mlp0"])
    masks = {site: torch.zeros(14, dtype=torch.bool) for site in ("attn0.0", "attn0.1", "mlp0")}
    expected = [logit_difference(model(original[None])[0], 8, 5, 4)]
    for site, at in components:
        masks[site][at] = True
        used = {s: m.clone() for s, m in masks.items() if m.any()}
        logits, _ = model(original[None], patch={s: cache[s] for s in used}, patch_at=used)
        expected.append(logit_difference(logits, 8, 5, 4))
    assert len(lds) == 5 and lds == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert len(set(round(v, 6) for v in lds)) == 5  # every step moves it: the test would see a skipped one


def _parts(text: str) -> tuple[str, str, int]:
    """'B<letters>|<target>:<count>E' as (letters, target, count)."""
    body, rest = text[1:].split("|")
    target, count = rest.rstrip("E").split(":")
    return body, target, int(count)


def test_counting_variants_differ_from_the_original_in_their_one_property_only() -> None:
    from collections import Counter

    from helpers.inversion.constructed import counting_variants

    variants = counting_variants(200, gen(11))
    seen_counts = set()
    for original, more, shuffled, renamed in zip(*(getattr(variants, f) for f in variants._fields)):
        body, target, count = _parts(decode(COUNTING, original))
        assert count == body.count(target) and 1 <= count <= 8 and len(set(body)) == 3
        others = sorted(Counter(body)[c] for c in set(body) - {target})
        assert 1 <= others[0] and others[1] <= 9 and (others[0] >= 2 or others[1] >= 2)
        seen_counts.add(count)
        m_body, m_target, m_count = _parts(decode(COUNTING, more))
        assert (m_target, m_count, len(m_body)) == (target, count + 1, len(body))
        changed = [i for i, (x, y) in enumerate(zip(body, m_body)) if x != y]  # one letter, another into the target
        assert len(changed) == 1 and body[changed[0]] != target and m_body[changed[0]] == target
        s_body, s_target, s_count = _parts(decode(COUNTING, shuffled))
        assert (s_target, s_count, Counter(s_body)) == (target, count, Counter(body))
        r_body, r_target, r_count = _parts(decode(COUNTING, renamed))
        assert r_target not in body and r_count == count and r_body == body.replace(target, r_target)
    assert seen_counts == set(range(1, 9))
    with pytest.raises(ValueError) as refused:
        counting_variants(0, gen(0))
    assert str(refused.value) == "n must be a positive int, got 0"


def test_pair_distances_of_a_pair_written_out() -> None:
    from helpers.inversion.constructed import counting_variants, pair_distances

    torch.manual_seed(5)
    model = ProbedTransformer(COUNTING.size, COUNTING.length, 16, 2, 2, 32).eval()
    v = counting_variants(4, gen(3))
    colon = COUNTING.vocab.index(":")
    d = pair_distances(model, v.original, v.shuffled, "resid_post0", -1)
    for i in range(4):
        at = int((v.original[i] == colon).nonzero()[0, 0])
        za = model(v.original[i : i + 1], cache=["resid_post0"])[1]["resid_post0"][0, at - 1]
        zb = model(v.shuffled[i : i + 1], cache=["resid_post0"])[1]["resid_post0"][0, at - 1]
        assert float(d[i]) == pytest.approx(float((za - zb).norm() / za.norm()), rel=1e-5)
    assert torch.equal(pair_distances(model, v.original, v.original, "mlp1", 0), torch.zeros(4))
    with pytest.raises(ValueError) as refused:
        pair_distances(model, v.original, v.more[[1, 0, 2, 3]], "mlp1", 0)
    assert str(refused.value) == "a and b must be batches of problems with one ':' each, at the same positions"


def test_preimage_html_as_the_viewer_shows_it() -> None:
    """Rows sorted by distance (ties in the given order), a distance exactly at ε inside, one rule, bars clipped at
    4ε, shades capped at ±1 in blue and red, characters after E and padding left out, the title escaped; at most
    ``rows`` rows (snapshot: tests/snapshots/inversion_preimage.html)."""
    from helpers.inversion.viewer import preimage_html
    from tests.figure_snapshot import check_text_snapshot

    tokens = addition_tokens(torch.tensor([615, 600, 111, 450, 999]), torch.tensor([861, 800, 222, 549, 999]))
    tokens[2, 13] = 7  # garbage after E: not shown
    distance = torch.tensor([0.3, 0.1, 0.0, 0.1, 2.0])
    shading = torch.linspace(-1.5, 1.5, 5 * 14).reshape(5, 14)
    shading[3] = torch.linspace(0.5, 1.5, 14)  # a shown row that goes past +1 too
    text = preimage_html(ADDITION, tokens, distance, shading=shading, rows=4, title="a < b & c")
    assert text.count("<hr") == 1 and "a &lt; b &amp; c" in text and text.count('<div style="white-space') == 4
    check_text_snapshot("inversion_preimage.html", text)
    plain = preimage_html(ADDITION, tokens[:1], distance[:1])
    assert "transparent" in plain and "<hr" in plain and "<b>" not in plain
    with pytest.raises(ValueError) as refused:
        preimage_html(ADDITION, tokens, distance, shading=shading[:, :3])
    assert str(refused.value) == "shading must have the tokens' shape (5, 14), got (5, 3)"
    with pytest.raises(ValueError) as refused:
        preimage_html(ADDITION, tokens, distance[:2])
    assert str(refused.value) == "need a non-empty batch of tokens (n, T) and distances (n,), got (5, 14) and (2,)"


# --------------------------------------------------------------------------------------------- edges and conventions


def test_reading_answer_at_its_threshold_and_on_ties() -> None:
    from helpers.inversion.exercises import reading_answer

    assert reading_answer({"F1S1": 0.5, "C2": 0.2, "A1": 0.1}) == 1  # a gain of exactly the threshold reads
    assert reading_answer({"F1S1": 0.49, "C2": 0.2, "A1": 0.1}) == 4
    assert reading_answer({"F1S1": 0.1, "C2": 0.7, "A1": 0.3}) == 2
    assert reading_answer({"F1S1": 0.1, "C2": 0.2, "A1": 0.9}) == 3
    assert reading_answer({"F1S1": 0.6, "C2": 0.6, "A1": 0.6}) == 1  # a tie goes to the first property
    assert reading_answer({"F1S1": 0.3, "C2": 0.2, "A1": 0.1}, threshold=0.3) == 1


def test_ball_keeping_of_a_ball_chosen_by_hand() -> None:
    from helpers.inversion.analysis import (
        _all_properties,
        all_addition_tokens,
        ball_keeping,
        chance_keeping,
        share_keeping,
    )

    everything = all_addition_tokens()
    query = everything[0]
    distance = torch.full((everything.shape[0],), 0.5)
    members = torch.tensor([0, 1, 900, 5000, 809999])
    distance[members] = torch.tensor([0.0, 0.05, 0.1, 0.1, 0.09])
    size, kept = ball_keeping(query, distance)
    assert size == 5 and kept == share_keeping(query, everything[members])
    assert ball_keeping(query, distance, epsilon=0.06) == (2, share_keeping(query, everything[members[:2]]))
    empty_size, empty = ball_keeping(query, distance, epsilon=0.01)
    assert empty_size == 1 and empty == share_keeping(query, everything[:1])
    none_size, none = ball_keeping(query, distance + 1)
    assert none_size == 0 and list(none) == list(chance_keeping(query)) and all(math.isnan(v) for v in none.values())
    assert len(_all_properties()["F1"]) == everything.shape[0]
    with pytest.raises(ValueError) as refused:
        ball_keeping(query, distance[:5])
    assert str(refused.value) == "distance must hold one value per problem (810000,), got (5,)"


def test_ball_sizes_count_in_the_distances_dtype_and_refuse_in_whole_sentences() -> None:
    from helpers.inversion.distance import ball_sizes

    d = torch.tensor([[0.1, 0.05, 0.3, math.inf]], dtype=torch.float32)  # float32 0.1 is a hair above 0.1
    assert ball_sizes(d, [0.1, 0.3, 1.0]).tolist() == [[2], [3], [3]]  # as in_ball counts: 0.1 ≤ ε in float32
    assert ball_sizes(d, [0.1]).tolist() == [[int(in_ball(d, 0.1).sum())]]
    for bad, message in (
        (d[0], "distances must be a floating (q, n) tensor"),
        (d.long(), "distances must be a floating (q, n) tensor"),
        ([[0.1]], "distances must be a floating (q, n) tensor"),
    ):
        with pytest.raises(ValueError) as refused:
            ball_sizes(bad, [0.1])
        assert str(refused.value) == message
    with pytest.raises(ValueError) as refused:
        ball_sizes(d, [[0.1]])
    assert str(refused.value) == (
        "distances and epsilons must not hold NaN (inf is a distance beyond every ε), and "
        "epsilons must be one-dimensional, got shape (1, 1)"
    )


def test_flip_one_letter_at_its_edges() -> None:
    from helpers.inversion.patching import flip_one_letter

    def problem(text: str) -> tuple[torch.Tensor, int]:
        tokens = encode(COUNTING, text)
        return tokens, text.index(":") + 1

    tokens, at = problem("Baab|a:2E")
    flipped = flip_one_letter(tokens, at, gen(0))
    assert decode(COUNTING, flipped) == "Baaa|a:3E"  # the one other letter becomes the target
    tokens, at = problem("Baaaaaaaaab|a:9E")  # count 9: one copy of the target becomes the other letter
    assert decode(COUNTING, flip_one_letter(tokens, at, gen(0))).endswith(":8E")
    tokens, at = problem("Baaaaaaaa|a:8E")  # no other letter: one copy cannot become another letter of the string
    with pytest.raises(ValueError) as refused:
        flip_one_letter(tokens, at, gen(0))
    assert str(refused.value) == "cannot change the count by one without changing the string's letters"
    tokens, at = problem("Bab|a:1E")
    assert decode(COUNTING, flip_one_letter(tokens, at, gen(0))) == "Baa|a:2E"
    smallest, at_5 = problem("Ba|a:1E")  # the count digit at position 5, the first it can hold: accepted, then
    with pytest.raises(ValueError, match="^cannot change the count"):  # refused for its single letter
        flip_one_letter(smallest, at_5, gen(0))
    picks = {decode(COUNTING, flip_one_letter(*problem("Babcb|a:1E"), gen(seed))) for seed in range(20)}
    assert picks == {"Baacb|a:2E", "Babab|a:2E", "Babca|a:2E"}  # any other letter may flip, drawn by the generator
    assert (
        flip_one_letter(*problem("Babcb|a:1E"), gen(3)).tolist()
        == flip_one_letter(*problem("Babcb|a:1E"), gen(3)).tolist()
    )
    for bad_at in (4, tokens.shape[0], at + 1):
        with pytest.raises(ValueError) as refused:
            flip_one_letter(tokens, bad_at, gen(0))
        assert (
            str(refused.value) == "need one counting problem (T,) and the position of its count digit (right after ':')"
        )


def test_display_subset_at_its_edges_and_reproducible_from_its_generator() -> None:
    from helpers.inversion.sampler import Samples, display_subset

    distance = torch.tensor([0.05, 0.3, 0.02, 0.2, 0.2, 0.08, 0.5, 0.2])
    inside = distance <= 0.1
    samples = Samples(torch.zeros(8, 3), distance, torch.zeros(8), inside, torch.ones(8))
    torch.manual_seed(0)
    first = display_subset(samples, rows=4, inside_share=0.5, generator=gen(5))
    torch.manual_seed(1)  # the global generator must not matter
    assert torch.equal(display_subset(samples, rows=4, inside_share=0.5, generator=gen(5)), first)
    assert distance[first].tolist() == sorted(distance[first].tolist())
    assert int(inside[first].sum()) == 2 and set(first[~inside[first]].tolist()) == {3, 4}  # ties: first in order
    assert display_subset(samples, rows=1, inside_share=1.0, generator=gen(0)).numel() == 1
    assert bool(inside[display_subset(samples, rows=1, inside_share=1.0, generator=gen(0))].all())
    assert display_subset(samples, rows=3, inside_share=0.0, generator=gen(0)).tolist() == [3, 4, 7]
    everything = display_subset(samples, rows=8, generator=gen(0))
    assert sorted(everything.tolist()) == list(range(8))
    assert everything[3:6].tolist() == [3, 4, 7]  # three equal distances keep their order
    for rows, share in ((0, 0.5), (3, 1.5), (3, -0.1)):
        with pytest.raises(ValueError) as refused:
            display_subset(samples, rows=rows, inside_share=share, generator=gen(0))
        assert str(refused.value) == f"need rows ≥ 1 and 0 ≤ inside_share ≤ 1, got {rows} and {share}"


def test_in_ball_exercise_reference_against_brute_force_and_its_inputs() -> None:
    """The reference answer of Exercise 4.1 against a loop over positions; its inputs hold an exact member, invalid
    positions that the answer must skip, and radii of three sizes."""
    from helpers.inversion.exercises import _in_ball, _in_ball_inputs

    inputs = _in_ball_inputs()
    for query, acts, valid, eps in inputs:
        distance, inside = _in_ball(query, acts, valid, eps)
        for i in range(acts.shape[0]):
            gaps = [float((acts[i, t] - query).norm() / query.norm()) for t in range(acts.shape[1]) if valid[i, t]]
            assert float(distance[i]) == pytest.approx(min(gaps), rel=1e-12, abs=1e-15)
        assert torch.equal(inside, distance <= eps) and bool(inside[0])
    assert [eps for *_, eps in inputs] == [0.1, 0.3, 1.5]
    assert all(bool(valid[:, 0].all()) for _, _, valid, _ in inputs)
    assert any(not bool(valid.all()) for _, _, valid, _ in inputs)  # some positions the answer must skip
    query, acts, valid, eps = inputs[1]
    unmasked = ((acts - query).norm(dim=-1) / query.norm()).amin(dim=1)
    assert bool((_in_ball(query, acts, valid, eps)[0] > unmasked).any())  # the mask changes some distance


def _message(call) -> str:
    with pytest.raises((TypeError, ValueError)) as refused:
        call()
    return str(refused.value)


def test_distance_helpers_refuse_in_whole_sentences() -> None:
    from helpers.inversion.distance import min_distance

    q, acts = torch.ones(3), torch.ones(2, 4, 3)
    assert _message(lambda: min_distance(torch.ones(1, 3), acts)) == "query must have 1 dimensions, got shape (1, 3)"
    assert _message(lambda: min_distance(q, torch.ones(2, 3))) == "activations must have 3 dimensions, got shape (2, 3)"
    assert _message(lambda: min_distance(q, torch.ones(0, 4, 3))) == "activations is empty (shape (0, 4, 3))"
    assert _message(lambda: min_distance(q, torch.ones(2, 4, 5))) == "activations have width 5, the query 3"
    assert _message(lambda: min_distance(torch.zeros(3), acts)) == (
        "the query activation is zero: a distance relative to its norm is undefined"
    )
    assert _message(lambda: min_distance(q, acts, torch.ones(2, 3, dtype=torch.bool))) == (
        "valid must have shape (2, 4), got (2, 3)"
    )
    assert min_distance(q, torch.ones(2, 1, 3))[0].tolist() == [0.0, 0.0]  # one position each is enough
    for bad in (True, 0, -0.1, math.inf, "0.1"):
        assert (
            _message(lambda: in_ball(torch.zeros(2), bad)) == f"epsilon must be a positive finite number, got {bad!r}"
        )


def test_analysis_helpers_refuse_in_whole_sentences() -> None:
    from helpers.inversion.analysis import addition_properties, prior_next_token_probs, share_keeping

    for fn in (addition_properties, prior_next_token_probs):
        assert _message(lambda: fn(torch.zeros(2, 13, dtype=torch.long))) == "tokens must be (n, 14), got (2, 13)"
        assert _message(lambda: fn(torch.zeros(14, dtype=torch.long))) == "tokens must be (n, 14), got (14,)"
    malformed = encode(ADDITION, "B015+861=876E")[None]
    assert _message(lambda: share_keeping(malformed[0], malformed)) == "no well-formed sample to read"


def _problem_of(text: str) -> int:
    """The row of a prompt 'Babc+def=' among the 810,000 problems, or -1, read as a person would."""
    if len(text) < 9 or text[0] != "B" or text[4] != "+" or text[8] != "=":
        return -1
    a, b = text[1:4], text[5:8]
    if not (a.isdigit() and b.isdigit()) or a[0] == "0" or b[0] == "0":
        return -1
    return (int(a) - 100) * 900 + int(b) - 100


def test_problem_index_of_malformed_and_well_formed_sequences() -> None:
    from helpers.inversion.analysis import problem_index, problem_index_of_operands

    texts = [
        "B100+100=200E",
        "B999+999=1998E",
        "B615+861=1476E",
        "B615+861=1477E",
        "B015+861=876E",
        "B615+061=676E",
        "B615=861+1476E",
        "+615+861=1476E",
        "B615+861+1476E",
        "B6E5+861=1476E",
        "B615+8B1=1476E",
        "B615+86=1476EE",
        "B615+861=1476B",
    ]
    tokens = torch.stack([encode(ADDITION, t) for t in texts])
    expected = [_problem_of(t) for t in texts]
    assert problem_index_of_operands(tokens).tolist() == expected
    answers_right = [-1 if t in ("B615+861=1477E", "B615+861=1476B") else e for t, e in zip(texts, expected)]
    assert problem_index(tokens).tolist() == answers_right


def test_prior_next_token_probs_against_counting_the_problems() -> None:
    """p(x_t | x_<t) under the uniform distribution over the 810,000 problems, counted here prefix by prefix."""
    from helpers.inversion.analysis import all_addition_tokens, prior_next_token_probs

    everything = all_addition_tokens()
    texts = [
        "B615+861=1476E",
        "B100+900=1000E",
        "B999+999=1998E",
        "B615+861=1477E",
        "B015+861=876E",
        "B6E5+861=1476E",
        "B6B5+861=1476E",
        "B615+86B=1476E",
    ]
    tokens = torch.stack([encode(ADDITION, t) for t in texts])
    probs = prior_next_token_probs(tokens)
    for row, seq in zip(probs, tokens):
        alive = torch.ones(everything.shape[0], dtype=torch.bool)
        for t in range(1, 14):
            before = int(alive.sum())
            alive &= everything[:, t] == seq[t]
            expected = int(alive.sum()) / before if before else 0.0
            assert float(row[t - 1]) == pytest.approx(expected, abs=1e-6), (t, seq)
            if not before:
                break


def test_counting_variants_come_from_their_generator_alone_and_span_their_ranges() -> None:
    from collections import Counter

    from helpers.inversion.constructed import counting_variants

    torch.manual_seed(0)
    first = counting_variants(300, gen(2))
    torch.manual_seed(1)  # the global generator must not matter
    again = counting_variants(300, gen(2))
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    other_counts, third_counts = set(), set()
    for original, more in zip(first.original, first.more):
        text = decode(COUNTING, original)
        assert text.startswith("B") and text.endswith("E")
        body, target, _ = _parts(text)
        flipped = next(x for x, y in zip(body, _parts(decode(COUNTING, more))[0]) if x != y)  # the 'other' letter
        third = (set(body) - {target, flipped}).pop()
        other_counts.add(Counter(body)[flipped])
        third_counts.add(Counter(body)[third])
    assert other_counts == set(range(2, 10)) and third_counts == set(range(1, 10))


def test_logit_difference_and_resample_digits_by_hand() -> None:
    from helpers.inversion.patching import logit_difference, resample_digits

    logits = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(1, 6, 5) ** 1.5
    assert logit_difference(logits, 2, 4, 1) == pytest.approx(float(logits[0, 2, 4] - logits[0, 2, 1]))
    always = lambda *args: True  # noqa: E731
    for place, scale in ((0, 100), (1, 10), (2, 1)):
        seen_a, seen_b = set(), set()
        g = gen(place)
        for _ in range(200):
            a2, b2 = resample_digits(615, 861, place, always, g)
            assert a2 - (a2 // scale % 10) * scale == 615 - (615 // scale % 10) * scale  # only that place changes
            assert b2 - (b2 // scale % 10) * scale == 861 - (861 // scale % 10) * scale
            seen_a.add(a2 // scale % 10)
            seen_b.add(b2 // scale % 10)
        low = 1 if place == 0 else 0  # a hundreds digit is never 0
        assert seen_a == seen_b == set(range(low, 10)), place
    torch.manual_seed(0)
    one = resample_digits(615, 861, 1, always, gen(9))
    torch.manual_seed(1)
    assert resample_digits(615, 861, 1, always, gen(9)) == one  # from its generator alone
    wanted = lambda a, b, a2, b2: (a2 + b2) // 1000 != (a + b) // 1000  # noqa: E731
    a2, b2 = resample_digits(115, 161, 0, wanted, gen(0))
    assert a2 + b2 >= 1000
    assert _message(lambda: resample_digits(615, 861, 0, lambda *x: False, gen(0), tries=5)) == (
        "no resampling of place 0 of 615 + 861 satisfies the condition in 5 tries"
    )
    assert _message(lambda: resample_digits(615, 861, 3, always, gen(0))) == "place must be 0, 1 or 2, got 3"
    assert _message(lambda: resample_digits(615, 861, -1, always, gen(0))) == "place must be 0, 1 or 2, got -1"


def test_patch_exercise_reference_equals_one_patched_run() -> None:
    from helpers.inversion.exercises import _patch, _patch_inputs
    from helpers.inversion.patching import logit_difference

    for model, original, contrast, site, at, position, a, b in _patch_inputs():
        _, cache = model(contrast[None], cache=[site])
        mask = torch.zeros(original.shape[0], dtype=torch.bool)
        mask[at] = True
        logits, _ = model(original[None], patch={site: cache[site]}, patch_at={site: mask})
        assert _patch(model, original, contrast, site, at, position, a, b) == pytest.approx(
            logit_difference(logits, position, a, b), rel=1e-6, abs=1e-6
        )
        assert not torch.equal(original, contrast)


@torch.no_grad()
def test_exact_distances_equal_a_full_forward_pass_even_with_sharp_attention(monkeypatch) -> None:
    """The prefix-sharing pass against the model's own forward pass on every problem, with attention scores of
    several tens (weights scaled up): a softmax that is not shifted by each row's own largest score overflows."""
    from helpers.inversion import analysis
    from helpers.inversion.distance import min_distance
    from helpers.inversion.sampler import valid_positions

    problems = _hundreds(3, seed=7)
    monkeypatch.setattr(analysis, "all_addition_tokens", lambda: problems)
    model = _model()
    for w in model.W_QKV:
        w[:2].mul_(6.0)  # queries and keys: scores grow 36-fold
    sites = ["resid_pre0", "attn1.0", "resid_post1"]
    query = addition_tokens(torch.tensor([615]), torch.tensor([861]))[0]
    _, cache_q = model(query[None], cache=sites)
    _, cache = model(problems, cache=sites)
    valid = valid_positions(problems, ADDITION)
    scores = (
        model.ln1[0](cache["resid_pre0"])
        @ model.W_QKV[0][0, 0]
        @ (model.ln1[0](cache["resid_pre0"]) @ model.W_QKV[0][1, 0]).transpose(1, 2)
    )
    assert float(scores.abs().max()) / math.sqrt(model.d_head) > 30  # sharp indeed
    exact = analysis.exact_distances(model, query, 5, sites, chunk=100)
    for site in sites:
        brute, _ = min_distance(cache_q[site][0, 5], cache[site], valid)
        assert torch.allclose(exact[site], brute, rtol=1e-5, atol=1e-6), site


def test_task_helpers_at_their_edges_and_refusals() -> None:
    train, test = addition_problems()
    assert (len(train), len(test)) == (607_500, 202_500)  # a quarter held out by default, seed 0
    same_train, same_test = addition_problems(0.25, 0)
    assert torch.equal(train, same_train) and torch.equal(test, same_test)
    for bad in (0, 1, 1.5):
        assert _message(lambda: addition_problems(bad)) == (
            f"test_fraction must lie strictly between 0 and 1, got {bad}"
        )
    tokens, at = counting_batch(1, gen(0))  # one problem is a batch
    assert tokens.shape == (1, COUNTING.length) and tokens.dtype == torch.long and at.shape == (1,)
    assert _message(lambda: counting_batch(0, gen(0))) == "n must be positive, got 0"
    assert encode(ADDITION, "B1+1=2E").dtype == torch.long
    assert _message(lambda: encode(ADDITION, "B" + "1" * 20)) == (
        f"{'B' + '1' * 20!r} has 21 characters, more than the 14 of {ADDITION.name}"
    )


def test_chapter_4_loaders_ask_the_cache_for_their_own_recipe(monkeypatch) -> None:
    """Each loader names its cache, config, training function, tolerances and chaotic rule (which matter when it
    trains) and hands back a model that is read-only and in eval mode."""
    from helpers.inversion import decoder as inv_decoder
    from helpers.inversion import probed
    from tests.cache_spy import spy_on_load_or_train

    asked = spy_on_load_or_train(monkeypatch, probed, inv_decoder)
    model_b, _ = probed.load_counting_model()
    assert asked.pop() == (
        "inversion_counting_model",
        probed.COUNTING_CONFIG,
        probed.train_counting_model,
        probed.COUNTING_TOLERANCES,
        probed.COUNTING_CHAOTIC,
    )
    model_a, _ = probed.load_addition_model()
    assert asked.pop() == (
        "inversion_addition_model",
        probed.ADDITION_CONFIG,
        probed.train_addition_model,
        probed.ADDITION_TOLERANCES,
        probed.ADDITION_CHAOTIC,
    )
    decoder, _, _ = inv_decoder.load_addition_decoder()
    assert asked[-1] == (
        "inversion_addition_decoder",
        inv_decoder.DECODER_CONFIG,
        inv_decoder.train_addition_decoder,
        inv_decoder.DECODER_TOLERANCES,
        inv_decoder.DECODER_CHAOTIC,
    )
    for module in (model_a, model_b, decoder):
        assert not module.training and not any(p.requires_grad for p in module.parameters())


def test_probed_model_tokens_and_decoder_refuse_in_whole_sentences() -> None:
    assert decode(ADDITION, addition_tokens(torch.tensor([100, 999]), torch.tensor([999, 100]))[1]) == "B999+100=1099E"
    for a, b in (([99], [100]), ([1000], [100]), ([100], [99]), ([100], [1000])):
        assert _message(lambda: addition_tokens(torch.tensor(a), torch.tensor(b))) == "operands must lie in 100–999"
    assert _message(lambda: addition_tokens(torch.tensor([100, 101]), torch.tensor([100]))) == (
        "a and b must be 1-d of one shape, got (2,) and (1,)"
    )
    assert _message(lambda: addition_tokens(torch.tensor([[100]]), torch.tensor([[100]]))) == (
        "a and b must be 1-d of one shape, got (1, 1) and (1, 1)"
    )
    model = _model()
    one = addition_tokens(torch.tensor([615]), torch.tensor([861]))
    assert model(one[:, :1])[0].shape == (1, 1, ADDITION.size)  # one token is a sequence
    for bad in (one[0], one[:, :0], torch.cat([one, one], dim=1)):
        assert _message(lambda: model(bad)) == f"tokens must be (n, T) with T ≤ 14, got shape {tuple(bad.shape)}"
    _, cache = model(one, cache=["mlp0"])
    assert _message(lambda: model(one, patch={"mlp0": cache["mlp0"]}, patch_at={"mlp0": torch.ones(3)})) == (
        "patch_at for mlp0 must be (14,) booleans"
    )
    decoder = _decoder(2)
    z, site = torch.zeros(1, decoder.d_act), torch.zeros(1, dtype=torch.long)
    assert _message(lambda: decoder(torch.zeros(1, 20, dtype=torch.long), z, site)) == (
        f"tokens must be (n, T) with T ≤ {decoder.length}, got (1, 20)"
    )
    assert _message(lambda: decoder(one[:, :3], torch.zeros(2, decoder.d_act), site)) == (
        f"need z (n, {decoder.d_act}) and site (n,) for n = 1, got (2, {decoder.d_act}) and (1,)"
    )
    assert _message(lambda: decoder(one[:, :3], z, torch.zeros(2, dtype=torch.long))) == (
        f"need z (n, {decoder.d_act}) and site (n,) for n = 1, got (1, {decoder.d_act}) and (2,)"
    )
