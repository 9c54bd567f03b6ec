"""Adversarial masks read from a bilinear classifier's eigenvectors, and how to measure what they do.

A mask ``m`` is added to every test image, ``x + s·m``. Its eigenvector ``p`` enters the target's logit as
``λ (p · x)²``, so the mask helps the target only if it moves ``p · x`` the way images already lie: the sign of a
mask is chosen from training images of the *other* classes (:func:`orient`). :func:`sweep` measures accuracy and the
share of images sent to the mask's target at several strengths, for many masks at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from .._checks import require_tensor
from .tensors import BilinearClassifier

__all__ = ["orient", "standardise", "sweep"]


def standardise(masks: torch.Tensor) -> torch.Tensor:
    """Centre each mask (rows of ``(n, P)``) and scale it to unit pixel standard deviation (torch's unbiased std)."""
    require_tensor(masks, "masks", ndim=2)
    centred = masks - masks.mean(dim=1, keepdim=True)
    return centred / centred.std(dim=1, keepdim=True)


def orient(
    masks: torch.Tensor, directions: torch.Tensor, targets: torch.Tensor, x_train: torch.Tensor, y_train: torch.Tensor
) -> torch.Tensor:
    """Flip each mask's sign so that ``(x · p_j)(m_j · p_j) ≥ 0`` on average over training images not of its target.

    Args:
        masks: (n, P) masks ``m_j``.
        directions: (n, P) the input-space eigenvector ``p_j`` each mask is built for.
        targets: (n,) the class each mask pushes towards.
        x_train, y_train: (N, P) images and (N,) labels; only images with ``y ≠ target_j`` decide mask ``j``.
    """
    for name, t, ndim in (("masks", masks, 2), ("directions", directions, 2), ("x_train", x_train, 2)):
        require_tensor(t, name, ndim=ndim)
    if masks.shape != directions.shape or masks.shape[1] != x_train.shape[1]:
        raise ValueError(
            f"masks {tuple(masks.shape)}, directions {tuple(directions.shape)} and images "
            f"{tuple(x_train.shape)} must share the pixel dimension (and masks/directions their shape)"
        )
    if targets.shape != (masks.shape[0],) or y_train.shape != (x_train.shape[0],):
        raise ValueError("targets must have one entry per mask and y_train one per training image")
    along = x_train @ directions.T  # (N, n): x · p_j for every image and mask
    others = (y_train[:, None] != targets[None, :]).to(along.dtype)  # (N, n)
    counts = others.sum(0)  # (n,) training images outside each mask's target class
    if (counts == 0).any():
        lonely = sorted({int(t) for t in targets[counts == 0]})
        raise ValueError(f"no training image outside the target class {lonely}: the mask's sign cannot be read")
    mean_along = (along * others).sum(0) / counts  # (n,) mean of x · p_j over the other classes
    sign = torch.where(mean_along * (masks * directions).sum(1) >= 0, 1.0, -1.0).to(masks.dtype)
    return sign[:, None] * masks


def sweep(
    model: Callable[[torch.Tensor], torch.Tensor],
    masks: torch.Tensor,
    targets: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    strengths: Sequence[float],
) -> np.ndarray:
    """(len(strengths), 2): accuracy on ``x + s·m`` and the share of non-target images predicted as the target,
    each averaged over the ``n`` masks (rows of ``masks``, targets in ``targets``)."""
    require_tensor(masks, "masks", ndim=2)
    require_tensor(x, "x", ndim=2)
    if targets.shape != (masks.shape[0],):
        raise ValueError(f"targets must have one entry per mask ({masks.shape[0]}), got {tuple(targets.shape)}")
    if isinstance(model, BilinearClassifier):
        # everything before the product is affine in the input: W·embed(x + s·m) = W·embed(x) + s·W·embed(m),
        # so the images and the masks go through the embedding and both bilinear projections once
        embedded, shifts = model.embed(x), model.embed(masks)  # (N, d), (n, d)
        wx, vx = model.w(embedded), model.v(embedded)  # (N, h), biases included
        wm, vm = shifts @ model.w.weight.T, shifts @ model.v.weight.T  # (n, h), linear parts only

        def predict(strength: float) -> torch.Tensor:
            hidden = (wx[None] + strength * wm[:, None]) * (vx[None] + strength * vm[:, None])  # (n, N, h)
            return model.head(hidden).argmax(-1).reshape(-1)
    else:

        def predict(strength: float) -> torch.Tensor:
            return model((x[None] + strength * masks[:, None]).reshape(-1, x.shape[1])).argmax(1)

    out = np.zeros((len(strengths), 2))
    for s_index, strength in enumerate(strengths):
        pred = predict(strength).reshape(len(masks), -1)  # (n, N)
        correct = (pred == y[None]).double().mean(1)  # (n,)
        not_target = (y[None] != targets[:, None]).double()  # (n, N)
        steered = ((pred == targets[:, None]).double() * not_target).sum(1) / not_target.sum(1)
        out[s_index] = [float(correct.mean()), float(steered.mean())]
    return out
