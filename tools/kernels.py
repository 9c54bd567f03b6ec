"""Benchmark kernels: the computations whose speed the book makes claims about.

Each kernel is a function returning a :class:`KernelResult`; chapters add theirs to ``KERNELS``.
``make bench`` runs them all and writes the results into ``book/bench.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class KernelResult:
    name: str
    chapter: str
    what: str
    seconds_fast: float
    seconds_slow: float
    agree: bool

    @property
    def ratio(self) -> float:
        return self.seconds_slow / self.seconds_fast


def _best_of(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def workbench_jacobians() -> KernelResult:
    """Input→logit Jacobians of the digits MLP on the 360 test images: vmap(jacrev) vs one autograd call each."""
    from helpers import checkpoints, data
    from helpers.jacobians import batch_jacobian, jacobian_loop
    from helpers.models import relu_mlp

    ckpt = checkpoints.load("workbench_mlp")
    model = relu_mlp(ckpt.config["sizes"])
    model.load_state_dict(ckpt.tensors)
    model.eval().requires_grad_(False)
    xs = data.digits(test_fraction=ckpt.config["test_fraction"], seed=ckpt.config["split_seed"]).x_test
    fast = batch_jacobian(model, xs)
    slow = jacobian_loop(model, xs)
    return KernelResult(
        name="digits MLP input Jacobians (360 × 10 × 64)",
        chapter="00_workbench",
        what="vmap(jacrev) vs an autograd loop over examples and outputs",
        seconds_fast=_best_of(lambda: batch_jacobian(model, xs), 5),
        seconds_slow=_best_of(lambda: jacobian_loop(model, xs), 2),
        agree=bool(torch.allclose(fast, slow, atol=1e-6)),
    )


KERNELS: list[Callable[[], KernelResult]] = [workbench_jacobians]
