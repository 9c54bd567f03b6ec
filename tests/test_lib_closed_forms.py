"""helpers.lib.closed_forms: each closed-form Jacobian equals torch.func's, and the graph built from them equals the
graph built with autograd, on every section type of the book's transformer (and an affine map over positions)."""

from __future__ import annotations

import pytest
import torch

from helpers import lib
from helpers.lib.closed_forms import (
    ClosedFormSection,
    affine_jacobians,
    affine_section,
    causal_attention_section,
    residual_bilinear_jacobians,
    residual_mlp_jacobians,
)
from helpers.lib.modadd import ModAddTransformer


@pytest.fixture(scope="module")
def small_model():
    """An untrained mod-7 transformer in float64 (its Jacobians are as generic as a trained one's)."""
    torch.manual_seed(0)
    model = ModAddTransformer(7, 8, 2, 16).double().requires_grad_(False)
    with torch.no_grad():  # biases away from zero, so that the constant's column is exercised
        model.b_in.normal_()
        model.b_out.normal_()
    tokens = torch.cartesian_prod(torch.arange(7), torch.arange(7))
    tokens = torch.cat([tokens, torch.full((49, 1), 7)], dim=1)  # (a, b, =)
    return model, model.node_activations(tokens)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("layer", [0, 1, 2], ids=["attention", "residual_mlp", "affine"])
def test_closed_form_equals_autograd(small_model, layer):
    model, acts = small_model
    section = model.sections()[layer]
    points = lib.augment(acts[layer])
    generic = lib.section_jacobians(section, points, closed_form=False)
    closed = lib.section_jacobians(section, points)
    assert closed.shape == generic.shape
    assert _relative(closed, generic) <= 1e-12
    g = torch.Generator().manual_seed(layer)
    project = torch.randn(generic.shape[2], 5, generator=g, dtype=torch.float64)
    projected = section.jacobians(points, project)  # read through the next layer's features first
    assert _relative(projected, torch.einsum("ntosd,ok->ntksd", generic, project)) <= 1e-12


def test_affine_closed_form_over_several_positions_with_a_bias():
    g = torch.Generator().manual_seed(1)
    w, b = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64)
    section = ClosedFormSection(
        lambda x: x[..., :4] @ w + x[..., 4:] * b, lambda x, c: affine_jacobians(x, w, b, c), "affine", constant=True
    )
    points = lib.augment(torch.randn(6, 2, 4, generator=g, dtype=torch.float64))
    generic = lib.section_jacobians(section, points, closed_form=False)  # (6, 2, 3, 2, 5): position t reads only t
    assert _relative(lib.section_jacobians(section, points), generic) <= 1e-12


@pytest.mark.parametrize("target", ["local", "output"])
def test_graphs_from_closed_forms_equal_graphs_from_autograd(small_model, target):
    model, acts = small_model
    closed = lib.interaction_graphs(acts, model.sections(), target=target, chunk_size=16)
    generic = lib.interaction_graphs(acts, [s.forward for s in model.sections()], target=target, chunk_size=16)
    for method in closed:
        for a, b in zip(closed[method].bases, generic[method].bases):
            assert a.size == b.size and _relative(a.values, b.values) <= 1e-10
        for a, b in zip(closed[method].edges, generic[method].edges):
            assert _relative(a, b) <= 1e-10


def test_closed_forms_refuse_what_they_do_not_describe(small_model):
    model, acts = small_model
    points = lib.augment(acts[1])
    with pytest.raises(ValueError, match="project has 3 rows"):
        model.sections()[1].jacobians(points, torch.ones(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="reads one position"):
        residual_mlp_jacobians(lib.augment(acts[0]), model.W_in, model.b_in, model.W_out, model.b_out)
    with pytest.raises(ValueError, match="needs 9"):
        affine_jacobians(points[..., :5], model.W_U)


def test_graph_with_a_constant_jacobian_over_several_positions_equals_autograd():
    """An affine section reading two positions into two: the per-example-free edges sum positions inside the square."""
    g = torch.Generator().manual_seed(2)
    w = torch.randn(3, 3, generator=g, dtype=torch.float64)
    mix = torch.tensor([[1.0, 0.5], [-0.7, 2.0]], dtype=torch.float64)  # output position t reads every position

    def forward(x):
        return torch.einsum("ts,nsd,do->nto", mix, x[..., :3], w)

    def jacobians(x, c):
        column = torch.cat([w.T, torch.zeros(3, 1, dtype=torch.float64)], dim=1)  # (o, D)
        column = column if c is None else c.T @ column
        return torch.einsum("ts,oi->tosi", mix, column).expand(x.shape[0], -1, -1, -1, -1)

    section = ClosedFormSection(forward, jacobians, "mixing", constant=True)
    x = torch.randn(40, 2, 3, generator=g, dtype=torch.float64) + 0.3
    acts = [x, forward(lib.augment(x))]
    closed = lib.interaction_graphs(acts, [section])
    generic = lib.interaction_graphs(acts, [forward])
    for method in closed:
        assert _relative(closed[method].bases[0].values, generic[method].bases[0].values) <= 1e-10
        assert _relative(closed[method].edges[0], generic[method].edges[0]) <= 1e-10


def test_sections_compute_what_the_model_computes(small_model):
    """The closed-form sections' own forward passes are the model's attention, MLP and unembedding."""
    model, acts = small_model
    for layer, (section, method) in enumerate(zip(model.sections(), (model.attention, model.mlp, model.unembed))):
        points = lib.augment(acts[layer])
        assert _relative(section(points), method(points)) <= 1e-12


@pytest.fixture(scope="module")
def causal_chain():
    """Causal attention at every position (3 → 3 positions), then an affine map at every position with a bias:
    both sections have more than one output position."""
    g = torch.Generator().manual_seed(3)
    h, d, e = 2, 6, 3
    w_q, w_k, w_v = (torch.randn(h, d, e, generator=g, dtype=torch.float64) for _ in range(3))
    w_o = torch.randn(h, e, d, generator=g, dtype=torch.float64) / 2
    sections = [
        causal_attention_section(w_q, w_k, w_v, w_o, queries="all"),
        affine_section(
            torch.randn(d, 4, generator=g, dtype=torch.float64), torch.randn(4, generator=g, dtype=torch.float64)
        ),
    ]
    x = torch.randn(30, 3, d, generator=g, dtype=torch.float64)
    return sections, lib.node_activations(sections, x)


def test_causal_attention_at_every_position_equals_autograd(causal_chain):
    sections, acts = causal_chain
    points = lib.augment(acts[0])
    generic = lib.section_jacobians(sections[0], points, closed_form=False)  # (30, 3, 6, 3, 7)
    assert generic.shape == (30, 3, 6, 3, 7)
    assert generic[:, 0, :, 1:].abs().max() == 0  # causal: position 0 reads nothing later
    assert _relative(lib.section_jacobians(sections[0], points), generic) <= 1e-12


@pytest.mark.parametrize("target", ["local", "output"])
def test_graphs_with_several_output_positions_equal_autograd(causal_chain, target):
    """Bases (Λ and C) and edges from the closed forms equal torch.func's on attention and affine sections that
    each write three output positions."""
    sections, acts = causal_chain
    closed = lib.interaction_graphs(acts, sections, target=target, chunk_size=7)
    generic = lib.interaction_graphs(acts, [s.forward for s in sections], target=target, chunk_size=7)
    for method in closed:
        for a, b in zip(closed[method].bases, generic[method].bases):
            assert a.size == b.size and _relative(a.values, b.values) <= 1e-10
            aligned = b.C * torch.sign((a.C * b.C).sum(dim=0))  # an eigenvector's sign is arbitrary
            assert _relative(a.C, aligned) <= 1e-10
        for a, b in zip(closed[method].edges, generic[method].edges):
            assert _relative(a, b) <= 1e-10


def test_closed_form_gram_and_edges_equal_their_definitions(small_model):
    """gram and edges of each section, against the definitions applied to torch.func's Jacobians."""
    model, acts = small_model
    g = torch.Generator().manual_seed(4)
    for layer, section in enumerate(model.sections()):
        points = lib.augment(acts[layer])
        raw = lib.section_jacobians(section, points, closed_form=False)  # (n, T, o, S, D)
        project = torch.randn(raw.shape[2], 5, generator=g, dtype=torch.float64)
        jac = torch.einsum("ntosd,ok->ntksd", raw, project)
        rows = jac.reshape(-1, jac.shape[-1])
        assert _relative(section.gram(points, project), rows.T @ rows) <= 1e-12
        c_pinv = torch.randn(4, points.shape[-1], generator=g, dtype=torch.float64)
        feats = torch.randn(points.shape[0], points.shape[1], 4, generator=g, dtype=torch.float64)
        between = torch.einsum("ntksd,jd->ntksj", jac, c_pinv)
        expected = torch.einsum("ntksj,nsj->ntkj", between, feats).pow(2).sum(dim=(0, 1))
        assert _relative(section.edges(points, project, c_pinv, feats), expected) <= 1e-12


@pytest.fixture(scope="module")
def bilinear_model():
    """The same untrained mod-7 transformer with a bilinear MLP (chapter 5's architecture), in float64."""
    torch.manual_seed(0)
    model = ModAddTransformer(7, 8, 2, 16, mlp="bilinear").double().requires_grad_(False)
    tokens = torch.cartesian_prod(torch.arange(7), torch.arange(7))
    tokens = torch.cat([tokens, torch.full((49, 1), 7)], dim=1)
    return model, model.node_activations(tokens)


def test_bilinear_mlp_has_no_biases_and_the_relu_model_keeps_its_parameters():
    relu, bilinear = ModAddTransformer(7, 8, 2, 16), ModAddTransformer(7, 8, 2, 16, mlp="bilinear")
    attention = ["W_E", "W_pos", "W_Q", "W_K", "W_V", "W_O"]
    assert [n for n, _ in relu.named_parameters()] == [*attention, "W_in", "b_in", "W_out", "b_out", "W_U"]
    assert [n for n, _ in bilinear.named_parameters()] == [*attention, "W_in", "V_in", "W_out", "W_U"]
    with pytest.raises(ValueError, match="mlp must be one of"):
        ModAddTransformer(7, 8, 2, 16, mlp="gelu")


def test_bilinear_mlp_computes_the_sum_by_hand(bilinear_model):
    """y_k = x_k + Σ_m (Σ_i x_i W[i, m]) (Σ_j x_j V[j, m]) W_out[m, k], written as loops over one example."""
    model, acts = bilinear_model
    x = acts[1][3, 0]  # (d,)
    expected = x.clone()
    for m in range(model.W_in.shape[1]):
        left = sum(float(x[i] * model.W_in[i, m]) for i in range(8))
        right = sum(float(x[j] * model.V_in[j, m]) for j in range(8))
        expected += left * right * model.W_out[m]
    assert torch.allclose(acts[2][3, 0], expected, rtol=0, atol=1e-12)
    assert torch.allclose(model.sections()[1](lib.augment(acts[1]))[3, 0], expected, rtol=0, atol=1e-12)


def test_bilinear_jacobian_of_a_square_by_hand():
    """W = V = e₀ (one hidden unit) and W_out = e₀ᵀ: y = x + x₀² e₀, so J = I + 2 x₀ e₀e₀ᵀ and no constant column."""
    e0 = torch.zeros(3, 1, dtype=torch.float64)
    e0[0] = 1
    x = torch.tensor([[[1.5, -2.0, 0.5, 1.0]]], dtype=torch.float64)  # (1, 1, d + 1), the constant last
    jac = residual_bilinear_jacobians(x, e0, e0, e0.T)[0, 0, :, 0]  # (d, d + 1)
    expected = torch.cat([torch.eye(3, dtype=torch.float64), torch.zeros(3, 1, dtype=torch.float64)], dim=1)
    expected[0, 0] += 2 * 1.5
    assert torch.equal(jac, expected)


@pytest.mark.parametrize("target", ["local", "output"])
def test_bilinear_closed_form_and_graphs_equal_autograd(bilinear_model, target):
    model, acts = bilinear_model
    section = model.sections()[1]
    points = lib.augment(acts[1])
    generic = lib.section_jacobians(section, points, closed_form=False)
    assert _relative(lib.section_jacobians(section, points), generic) <= 1e-12
    closed = lib.interaction_graphs(acts, model.sections(), target=target, chunk_size=16)
    autograd = lib.interaction_graphs(acts, [s.forward for s in model.sections()], target=target, chunk_size=16)
    for method in closed:
        for a, b in zip(closed[method].bases, autograd[method].bases):
            assert a.size == b.size and _relative(a.values, b.values) <= 1e-10
