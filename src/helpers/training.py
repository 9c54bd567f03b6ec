"""A small, deterministic training loop for classifiers, with a text progress bar.

The progress bar is tqdm's text bar on stderr (never the notebook widget, whose state would end up in the
committed chapter). Chapters load cached weights, so the bar only shows while (re)training; the nbval
sanitize file removes it from comparisons. ``BOOK_PROGRESS=0`` hides it.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import nn
from tqdm.std import tqdm

from .data import Split

__all__ = ["accuracy", "in_notebook", "one_thread", "progress", "train_classifier"]

T = TypeVar("T")


@contextmanager
def one_thread() -> Iterator[None]:
    """Run a block on one torch thread, restoring the thread count after it.

    Another thread count sums in another order, and a long training run amplifies that rounding into other weights;
    on one thread a retraining reproduces the cached weights whatever the machine's number of cores.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (where a text bar on stderr would draw empty red boxes)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel, a dependency
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None) -> Iterator[T]:
    """Wrap ``iterable`` in a progress bar (hidden with ``BOOK_PROGRESS=0``, as ``make execute`` and ``make test`` do).

    In a Jupyter notebook the bar is a widget that disappears when done; elsewhere it is a text bar on stderr.
    """
    disable = os.environ.get("BOOK_PROGRESS", "1").strip() in ("0", "false", "no")
    if in_notebook() and not disable:
        from tqdm.notebook import tqdm as notebook_tqdm

        return iter(notebook_tqdm(iterable, desc=desc, total=total, mininterval=0.5, leave=False))
    return iter(tqdm(iterable, desc=desc, total=total, file=sys.stderr, disable=disable, mininterval=0.5,
                     dynamic_ncols=False, ncols=80, leave=False))


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of rows of ``x`` whose arg-max logit equals the label in ``y``."""
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"x and y must have the same, non-zero number of rows; got {x.shape[0]} and {y.shape[0]}")
    return float((model(x).argmax(dim=-1) == y).float().mean())


def train_classifier(
    model: nn.Module,
    split: Split,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    noise: float = 0.0,
    cosine_schedule: bool = False,
    desc: str = "training",
) -> dict[str, float]:
    """Train ``model`` with AdamW and cross-entropy, shuffling with an explicit generator.

    Args:
        noise: standard deviation of Gaussian noise added to the inputs of every training batch (drawn from the
            same explicit generator), a regulariser; 0 adds none.
        cosine_schedule: decay the learning rate to 0 along a half cosine, stepped once per batch.

    Returns the metrics measured right after training: ``train_accuracy``, ``test_accuracy``, ``test_loss``.

    Training runs on one thread (:func:`one_thread`), so that the weights do not depend on the caller's thread count.
    """
    if epochs < 1 or batch_size < 1 or lr <= 0 or weight_decay < 0 or noise < 0:
        raise ValueError("epochs and batch_size must be >= 1, lr > 0, and weight_decay and noise >= 0")
    with one_thread():
        return _train_classifier(model, split, epochs, batch_size, lr, weight_decay, seed, noise, cosine_schedule, desc)


def _train_classifier(model: nn.Module, split: Split, epochs: int, batch_size: int, lr: float, weight_decay: float,
                      seed: int, noise: float, cosine_schedule: bool, desc: str) -> dict[str, float]:
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    n = split.x_train.shape[0]
    steps = math.ceil(n / batch_size)
    schedule = None
    if cosine_schedule:
        total = epochs * steps
        schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: 0.5 * (1 + math.cos(math.pi * step / total)))
    model.train()
    for _ in progress(range(epochs), desc=desc):
        order = torch.randperm(n, generator=generator)
        for step in range(steps):
            index = order[step * batch_size : (step + 1) * batch_size]
            x = split.x_train[index]
            if noise > 0:
                x = x + noise * torch.randn(x.shape, generator=generator)
            loss = loss_fn(model(x), split.y_train[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            if schedule is not None:
                schedule.step()
    model.eval()
    with torch.no_grad():
        test_loss = float(loss_fn(model(split.x_test), split.y_test))
    return {
        "train_accuracy": accuracy(model, split.x_train, split.y_train),
        "test_accuracy": accuracy(model, split.x_test, split.y_test),
        "test_loss": test_loss,
    }
