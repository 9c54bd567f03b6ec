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
from scipy.integrate import quad
from torch.func import grad_and_value, vmap

from .._checks import require_tensor

__all__ = [
    "LLCEstimate",
    "coupled_pair_llc",
    "estimate_llc",
    "llc_from_trace",
    "quadratic_llc",
    "sgld_step",
    "stationary_variance",
]


class LLCEstimate(NamedTuple):
    """``mean`` and ``std`` (unbiased, across chains) of λ̂; ``per_chain`` (chains,); ``trace`` (chains, draws) of
    losses; ``init_loss`` = ``L(w*)``; ``diverged``: chains dropped because they diverged (only with
    ``on_divergence="drop"``; the other fields describe the chains that stayed finite)."""

    mean: float
    std: float
    per_chain: np.ndarray
    trace: np.ndarray
    init_loss: float
    diverged: int = 0

    @property
    def standard_error(self) -> float:
        return self.std / math.sqrt(len(self.per_chain))


def _positive(value: float, name: str, *, zero_ok: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"{name} must be {'non-negative' if zero_ok else 'positive'}, got {value!r}")
    return float(value)


def sgld_step(
    w: torch.Tensor,
    grad: torch.Tensor,
    w_star: torch.Tensor,
    n_beta: float,
    step: float,
    localization: float,
    noise: torch.Tensor,
) -> torch.Tensor:
    """One localised SGLD step: ``w − (ε/2)(nβ ∇L(w) + γ (w − w*)) + √ε ξ`` with ``ξ = noise``."""
    return w - step / 2 * (n_beta * grad + localization * (w - w_star)) + math.sqrt(step) * noise


def llc_from_trace(trace: torch.Tensor, init_loss: float, n_beta: float) -> torch.Tensor:
    """λ̂ of each chain, ``nβ (mean of its draws − L(w*))``, from losses ``trace`` (chains, draws): (chains,)."""
    return n_beta * (trace.mean(dim=1) - init_loss)


def estimate_llc(
    loss: Callable[..., torch.Tensor],
    w_star: torch.Tensor,
    *,
    n_beta: float,
    step: float,
    localization: float = 0.0,
    chains: int = 8,
    draws: int = 1000,
    burnin: int = 1000,
    generator: torch.Generator | None = None,
    batches: Callable[[int], torch.Tensor] | None = None,
    init_loss: float | None = None,
    on_divergence: str = "raise",
) -> LLCEstimate:
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
        on_divergence: ``"raise"`` (the default) stops at the first chain whose loss is not finite; ``"drop"``
            runs on, leaves such chains out of the estimate and counts them in ``diverged`` (to measure how often a
            step size diverges).

    Raises:
        ValueError: bad arguments or a non-finite ``L(w*)``.
        FloatingPointError: a chain diverged (non-finite loss; with ``"drop"``: every chain); lower the step size or
            localise more.
    """
    require_tensor(w_star, "w_star", ndim=1)
    n_beta, step = _positive(n_beta, "n_beta"), _positive(step, "step")
    localization = _positive(localization, "localization", zero_ok=True)
    for name, value, least in (("chains", chains, 1), ("draws", draws, 1), ("burnin", burnin, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an int ≥ {least}, got {value!r}")
    if on_divergence not in ("raise", "drop"):
        raise ValueError(f"on_divergence must be 'raise' or 'drop', got {on_divergence!r}")
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
    finite = torch.ones(chains, dtype=torch.bool)  # chains that have stayed finite so far
    for t in range(burnin + draws):
        arguments = (w,) if batches is None else (w, batches(t))
        grads, values = grads_and_values(*arguments)  # (chains, d), (chains,): at the parameters before this step
        finite &= torch.isfinite(values) & torch.isfinite(grads).all(dim=1)
        if not (finite.all() if on_divergence == "raise" else finite.any()):
            raise FloatingPointError(f"SGLD diverged at step {t} with step size {step:g}: lower it or localise more")
        if t >= burnin:
            trace[:, t - burnin] = values.detach().double()
        noise = torch.randn(w.shape, generator=generator, dtype=w.dtype)
        # a dropped chain stays at w* so that it produces no overflow; its draws are discarded below
        w = torch.where(finite[:, None], sgld_step(w, grads, w_star, n_beta, step, localization, noise), w_star)
    trace = trace[finite]
    per_chain = llc_from_trace(trace, init_loss, n_beta).numpy()
    std = float(per_chain.std(ddof=1)) if len(per_chain) > 1 else float("nan")
    return LLCEstimate(float(per_chain.mean()), std, per_chain, trace.numpy(), init_loss, int((~finite).sum()))


def stationary_variance(precision: torch.Tensor, step: float) -> torch.Tensor:
    """The long-run variance of the discretised chain ``t ← (1 − ε a / 2) t + √ε ξ`` along a direction of precision
    ``a`` (elementwise over ``precision``): ``1 / (a (1 − ε a / 4))``, and ``inf`` where ``ε a ≥ 4`` (the chain
    diverges). In the long run the variance ``V`` is the same before and after a step, ``V = (1 − ε a / 2)² V + ε``.
    With ``step = 0`` it is the continuous-time ``1 / a``."""
    a = require_tensor(precision, "precision").to(torch.float64)
    step = _positive(step, "step", zero_ok=True)
    if (a <= 0).any():
        raise ValueError("every precision must be positive (a direction with none has no stationary variance)")
    stable = step * a < 4
    return torch.where(stable, 1 / (a * (1 - step * a / 4)).where(stable, 1.0), torch.inf)


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
    stiff = h > 0  # a free direction (h = 0) adds nothing, whatever its variance
    if not stiff.any():
        return 0.0
    return float(0.5 * (n_beta * h[stiff] * stationary_variance(a[stiff], step)).sum())


def coupled_pair_llc(coupling: float, *, n_beta: float, localization: float) -> float:
    """What the estimator returns, in the limit of a small step, on the loss ``c a² b²`` of two parameters localised
    at ``a = b = 0``: ``nβ E[c a² b²]`` under ``p(a, b) ∝ exp(−nβ c a² b² − (γ/2)(a² + b²))``.

    Given ``a`` the density of ``b`` is Gaussian with precision ``P(a) = 2nβ c a² + γ``, so
    ``nβ E[c a² b² | a] = nβ c a² / P(a)``, and integrating ``b`` out leaves ``a`` with density
    ``∝ exp(−γ a²/2) P(a)^(−1/2)``: one integral over ``a``, done by quadrature. The answer rises from 0 (``c = 0``)
    towards the asymptotic ½ of the cross ``a² b²`` only as ``nβ c / γ²`` grows (logarithmically slowly).

    Raises:
        ValueError: a negative coupling, a non-positive ``n_beta`` or ``localization`` (without localisation the
            density cannot be normalised).
    """
    coupling = _positive(coupling, "coupling", zero_ok=True)
    n_beta, localization = _positive(n_beta, "n_beta"), _positive(localization, "localization")

    def precision(a: float) -> float:
        return 2 * n_beta * coupling * a * a + localization

    def density(a: float) -> float:  # of a, unnormalised; even in a, so integrate over a ≥ 0
        return math.exp(-localization * a * a / 2) / math.sqrt(precision(a))

    # a's density is peaked at 0 with width 1/√γ, and where 2nβc a² passes γ (the knee) it bends: split there
    knee = math.sqrt(localization / (2 * n_beta * coupling)) if coupling > 0 else math.inf
    cuts = sorted({0.0, min(knee, 1e6), 1 / math.sqrt(localization), 10 / math.sqrt(localization)}) + [math.inf]

    def integral(f: Callable[[float], float]) -> float:
        return sum(quad(f, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0] for lo, hi in zip(cuts, cuts[1:]))

    mass = integral(density)
    moment = integral(lambda a: density(a) * n_beta * coupling * a * a / precision(a))
    return moment / mass
