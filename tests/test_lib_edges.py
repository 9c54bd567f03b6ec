"""helpers.lib at its edges: sections against the model they are read from, sums written out against the vectorised
ones, every documented threshold exactly on its boundary, defaults as calls without them behave, refusals in their
whole sentence."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from helpers import lib  # noqa: E402
from helpers.lib import closed_forms as cf  # noqa: E402
from helpers.lib import exercises as ex  # noqa: E402
from helpers.lib.ablations import _edge_mask  # noqa: E402
from helpers.models import relu_mlp  # noqa: E402

F64 = torch.float64


def _refusal(call) -> tuple[str, str]:
    with pytest.raises((TypeError, ValueError)) as refused:
        call()
    return type(refused.value).__name__, str(refused.value)


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(3)
    model = relu_mlp([5, 7, 6, 3])
    x = _randn(300, 5, seed=4) * torch.linspace(2.0, 0.2, 5, dtype=F64) + 0.3
    sections = lib.mlp_sections(model)
    return model, sections, lib.node_activations(sections, x)


# --------------------------------------------------------------------------------------------- sections


def test_mlp_sections_compute_what_the_model_computes_biases_and_relus_included():
    torch.manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 5, bias=False),
                                torch.nn.Linear(5, 3), torch.nn.ReLU())
    with torch.no_grad():
        model[0].bias.normal_()
        model[3].bias.normal_()
    x = _randn(50, 4, seed=6)
    acts = lib.node_activations(lib.mlp_sections(model), x)
    assert len(acts) == 4 and all(a.dtype == F64 and a.shape[1] == 1 for a in acts)
    with torch.no_grad():
        h1 = model[1](model[0](x.float())).double()
        h2 = model[2](h1.float()).double()
        out = model(x.float()).double()
    for got, expected in zip(acts[1:], (h1, h2, out)):
        assert torch.allclose(got[:, 0], expected, rtol=1e-5, atol=1e-5)
    assert (acts[2] < 0).any()  # no ReLU after a Linear that is followed by another Linear


@pytest.mark.parametrize(("model", "expected"), [
    (torch.nn.Sequential(), "the model must be a sequence of Linear layers, each optionally followed by a ReLU"),
    (torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(2, 2)),
     "the model must be a sequence of Linear layers, each optionally followed by a ReLU"),
    (torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh()), "unsupported layer Tanh: only Linear and ReLU"),
])
def test_mlp_sections_refuse_other_layers(model, expected):
    assert _refusal(lambda: lib.mlp_sections(model)) == ("ValueError", expected)


def test_node_activations_name_their_inputs_when_refusing():
    assert _refusal(lambda: lib.node_activations([], torch.ones(2, 3, 4, 5))) == (
        "ValueError", "inputs must have shape (n, d) or (n, positions, d), got (2, 3, 4, 5)")
    assert _refusal(lambda: lib.node_activations([], [1.0])) == ("TypeError", "inputs must be a torch.Tensor, got list")


# --------------------------------------------------------------------------------------------- edges


def test_edges_from_jacobians_is_the_written_out_sum():
    n, t, k, s, j = 3, 2, 4, 5, 2  # S ≠ J ≠ T: a wrong normalisation or index shows
    jf, f = _randn(n, t, k, s, j, seed=7), _randn(n, s, j, seed=8)
    expected = torch.zeros(k, j, dtype=F64)
    for x in range(n):
        for tt in range(t):
            for i in range(k):
                for jj in range(j):
                    expected[i, jj] += sum(jf[x, tt, i, ss, jj] * f[x, ss, jj] for ss in range(s)) ** 2
    assert torch.allclose(lib.edges_from_jacobians(jf, f), expected / (n * s), rtol=1e-12, atol=0)


@pytest.mark.parametrize(("call", "expected"), [
    (lambda: lib.edges_from_jacobians(torch.ones(2, 1, 1, 1), torch.ones(2, 1, 1)),
     "feature_jacobians must have 5 dimensions, got shape (2, 1, 1, 1)"),
    (lambda: lib.edges_from_jacobians(torch.ones(2, 1, 1, 1, 1), torch.ones(2, 1)),
     "features must have 3 dimensions, got shape (2, 1)"),
    (lambda: lib.edges_from_jacobians(torch.ones(2, 1, 1, 3, 1), torch.ones(2, 2, 1)),
     "feature_jacobians (2, 1, 1, 3, 1) do not fit features (2, 2, 1)"),
    (lambda: lib.count_above(torch.ones(2, 2), 0.1), "values must have 1 dimensions, got shape (2, 2)"),
])
def test_edge_and_count_helpers_refuse_in_whole_sentences(call, expected):
    assert _refusal(call)[1] == expected


def test_integrated_edges_are_a_quadrature_of_the_gradient_along_the_path(net):
    """Integrated edges against a 400-point midpoint rule of the same integral, written out; the default is 8
    Gauss–Legendre nodes, and splitting the examples into chunks changes nothing."""
    model, sections, acts = net
    graph = lib.interaction_graph(acts, sections)
    basis, nxt, f = graph.bases[1], graph.bases[2], acts[1]
    feats = basis.features(f)
    rest = lib.augment(f) - basis.inverse(feats)
    midpoints = (torch.arange(400, dtype=F64) + 0.5) / 400
    attributions = 0
    for alpha in midpoints:
        raw = lib.section_jacobians(sections[1], basis.inverse(alpha * feats) + rest)
        jac = torch.einsum("ntosd,ok,jd->ntksj", raw, nxt.C[: raw.shape[2]], basis.C_pinv)
        attributions = attributions + torch.einsum("ntksj,nsj->ntkj", jac, feats) / 400
    expected = attributions.pow(2).sum(dim=(0, 1)) / (feats.shape[0] * feats.shape[1])
    got = lib.squared_edges(sections[1], basis, nxt, f, integration="integrated", n_steps=40)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-8 * float(expected.max()))
    default = lib.squared_edges(sections[1], basis, nxt, f, integration="integrated")
    assert torch.equal(default, lib.squared_edges(sections[1], basis, nxt, f, integration="integrated", n_steps=8))
    assert not torch.equal(default, lib.squared_edges(sections[1], basis, nxt, f, integration="integrated",
                                                      n_steps=9))
    chunked = lib.squared_edges(sections[1], basis, nxt, f, integration="integrated", chunk_size=70)
    assert torch.allclose(chunked, default, rtol=1e-12, atol=0)
    for bad in (0, 1.5):
        assert _refusal(lambda bad=bad: lib.squared_edges(sections[1], basis, nxt, f, integration="integrated",
                                                          n_steps=bad)) == (
            "ValueError", f"n_steps must be a positive int, got {bad!r}")


# --------------------------------------------------------------------------------------------- counts and thresholds


def test_count_above_is_strict_relative_and_ignores_the_constant():
    assert lib.count_above(torch.tensor([9.0], dtype=F64), 0.1) == 0  # the constant alone
    assert lib.count_above(torch.tensor([9.0, 0.0], dtype=F64), 0.1) == 0  # one non-constant value of 0
    assert lib.count_above(torch.tensor([9.0, 3.0], dtype=F64), 0.1) == 1
    values = torch.tensor([100.0, 4.0, 1.0, 0.5], dtype=F64)
    assert lib.count_above(values, 0.25) == 1  # 1.0 is exactly 0.25 · 4: not above
    for scale in (1e-9, 1e9):
        assert lib.count_above(values * scale, 0.2) == 2  # relative to the largest non-constant value


def test_edges_needed_gallops_then_bisects_to_the_first_good_count():
    for n_total in (1, 2, 7, 20):
        for k in range(n_total + 1):
            found, seen = lib.edges_needed(lambda n, k=k: float(n >= k), n_total, baseline=1.0, tolerance=0.0)
            assert found == k
    found, seen = lib.edges_needed(lambda n: float(n >= 5), 20, baseline=1.0, tolerance=0.0)
    assert sorted(seen) == [1, 2, 4, 5, 6, 8, 20]  # 20 first, then 1, 2, 4, 8 up and 6, 5 down
    # a count whose accuracy is exactly baseline − tolerance is good enough
    found, _ = lib.edges_needed(lambda n: 0.75 if n >= 3 else 0.5, 10, baseline=1.0, tolerance=0.25)
    assert found == 3
    assert _refusal(lambda: lib.edges_needed(lambda n: 0.5, 4, baseline=1.0)) == (
        "ValueError", "even all 4 edges give accuracy 0.5000 < baseline − tolerance")


def test_edge_masks_keep_the_constant_edges_and_break_ties_in_order(net):
    model, sections, acts = net
    graph = lib.interaction_graph(acts, sections)
    tied = lib.InteractionGraph(graph.names, graph.bases, tuple(torch.ones_like(e) for e in graph.edges))
    mask = _edge_mask(tied, 0, 0)
    assert mask[:, 0].all() and mask[0, :].all() and int(mask.sum()) == mask.shape[0] + mask.shape[1] - 1
    last = _edge_mask(tied, 2, 0)  # into the identity basis of the logits: no constant output feature
    assert last[:, 0].all() and int(last.sum()) == last.shape[0]
    n_free = int((~_edge_mask(tied, 0, 0)).sum())
    kept = _edge_mask(tied, 0, 5) & ~mask  # five tied edges: the first five free ones in row-major order
    free_positions = torch.nonzero((~mask).flatten()).flatten()
    assert torch.equal(torch.nonzero(kept.flatten()).flatten(), free_positions[:5]) and n_free > 16
    assert torch.equal(_edge_mask(graph, 0, np.int64(3)), _edge_mask(graph, 0, 3))
    assert _refusal(lambda: _edge_mask(graph, 0, 3.5)) == (
        "ValueError", f"n_edges must be an int between 0 and {n_free}, got 3.5")
    x = acts[0]
    assert torch.equal(lib.ablate_nodes(graph, sections, 1, acts[1], np.int64(2)),
                       lib.ablate_nodes(graph, sections, 1, acts[1], 2))
    assert _refusal(lambda: lib.ablate_nodes(graph, sections, 1, acts[1], 2.5)) == (
        "ValueError", f"keep must be an int between 1 and {graph.bases[1].size}, got 2.5")
    assert x.shape[0] == 300


# --------------------------------------------------------------------------------------------- the reference loop


def test_the_autograd_loop_holds_the_truncated_part_fixed_and_keeps_names_and_threshold(net):
    """With a threshold that drops directions the data use, the part outside the kept subspace is not zero: the loop
    must hold it fixed as the vectorised graph does, and build its bases at the threshold it is given."""
    model, sections, acts = net
    names = ["x", "h1", "h2", "logits"]
    loop = lib.interaction_graph_loop(acts, sections, threshold=0.2, names=names)
    fast = lib.interaction_graph(acts, sections, threshold=0.2, names=names)
    assert loop.names == tuple(names) == fast.names
    assert [b.size for b in loop.bases] == [b.size for b in fast.bases]
    assert loop.bases[1].size < acts[1].shape[-1] + 1  # truncated
    for a, b in zip(fast.edges, loop.edges):
        assert torch.allclose(a, b, rtol=1e-7, atol=1e-10 * float(a.max()))
    assert repr(loop) == f"InteractionGraph(lib; features per layer x: {loop.bases[0].size}, h1: " \
                         f"{loop.bases[1].size}, h2: {loop.bases[2].size}, logits: 3)"


# --------------------------------------------------------------------------------------------- closed forms


def test_residual_bilinear_section_in_float64_from_any_float_weights():
    w, v, w_out = _randn(4, 6, seed=9), _randn(4, 6, seed=10), _randn(6, 4, seed=11)
    section = cf.residual_bilinear_section(w.float(), v.float(), w_out.float())
    assert section.name == "mlp" and cf.residual_bilinear_section(w, v, w_out, name="m2").name == "m2"
    points = lib.augment(_randn(5, 1, 4, seed=12))
    x = points[..., :-1]
    assert torch.allclose(section(points), x + ((x @ w.float().double()) * (x @ v.float().double())) @
                          w_out.float().double(), rtol=1e-12, atol=1e-12)
    closed = cf.residual_bilinear_jacobians(points, w.float(), v.float(), w_out.float())
    auto = lib.section_jacobians(section, points, closed_form=False)
    assert closed.dtype == F64 and torch.allclose(closed, auto, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("call", "expected"), [
    (lambda: cf.residual_bilinear_section(torch.ones(4), torch.ones(4, 2), torch.ones(2, 4)),
     "W must have 2 dimensions, got shape (4,)"),
    (lambda: cf.residual_bilinear_section(torch.ones(4, 2), torch.ones(4), torch.ones(2, 4)),
     "V must have 2 dimensions, got shape (4,)"),
    (lambda: cf.residual_bilinear_section(torch.ones(4, 2), torch.ones(4, 2), torch.ones(2)),
     "W_out must have 2 dimensions, got shape (2,)"),
    (lambda: cf.residual_bilinear_jacobians(torch.ones(3, 2, 5, dtype=F64), torch.ones(4, 2), torch.ones(4, 2),
                                            torch.ones(2, 4)),
     "the residual bilinear section reads one position, got 2"),
    (lambda: cf.residual_bilinear_jacobians(torch.ones(3, 1, 5, dtype=F64), torch.ones(4, 2), torch.ones(4, 3),
                                            torch.ones(2, 4)),
     "need W and V (4, m) and W_out (m, 4), got (4, 2), (4, 3) and (2, 4)"),
    (lambda: cf.residual_bilinear_jacobians(torch.ones(3, 1, 5, dtype=F64), torch.ones(4, 2), torch.ones(4, 2),
                                            torch.ones(3, 4)),
     "need W and V (4, m) and W_out (m, 4), got (4, 2), (4, 2) and (3, 4)"),
])
def test_closed_form_sections_refuse_in_whole_sentences(call, expected):
    assert _refusal(call)[1] == expected


def test_attention_jacobians_default_to_every_query_and_the_unprojected_output():
    w_q, w_k, w_v = (_randn(2, 4, 3, seed=s) for s in (13, 14, 15))
    w_o = _randn(2, 3, 4, seed=16)
    points = lib.augment(_randn(3, 3, 4, seed=17))
    default = cf.causal_attention_jacobians(points, w_q, w_k, w_v, w_o)
    explicit = cf.causal_attention_jacobians(points, w_q, w_k, w_v, w_o, project=torch.eye(4, dtype=F64),
                                             queries="all")
    assert default.shape == (3, 3, 4, 3, 5) and torch.allclose(default, explicit, rtol=1e-13, atol=1e-13)


# --------------------------------------------------------------------------------------------- exercises, drawing


def test_centred_gram_written_out():
    acts = _randn(6, 3, 4, seed=18) * 3 + 1.5  # positions ≠ dimensions, a non-zero mean
    rows = acts.reshape(18, 4)
    expected = torch.zeros(5, 5, dtype=F64)
    mean = rows.sum(0) / 18
    for r in rows:
        v = torch.cat([r - mean, torch.ones(1, dtype=F64)])
        expected += torch.outer(v, v) / 18
    assert torch.allclose(ex.centred_gram(acts), expected, rtol=1e-12, atol=1e-12)


def test_rotated_basis_passes_its_threshold_on():
    m = torch.diag(torch.tensor([1.0, 5.0, 1.0, 0.01], dtype=F64))
    r = torch.eye(4, dtype=F64)
    assert ex.rotated_basis(m, r, 0.1)[1].numel() == 3  # 0.01 < 0.1 · 5 is dropped
    assert ex.rotated_basis(m, r, 1e-3)[1].numel() == 4


def test_draw_graph_defaults_draw_twelve_features_and_edges_down_to_one_percent(net):
    model, sections, acts = net
    graph = lib.interaction_graph(acts, sections)
    edges = list(graph.edges)
    e = torch.zeros(20, 20, dtype=F64)
    e[1, 1], e[2, 2], e[3, 3] = 1.0, 0.01**2, 0.0099**2  # strengths 1, 0.01 (drawn) and 0.0099 (not)
    basis = lib.Basis("lib", torch.eye(21, 20, dtype=F64), torch.eye(20, 21, dtype=F64), torch.ones(20, dtype=F64),
                      torch.zeros(20, dtype=F64), torch.ones(20, dtype=F64))
    wide = lib.InteractionGraph(("a", "b"), (basis, basis), (e,))
    fig, ax = plt.subplots()
    drawn = lib.draw_graph(ax, wide)
    assert drawn["layer0"].shape == (12, 12)
    assert len(ax.collections[0].get_segments()) == 2
    assert [c.get_zorder() for c in ax.collections[1:]] == [3, 3]  # the nodes above the edges
    plt.close(fig)
    assert len(edges) == 3
