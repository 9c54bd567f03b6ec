"""Known-answer tests of helpers.linalg: Gram matrices, sorted eigendecompositions, sign conventions, SVD, PCA."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers.linalg import PCA, canonical_signs, effective_rank, eigh_descending, gram, pca, svd_canonical


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def random_symmetric(d: int, seed: int = 0) -> torch.Tensor:
    a = randn(d, d, seed=seed)
    return a + a.T


# --------------------------------------------------------------------------------------------- gram


def test_gram_is_second_moment():
    x = randn(40, 5)
    expected = x.numpy().T @ x.numpy() / 40
    np.testing.assert_allclose(gram(x).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_gram_centred_equals_numpy_covariance():
    x = randn(50, 6, seed=1) * 3 + 2  # a non-zero mean, so that centring matters
    expected = np.cov(x.numpy(), rowvar=False, bias=True)
    np.testing.assert_allclose(gram(x, centre=True).numpy(), expected, rtol=1e-12, atol=1e-12)
    assert not np.allclose(gram(x).numpy(), expected)


def test_gram_is_symmetric_positive_semidefinite():
    g = gram(randn(30, 4, seed=2), centre=True)
    assert torch.equal(g, g.T)
    assert torch.linalg.eigvalsh(g).min() > -1e-12


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (torch.zeros(3), ValueError, "2 dimensions"),
        (torch.zeros(2, 3, 4), ValueError, "2 dimensions"),
        (torch.zeros(0, 3), ValueError, "empty"),
        (torch.ones(3, 2, dtype=torch.int64), TypeError, "floating-point"),
        (torch.tensor([[1.0, float("nan")]]), ValueError, "NaN or infinite"),
        (torch.tensor([[1.0, float("inf")]]), ValueError, "NaN or infinite"),
        (np.ones((3, 2)), TypeError, "torch.Tensor"),
    ],
)
def test_gram_rejects_bad_input(x, error, match):
    with pytest.raises(error, match=match):
        gram(x)


# --------------------------------------------------------------------------------------------- signs


def test_canonical_signs_makes_largest_entry_positive():
    v = randn(6, 4, seed=3)
    out = canonical_signs(v)
    index = out.abs().argmax(dim=0)
    assert (out[index, torch.arange(4)] > 0).all()
    # each column is the input column or its negative
    for j in range(4):
        assert torch.equal(out[:, j], v[:, j]) or torch.equal(out[:, j], -v[:, j])


def test_canonical_signs_is_idempotent_and_sign_invariant():
    v = randn(5, 3, seed=4)
    once = canonical_signs(v)
    assert torch.equal(canonical_signs(once), once)
    flips = torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)
    assert torch.equal(canonical_signs(v * flips), once)


def test_canonical_signs_leaves_zero_column_alone():
    v = torch.zeros(3, 2, dtype=torch.float64)
    v[:, 1] = torch.tensor([0.0, -2.0, 1.0])
    out = canonical_signs(v)
    assert torch.equal(out[:, 0], torch.zeros(3, dtype=torch.float64))
    assert torch.equal(out[:, 1], torch.tensor([0.0, 2.0, -1.0], dtype=torch.float64))


def test_canonical_signs_rejects_vector():
    with pytest.raises(ValueError, match="2 dimensions"):
        canonical_signs(torch.ones(3))


# --------------------------------------------------------------------------------------------- eigh


def test_eigh_descending_reconstructs_and_is_sorted():
    m = random_symmetric(7, seed=5)
    values, vectors = eigh_descending(m)
    assert (values[:-1] >= values[1:]).all()
    torch.testing.assert_close(vectors @ torch.diag(values) @ vectors.T, m, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(vectors.T @ vectors, torch.eye(7, dtype=torch.float64), rtol=0, atol=1e-12)
    np.testing.assert_allclose(values.numpy(), np.sort(np.linalg.eigvalsh(m.numpy()))[::-1], rtol=1e-12, atol=1e-12)


def test_eigh_descending_known_answer():
    m = torch.diag(torch.tensor([1.0, 3.0, 2.0], dtype=torch.float64))
    values, vectors = eigh_descending(m)
    assert values.tolist() == [3.0, 2.0, 1.0]
    expected = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    assert torch.equal(vectors, expected)


def test_eigh_descending_vectors_have_canonical_signs():
    _, vectors = eigh_descending(random_symmetric(6, seed=6))
    assert torch.equal(canonical_signs(vectors), vectors)


def test_eigh_descending_rejects_non_square():
    with pytest.raises(ValueError, match="square"):
        eigh_descending(randn(3, 4))


def test_eigh_descending_rejects_non_symmetric_unless_asked():
    m = randn(4, 4, seed=7)
    with pytest.raises(ValueError, match="not symmetric.*symmetrize=True"):
        eigh_descending(m)
    values, _ = eigh_descending(m, symmetrize=True)
    torch.testing.assert_close(values, eigh_descending((m + m.T) / 2)[0])


def test_eigh_descending_tolerates_rounding_asymmetry():
    m = random_symmetric(5, seed=8)
    m[0, 1] += 1e-15  # far below 1e3 * eps * scale
    eigh_descending(m)


@pytest.mark.parametrize(
    ("m", "error"),
    [
        (torch.eye(3, dtype=torch.int64), TypeError),
        (torch.tensor([[1.0, float("nan")], [float("nan"), 1.0]]), ValueError),
        (torch.ones(3), ValueError),
    ],
)
def test_eigh_descending_rejects_bad_input(m, error):
    with pytest.raises(error):
        eigh_descending(m)


# --------------------------------------------------------------------------------------------- svd


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 5)])
def test_svd_canonical_reconstructs(shape):
    m = randn(*shape, seed=9)
    u, s, v = svd_canonical(m)
    k = min(shape)
    assert u.shape == (shape[0], k) and s.shape == (k,) and v.shape == (shape[1], k)
    torch.testing.assert_close(u @ torch.diag(s) @ v.T, m, rtol=1e-12, atol=1e-12)
    assert (s[:-1] >= s[1:]).all()
    assert torch.equal(canonical_signs(u), u)
    torch.testing.assert_close(v.T @ v, torch.eye(k, dtype=torch.float64), rtol=0, atol=1e-12)


def test_svd_canonical_is_sign_invariant():
    m = randn(5, 3, seed=10)
    u1, s1, v1 = svd_canonical(m)
    u2, s2, v2 = svd_canonical(-m)  # same singular vectors up to signs
    torch.testing.assert_close(u1, u2, rtol=0, atol=1e-12)
    torch.testing.assert_close(v1, -v2, rtol=0, atol=1e-12)
    torch.testing.assert_close(s1, s2)


# --------------------------------------------------------------------------------------------- pca


def test_pca_variances_equal_numpy():
    x = randn(80, 5, seed=11) * torch.tensor([5.0, 3.0, 2.0, 1.0, 0.5], dtype=torch.float64)
    result = pca(x)
    expected = np.sort(np.linalg.eigvalsh(np.cov(x.numpy(), rowvar=False, bias=True)))[::-1]
    np.testing.assert_allclose(result.variances.numpy(), expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(result.mean, x.mean(dim=0))
    assert isinstance(result, PCA)


def test_pca_transform_coordinates_have_the_variances():
    x = randn(100, 4, seed=12) * 2 + 1
    result = pca(x, k=3)
    coords = result.transform(x)
    assert coords.shape == (100, 3)
    torch.testing.assert_close(coords.mean(dim=0), torch.zeros(3, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(gram(coords), torch.diag(result.variances), rtol=1e-10, atol=1e-10)


def test_pca_explained_ratio_sums_to_one():
    result = pca(randn(30, 4, seed=13), k=2)
    assert result.explained_ratio.shape == (2,)
    assert math.isclose(float(result.explained_ratio.sum()), 1.0, rel_tol=1e-12)


def test_pca_of_rank_one_data():
    direction = torch.tensor([3.0, -4.0, 0.0], dtype=torch.float64) / 5
    t = randn(50, 1, seed=14)
    result = pca(t * direction + 7.0)
    torch.testing.assert_close(result.components[:, 0], -direction, rtol=0, atol=1e-12)  # canonical sign
    torch.testing.assert_close(result.variances[1:], torch.zeros(2, dtype=torch.float64), rtol=0, atol=1e-12)
    assert (result.variances >= 0).all()


@pytest.mark.parametrize("k", [0, 5, -1, 2.0, "2", True])
def test_pca_rejects_bad_k(k):
    with pytest.raises(ValueError, match="k must be an int between 1 and 4"):
        pca(randn(10, 4), k=k)


def test_pca_transform_rejects_wrong_width():
    result = pca(randn(10, 4))
    with pytest.raises(ValueError, match="3 features.*fitted on 4"):
        result.transform(randn(5, 3))


# --------------------------------------------------------------------------------------------- effective rank


def test_effective_rank_known_answers():
    assert effective_rank(torch.tensor([2.0, 0.0, 0.0])) == pytest.approx(1.0)
    assert effective_rank(torch.tensor([-3.0])) == pytest.approx(1.0)
    for k in (2, 3, 7):
        values = torch.cat([torch.full((k,), 0.5), torch.zeros(4)])
        assert effective_rank(values) == pytest.approx(k)


def test_effective_rank_lies_between_one_and_count():
    r = effective_rank(torch.tensor([4.0, 2.0, 1.0, 0.5]))
    assert 1.0 < r < 4.0
    assert isinstance(r, float)


def test_effective_rank_rejects_bad_input():
    with pytest.raises(ValueError, match="undefined"):
        effective_rank(torch.zeros(3))
    with pytest.raises(ValueError, match="1 dimensions"):
        effective_rank(torch.ones(2, 2))
    with pytest.raises(ValueError, match="empty"):
        effective_rank(torch.zeros(0))
    with pytest.raises(TypeError, match="floating-point"):
        effective_rank(torch.tensor([1, 2]))
