"""helpers.lib: known-answer checks of the Local Interaction Basis, its PCA baseline, edges and ablations."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import lib
from helpers.lib.modadd import ModAddTransformer
from helpers.models import relu_mlp


def _mlp(sizes, *, relu=True, seed=0):
    torch.manual_seed(seed)
    model = relu_mlp(sizes)
    if not relu:
        model = torch.nn.Sequential(*[m for m in model if isinstance(m, torch.nn.Linear)])
    return model


def _inputs(n, d, seed=1):
    g = torch.Generator().manual_seed(seed)
    # inputs with clearly different variances along each axis, and a non-zero mean
    return torch.randn(n, d, generator=g, dtype=torch.float64) * torch.linspace(2.0, 0.3, d, dtype=torch.float64) + 0.5


@pytest.fixture(scope="module")
def relu_net():
    model = _mlp([6, 8, 7, 3])
    sections = lib.mlp_sections(model)
    acts = lib.node_activations(sections, _inputs(400, 6))
    return sections, acts


@pytest.fixture(scope="module")
def relu_graph(relu_net):
    sections, acts = relu_net
    return lib.interaction_graph(acts, sections)


def _second_moments(basis, acts):
    f = basis.features(acts).reshape(-1, basis.size)
    return f.T @ f / f.shape[0], f


# --- the basis ---------------------------------------------------------------------------------------------
def test_lib_features_are_uncorrelated_with_second_moments_lambda(relu_net, relu_graph):
    _, acts = relu_net
    for basis, a in zip(relu_graph.bases[:-1], acts):
        moments, _ = _second_moments(basis, a)
        scale = basis.values.max()
        assert torch.allclose(moments, torch.diag(basis.values), atol=1e-10 * scale, rtol=0)


def test_non_constant_features_have_mean_zero_and_the_constant_is_constant(relu_net, relu_graph):
    _, acts = relu_net
    for basis, a in zip(relu_graph.bases[:-1], acts):
        _, f = _second_moments(basis, a)
        assert f[:, 1:].mean(dim=0).abs().max() <= 1e-10 * f[:, 1:].abs().max()
        assert torch.allclose(f[:, 0], torch.full_like(f[:, 0], math.sqrt(basis.values[0])), rtol=1e-12, atol=0)


def test_pseudo_inverse_loses_only_what_the_next_layer_ignores(relu_net, relu_graph):
    sections, acts = relu_net
    basis = relu_graph.bases[1]
    assert basis.size < acts[1].shape[-1] + 1  # a direction was dropped (a dead ReLU of the next section)
    assert torch.allclose(basis.C_pinv @ basis.C, torch.eye(basis.size, dtype=torch.float64), atol=1e-10)
    back = basis.inverse(basis.features(acts[1]))
    assert not torch.allclose(back, lib.augment(acts[1]), atol=1e-3)
    assert torch.allclose(sections[1](back), acts[2], atol=1e-10)
    pca = lib.pca_basis(acts[1])
    assert torch.allclose(pca.inverse(pca.features(acts[1])), lib.augment(acts[1]), atol=1e-10)


def test_gram_step_whitens_and_puts_the_constant_first(relu_net):
    _, acts = relu_net
    step = lib.gram_step(acts[1])
    g = lib.augment(acts[1]).reshape(-1, 9) @ step.R
    assert torch.allclose(g.T @ g / g.shape[0], torch.eye(step.D.shape[0], dtype=torch.float64), atol=1e-10)
    assert step.D[0] == 1 and step.U[-1, 0] == 1 and step.U[:-1, 0].abs().max() == 0


def test_dead_directions_are_truncated():
    x = _inputs(300, 5)
    x[:, 3] = 2 * x[:, 0] - x[:, 1]  # a linearly dependent coordinate
    x[:, 4] = 1.5  # a constant coordinate
    step = lib.gram_step(x)
    assert step.D.shape[0] == 1 + 3
    assert lib.count_above(step.all_values, 1e-12) == 3


def test_pca_basis_is_the_centred_gram_eigenbasis(relu_net):
    _, acts = relu_net
    basis = lib.pca_basis(acts[1])
    moments, f = _second_moments(basis, acts[1])
    assert torch.allclose(moments, torch.diag(basis.values), atol=1e-10 * basis.values.max())
    assert torch.allclose(f[:, 0], torch.ones_like(f[:, 0]))
    cov = torch.cov(acts[1].reshape(-1, 8).T, correction=0)
    assert torch.allclose(basis.values[1:], torch.linalg.eigvalsh(cov).flip(0)[: basis.size - 1], atol=1e-10)


def test_lib_on_a_linear_network_gives_diagonal_edges():
    model = _mlp([6, 5, 5, 4, 3], relu=False)
    sections = lib.mlp_sections(model)
    acts = lib.node_activations(sections, _inputs(500, 6))
    graph = lib.interaction_graph(acts, sections)
    for e in graph.edges[:-1]:  # between LIB layers (not into the unrotated output)
        inner = e[1:, 1:]  # constant edges excluded
        off = inner - torch.diag(torch.diagonal(inner))
        assert off.abs().max() / inner.abs().max() <= 1e-7


def test_earlier_bases_and_edges_do_not_depend_on_rotating_the_final_layer(relu_net):
    sections, acts = relu_net
    plain = lib.interaction_graph(acts, sections, final="identity")
    rotated = lib.interaction_graph(acts, sections, final="pca")
    assert rotated.bases[-1].kind == "pca"
    for a, b in zip(plain.bases[:-1], rotated.bases[:-1]):
        assert torch.allclose(a.values, b.values, rtol=1e-8, atol=0)
        assert torch.allclose(a.C, b.C, rtol=1e-6, atol=1e-9)
    for a, b in zip(plain.edges[:-1], rotated.edges[:-1]):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-9 * float(a.max()))


def test_vectorised_graph_equals_the_autograd_loop_on_an_mlp(relu_net, relu_graph):
    sections, acts = relu_net
    loop = lib.interaction_graph_loop(acts, sections)
    for a, b in zip(relu_graph.bases, loop.bases):
        assert torch.allclose(a.values, b.values, rtol=1e-9, atol=0)
        assert torch.allclose(a.C, b.C, rtol=1e-7, atol=1e-9)
    for a, b in zip(relu_graph.edges, loop.edges):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-12 * float(a.max()))


@pytest.fixture(scope="module")
def tiny_transformer():
    torch.manual_seed(0)
    model = ModAddTransformer(7, 8, 2, 16).double()
    with torch.no_grad():
        model.b_in.normal_()
    tokens = torch.cartesian_prod(torch.arange(7), torch.arange(7))
    tokens = torch.cat([tokens, torch.full((49, 1), 7)], dim=1)
    with torch.no_grad():
        acts = model.node_activations(tokens)
    return model, acts


def test_vectorised_graph_equals_the_autograd_loop_on_attention(tiny_transformer):
    model, acts = tiny_transformer
    fast = lib.interaction_graph(acts, model.sections(), chunk_size=16)
    slow = lib.interaction_graph_loop(acts, model.sections())
    for a, b in zip(fast.bases, slow.bases):
        assert torch.allclose(a.values, b.values, rtol=1e-8, atol=1e-12 * float(a.values.max()))
    for a, b in zip(fast.edges, slow.edges):
        assert torch.allclose(a, b, rtol=1e-7, atol=1e-10 * float(a.max()))


def test_section_jacobians_equal_an_explicit_autograd_loop(tiny_transformer):
    model, acts = tiny_transformer
    points = lib.augment(acts[0][:5])
    fast = lib.section_jacobians(model.attention, points, chunk_size=2)
    for n in range(5):
        x = points[n].clone().requires_grad_(True)
        out = model.attention(x)  # (1, d)
        for o in range(out.shape[1]):
            (g,) = torch.autograd.grad(out[0, o], x, retain_graph=True)
            assert torch.allclose(fast[n, 0, o], g, atol=1e-12)


def test_output_target_equals_local_for_the_last_layer_and_chains_before(relu_net):
    sections, acts = relu_net
    local = lib.interaction_graph(acts, sections, target="local")
    output = lib.interaction_graph(acts, sections, target="output")
    assert torch.allclose(local.bases[2].C, output.bases[2].C)
    # layer 1 with the output as target: M from the Jacobian of the whole rest of the network
    rest = lambda x: sections[2](lib.augment(sections[1](x)))  # noqa: E731
    j = lib.section_jacobians(rest, lib.augment(acts[1]))
    direct = lib.lib_basis(acts[1], j)
    assert torch.allclose(direct.values, output.bases[1].values, rtol=1e-9)


def test_integrated_gradients_equal_gradients_on_a_linear_network():
    model = _mlp([5, 4, 3], relu=False)
    sections = lib.mlp_sections(model)
    acts = lib.node_activations(sections, _inputs(200, 5))
    graph = lib.interaction_graph(acts, sections)
    for steps in (1, 4):
        e = lib.squared_edges(
            sections[0], graph.bases[0], graph.bases[1], acts[0], integration="integrated", n_steps=steps
        )
        assert torch.allclose(e, graph.edges[0], rtol=1e-9, atol=1e-12 * float(e.max()))


def test_squared_edges_with_gradient_integration_match_the_graph(relu_net, relu_graph):
    sections, acts = relu_net
    e = lib.squared_edges(sections[1], relu_graph.bases[1], relu_graph.bases[2], acts[1])
    assert torch.allclose(e, relu_graph.edges[1], rtol=1e-8, atol=1e-12 * float(e.max()))
    assert (e >= 0).all() and e.max() > 0


def test_integrated_edges_equal_gradient_edges_when_the_section_is_homogeneous(relu_net, relu_graph):
    # relu(W αx + α b) = α relu(W x + b): with the bias folded in (and scaled), a ReLU layer is positively
    # homogeneous, its gradient is the same all along α f̂, and integrated gradients change nothing
    sections, acts = relu_net
    e = lib.squared_edges(sections[1], relu_graph.bases[1], relu_graph.bases[2], acts[1], integration="integrated")
    assert torch.allclose(e, relu_graph.edges[1], rtol=1e-8, atol=1e-12 * float(e.max()))


def test_squared_edges_are_taken_at_the_real_activations():
    # y = x1 · (2 − cos(π x2)) with x2 ∈ {0, 2}: on the data ∂y/∂x2 = 0, so LIB drops the x2 direction, yet at
    # the projected point (x2 at its mean, ≈ 1) the gradient along x1 is about 3 instead of 1
    g = torch.Generator().manual_seed(5)
    x = torch.stack(
        [torch.randn(300, generator=g, dtype=torch.float64), 2.0 * torch.randint(0, 2, (300,), generator=g).double()],
        dim=1,
    )

    def section(v):
        return v[..., 0:1] * (2 - torch.cos(torch.pi * v[..., 1:2]))

    acts = lib.node_activations([section], x)
    graph = lib.interaction_graph(acts, [section])
    basis = graph.bases[0]
    assert basis.size == 2  # the constant and one feature: the x2 direction was dropped
    e = lib.squared_edges(section, basis, graph.bases[1], acts[0])
    assert torch.allclose(e, graph.edges[0], rtol=1e-8)


def test_integrated_edges_differ_through_attention(tiny_transformer):
    model, acts = tiny_transformer
    graph = lib.interaction_graph(acts, model.sections())
    e = lib.squared_edges(model.attention, graph.bases[0], graph.bases[1], acts[0], integration="integrated")
    assert not torch.allclose(e, graph.edges[0], rtol=1e-3)
    assert (e >= 0).all()


# --- ablations ---------------------------------------------------------------------------------------------
def test_node_ablation_keeping_everything_changes_nothing_and_keeping_the_constant_is_mean_ablation(
    relu_net, relu_graph
):
    sections, acts = relu_net
    full = lib.ablate_nodes(relu_graph, sections, 1, acts[1], relu_graph.bases[1].size)
    assert torch.allclose(full, acts[-1], atol=1e-8)
    mean_only = lib.ablate_nodes(relu_graph, sections, 1, acts[1], 1)
    expected = lib.run_from(sections, 1, lib.augment(acts[1].mean(dim=(0, 1)).expand_as(acts[1])))
    assert torch.allclose(mean_only, expected, atol=1e-10)


def test_edge_ablation_with_every_edge_kept_changes_nothing(relu_net, relu_graph):
    sections, acts = relu_net
    for layer in range(3):
        e = relu_graph.edges[layer]
        n_all = int(e[1:, 1:].numel()) if relu_graph.bases[layer + 1].kind != "identity" else int(e[:, 1:].numel())
        out = lib.ablate_edges(relu_graph, sections, layer, acts[layer], n_all)
        assert torch.allclose(out, acts[-1], atol=1e-8)


def test_edge_ablation_with_no_edges_keeps_only_constant_contributions(relu_net, relu_graph):
    sections, acts = relu_net
    out = lib.ablate_edges(relu_graph, sections, 2, acts[2], 0)
    assert torch.allclose(out, out[:1].expand_as(out))  # every example gets the same output


def test_edges_needed_bisects_to_the_first_good_count():
    acc = lambda n: min(1.0, 0.5 + n / 100)  # noqa: E731
    n, seen = lib.edges_needed(acc, 200, 1.0, tolerance=0.001)
    assert n == 50 and seen[50] >= 0.999 and seen[49] < 0.999 if 49 in seen else n == 50
    with pytest.raises(ValueError, match="even all"):
        lib.edges_needed(lambda n: 0.2, 10, 1.0)


def _two_blocks(last: torch.Tensor | None = None) -> lib.InteractionGraph:
    """Features 1-2 of each layer talk only to features 1-2 of the next, and 3-4 to 3-4 (feature 0: constant)."""
    bases = tuple(lib.identity_basis(5) for _ in range(3))
    block = torch.zeros(5, 5, dtype=torch.float64) + 1e-9
    block[1:3, 1:3] = 10.0
    block[3:, 3:] = 10.0
    return lib.InteractionGraph(("a", "b", "c"), bases, (block, block if last is None else last))


@pytest.mark.parametrize("resolution", [0.5, 1.0])
def test_modularity_is_the_standard_q_of_two_disconnected_blocks(resolution):
    """Two equal blocks and nothing between them: Q = 2 · (1/2 − (1/2)²) = 0.5 exactly, whatever γ found them
    (the generalised Q_γ would read 1 − γ/2)."""
    q, communities = lib.modularity(_two_blocks(), [1.0, 1.0], resolution=resolution, include_output=True)
    assert len(communities) == 2
    assert q == pytest.approx(0.5, abs=1e-12)


def test_modularity_leaves_out_the_output_layer_unless_asked():
    """An output layer wired all to all would merge the blocks; left out (the default), it changes nothing."""
    dense = torch.full((5, 5), 10.0, dtype=torch.float64)
    q, communities = lib.modularity(_two_blocks(dense), [1.0, 1.0])
    assert q == pytest.approx(0.5, abs=1e-12) and len(communities) == 2
    assert all(layer < 2 for c in communities for layer, _ in c)
    q_all, _ = lib.modularity(_two_blocks(dense), [1.0, 1.0], include_output=True)
    assert q_all < 0.45


# --- errors ------------------------------------------------------------------------------------------------
def test_bad_inputs_raise_clearly(relu_net, relu_graph):
    sections, acts = relu_net
    bad = acts[1].clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        lib.gram_step(bad)
    with pytest.raises(ValueError, match="shape"):
        lib.gram_step(torch.zeros(2, 3, 4, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="one more node layer"):
        lib.interaction_graph(acts[:2], sections)
    with pytest.raises(ValueError, match="do not fit"):
        lib.lib_basis(acts[1], torch.zeros(400, 1, 3, 1, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="threshold"):
        lib.gram_step(acts[1], threshold=2.0)
    with pytest.raises(ValueError, match="unknown method"):
        lib.interaction_graph(acts, sections, method="svd")
    with pytest.raises(ValueError, match="integration"):
        lib.squared_edges(sections[0], relu_graph.bases[0], relu_graph.bases[1], acts[0], integration="trapezoid")
    with pytest.raises(ValueError, match="keep"):
        lib.ablate_nodes(relu_graph, sections, 1, acts[1], 0)
    with pytest.raises(ValueError, match="n_edges"):
        lib.ablate_edges(relu_graph, sections, 1, acts[1], 10_000)
    with pytest.raises(ValueError, match="coordinates"):
        relu_graph.bases[1].features(acts[0])
    with pytest.raises(ValueError, match="Linear"):
        lib.mlp_sections(torch.nn.Sequential(torch.nn.Tanh()))
    with pytest.raises(ValueError, match="same number of examples"):
        lib.interaction_graph([acts[0], acts[1][:10], acts[2], acts[3]], sections)


def test_draw_graph_as_chapter_3_shows_it(relu_graph):
    """Columns, nodes by importance, edges scaled per layer pair and cut below min_edge, against snapshots; the
    strengths returned are the ones drawn."""
    import matplotlib.pyplot as plt

    from tests.figure_snapshot import check_snapshot

    fig, ax = plt.subplots(figsize=(5, 3))
    drawn = lib.draw_graph(ax, relu_graph, n_nodes=4, min_edge=0.2)
    assert sorted(drawn) == ["layer0", "layer1", "layer2"]
    for block in drawn.values():
        assert max(block.shape) <= 4 and block.max() == pytest.approx(1.0)  # every layer pair has a darkest edge
    segments = ax.collections[0].get_segments()
    assert len(segments) == sum(int((b >= 0.2).sum()) for b in drawn.values())
    check_snapshot("lib_draw_graph", fig)
    fig, ax = plt.subplots(figsize=(3, 3))
    drawn = lib.draw_graph(ax, relu_graph, n_nodes=3, min_edge=0.0, layers=[1], hide_constant=False)
    assert list(drawn) == ["layer1"] and len(ax.collections[0].get_segments()) == drawn["layer1"].size == 9
    check_snapshot("lib_draw_graph_one_layer_with_constants", fig)
    with pytest.raises(ValueError) as refused:
        lib.draw_graph(ax, relu_graph, layers=[3])
    assert str(refused.value) == "layers must be edge-layer indices in [0, 3), got [3]"
    with pytest.raises(ValueError) as refused:
        lib.draw_graph(ax, relu_graph, layers=[])
    assert str(refused.value) == "layers must be edge-layer indices in [0, 3), got []"
