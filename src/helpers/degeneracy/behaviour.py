"""The behavioural loss of a network against its trained self, its Gauss–Newton Hessian, and ``N_eff(ε)``.

``L_B(w | w*) = (1/n) Σ_x ‖f(x; w) − f(x; w*)‖²`` measures how far the network at ``w`` computes something different
from the trained network ``w*`` on the training inputs (not how well it fits the labels). It is zero at ``w*``,
so ``w*`` is an exact minimum, and its Hessian there is the Gauss–Newton matrix
``H_B = (2/n) Σ_x J(x)ᵀ J(x)`` with ``J(x) = ∂f(x; w)/∂w`` at ``w*``: second derivatives of ``f`` drop out because
they multiply ``f(x; w*) − f(x; w*) = 0``.

Functions here take a network as ``f(w, x) -> (n, o)`` with all parameters in one flat vector ``w`` (d,).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import jacfwd, jacrev, jvp, vmap

from .._checks import require_tensor

__all__ = ["Network", "behavioural_loss", "behavioural_loss_fn", "gauss_newton", "n_eff", "output_jacobian"]

Network = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (w (d,), x (n, d_in)) -> (n, o)


def behavioural_loss_fn(f: Network, w_star: torch.Tensor, x: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``w ↦ L_B(w | w*)`` as a function of the flat parameters alone, with ``f(x; w*)`` computed once.

    The arguments are checked here, once; the function returned does no checks (so that ``torch.func.vmap`` and
    ``grad`` can run it, as the SGLD sampler does) and expects ``w`` of the shape of ``w_star``.
    """
    require_tensor(w_star, "w_star", ndim=1)
    require_tensor(x, "x", ndim=2)
    target = f(w_star, x).detach()  # (n, o)

    def loss(w: torch.Tensor) -> torch.Tensor:
        return ((f(w, x) - target) ** 2).sum(-1).mean()

    return loss


def behavioural_loss(f: Network, w: torch.Tensor, w_star: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``(1/n) Σ_x ‖f(x; w) − f(x; w*)‖²``: the mean over inputs of the squared output distance (a scalar)."""
    require_tensor(w, "w", ndim=1)
    if w.shape != w_star.shape:
        raise ValueError(f"w and w_star must have the same shape, got {tuple(w.shape)} and {tuple(w_star.shape)}")
    return behavioural_loss_fn(f, w_star, x)(w)


def output_jacobian(f: Network, w: torch.Tensor, x: torch.Tensor, *, chunk: int | None = None) -> torch.Tensor:
    """``∂f(x; w)_o / ∂w`` for every input and output, stacked: (n·o, d).

    Forward mode (one pass per parameter) when there are fewer parameters than outputs on the data, as for every
    network of the book's chapter 2; reverse mode (one pass per output) otherwise. ``chunk``: forward mode always,
    ``chunk`` parameters at a time, so that memory holds one chunk's passes (chapter 5's twin: 3,552 parameters).
    """
    require_tensor(w, "w", ndim=1)
    require_tensor(x, "x", ndim=2)
    if chunk is not None:
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk must be a positive int or None, got {chunk!r}")
        eye = torch.eye(w.shape[0], dtype=w.dtype)
        columns = vmap(lambda v: jvp(lambda u: f(u, x).reshape(-1), (w,), (v,))[1], chunk_size=chunk)(eye)  # (d, n·o)
        return columns.T
    n_outputs = f(w, x[:1]).numel() * x.shape[0]
    jacobian = jacfwd if w.shape[0] < n_outputs else jacrev
    jac = jacobian(lambda v: f(v, x))(w)  # (n, o, d)
    return jac.reshape(-1, w.shape[0])


def gauss_newton(f: Network, w_star: torch.Tensor, x: torch.Tensor, *, chunk_size: int | None = None) -> torch.Tensor:
    """The Hessian of ``L_B(· | w*)`` at ``w*``, in closed form: ``(2/n) Σ_x J(x)ᵀ J(x)`` (d, d).

    ``chunk_size``: the Jacobian is built for this many inputs at a time and their ``JᵀJ`` summed, so that memory
    holds one chunk's Jacobian rather than all of it (and reverse mode is chosen when a chunk has fewer outputs than
    there are parameters). ``None``: all inputs at once.
    """
    require_tensor(x, "x", ndim=2)
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
    if chunk_size is None:
        jac = output_jacobian(f, w_star, x)  # (n·o, d)
        return 2.0 / x.shape[0] * jac.T @ jac
    total = torch.zeros(w_star.shape[0], w_star.shape[0], dtype=w_star.dtype)
    for part in x.split(chunk_size):
        jac = output_jacobian(f, w_star, part)  # (chunk·o, d)
        total += jac.T @ jac
    return 2.0 / x.shape[0] * total


def n_eff(curvatures: torch.Tensor, eps: float, *, box: float = 1.0) -> int:
    """The effective parameter count at loss scale ``ε`` in the quadratic approximation, inside a box of half-width
    ``box`` around ``w*``.

    Along an eigendirection of curvature ``h`` the loss ``½ h t²`` stays below ``ε`` for ``|t| < √(2ε/h)``. When that
    is wider than the box the direction is free at this scale (it adds nothing to the volume's scaling); otherwise it
    is a regular direction and adds 1 (``2 × ½``). So ``N_eff(ε) = #{h : 2ε/h < box²}``. This is the book's proxy
    for the paper's ``N_eff(ε) = 2 λ(ε)``, exact for a quadratic loss in a box.
    """
    require_tensor(curvatures, "curvatures", ndim=1)
    if not (eps > 0) or not (box > 0):
        raise ValueError(f"eps and box must be positive, got {eps!r} and {box!r}")
    return int((curvatures > 2 * eps / box**2).sum())
