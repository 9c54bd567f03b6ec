"""Known-answer tests of helpers.bilinear: bilinear tensors, interaction matrices, eigen readouts, HOSVD, bias."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from helpers.bilinear import (
    BilinearClassifier,
    bilinear_tensor,
    class_interaction_matrices,
    eigen_logits,
    eigendecompose,
    fold_bias,
    hosvd,
    interaction_matrix,
)

F64 = torch.float64


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def random_symmetric(*shape: int, seed: int = 0) -> torch.Tensor:
    """A random symmetric (d, d) matrix for ``shape = (d,)``, or a batch of them for ``shape = (c, d, d)``."""
    a = randn(*(shape * 2 if len(shape) == 1 else shape), seed=seed)
    return a + a.transpose(-1, -2)


def quad(b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``x_nᵀ B[a] x_n`` for (h, d, d) ``b`` and (n, d) ``x``: an (n, h) tensor."""
    return torch.einsum("ni,aij,nj->na", x, b, x)


def model(n_in: int, d: int, c: int, *, seed: int, **kwargs) -> BilinearClassifier:
    torch.manual_seed(seed)
    return BilinearClassifier(n_in, d, c, **kwargs).to(F64)


def assert_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-10) -> None:
    """Relative agreement, with the absolute floor scaled to the size of ``expected``."""
    actual, expected = actual.detach(), expected.detach()
    scale = float(expected.abs().max()) if expected.numel() else 1.0
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=rtol, atol=rtol * max(scale, 1e-300))


# ------------------------------------------------------------------------------------ bilinear tensor


def test_bilinear_tensor_known_answer():
    w = torch.tensor([[1.0, 2.0]], dtype=F64)
    v = torch.tensor([[3.0, 4.0]], dtype=F64)
    assert torch.equal(bilinear_tensor(w, v, symmetric=False), torch.tensor([[[3.0, 4.0], [6.0, 8.0]]], dtype=F64))
    assert torch.equal(bilinear_tensor(w, v), torch.tensor([[[3.0, 5.0], [5.0, 8.0]]], dtype=F64))


def test_bilinear_tensor_slices_are_outer_products_and_symmetrised():
    w, v = randn(5, 4, seed=1), randn(5, 4, seed=2)
    raw, sym = bilinear_tensor(w, v, symmetric=False), bilinear_tensor(w, v)
    assert raw.shape == sym.shape == (5, 4, 4)
    for a in range(5):
        assert_close(raw[a], torch.outer(w[a], v[a]), rtol=1e-15)
    assert torch.equal(sym, sym.transpose(1, 2))
    assert not torch.allclose(raw, raw.transpose(1, 2))  # the raw slices really are asymmetric
    assert_close(sym, (raw + raw.transpose(1, 2)) / 2, rtol=1e-15)


def test_symmetrisation_leaves_quadratic_form_unchanged():
    h, d = 6, 5
    w, v = randn(h, d, seed=3), randn(h, d, seed=4)
    x = randn(20, d, seed=5)
    direct = (x @ w.T) * (x @ v.T)  # (W x) ⊙ (V x), (n, h)
    assert_close(quad(bilinear_tensor(w, v, symmetric=False), x), direct)
    assert_close(quad(bilinear_tensor(w, v), x), direct)


def test_interaction_matrix_gives_output_along_u():
    h, d = 7, 4
    w, v, u = randn(h, d, seed=6), randn(h, d, seed=7), randn(h, seed=8)
    x = randn(15, d, seed=9)
    q = interaction_matrix(w, v, u)
    assert q.shape == (d, d)
    assert torch.equal(q, q.T)
    expected = ((x @ w.T) * (x @ v.T)) @ u
    assert_close(torch.einsum("ni,ij,nj->n", x, q, x), expected)
    # Q is the u-weighted sum of the symmetric slices
    assert_close(q, torch.einsum("a,aij->ij", u, bilinear_tensor(w, v)))


@pytest.mark.parametrize(
    ("w", "v", "match"),
    [
        (torch.zeros(3, 4, dtype=F64), torch.zeros(3, 5, dtype=F64), "same shape"),
        (torch.zeros(3, 4, dtype=F64), torch.zeros(2, 4, dtype=F64), "same shape"),
        (torch.zeros(4, dtype=F64), torch.zeros(4, dtype=F64), "2 dimensions"),
        (torch.zeros(2, 3, 4, dtype=F64), torch.zeros(2, 3, 4, dtype=F64), "2 dimensions"),
    ],
)
def test_bad_weight_shapes_raise(w, v, match):
    u = torch.ones(w.shape[0], dtype=F64)
    with pytest.raises(ValueError, match=match):
        bilinear_tensor(w, v)
    with pytest.raises(ValueError, match=match):
        interaction_matrix(w, v, u)
    with pytest.raises(ValueError, match=match):
        fold_bias(w, u, v, u)


def test_bilinear_tensor_rejects_integer_and_nan():
    with pytest.raises(TypeError, match="floating-point"):
        bilinear_tensor(torch.ones(2, 2, dtype=torch.int64), torch.ones(2, 2, dtype=torch.int64))
    bad = torch.tensor([[1.0, float("nan")]], dtype=F64)
    with pytest.raises(ValueError, match="NaN"):
        bilinear_tensor(bad, torch.ones(1, 2, dtype=F64))


@pytest.mark.parametrize("u", [torch.ones(2, dtype=F64), torch.ones(4, dtype=F64), torch.ones(3, 1, dtype=F64)])
def test_interaction_matrix_rejects_bad_u(u):
    w, v = randn(3, 4, seed=10), randn(3, 4, seed=11)
    with pytest.raises(ValueError, match="one entry per hidden unit|1 dimensions"):
        interaction_matrix(w, v, u)


@pytest.mark.parametrize("which", ["bw", "bv"])
@pytest.mark.parametrize("bad", [torch.ones(2, dtype=F64), torch.ones(5, dtype=F64), torch.ones(3, 1, dtype=F64)])
def test_fold_bias_rejects_bad_bias(which, bad):
    w, v, good = randn(3, 4, seed=12), randn(3, 4, seed=13), randn(3, seed=14)
    bw, bv = (bad, good) if which == "bw" else (good, bad)
    with pytest.raises(ValueError, match=which):
        fold_bias(w, bw, v, bv)


# ------------------------------------------------------------------------------------ bias folding


def test_fold_bias_is_exact():
    h, d = 5, 4
    w, v = randn(h, d, seed=15), randn(h, d, seed=16)
    bw, bv = randn(h, seed=17), randn(h, seed=18)
    w2, v2 = fold_bias(w, bw, v, bv)
    assert w2.shape == v2.shape == (h, d + 1)
    assert torch.equal(w2[:, :d], w) and torch.equal(w2[:, d], bw)
    assert torch.equal(v2[:, :d], v) and torch.equal(v2[:, d], bv)
    x = randn(12, d, seed=19)
    x1 = torch.cat([x, torch.ones(12, 1, dtype=F64)], dim=1)
    assert_close((x1 @ w2.T) * (x1 @ v2.T), (x @ w.T + bw) * (x @ v.T + bv))


def test_folded_interaction_matrix_splits_into_quadratic_linear_constant():
    h, d = 6, 3
    w, v, u = randn(h, d, seed=20), randn(h, d, seed=21), randn(h, seed=22)
    bw, bv = randn(h, seed=23), randn(h, seed=24)
    w2, v2 = fold_bias(w, bw, v, bv)
    q = interaction_matrix(w2, v2, u)
    assert q.shape == (d + 1, d + 1)
    # top-left block: the bias-free interaction matrix
    assert_close(q[:d, :d], interaction_matrix(w, v, u))
    # corner: the constant u·(bw ⊙ bv)
    assert_close(q[d, d], u @ (bw * bv))
    # last row/column off the corner, doubled: coefficients of the linear part u·(bv ⊙ Wx + bw ⊙ Vx)
    linear = (u * bv) @ w + (u * bw) @ v  # (d,)
    assert_close(2 * q[d, :d], linear)
    assert_close(2 * q[:d, d], linear)
    x = randn(9, d, seed=25)
    assert_close(x @ (2 * q[d, :d]), ((x @ w.T) * bv + (x @ v.T) * bw) @ u)


def test_classifier_with_bias_folds_exactly():
    n_in, d, c = 7, 5, 3
    m = model(n_in, d, c, seed=26, bias=True)
    q = class_interaction_matrices(m)
    assert q.shape == (c, d + 1, d + 1)
    assert torch.equal(q, q.transpose(1, 2))
    x = randn(10, n_in, seed=27)
    with torch.no_grad():
        e = m.embed(x)
        logits = m(x)
    e1 = torch.cat([e, torch.ones(10, 1, dtype=F64)], dim=1)
    assert_close(torch.einsum("ni,cij,nj->nc", e1, q, e1), logits)
    # corner = constant logit part, head·(bw ⊙ bv)
    u, bw, bv = m.head.weight.detach(), m.w.bias.detach(), m.v.bias.detach()
    assert_close(q[:, d, d], u @ (bw * bv))


# ------------------------------------------------------------------------------------ eigendecompose


def check_eigen(q: torch.Tensor) -> None:
    """Ordering by |λ|, reconstruction, orthonormality and canonical signs of ``eigendecompose(q)`` on one matrix."""
    vals, vecs = eigendecompose(q)
    d = q.shape[-1]
    assert vals.shape == (d,) and vecs.shape == (d, d)
    assert (vals.abs()[:-1] >= vals.abs()[1:]).all()
    assert_close(vecs @ torch.diag(vals) @ vecs.T, q, rtol=1e-12)
    assert_close(vecs.T @ vecs, torch.eye(d, dtype=F64), rtol=1e-12)
    assert_close(q @ vecs, vecs * vals, rtol=1e-12)
    index = vecs.abs().argmax(dim=0)
    assert (vecs[index, torch.arange(d)] > 0).all()


def test_eigendecompose_single_matrix():
    q = random_symmetric(6, seed=28)
    check_eigen(q)
    vals, _ = eigendecompose(q)
    # the same spectrum as eigvalsh, only reordered by |λ| (and it has mixed signs, so the order is not just sorting)
    assert_close(torch.sort(vals).values, torch.linalg.eigvalsh(q), rtol=1e-12)
    assert (vals < 0).any() and (vals > 0).any()
    assert not torch.equal(vals, torch.sort(vals, descending=True).values)


def test_eigendecompose_orders_by_magnitude_known_answer():
    q = torch.diag(torch.tensor([1.0, -5.0, 3.0, -0.5], dtype=F64))
    vals, vecs = eigendecompose(q)
    assert torch.equal(vals, torch.tensor([-5.0, 3.0, 1.0, -0.5], dtype=F64))
    expected = torch.eye(4, dtype=F64)[:, [1, 2, 0, 3]]
    assert torch.equal(vecs, expected)


def test_eigendecompose_batch_matches_single():
    qs = random_symmetric(3, 5, 5, seed=29)
    vals, vecs = eigendecompose(qs)
    assert vals.shape == (3, 5) and vecs.shape == (3, 5, 5)
    for c in range(3):
        check_eigen(qs[c])
        single = eigendecompose(qs[c])
        assert_close(vals[c], single.values, rtol=1e-12)
        assert_close(vecs[c], single.vectors, rtol=1e-12)
    assert_close(vecs @ torch.diag_embed(vals) @ vecs.transpose(1, 2), qs, rtol=1e-12)


def test_eigendecompose_signs_do_not_depend_on_input_sign_of_eigh():
    # Q and its orthogonal conjugate by a sign flip P Q P have eigenvectors P e: after canonical signs they agree
    q = random_symmetric(5, seed=30)
    p = torch.diag(torch.tensor([1.0, -1.0, 1.0, -1.0, -1.0], dtype=F64))
    a, b = eigendecompose(q), eigendecompose(p @ q @ p)
    assert_close(b.values, a.values, rtol=1e-12)
    assert_close(canonical(p @ a.vectors), b.vectors, rtol=1e-10)


def canonical(vectors: torch.Tensor) -> torch.Tensor:
    index = vectors.abs().argmax(dim=0)
    return vectors * torch.sign(vectors[index, torch.arange(vectors.shape[1])])


@pytest.mark.parametrize(
    ("q", "error", "match"),
    [
        (torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=F64), ValueError, "symmetric"),
        (torch.zeros(2, 3, dtype=F64), ValueError, "square"),
        (torch.zeros(2, 2, 3, dtype=F64), ValueError, "square"),
        (torch.zeros(3, dtype=F64), ValueError, "square"),
        (torch.zeros(2, 2, 2, 2, dtype=F64), ValueError, "square"),
        (torch.tensor(1.0, dtype=F64), ValueError, "square"),
        (torch.tensor([[1.0, float("nan")], [float("nan"), 1.0]], dtype=F64), ValueError, "NaN"),
        (torch.zeros(0, 0, dtype=F64), ValueError, "empty"),
        (torch.eye(2, dtype=torch.int64), TypeError, "floating-point"),
        (np.eye(2), TypeError, "torch.Tensor"),
    ],
)
def test_eigendecompose_rejects_bad_input(q, error, match):
    with pytest.raises(error, match=match):
        eigendecompose(q)


def test_eigendecompose_rejects_one_asymmetric_matrix_in_a_batch():
    qs = random_symmetric(3, 4, 4, seed=31)
    qs[1, 0, 2] += 1.0
    with pytest.raises(ValueError, match="symmetric"):
        eigendecompose(qs)


# ------------------------------------------------------------------------------------ eigen readout of the model


@pytest.mark.parametrize("embed", [True, False])
def test_eigen_reconstruction_equals_model_logits(embed):
    n_in, c = 8, 4
    d = 6 if embed else n_in
    m = model(n_in, d, c, seed=32, embed=embed)
    x = randn(25, n_in, seed=33)
    with torch.no_grad():
        logits = m(x)
        e = m.embed(x)
    q = class_interaction_matrices(m)
    assert q.shape == (c, d, d)
    eig = eigendecompose(q)
    proj = torch.einsum("nd,cdm->ncm", e, eig.vectors)
    assert_close(eigen_logits(eig.values, proj), logits)
    assert_close(eigen_logits(eig.values, proj, k=d), logits)
    if embed:
        # the same identity with pixel-space eigenvectors W_eᵀ e_i: logit_c(x) = Σ λ_i ((W_eᵀ e_i)·x)²
        pixel = torch.einsum("di,cdm->cim", m.embed.weight.detach(), eig.vectors)  # (c, n_in, m)
        proj_px = torch.einsum("ni,cim->ncm", x, pixel)
        assert_close(eigen_logits(eig.values, proj_px), logits)
        assert_close(torch.einsum("cm,ncm->nc", eig.values, proj_px**2), logits)
    else:
        assert isinstance(m.embed, torch.nn.Identity)
        proj_px = torch.einsum("ni,cim->ncm", x, eig.vectors)
        assert_close(eigen_logits(eig.values, proj_px), logits)


def test_class_interaction_matrices_match_interaction_matrix_per_class():
    m = model(5, 4, 3, seed=34)
    q = class_interaction_matrices(m)
    w, v, u = m.w.weight.detach(), m.v.weight.detach(), m.head.weight.detach()
    for c in range(3):
        assert_close(q[c], interaction_matrix(w, v, u[c]), rtol=1e-13)


# ------------------------------------------------------------------------------------ eigen_logits


def eigen_inputs(seed: int = 35) -> tuple[torch.Tensor, torch.Tensor]:
    vals = eigendecompose(random_symmetric(3, 5, 5, seed=seed)).values  # (3, 5), sorted by |λ|
    proj = randn(7, 3, 5, seed=seed + 1)
    return vals, proj


def test_eigen_logits_known_answer():
    vals = torch.tensor([[2.0, -1.0]], dtype=F64)
    proj = torch.tensor([[[3.0, 4.0]], [[1.0, 0.0]]], dtype=F64)
    assert torch.equal(eigen_logits(vals, proj), torch.tensor([[2 * 9 - 16.0], [2.0]], dtype=F64))
    assert torch.equal(eigen_logits(vals, proj, k=1), torch.tensor([[18.0], [2.0]], dtype=F64))


def test_eigen_logits_truncation():
    vals, proj = eigen_inputs()
    full = eigen_logits(vals, proj)
    assert full.shape == (7, 3)
    assert torch.equal(eigen_logits(vals, proj, k=5), full)
    assert torch.equal(eigen_logits(vals, proj, k=0), torch.zeros(7, 3, dtype=F64))
    for k in range(6):
        manual = sum(vals[:, i] * proj[:, :, i] ** 2 for i in range(k)) if k else torch.zeros(7, 3, dtype=F64)
        assert_close(eigen_logits(vals, proj, k=k), manual, rtol=1e-13)
    # top-k keeps the largest |λ|: the residual is the sum over the dropped eigenpairs
    assert_close(full - eigen_logits(vals, proj, k=2), torch.einsum("cm,ncm->nc", vals[:, 2:], proj[..., 2:] ** 2))


@pytest.mark.parametrize("k", [-1, 6, True, False, 2.0, "2"])
def test_eigen_logits_rejects_bad_k(k):
    vals, proj = eigen_inputs()
    with pytest.raises(ValueError, match="k must be"):
        eigen_logits(vals, proj, k=k)


@pytest.mark.parametrize(
    ("vals_shape", "proj_shape", "match"),
    [
        ((3, 5), (7, 3, 4), "must match"),
        ((3, 5), (7, 2, 5), "must match"),
        ((5,), (7, 3, 5), "2 dimensions"),
        ((3, 5), (3, 5), "3 dimensions"),
    ],
)
def test_eigen_logits_rejects_shape_mismatch(vals_shape, proj_shape, match):
    with pytest.raises(ValueError, match=match):
        eigen_logits(torch.ones(*vals_shape, dtype=F64), torch.ones(*proj_shape, dtype=F64))


# ------------------------------------------------------------------------------------ HOSVD


def test_hosvd_reconstructs_symmetric_tensor():
    h, d = 6, 4  # h ≤ d(d+1)/2, so every singular value of a generic tensor is non-zero
    b = bilinear_tensor(randn(h, d, seed=37), randn(h, d, seed=38))
    s, u, qs = hosvd(b)
    assert s.shape == (h,) and u.shape == (h, h) and qs.shape == (h, d, d)
    assert (s[:-1] >= s[1:]).all() and s[-1] > 1e-8
    assert_close(torch.einsum("s,os,sij->oij", s, u, qs), b, rtol=1e-12)
    assert_close(torch.linalg.matrix_norm(qs), torch.ones(h, dtype=F64), rtol=1e-12)
    assert_close(qs, qs.transpose(1, 2), rtol=1e-12)
    assert_close(u.T @ u, torch.eye(h, dtype=F64), rtol=1e-12)
    assert_close(torch.einsum("sij,tij->st", qs, qs), torch.eye(h, dtype=F64), rtol=1e-12)
    # signs: the largest-magnitude entry of each u_s is positive
    assert (u[u.abs().argmax(dim=0), torch.arange(h)] > 0).all()
    # singular values are those of the unfolded tensor
    assert_close(s, torch.linalg.svdvals(b.reshape(h, d * d)), rtol=1e-12)


def test_hosvd_known_answer_rank_one():
    a = torch.tensor([[1.0, 2.0], [2.0, -1.0]], dtype=F64)
    direction = torch.tensor([3.0, -4.0], dtype=F64)
    b = direction[:, None, None] * a  # (2, 2, 2), rank one
    s, u, qs = hosvd(b)
    assert s.shape == (2,) and qs.shape == (2, 2, 2)
    assert math.isclose(float(s[0]), 5.0 * math.sqrt(10.0), rel_tol=1e-12)
    assert abs(float(s[1])) < 1e-12
    # u_0 = ±direction/5 with its largest entry (-4/5) made positive; Q_0 = ∓a/√10 with the matching sign
    assert_close(u[:, 0], -direction / 5, rtol=1e-12)
    assert_close(qs[0], -a / math.sqrt(10.0), rtol=1e-12)


def test_hosvd_rank_of_symmetric_slices_is_at_most_d_d_plus_1_over_2():
    # symmetric (d, d) slices span at most d(d+1)/2 dimensions: with more outputs than that, the extra singular
    # values vanish (their Q_s are arbitrary, here antisymmetric, and carry no weight); the rest stay symmetric
    h, d = 8, 3
    b = bilinear_tensor(randn(h, d, seed=44), randn(h, d, seed=45))
    s, u, qs = hosvd(b)
    r = d * (d + 1) // 2
    assert s.shape == (h,) and (s[:r] > 1e-8).all() and (s[r:] < 1e-12 * s[0]).all()
    assert_close(qs[:r], qs[:r].transpose(1, 2), rtol=1e-12)
    assert_close(torch.einsum("s,os,sij->oij", s[:r], u[:, :r], qs[:r]), b, rtol=1e-12)


def test_hosvd_reconstructs_wide_tensor_and_unsymmetric_slices():
    b = randn(20, 3, 3, seed=39)  # o > d², so r = d²; slices are not symmetric
    s, u, qs = hosvd(b)
    assert s.shape == (9,) and u.shape == (20, 9) and qs.shape == (9, 3, 3)
    assert (s[:-1] >= s[1:]).all()
    assert_close(torch.einsum("s,os,sij->oij", s, u, qs), b, rtol=1e-12)
    assert_close(torch.linalg.matrix_norm(qs), torch.ones(9, dtype=F64), rtol=1e-12)


@pytest.mark.parametrize(
    ("b", "error", "match"),
    [
        (torch.zeros(3, 4, 5, dtype=F64), ValueError, "square slices"),
        (torch.zeros(4, 4, dtype=F64), ValueError, "3 dimensions"),
        (torch.zeros(2, 3, 3, 3, dtype=F64), ValueError, "3 dimensions"),
        (torch.zeros(0, 3, 3, dtype=F64), ValueError, "empty"),
        (torch.zeros(2, 3, 3, dtype=torch.int64), TypeError, "floating-point"),
    ],
)
def test_hosvd_rejects_bad_input(b, error, match):
    with pytest.raises(error, match=match):
        hosvd(b)


# ------------------------------------------------------------------------------------ toy Boolean tasks


BITS = torch.tensor(list(itertools.product([0.0, 1.0], repeat=2)), dtype=F64)  # (4, 2)


def test_and_of_two_bits_closed_form():
    w = torch.tensor([[1.0, 0.0]], dtype=F64)
    v = torch.tensor([[0.0, 1.0]], dtype=F64)
    q = interaction_matrix(w, v, torch.ones(1, dtype=F64))
    assert torch.equal(q, torch.tensor([[0.0, 0.5], [0.5, 0.0]], dtype=F64))
    assert torch.equal(torch.einsum("ni,ij,nj->n", BITS, q, BITS), BITS[:, 0] * BITS[:, 1])
    assert torch.equal(torch.einsum("ni,ij,nj->n", BITS, q, BITS), torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=F64))
    vals, vecs = eigendecompose(q)
    assert_close(torch.sort(vals).values, torch.tensor([-0.5, 0.5], dtype=F64), rtol=1e-14)
    # eigenvectors (1, 1)/√2 for +½ and (1, -1)/√2 for -½: AND = ½ ((x0+x1)/√2)² ... - ½ ((x0-x1)/√2)²
    r = 1 / math.sqrt(2.0)
    plus, minus = vecs[:, vals > 0].squeeze(1), vecs[:, vals < 0].squeeze(1)
    assert_close(plus, torch.tensor([r, r], dtype=F64), rtol=1e-14)
    assert_close(minus.abs(), torch.tensor([r, r], dtype=F64), rtol=1e-14)
    assert float(minus[0] * minus[1]) < 0
    proj = (BITS @ vecs)[:, None, :]
    assert_close(eigen_logits(vals[None], proj)[:, 0], BITS[:, 0] * BITS[:, 1], rtol=1e-14)


def test_xor_of_two_bits_closed_form():
    w = torch.tensor([[1.0, -1.0]], dtype=F64)  # w = v = e0 - e1: (x0 - x1)²
    q = interaction_matrix(w, w, torch.ones(1, dtype=F64))
    assert torch.equal(q, torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=F64))
    xor = torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=F64)
    assert torch.equal(torch.einsum("ni,ij,nj->n", BITS, q, BITS), xor)
    vals, vecs = eigendecompose(q)
    assert_close(vals, torch.tensor([2.0, 0.0], dtype=F64), rtol=1e-14)
    # |entries| tie, so the sign convention keeps the first maximal entry positive: (1, -1)/√2
    r = 1 / math.sqrt(2.0)
    assert_close(vecs[:, 0], torch.tensor([r, -r], dtype=F64), rtol=1e-14)
    # rank one: the top eigenpair alone computes XOR exactly
    proj = (BITS @ vecs)[:, None, :]
    assert_close(eigen_logits(vals[None], proj, k=1)[:, 0], xor, rtol=1e-14)


# ------------------------------------------------------------------------------------ BilinearClassifier


@pytest.mark.parametrize("bias", [False, True])
def test_classifier_forward_and_hidden(bias):
    m = model(6, 4, 3, seed=40, bias=bias)
    x = randn(11, 6, seed=41)
    with torch.no_grad():
        out, hid = m(x), m.hidden(x)
        e = x @ m.embed.weight.T
        w_e, v_e = e @ m.w.weight.T, e @ m.v.weight.T
        if bias:
            w_e, v_e = w_e + m.w.bias, v_e + m.v.bias
    assert out.shape == (11, 3) and hid.shape == (11, 4)
    assert_close(hid, w_e * v_e, rtol=1e-13)
    assert_close(out, hid @ m.head.weight.T, rtol=1e-13)
    assert (m.w.bias is not None) == bias and (m.v.bias is not None) == bias
    assert m.embed.bias is None and m.head.bias is None


def test_classifier_without_embed_reads_input():
    m = model(5, 5, 2, seed=42, embed=False)
    x = randn(4, 5, seed=43)
    with torch.no_grad():
        assert torch.equal(m.hidden(x), m.w(x) * m.v(x))


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((0, 4, 3), {}, "positive"),
        ((5, 0, 3), {}, "positive"),
        ((5, 4, 0), {}, "positive"),
        ((5, -1, 3), {}, "positive"),
        ((5, 4, 3), {"embed": False}, "without an embedding"),
    ],
)
def test_classifier_rejects_bad_sizes(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        BilinearClassifier(*args, **kwargs)
