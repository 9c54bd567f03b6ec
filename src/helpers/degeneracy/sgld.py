"""The local learning coefficient (LLC) estimated with localised SGLD, from scratch, vectorised over chains.

The estimator (Lau et al. 2023, as implemented by the ``devinterp`` library) samples the tempered, localised
posterior ``p(w) ∝ exp(−nβ L(w) − (γ/2)‖w − w*‖²)`` with stochastic-gradient Langevin dynamics,

    w ← w − (ε/2) [nβ ∇L(w) + γ (w − w*)] + √ε · ξ,    ξ ~ N(0, I),

and reads ``λ̂ = nβ (E[L(w)] − L(w*))`` off the draws: the more the loss rises when the sampler is free to wander,
the fewer directions are free. Here the loss is full-batch by default (the book's models and potentials are small)
or computed on a batch per step (``batches``), every chain runs in one vectorised update (``torch.func.vmap`` over
``torch.func.grad_and_value``), and each draw records the loss at the parameters *before* its step, as devinterp does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch.func import grad_and_value, vmap

from .._checks import require_tensor

__all__ = ["LLCEstimate", "estimate_llc", "llc_from_trace", "quadratic_llc", "sgld_step"]


class LLCEstimate(NamedTuple):
    """``mean`` and ``std`` (unbiased, across chains) of λ̂; ``per_chain`` (chains,); ``trace`` (chains, draws) of
    losses; ``init_loss`` = ``L(w*)``."""

    mean: float
    std: float
    per_chain: np.ndarray
    trace: np.ndarray
    init_loss: float

    @property
    def standard_error(self) -> float:
        return self.std / math.sqrt(len(self.per_chain))


def _positive(value: float, name: str, *, zero_ok: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"{name} must be {'non-negative' if zero_ok else 'positive'}, got {value!r}")
    return float(value)


def sgld_step(w: torch.Tensor, grad: torch.Tensor, w_star: torch.Tensor, n_beta: float, step: float,
              localization: float, noise: torch.Tensor) -> torch.Tensor:
    """One localised SGLD step: ``w − (ε/2)(nβ ∇L(w) + γ (w − w*)) + √ε ξ`` with ``ξ = noise``."""
    return w - step / 2 * (n_beta * grad + localization * (w - w_star)) + math.sqrt(step) * noise


def llc_from_trace(trace: torch.Tensor, init_loss: float, n_beta: float) -> torch.Tensor:
    """λ̂ of each chain, ``nβ (mean of its draws − L(w*))``, from losses ``trace`` (chains, draws): (chains,)."""
    return n_beta * (trace.mean(dim=1) - init_loss)


def estimate_llc(loss: Callable[..., torch.Tensor], w_star: torch.Tensor, *, n_beta: float, step: float,
                 localization: float = 0.0, chains: int = 8, draws: int = 1000, burnin: int = 1000,
                 generator: torch.Generator | None = None,
                 batches: Callable[[int], torch.Tensor] | None = None,
                 init_loss: float | None = None) -> LLCEstimate:
    """λ̂ of ``loss`` (a function of one flat parameter vector (d,) returning a scalar) around ``w_star``.

    Args:
        n_beta: the inverse temperature times the sample size, ``nβ`` (the SLT default is ``n / log n``).
        step: the SGLD step size ε.
        localization: γ, the pull back towards ``w_star`` (0: none).
        chains, draws, burnin: independent chains from ``w_star``; draws kept per chain after ``burnin`` steps.
        batches: for a loss on minibatches, ``batches(t)`` gives step ``t``'s batch (the same for every chain) and
            the loss is called ``loss(w, batch)``; each draw records the loss on its own step's batch. Then
            ``init_loss`` must be given: ``L(w*)`` on the data the batches are drawn from.
        init_loss: ``L(w*)``; computed as ``loss(w_star)`` when there are no batches.

    Raises:
        ValueError: bad arguments or a non-finite ``L(w*)``.
        FloatingPointError: a chain diverged (non-finite loss); lower the step size or localise more.
    """
    require_tensor(w_star, "w_star", ndim=1)
    n_beta, step = _positive(n_beta, "n_beta"), _positive(step, "step")
    localization = _positive(localization, "localization", zero_ok=True)
    for name, value, least in (("chains", chains, 1), ("draws", draws, 1), ("burnin", burnin, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an int ≥ {least}, got {value!r}")
    if batches is None:
        if init_loss is not None:
            raise ValueError("init_loss is computed from the loss itself when there are no batches")
        init_loss = float(loss(w_star))
    elif init_loss is None:
        raise ValueError("with batches, give init_loss: L(w*) on the data the batches are drawn from")
    init_loss = float(init_loss)
    if not math.isfinite(init_loss):
        raise ValueError(f"L(w_star) is not finite ({init_loss})")

    # one forward and backward pass per chain and step; the batch, if any, is shared by the chains
    grads_and_values = vmap(grad_and_value(loss), in_dims=(0,) if batches is None else (0, None))
    w = w_star.detach().expand(chains, -1).clone()  # (chains, d)
    trace = torch.empty(chains, draws, dtype=torch.float64)
    for t in range(burnin + draws):
        arguments = (w,) if batches is None else (w, batches(t))
        grads, values = grads_and_values(*arguments)  # (chains, d), (chains,): at the parameters before this step
        if not torch.isfinite(values).all():
            raise FloatingPointError(f"SGLD diverged at step {t} with step size {step:g}: lower it or localise more")
        if t >= burnin:
            trace[:, t - burnin] = values.detach().double()
        noise = torch.randn(w.shape, generator=generator, dtype=w.dtype)
        w = sgld_step(w, grads, w_star, n_beta, step, localization, noise)
    per_chain = llc_from_trace(trace, init_loss, n_beta).numpy()
    std = float(per_chain.std(ddof=1)) if chains > 1 else float("nan")
    return LLCEstimate(float(per_chain.mean()), std, per_chain, trace.numpy(), init_loss)


def quadratic_llc(curvatures: torch.Tensor, *, n_beta: float, localization: float = 0.0, step: float = 0.0) -> float:
    """What the estimator returns, exactly, on the quadratic loss ``½ Σ_i h_i t_i²`` (``h_i`` the Hessian's
    eigenvalues), in the long run of its chains.

    Along eigendirection ``i`` the localised posterior is Gaussian with precision ``a_i = nβ h_i + γ``, so
    ``nβ E[½ h_i t_i²] = ½ nβ h_i / a_i``: a direction much stiffer than ``γ / nβ`` counts ½, a much softer one 0.
    With ``step`` ε > 0 the chain is the discretised one, ``t ← (1 − ε a_i / 2) t + √ε ξ``, whose stationary variance
    is ``1 / (a_i (1 − ε a_i / 4))`` instead of ``1 / a_i``: the step's bias, exactly. The book's yardstick for SGLD on
    a network whose loss is close to quadratic.

    Raises:
        ValueError: bad arguments, or a step at or above the stability limit ``4 / max a_i`` (the chain diverges).
    """
    require_tensor(curvatures, "curvatures", ndim=1)
    n_beta = _positive(n_beta, "n_beta")
    localization = _positive(localization, "localization", zero_ok=True)
    step = _positive(step, "step", zero_ok=True)
    h = curvatures.clamp_min(0).to(torch.float64)
    a = n_beta * h + localization  # (d,) precisions
    if step > 0 and step * float(a.max()) >= 4:
        raise ValueError(f"step {step:g} is at or above the stability limit 4 / {float(a.max()):g}: the chain diverges")
    variance = 1 / (a * (1 - step * a / 4))
    return float(0.5 * (n_beta * h * variance).nan_to_num(0.0).sum())
