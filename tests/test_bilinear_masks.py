"""Known-answer tests of helpers.bilinear.masks (orienting masks, the attack sweep) and helpers.bilinear.plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from helpers.bilinear import eigendecompose
from helpers.bilinear.masks import orient, standardise, sweep
from helpers.bilinear.plots import contribution_bars, decomposition_diagram

F64 = torch.float64


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def test_standardise_gives_zero_mean_unit_std() -> None:
    m = standardise(3.0 * randn(4, 50) + 2.0)
    assert torch.allclose(m.mean(1), torch.zeros(4, dtype=F64), atol=1e-12)
    assert torch.allclose(m.std(1), torch.ones(4, dtype=F64), atol=1e-12)


def test_orient_matches_the_rule_image_by_image() -> None:
    """The sign rule computed the slow way: loop over masks, average (x·p)(m·p) over the *other* classes' images."""
    x, y = randn(60, 7, seed=1), torch.arange(60) % 3
    masks, directions, targets = randn(5, 7, seed=2), randn(5, 7, seed=3), torch.tensor([0, 1, 2, 0, 1])
    out = orient(masks, directions, targets, x, y)
    for j in range(5):
        others = x[y != targets[j]]
        expected = 1.0 if ((others @ directions[j]) * (masks[j] @ directions[j])).mean() >= 0 else -1.0
        assert torch.equal(out[j], expected * masks[j])


def test_orient_uses_only_the_other_classes() -> None:
    """Images of the target class lie the other way: if they were counted the sign would flip."""
    p = torch.tensor([[1.0, 0.0]], dtype=F64)
    x = torch.tensor([[1.0, 0.0], [-5.0, 0.0]], dtype=F64)  # class 1 at +1, class 0 (the target) at −5
    y = torch.tensor([1, 0])
    out = orient(torch.tensor([[-2.0, 0.0]], dtype=F64), p, torch.tensor([0]), x, y)
    assert out[0, 0] == 2.0


def test_sweep_on_a_model_whose_answer_is_known() -> None:
    """Model: argmax of the first 3 inputs. A mask of +10 on input t sends every image to t."""
    x = torch.eye(3, dtype=F64).repeat(4, 1)  # 12 images, labels 0,1,2,0,1,2,...
    y = torch.arange(12) % 3
    masks = 10.0 * torch.eye(3, dtype=F64)[:2]  # targets 0 and 1
    out = sweep(lambda z: z, masks, torch.tensor([0, 1]), x, y, [0.0, 1.0])
    assert np.allclose(out[0], [1.0, 0.0])  # no mask: all right, nobody steered
    assert np.allclose(out[1], [1 / 3, 1.0])  # full mask: only the target's own images right, all others steered


def test_mask_helpers_reject_bad_shapes() -> None:
    with pytest.raises(ValueError):
        orient(randn(2, 5), randn(2, 4), torch.tensor([0, 1]), randn(3, 5), torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError):
        sweep(lambda z: z, randn(2, 3), torch.tensor([0]), randn(4, 3), torch.zeros(4, dtype=torch.long), [1.0])


def test_decomposition_diagram_draws_the_models_own_q() -> None:
    b = randn(4, 3, 3)
    b = (b + b.transpose(1, 2)) / 2
    u = randn(4, seed=1)
    q = torch.einsum("a,aij->ij", u, b)
    fig = decomposition_diagram(b, u, labels=["x", "y", "z"])
    images = [im.get_array() for ax in fig.axes for im in ax.get_images()]
    assert any(a.shape == (3, 3) and np.allclose(a, q.numpy()) for a in images)
    eigen = eigendecompose(q)  # the eigenvector panel: columns by decreasing |λ|
    assert any(a.shape == (3, 3) and np.allclose(a, eigen.vectors.numpy()) for a in images)
    matplotlib.pyplot.close(fig)
    with pytest.raises(ValueError):
        decomposition_diagram(b, randn(5))


def test_contribution_bars_sum_to_the_logit() -> None:
    c = torch.tensor([0.5, -3.0, 2.0, 0.1, -0.2], dtype=F64)
    fig, ax = matplotlib.pyplot.subplots()
    shown = contribution_bars(ax, c, "t", top=2)
    heights = [p.get_height() for p in ax.patches]
    assert shown == [1, 2]
    assert np.isclose(sum(heights), float(c.sum())) and np.isclose(heights[-1], 0.4)
    matplotlib.pyplot.close(fig)


def test_sweep_through_the_embedding_equals_the_plain_forward() -> None:
    """The shortcut embed(x + s·m) = embed(x) + s·embed(m) must give the predictions of the model itself."""
    from helpers.bilinear import BilinearClassifier

    torch.manual_seed(0)
    model = BilinearClassifier(12, 5, 4, bias=True).double()
    x, y = randn(40, 12, seed=4), torch.randint(0, 4, (40,), generator=torch.Generator().manual_seed(5))
    masks, targets = randn(3, 12, seed=6), torch.tensor([0, 2, 3])
    with torch.no_grad():
        fast = sweep(model, masks, targets, x, y, [0.0, 0.7, 3.0])
        plain = sweep(lambda z: model(z), masks, targets, x, y, [0.0, 0.7, 3.0])
    assert np.array_equal(fast, plain)
    assert not np.allclose(fast[0], fast[2])  # the masks do change the predictions
