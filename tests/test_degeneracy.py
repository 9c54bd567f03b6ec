"""Known-answer tests of helpers.degeneracy: volume scaling, the behavioural loss and Gauss–Newton, exact counts of
free directions, and the SGLD estimator of the local learning coefficient."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers.degeneracy.behaviour import behavioural_loss, gauss_newton, n_eff
from helpers.degeneracy.counts import MLP, firing_on_half, free_directions, gapped_inputs
from helpers.degeneracy.sgld import estimate_llc
from helpers.degeneracy.volume import loglog_slope, product, separable, separable_lambda, volume_fraction

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- volume scaling


def test_volume_of_a_disc_is_pi_r_squared() -> None:
    """K = w₁² + w₂² < ε is a disc of area π ε; the box [−1, 1]² has area 4."""
    fraction = volume_fraction(separable([2, 2]), 2, [0.01, 0.1], n_samples=400_000, generator=gen(0))
    assert np.allclose(fraction, np.pi * np.array([0.01, 0.1]) / 4, rtol=0.05)


@pytest.mark.parametrize(("powers", "theory"), [([2], 0.5), ([4], 0.25), ([2, 2], 1.0), ([4, 2], 0.75)])
def test_loglog_slope_recovers_separable_lambda(powers: list[int], theory: float) -> None:
    eps = np.logspace(-3, -1, 5)
    slope = loglog_slope(eps, volume_fraction(separable(powers), len(powers), eps, n_samples=400_000, generator=gen(1)))
    assert separable_lambda(powers) == theory
    assert abs(slope - theory) < 0.05


def test_product_potential_scales_with_a_log_correction() -> None:
    """w₁² w₂²: λ = 1/2 with multiplicity 2, so the fitted slope sits a little below 1/2, far from the regular 1."""
    eps = np.logspace(-4, -2, 5)
    slope = loglog_slope(eps, volume_fraction(product([2, 2]), 2, eps, n_samples=400_000, generator=gen(2)))
    assert 0.3 < slope < 0.5


def test_volume_helpers_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="even"):
        separable([3])
    with pytest.raises(ValueError):
        volume_fraction(separable([2]), 1, [0.0])
    with pytest.raises(ValueError, match="zero volume"):
        loglog_slope([0.1, 0.2], [0.0, 0.1])


# ---------------------------------------------------------------- behavioural loss and Gauss–Newton


def test_behavioural_loss_is_zero_at_w_star_and_by_hand_elsewhere() -> None:
    net, x = MLP(3, 4, 2), torch.randn(20, 3, generator=gen(3), dtype=F64)
    w = net.random(gen(4))
    assert behavioural_loss(net, w, w, x) == 0
    moved = w.clone()
    moved[-1] += 0.5  # the last output bias: every output 1 moves by 0.5
    assert math.isclose(float(behavioural_loss(net, moved, w, x)), 0.25, rel_tol=1e-12)


def test_gauss_newton_equals_the_autograd_hessian_at_w_star() -> None:
    net, x = MLP(3, 5, 2), torch.randn(30, 3, generator=gen(5), dtype=F64)
    w_star = net.random(gen(6))
    hessian = torch.autograd.functional.hessian(lambda v: behavioural_loss(net, v, w_star, x), w_star)
    gn = gauss_newton(net, w_star, x)
    assert (gn - hessian).abs().max() <= 1e-10 * hessian.abs().max()
    for chunk_size in (1, 7, 30):  # uneven chunks too; each chunk's JᵀJ summed, then one 2/n for all
        chunked = gauss_newton(net, w_star, x, chunk_size=chunk_size)
        assert (chunked - hessian).abs().max() <= 1e-10 * hessian.abs().max()
    with pytest.raises(ValueError, match="chunk_size"):
        gauss_newton(net, w_star, x, chunk_size=0)


def test_n_eff_counts_curvatures_above_the_scale() -> None:
    h = torch.tensor([10.0, 1.0, 0.1, 0.0], dtype=F64)
    assert [n_eff(h, eps) for eps in (1e-3, 0.02, 0.2, 10.0)] == [3, 3, 2, 0]
    with pytest.raises(ValueError):
        n_eff(h, 0.0)


def test_n_eff_in_a_box_other_than_one_and_exactly_at_the_threshold() -> None:
    """h counts when 2ε/h < box², strictly: with box 2 the threshold is ε/2 (a box of 1 hides box² against 1/box², or
    a 2 against a 3), and a curvature exactly on it does not count; bad arguments are named in the message."""
    h = torch.tensor([4.0, 1.0, 0.25, 0.1], dtype=F64)
    assert n_eff(h, 0.5, box=2.0) == 2  # threshold 2 · 0.5 / 4 = 0.25: 4 and 1 count, 0.25 sits on it, 0.1 below
    assert n_eff(h, 0.5, box=0.5) == 0  # threshold 2 · 0.5 / 0.25 = 4: 4.0 sits on it and does not count
    assert n_eff(torch.tensor([4.0 + 1e-9], dtype=F64), 0.5, box=0.5) == 1
    assert n_eff(h, 2.0, box=1.0) == 0  # threshold 4, on the largest curvature
    with pytest.raises(ValueError, match=r"^eps and box must be positive, got 0.5 and 0.0$"):
        n_eff(h, 0.5, box=0.0)
    with pytest.raises(ValueError, match=r"^curvatures must have 1 dimensions"):
        n_eff(h[None], 0.5)


# ---------------------------------------------------------------- exact counts of free directions

NET = MLP(4, 6, 3)  # d = 51 parameters; a generic ReLU network keeps one free rescaling per hidden neuron


def _setup(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Generator]:
    g = gen(seed)
    x = torch.randn(400, 4, generator=g, dtype=F64)
    return x, firing_on_half(NET, NET.random(g), x), g


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generic_network_has_one_free_rescaling_per_neuron(seed: int) -> None:
    x, w, _ = _setup(seed)
    assert free_directions(NET, w, x) == 6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_type_1_inputs_on_a_plane(seed: int) -> None:
    """[x, 1] spans 3 of 5 dimensions: each of the 6 neurons' incoming weights gains 2 free directions."""
    _, w, g = _setup(seed)
    x = torch.randn(400, 2, generator=g, dtype=F64) @ torch.randn(2, 4, generator=g, dtype=F64)
    assert free_directions(NET, firing_on_half(NET, w, x), x) == 6 + 2 * 6


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_type_2_a_readout_of_low_rank(seed: int, rank: int) -> None:
    """Only R f(x) counts, R of rank r < 3: each of the 3 − r unread output directions frees W2's row and b2 (7
    each)."""
    x, w, g = _setup(seed)
    readout = torch.randn(rank, 3, generator=g, dtype=F64)
    assert free_directions(NET, w, x, readout=readout) == 6 + (3 - rank) * 7


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_dead_neuron_frees_all_its_weights(seed: int) -> None:
    """5 live rescalings + the dead neuron's 4 + 1 incoming and 3 outgoing weights."""
    x, w, _ = _setup(seed)
    w1, b1, w2, b2 = (t.clone() for t in NET.unflatten(w))
    b1[0] = -100.0
    assert free_directions(NET, MLP.flatten(w1, b1, w2, b2), x) == 5 + 8


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_type_3_always_on_group_is_a_linear_layer(seed: int, k: int) -> None:
    """k always-on neurons act as one linear map: k² extra free directions."""
    x, w, _ = _setup(seed)
    w1, b1, w2, b2 = (t.clone() for t in NET.unflatten(w))
    b1[:k] = 100.0
    assert free_directions(NET, MLP.flatten(w1, b1, w2, b2), x) == 6 + k * k


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [2, 3])
def test_type_3_synchronised_neurons_mix(seed: int, k: int) -> None:
    """k neurons with one firing set: any invertible mixing A keeps the function, k² − k beyond the rescalings."""
    _, w, g = _setup(seed)
    normal = torch.randn(4, generator=g, dtype=F64)
    normal = normal / normal.norm()
    x = gapped_inputs(400, normal, 0.3, 1.0, g)
    w = firing_on_half(NET, w, x)
    assert free_directions(NET, w, x) == 6  # the gap alone synchronises nothing
    w1, b1, w2, b2 = (t.clone() for t in NET.unflatten(w))
    w1[:k] = normal + 0.05 * torch.randn(k, 4, generator=g, dtype=F64)
    b1[:k] = 0.3 + 0.05 * torch.randn(k, generator=g, dtype=F64)
    assert free_directions(NET, MLP.flatten(w1, b1, w2, b2), x) == 6 + k * k - k


def test_firing_on_half_centres_every_neuron() -> None:
    x, w, _ = _setup(0)
    z = NET.pre_activations(w, x)
    assert torch.all((z > 0).double().mean(0) == 0.5)  # 400 inputs: exactly 200 on each side
    assert (z.abs() > 1e-9).all()  # and none on the kink, where the Jacobian would depend on rounding


def test_type_3_mixing_keeps_the_behaviour_exactly_until_a_sign_flips() -> None:
    g = gen(7)
    normal = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=F64)
    x = gapped_inputs(200, normal, 0.0, 1.0, g)
    w1, b1, w2, b2 = (t.clone() for t in NET.unflatten(NET.random(g)))
    w1[:2], b1[:2] = torch.tensor([[1.0, 0, 0, 0], [1.0, 0.1, 0, 0]], dtype=F64), 0.0
    w_star = MLP.flatten(w1, b1, w2, b2)

    def mixed(t: float) -> torch.Tensor:
        a = torch.tensor([[1.0, t], [0.0, 1.0]], dtype=F64)  # exp(t E₁₂)
        v1, v2 = w1.clone(), w2.clone()
        v1[:2] = a @ w1[:2]
        v2[:, :2] = w2[:, :2] @ torch.linalg.inv(a)
        return MLP.flatten(v1, b1, v2, b2)

    assert float(behavioural_loss(NET, mixed(0.3), w_star, x)) < 1e-20
    assert float(behavioural_loss(NET, mixed(-3.0), w_star, x)) > 1e-3  # neuron 0 now fires on the other side


# ---------------------------------------------------------------- SGLD estimate of the learning coefficient


def _llc(powers: list[int], seed: int) -> float:
    k = separable(powers)
    estimate = estimate_llc(
        lambda w: 0.5 * k(w[None])[0],
        torch.zeros(len(powers), dtype=F64),
        n_beta=1000 / math.log(1000),
        step=1e-3,
        chains=8,
        draws=400,
        burnin=400,
        generator=gen(seed),
    )
    return estimate.mean


def test_sgld_llc_orders_and_calibrates_on_known_potentials() -> None:
    """λ = 1/4, 1/2, 1 for [4], [2], [2, 2] (the recipe of devinterp's calibration example)."""
    quartic, quadratic, two = _llc([4], 0), _llc([2], 0), _llc([2, 2], 0)
    assert quartic < quadratic < two
    assert abs(quadratic - 0.5) < 0.1 and abs(two - 1.0) < 0.2 and abs(quartic - 0.25) < 0.1


def test_sgld_one_step_by_hand() -> None:
    """One step with no noise would be w − (ε/2)(nβ ∇L + γ(w − w*)); with noise it differs only by √ε ξ."""
    loss = lambda w: (w**2).sum()  # noqa: E731
    w_star = torch.tensor([1.0, -2.0], dtype=F64)
    est = estimate_llc(
        loss, w_star, n_beta=10.0, step=0.01, localization=3.0, chains=1, draws=3, burnin=0, generator=gen(0)
    )
    g = gen(0)
    xi1, xi2 = (torch.randn(1, 2, generator=g, dtype=F64)[0] for _ in range(2))
    w1 = w_star - 0.005 * (10.0 * 2 * w_star) + 0.1 * xi1  # at w*, the localisation term is zero
    w2 = w1 - 0.005 * (10.0 * 2 * w1 + 3.0 * (w1 - w_star)) + 0.1 * xi2
    assert np.allclose(est.trace[0], [float(loss(w)) for w in (w_star, w1, w2)], rtol=1e-12)
    assert math.isclose(est.per_chain[0], 10.0 * (est.trace[0].mean() - 5.0), rel_tol=1e-12)


def test_sgld_rejects_bad_arguments_and_reports_divergence() -> None:
    loss = lambda w: (w**2).sum()  # noqa: E731
    w = torch.zeros(2, dtype=F64)
    for bad in ({"step": 0.0}, {"step": float("nan")}, {"n_beta": -1.0}, {"localization": -1.0}, {"chains": 0}):
        with pytest.raises(ValueError):
            estimate_llc(loss, w, **{"n_beta": 1.0, "step": 1e-3, **bad})
    with pytest.raises(FloatingPointError, match="step size"):
        estimate_llc(
            lambda v: (v**4).sum(), w + 1, n_beta=100.0, step=10.0, chains=2, draws=50, burnin=0, generator=gen(0)
        )


def test_sgld_on_batches_uses_step_ts_batch_and_the_given_init_loss() -> None:
    """A loss on minibatches: step t sees batches(t) (asked for in order, shared by the chains), the draws record the
    loss on their own step's batch, and λ̂ subtracts the init_loss given, not a batch's loss at w*."""
    data = torch.tensor([1.0, 2.0, 4.0], dtype=F64)
    loss = lambda w, rows: ((w[0] - data[rows]) ** 2).mean()  # noqa: E731
    asked = []

    def batches(t: int) -> torch.Tensor:
        asked.append(t)
        return torch.tensor([t % 3])

    w_star = torch.tensor([0.5], dtype=F64)
    est = estimate_llc(
        loss,
        w_star,
        n_beta=2.0,
        step=0.01,
        chains=2,
        draws=3,
        burnin=2,
        generator=gen(0),
        batches=batches,
        init_loss=0.25,
    )
    assert asked == [0, 1, 2, 3, 4]
    g, w = gen(0), w_star.expand(2, 1).clone()
    expected = []
    for t in range(5):
        target = data[t % 3]
        values, grads = (w[:, 0] - target) ** 2, 2 * (w - target)
        expected.append(values)
        w = w - 0.005 * (2.0 * grads) + 0.1 * torch.randn(w.shape, generator=g, dtype=F64)
    assert np.allclose(est.trace, torch.stack(expected[2:], dim=1).numpy(), rtol=1e-12)
    assert np.allclose(est.per_chain, 2.0 * (est.trace.mean(axis=1) - 0.25), rtol=1e-12)
    assert est.init_loss == 0.25


def test_sgld_on_the_whole_data_as_a_batch_is_the_full_batch_estimate() -> None:
    x = torch.linspace(-1, 1, 7, dtype=F64)
    full = lambda w: ((w[0] * x + w[1] - x**2) ** 2).mean()  # noqa: E731
    by_rows = lambda w, rows: ((w[0] * x[rows] + w[1] - x[rows] ** 2) ** 2).mean()  # noqa: E731
    w_star = torch.tensor([0.0, 0.4], dtype=F64)
    settings = dict(n_beta=20.0, step=1e-3, localization=5.0, chains=3, draws=20, burnin=5)
    a = estimate_llc(full, w_star, generator=gen(3), **settings)
    b = estimate_llc(
        by_rows, w_star, generator=gen(3), batches=lambda t: torch.arange(7), init_loss=float(full(w_star)), **settings
    )
    assert np.allclose(a.trace, b.trace, rtol=1e-12) and math.isclose(a.mean, b.mean, rel_tol=1e-12)


def test_sgld_batches_and_init_loss_come_together() -> None:
    w = torch.zeros(2, dtype=F64)
    with pytest.raises(ValueError, match="init_loss"):
        estimate_llc(lambda v, rows: (v**2).sum(), w, n_beta=1.0, step=1e-3, batches=lambda t: None)
    with pytest.raises(ValueError, match="init_loss"):
        estimate_llc(lambda v: (v**2).sum(), w, n_beta=1.0, step=1e-3, init_loss=0.0)
    with pytest.raises(ValueError, match="not finite"):
        estimate_llc(
            lambda v, rows: (v**2).sum(), w, n_beta=1.0, step=1e-3, batches=lambda t: None, init_loss=float("inf")
        )


# ---------------------------------------------------------------- the Interaction Basis is blind to types 1 and 2


def _mlp_graphs(model: torch.nn.Sequential, x: torch.Tensor) -> tuple[list[torch.Tensor], dict]:
    from helpers import lib

    with torch.no_grad():
        h1 = torch.relu(model.fc0(x))
        h2 = torch.relu(model.fc1(h1))
        acts = [x, h1, h2, model.fc2(h2)]
    # the Interaction Basis: LIB's construction with the network output as the Jacobian target
    return acts, lib.interaction_graphs(acts, lib.mlp_sections(model), target="output", desc="IB")


def _copy(model: torch.nn.Sequential) -> torch.nn.Sequential:
    from helpers.models import relu_mlp

    other = relu_mlp([4, 6, 5, 3]).double()
    other.load_state_dict(model.state_dict())
    return other


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / a.abs().max())


def test_interaction_basis_is_invariant_under_type_1_and_type_2_reparameterisations() -> None:
    """Type 1: move fc0 along the null space of the inputs' Gram (inputs on a plane): no activation changes, so the
    IB and PCA graphs stay, while neuron-basis edges (gradient × activation on the raw inputs) change. Type 2: change
    the incoming weights of a hidden neuron that nothing reads: its activations change, so PCA's edges change, the
    IB's (built from output gradients) do not."""
    from helpers.models import relu_mlp

    torch.manual_seed(0)
    model = relu_mlp([4, 6, 5, 3]).double()
    g = gen(1)
    x = torch.randn(300, 2, generator=g, dtype=F64) @ torch.randn(2, 4, generator=g, dtype=F64)
    acts, before = _mlp_graphs(model, x)

    augmented = torch.cat([x, torch.ones(len(x), 1, dtype=F64)], dim=1)  # (n, 5): [x, 1] spans 3 dimensions
    null = torch.linalg.svd(augmented, full_matrices=True).Vh[3:]  # (2, 5): directions no input has
    shift = torch.randn(6, 2, generator=g, dtype=F64) @ null  # (6, 5): rows in the null space
    moved = _copy(model)
    with torch.no_grad():
        moved.fc0.weight += shift[:, :4]
        moved.fc0.bias += shift[:, 4]
    acts_moved, after = _mlp_graphs(moved, x)
    assert max(_relative(a, b) for a, b in zip(acts, acts_moved)) < 1e-12
    for method in ("lib", "pca"):
        for l in range(3):
            assert _relative(before[method].edges[l], after[method].edges[l]) < 1e-8
            assert _relative(before[method].bases[l].values, after[method].bases[l].values) < 1e-8

    def neuron_edges(m: torch.nn.Sequential) -> torch.Tensor:  # (6, 5): (∂h1_j/∂x_i · x_i)² averaged
        w = torch.cat([m.fc0.weight, m.fc0.bias[:, None]], dim=1).detach()
        fires = (m.fc0(x) > 0).to(F64)
        return ((fires[:, :, None] * w[None] * augmented[:, None, :]) ** 2).mean(0)

    assert _relative(neuron_edges(model), neuron_edges(moved)) > 0.1

    unread = _copy(model)
    with torch.no_grad():
        unread.fc2.weight[:, 0] = 0  # hidden-2 neuron 0 reaches no output: the gradients passed back skip it
    _, base = _mlp_graphs(unread, x)
    rewired = _copy(unread)
    with torch.no_grad():
        rewired.fc1.weight[0] += torch.randn(6, generator=g, dtype=F64)
        rewired.fc1.bias[0] += 0.5
    _, other = _mlp_graphs(rewired, x)
    for l in range(3):
        assert _relative(base["lib"].edges[l], other["lib"].edges[l]) < 1e-8
    assert _relative(base["pca"].edges[1], other["pca"].edges[1]) > 0.1


# ---------------------------------------------------------------- the chapter's networks and constructions


@pytest.mark.parametrize(
    ("kind", "k", "expected"),
    [
        ("generic", 1, 6),
        ("plane", 1, 18),
        ("readout", 1, 20),
        ("readout", 2, 13),
        ("dead", 1, 13),
        ("always on", 2, 10),
        ("synchronised", 2, 8),
        ("synchronised", 3, 12),
    ],
)
def test_planted_networks_have_their_hand_derived_counts(kind: str, k: int, expected: int) -> None:
    """The counts of the chapter's table, derived by hand in the test names above (one rescaling per neuron, 2·6
    for the plane, (3 − r)·7 for the readout, 5 + 8 for a dead neuron, k² always-on, k² − k synchronised)."""
    from helpers.degeneracy.counts import planted

    for seed in (3, 4):
        p = planted(kind, seed, k)
        assert free_directions(p.net, p.w, p.x, readout=p.readout) == expected


def test_planted_rejects_unknown_kinds_and_sizes() -> None:
    from helpers.degeneracy.counts import planted

    with pytest.raises(ValueError, match="kind"):
        planted("sleepy", 0)
    with pytest.raises(ValueError, match="k must"):
        planted("always on", 0, 4)


def test_extra_dead_neurons_keep_the_function_and_free_all_their_weights() -> None:
    from helpers.degeneracy.counts import with_extra_neurons

    x, w, _ = _setup(0)
    wider, w_dead = with_extra_neurons(NET, w, x, 2, gen(9), fire="never")
    assert wider.hidden == 8 and torch.allclose(wider(w_dead, x), NET(w, x), rtol=1e-12, atol=1e-12)
    assert (wider.pre_activations(w_dead, x)[:, 6:] <= -1 + 1e-9).all()  # off with a margin of 1
    assert free_directions(wider, w_dead, x) == 6 + 2 * (4 + 1 + 3)
    _, w_live = with_extra_neurons(NET, w, x, 2, gen(9), fire="half")
    fires = (wider.pre_activations(w_live, x)[:, 6:] > 0).double().mean(0)
    assert torch.allclose(fires, torch.full((2,), 0.5, dtype=F64), atol=0.01)
    assert free_directions(wider, w_live, x) == 8  # used width: just the rescalings again
    with pytest.raises(ValueError, match="fire"):
        with_extra_neurons(NET, w, x, 1, gen(0), fire="sometimes")


def test_duplicated_neurons_keep_the_function_everywhere() -> None:
    """A copy with the same incoming weights and half the outgoing ones: the same function on any input. The pair's
    16 weights reach only 3 + 5 − 1 = 7 output directions on the data (the outgoing weights times the shared
    activation, the shared incoming direction times the summed outgoing weights, less their common rescaling), so
    it has 9 free directions where the single neuron had 1; the other 5 neurons keep a rescaling each."""
    from helpers.degeneracy.counts import with_duplicated_neurons

    x, w, g = _setup(1)
    wider, w2 = with_duplicated_neurons(NET, w, [0], share=0.3)
    elsewhere = torch.randn(50, 4, generator=g, dtype=F64) * 3
    assert torch.allclose(wider(w2, elsewhere), NET(w, elsewhere), rtol=1e-12, atol=1e-12)
    assert free_directions(wider, w2, x) == 5 + (2 * (4 + 1 + 3) - (3 + 5 - 1))
    with pytest.raises(ValueError):
        with_duplicated_neurons(NET, w, [0, 0])


def test_quadratic_llc_by_hand_and_against_sgld_on_a_quadratic() -> None:
    """½ Σ nβh/(nβh + γ) by hand; with a step, the discretised chain's stationary variance 1/(a(1 − εa/4)); and a
    long SGLD run on an exact quadratic lands on it (the estimator's known answer, with the step's bias)."""
    from helpers.degeneracy.sgld import quadratic_llc

    h = torch.tensor([3.0, 1.0, 0.01, 0.0], dtype=F64)
    assert math.isclose(
        quadratic_llc(h, n_beta=50.0, localization=5.0), 0.5 * (150 / 155 + 50 / 55 + 0.5 / 5.5), rel_tol=1e-12
    )
    assert math.isclose(quadratic_llc(h, n_beta=50.0), 1.5, rel_tol=1e-12)  # no localisation: ½ per stiff direction
    a = 50.0 * h + 5.0
    by_hand = float(0.5 * (50.0 * h / (a * (1 - 0.02 * a / 4))).sum())
    assert math.isclose(quadratic_llc(h, n_beta=50.0, localization=5.0, step=0.02), by_hand, rel_tol=1e-12)
    est = estimate_llc(
        lambda w: 0.5 * (h * w * w).sum(),
        torch.zeros(4, dtype=F64),
        n_beta=50.0,
        step=0.02,
        localization=5.0,
        chains=8,
        draws=4000,
        burnin=500,
        generator=gen(0),
    )
    assert abs(est.mean - by_hand) < 3 * est.standard_error + 0.01
    assert abs(est.mean - quadratic_llc(h, n_beta=50.0, localization=5.0)) > 1.0  # the step's bias is real here
    with pytest.raises(ValueError, match="stability"):
        quadratic_llc(h, n_beta=50.0, localization=5.0, step=0.03)


def test_modular_task_halves_are_uncorrelated_and_the_block_network_stays_block_diagonal() -> None:
    from helpers.degeneracy import networks

    config = dict(networks.MODULAR_CONFIG, steps=200)
    x, y = networks.modular_task(config)
    scales = torch.tensor(config["input_scales"], dtype=F64)
    assert torch.allclose(x.T @ x / x.shape[0], torch.diag(scales**2), atol=1e-12)  # halves exactly uncorrelated
    assert torch.allclose(x.mean(0), torch.zeros(8, dtype=F64), atol=1e-12)
    state, metrics = networks.train_modular_mlp(config)
    mask = networks.block_mask(config)
    assert int(mask.sum()) == 6 * 4 * 2 + 12 + 2 * 6 * 2 + 4  # two 6×4 input blocks, biases, two 2×6 output blocks
    assert (state["w"][mask == 0] == 0).all()
    # the first outputs depend on the first half of the input only: move the second half, they stay
    net = MLP(8, 12, 4)
    moved = x.clone()
    moved[:, 4:] += 1.0
    assert torch.equal(net(state["w"], moved)[:, :2], net(state["w"], x)[:, :2])
    assert metrics["loss"] < float((y**2).sum(-1).mean())  # it learnt something


def test_flat_parameters_round_trip_through_relu_mlp() -> None:
    from helpers.degeneracy.interaction import as_relu_mlp
    from helpers.degeneracy.networks import flat_parameters

    x, w, _ = _setup(2)
    model = as_relu_mlp(NET, w)
    assert torch.allclose(model(x), NET(w, x), rtol=1e-12, atol=1e-12)
    net, w_back = flat_parameters(model.state_dict())
    assert net == NET and torch.equal(w_back, w)
    with pytest.raises(ValueError, match="one-hidden-layer"):
        flat_parameters({"fc0.weight": torch.zeros(2, 2)})


def test_top_edge_share_and_feature_modules_by_hand() -> None:
    from helpers.degeneracy.interaction import feature_modules, neuron_basis, top_edge_share
    from helpers.lib import InteractionGraph, identity_basis

    # one layer pair: 2 inputs (+ constant) → 2 outputs; the constant column is left out of the share
    edges = torch.tensor([[100.0, 4.0, 1.0], [100.0, 3.0, 2.0]], dtype=F64)
    graph = InteractionGraph(("in", "out"), (neuron_basis(2), identity_basis(2)), (edges,))
    assert math.isclose(top_edge_share(graph, 1), 0.4, rel_tol=1e-12)
    assert math.isclose(top_edge_share(graph, 2), 0.7, rel_tol=1e-12)
    labels, shares = feature_modules(neuron_basis(3), torch.tensor([0, 1, 1]))
    assert labels.tolist() == [0, 1, 1] and torch.equal(shares, torch.ones(3, dtype=F64))
    with pytest.raises(ValueError):
        top_edge_share(graph, 0)


def test_modules_recovered_by_hand() -> None:
    from helpers.degeneracy.interaction import modules_recovered, neuron_basis
    from helpers.lib import InteractionGraph, identity_basis

    graph = InteractionGraph(
        ("in", "hid", "out"),
        (neuron_basis(4), neuron_basis(2), identity_basis(2)),
        (torch.ones(3, 5, dtype=F64), torch.ones(2, 3, dtype=F64)),
    )
    inputs, outputs = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1])
    right = [{(0, 1), (0, 2), (1, 1), (2, 0)}, {(0, 3), (0, 4), (1, 2), (2, 1)}]
    mixed = [{(0, 1), (0, 3), (1, 1), (2, 0)}, {(0, 2), (0, 4), (1, 2), (2, 1)}]
    split = [{(0, 1), (1, 1)}, {(0, 2), (2, 0)}, {(0, 3), (0, 4), (1, 2), (2, 1)}]
    assert modules_recovered(right, graph, inputs, outputs)
    assert not modules_recovered(mixed, graph, inputs, outputs)
    assert not modules_recovered(split, graph, inputs, outputs)  # module 0 torn over two communities


def test_sgld_drop_mode_counts_diverged_chains_and_keeps_the_rest() -> None:
    """With on_divergence="drop" a run without divergence is the default run, draw for draw; on a quartic at a step
    where some chains blow up, those are counted and left out, the rest estimated from their own draws, while the
    default mode raises on the same run and "drop" raises once every chain has diverged."""
    quartic = lambda v: (v**4).sum()  # noqa: E731
    w = torch.zeros(1, dtype=F64)
    settings = dict(n_beta=100.0, chains=64, draws=100, burnin=0)
    calm = estimate_llc(quartic, w, step=0.01, generator=gen(0), **settings)
    kept = estimate_llc(quartic, w, step=0.01, generator=gen(0), on_divergence="drop", **settings)
    assert kept.diverged == 0 and np.array_equal(kept.trace, calm.trace) and kept.mean == calm.mean
    rough = estimate_llc(quartic, w, step=0.03, generator=gen(0), on_divergence="drop", **settings)
    assert 0 < rough.diverged < 64 and rough.trace.shape == (64 - rough.diverged, 100)
    assert np.isfinite(rough.trace).all()
    assert np.allclose(rough.per_chain, 100.0 * rough.trace.mean(axis=1), rtol=1e-12)
    assert math.isclose(rough.std, float(np.std(rough.per_chain, ddof=1)), rel_tol=1e-12)
    with pytest.raises(FloatingPointError):
        estimate_llc(quartic, w, step=0.03, generator=gen(0), **settings)
    with pytest.raises(FloatingPointError):
        estimate_llc(quartic, w + 1, step=10.0, generator=gen(0), on_divergence="drop", **settings)
    with pytest.raises(ValueError, match="on_divergence"):
        estimate_llc(quartic, w, step=0.01, on_divergence="ignore", **settings)


def test_coupled_pair_llc_against_a_two_dimensional_grid_and_its_limits() -> None:
    """nβ E[c a² b²] under exp(−nβ c a² b² − γ(a² + b²)/2): against a brute-force sum over a fine 2-D grid (an
    independent computation: no conditioning on a), 0 without coupling, nβc/γ² to first order in c (a and b then
    independent Gaussians of variance 1/γ), rising with c and staying below the asymptotic ½."""
    from helpers.degeneracy.sgld import coupled_pair_llc

    n_beta, gamma = 144.76, 10.0
    x = np.linspace(-8, 8, 2001) / math.sqrt(gamma)
    a, b = np.meshgrid(x, x)
    for c in (1.0, 10.0, 100.0):
        k = c * a * a * b * b
        weight = np.exp(-n_beta * k - gamma / 2 * (a * a + b * b))
        brute = float((n_beta * k * weight).sum() / weight.sum())
        assert math.isclose(coupled_pair_llc(c, n_beta=n_beta, localization=gamma), brute, rel_tol=1e-6)
    assert coupled_pair_llc(0.0, n_beta=n_beta, localization=gamma) == 0.0
    tiny = 1e-6
    assert math.isclose(
        coupled_pair_llc(tiny, n_beta=n_beta, localization=gamma), n_beta * tiny / gamma**2, rel_tol=1e-4
    )
    values = [coupled_pair_llc(c, n_beta=n_beta, localization=gamma) for c in (1.0, 10.0, 1e3, 1e6)]
    assert all(u < v for u, v in zip(values, values[1:])) and values[-1] < 0.5
    for bad in ({"coupling": -1.0}, {"localization": 0.0}, {"n_beta": 0.0}):
        with pytest.raises(ValueError):
            coupled_pair_llc(**{"coupling": 1.0, "n_beta": n_beta, "localization": gamma, **bad})


def test_stationary_variance_by_a_long_chain_and_its_exercise_rejects_the_plausible_wrong_answers() -> None:
    """1/(a(1 − εa/4)) against the empirical variance of a long scalar chain (an independent computation); inf at
    and beyond the limit εa = 4; and the exercise rejects 1/a, 1/(a(1 − εa/2)) and an answer that misses the limit."""
    from helpers.degeneracy.exercises import exercise_stationary_variance
    from helpers.degeneracy.sgld import stationary_variance
    from helpers.exercises import ExerciseFailed

    a, step = 300.0, 0.01  # εa = 3: the step's bias quadruples the variance
    g, t, draws = gen(1), torch.zeros(4096, dtype=F64), []
    for k in range(400):
        t = (1 - step * a / 2) * t + math.sqrt(step) * torch.randn(4096, generator=g, dtype=F64)
        if k >= 100:
            draws.append(t)
    empirical = float(torch.stack(draws).var())
    exact = float(stationary_variance(torch.tensor([a], dtype=F64), step)[0])
    assert math.isclose(exact, 4 / a, rel_tol=1e-12) and abs(empirical / exact - 1) < 0.03
    assert torch.equal(
        stationary_variance(torch.tensor([4.0, 5.0], dtype=F64), 1.0), torch.full((2,), torch.inf, dtype=F64)
    )
    assert math.isclose(float(stationary_variance(torch.tensor([2.0], dtype=F64), 0.0)[0]), 0.5, rel_tol=1e-15)
    with pytest.raises(ValueError):
        stationary_variance(torch.tensor([0.0], dtype=F64), 0.1)
    wrong = {
        "continuous time": lambda p, s: 1 / p,
        "half instead of quarter": lambda p, s: 1 / (p * (1 - s * p / 2)),
        "no limit": lambda p, s: 1 / (p * (1 - s * p / 4)),
    }
    for answer in wrong.values():
        with pytest.raises(ExerciseFailed):
            exercise_stationary_variance.check(answer)
    # the recurrence's own form, ε / (1 − (1 − εa/2)²), is 0/0 without a step: the check asks for ε = 0 too
    with pytest.raises(ExerciseFailed):
        exercise_stationary_variance.check(
            lambda p, s: torch.where(s * p < 4, s / (1 - (1 - s * p / 2) ** 2), torch.inf)
        )
    exercise_stationary_variance.check(lambda p, s: torch.where(s * p < 4, 4 / (p * (4 - s * p)), torch.inf))


def test_effective_edges_by_hand_and_a_truncated_graph_against_its_full_one() -> None:
    """(Σe)²/Σe² on the hand-made graph (edges 4, 1, 3, 2 once the constant column is left out: 100/30); N for N equal
    edges, 1 for one edge, unchanged by edges of zero strength; and a graph cut to its first features keeps exactly
    the full graph's edges among those features, its bases cut to match."""
    from helpers.degeneracy.interaction import basis_graphs, effective_edges, neuron_basis, truncated_graph
    from helpers.lib import InteractionGraph, identity_basis
    from helpers.models import relu_mlp

    def one_pair(inner: list[list[float]], d_in: int = 2) -> InteractionGraph:
        return InteractionGraph(
            ("in", "out"), (neuron_basis(d_in), identity_basis(2)), (torch.tensor(inner, dtype=F64),)
        )

    assert math.isclose(effective_edges(one_pair([[100.0, 4.0, 1.0], [100.0, 3.0, 2.0]])), 100 / 30, rel_tol=1e-12)
    assert math.isclose(effective_edges(one_pair([[0.0, 5.0, 5.0], [0.0, 5.0, 5.0]])), 4.0, rel_tol=1e-12)
    assert math.isclose(effective_edges(one_pair([[9.0, 0.0, 0.0], [9.0, 0.0, 7.0]])), 1.0, rel_tol=1e-12)
    padded = one_pair([[100.0, 4.0, 1.0, 0.0, 0.0], [100.0, 3.0, 2.0, 0.0, 0.0]], d_in=4)  # two features of no strength
    assert math.isclose(effective_edges(padded), 100 / 30, rel_tol=1e-12)

    g = gen(4)
    model = relu_mlp([5, 6, 4, 3]).double().requires_grad_(False)
    for p in model.parameters():
        p.copy_(torch.randn(p.shape, generator=g, dtype=F64))
    x = torch.randn(200, 5, generator=g, dtype=F64) @ torch.randn(5, 5, generator=g, dtype=F64)
    pca = basis_graphs(model, x)["pca"]
    cut = truncated_graph(model, x, pca, [3, 2, 2])
    assert [b.size for b in cut.bases] == [4, 3, 3, pca.bases[-1].size]
    # rows: the next layer's constant and first 2 features; columns: this layer's constant and first 3
    assert torch.allclose(cut.edges[0], pca.edges[0][:3, :4], rtol=1e-10, atol=1e-12)
    assert torch.allclose(cut.edges[2], pca.edges[2][:, :3], rtol=1e-10, atol=1e-12)
    for sizes in ([3, 2], [0, 2, 2], [3, 2, 99], [3.0, 2, 2]):
        with pytest.raises(ValueError):
            truncated_graph(model, x, pca, sizes)


def test_output_error_is_zero_for_lossless_bases_and_matches_a_hand_projection() -> None:
    """The neuron basis, full PCA and the IB keep every direction the output uses (error at rounding level); PCA cut
    to one hidden feature loses output, and exactly what a hand-written projection onto that feature loses."""
    from helpers.degeneracy.interaction import basis_graphs, output_error, truncated_graph
    from helpers.models import relu_mlp

    g = gen(8)
    model = relu_mlp([4, 5, 3]).double().requires_grad_(False)
    for p in model.parameters():
        p.copy_(torch.randn(p.shape, generator=g, dtype=F64))
    x = torch.randn(150, 4, generator=g, dtype=F64)
    graphs = basis_graphs(model, x)
    for name in ("neuron", "pca", "ib"):
        assert output_error(model, x, graphs[name]) < 1e-10, name
    cut = truncated_graph(model, x, graphs["pca"], [4, 1])  # inputs whole, the hidden layer kept to 1 feature
    hidden = torch.relu(x @ model.fc0.weight.T + model.fc0.bias)  # (150, 5)
    mean = hidden.mean(0)
    top = torch.linalg.eigh(torch.cov(hidden.T, correction=0)).eigenvectors[:, -1]  # the largest-variance direction
    projected = mean + ((hidden - mean) @ top)[:, None] * top
    out, by_hand = model(x), projected @ model.fc1.weight.T + model.fc1.bias
    expected = float((by_hand - out).abs().max() / out.abs().max())
    assert expected > 0.01 and math.isclose(output_error(model, x, cut), expected, rel_tol=1e-6)


def test_ib_edges_of_a_linear_network_are_diagonal_and_pca_edges_are_not() -> None:
    """The book's derivation: between two layers related by an invertible affine map, the whitened activations differ
    by an orthogonal map, so both layers rotate onto the same eigenvectors and the IB features are the same up to
    sign: hidden-to-hidden IB edges are diagonal, with the features' second moments Λ on the diagonal. PCA's are
    not (its features follow each layer's variances, which the weights do not map onto each other)."""
    from helpers.degeneracy.interaction import basis_graphs

    g = gen(6)
    model = torch.nn.Sequential(*(torch.nn.Linear(a, b) for a, b in ((6, 5), (5, 5), (5, 5), (5, 6)))).double()
    model.requires_grad_(False)
    for p in model.parameters():
        p.copy_(torch.randn(p.shape, generator=g, dtype=F64))
    x = torch.randn(400, 6, generator=g, dtype=F64) @ torch.randn(6, 6, generator=g, dtype=F64)
    graphs = basis_graphs(model, x)
    for l in (1, 2):  # hidden 1 → hidden 2 → hidden 3
        ib = graphs["ib"].edges[l][1:, 1:]
        assert ib.shape == (5, 5)
        assert float((ib - torch.diag(ib.diagonal())).abs().max() / ib.max()) < 1e-10
        assert torch.allclose(ib.diagonal(), graphs["ib"].bases[l].values[1:], rtol=1e-8)
        pca = graphs["pca"].edges[l][1:, 1:]
        assert float((pca - torch.diag(pca.diagonal())).abs().max() / pca.max()) > 1e-3


# ------------------------------------------------ mutation-testing survivors: boundaries, messages, special inputs


def test_gapped_inputs_is_rejection_sampling_in_batches_of_2n_and_checks_its_arguments() -> None:
    """The algorithm written out independently: draws of 2n rows from the given generator, rows inside the slab
    dropped, until n are kept; exactly n rows even when the slab rejects most draws (a wide margin over many seeds);
    n = 1 and margin = 0 are allowed, n = 0 or a negative margin not, with the message that says so."""
    normal = torch.tensor([0.6, 0.8, 0.0], dtype=F64)
    expected, g = [], gen(3)
    while sum(len(e) for e in expected) < 5:
        x = torch.randn(10, 3, generator=g, dtype=F64)
        expected.append(x[(x @ normal + 0.3).abs() >= 0.5])
    assert torch.equal(gapped_inputs(5, normal, 0.3, 0.5, gen(3)), torch.cat(expected)[:5])
    for seed in range(20):  # margin 2: about 1 draw in 20 is kept, so several batches are needed
        x = gapped_inputs(3, normal, 0.0, 2.0, gen(seed))
        assert x.shape == (3, 3) and bool(((x @ normal).abs() >= 2.0).all())
    assert gapped_inputs(1, normal, 0.0, 0.0, gen(0)).shape == (1, 3)
    with pytest.raises(ValueError, match=r"^need n ≥ 1 and margin ≥ 0, got 0 and 0.5$"):
        gapped_inputs(0, normal, 0.0, 0.5, gen(0))
    with pytest.raises(ValueError, match=r"^need n ≥ 1 and margin ≥ 0, got 3 and -0.1$"):
        gapped_inputs(3, normal, 0.0, -0.1, gen(0))
    with pytest.raises(ValueError, match=r"^normal must have 1 dimensions"):
        gapped_inputs(3, normal[None], 0.0, 0.5, gen(0))


def test_neuron_basis_exactly() -> None:
    """Feature 0 is the constant (the augmented coordinate d, weight exactly 1), feature j + 1 coordinate j; values,
    Gram values and mean in float64; kind 'neuron'; d = 1 is allowed, d = 0 not."""
    from helpers.degeneracy.interaction import neuron_basis

    for d in (1, 3):
        b = neuron_basis(d)
        expected = torch.zeros(d + 1, d + 1, dtype=F64)
        expected[d, 0] = 1.0
        expected[:d, 1:] = torch.eye(d, dtype=F64)
        assert b.kind == "neuron" and torch.equal(b.C, expected) and torch.equal(b.C_pinv, expected.T)
        for t in (b.values, b.gram_values):
            assert t.dtype == F64 and torch.equal(t, torch.ones(d + 1, dtype=F64))
        assert b.mean.dtype == F64 and torch.equal(b.mean, torch.zeros(d, dtype=F64))
        assert b.C.dtype == F64
        x = torch.arange(1.0, d + 1, dtype=F64)
        assert torch.equal(b.features(x[None]), torch.cat([torch.ones(1, dtype=F64), x])[None])
    with pytest.raises(ValueError, match=r"^d must be a positive int, got 0$"):
        neuron_basis(0)


def test_feature_modules_squares_the_weights_and_names_a_wrong_length() -> None:
    """Shares of squared weight (not doubled, not cubed) per module, the constant column skipped for a basis with one
    and kept for an identity basis; the error names the expected length."""
    from helpers.degeneracy.interaction import feature_modules
    from helpers.lib import Basis, identity_basis

    c = torch.tensor([[0.0, 3.0, 1.0], [0.0, 1.0, 2.0], [0.0, 1.0, 2.0], [1.0, 0.0, 0.0]], dtype=F64)  # 3 coords + 1
    basis = Basis(
        "lib", c, torch.linalg.pinv(c), torch.ones(3, dtype=F64), torch.zeros(3, dtype=F64), torch.ones(3, dtype=F64)
    )
    labels, shares = feature_modules(basis, torch.tensor([0, 1, 1]))
    assert labels.tolist() == [0, 1]
    assert torch.allclose(shares, torch.tensor([9 / 11, 8 / 9], dtype=F64), rtol=1e-12)
    ident = identity_basis(2)
    labels, shares = feature_modules(ident, torch.tensor([1, 0]))
    assert labels.tolist() == [1, 0] and torch.equal(shares, torch.ones(2, dtype=F64))
    narrow = Basis(
        "lib",
        c[:, :2],
        torch.linalg.pinv(c[:, :2]),
        torch.ones(2, dtype=F64),
        torch.zeros(3, dtype=F64),
        torch.ones(2, dtype=F64),
    )  # 3 coordinates, 2 features: the message counts coordinates
    with pytest.raises(ValueError, match=r"^need one module per coordinate \(3\), got shape \(2,\)$"):
        feature_modules(narrow, torch.tensor([0, 1]))


def test_modules_recovered_rejects_one_community_of_two_modules_and_reads_non_identity_outputs() -> None:
    """A single community holding both modules is not a recovery (each module in one community is not enough);
    when the last layer has a constant feature, outputs are its features 1 and 2."""
    from helpers.degeneracy.interaction import modules_recovered, neuron_basis
    from helpers.lib import InteractionGraph

    inputs, outputs = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1])
    graph = InteractionGraph(
        ("in", "hid", "out"),
        (neuron_basis(4), neuron_basis(2), neuron_basis(2)),
        (torch.ones(3, 5, dtype=F64), torch.ones(3, 3, dtype=F64)),
    )
    everything = [{(0, 1), (0, 2), (0, 3), (0, 4), (1, 1), (1, 2), (2, 1), (2, 2)}]
    assert not modules_recovered(everything, graph, inputs, outputs)
    right = [{(0, 1), (0, 2), (1, 1), (2, 1)}, {(0, 3), (0, 4), (1, 2), (2, 2)}]
    assert modules_recovered(right, graph, inputs, outputs)
    shifted = [{(0, 1), (0, 2), (1, 1), (2, 0)}, {(0, 3), (0, 4), (1, 2), (2, 1)}]  # outputs at 0, 1: the constant
    assert not modules_recovered(shifted, graph, inputs, outputs)
    swapped = [{(0, 1), (0, 2), (1, 1), (2, 2)}, {(0, 3), (0, 4), (1, 2), (2, 1)}]  # each output with the other module
    assert not modules_recovered(swapped, graph, inputs, outputs)


def test_pooled_edges_skip_constant_rows_only_where_there_is_one_and_refuse_an_empty_graph() -> None:
    """Through top_edge_share (default k = 10): the constant row of a next layer with a constant feature is left out
    (a huge entry there would dominate), the logits' first row is not; a graph with total strength 0.5 is fine, one
    with none is refused with its message."""
    from helpers.degeneracy.interaction import neuron_basis, top_edge_share
    from helpers.lib import InteractionGraph, identity_basis

    inner = torch.zeros(3, 6, dtype=F64)
    inner[0, :] = 1e6  # the next layer's constant row: not an interaction
    inner[1:, 1:] = torch.arange(1.0, 11.0, dtype=F64).reshape(2, 5)  # 10 edges
    inner[2, 5] = 20.0  # 11 edges in the last pair below make k = 10 and k = 11 differ
    out = torch.zeros(2, 3, dtype=F64)
    out[0, 1] = 5.0  # the logits' first row counts
    graph = InteractionGraph(("a", "b", "c"), (neuron_basis(5), neuron_basis(2), identity_basis(2)), (inner, out))
    pooled = torch.tensor([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 20, 5], dtype=F64)
    assert math.isclose(
        top_edge_share(graph), float(pooled.sort(descending=True).values[:10].sum() / pooled.sum()), rel_tol=1e-12
    )
    small = InteractionGraph(("a", "c"), (neuron_basis(1), identity_basis(1)), (torch.tensor([[0.0, 0.5]], dtype=F64),))
    assert top_edge_share(small, 1) == 1.0
    empty = InteractionGraph(("a", "c"), (neuron_basis(1), identity_basis(1)), (torch.zeros(1, 2, dtype=F64),))
    with pytest.raises(ValueError, match=r"^the graph has no edge strength$"):
        top_edge_share(empty, 1)
    with pytest.raises(ValueError, match=r"^k must be a positive int, got 0$"):
        top_edge_share(graph, 0)


def test_duplicated_neurons_default_to_halves_and_refuse_an_index_past_the_last() -> None:
    from helpers.degeneracy.counts import with_duplicated_neurons

    w = NET.random(gen(2))
    _, half = with_duplicated_neurons(NET, w, [1])
    _, explicit = with_duplicated_neurons(NET, w, [1], share=0.5)
    assert torch.equal(half, explicit)
    with pytest.raises(ValueError, match=r"^neurons must be distinct hidden indices in \[0, 6\), got \[6\]$"):
        with_duplicated_neurons(NET, w, [6])


def test_basis_graphs_keep_the_names_and_end_on_the_outputs() -> None:
    from helpers.degeneracy.interaction import basis_graphs
    from helpers.models import relu_mlp

    g = gen(9)
    model = relu_mlp([4, 6, 5, 3]).double().requires_grad_(False)
    for p in model.parameters():
        p.copy_(torch.randn(p.shape, generator=g, dtype=F64))
    names = ("in", "h1", "h2", "out")
    graphs = basis_graphs(model, torch.randn(60, 4, generator=g, dtype=F64), names=names)
    assert set(graphs) == {"neuron", "pca", "ib", "lib"}
    for graph in graphs.values():
        assert graph.names == names and graph.bases[-1].kind == "identity" and graph.bases[-1].size == 3
        assert [tuple(e.shape) for e in graph.edges] == [(b.size, a.size) for a, b in zip(graph.bases, graph.bases[1:])]
    assert [tuple(e.shape) for e in graphs["neuron"].edges] == [(7, 5), (6, 7), (3, 6)]
    ib, local = graphs["ib"].bases[0].values, graphs["lib"].bases[0].values  # output vs next-layer targets differ
    assert ib.shape != local.shape or not torch.allclose(ib, local, rtol=1e-6)
