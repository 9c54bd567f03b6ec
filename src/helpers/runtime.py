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
import textwrap

import numpy as np
import torch

__all__ = [
    "setup",
    "describe",
    "compute_platform",
    "pick_device",
    "thread_count",
    "THREADS_VARIABLE",
    "STYLE",
    "COLUMN_PX",
    "MIN_TEXT_PX",
    "fit_to_column",
    "smallest_text_px",
    "overlapping_texts",
    "figure_png",
    "png_size",
]

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


#: The book's text column in CSS pixels at a 1280-px window: a figure is drawn at most this wide (at STYLE's dpi)
COLUMN_PX = 688
#: The smallest text a figure may show, in CSS pixels, once drawn at the column's width
MIN_TEXT_PX = 9
#: Pixels per CSS pixel of the PNGs the chapters embed: sharp on high-density screens
RETINA = 2


def fit_to_column(figure) -> None:
    """Narrow a figure wider than the text column to the column's width, keeping its height: its text keeps its
    size in points, so it is not shrunk with the figure when the page scales the image to the column, and keeps the
    height it was given. A panel's title longer than its panel is broken into lines at spaces (a title with
    mathematics is left whole), and a title or label longer than the figure wraps at its edge, instead of running past
    it (which would also widen the saved image again)."""
    dpi = float(STYLE["figure.dpi"])
    width, height = figure.get_size_inches()
    if width * dpi > COLUMN_PX:  # narrower, and as tall as drawn: the text needs its height whatever the width
        figure.set_size_inches(COLUMN_PX / dpi, height)
    titles = [figure._suptitle, *figure.texts]
    for ax in figure.axes:
        titles += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
    edge = figure.get_size_inches()[0] * figure.dpi
    renderer = figure.canvas.get_renderer()
    for ax in figure.axes:  # a panel's title longer than its panel: broken into lines at spaces (not inside $…$)
        for title in (ax.title, ax._left_title, ax._right_title):
            words, panel = title.get_text(), ax.get_window_extent(renderer).width
            if words and "$" not in words and title.get_window_extent(renderer).width > 1.05 * panel:
                per_line = max(12, int(len(words) * panel / title.get_window_extent(renderer).width))
                title.set_text("\n".join(textwrap.fill(line, per_line) for line in words.split("\n")))
    for text in titles:  # only a text too long for the figure wraps (a wrapped text reports no true extent)
        if text is not None and text.get_text() and text.get_window_extent(renderer).width > edge:
            text.set_wrap(True)


def _shown_texts(figure) -> list:
    """The figure's text artists a reader sees (words, visible, drawn, tick labels of axes switched off left out),
    once the figure is laid out."""
    from matplotlib.text import Text

    figure.canvas.draw()  # lay out: tick labels exist only once drawn
    hidden = set()
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            every = axis.findobj(Text)
            drawn = set()
            if ax.axison and axis.get_visible():  # the ticks inside the view limits: those matplotlib draws
                drawn = {id(t) for tick in axis._update_ticks() for t in (tick.label1, tick.label2)}
                drawn.add(id(axis.label))
                drawn.add(id(axis.offsetText))
            hidden.update(id(t) for t in every if id(t) not in drawn)
    return [
        t
        for t in figure.findobj(Text)
        if t.get_visible() and t.get_text().strip() and id(t) not in hidden and t.get_window_extent().width > 0
    ]


def smallest_text_px(figure) -> float:
    """The size of the figure's smallest visible text, in CSS pixels at STYLE's dpi (points × dpi / 72): every
    text artist with words, tick labels of axes that are switched off left out. ``inf`` for a figure with no text."""
    sizes = [t.get_fontsize() for t in _shown_texts(figure)]
    return min(sizes) * float(STYLE["figure.dpi"]) / 72 if sizes else float("inf")


def overlapping_texts(figure, *, margin_px: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of the figure's visible texts whose boxes overlap by more than ``margin_px`` in both directions (a title
    running into its neighbour's, two labels drawn over each other): what a reader cannot read."""
    boxes = [(t.get_text(), t.get_window_extent()) for t in _shown_texts(figure)]
    found = []
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1 :]:
            dx = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            dy = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            if dx > margin_px and dy > margin_px:
                found.append((a, b))
    return found


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) in pixels of PNG ``data``, read from its header (the IHDR chunk)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not PNG data: it does not start with the PNG signature")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def figure_png(figure) -> tuple[str, dict]:
    """How a chapter shows a figure: fitted to the column (:func:`fit_to_column`), drawn at RETINA × the book's dpi
    and shown at the book's dpi (``width``/``height`` in the output's metadata), with the size of its smallest text
    in CSS pixels (``book_text_px``), which the browser test checks against MIN_TEXT_PX at the rendered scale, and
    the number of pairs of texts drawn over each other (``book_text_overlaps``, which a notebook test holds at 0)."""
    import base64
    import io

    fit_to_column(figure)
    text_px = smallest_text_px(figure)
    overlaps = overlapping_texts(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=float(STYLE["figure.dpi"]) * RETINA, bbox_inches="tight")
    data = buffer.getvalue()
    width, height = png_size(data)
    metadata = {
        "width": round(width / RETINA),
        "height": round(height / RETINA),
        "book_text_px": round(text_px, 2),
        "book_text_overlaps": len(overlaps),
    }
    if overlaps:  # which texts, for the author who must fix the figure (a notebook test names them)
        metadata["book_overlapping_texts"] = [[a[:40], b[:40]] for a, b in overlaps[:5]]
    return base64.b64encode(data).decode("ascii"), metadata


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
    try:  # inside IPython: inline figures as PNG, fitted to the column and sharp on high-density screens
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            from matplotlib.figure import Figure
            from matplotlib_inline.backend_inline import set_matplotlib_formats

            set_matplotlib_formats("png")
            shell.display_formatter.formatters["image/png"].for_type(Figure, figure_png)
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
