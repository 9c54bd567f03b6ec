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
from helpers.lib.modadd import ModAddTransformer  # noqa: E402
from helpers.models import relu_mlp  # noqa: E402
from tests.refusal import refusal  # noqa: E402

F64 = torch.float64


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
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 6),
        torch.nn.ReLU(),
        torch.nn.Linear(6, 5, bias=False),
        torch.nn.Linear(5, 3),
        torch.nn.ReLU(),
    )
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


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (torch.nn.Sequential(), "the model must be a sequence of Linear layers, each optionally followed by a ReLU"),
        (
            torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(2, 2)),
            "the model must be a sequence of Linear layers, each optionally followed by a ReLU",
        ),
        (torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh()), "unsupported layer Tanh: only Linear and ReLU"),
    ],
)
def test_mlp_sections_refuse_other_layers(model, expected):
    assert refusal(lambda: lib.mlp_sections(model)) == ("ValueError", expected)


def test_node_activations_name_their_inputs_when_refusing():
    assert refusal(lambda: lib.node_activations([], torch.ones(2, 3, 4, 5))) == (
        "ValueError",
        "inputs must have shape (n, d) or (n, positions, d), got (2, 3, 4, 5)",
    )
    assert refusal(lambda: lib.node_activations([], [1.0])) == ("TypeError", "inputs must be a torch.Tensor, got list")


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


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            lambda: lib.edges_from_jacobians(torch.ones(2, 1, 1, 1), torch.ones(2, 1, 1)),
            "feature_jacobians must have 5 dimensions, got shape (2, 1, 1, 1)",
        ),
        (
            lambda: lib.edges_from_jacobians(torch.ones(2, 1, 1, 1, 1), torch.ones(2, 1)),
            "features must have 3 dimensions, got shape (2, 1)",
        ),
        (
            lambda: lib.edges_from_jacobians(torch.ones(2, 1, 1, 3, 1), torch.ones(2, 2, 1)),
            "feature_jacobians (2, 1, 1, 3, 1) do not fit features (2, 2, 1)",
        ),
        (lambda: lib.count_above(torch.ones(2, 2), 0.1), "values must have 1 dimensions, got shape (2, 2)"),
    ],
)
def test_edge_and_count_helpers_refuse_in_whole_sentences(call, expected):
    assert refusal(call)[1] == expected


def test_integrated_edges_are_a_quadrature_of_the_gradient_along_the_path():
    """Integrated edges against a 400-point midpoint rule of the same integral, written out; the default is 8
    Gauss–Legendre nodes, and splitting the examples into chunks changes nothing."""
    section = cf.residual_bilinear_section(_randn(4, 6, seed=42), _randn(4, 6, seed=43), _randn(6, 4, seed=44))
    f = _randn(200, 1, 4, seed=45) + 0.5  # a quadratic section: its gradient changes along the path
    basis, nxt = lib.pca_basis(f), lib.identity_basis(4)
    feats = basis.features(f)
    rest = lib.augment(f) - basis.inverse(feats)
    midpoints = (torch.arange(400, dtype=F64) + 0.5) / 400
    attributions = 0
    for alpha in midpoints:
        raw = lib.section_jacobians(section, basis.inverse(alpha * feats) + rest)
        jac = torch.einsum("ntosd,ok,jd->ntksj", raw, nxt.C[: raw.shape[2]], basis.C_pinv)
        attributions = attributions + torch.einsum("ntksj,nsj->ntkj", jac, feats) / 400
    expected = attributions.pow(2).sum(dim=(0, 1)) / (feats.shape[0] * feats.shape[1])
    got = lib.squared_edges(section, basis, nxt, f, integration="integrated", n_steps=40)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-8 * float(expected.max()))
    default = lib.squared_edges(section, basis, nxt, f, integration="integrated")
    assert torch.equal(default, lib.squared_edges(section, basis, nxt, f, integration="integrated", n_steps=8))
    assert not torch.equal(default, lib.squared_edges(section, basis, nxt, f, integration="integrated", n_steps=9))
    chunked = lib.squared_edges(section, basis, nxt, f, integration="integrated", chunk_size=70)
    assert torch.allclose(chunked, default, rtol=1e-12, atol=0)
    for bad in (0, 1.5):
        assert refusal(
            lambda bad=bad: lib.squared_edges(section, basis, nxt, f, integration="integrated", n_steps=bad)
        ) == ("ValueError", f"n_steps must be a positive int, got {bad!r}")
    gradient = lib.squared_edges(section, basis, nxt, f)
    assert not torch.allclose(gradient, default, rtol=1e-2)  # the path matters for this section
    assert refusal(lambda: lib.squared_edges(section, basis, nxt, [1.0])) == (
        "TypeError",
        "activations must be a torch.Tensor, got list",
    )


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
    assert refusal(lambda: lib.edges_needed(lambda n: 0.5, 4, baseline=1.0)) == (
        "ValueError",
        "even all 4 edges give accuracy 0.5000 < baseline − tolerance",
    )


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
    assert refusal(lambda: _edge_mask(graph, 0, 3.5)) == (
        "ValueError",
        f"n_edges must be an int between 0 and {n_free}, got 3.5",
    )
    assert torch.equal(
        lib.ablate_nodes(graph, sections, 1, acts[1], np.int64(2)), lib.ablate_nodes(graph, sections, 1, acts[1], 2)
    )
    assert refusal(lambda: lib.ablate_nodes(graph, sections, 1, acts[1], 2.5)) == (
        "ValueError",
        f"keep must be an int between 1 and {graph.bases[1].size}, got 2.5",
    )


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
    assert (
        repr(loop) == f"InteractionGraph(lib; features per layer x: {loop.bases[0].size}, h1: "
        f"{loop.bases[1].size}, h2: {loop.bases[2].size}, logits: 3)"
    )


# --------------------------------------------------------------------------------------------- closed forms


def test_residual_bilinear_section_in_float64_from_any_float_weights():
    w, v, w_out = _randn(4, 6, seed=9), _randn(4, 6, seed=10), _randn(6, 4, seed=11)
    section = cf.residual_bilinear_section(w.float(), v.float(), w_out.float())
    assert section.name == "mlp" and cf.residual_bilinear_section(w, v, w_out, name="m2").name == "m2"
    points = lib.augment(_randn(5, 1, 4, seed=12))
    x = points[..., :-1]
    assert torch.allclose(
        section(points),
        x + ((x @ w.float().double()) * (x @ v.float().double())) @ w_out.float().double(),
        rtol=1e-12,
        atol=1e-12,
    )
    closed = cf.residual_bilinear_jacobians(points, w.float(), v.float(), w_out.float())
    auto = lib.section_jacobians(section, points, closed_form=False)
    assert closed.dtype == F64 and torch.allclose(closed, auto, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            lambda: cf.residual_bilinear_section(torch.ones(4), torch.ones(4, 2), torch.ones(2, 4)),
            "W must have 2 dimensions, got shape (4,)",
        ),
        (
            lambda: cf.residual_bilinear_section(torch.ones(4, 2), torch.ones(4), torch.ones(2, 4)),
            "V must have 2 dimensions, got shape (4,)",
        ),
        (
            lambda: cf.residual_bilinear_section(torch.ones(4, 2), torch.ones(4, 2), torch.ones(2)),
            "W_out must have 2 dimensions, got shape (2,)",
        ),
        (
            lambda: cf.residual_bilinear_jacobians(
                torch.ones(3, 2, 5, dtype=F64), torch.ones(4, 2), torch.ones(4, 2), torch.ones(2, 4)
            ),
            "the residual bilinear section reads one position, got 2",
        ),
        (
            lambda: cf.residual_bilinear_jacobians(
                torch.ones(3, 1, 5, dtype=F64), torch.ones(4, 2), torch.ones(4, 3), torch.ones(2, 4)
            ),
            "need W and V (4, m) and W_out (m, 4), got (4, 2), (4, 3) and (2, 4)",
        ),
        (
            lambda: cf.residual_bilinear_jacobians(
                torch.ones(3, 1, 5, dtype=F64), torch.ones(4, 2), torch.ones(4, 2), torch.ones(3, 4)
            ),
            "need W and V (4, m) and W_out (m, 4), got (4, 2), (4, 2) and (3, 4)",
        ),
    ],
)
def test_closed_form_sections_refuse_in_whole_sentences(call, expected):
    assert refusal(call)[1] == expected


def test_attention_jacobians_default_to_every_query_and_the_unprojected_output():
    w_q, w_k, w_v = (_randn(2, 4, 3, seed=s) for s in (13, 14, 15))
    w_o = _randn(2, 3, 4, seed=16)
    points = lib.augment(_randn(3, 3, 4, seed=17))
    default = cf.causal_attention_jacobians(points, w_q, w_k, w_v, w_o)
    explicit = cf.causal_attention_jacobians(points, w_q, w_k, w_v, w_o, project=torch.eye(4, dtype=F64), queries="all")
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


def test_draw_graph_defaults_draw_twelve_features_and_edges_down_to_one_percent():
    e = torch.zeros(20, 20, dtype=F64)
    e[1, 1], e[2, 2], e[3, 3] = 1.0, 0.01**2, 0.0099**2  # strengths 1, 0.01 (drawn) and 0.0099 (not)
    basis = lib.Basis(
        "lib",
        torch.eye(21, 20, dtype=F64),
        torch.eye(20, 21, dtype=F64),
        torch.ones(20, dtype=F64),
        torch.zeros(20, dtype=F64),
        torch.ones(20, dtype=F64),
    )
    wide = lib.InteractionGraph(("a", "b"), (basis, basis), (e,))
    fig, ax = plt.subplots()
    drawn = lib.draw_graph(ax, wide)
    assert drawn["layer0"].shape == (12, 12)
    assert len(ax.collections[0].get_segments()) == 2
    assert [c.get_zorder() for c in ax.collections[1:]] == [3, 3]  # the nodes above the edges
    plt.close(fig)


# --------------------------------------------------------------------------------------------- batch 2: closed forms


def test_sections_are_named_as_the_chapter_prints_them():
    torch.manual_seed(0)
    for kind in ("relu", "bilinear"):
        sections = ModAddTransformer(5, 4, 2, 6, mlp=kind).sections()
        assert [s.name for s in sections] == ["attention", "mlp", "unembed"]
        assert repr(sections[1]) == "ClosedFormSection(mlp)"
    w_in, b_in, w_out, b_out = _randn(3, 4), _randn(4, seed=1), _randn(4, 3, seed=2), _randn(3, seed=3)
    assert cf.residual_mlp_section(w_in, b_in, w_out, b_out).name == "mlp"
    assert cf.affine_section(_randn(3, 2)).name == "affine"
    assert cf.affine_section(_randn(3, 2), name="u").name == "u" and cf.affine_section(_randn(3, 2)).constant is True


def test_affine_section_adds_its_bias_on_the_constant_and_refuses_bad_shapes():
    w, b = _randn(3, 2, seed=4), _randn(2, seed=5)
    section = cf.affine_section(w.float(), b.float())
    points = lib.augment(_randn(4, 2, 3, seed=6))
    assert torch.allclose(
        section(points), points[..., :-1] @ w.float().double() + b.float().double(), rtol=1e-12, atol=1e-12
    )
    assert section(points).dtype == F64
    scaled = points.clone()
    scaled[..., -1] = 2.0  # the bias rides on the constant coordinate
    assert torch.allclose(section(scaled), points[..., :-1] @ w.float().double() + 2 * b.float().double())
    assert refusal(lambda: cf.affine_section(torch.ones(3))) == (
        "ValueError",
        "weight must have 2 dimensions, got shape (3,)",
    )
    assert refusal(lambda: cf.affine_section(torch.ones(3, 2), torch.ones(2, 1))) == (
        "ValueError",
        "bias must have 1 dimensions, got shape (2, 1)",
    )


def _gram_by_definition(section, points, project=None):
    jac = lib.section_jacobians(section, points, closed_form=False)  # (n, T, o, S, D)
    if project is not None:
        jac = torch.einsum("ntosd,ok->ntksd", jac, project)
    rows = jac.reshape(-1, points.shape[-1])
    return rows.T @ rows


def test_grams_and_edges_over_more_examples_than_one_chunk_equal_their_definitions():
    """300 examples: more than one chunk of 256, so a sum that kept only its last chunk shows."""
    n = 300
    w_in, b_in, w_out, b_out = _randn(3, 5, seed=7), _randn(5, seed=8), _randn(5, 3, seed=9), _randn(3, seed=10)
    points = lib.augment(_randn(n, 1, 3, seed=11))
    mlp = cf.residual_mlp_section(w_in.float(), b_in.float(), w_out.float(), b_out.float())
    bil = cf.residual_bilinear_section(w_in, _randn(3, 5, seed=12), w_out)
    for section in (mlp, bil):
        assert torch.allclose(section.gram(points), _gram_by_definition(section, points), rtol=1e-10, atol=1e-9)
    c_pinv, feats = _randn(4, 4, seed=13), _randn(n, 1, 4, seed=14)
    jac = lib.section_jacobians(mlp, points, closed_form=False) @ c_pinv.T  # (n, T, K, S, J)
    expected = torch.einsum("ntksj,nsj->ntkj", jac, feats).pow(2).sum(dim=(0, 1))
    assert torch.allclose(mlp.edges(points, None, c_pinv, feats), expected, rtol=1e-10, atol=1e-9)


def test_relu_jacobian_at_exactly_zero_preactivation_is_torchs_zero():
    w_in, w_out, b_out = _randn(2, 3, seed=15), _randn(3, 2, seed=16), _randn(2, seed=17)
    b_in = torch.tensor([0.0, 1.0, -1.0], dtype=F64)
    points = lib.augment(torch.zeros(1, 1, 2, dtype=F64))  # x = 0: unit 0's preactivation is exactly 0
    section = cf.residual_mlp_section(w_in, b_in, w_out, b_out)
    assert torch.equal(section.jacobians(points), lib.section_jacobians(section, points, closed_form=False))
    assert refusal(
        lambda: cf.residual_mlp_jacobians(lib.augment(torch.zeros(1, 1, 3, dtype=F64)), w_in, b_in, w_out, b_out)
    ) == ("ValueError", "points have 3 coordinates besides the constant, W_in reads 2")


class _Wrong:
    """A section whose closed-form Jacobians are deliberately wrong: which one a call used shows."""

    name = "wrong"

    def __call__(self, x):
        return x[..., :-1] * 2.0

    def jacobians(self, points, project=None):
        return torch.zeros(
            points.shape[0], points.shape[1], points.shape[2] - 1, points.shape[1], points.shape[2], dtype=F64
        )


def test_section_jacobians_use_a_closed_form_by_default_and_check_their_inputs():
    points = lib.augment(_randn(3, 2, 2, seed=18)).float()
    assert torch.equal(lib.section_jacobians(_Wrong(), points), torch.zeros(3, 2, 2, 2, 3, dtype=F64))
    auto = lib.section_jacobians(_Wrong(), points, closed_form=False)
    assert auto.dtype == F64 and float(auto.abs().max()) == 2.0
    assert torch.equal(lib.section_jacobians(_Wrong(), points, closed_form=False, chunk_size=1), auto)
    for bad in (0, 1.5):
        assert refusal(lambda bad=bad: lib.section_jacobians(_Wrong(), points, chunk_size=bad)) == (
            "ValueError",
            f"chunk_size must be a positive int, got {bad!r}",
        )
    assert refusal(lambda: lib.section_jacobians(_Wrong(), points[0])) == (
        "ValueError",
        "points must have 3 dimensions, got shape (2, 3)",
    )
    assert refusal(lambda: lib.section_jacobians(lambda x: x[..., 0], points, closed_form=False)) == (
        "ValueError",
        "a section must map a batch (n, P, d + 1) to (n, P_out, d_out), got shape (2, 2) for a batch of 2",
    )
    assert refusal(lambda: lib.section_jacobians(lambda x: x[:1], points, closed_form=False)) == (
        "ValueError",
        "a section must map a batch (n, P, d + 1) to (n, P_out, d_out), got shape (1, 2, 3) for a batch of 2",
    )


# --------------------------------------------------------------------------------------------- batch 2: bases


def test_interaction_matrix_and_lib_basis_refuse_and_read_in_float64(net):
    model, sections, acts = net
    j = _randn(4, 1, 2, 1, 3, seed=19)
    r_pinv = _randn(2, 3, seed=20)
    rows = j.reshape(-1, 3)
    expected = r_pinv @ (rows.T @ rows / 4) @ r_pinv.T
    assert torch.allclose(
        lib.interaction_matrix(j.float(), r_pinv.float()),
        r_pinv.float().double()
        @ (j.float().double().reshape(-1, 3).T @ j.float().double().reshape(-1, 3) / 4)
        @ r_pinv.float().double().T,
        rtol=1e-12,
        atol=1e-12,
    )
    assert torch.allclose(lib.interaction_matrix(j, r_pinv), expected, rtol=1e-12, atol=1e-12)
    assert refusal(lambda: lib.interaction_matrix(j[0], r_pinv)) == (
        "ValueError",
        "target_jacobians must have 5 dimensions, got shape (1, 2, 1, 3)",
    )
    assert refusal(lambda: lib.interaction_matrix(j, r_pinv[0])) == (
        "ValueError",
        "R_pinv must have 2 dimensions, got shape (3,)",
    )
    assert refusal(lambda: lib.interaction_matrix(j, r_pinv[:, :2])) == (
        "ValueError",
        "R_pinv has 2 columns, the Jacobians have 3 input coordinates",
    )
    f = acts[1]
    jac = lib.section_jacobians(sections[1], lib.augment(f))
    assert refusal(lambda: lib.lib_basis(f, jac[0])) == (
        "ValueError",
        "target_jacobians must have 5 dimensions, got shape (1, 6, 1, 8)",
    )
    assert refusal(lambda: lib.lib_basis(f, jac[:10])) == (
        "ValueError",
        "target_jacobians (10, 1, 6, 1, 8) do not fit activations (300, 1, 7): expected (300, T, K, 1, 8)",
    )
    assert refusal(lambda: lib.lib_basis(torch.cat([f, f], dim=1), jac)) == (
        "ValueError",
        "target_jacobians (300, 1, 6, 1, 8) do not fit activations (300, 2, 7): expected (300, T, K, 2, 8)",
    )
    assert lib.lib_basis(f, jac, threshold=0.3).size < lib.lib_basis(f, jac).size  # the threshold is used
    basis = lib.lib_basis(f, jac)
    assert refusal(lambda: basis.inverse(torch.ones(2, 1, basis.size + 1, dtype=F64))) == (
        "ValueError",
        f"features have {basis.size + 1} coordinates, the basis has {basis.size}",
    )
    assert refusal(lambda: basis.inverse([1.0])) == ("TypeError", "features must be a torch.Tensor, got list")


def test_interaction_graph_of_either_method(net):
    model, sections, acts = net
    pca = lib.interaction_graph(acts, sections, method="pca")
    assert pca.bases[0].kind == "pca"
    assert refusal(lambda: lib.interaction_graph(acts, sections, method="ica")) == (
        "ValueError",
        "unknown method 'ica': use 'lib' or 'pca'",
    )


# --------------------------------------------------------------------------------------------- batch 2: modularity


def _graph_of(edges: list[torch.Tensor], kinds: list[str]) -> lib.InteractionGraph:
    bases = []
    for k, kind in enumerate(kinds):
        size = edges[k].shape[1] if k < len(edges) else edges[-1].shape[0]
        eye = torch.eye(size, dtype=F64)
        bases.append(
            lib.Basis(
                kind,
                eye,
                eye,
                torch.ones(size, dtype=F64),
                torch.zeros(size - 1, dtype=F64),
                torch.ones(size, dtype=F64),
            )
        )
    return lib.InteractionGraph(tuple(f"L{k}" for k in range(len(kinds))), tuple(bases), tuple(edges))


def test_modularity_weighs_edges_by_log_ratio_and_skips_constants():
    """Two layers of four features (feature 0 the constant) into an identity output layer. Edges above ε weigh
    log10(E/ε); the constant input column and an output's constant row (not the identity's) never count."""
    strong, weak, eps = 10.0**2.5, 10.0**0.5, 0.1  # weights 3.5 and 1.5 at ε = 0.1
    e0 = torch.full((4, 4), 0.01, dtype=F64)  # below ε: no edge
    e0[1:3, 1:3], e0[3, 3] = strong, strong  # {1, 2} → {1, 2} and 3 → 3 strongly
    e0[3, 1], e0[3, 2] = weak, weak  # two weak edges between the blocks, into (1, 3)
    e0[0, :], e0[:, 0] = 1e6, 1e6  # constant row and column: never edges
    e1 = torch.full((3, 4), 0.01, dtype=F64)
    e1[0, 1], e1[2, 3] = strong, strong  # into the identity layer, row 0 is a real output
    e1[0, 3] = weak  # and a third weak edge from (1, 3): counted unweighted, (1, 3) would join the first block
    graph = _graph_of([e0, e1], ["lib", "lib", "identity"])
    q, communities = lib.modularity(graph, [eps, eps], include_output=True)
    import networkx as nx

    g = nx.Graph()
    for i, j in [(1, 1), (1, 2), (2, 1), (2, 2), (3, 3)]:
        g.add_edge((0, j), (1, i), weight=3.5)
    g.add_edge((0, 1), (1, 3), weight=1.5)
    g.add_edge((0, 2), (1, 3), weight=1.5)
    g.add_edge((1, 3), (2, 0), weight=1.5)
    g.add_edge((1, 1), (2, 0), weight=3.5)
    g.add_edge((1, 3), (2, 2), weight=3.5)
    assert set().union(*communities) == set(g.nodes)
    assert q == pytest.approx(nx.community.modularity(g, communities, weight="weight"), abs=1e-12)
    # the weak edge does not merge the blocks; unweighted, (0, 1)–(1, 3) would weigh as much as any other edge
    assert {frozenset(c) for c in communities} == {
        frozenset({(0, 1), (0, 2), (1, 1), (1, 2), (2, 0)}),
        frozenset({(0, 3), (1, 3), (2, 2)}),
    }
    q_unweighted = nx.community.modularity(g, communities, weight=None)
    assert abs(q - q_unweighted) > 1e-3
    unweighted = nx.community.louvain_communities(g, weight=None, seed=0)
    assert {frozenset(c) for c in unweighted} != {frozenset(c) for c in communities}  # the weights decide it


def test_modularity_refusals_and_the_smallest_graphs():
    e = torch.zeros(3, 3, dtype=F64)
    e[1, 1] = 10.0
    graph = _graph_of([e, e.clone()], ["lib", "lib", "lib"])
    q, communities = lib.modularity(graph, [1.0, 1.0])  # exactly one edge: one community, Q = 0
    assert communities == [{(0, 1), (1, 1)}] and q == pytest.approx(0.0, abs=1e-12)
    assert refusal(lambda: lib.modularity(graph, [1.0])) == ("ValueError", "need one ε per edge layer, got 1 for 2")
    assert refusal(lambda: lib.modularity(graph, [0.0, 1.0])) == (
        "ValueError",
        "ε must be positive, got 0.0 for layer 0",
    )
    assert refusal(lambda: lib.modularity(graph, [100.0, 1.0])) == (
        "ValueError",
        "no edge above its layer's ε: nothing to find communities in",
    )
    many = _graph_of([torch.full((6, 6), 10.0, dtype=F64), torch.full((6, 6), 10.0, dtype=F64)], ["lib"] * 3)
    _, coarse = lib.modularity(many, [1.0, 1.0])
    _, fine = lib.modularity(many, [1.0, 1.0], resolution=5.0)
    assert len(fine) > len(coarse)  # the resolution steers the search
    assert lib.modularity(many, [1.0, 1.0], resolution=5.0) == lib.modularity(many, [1.0, 1.0], resolution=5.0, seed=0)


def test_modularity_searches_the_graph_in_its_documented_node_order():
    """Louvain visits nodes in a seeded random order of the graph's node list, so on a graph with many equally good
    partitions the order decides the communities: every (layer, feature) of each layer in turn, features ascending,
    before the edges (isolated nodes then dropped)."""
    import networkx as nx

    cycle = torch.zeros(7, 7, dtype=F64)  # features 1..6 of each layer joined in a ring: many equal partitions
    for j in range(1, 7):
        cycle[j, j], cycle[j % 6 + 1, j] = 10.0, 10.0
    g_edges = [cycle, cycle.clone()]
    graph = _graph_of(g_edges, ["lib", "lib", "identity"])
    for include_output in (False, True):
        reference = nx.Graph()
        for l, e in enumerate(g_edges[: 2 if include_output else 1]):
            i0 = 0 if l == 1 else 1
            reference.add_nodes_from((l, j) for j in range(1, 7))
            reference.add_nodes_from((l + 1, i) for i in range(i0, 7))
            w = torch.log10(e).clamp_min(0)
            for i in range(i0, 7):
                for j in range(1, 7):
                    if w[i, j] > 0:
                        reference.add_edge((l, j), (l + 1, i), weight=float(w[i, j]))
        reference.remove_nodes_from([v for v in list(reference.nodes) if reference.degree(v) == 0])
        for resolution in (1.0, 2.0):
            expected = nx.community.louvain_communities(reference, weight="weight", resolution=resolution, seed=0)
            q, found = lib.modularity(graph, [1.0, 1.0], resolution=resolution, include_output=include_output)
            assert found == [set(c) for c in expected]
            assert q == pytest.approx(nx.community.modularity(reference, expected, weight="weight"), abs=1e-12)


def test_exercise_inputs_have_the_properties_the_exercises_need():
    grams = ex._gram_inputs()
    for (acts,) in grams:
        assert acts.ndim == 3 and acts.dtype == F64
        assert float(acts.reshape(-1, acts.shape[-1]).mean(0).abs().min()) > 0.2  # a mean to centre away
    assert any(a.shape[1] > 1 for (a,) in grams)  # positions count as samples
    assert len({a.shape[-1] for (a,) in grams}) == len(grams)
    ms = ex._m_inputs()
    for j, r_pinv in ms:
        assert j.ndim == 5 and r_pinv.ndim == 2 and r_pinv.shape[1] == j.shape[-1]
    assert any(j.shape[1] > 1 for j, _ in ms) and any(j.shape[3] > 1 for j, _ in ms)  # T > 1 and S > 1
    assert {r.shape[0] < r.shape[1] for _, r in ms} == {True, False}  # whitening that drops directions, or none
    rotations = ex._rotate_inputs()
    for m, r, threshold in rotations:
        assert torch.allclose(m, m.T) and float(torch.linalg.eigvalsh(m).min()) > -1e-9 * float(m.abs().max())
        assert r.shape[1] == m.shape[0] and 0 < threshold < 1e-6
    ranks = [int(torch.linalg.matrix_rank(m[1:, 1:], rtol=1e-8)) for m, _, _ in rotations]
    assert any(rank < m.shape[0] - 1 for rank, (m, _, _) in zip(ranks, rotations))  # a truncation to make
    assert any(float(m.abs().max()) < 1e-9 for m, _, _ in rotations)  # a tiny M: the threshold must be relative
    edges = ex._edge_inputs()
    for jf, f in edges:
        assert (jf.shape[0], jf.shape[3], jf.shape[4]) == tuple(f.shape)
    assert any(jf.shape[1] > 1 for jf, _ in edges) and any(jf.shape[3] > 1 for jf, _ in edges)


def test_rotate_exercise_accepts_either_sign_of_each_column():
    def flipped(m, r, threshold):
        c, lam = ex.rotated_basis(m, r, threshold)
        c = c.clone()
        c[:, -1] = -c[:, -1]  # one column's sign, not all of them
        return c, lam

    ex.exercise_rotate.check(flipped)


# --------------------------------------------------------------------------------------------- batch 3: generic paths


def _edges_by_definition(section, points, project, c_pinv, feats):
    jac = lib.section_jacobians(section, points, closed_form=False)  # (n, T, o, S, D)
    if project is not None:
        jac = torch.einsum("ntosd,ok->ntksd", jac, project)
    between = jac @ c_pinv.T  # (n, T, K, S, J)
    return torch.einsum("ntksj,nsj->ntkj", between, feats).pow(2).sum(dim=(0, 1))


def test_edges_from_the_jacobians_of_a_section_without_its_own_over_several_chunks():
    """The bilinear section has no closed-form edges: they come from its Jacobians a chunk at a time (300
    examples: two chunks), read through a projection; float32 inputs are read in float64."""
    n = 300
    section = cf.residual_bilinear_section(_randn(3, 5, seed=21), _randn(3, 5, seed=22), _randn(5, 3, seed=23))
    points = lib.augment(_randn(n, 1, 3, seed=24))
    project, c_pinv, feats = _randn(3, 2, seed=25), _randn(4, 4, seed=26), _randn(n, 1, 4, seed=27)
    expected = _edges_by_definition(section, points, project, c_pinv, feats)
    got = section.edges(points.float(), project, c_pinv.float(), feats.float())
    expected32 = _edges_by_definition(
        section, points.float().double(), project, c_pinv.float().double(), feats.float().double()
    )
    assert got.dtype == F64 and torch.allclose(got, expected32, rtol=1e-10, atol=0)
    assert torch.allclose(section.edges(points, project, c_pinv, feats), expected, rtol=1e-10, atol=0)
    affine = cf.affine_section(_randn(3, 2, seed=28), _randn(2, seed=29))
    many = lib.augment(_randn(6, 3, 3, seed=30))
    f3 = _randn(6, 3, 4, seed=31)
    assert torch.allclose(
        affine.edges(many, None, c_pinv, f3),
        _edges_by_definition(affine, many, None, c_pinv, f3),
        rtol=1e-10,
        atol=1e-12,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((torch.ones(4), torch.ones(2, 1, 4)), "C_pinv must have 2 dimensions, got shape (4,)"),
        ((torch.ones(4, 4), torch.ones(2, 4)), "features must have 3 dimensions, got shape (2, 4)"),
        ((torch.ones(4, 4), torch.ones(3, 1, 4)), "features (3, 1, 4) and C_pinv (4, 4) do not fit points (2, 1, 4)"),
        ((torch.ones(4, 3), torch.ones(2, 1, 4)), "features (2, 1, 4) and C_pinv (4, 3) do not fit points (2, 1, 4)"),
    ],
)
def test_section_edges_refuse_in_whole_sentences(args, expected):
    section = cf.residual_bilinear_section(torch.ones(3, 2), torch.ones(3, 2), torch.ones(2, 3))
    points = lib.augment(torch.ones(2, 1, 3, dtype=F64))
    assert refusal(lambda: section.edges(points, None, *args)) == ("ValueError", expected)


def test_attention_defaults_float32_weights_and_grams_over_several_chunks():
    w_q, w_k, w_v = (_randn(2, 3, 2, seed=s) for s in (32, 33, 34))
    w_o = _randn(2, 2, 3, seed=35)
    x = _randn(300, 3, 3, seed=36)
    assert torch.equal(cf.causal_attention(x, w_q, w_k, w_v, w_o), cf.causal_attention(x, w_q, w_k, w_v, w_o, "all"))
    section = cf.causal_attention_section(*(t.float() for t in (w_q, w_k, w_v, w_o)))
    assert section.name == "attention"
    points = lib.augment(x)
    assert section(points).shape == (300, 3, 3)  # every query by default
    reference = cf.causal_attention_section(*(t.float().double() for t in (w_q, w_k, w_v, w_o)))
    assert torch.equal(section.jacobians(points[:4]), reference.jacobians(points[:4]))
    assert torch.allclose(section.gram(points), _gram_by_definition(reference, points), rtol=1e-10, atol=1e-9)
    assert refusal(lambda: cf.causal_attention_jacobians(points[..., 1:], w_q, w_k, w_v, w_o)) == (
        "ValueError",
        "points have 2 coordinates besides the constant, W_Q reads 3",
    )


def test_pca_basis_keeps_every_gram_eigenvalue_and_uses_its_threshold(net):
    model, sections, acts = net
    f = acts[1]
    basis = lib.pca_basis(f)
    rows = f.reshape(-1, f.shape[-1])
    cov = torch.cov(rows.T, correction=0)
    expected = torch.cat([torch.ones(1, dtype=F64), torch.linalg.eigvalsh(cov).flip(0)])
    assert torch.allclose(basis.gram_values, expected, rtol=1e-9, atol=1e-12)
    assert lib.pca_basis(f, threshold=0.3).size < basis.size


# --------------------------------------------------------------------------------------------- batch 4: bases, graphs


def test_thresholds_are_strict_relative_and_checked():
    x = torch.tensor([[2.0, 1.0], [2.0, -1.0], [-2.0, 1.0], [-2.0, -1.0]], dtype=F64)  # covariance diag(4, 1) exactly
    assert lib.gram_step(x, threshold=0.25).D.numel() == 2  # 1 is exactly 0.25 · 4: dropped (not above)
    assert lib.gram_step(x, threshold=0.2).D.numel() == 3
    assert lib.gram_step(x, threshold=0).D.numel() == 3  # 0 is a threshold
    m = torch.diag(torch.tensor([5.0, 4.0, 1.0], dtype=F64))
    r = torch.eye(3, dtype=F64)
    assert lib.rotate_scale_truncate(m, r, 0.25)[1].numel() == 2  # the constant and Λ = 4
    assert lib.rotate_scale_truncate(m, r, 0.2)[1].numel() == 3
    m[0, 0] = 0.0  # a constant whose own entry is 0 is dropped
    assert lib.rotate_scale_truncate(m, r, 0.2)[1].tolist() == [4.0, 1.0]
    for bad in (True, 1.0, -0.1, "0.1"):
        assert refusal(lambda bad=bad: lib.gram_step(x, threshold=bad)) == (
            "ValueError",
            f"threshold must be a number in [0, 1), got {bad!r}",
        )


def test_rotate_scale_truncate_symmetrises_and_refuses_in_whole_sentences():
    a = _randn(5, 5, seed=37)
    m = a @ a.T
    m[1, 3] += 1e-3  # symmetric only up to 1e-3: read as ½ (M + Mᵀ), not from one triangle
    lam = lib.rotate_scale_truncate(m, torch.eye(5, dtype=F64), 1e-12)[1]
    sym = (m + m.T) / 2
    expected = torch.linalg.eigvalsh(sym[1:, 1:]).flip(0)
    assert torch.allclose(lam[1:], expected, rtol=1e-12, atol=1e-12)
    assert refusal(lambda: lib.rotate_scale_truncate(torch.ones(3, 4), torch.eye(3))) == (
        "ValueError",
        "M must be square with as many rows as R has columns, got (3, 4) and (3, 3)",
    )
    assert refusal(lambda: lib.rotate_scale_truncate(torch.ones(3, 3), torch.ones(4, 2))) == (
        "ValueError",
        "M must be square with as many rows as R has columns, got (3, 3) and (4, 2)",
    )
    assert refusal(lambda: lib.rotate_scale_truncate(torch.ones(3), torch.eye(3))) == (
        "ValueError",
        "M must have 2 dimensions, got shape (3,)",
    )
    assert refusal(lambda: lib.rotate_scale_truncate(torch.eye(3), torch.ones(3))) == (
        "ValueError",
        "R must have 2 dimensions, got shape (3,)",
    )
    assert refusal(lambda: lib.centring_matrix(torch.ones(2, 2))) == (
        "ValueError",
        "mean must have 1 dimensions, got shape (2, 2)",
    )


def test_identity_basis_in_float64_and_its_refusals():
    basis = lib.identity_basis(3)
    assert basis.kind == "identity" and basis.size == 3
    for t in (basis.C, basis.C_pinv, basis.values, basis.mean, basis.gram_values):
        assert t.dtype == F64
    assert torch.equal(basis.C, torch.cat([torch.eye(3), torch.zeros(1, 3)]).double())
    assert torch.equal(basis.mean, torch.zeros(3, dtype=F64)) and torch.equal(basis.values, torch.ones(3, dtype=F64))
    x = _randn(4, 3, seed=38).float()
    assert basis.features(x).dtype == F64 and torch.equal(basis.features(x), x.double())
    for bad in (0, 2.0):
        assert refusal(lambda bad=bad: lib.identity_basis(bad)) == (
            "ValueError",
            f"d must be a positive int, got {bad!r}",
        )
    assert refusal(lambda: basis.features(torch.ones(2, 5, 4))) == (
        "ValueError",
        "activations have 4 coordinates, the basis expects 3",
    )
    assert refusal(lambda: basis.features([1.0])) == ("TypeError", "activations must be a torch.Tensor, got list")


def test_lib_basis_truncates_m_at_its_own_threshold():
    """Isotropic activations (the Gram step keeps every direction) and a target that reads two directions with
    strengths 1 and 0.1: Λ ≈ 1 and 0.01, so a threshold of 0.05 drops the second in the rotation step alone."""
    x = _randn(4000, 3, seed=39)
    j = torch.zeros(4000, 1, 2, 1, 4, dtype=F64)
    j[:, 0, 0, 0, 0], j[:, 0, 1, 0, 1] = 1.0, 0.1
    basis = lib.lib_basis(x, j, threshold=0.05)
    assert basis.kind == "lib" and basis.size == 2
    assert lib.lib_basis(x, j).size == 3
    assert torch.equal(basis.gram_values, lib.gram_step(x, threshold=0.05).all_values)
    assert lib.node_activations([], x.float())[0].dtype == F64
    y = x.clone()
    y[:, 2] *= 0.1  # variance 0.01: below a threshold of 0.05 in the Gram step
    j_all = torch.zeros(4000, 1, 3, 1, 4, dtype=F64)
    j_all[:, 0, 0, 0, 0], j_all[:, 0, 1, 0, 1], j_all[:, 0, 2, 0, 2] = 1.0, 1.0, 10.0  # read strongly
    assert lib.lib_basis(y, j_all, threshold=0.05).size == 3 and lib.lib_basis(y, j_all).size == 4


def test_graph_layers_are_checked_by_name():
    x = _randn(5, 2, seed=40)
    sections = [cf.affine_section(_randn(2, 2, seed=41))]
    assert refusal(lambda: lib.interaction_graph([x, torch.ones(5, 1, 1, 2)], sections)) == (
        "ValueError",
        "activations[1] must have shape (n, d) or (n, positions, d), got (5, 1, 1, 2)",
    )
    assert refusal(lambda: lib.interaction_graph([x, x[:4]], sections)) == (
        "ValueError",
        "every node layer needs the same number of examples, got [5, 4]",
    )
    assert refusal(lambda: lib.interaction_graph([x, x], sections, names=["a"])) == (
        "ValueError",
        "need one name per node layer, got 1 for 2",
    )
    assert refusal(lambda: lib.interaction_graph([x], sections)) == (
        "ValueError",
        "need one more node layer than sections, got 1 and 1",
    )


@pytest.mark.parametrize(
    ("options", "bad"),
    [
        ({"methods": ()}, "(), 'local', 'identity'"),
        ({"methods": ("lib", "ica")}, "('lib', 'ica'), 'local', 'identity'"),
        ({"target": "global"}, "('lib', 'pca'), 'global', 'identity'"),
        ({"final": "lib"}, "('lib', 'pca'), 'local', 'lib'"),
    ],
)
def test_interaction_graphs_refuse_unknown_options(net, options, bad):
    model, sections, acts = net
    assert refusal(lambda: lib.interaction_graphs(acts, sections, **options)) == (
        "ValueError",
        f"unknown method/target/final: {bad}",
    )


def test_interaction_graphs_defaults_names_and_threshold(net):
    model, sections, acts = net
    graphs = lib.interaction_graphs(acts, sections)
    assert set(graphs) == {"lib", "pca"} and graphs["lib"].bases[-1].kind == "identity"
    assert graphs["lib"].names == ("layer 0", "layer 1", "layer 2", "layer 3")
    named = lib.interaction_graphs(acts, sections, names=["x", "h1", "h2", "y"], threshold=0.2, final="pca")
    assert named["pca"].names == ("x", "h1", "h2", "y") and named["lib"].bases[-1].kind == "pca"
    loop = lib.interaction_graph_loop(acts, sections, threshold=0.2)
    assert [b.size for b in named["lib"].bases[:-1]] == [b.size for b in loop.bases[:-1]]
    assert [b.size for b in named["pca"].bases] == [lib.pca_basis(a, threshold=0.2).size for a in acts]


def test_output_target_bases_are_lib_bases_of_the_whole_networks_jacobians(net):
    """target="output": every layer's M is built from the Jacobians of the network's output (read through the
    final basis), chained through the sections, for closed-form and autograd sections alike."""
    model, sections, acts = net
    graph = lib.interaction_graph(acts, sections, target="output", threshold=0.05)

    def rest_of_network(l):
        def run(points):
            return lib.run_from(sections, l, points)

        return run

    for l in range(3):
        jac = lib.section_jacobians(rest_of_network(l), lib.augment(acts[l]), closed_form=False)
        expected = lib.lib_basis(acts[l], jac, threshold=0.05)
        assert torch.allclose(graph.bases[l].values, expected.values, rtol=1e-8, atol=1e-12)
        assert graph.bases[l].size < lib.lib_basis(acts[l], jac).size  # the threshold reached the basis
    torch.manual_seed(0)
    transformer = ModAddTransformer(5, 4, 2, 6).double()
    tokens = torch.cartesian_prod(torch.arange(5), torch.arange(5))
    tokens = torch.cat([tokens, torch.full((25, 1), 5)], dim=1)
    with torch.no_grad():
        t_acts = transformer.node_activations(tokens)
    closed = transformer.sections()
    plain = [lambda x, s=s: s(x) for s in closed]  # the same maps without their closed forms
    # a truncated final PCA basis: the output is read through a projection that loses directions
    fast = lib.interaction_graph(t_acts, closed, target="output", final="pca", threshold=0.3)
    slow = lib.interaction_graph(t_acts, plain, target="output", final="pca", threshold=0.3)
    assert fast.bases[-1].size < t_acts[-1].shape[-1] + 1
    for a, b in zip(fast.bases, slow.bases):
        assert torch.allclose(a.values, b.values, rtol=1e-8, atol=1e-12 * float(a.values.max()))
    for a, b in zip(fast.edges, slow.edges):
        assert torch.allclose(a, b, rtol=1e-7, atol=1e-10 * float(a.max()))


def test_attention_refuses_unknown_queries():
    assert refusal(
        lambda: cf.causal_attention_section(*(torch.ones(1, 2, 2),) * 3, torch.ones(1, 2, 2), queries="first")
    ) == ("ValueError", "queries must be 'all' or 'last', got 'first'")


# --------------------------------------------------------------------------------------------- batch 5


def test_closed_form_jacobians_check_points_and_projection_and_read_float32_weights():
    section = cf.residual_bilinear_section(torch.ones(3, 2), torch.ones(3, 2), torch.ones(2, 3))
    assert refusal(lambda: section.jacobians(torch.ones(2, 4))) == (
        "ValueError",
        "points must have 3 dimensions, got shape (2, 4)",
    )
    assert refusal(lambda: section.jacobians(torch.ones(2, 1, 4), torch.ones(3))) == (
        "ValueError",
        "project must have 2 dimensions, got shape (3,)",
    )
    points = lib.augment(_randn(4, 1, 3, seed=46))
    project = _randn(3, 2, seed=47)
    assert torch.equal(
        section.jacobians(points.float(), project.float()),
        section.jacobians(points.float().double(), project.float().double()),
    )
    w_q, w_k, w_v = (_randn(2, 3, 2, seed=s) for s in (48, 49, 50))
    w_o = _randn(2, 2, 3, seed=51)
    many = lib.augment(_randn(3, 3, 3, seed=52))
    half = [t.float() for t in (w_q, w_k, w_v, w_o)]
    assert torch.equal(
        cf.causal_attention_jacobians(many, *half), cf.causal_attention_jacobians(many, *(t.double() for t in half))
    )
    w_in, b_in, w_out, b_out = _randn(3, 4, seed=53), _randn(4, seed=54), _randn(4, 3, seed=55), _randn(3, seed=56)
    mlp32 = [t.float() for t in (w_in, b_in, w_out, b_out)]
    assert torch.equal(
        cf.residual_mlp_jacobians(points, *mlp32), cf.residual_mlp_jacobians(points, *(t.double() for t in mlp32))
    )
    assert refusal(lambda: lib.section_jacobians(lambda x: [1.0], points, closed_form=False)) == (
        "ValueError",
        "a section must map a batch (n, P, d + 1) to (n, P_out, d_out), got shape () for a batch of 2",
    )


def test_fourier_label_computes_in_float64_and_graphs_print_their_first_basis():
    grid = _grid_of_two_terms()
    assert np.allclose(lib_fourier(grid.float()), lib_fourier(grid.float().double()), rtol=0, atol=1e-12)
    x = _randn(20, 3, seed=57)
    one = lib.interaction_graph([x, x @ _randn(3, 2, seed=58)], [cf.affine_section(_randn(3, 2, seed=58))])
    assert repr(one).startswith("InteractionGraph(lib; ") and one.bases[1].kind == "identity"


def _grid_of_two_terms() -> torch.Tensor:
    a, b = torch.meshgrid(torch.arange(7, dtype=F64), torch.arange(7, dtype=F64), indexing="ij")
    return torch.cos(2 * np.pi * 2 * (a + b) / 7) + 0.3 * torch.cos(2 * np.pi * a / 7) + 0.01 * a * b


def lib_fourier(grid: torch.Tensor) -> np.ndarray:
    from helpers.lib.modadd import fourier_label

    return fourier_label(grid).power
