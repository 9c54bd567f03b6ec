"""helpers.lib against answers computed by hand, at every place the book computes M′, Λ and edges.

The other LIB tests compare the book's implementations with each other; these compare them with closed forms that
follow from the definitions, on toy sections small enough to work out on paper:

- a linear section over **two input positions and two output positions** with two output features, so that the
  normalisation by ``n·S``, the sum over positions inside the square of an edge, the absence of cross-position terms
  in ``M′`` and the (output position, output feature) layout all change the answer;
- a linear section on exactly uncorrelated data, whose Λ are known and distinct (the eigenvalue order);
- the same toy scaled by 1e-8 (a relative truncation threshold keeps every feature, an absolute one would not).

For a one-dimensional layer the LIB (and PCA) feature is ``k·(x − μ)`` for some scale ``k``, and an edge is
gradient × activation, so ``k`` cancels: ``E[o, 1] = 1/(n·S) Σ_{x,t} (Σ_s W[t,o,s] (x_s − μ))²`` whatever ``k`` is.
"""

from __future__ import annotations

import pytest
import torch

from helpers import lib

#: W[t, o, s]: output feature o at output position t reads input position s (d = 1); not symmetric in (t, o)
W = torch.tensor([[[1.0, 2.0], [0.5, -1.0]], [[-0.3, 0.7], [1.5, 0.2]]], dtype=torch.float64)


def two_position_section(z: torch.Tensor) -> torch.Tensor:
    """(n, S=2, D=2) augmented inputs → (n, T=2, o=2): ``out[t, o] = Σ_s W[t, o, s] x_s`` (no bias)."""
    return torch.einsum("tos,ns->nto", W, z[..., 0])


def _toy_inputs(n: int = 400, scale: float = 1.0) -> torch.Tensor:
    """(n, 2, 1): two positions whose values are correlated (so that cross-position terms matter) with a mean."""
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(n, generator=g, dtype=torch.float64) + 1.0
    x1 = 0.8 * x0 + 0.6 * torch.randn(n, generator=g, dtype=torch.float64) + 0.5
    return scale * torch.stack([x0, x1], dim=1)[..., None]


def _by_hand(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Λ of the non-constant feature, the constant's diagonal entry of M, PCA's variance and the edges E[:, 1]."""
    n, s, _ = x.shape
    values = x.reshape(-1)
    mu = values.mean()
    var = ((values - mu) ** 2).mean()  # positions count as samples: over n·S values
    sum_w2 = (W**2).sum()
    centred = x[..., 0] - mu  # (n, S)
    per_output = torch.einsum("tos,ns->nto", W, centred)  # Σ_s W[t, o, s] (x_s − μ)
    return {
        "lib_value": var * sum_w2 / s,  # M′ = Σ_{t,o,s} W² / S on x, whitening multiplies by var
        "constant_value": mu**2 * sum_w2 / s,  # the constant direction reads [μ, 1]
        "pca_value": var,
        "edges": per_output.pow(2).sum(dim=(0, 1)) / (n * s),  # (o,): summed over positions, then squared
    }


def _graphs(x: torch.Tensor) -> dict[str, lib.InteractionGraph]:
    acts = [x, two_position_section(lib.augment(x))]
    return lib.interaction_graphs(acts, [two_position_section], methods=("lib", "pca"))


@pytest.fixture(scope="module")
def toy():
    x = _toy_inputs()
    return x, _by_hand(x)


def test_the_hand_computation_sees_every_classic_mistake(toy):
    """The toy is built so that each mistake the tests below look for changes the answer."""
    x, expected = toy
    centred = x[..., 0] - x.mean()
    squared_per_position = torch.einsum("tos,ns->ntos", W, centred).pow(2).sum(dim=(0, 1, 3)) / (2 * len(x))
    assert not torch.allclose(squared_per_position, expected["edges"], rtol=1e-3)
    swapped = torch.einsum("tos,ns->nto", W.transpose(0, 1), centred).pow(2).sum(dim=(0, 1)) / (2 * len(x))
    assert not torch.allclose(swapped, expected["edges"], rtol=1e-3)
    with_cross_terms = (W.sum(dim=2) ** 2).sum() / 2  # (Σ_s W)² instead of Σ_s W²
    assert not torch.isclose(with_cross_terms, (W**2).sum() / 2, rtol=1e-3)


def test_section_jacobians_have_the_output_position_before_the_output_feature():
    x = _toy_inputs(5)
    jac = lib.section_jacobians(two_position_section, lib.augment(x))  # (n, T, o, S, D)
    assert jac.shape == (5, 2, 2, 2, 2)
    assert torch.equal(jac[..., 0], W.expand(5, 2, 2, 2))  # ∂out[t, o] / ∂x_s = W[t, o, s]
    assert torch.equal(jac[..., 1], torch.zeros(5, 2, 2, 2, dtype=torch.float64))  # no bias: no constant slope


def test_interaction_graphs_match_the_hand_computation(toy):
    x, expected = toy
    graphs = _graphs(x)
    lib_basis, pca_basis = graphs["lib"].bases[0], graphs["pca"].bases[0]
    assert lib_basis.size == pca_basis.size == 2
    torch.testing.assert_close(lib_basis.values[1], expected["lib_value"], rtol=1e-10, atol=0)
    torch.testing.assert_close(lib_basis.values[0], expected["constant_value"], rtol=1e-10, atol=0)
    torch.testing.assert_close(pca_basis.values[1], expected["pca_value"], rtol=1e-10, atol=0)
    for method in ("lib", "pca"):
        torch.testing.assert_close(graphs[method].edges[0][:, 1], expected["edges"], rtol=1e-10, atol=0)


def test_the_per_output_autograd_loop_matches_the_hand_computation(toy):
    x, expected = toy
    graph = lib.interaction_graph_loop([x, two_position_section(lib.augment(x))], [two_position_section])
    torch.testing.assert_close(graph.bases[0].values[1], expected["lib_value"], rtol=1e-10, atol=0)
    torch.testing.assert_close(graph.edges[0][:, 1], expected["edges"], rtol=1e-10, atol=0)


def test_the_building_blocks_match_the_hand_computation(toy):
    """lib_basis + interaction_matrix, squared_edges and edges_from_jacobians, each on its own."""
    x, expected = toy
    raw = lib.section_jacobians(two_position_section, lib.augment(x))  # the identity next basis: K = o
    basis = lib.lib_basis(x, raw)
    torch.testing.assert_close(basis.values[1], expected["lib_value"], rtol=1e-10, atol=0)
    step = lib.gram_step(x)
    m = lib.interaction_matrix(raw, step.R_pinv)
    torch.testing.assert_close(m[1, 1], expected["lib_value"], rtol=1e-10, atol=0)
    torch.testing.assert_close(m[0, 0], expected["constant_value"], rtol=1e-10, atol=0)
    output_basis = lib.identity_basis(2)
    edges = lib.squared_edges(two_position_section, basis, output_basis, x)
    torch.testing.assert_close(edges[:, 1], expected["edges"], rtol=1e-10, atol=0)
    feature_jacobians = torch.einsum("ntksd,jd->ntksj", raw, basis.C_pinv)
    direct = lib.edges_from_jacobians(feature_jacobians, basis.features(x))
    torch.testing.assert_close(direct[:, 1], expected["edges"], rtol=1e-10, atol=0)


def test_lib_features_have_second_moment_lambda_over_positions_and_examples(toy):
    x, expected = toy
    basis = _graphs(x)["lib"].bases[0]
    f = basis.features(x).reshape(-1, basis.size)  # every (example, position) is a sample
    torch.testing.assert_close((f[:, 1] ** 2).mean(), expected["lib_value"], rtol=1e-10, atol=0)


def test_a_linear_section_has_edges_j_squared_times_feature_second_moment():
    """Single position, identity bases on both sides: E[i, j] = J[i, j]² · E[f̂_j²] with J = Wᵀ."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(300, 1, 3, generator=g, dtype=torch.float64) + torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    w = torch.randn(3, 2, generator=g, dtype=torch.float64)

    def section(z):
        return z[..., :3] @ w

    inside, outside = lib.identity_basis(3), lib.identity_basis(2)
    edges = lib.squared_edges(section, inside, outside, x)
    expected = w.T**2 * (x.reshape(-1, 3) ** 2).mean(dim=0)  # (K, J)
    torch.testing.assert_close(edges, expected, rtol=1e-12, atol=0)


def test_non_constant_lambda_come_in_decreasing_order_with_the_right_values():
    """Exactly uncorrelated data with variances 1 and 8/3, read as 3·x_a and x_b: Λ = (9, 8/3), in that order."""
    a = torch.tensor([-1.0, 1.0], dtype=torch.float64) + 0.3
    b = torch.tensor([-2.0, 0.0, 2.0], dtype=torch.float64) + 1.0
    grid = torch.cartesian_prod(a, b)  # every pair: sample covariance exactly 0
    x = grid.repeat(5, 1)[:, None, :]  # (30, 1, 2)
    scale = torch.tensor([3.0, 1.0], dtype=torch.float64)

    def section(z):
        return z[..., :2] * scale

    acts = [x, section(lib.augment(x))]
    for graph in (lib.interaction_graph(acts, [section]), lib.interaction_graph_loop(acts, [section])):
        torch.testing.assert_close(
            graph.bases[0].values[1:], torch.tensor([9.0, 8 / 3], dtype=torch.float64), rtol=1e-12, atol=0
        )


def test_every_basis_of_a_relu_network_has_non_increasing_lambda():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)
    ).double()
    sections = lib.mlp_sections(model)
    g = torch.Generator().manual_seed(2)
    acts = lib.node_activations(sections, torch.randn(300, 6, generator=g, dtype=torch.float64))
    for method, graph in lib.interaction_graphs(acts, sections).items():
        for layer, basis in enumerate(graph.bases[:-1]):
            rest = basis.values[1:]
            assert torch.all(rest[:-1] >= rest[1:]), f"{method} layer {layer}: Λ not sorted: {rest}"


def test_truncation_is_relative_to_the_largest_eigenvalue(toy):
    """Scaling a layer by 1e-8 scales Λ by 1e-16 (below any absolute threshold) and keeps every feature."""
    x, expected = toy
    small = x * 1e-8
    graphs = _graphs(small)
    assert graphs["lib"].bases[0].size == graphs["pca"].bases[0].size == 2
    torch.testing.assert_close(graphs["lib"].bases[0].values[1], expected["lib_value"] * 1e-16, rtol=1e-8, atol=0)
    assert lib.gram_step(small).R.shape[1] == 2
