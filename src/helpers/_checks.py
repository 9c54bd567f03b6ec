"""Argument checks shared by the helpers: clear errors for wrong shapes, dtypes, NaNs and empty inputs."""

from __future__ import annotations

import torch

__all__ = ["as_matrix", "require_tensor"]


def require_tensor(x: object, name: str, *, ndim: int | None = None, floating: bool = True) -> torch.Tensor:
    """Return ``x`` if it is a tensor of the asked rank with finite floating values, else raise clearly."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)})")
    if floating:
        if not x.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    return x


def as_matrix(x: object, name: str) -> torch.Tensor:
    """A finite floating (n, d) matrix, checked."""
    return require_tensor(x, name, ndim=2)
