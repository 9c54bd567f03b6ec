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
    note: str = ""

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


def _peak_mib() -> int:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def lib_modadd_graph() -> KernelResult:
    """The mod-add LIB bases and edges: vectorised Jacobians (reused for basis and edges) vs one autograd call each."""
    from helpers import lib
    from helpers.lib import modadd

    model, tokens, _ = modadd.load_model()
    train, _ = modadd.split_pairs(model.p, modadd.MODADD_CONFIG["train_fraction"], modadd.MODADD_CONFIG["split_seed"])
    acts = model.node_activations(tokens[train])
    fast = lib.interaction_graph(acts, model.sections())
    peak = _peak_mib()
    slow = lib.interaction_graph_loop(acts, model.sections())
    agree = all(
        torch.allclose(a.values, b.values, rtol=1e-8, atol=0) and a.size == b.size
        for a, b in zip(fast.bases, slow.bases)
    ) and all(torch.allclose(a, b, rtol=1e-7, atol=1e-10 * float(a.max())) for a, b in zip(fast.edges, slow.edges))
    return KernelResult(
        name=f"mod-add LIB bases + edges ({tokens[train].shape[0]} pairs, 3 sections)",
        chapter="03_lib",
        what="vmap over vjp, Jacobians shared by basis and edges, vs one autograd call per output feature",
        seconds_fast=_best_of(lambda: lib.interaction_graph(acts, model.sections()), 2),
        seconds_slow=_best_of(lambda: lib.interaction_graph_loop(acts, model.sections()), 2),
        agree=agree,
        note=f"peak memory of the process after the vectorised build: {peak} MiB",
    )


KERNELS: list[Callable[[], KernelResult]] = [workbench_jacobians, lib_modadd_graph]
