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
    """The mod-add LIB and PCA bases and edges: closed-form section Jacobians vs one autograd call per output
    feature; the generic ``torch.func`` path (vmap over vjp) timed in the note."""
    from helpers import lib
    from helpers.lib import modadd

    model, tokens, _ = modadd.load_model()
    train, _ = modadd.split_pairs(model.p, modadd.MODADD_CONFIG["train_fraction"], modadd.MODADD_CONFIG["split_seed"])
    acts = model.node_activations(tokens[train])
    closed_sections = model.sections()  # ClosedFormSection: Jacobians in closed form
    generic_sections = [s.forward for s in closed_sections]  # the same functions, through torch.func
    fast = lib.interaction_graph(acts, closed_sections)
    peak_closed = _peak_mib()  # the process's peak so far: the closed-form build (first, so it is its own)
    generic = lib.interaction_graph(acts, generic_sections)
    peak_generic = _peak_mib()
    slow = lib.interaction_graph_loop(acts, generic_sections)

    def same(a, b) -> bool:
        return all(
            torch.allclose(x.values, y.values, rtol=1e-8, atol=0) and x.size == y.size for x, y in zip(a.bases, b.bases)
        ) and all(torch.allclose(x, y, rtol=1e-7, atol=1e-10 * float(x.max())) for x, y in zip(a.edges, b.edges))

    seconds_generic = _best_of(lambda: lib.interaction_graph(acts, generic_sections), 2)
    return KernelResult(
        name=f"mod-add LIB bases + edges ({tokens[train].shape[0]} pairs, 3 sections)",
        chapter="03_lib",
        what="closed-form section Jacobians (projected onto the next layer's features first) vs one autograd call "
             "per output feature",
        seconds_fast=_best_of(lambda: lib.interaction_graph(acts, closed_sections), 2),
        seconds_slow=_best_of(lambda: lib.interaction_graph_loop(acts, generic_sections), 2),
        agree=same(fast, slow) and same(generic, slow),
        note=f"generic torch.func path (vmap over vjp): {seconds_generic:.1f} s; peak memory of the process after "
             f"the closed-form build {peak_closed} MiB, after the generic build {peak_generic} MiB",
    )


KERNELS: list[Callable[[], KernelResult]] = [workbench_jacobians, lib_modadd_graph]
