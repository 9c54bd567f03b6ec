"""helpers.lenses: chapter 5's model is the mod-add transformer with a bilinear MLP, and its cache computes the sum."""

from __future__ import annotations

import torch

from helpers.lenses.model import LENS_CONFIG, load_lens_model
from helpers.lib import modadd


def test_lens_model_differs_from_chapter_3_only_in_its_mlp_and_steps():
    differing = {k for k in LENS_CONFIG if LENS_CONFIG[k] != modadd.MODADD_CONFIG.get(k)}
    assert differing == {"mlp", "steps"} and LENS_CONFIG["mlp"] == "bilinear"


def test_cached_lens_model_adds_modulo_p_on_pairs_it_never_saw():
    model, tokens, labels = load_lens_model()
    assert model.mlp_kind == "bilinear" and not hasattr(model, "b_in")
    _, test = modadd.split_pairs(LENS_CONFIG["p"], LENS_CONFIG["train_fraction"], LENS_CONFIG["split_seed"])
    a, b = tokens[test, 0], tokens[test, 1]
    assert torch.equal(labels[test], (a + b) % LENS_CONFIG["p"])  # the labels are the sums, computed here again
    assert float((model(tokens[test]).argmax(-1) == (a + b) % LENS_CONFIG["p"]).double().mean()) >= 0.99


# --- the lens helpers, on small models with answers computed by hand or by brute force ------------------------------

import math

import pytest

from helpers.degeneracy.behaviour import output_jacobian
from helpers.lenses import bilinear_lens, network, preimages
from helpers.lenses import decoder as lens_decoder
from helpers.lenses import exercises as lens_exercises
from helpers.lib.modadd import ModAddTransformer


@pytest.fixture(scope="module")
def tiny():
    """An untrained bilinear mod-7 transformer in float64, with all 49 inputs."""
    torch.manual_seed(0)
    model = ModAddTransformer(7, 8, 2, 6, mlp="bilinear").double().requires_grad_(False)
    tokens, _ = modadd.pairs(7)
    return model, tokens


def test_class_matrix_of_one_unit_is_the_hand_computed_outer_product():
    model = ModAddTransformer(3, 2, 1, 1, mlp="bilinear").double().requires_grad_(False)
    with torch.no_grad():
        model.W_in.copy_(torch.tensor([[1.0], [0.0]]))  # w = e0
        model.V_in.copy_(torch.tensor([[0.0], [2.0]]))  # v = 2 e1
        model.W_out.copy_(torch.tensor([[1.0, -1.0]]))
        model.W_U.copy_(torch.tensor([[1.0, 0.0, 3.0], [0.0, 1.0, 0.0]]))
    # (W_out W_U)[0] = (1, −1, 3); ½ (w vᵀ + v wᵀ) = [[0, 1], [1, 0]]
    expected = torch.tensor([1.0, -1.0, 3.0])[:, None, None] * torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert torch.allclose(bilinear_lens.class_matrices(model), expected.double(), atol=1e-15)


def test_logit_parts_add_up_to_the_models_logits(tiny):
    model, tokens = tiny
    mid = model.node_activations(tokens)[1][:, 0]
    linear, quadratic = bilinear_lens.logit_parts(model, mid)
    assert torch.allclose(linear + quadratic, model(tokens), atol=1e-12)
    with pytest.raises(ValueError, match="must be"):
        bilinear_lens.logit_parts(model, mid[:, :3])
    for chunk in (1, 10):  # the quadratic part a few rows at a time is the quadratic part of all 49 at once
        by_chunk = bilinear_lens.logit_parts(model, mid, chunk=chunk)[1]
        assert torch.allclose(by_chunk, quadratic, rtol=0, atol=1e-12)  # float64 rounding at most
    with pytest.raises(ValueError, match="chunk"):
        bilinear_lens.logit_parts(model, mid, chunk=0)


def test_fourier_matrix_of_a_wave_over_the_classes_is_p_over_two_times_it():
    p, w0 = 11, 3
    m = torch.randn(4, 4, dtype=torch.float64)
    c = torch.arange(p, dtype=torch.float64)
    q = torch.cos(2 * math.pi * w0 * c / p)[:, None, None] * m  # Q_c = cos(2π w0 c / p) M
    assert torch.allclose(bilinear_lens.fourier_matrix(q, w0), p / 2 * m, atol=1e-12)  # Σ cos² = p/2
    assert torch.allclose(bilinear_lens.fourier_matrix(q, 4), torch.zeros(4, 4, dtype=torch.float64), atol=1e-12)
    assert bilinear_lens.fourier_matrix(q, w0, "sin").abs().max() < 1e-12  # Σ cos·sin = 0
    with pytest.raises(ValueError, match="frequency"):
        bilinear_lens.fourier_matrix(q, 6)


def test_frequency_power_and_dominant_frequency_of_known_waves():
    p = 13
    t = torch.arange(p, dtype=torch.float64)
    values = 3 * torch.cos(2 * math.pi * 5 * t / p) + torch.sin(2 * math.pi * 2 * t / p) + 7  # constant ignored
    power = bilinear_lens.frequency_power(values)
    assert torch.allclose(power[[4, 1]], torch.tensor([0.9, 0.1], dtype=torch.float64), atol=1e-12)  # 9 : 1
    assert bilinear_lens.dominant_frequency(values)[0] == 5


def test_key_frequencies_of_planted_waves():
    model = ModAddTransformer(13, 4, 1, 2, mlp="bilinear").double().requires_grad_(False)
    c = torch.arange(13, dtype=torch.float64)
    with torch.no_grad():
        model.W_out.copy_(torch.eye(2, 4, dtype=torch.float64))
        model.W_U.zero_()
        model.W_U[0] = torch.cos(2 * math.pi * 3 * c / 13)  # unit 0 writes frequency 3, power 1
        model.W_U[1] = 2 * torch.cos(2 * math.pi * 6 * c / 13)  # unit 1 frequency 6, power 4
    assert bilinear_lens.key_frequencies(model, share=0.5) == [6]
    assert bilinear_lens.key_frequencies(model, share=0.95) == [6, 3]


def test_token_readout_through_the_heads_equals_a_loop_over_heads(tiny):
    model, _ = tiny
    u = torch.randn(8, dtype=torch.float64)
    attention = torch.tensor([0.3, 0.7], dtype=torch.float64)
    by_hand = sum(attention[h] * model.W_E[:7] @ model.W_V[h] @ model.W_O[h] @ u for h in range(2))
    assert torch.allclose(bilinear_lens.token_readout(model, u, attention), by_hand, atol=1e-12)
    assert torch.allclose(bilinear_lens.token_readout(model, u), model.W_E[:7] @ u)


def test_attention_pattern_reproduces_the_attention_output(tiny):
    model, tokens = tiny
    pattern = bilinear_lens.attention_pattern(model, tokens)  # (49, 2, 3)
    x = model.embed(tokens)
    values = torch.einsum("nsd,hde->nhse", x, model.W_V)
    out = x[:, -1] + torch.einsum("nhs,nhse,hed->nd", pattern, values, model.W_O)
    assert torch.allclose(out, model.node_activations(tokens)[1][:, 0], atol=1e-12)


def test_exact_preimage_of_three_points_by_hand():
    acts = torch.tensor([[1.0, 0.0], [1.05, 0.0], [0.0, 1.0]], dtype=torch.float64)
    distance, ball = preimages.exact_preimage(acts, acts[0], 0.1)
    assert torch.allclose(distance, torch.tensor([0.0, 0.05, math.sqrt(2)], dtype=torch.float64))
    assert ball.tolist() == [True, True, False]


def test_site_activations_follow_the_bilinear_layer(tiny):
    model, tokens = tiny
    acts = preimages.site_activations(model, tokens)
    x = acts["resid_mid"]
    assert torch.allclose(acts["hidden"], (x @ model.W_in) * (x @ model.V_in))
    assert torch.allclose(acts["pre_unembed"], x + acts["hidden"] @ model.W_out, atol=1e-12)
    assert torch.allclose(acts["logits"], model(tokens), atol=1e-12)


def test_frequency_projector_is_the_projector_onto_the_two_waves(tiny):
    model, _ = tiny
    proj = preimages.frequency_projector(model, 2)
    c = torch.arange(7, dtype=torch.float64)
    wave = model.W_U @ torch.sin(2 * math.pi * 2 * c / 7)
    assert torch.allclose(proj @ wave, wave, atol=1e-12)  # the wave is in the span
    cosine = model.W_U @ torch.cos(2 * math.pi * 2 * c / 7)
    assert torch.allclose(proj @ cosine, cosine, atol=1e-12)  # and so is its cosine twin
    assert torch.allclose(proj @ proj, proj, atol=1e-12) and torch.allclose(proj, proj.T)
    assert abs(float(torch.trace(proj)) - 2) < 1e-12


def test_offset_similarity_by_hand():
    sim = preimages.offset_similarity([1, 2], 5)
    expected = torch.tensor([math.cos(2 * math.pi * d / 5) + math.cos(4 * math.pi * d / 5) for d in range(5)])
    assert torch.allclose(sim, expected.double())
    assert float(sim[0]) == 2
    weighted = preimages.offset_similarity([1, 2], 5, [3.0, 0.5])
    assert torch.allclose(
        weighted,
        torch.tensor(
            [3 * math.cos(2 * math.pi * d / 5) + 0.5 * math.cos(4 * math.pi * d / 5) for d in range(5)],
            dtype=torch.float64,
        ),
    )


def test_offset_similarity_ranks_offsets_as_the_distances_of_planted_logit_waves():
    """Logits built as waves of (c − s): the offsets ranked by similarity are the offsets ranked by true distance."""
    p, freqs, amps = 17, [3, 5], [2.0, 1.0]
    c = torch.arange(p, dtype=torch.float64)
    logits = torch.stack(
        [sum(a * torch.cos(2 * math.pi * w * (c - s) / p) for w, a in zip(freqs, amps)) for s in range(p)]
    )  # (sums, classes)
    distance = (logits - logits[0]).norm(dim=1)  # from sum 0 to every sum δ
    sim = preimages.offset_similarity(freqs, p, [a**2 for a in amps])
    assert torch.allclose(distance**2, p * (sum(a**2 for a in amps) - sim), atol=1e-10)


def test_distances_equal_the_direct_formula():
    g = torch.Generator().manual_seed(0)
    acts = torch.randn(30, 5, generator=g, dtype=torch.float64)
    queries = acts[[2, 7]] + 1e-9
    direct = (queries[:, None] - acts[None]).norm(dim=-1) / queries.norm(dim=1, keepdim=True)
    assert torch.allclose(preimages.distances(acts, queries), direct, rtol=1e-12, atol=1e-15)


def test_flat_network_computes_the_models_log_probabilities(tiny):
    model, tokens = tiny
    f, w = network.flat_network(model)
    assert w.numel() == sum(t.numel() for t in model.parameters())
    assert torch.allclose(f(w, tokens.double()), model(tokens).log_softmax(-1), atol=1e-12)


def test_symmetries_applied_by_hand_leave_the_outputs_unchanged(tiny):
    """The symmetries themselves, as finite moves written here (not the tangent code)."""
    model, tokens = tiny
    f, w = network.flat_network(model)
    before = f(w, tokens.double())
    moved = ModAddTransformer(7, 8, 2, 6, mlp="bilinear").double().requires_grad_(False)
    moved.load_state_dict(model.state_dict())
    a = torch.randn(4, 4, dtype=torch.float64) + 3 * torch.eye(4, dtype=torch.float64)
    with torch.no_grad():
        moved.W_Q[1] = moved.W_Q[1] @ a
        moved.W_K[1] = moved.W_K[1] @ torch.linalg.inv(a).T
        moved.W_V[0] = moved.W_V[0] @ a
        moved.W_O[0] = torch.linalg.inv(a) @ moved.W_O[0]
        moved.W_in[:, 2] *= 3.0
        moved.W_out[2] /= 3.0
        moved.W_U += torch.randn(8, 1, dtype=torch.float64)  # one vector added to every column
        shift = torch.randn(8, dtype=torch.float64)
        moved.W_E[7] += shift
        moved.W_pos[2] -= shift
        moved.W_E[:7] += shift
        moved.W_pos[:2] -= shift
    f_moved, w_moved = network.flat_network(moved)
    assert torch.allclose(f_moved(w_moved, tokens.double()), before, atol=1e-10)


@pytest.fixture(scope="module")
def small():
    """An untrained bilinear mod-13 model (d 8, 2 heads of 4, 6 units): more classes than residual dimensions and a
    bilinear layer with fewer parameters than quadratic forms, so the data add no degeneracy of their own."""
    torch.manual_seed(1)
    model = ModAddTransformer(13, 8, 2, 6, mlp="bilinear").double().requires_grad_(False)
    return model, modadd.pairs(13)[0]


def test_symmetry_family_sizes_by_hand():
    # d = 8, h = 2, e = 4, m = 6: 64 + 64 + 2·(64 − 8) + 2·16 + 12 + 24 + 2·(4 − 2)
    assert network.symmetry_family_sizes(8, 2, 6) == {
        "residual basis": 64,
        "embedding basis": 64,
        "query-key": 112,
        "value-output": 32,
        "bilinear rescaling": 12,
        "shifts": 24,
        "values against =": 4,
    }
    assert network.symmetry_count(13, 8, 2, 6) == 312
    assert network.symmetry_family_sizes(16, 4, 32)["values against ="] == 0  # heads of 4 with 4 heads: none
    assert network.symmetry_count(113, 64, 4, 256) == 17_904  # the lens model
    # one head of 8: every family but 'values against =' as above, and 1·(8 − 1) of those
    assert network.symmetry_family_sizes(8, 1, 6) == {
        "residual basis": 64,
        "embedding basis": 64,
        "query-key": 120,
        "value-output": 64,
        "bilinear rescaling": 12,
        "shifts": 24,
        "values against =": 7,
    }
    with pytest.raises(ValueError) as refused:
        network.symmetry_family_sizes(8, 0, 6)
    assert str(refused.value) == "d_model (8) must be a positive multiple of n_heads (0)"
    with pytest.raises(ValueError, match="multiple"):
        network.symmetry_family_sizes(10, 3, 4)


def test_every_family_is_flat_and_together_they_span_the_measured_null_space(small):
    """Each family's tangents leave every log-probability unchanged to first order; they are independent; and their
    number is the measured nullity of the Jacobian of all p² · p log-probabilities (nothing left unexplained)."""
    model, tokens = small
    f, w = network.flat_network(model)
    tangents = network.symmetry_tangents(model)
    jac = output_jacobian(f, w, tokens.double(), chunk=64).T  # (P, 13³)
    assert jac.shape == (w.numel(), 13**3)
    scale = float(jac.abs().max())
    for family, t in tangents.items():
        assert t.shape == (network.symmetry_family_sizes(8, 2, 6)[family], w.numel()), family
        assert float((t @ jac).abs().max()) < 1e-10 * scale, family
    union = torch.cat(list(tangents.values()))
    nullity, above, below = network.jacobian_nullity(torch.linalg.svdvals(jac), w.numel())
    assert nullity == int(torch.linalg.matrix_rank(union)) == union.shape[0] == 312
    assert above > 1e-9 and below < 1e-13  # a clean gap at a random point
    random = torch.randn(w.numel(), 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert float((random.T @ jac).abs().max()) > 1e-3 * scale


def test_values_against_equals_needs_every_part_of_its_formula(small):
    """The seventh family's move, rebuilt here without the normaliser's term or without moving c, is not flat: each
    part of the formula is needed (the family is not an artefact of a loose tolerance)."""
    model, tokens = small
    f, w = network.flat_network(model)
    t = network.symmetry_tangents(model)["values against ="][0]
    jvp = lambda d: float(torch.func.jvp(lambda v: f(v, tokens.double()), (w,), (d,))[1].abs().max())  # noqa: E731
    assert jvp(t) < 1e-12 * jvp(torch.randn_like(w))
    sizes = {name: p.numel() for name, p in model.named_parameters()}
    start = 0
    parts = {}
    for name, size in sizes.items():
        parts[name] = slice(start, start + size)
        start += size
    numbers = t[parts["W_E"]].reshape(14, 8)[:13]
    constant_only = t.clone()
    constant_only[parts["W_E"]] = torch.cat(
        [numbers.mean(0).expand(13, 8), t[parts["W_E"]].reshape(14, 8)[13:]]
    ).reshape(-1)
    without_c = t.clone()
    for name in ("W_pos", "W_K"):
        without_c[parts[name]] = 0
    without_c[parts["W_E"]] = torch.cat([numbers, torch.zeros(1, 8, dtype=t.dtype)]).reshape(-1)
    for broken in (constant_only, without_c):
        assert jvp(broken) > 1e-6 * jvp(torch.randn_like(w))


def test_jacobian_nullity_finds_the_largest_step_down():
    s = torch.tensor([2.0, 1.0, 1e-3, 1e-4, 1e-17, 0.0], dtype=torch.float64)
    assert network.jacobian_nullity(s, 8) == (4, 5e-5, 5e-18)  # rank 4: the step from 1e-4 to 1e-17, 2 columns more
    assert network.jacobian_nullity(s.flip(0), 6)[0] == 2  # order does not matter
    for bad, size in ((torch.tensor([1.0]), 3), (torch.tensor([0.0, 0.0]), 2), (torch.ones(4), 3)):
        with pytest.raises(ValueError):
            network.jacobian_nullity(bad, size)


def test_output_jacobian_in_chunks_equals_autograd(tiny):
    model, tokens = tiny
    f, w = network.flat_network(model)
    expected = torch.func.jacrev(lambda v: f(v, tokens[:5].double()).reshape(-1))(w)  # (5·7, P)
    assert torch.allclose(output_jacobian(f, w, tokens[:5].double(), chunk=7), expected, atol=1e-12)
    with pytest.raises(ValueError, match="chunk"):
        output_jacobian(f, w, tokens[:5].double(), chunk=0)


def test_symmetry_tangents_refuse_the_relu_model():
    with pytest.raises(ValueError) as refused:
        network.symmetry_tangents(ModAddTransformer(7, 8, 2, 6))
    assert str(refused.value) == ("the symmetries are those of the bilinear model (the ReLU MLP has other symmetries)")


def test_a_family_of_no_directions_is_an_empty_matrix():
    """Heads as wide as their number (e = h = 2): no 'values against =' direction, an empty (0, P) matrix."""
    torch.manual_seed(4)
    model = ModAddTransformer(7, 4, 2, 3, mlp="bilinear").double().requires_grad_(False)
    tangents = network.symmetry_tangents(model)
    size = sum(p.numel() for p in model.parameters())
    assert {k: tuple(t.shape) for k, t in tangents.items()} == {
        k: (n, size) for k, n in network.symmetry_family_sizes(4, 2, 3).items()
    }
    assert tangents["values against ="].shape == (0, size) and tangents["values against ="].dtype == torch.float64


def test_jacobian_nullity_of_two_singular_values_and_its_refusals():
    assert network.jacobian_nullity(torch.tensor([1.0, 1e-12]), 5) == (4, 1.0, pytest.approx(1e-12))
    assert network.jacobian_nullity(torch.tensor([1.0, 0.0]), 3) == (2, 1.0, pytest.approx(1e-18))  # floor 1e-18
    for values, size in (([1.0], 5), ([0.0, 0.0], 5), ([1.0, 0.5, 0.1], 2)):
        with pytest.raises(ValueError) as refused:
            network.jacobian_nullity(torch.tensor(values), size)
        assert str(refused.value) == (
            "need at least two singular values, the largest positive, and no more than the columns"
        )


def test_key_frequencies_default_to_95_percent_of_the_power(tiny):
    model, _ = tiny
    assert bilinear_lens.key_frequencies(model) == bilinear_lens.key_frequencies(model, 0.95)


def test_chapter_5_loaders_ask_the_cache_for_their_own_recipe(monkeypatch):
    """Each loader names its cache, config, training function, tolerances and chaotic rule (which matter when it
    trains), and hands back a read-only model in eval mode."""
    from helpers.lenses import model as lens_model
    from tests.cache_spy import spy_on_load_or_train

    asked = spy_on_load_or_train(monkeypatch, lens_decoder)
    twin, tokens, labels = lens_model.load_twin_model()
    assert asked.pop() == (
        "lens_twin_bilinear",
        lens_model.TWIN_CONFIG,
        modadd.train_modadd,
        lens_model.TWIN_TOLERANCES,
        lens_model.TWIN_CHAOTIC,
    )
    assert not twin.training and not any(p.requires_grad for p in twin.parameters()) and twin.W_E.dtype == torch.float64
    assert tokens.shape == (29 * 29, 3) and torch.equal(labels, (tokens[:, 0] + tokens[:, 1]) % 29)
    decoder, _ = lens_decoder.load_lens_decoder()
    assert asked.pop() == (
        "lens_decoder",
        lens_decoder.LENS_DECODER_CONFIG,
        lens_decoder.train_lens_decoder,
        lens_decoder.LENS_DECODER_TOLERANCES,
        lens_decoder.LENS_DECODER_CHAOTIC,
    )
    assert not any(p.requires_grad for p in decoder.parameters())


def test_decoder_sequences_put_the_equals_token_first():
    tokens = torch.tensor([[3, 4, 7], [0, 6, 7]])
    assert lens_decoder.decoder_sequences(tokens, 7).tolist() == [[7, 3, 4], [7, 0, 6]]


def test_exercise_references_pass_their_own_checks():
    lens_exercises.exercise_fourier_matrix.check(lambda q, w: bilinear_lens.fourier_matrix(q, w))
    lens_exercises.exercise_preimage.check(lambda a, q, e: preimages.exact_preimage(a, q, e))
    lens_exercises.exercise_key_frequencies.check(lambda: 4)


def test_symmetry_direction_is_a_combination_of_one_familys_tangents(small):
    model, _ = small
    tangents = network.symmetry_tangents(model)
    for family in (None, "embedding basis", "values against ="):
        direction = network.symmetry_direction(model, torch.Generator().manual_seed(3), family)
        span = torch.cat(list(tangents.values())) if family is None else tangents[family]  # (k, P)
        coefficients = torch.linalg.lstsq(span.T, direction[:, None]).solution
        assert float((span.T @ coefficients - direction[:, None]).norm()) < 1e-10 * float(direction.norm())
        # and exactly the combination whose coefficients the generator draws, family after family
        g = torch.Generator().manual_seed(3)
        drawn = torch.cat(
            [
                torch.randn(t.shape[0], generator=g, dtype=torch.float64)
                for name, t in tangents.items()
                if family in (None, name) and t.shape[0]
            ]
        )
        assert float((span.T @ drawn - direction).norm()) < 1e-10 * float(direction.norm())
    with pytest.raises(ValueError, match="family"):
        network.symmetry_direction(model, torch.Generator(), "rotations")


def test_logits_with_the_models_own_pattern_are_its_logits_and_a_one_hot_pattern_by_hand(small):
    model, tokens = small
    pattern = bilinear_lens.attention_pattern(model, tokens)
    assert torch.allclose(bilinear_lens.logits_with_pattern(model, tokens, pattern), model(tokens), atol=1e-12)
    on_a = torch.zeros_like(pattern)
    on_a[..., 0] = 1.0  # every head reads only the first operand
    x = model.W_E[tokens] + model.W_pos  # (n, 3, d)
    mid = x[:, 2] + torch.einsum("nd,hde,hef->nf", x[:, 0], model.W_V, model.W_O)
    by_hand = (mid + ((mid @ model.W_in) * (mid @ model.V_in)) @ model.W_out) @ model.W_U
    assert torch.allclose(bilinear_lens.logits_with_pattern(model, tokens, on_a), by_hand, atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        bilinear_lens.logits_with_pattern(model, tokens, pattern[:, :1])


def test_the_twins_nullity_stops_moving_at_1244():
    """Chapter 5 reads the twin's nullity on 192 training inputs; with 256, at the trained weights and at the
    chapter's random point, it is the same 1,244 that the seven families give."""
    from helpers.lenses.model import TWIN_CONFIG, load_twin_model

    twin, tokens, _ = load_twin_model()
    train, _ = modadd.split_pairs(TWIN_CONFIG["p"], TWIN_CONFIG["train_fraction"], TWIN_CONFIG["split_seed"])
    torch.manual_seed(1)
    random_twin = modadd.build_model(TWIN_CONFIG).double().requires_grad_(False)
    derived = network.symmetry_count(**{k: TWIN_CONFIG[k] for k in ("p", "d_model", "n_heads", "d_mlp")})
    for net, n_inputs in ((twin, 256), (random_twin, 256)):
        f, w = network.flat_network(net)
        jac = output_jacobian(f, w, tokens[train[:n_inputs]].double(), chunk=256)
        jac = jac / jac.norm(dim=0)  # each parameter's column to unit length
        nullity, above, below = network.jacobian_nullity(torch.linalg.svdvals(jac), w.numel())
        assert nullity == derived == 1244 and above > 1e-13 and below < 1e-14


def test_the_count_formula_is_the_measured_nullity_at_other_sizes():
    """Three heads of width 4 (one 'values against =' direction each), at a random point, on all 23² inputs: the
    formula the chapter carries to the lens model matches a measurement at sizes it was not derived on."""
    torch.manual_seed(2)
    model = ModAddTransformer(23, 12, 3, 16, mlp="bilinear").double().requires_grad_(False)
    f, w = network.flat_network(model)
    jac = output_jacobian(f, w, modadd.pairs(23)[0].double(), chunk=256)
    jac = jac / jac.norm(dim=0)
    nullity, above, below = network.jacobian_nullity(torch.linalg.svdvals(jac), w.numel())
    assert nullity == network.symmetry_count(23, 12, 3, 16) == 288 + 252 + 48 + 32 + 36 + 3
    assert above > 1e-10 and below < 1e-14


def test_the_cached_lens_decoder_reproduces_its_held_out_losses_from_the_cache():
    """The decoder's metrics are recomputed here from the cached weights with the recipe's own draw, written out
    independently (the same generator calls, the sites stacked by hand), and its first-operand guesses are the
    argmax of its logits; at resid_mid its guesses of a beat chance (1/p) twentyfold (measured: 26 %)."""
    from helpers.checkpoints import read_manifest

    decoder, metrics = lens_decoder.load_lens_decoder()
    assert metrics == read_manifest()["lens_decoder"]["metrics"] and not decoder.training
    model, tokens, _ = load_lens_model()
    acts = preimages.site_activations(model, tokens)
    p = LENS_CONFIG["p"]
    _, test = modadd.split_pairs(p, LENS_CONFIG["train_fraction"], LENS_CONFIG["split_seed"])
    g = torch.Generator().manual_seed(1)
    chosen = test[torch.randint(0, test.shape[0], (2048,), generator=g)]
    site = torch.randint(0, 2, (2048,), generator=g)
    z = torch.where((site == 0)[:, None], acts["resid_mid"][chosen], acts["pre_unembed"][chosen]).float()
    seq = torch.cat([torch.full((2048, 1), p), tokens[chosen, :2]], dim=1)
    shuffled = torch.randperm(2048, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for name, zz in (("eval_loss", z), ("shuffled_eval_loss", z[shuffled])):
            loss = torch.nn.functional.cross_entropy(
                decoder(seq[:, :-1], zz, site).reshape(-1, p + 1), seq[:, 1:].reshape(-1)
            )
            assert float(loss) == pytest.approx(metrics[name], rel=1e-4), name
        first = decoder(seq[:, :1], z, site)[:, 0].argmax(-1)
    tensors = {k: v.clone() for k, v in decoder.state_dict().items()}
    guesses = lens_decoder.lens_decoder_predictions(tensors, lens_decoder.LENS_DECODER_CONFIG)
    assert torch.equal(guesses, first)
    at_mid = site == 0
    assert float((first[at_mid] == tokens[chosen[at_mid], 0]).double().mean()) > 20 / p


def _refusal(call) -> str:
    with pytest.raises((TypeError, ValueError)) as refused:
        call()
    return str(refused.value)


def test_lens_helpers_refuse_bad_input_in_whole_sentences_and_accept_their_edges(tiny):
    model, _ = tiny  # p = 7, d = 8, two heads
    relu = ModAddTransformer(7, 8, 2, 6).double()
    t = torch.ones
    assert _refusal(lambda: bilinear_lens.class_matrices(relu)) == (
        f"the bilinear lens needs the bilinear MLP, this model's is {relu.mlp_kind!r}"
    )
    assert (
        _refusal(lambda: bilinear_lens.dominant_frequency(t(2, 2))) == "values must have 1 dimensions, got shape (2, 2)"
    )
    assert _refusal(lambda: bilinear_lens.frequency_power("w")) == "values must be a torch.Tensor, got str"
    q = t(7, 3, 3, dtype=torch.float64)
    assert _refusal(lambda: bilinear_lens.fourier_matrix(t(2, 2), 1)) == "q must have 3 dimensions, got shape (2, 2)"
    assert _refusal(lambda: bilinear_lens.fourier_matrix(q, 4)) == "frequency must be an int in 1 … 3, got 4"
    assert _refusal(lambda: bilinear_lens.fourier_matrix(q, 1, "tan")) == "phase must be 'cos' or 'sin', got 'tan'"
    assert bilinear_lens.fourier_matrix(q, 3).shape == (3, 3)  # the highest frequency p // 2 is allowed
    for share, told in ((0, "0"), (1.5, "1.5")):
        assert _refusal(lambda: bilinear_lens.key_frequencies(model, share)) == f"share must be in (0, 1], got {told}"
    assert sorted(bilinear_lens.key_frequencies(model, 1.0)) == [1, 2, 3]  # all the power needs every frequency
    assert _refusal(lambda: bilinear_lens.logit_parts(model, t(4, 8, 1, dtype=torch.float64))) == (
        "x must have 2 dimensions, got shape (4, 8, 1)"
    )
    assert _refusal(lambda: bilinear_lens.logit_parts(model, t(4, 8, dtype=torch.float64), chunk=True)) == (
        "chunk must be a positive int, got True"
    )
    direction = t(7, dtype=torch.float64)
    assert _refusal(lambda: bilinear_lens.token_readout(model, t(7, 1))) == (
        "direction must have 1 dimensions, got shape (7, 1)"
    )
    assert _refusal(lambda: bilinear_lens.token_readout(model, direction, t(2, 1))) == (
        "attention must have 1 dimensions, got shape (2, 1)"
    )
    assert _refusal(lambda: bilinear_lens.token_readout(model, direction, t(3))) == (
        "attention needs one weight per head (2), got 3"
    )
    acts = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert _refusal(lambda: preimages.distances(t(5), t(2, 4))) == "activations must have 2 dimensions, got shape (5,)"
    assert _refusal(lambda: preimages.distances(acts, t(4))) == "queries must have 2 dimensions, got shape (4,)"
    assert _refusal(lambda: preimages.distances(acts, t(2, 3))) == "queries have width 3, the activations 4"
    assert _refusal(lambda: preimages.exact_preimage(t(5), t(4), 0.1)) == (
        "activations must have 2 dimensions, got shape (5,)"
    )
    assert (
        _refusal(lambda: preimages.exact_preimage(acts, t(1, 4), 0.1))
        == "query must have 1 dimensions, got shape (1, 4)"
    )
    assert _refusal(lambda: preimages.exact_preimage(acts, t(3), 0.1)) == "query has width 3, the activations 4"
    for bad in (4, 0, 1.0):
        assert _refusal(lambda: preimages.frequency_projector(model, bad)) == (
            f"frequency must be an int in 1 … 3, got {bad!r}"
        )
    assert float(torch.trace(preimages.frequency_projector(model, 1))) == pytest.approx(2.0)
    assert float(torch.trace(preimages.frequency_projector(model, 3))) == pytest.approx(2.0)
    for bad in ([], [4], [1.0]):
        assert (
            _refusal(lambda: preimages.offset_similarity(bad, 7)) == f"frequencies must be ints in 1 … 3, got {bad!r}"
        )
    assert (
        _refusal(lambda: preimages.offset_similarity([1, 2], 7, [1.0])) == "need one weight per frequency, got 1 for 2"
    )


def test_exact_preimage_uses_the_epsilon_it_is_given():
    acts = torch.tensor([[1.0, 0.0], [1.0, 0.5], [1.0, 2.0]], dtype=torch.float64)
    distance, inside = preimages.exact_preimage(acts, torch.tensor([1.0, 0.0], dtype=torch.float64), 0.5)
    assert distance.tolist() == [0.0, 0.5, 2.0] and inside.tolist() == [True, True, False]  # 0.5 ≤ ε: inside


def test_frequency_power_is_computed_in_float64_over_the_last_axis():
    values = torch.cos(2 * math.pi * 2 * torch.arange(7.0) / 7)  # float32 in
    power = bilinear_lens.frequency_power(values)
    assert power.dtype == torch.float64 and int(power.argmax()) == 1  # frequency 2


def test_exercise_inputs_have_the_properties_the_exercises_need():
    """5.1: symmetric interaction tensors (a bilinear layer's Q is symmetric) with a frequency in 1 … p // 2; 5.3:
    an empty ε-ball, a ball of exactly one input, and a ball of several but not all (measured: 0, 1 and 15 of 50)."""
    for q, w in lens_exercises._fourier_inputs():
        assert q.ndim == 3 and q.shape[1] == q.shape[2] and torch.equal(q, q.transpose(1, 2))
        assert 1 <= w <= q.shape[0] // 2 and q.dtype == torch.float64
    sizes = []
    for acts, query, eps in lens_exercises._preimage_inputs():
        sizes.append(int((preimages.distances(acts, query[None])[0] <= eps).sum()))
        assert query.dtype == acts.dtype == torch.float64
    assert sizes[:2] == [0, 1] and 1 < sizes[2] < 50
