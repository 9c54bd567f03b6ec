"""helpers.jacobians: the vectorised Jacobian equals the loop and the analytic Jacobians of known maps."""

from __future__ import annotations

import pytest
import torch

from helpers.jacobians import batch_jacobian, jacobian_loop


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


W = randn(3, 5, seed=1)  # d_out = 3, d_in = 5
XS = randn(4, 5, seed=2)


def linear(x: torch.Tensor) -> torch.Tensor:
    return W @ x


def tanh_layer(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(W @ x)


def test_linear_map_jacobian_is_the_weight():
    expected = W.expand(4, 3, 5)
    for jac in (batch_jacobian(linear, XS), jacobian_loop(linear, XS)):
        assert jac.shape == (4, 3, 5)
        torch.testing.assert_close(jac, expected, rtol=0, atol=1e-14)


def test_tanh_layer_jacobian_is_analytic():
    pre = XS @ W.T  # (n, d_out)
    expected = (1 - torch.tanh(pre) ** 2)[:, :, None] * W[None]  # diag(1 - tanh²) W
    torch.testing.assert_close(batch_jacobian(tanh_layer, XS), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(jacobian_loop(tanh_layer, XS), expected, rtol=1e-12, atol=1e-12)


def test_batch_equals_loop_for_a_nonlinear_map():
    def f(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[0] * x[1], torch.sin(x).sum(), (x**3).mean()])

    xs = randn(6, 4, seed=3)
    torch.testing.assert_close(batch_jacobian(f, xs), jacobian_loop(f, xs), rtol=1e-12, atol=1e-12)
    # ∂(x0 x1)/∂x = (x1, x0, 0, 0)
    torch.testing.assert_close(batch_jacobian(f, xs)[:, 0, :2], xs[:, [1, 0]], rtol=0, atol=0)


def test_jacobians_are_per_example():
    # each example's Jacobian depends on that example only: permuting the batch permutes the result
    perm = torch.tensor([2, 0, 3, 1])
    torch.testing.assert_close(batch_jacobian(tanh_layer, XS[perm]), batch_jacobian(tanh_layer, XS)[perm])


@pytest.mark.parametrize("chunk_size", [1, 3, 100])
def test_chunk_size_does_not_change_the_result(chunk_size):
    torch.testing.assert_close(
        batch_jacobian(tanh_layer, XS, chunk_size=chunk_size), batch_jacobian(tanh_layer, XS), rtol=0, atol=1e-14
    )


@pytest.mark.parametrize("chunk_size", [0, -2, 1.5])
def test_bad_chunk_size_raises(chunk_size):
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        batch_jacobian(tanh_layer, XS, chunk_size=chunk_size)


@pytest.mark.parametrize("jac", [batch_jacobian, jacobian_loop])
def test_scalar_output_raises(jac):
    with pytest.raises(ValueError, match=r"f must map one example .* to a vector"):
        jac(lambda x: (W @ x).sum(), XS)


@pytest.mark.parametrize("jac", [batch_jacobian, jacobian_loop])
def test_non_tensor_output_raises(jac):
    with pytest.raises(ValueError, match="got list"):
        jac(lambda x: [x], XS)


@pytest.mark.parametrize("jac", [batch_jacobian, jacobian_loop])
@pytest.mark.parametrize(
    ("xs", "error", "match"),
    [
        (torch.ones(5, dtype=torch.float64), ValueError, "xs must have 2 dimensions"),
        (torch.ones(0, 5, dtype=torch.float64), ValueError, "xs is empty"),
        (torch.ones(2, 5, dtype=torch.int64), TypeError, "floating-point"),
        (torch.tensor([[float("nan")] * 5]), ValueError, "NaN"),
    ],
)
def test_bad_points_raise(jac, xs, error, match):
    with pytest.raises(error, match=match):
        jac(linear, xs)
