"""Chapter 2's exercises: λ from a log–log slope, counting free directions, one SGLD step and the step's bias."""

from __future__ import annotations

import torch

from ..exercises import Exercise, Prediction
from .counts import free_directions, planted
from .sgld import sgld_step, stationary_variance
from .volume import loglog_slope

__all__ = [
    "exercise_free_directions",
    "exercise_predict_dead",
    "exercise_sgld_step",
    "exercise_slope",
    "exercise_stationary_variance",
]


def _slope(eps: torch.Tensor, volumes: torch.Tensor) -> torch.Tensor:
    return torch.tensor(loglog_slope(eps.numpy(), volumes.numpy()), dtype=torch.float64)


def _slope_inputs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(21)
    inputs = []
    for lam, m in ((0.5, 1), (0.25, 1), (1.0, 1), (0.5, 2)):
        eps = torch.logspace(-4, -1, 7, dtype=torch.float64)
        noise = torch.exp(0.02 * torch.randn(7, generator=g, dtype=torch.float64))
        inputs.append((eps, 0.3 * eps**lam * (-eps.log()) ** (m - 1) * noise))
    return inputs


exercise_slope = Exercise(
    "Exercise 2.1 — λ from the volume's log–log slope", _slope, _slope_inputs, rtol=1e-8, atol=1e-10
)

exercise_predict_dead = Prediction(
    "Exercise 2.2 — predict before you compute",
    answer=13,
    hint="The five live neurons keep one free rescaling each. For the dead one, ask which of its weights "
    "(incoming, its bias, outgoing) can change without changing any output on the data.",
    why="the five live neurons keep one free rescaling each (5), and every weight of the dead neuron is free: "
    "4 incoming, 1 bias and 3 outgoing (8). Its outputs are 0 on every input whatever they are.",
)


def _free(net, w, x) -> torch.Tensor:
    return torch.tensor(float(free_directions(net, w, x)), dtype=torch.float64)


def _free_inputs() -> list[tuple]:
    nets = [planted("generic", 5), planted("plane", 6), planted("dead", 7), planted("always on", 8, 2)]
    return [(p.net, p.w, p.x) for p in nets]


def _as_count(value: object) -> torch.Tensor:
    """An int or a 0-d tensor as a float64 tensor, so that the learner may return either."""
    return torch.tensor(float(value), dtype=torch.float64)


exercise_free_directions = Exercise(
    "Exercise 2.3 — free directions from the Jacobian's rank",
    _free,
    _free_inputs,
    rtol=0.0,
    atol=0.0,
    canonical=_as_count,
)


def _step_inputs() -> list[tuple]:
    g = torch.Generator().manual_seed(23)
    out = []
    for d, n_beta, step, gamma in ((3, 100.0, 1e-3, 0.0), (5, 144.8, 1e-4, 10.0), (1, 1.0, 0.5, 2.0)):
        w, grad, w_star, noise = (torch.randn(d, generator=g, dtype=torch.float64) for _ in range(4))
        out.append((w, grad, w_star, n_beta, step, gamma, noise))
    return out


exercise_sgld_step = Exercise("Exercise 2.4 — one SGLD step", sgld_step, _step_inputs, rtol=1e-12, atol=1e-12)


def _variance_inputs() -> list[tuple]:
    """Precisions with ε a from small to just under the limit 4, exactly at it and beyond (``inf``), and no step at
    all, where the plausible wrong answers (``1/a``, ``1/(a(1 − εa/2))``, the recurrence ``ε/(1 − (1 − εa/2)²)`` that
    is 0/0 at ε = 0, no ``inf`` past the limit) all differ from the right one."""
    g = torch.Generator().manual_seed(25)
    return [
        (torch.tensor([0.5, 10.0, 100.0, 250.0, 390.0], dtype=torch.float64), 0.01),
        (torch.rand(6, generator=g, dtype=torch.float64) * 3.9 + 0.05, 1.0),
        (torch.tensor([1.0, 3.0, 4.0, 7.0], dtype=torch.float64), 1.0),
        (torch.tensor([2.0, 300.0], dtype=torch.float64), 0.001),
        (torch.tensor([2.0, 300.0], dtype=torch.float64), 0.0),
    ]  # no step: the continuous-time 1/a


exercise_stationary_variance = Exercise(
    "Exercise 2.5 — the step's bias", stationary_variance, _variance_inputs, rtol=1e-12, atol=0.0
)
