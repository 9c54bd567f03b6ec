"""helpers.degeneracy at its edges: constructions drawn from their own generator only, documented margins and
bounds exactly, dtypes, and refusals in their whole sentence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.degeneracy import networks
from helpers.degeneracy.counts import MLP, planted, with_extra_neurons
from helpers.degeneracy.interaction import as_relu_mlp, basis_graphs, truncated_graph
from helpers.degeneracy.volume import loglog_slope, product

F64 = torch.float64


def _refusal(call) -> tuple[str, str]:
    with pytest.raises((TypeError, ValueError)) as refused:
        call()
    return type(refused.value).__name__, str(refused.value)


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
        assert _refusal(lambda bad=bad: with_extra_neurons(net, w, x, bad, torch.Generator())) == (
            "ValueError", f"k must be a positive int, got {bad!r}")


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
        assert _refusal(lambda bad=bad: networks.modular_task(bad)) == (
            "ValueError", f"input_scales must be 8 distinct positive numbers, got {scales_bad}")


def test_neuron_modules_split_an_odd_hidden_layer_with_the_larger_half_second():
    inputs, hidden, outputs = networks.neuron_modules({"half": 3, "hidden": 5, "outputs_per_half": 2})
    assert inputs.tolist() == [0, 0, 0, 1, 1, 1]
    assert hidden.tolist() == [0, 0, 1, 1, 1]
    assert outputs.tolist() == [0, 0, 1, 1]
    assert inputs.dtype == hidden.dtype == outputs.dtype == torch.long


def test_loglog_slope_refusals_and_a_product_at_one_point():
    assert loglog_slope([1, 2, 4], [1, 4, 16]) == pytest.approx(2.0)
    for eps, vols in (([1.0], [1.0]), ([[1.0, 2.0]], [[1.0, 2.0]]), ([1.0, 2.0], [1.0])):
        assert _refusal(lambda eps=eps, vols=vols: loglog_slope(eps, vols)) == (
            "ValueError", f"need two 1-d sequences of equal length ≥ 2, got shapes {np.asarray(eps).shape} and "
                          f"{np.asarray(vols).shape}")
    assert _refusal(lambda: loglog_slope([0.0, 1.0], [1.0, 2.0])) == (
        "ValueError", "levels and volumes must be positive (a zero volume: too few samples for that ε)")
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
    assert _refusal(lambda: truncated_graph(model, x, pca, [top + 1, 1])) == (
        "ValueError", f"size {top + 1} for layer 0: need an int in 1..{top}")
    assert _refusal(lambda: truncated_graph(model, x, pca, [2])) == (
        "ValueError", "need 2 sizes (every node layer but the last), got 1")
