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
    ways: tuple[dict, ...] = ()  # optional: more than two ways, each {way, how, seconds, peak_mib, baseline_mib, …}

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


def _status_mib(field: str) -> int | None:
    """This process's ``VmRSS`` (resident now) or ``VmHWM`` (its high-water mark) in MiB, from /proc (Linux only)."""
    from pathlib import Path

    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024)
    return None


def _reset_high_water_mark() -> bool:
    """Reset this process's ``VmHWM`` to its current resident set (Linux: ``5`` into /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


#: The three ways of building the mod-add graph that the LIB kernel compares, slowest first.
LIB_WAYS = {
    "loop": "one autograd call per output feature (the reference implementation's way)",
    "generic": "generic torch.func: one vectorised backward pass per output coordinate, Jacobians held",
    "closed": "closed forms: M′ and the edges straight from the weights (co-firing counts, attention paths)",
}


def _lib_build(way: str) -> dict:
    """In a fresh process: load the mod-add model, build its LIB graph one way (best of 2), report the time, the
    process's peak memory before and after the build, the first build's own increment (the high-water mark reset
    just before it, minus the memory resident then; Linux), and the bases and edges (for the comparison)."""
    from helpers import lib
    from helpers.lib import modadd
    from helpers.runtime import thread_count

    torch.set_num_threads(thread_count())
    model, tokens, _ = modadd.load_model()
    train, _ = modadd.split_pairs(model.p, modadd.MODADD_CONFIG["train_fraction"], modadd.MODADD_CONFIG["split_seed"])
    acts = model.node_activations(tokens[train])
    sections = model.sections()
    before = _peak_mib()
    resident = _status_mib("VmRSS") if _reset_high_water_mark() else None  # the build's own increment starts here
    if way == "loop":
        build = lambda: lib.interaction_graph_loop(acts, [s.forward for s in sections])  # noqa: E731
    elif way == "generic":
        build = lambda: lib.interaction_graph(acts, [s.forward for s in sections])  # noqa: E731
    else:
        build = lambda: lib.interaction_graph(acts, sections)  # noqa: E731
    graph = build()
    high = _status_mib("VmHWM")
    increment = high - resident if resident is not None and high is not None else None
    seconds = _best_of(build, 2)
    return {
        "seconds": seconds,
        "peak_mib": _peak_mib(),
        "baseline_mib": before,
        "increment_mib": increment,
        "pairs": int(train.shape[0]),
        "values": [b.values for b in graph.bases],
        "C": [b.C for b in graph.bases],
        "edges": list(graph.edges),
    }


def _in_fresh_process(way: str) -> dict:
    """:func:`_lib_build` in a child Python process (its own peak memory), results passed back in a file."""
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run.pt"
        code = f"import torch; from tools.kernels import _lib_build; torch.save(_lib_build({way!r}), {str(out)!r})"
        env = {**os.environ, "BOOK_PROGRESS": "0"}  # no progress bars in the bench's log
        subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1], env=env)
        return torch.load(out)


def _largest_relative_difference(a: dict, b: dict) -> float:
    """The largest relative difference of Λ, C (each column's sign aligned: an eigenvector's sign is arbitrary) and
    the edges, layer by layer, relative to each tensor's largest entry."""
    worst = 0.0
    for key in ("values", "C", "edges"):
        for x, y in zip(a[key], b[key], strict=True):
            if x.shape != y.shape:
                return float("inf")
            if key == "C":
                y = y * torch.sign((x * y).sum(dim=0))
            worst = max(worst, float((x - y).abs().max() / y.abs().max()))
    return worst


def lib_modadd_graph() -> KernelResult:
    """The mod-add LIB bases and edges built three ways (per-output loop, generic torch.func, closed forms), each in
    its own process so that its peak memory is its own; fast = closed forms, slow = the generic path."""
    runs = {way: _in_fresh_process(way) for way in LIB_WAYS}
    bound = 1e-10
    differences = {way: _largest_relative_difference(runs[way], runs["generic"]) for way in ("loop", "closed")}
    ways = tuple(
        {
            "way": way,
            "how": how,
            "seconds": runs[way]["seconds"],
            "peak_mib": runs[way]["peak_mib"],
            "baseline_mib": runs[way]["baseline_mib"],
            "increment_mib": runs[way]["increment_mib"],
            "same_as_generic": way == "generic" or differences[way] <= bound,
        }
        for way, how in LIB_WAYS.items()
    )
    return KernelResult(
        name=f"mod-add LIB bases and edges ({runs['closed']['pairs']} pairs, 3 sections)",
        chapter="03_lib",
        what="closed-form M′ and edges vs the generic torch.func path",
        seconds_fast=runs["closed"]["seconds"],
        seconds_slow=runs["generic"]["seconds"],
        agree=all(w["same_as_generic"] for w in ways),
        note=f"Λ, C and the edges of every way equal the generic path's to {bound:.0e} relative",
        ways=ways,
    )


def _sgld_versus_devinterp(
    name: str,
    loss: Callable[[torch.Tensor], torch.Tensor],
    w_star: torch.Tensor,
    *,
    n_beta: float,
    step: float,
    gamma: float,
    chains: int,
    burnin: int,
    draws: int,
) -> KernelResult:
    """λ̂ of ``loss`` around ``w_star`` by the book's SGLD (chains vectorised with vmap) and by devinterp 1.3.2
    (chains one after another, its own SGLD optimiser), with the same nβ, γ, step, chains and steps; one thread."""
    import math
    import warnings

    from devinterp.optim.sgld import SGLD
    from devinterp.slt.sampler import estimate_learning_coeff_with_summary
    from torch.utils.data import DataLoader, TensorDataset

    from helpers.degeneracy import sgld

    class Flat(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(w_star.clone())

    start = time.perf_counter()
    ours = sgld.estimate_llc(
        loss,
        w_star,
        n_beta=n_beta,
        step=step,
        localization=gamma,
        chains=chains,
        draws=draws,
        burnin=burnin,
        generator=torch.Generator().manual_seed(0),
    )
    seconds_book = time.perf_counter() - start
    loader = DataLoader(TensorDataset(torch.zeros(1, 1)), batch_size=1)  # one batch: the loss holds its own data
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = estimate_learning_coeff_with_summary(
            Flat().double(),
            loader,
            evaluate=lambda model, batch: (loss(model.w), {}),
            sampling_method=SGLD,
            optimizer_kwargs={"lr": step, "localization": gamma, "nbeta": n_beta},
            num_chains=chains,
            num_draws=draws,
            num_burnin_steps=burnin,
            init_loss=float(loss(w_star)),
            seed=0,
            verbose=False,
        )
    seconds_devinterp = time.perf_counter() - start
    steps = chains * (burnin + draws)
    their_se = theirs["llc/std"] / math.sqrt(chains)
    return KernelResult(
        name=f"{name} ({chains} chains × {burnin + draws} steps)",
        chapter="02_degeneracy",
        what="SGLD λ̂: the book's vmap over chains vs devinterp 1.3.2",
        seconds_fast=seconds_book,
        seconds_slow=seconds_devinterp,
        agree=abs(ours.mean - theirs["llc/mean"]) < 3 * math.hypot(ours.standard_error, their_se),
        note=(
            f"{steps / seconds_book:.0f} vs {steps / seconds_devinterp:.0f} SGLD steps per second (a draw is one "
            f"step of one chain; burn-in counted); λ̂ {ours.mean:.3g} ± {ours.standard_error:.2g} vs "
            f"{theirs['llc/mean']:.3g} ± {their_se:.2g} (same result: within 3 combined standard errors)"
        ),
    )


def degeneracy_sgld_potential() -> KernelResult:
    """The calibration potential ½(w₁² + w₂²) of chapter 2 (λ = 1): per-step overhead dominates."""
    import math

    from helpers.runtime import thread_count

    torch.set_num_threads(thread_count())
    return _sgld_versus_devinterp(
        "potential ½(w₁² + w₂²)",
        lambda w: 0.5 * (w**2).sum(),
        torch.zeros(2, dtype=torch.float64),
        n_beta=1000 / math.log(1000),
        step=1e-3,
        gamma=0.0,
        chains=8,
        burnin=500,
        draws=1000,
    )


def degeneracy_sgld_digits() -> KernelResult:
    """The behavioural loss of chapter 2's small digits MLP (460 parameters, 1,437 images): the data dominate."""
    import math

    from helpers import checkpoints, data
    from helpers.degeneracy import behaviour, networks
    from helpers.runtime import thread_count

    torch.set_num_threads(thread_count())
    net, w_star = networks.flat_parameters(checkpoints.load("degeneracy_digits_mlp").tensors)
    x = data.digits(test_fraction=0.2, seed=0).x_train.double()
    n_beta, gamma = x.shape[0] / math.log(x.shape[0]), 1000.0
    step = float(1 / (n_beta * torch.linalg.eigvalsh(behaviour.gauss_newton(net, w_star, x)).max() + gamma))
    return _sgld_versus_devinterp(
        f"L_B of the small digits MLP ({net.n_params} parameters)",
        behaviour.behavioural_loss_fn(net, w_star, x),
        w_star,
        n_beta=n_beta,
        step=step,
        gamma=gamma,
        chains=4,
        burnin=500,
        draws=500,
    )


KERNELS: list[Callable[[], KernelResult]] = [
    workbench_jacobians,
    degeneracy_sgld_potential,
    degeneracy_sgld_digits,
    lib_modadd_graph,
]


def inversion_measurements() -> list[dict]:
    """Chapter 4's costs, on one thread: the sampler's throughput (candidates proposed by the decoder and verified by
    re-running model A, per second) and the wall time of exact completeness (all 810,000 problems' distances at two
    sites in one pass, then the decoder's exact ranking of all of them at each site, by branch and bound)."""
    from helpers.inversion import analysis, decoder, decoder_steps, probed, ranking, sampler
    from helpers.inversion.tasks import ADDITION, encode

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, _ = probed.load_addition_model()
        dec, _, _ = decoder.load_addition_decoder()
        query = encode(ADDITION, "B615+861=1476E")

        def sample() -> None:
            sampler.propose_and_verify(
                dec, model, ADDITION, query, "resid_mid0", 8, generator=torch.Generator().manual_seed(0)
            )

        per_call = _best_of(sample, 3)
        candidates = 64 * len(sampler.SETTINGS)
        sites = ["attn0.2", "resid_mid0"]  # the chapter's section 8
        start = time.perf_counter()
        distances = analysis.exact_distances(model, query, 8, sites)
        for site in sites:
            z = sampler.activation(model, query[None], site)[0, 8]
            ranking.exact_ranking(decoder_steps.DecoderSteps(dec, z, model.sites.index(site)), distances[site])
        enumeration = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    return [
        {
            "chapter": "04_inversionview",
            "name": "sampler throughput",
            "what": f"{candidates} candidates per query (decoder samples, then model A re-run and distances), "
            "one thread",
            "value": round(candidates / per_call),
            "unit": "candidates/s",
        },
        {
            "chapter": "04_inversionview",
            "name": "exact completeness",
            "what": "all 810,000 problems at 2 sites in one pass, then the decoder ranks all of them at each site "
            "(branch and bound), one thread",
            "value": round(enumeration, 1),
            "unit": "s",
        },
    ]


MEASUREMENTS: list[Callable[[], list[dict]]] = [inversion_measurements]
