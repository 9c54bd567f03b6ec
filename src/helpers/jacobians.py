"""Per-example Jacobians with ``torch.func``: one vectorised call instead of a Python loop.

For a function ``f`` mapping one example ``x`` (d_in,) to ``y`` (d_out,), ``batch_jacobian(f, xs)`` returns
``J[n, o, i] = ∂f(xs[n])_o / ∂xs[n]_i`` for a batch ``xs`` (n, d_in). ``jacobian_loop`` computes the same
with one autograd call per example and output coordinate; it is the slow, obviously-correct reference
the tests and the workbench chapter compare against.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import jacrev, vmap

from ._checks import as_matrix

__all__ = ["batch_jacobian", "jacobian_loop"]

Fn = Callable[[torch.Tensor], torch.Tensor]


def _probe(f: Fn, xs: torch.Tensor) -> int:
    out = f(xs[0])
    if not isinstance(out, torch.Tensor) or out.ndim != 1:
        raise ValueError(
            "f must map one example (d_in,) to a vector (d_out,); "
            f"got {type(out).__name__} of shape {tuple(getattr(out, 'shape', ()))}"
        )
    return out.shape[0]


def batch_jacobian(f: Fn, xs: torch.Tensor, *, chunk_size: int | None = None) -> torch.Tensor:
    """Jacobians (n, d_out, d_in) of ``f`` at every row of ``xs`` (n, d_in), vectorised with vmap(jacrev).

    Args:
        f: maps a single example (d_in,) to (d_out,); must not depend on other examples of the batch.
        xs: the points, one per row.
        chunk_size: examples per vectorised chunk, to bound memory (``None``: all at once).
    """
    xs = as_matrix(xs, "xs")
    _probe(f, xs)
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
    return vmap(jacrev(f), chunk_size=chunk_size)(xs)  # (n, d_out, d_in)


def jacobian_loop(f: Fn, xs: torch.Tensor) -> torch.Tensor:
    """The same Jacobians with an explicit loop: one ``torch.autograd.grad`` per example and output."""
    xs = as_matrix(xs, "xs")
    d_out = _probe(f, xs)
    rows = []
    for x in xs:
        x = x.detach().clone().requires_grad_(True)
        y = f(x)
        grads = [torch.autograd.grad(y[o], x, retain_graph=o < d_out - 1)[0] for o in range(d_out)]
        rows.append(torch.stack(grads))  # (d_out, d_in)
    return torch.stack(rows)  # (n, d_out, d_in)
