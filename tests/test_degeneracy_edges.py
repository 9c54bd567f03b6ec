"""helpers.degeneracy at its edges: constructions drawn from their own generator only, documented margins and
bounds exactly, dtypes, and refusals in their whole sentence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers.degeneracy import behaviour as bh
from helpers.degeneracy import networks, sgld
from helpers.degeneracy import volume as vol
from helpers.degeneracy.counts import MLP, _midway, free_directions, jacobian_rank, planted, with_extra_neurons
from helpers.degeneracy.interaction import as_relu_mlp, basis_graphs, truncated_graph
from helpers.degeneracy.volume import loglog_slope, product
from tests.refusal import refusal

F64 = torch.float64


def _equal(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b) if isinstance(x, torch.Tensor))


@pytest.mark.parametrize("kind", ["generic", "plane", "readout", "dead", "always on", "synchronised"])
def test_planted_networks_come_from_their_seed_alone(kind):
    torch.manual_seed(1)
    first = planted(kind, seed=3, k=2)
    torch.manual_seed(2)  # another global state: nothing may be drawn from it
    second = planted(kind, seed=3, k=2)
    assert torch.equal(first.w, second.w) and torch.equal(first.x, second.x)
    assert (first.readout is None) == (kind != "readout")
    if first.readout is not None:
        assert torch.equal(first.readout, second.readout) and first.readout.shape == (2, 3)


def test_planted_degeneracies_are_where_the_docstring_puts_them():
    def firing(p):
        w1, b1, _, _ = p.net.unflatten(p.w)
        return p.x @ w1.T + b1 > 0  # (n, 6)

    assert not firing(planted("dead", seed=0))[:, 0].any() and firing(planted("dead", seed=0))[:, 1:].any(0).all()
    on = firing(planted("always on", seed=0, k=2))
    assert on[:, :2].all() and not on[:, 2:].all(0).any()
    one = firing(planted("always on", seed=0))  # k = 1 unless asked
    assert one[:, 0].all() and not one[:, 1:].all(0).any()
    sync = planted("synchronised", seed=0, k=3)
    fired = firing(sync)
    assert torch.equal(fired[:, 0], fired[:, 1]) and torch.equal(fired[:, 0], fired[:, 2])
    assert 0 < int(fired[:, 0].sum()) < 400
    plane = planted("plane", seed=0)
    assert int(torch.linalg.matrix_rank(plane.x)) == 2 and plane.x.shape == (400, 4)


def test_extra_neurons_come_from_their_generator_with_a_margin_of_exactly_one():
    net = MLP(4, 6, 3)
    g = torch.Generator().manual_seed(0)
    w = net.random(g)
    x = torch.randn(50, 4, generator=g, dtype=F64)
    torch.manual_seed(1)
    wider, w_dead = with_extra_neurons(net, w, x, 2, torch.Generator().manual_seed(9))
    torch.manual_seed(2)
    _, again = with_extra_neurons(net, w, x, 2, torch.Generator().manual_seed(9), fire="never")
    assert torch.equal(w_dead, again) and w_dead.dtype == F64 and wider.hidden == 8
    w1, b1, w2, _ = wider.unflatten(w_dead)
    z = x @ w1[6:].T + b1[6:]  # the new neurons' pre-activations
    assert torch.allclose(z.max(dim=0).values, torch.full((2,), -1.0, dtype=F64), rtol=0, atol=1e-12)
    assert w2.dtype == F64 and torch.equal(w2[:, 6:], w2[:, 6:].double())
    _, from_float32 = with_extra_neurons(net, w, x.float(), 2, torch.Generator().manual_seed(9))
    assert from_float32.dtype == F64
    for bad in (0, 1.5):
        assert refusal(lambda bad=bad: with_extra_neurons(net, w, x, bad, torch.Generator())) == (
            "ValueError",
            f"k must be a positive int, got {bad!r}",
        )


def test_as_relu_mlp_has_its_gradients_off_and_flat_parameters_are_float64():
    net = MLP(3, 4, 2)
    w = net.random(torch.Generator().manual_seed(0))
    model = as_relu_mlp(net, w)
    assert not any(p.requires_grad for p in model.parameters()) and not model.training
    state = {k: v.float() for k, v in model.state_dict().items()}
    flat_net, flat = networks.flat_parameters(state)
    assert flat.dtype == F64 and flat_net == net


def test_modular_task_is_drawn_from_its_seed_with_exactly_the_asked_covariance():
    config = dict(networks.MODULAR_CONFIG)
    torch.manual_seed(5)
    x, y = networks.modular_task(config)
    torch.manual_seed(6)
    x2, y2 = networks.modular_task(config)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    scales = torch.tensor(config["input_scales"], dtype=F64)
    cov = x.T @ x / x.shape[0]
    assert torch.allclose(cov, torch.diag(scales**2), rtol=0, atol=1e-12)
    for scales_bad in ([1.0] * 8, [1.4, 1.2, 1.0, 0.0, 1.3, 1.1, 0.9, 0.7], [1.0, 2.0]):
        bad = {**config, "input_scales": scales_bad}
        assert refusal(lambda bad=bad: networks.modular_task(bad)) == (
            "ValueError",
            f"input_scales must be 8 distinct positive numbers, got {scales_bad}",
        )


def test_neuron_modules_split_an_odd_hidden_layer_with_the_larger_half_second():
    inputs, hidden, outputs = networks.neuron_modules({"half": 3, "hidden": 5, "outputs_per_half": 2})
    assert inputs.tolist() == [0, 0, 0, 1, 1, 1]
    assert hidden.tolist() == [0, 0, 1, 1, 1]
    assert outputs.tolist() == [0, 0, 1, 1]
    assert inputs.dtype == hidden.dtype == outputs.dtype == torch.long


def test_loglog_slope_refusals_and_a_product_at_one_point():
    assert loglog_slope([1, 2, 4], [1, 4, 16]) == pytest.approx(2.0)
    for eps, vols in (([1.0], [1.0]), ([[1.0, 2.0]], [[1.0, 2.0]]), ([1.0, 2.0], [1.0])):
        assert refusal(lambda eps=eps, vols=vols: loglog_slope(eps, vols)) == (
            "ValueError",
            f"need two 1-d sequences of equal length ≥ 2, got shapes {np.asarray(eps).shape} and "
            f"{np.asarray(vols).shape}",
        )
    assert refusal(lambda: loglog_slope([0.0, 1.0], [1.0, 2.0])) == (
        "ValueError",
        "levels and volumes must be positive (a zero volume: too few samples for that ε)",
    )
    k = product([2, 4])
    assert float(k(torch.tensor([3.0, 2.0], dtype=F64))) == 144.0  # one point, not a batch
    assert k(torch.tensor([[3.0, 2.0], [1.0, 0.5]], dtype=F64)).tolist() == [144.0, 0.0625]


def test_truncated_graphs_keep_the_asked_features_and_names_and_refuse_other_sizes():
    torch.manual_seed(0)
    from helpers.models import relu_mlp

    model = relu_mlp([4, 5, 3]).double()
    x = torch.randn(200, 4, generator=torch.Generator().manual_seed(1), dtype=F64)
    graphs = basis_graphs(model, x, names=["in", "h", "out"])
    pca = graphs["pca"]
    cut = truncated_graph(model, x, pca, [2, 3])
    assert cut.names == ("in", "h", "out")
    for basis, k, full in zip(cut.bases, [2, 3], pca.bases):
        assert basis.C.shape[1] == k + 1 and basis.C_pinv.shape[0] == k + 1 and basis.values.shape == (k + 1,)
        assert torch.equal(basis.C, full.C[:, : k + 1]) and torch.equal(basis.values, full.values[: k + 1])
    assert cut.bases[-1] is pca.bases[-1]
    top = pca.bases[0].size - 1
    assert truncated_graph(model, x, pca, [top, 1]).bases[0].size == top + 1  # the largest size is accepted
    assert refusal(lambda: truncated_graph(model, x, pca, [top + 1, 1])) == (
        "ValueError",
        f"size {top + 1} for layer 0: need an int in 1..{top}",
    )
    assert refusal(lambda: truncated_graph(model, x, pca, [2])) == (
        "ValueError",
        "need 2 sizes (every node layer but the last), got 1",
    )


# --------------------------------------------------------------------------------------------- batch 2


NET = MLP(2, 3, 2)
W = NET.random(torch.Generator().manual_seed(0))
X = torch.randn(5, 2, generator=torch.Generator().manual_seed(1), dtype=F64)


def _quadratic(w):
    return (w**2).sum()


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: bh.behavioural_loss_fn(NET, W[None], X), "w_star must have 1 dimensions, got shape (1, 17)"),
        (lambda: bh.behavioural_loss_fn(NET, W, X[0]), "x must have 2 dimensions, got shape (2,)"),
        (lambda: bh.behavioural_loss(NET, W[None], W, X), "w must have 1 dimensions, got shape (1, 17)"),
        (lambda: bh.behavioural_loss(NET, W[:3], W, X), "w and w_star must have the same shape, got (3,) and (17,)"),
        (lambda: bh.output_jacobian(NET, W[None], X), "w must have 1 dimensions, got shape (1, 17)"),
        (lambda: bh.output_jacobian(NET, W, X[0]), "x must have 2 dimensions, got shape (2,)"),
        (lambda: bh.output_jacobian(NET, W, X, chunk=0), "chunk must be a positive int or None, got 0"),
        (lambda: bh.output_jacobian(NET, W, X, chunk=True), "chunk must be a positive int or None, got True"),
        (lambda: bh.output_jacobian(NET, W, X, chunk=2.0), "chunk must be a positive int or None, got 2.0"),
        (lambda: bh.gauss_newton(NET, W, X[0]), "x must have 2 dimensions, got shape (2,)"),
        (lambda: jacobian_rank(torch.ones(3)), "jac must have 2 dimensions, got shape (3,)"),
        (lambda: free_directions(NET, W, X, readout=torch.ones(2)), "readout must have 2 dimensions, got shape (2,)"),
        (
            lambda: free_directions(NET, W, X, readout=torch.ones(1, 3, dtype=F64)),
            "readout must have 2 columns (the network's outputs), got (1, 3)",
        ),
        (lambda: NET.unflatten(W[None]), "w must have 1 dimensions, got shape (1, 17)"),
        (lambda: NET.unflatten(W[:4]), "w must have 17 entries for MLP(d_in=2, hidden=3, d_out=2), got 4"),
        (
            lambda: sgld.estimate_llc(_quadratic, W[None], n_beta=1.0, step=0.1),
            "w_star must have 1 dimensions, got shape (1, 17)",
        ),
        (lambda: sgld.estimate_llc(_quadratic, W, n_beta=0.0, step=0.1), "n_beta must be positive, got 0.0"),
        (lambda: sgld.estimate_llc(_quadratic, W, n_beta=1.0, step=-1.0), "step must be positive, got -1.0"),
        (
            lambda: sgld.estimate_llc(_quadratic, W, n_beta=1.0, step=0.1, localization=-1.0),
            "localization must be non-negative, got -1.0",
        ),
        (lambda: sgld.estimate_llc(_quadratic, W, n_beta=True, step=0.1), "n_beta must be a finite number, got True"),
        (
            lambda: sgld.estimate_llc(_quadratic, W, n_beta=float("inf"), step=0.1),
            "n_beta must be a finite number, got inf",
        ),
        (lambda: sgld.estimate_llc(_quadratic, W, n_beta="1", step=0.1), "n_beta must be a finite number, got '1'"),
        (lambda: sgld.estimate_llc(_quadratic, W, n_beta=1.0, step=0.1, chains=0), "chains must be an int ≥ 1, got 0"),
        (
            lambda: sgld.estimate_llc(_quadratic, W, n_beta=1.0, step=0.1, draws=True),
            "draws must be an int ≥ 1, got True",
        ),
        (
            lambda: sgld.estimate_llc(_quadratic, W, n_beta=1.0, step=0.1, burnin=-1),
            "burnin must be an int ≥ 0, got -1",
        ),
        (
            lambda: sgld.estimate_llc(_quadratic, W, n_beta=1.0, step=0.1, burnin=1.0),
            "burnin must be an int ≥ 0, got 1.0",
        ),
        (
            lambda: sgld.estimate_llc(_quadratic, W, n_beta=1.0, step=0.1, init_loss=0.0),
            "init_loss is computed from the loss itself when there are no batches",
        ),
        (
            lambda: sgld.estimate_llc(lambda w, b: _quadratic(w), W, n_beta=1.0, step=0.1, batches=lambda t: X),
            "with batches, give init_loss: L(w*) on the data the batches are drawn from",
        ),
        (
            lambda: sgld.quadratic_llc(torch.ones(2, 1), n_beta=1.0),
            "curvatures must have 1 dimensions, got shape (2, 1)",
        ),
        (lambda: sgld.quadratic_llc(torch.ones(2), n_beta=-1.0), "n_beta must be positive, got -1.0"),
        (
            lambda: sgld.quadratic_llc(torch.ones(2), n_beta=1.0, localization=-1.0),
            "localization must be non-negative, got -1.0",
        ),
        (lambda: sgld.quadratic_llc(torch.ones(2), n_beta=1.0, step=-1.0), "step must be non-negative, got -1.0"),
        (
            lambda: sgld.quadratic_llc(torch.ones(2), n_beta=1.0, step=4.0),
            "step 4 is at or above the stability limit 4 / 1: the chain diverges",
        ),
        (lambda: sgld.stationary_variance([1.0], 0.1), "precision must be a torch.Tensor, got list"),
        (lambda: sgld.stationary_variance(torch.ones(2), -0.1), "step must be non-negative, got -0.1"),
        (
            lambda: sgld.stationary_variance(torch.tensor([1.0, 0.0]), 0.1),
            "every precision must be positive (a direction with none has no stationary variance)",
        ),
        (lambda: sgld.coupled_pair_llc(-1.0, n_beta=1.0, localization=1.0), "coupling must be non-negative, got -1.0"),
        (lambda: sgld.coupled_pair_llc(1.0, n_beta=0.0, localization=1.0), "n_beta must be positive, got 0.0"),
        (lambda: sgld.coupled_pair_llc(1.0, n_beta=1.0, localization=0.0), "localization must be positive, got 0.0"),
        (lambda: vol.separable([]), "a potential needs at least one power"),
        (
            lambda: vol.separable([True]),
            "powers must be even integers ≥ 2 (so that K ≥ 0 with its minimum at 0), got [True]",
        ),
        (
            lambda: vol.separable([2.0]),
            "powers must be even integers ≥ 2 (so that K ≥ 0 with its minimum at 0), got [2.0]",
        ),
        (lambda: vol.volume_fraction(vol.separable([2]), 0, [0.1]), "dim must be a positive int, got 0"),
        (lambda: vol.volume_fraction(vol.separable([2]), 1.0, [0.1]), "dim must be a positive int, got 1.0"),
        (lambda: vol.volume_fraction(vol.separable([2]), 1, []), "eps must be finite positive levels, got []"),
        (
            lambda: vol.volume_fraction(vol.separable([2]), 1, [0.1, 0.0]),
            "eps must be finite positive levels, got [0.1, 0.0]",
        ),
        (
            lambda: vol.volume_fraction(vol.separable([2]), 1, [0.1], n_samples=0),
            "need n_samples ≥ 1 and box > 0, got 0 and 1.0",
        ),
        (
            lambda: vol.volume_fraction(vol.separable([2]), 1, [0.1], box=0.0),
            "need n_samples ≥ 1 and box > 0, got 1000000 and 0.0",
        ),
    ],
)
def test_degeneracy_helpers_refuse_in_whole_sentences(call, expected):
    assert refusal(call)[1] == expected


def test_output_jacobian_in_chunks_equals_the_whole_and_both_modes_agree():
    whole = bh.output_jacobian(NET, W, X)
    assert whole.shape == (10, 17)
    for chunk in (1, 5, 17, 40):
        assert torch.allclose(bh.output_jacobian(NET, W, X, chunk=chunk), whole, rtol=0, atol=1e-13)
    wide = MLP(2, 40, 2)  # 202 parameters > 10 outputs: reverse mode
    w = wide.random(torch.Generator().manual_seed(2))
    auto = torch.func.jacrev(lambda v: wide(v, X))(w).reshape(-1, 202)
    assert torch.allclose(bh.output_jacobian(wide, w, X), auto, rtol=0, atol=1e-13)
    x1 = X[:1]  # 17 parameters, 2 outputs: both modes must give the same
    assert torch.allclose(
        bh.output_jacobian(NET, W, x1), torch.func.jacfwd(lambda v: NET(v, x1))(W).reshape(-1, 17), rtol=0, atol=1e-13
    )


def test_behavioural_loss_sums_outputs_and_averages_inputs():
    w = W + 0.1
    expected = ((NET(w, X) - NET(W, X)) ** 2).sum(1).mean()
    assert torch.allclose(bh.behavioural_loss(NET, w, W, X), expected, rtol=1e-14, atol=0)
    assert torch.allclose(bh.behavioural_loss_fn(NET, W, X)(w), expected, rtol=1e-14, atol=0)


def test_rank_and_free_directions_at_their_tolerance():
    jac = torch.diag(torch.tensor([1.0, 1e-3, 1e-6], dtype=F64))
    assert jacobian_rank(jac) == 3 and jacobian_rank(jac, 1e-3) == 1  # 1e-3 exactly at the tolerance: not above
    assert jacobian_rank(torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=F64), 0.5) == 1  # relative to the largest
    x = torch.randn(30, 2, generator=torch.Generator().manual_seed(3), dtype=F64)
    assert free_directions(NET, W, x, rtol=0.5) > free_directions(NET, W, x)
    one = torch.ones(1, 2, dtype=F64)
    assert free_directions(NET, W, x, rtol=0.5, readout=one) >= free_directions(NET, W, x, readout=one)
    assert free_directions(NET, W, x, rtol=0.5, readout=one) > free_directions(NET, W, x, readout=one)


def test_midway_between_the_two_middle_values():
    z = torch.tensor([[4.0, 1.0], [1.0, 2.0], [3.0, 3.0], [2.0, 10.0]], dtype=F64)
    assert _midway(z).tolist() == [2.5, 2.5]
    assert _midway(z[:3]).tolist() == [3.5, 2.5]  # odd: between the median and the next
    assert _midway(z[:1]).tolist() == [3.0, 0.0]  # one input: one unit below it


def test_sgld_summaries_at_their_edges():
    def estimate(chains: int):
        return sgld.estimate_llc(
            _quadratic,
            torch.zeros(3, dtype=F64),
            n_beta=10.0,
            step=1e-3,
            chains=chains,
            draws=5,
            burnin=0,
            generator=torch.Generator().manual_seed(0),
        )

    est = estimate(1)
    assert math.isnan(est.std) and len(est.per_chain) == 1  # one chain: no spread to estimate
    two = estimate(2)
    assert two.std == pytest.approx(float(np.std(two.per_chain, ddof=1)))
    assert sgld.quadratic_llc(torch.zeros(3), n_beta=1.0) == 0.0
    assert sgld.quadratic_llc(torch.tensor([1.0, 0.0]), n_beta=2.0, step=0.0) == pytest.approx(0.5)
    a = torch.tensor([1.0, 2.0, 4.0], dtype=F64)
    v = sgld.stationary_variance(a, 1.0)  # ε a = 1, 2 and exactly 4: the last diverges
    assert v[:2].tolist() == pytest.approx([1 / (1 * 0.75), 1 / (2 * 0.5)]) and v[2] == math.inf
    assert sgld.stationary_variance(torch.tensor([1.0], dtype=torch.float32), 0.0).dtype == F64
    assert sgld.quadratic_llc(torch.tensor([1.0]), n_beta=1.0, step=3.999) > 0
    assert sgld.coupled_pair_llc(0.0, n_beta=5.0, localization=1.0) == 0.0


def test_volume_fraction_counts_strictly_below_each_level_from_its_generator():
    def k(w):
        return w[:, 0].abs().round(decimals=1)  # takes the values 0.0, 0.1, ..., 1.0 exactly as floats

    torch.manual_seed(0)
    one = vol.volume_fraction(k, 1, [0.1, 0.5], n_samples=2000, generator=torch.Generator().manual_seed(4))
    torch.manual_seed(1)
    two = vol.volume_fraction(k, 1, [0.1, 0.5], n_samples=2000, generator=torch.Generator().manual_seed(4))
    assert np.array_equal(one, two) and one.dtype == np.float64
    w = torch.rand(2000, 1, generator=torch.Generator().manual_seed(4), dtype=F64) * 2 - 1
    expected = [float((k(w) < level).double().mean()) for level in (0.1, 0.5)]
    assert one.tolist() == expected  # K exactly at the level is not below it
    assert vol.volume_fraction(k, 1, [0.1], n_samples=1, generator=torch.Generator()).shape == (1,)
    assert vol.separable([2, 4])(torch.tensor([2.0, 1.0], dtype=F64)).item() == 5.0  # one point


# --------------------------------------------------------------------------------------------- batch 3


def test_estimate_llc_defaults_are_the_documented_ones():
    def quad(w):
        return 0.5 * (w**2).sum()

    w0 = torch.zeros(2, dtype=F64)
    default = sgld.estimate_llc(quad, w0, n_beta=5.0, step=1e-2, generator=torch.Generator().manual_seed(0))
    explicit = sgld.estimate_llc(
        quad,
        w0,
        n_beta=5.0,
        step=1e-2,
        localization=0.0,
        chains=8,
        draws=1000,
        burnin=1000,
        generator=torch.Generator().manual_seed(0),
    )
    assert default.trace.shape == (8, 1000)
    assert np.array_equal(default.per_chain, explicit.per_chain)


def test_smaller_edges_of_the_counting_helpers():
    assert _midway(torch.tensor([[1.0], [3.0]], dtype=F64)).tolist() == [2.0]  # two inputs: their midpoint
    assert NET.unflatten(torch.arange(17))[0].dtype == torch.int64  # integer masks unflatten too (block_mask)
    v = sgld.stationary_variance(torch.tensor([4.5], dtype=F64), 1.0)  # ε a = 4.5 ≥ 4: diverges
    assert v.tolist() == [math.inf]
    h32 = torch.tensor([0.3, 1.7], dtype=torch.float32)
    assert sgld.quadratic_llc(h32, n_beta=3.0, localization=0.7, step=0.01) == pytest.approx(
        sgld.quadratic_llc(h32.double(), n_beta=3.0, localization=0.7, step=0.01), rel=1e-14
    )
    with pytest.raises(ValueError, match="chunk_size"):
        bh.gauss_newton(NET, W, X, chunk_size=True)
    assert refusal(lambda: vol.separable([0]))[1].startswith("powers must be even integers ≥ 2")


def test_volume_fraction_counts_every_sample_and_scales_the_box():
    def zero(w):
        return torch.zeros(w.shape[0], dtype=F64)

    assert vol.volume_fraction(zero, 1, [0.1], n_samples=1).tolist() == [1.0]
    assert vol.volume_fraction(zero, 2, [0.1], n_samples=300, chunk=100).tolist() == [1.0]
    inside = vol.volume_fraction(
        vol.separable([2]), 1, [1.0], n_samples=20000, box=2.0, generator=torch.Generator().manual_seed(0)
    )
    assert abs(float(inside[0]) - 0.5) < 0.02  # w² < 1 on [−2, 2]: half the box


def test_exercise_references_return_float64_and_inputs_keep_what_the_exercises_need():
    from helpers.degeneracy import exercises as ex

    slopes = ex._slope_inputs()
    for eps, volumes in slopes:
        assert (eps > 0).all() and (volumes > 0).all() and (eps.diff() > 0).all()
        assert ex._slope(eps, volumes).dtype == F64
    fitted = [float(ex._slope(e, v)) for e, v in slopes]
    assert any(abs(s - 0.5) < 0.05 for s in fitted) and any(s < 0.4 for s in fitted)  # λ = ½ and another
    assert ex._as_count(3).dtype == F64 and ex._free(*ex._free_inputs()[0]).dtype == F64
    counts = [int(ex._free(*args)) for args in ex._free_inputs()]
    assert len(set(counts)) >= 3  # kinds whose counts differ: one formula cannot fit all
    for w, grad, w_star, n_beta, step, _gamma, noise in ex._step_inputs():
        assert w.shape == grad.shape == w_star.shape == noise.shape and n_beta > 0 and step > 0
    assert any(args[5] == 0 for args in ex._step_inputs()) and any(args[5] > 0 for args in ex._step_inputs())
    products = torch.cat([a * s for a, s in ex._variance_inputs()])
    assert (products < 4).any() and (products == 4).any() and (products > 4).any()
    assert any(s == 0 for _, s in ex._variance_inputs())  # no step at all
