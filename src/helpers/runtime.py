"""One call at the top of every chapter: seeds, determinism, threads, plotting style, device.

>>> from helpers.runtime import setup
>>> device = setup(seed=0)        # doctest: +SKIP
book setup · seed 0 · torch 2.13 · deterministic

The printed line says nothing about the machine (device, threads, CPU): it is part of every chapter's committed
output, which must read the same on every reader's computer. ``describe()`` returns the machine-specific details.

Thread count: on a shared two-core machine, two torch threads were measured 10–100x slower than one
for the book's small models, so torch is pinned to ``1`` thread unless the environment variable
``BOOK_THREADS`` says otherwise (for instance ``BOOK_THREADS=4`` on a laptop with idle cores).
"""

from __future__ import annotations

import os
import platform
import random
import re

import numpy as np
import torch

__all__ = ["setup", "describe", "compute_platform", "pick_device", "thread_count", "THREADS_VARIABLE", "STYLE"]

THREADS_VARIABLE = "BOOK_THREADS"

#: The matplotlib settings every figure of the book is drawn with.
STYLE: dict[str, object] = {
    "figure.figsize": (6.0, 3.6),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.autolayout": False,
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "image.cmap": "viridis",
    "legend.frameon": False,
    "svg.hashsalt": "book",
}


def thread_count() -> int:
    """The number of torch threads the book uses: ``$BOOK_THREADS`` if set, else 1."""
    raw = os.environ.get(THREADS_VARIABLE, "1").strip()
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"{THREADS_VARIABLE} must be a positive integer, got {raw!r}") from None
    if n < 1:
        raise ValueError(f"{THREADS_VARIABLE} must be a positive integer, got {n}")
    return n


def pick_device() -> torch.device:
    """CUDA when a GPU is present, else the CPU. A GPU is used when present and never required."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _apply_style() -> None:
    import matplotlib as mpl

    mpl.rcParams.update(STYLE)
    try:  # inside IPython: draw inline figures as PNG at the book's dpi
        from IPython import get_ipython

        if get_ipython() is not None:
            from matplotlib_inline.backend_inline import set_matplotlib_formats

            set_matplotlib_formats("png")
    except ImportError:  # pragma: no cover - IPython is a dependency, but helpers work without it
        pass


def setup(seed: int = 0, *, quiet: bool = False) -> torch.device:
    """Prepare a chapter: seed everything, make torch deterministic, fix threads and figure style.

    Args:
        seed: seeds Python's ``random``, numpy's global generator and torch (CPU and CUDA).
            Chapters still pass explicit generators where they draw random numbers.
        quiet: do not print the one-line description of the environment.

    Returns:
        The device to compute on: ``cuda`` when available, else ``cpu``.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    # Needed by cuBLAS for deterministic algorithms; harmless on the CPU.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    threads = thread_count()
    torch.set_num_threads(threads)
    _apply_style()
    device = pick_device()
    if not quiet:
        major_minor = ".".join(torch.__version__.split("+")[0].split(".")[:2])
        print(f"book setup · seed {seed} · torch {major_minor} · deterministic")
    return device


def describe() -> str:
    """The machine-specific part of the set-up (device, threads, CPU capability), for a reader's own look.

    Not printed by :func:`setup`, because a chapter's committed output must not depend on the machine.
    """
    threads = torch.get_num_threads()
    plural = "thread" if threads == 1 else "threads"
    return (
        f"device {pick_device().type} · {threads} {plural} · CPU capability {torch.backends.cpu.get_cpu_capability()}"
    )


def _cpu_vendor() -> str:
    """``GenuineIntel``, ``AuthenticAMD``, an Arm implementer code, or what the OS says; ``unknown`` otherwise."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            text = info.read()
    except OSError:  # macOS, Windows
        return platform.processor() or "unknown"
    match = re.search(r"^(?:vendor_id|CPU implementer)\s*:\s*(\S+)", text, re.M)
    return match.group(1) if match else (platform.processor() or "unknown")


def _blas() -> str:
    """The BLAS torch computes with, and the ``MKL_CBWR`` code path when it is MKL and the variable is set."""
    config = torch.__config__.show()
    if torch.backends.mkl.is_available():
        version = re.search(r"Math Kernel Library Version (\S+?)-", config)
        name = f"MKL {version.group(1)}" if version else "MKL"
        cbwr = os.environ.get("MKL_CBWR", "").strip()
        return f"{name} (MKL_CBWR={cbwr})" if cbwr else name
    match = re.search(r"BLAS_INFO=(\w+)", config)
    return match.group(1) if match else "unknown"


def compute_platform() -> dict[str, str]:
    """What decides the rounding of a CPU computation here: processor, ATen's kernels, BLAS, torch.

    Two machines with the same platform run the same kernels in the same order, so a training run repeats bit for
    bit (the book trains on one thread); on another platform sums are ordered differently and the last bits differ
    from the first step on. ``MKL_CBWR`` and ``ATEN_CPU_CAPABILITY`` change the platform without changing the
    processor, which is how ``make test`` tries a second one.
    """
    return {
        "machine": platform.machine() or "unknown",
        "cpu_vendor": _cpu_vendor(),
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "blas": _blas(),
        "torch": torch.__version__.split("+")[0],
    }
