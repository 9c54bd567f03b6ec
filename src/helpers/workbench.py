"""Chapter 0, the workbench: the digits MLP, its training function and the chapter's exercises."""

from __future__ import annotations

from typing import Any

import torch

from . import data, linalg
from .exercises import Exercise
from .models import relu_mlp
from .training import train_classifier

__all__ = [
    "MLP_CONFIG",
    "MLP_TOLERANCES",
    "exercise_covariance",
    "exercise_hand_jacobian",
    "hand_jacobian",
    "train_digits_mlp",
]

#: The digits MLP of the workbench chapter (reused by later chapters).
MLP_CONFIG: dict[str, Any] = {
    "sizes": [64, 32, 32, 10],
    "epochs": 60,
    "batch_size": 64,
    "lr": 3e-3,
    "weight_decay": 1e-2,
    "seed": 0,
    "split_seed": 0,
    "test_fraction": 0.2,
}
#: How far a retraining from scratch may move each metric (absolute).
MLP_TOLERANCES = {"train_accuracy": 0.01, "test_accuracy": 0.02, "test_loss": 0.05}


def train_digits_mlp(config: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Train ``relu_mlp(config['sizes'])`` on the digits split; return its state dict and metrics."""
    split = data.digits(test_fraction=config["test_fraction"], seed=config["split_seed"])
    torch.manual_seed(config["seed"])
    model = relu_mlp(config["sizes"])
    metrics = train_classifier(
        model,
        split,
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        lr=config["lr"],
        weight_decay=config["weight_decay"],
        seed=config["seed"],
        desc="digits MLP",
    )
    return model.state_dict(), metrics


def hand_jacobian(w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Jacobian of ``x ↦ w2 · relu(w1 x + b1)`` at one input ``x``, derived by hand.

    ``∂y/∂x = w2 · diag(1[w1 x + b1 > 0]) · w1``: the ReLU passes the gradient where it is active.
    Shapes: w1 (h, d), b1 (h,), w2 (o, h), x (d,) → (o, d).
    """
    active = (w1 @ x + b1 > 0).to(x.dtype)  # (h,)
    return torch.einsum("oh,h,hd->od", w2, active, w1)


def _covariance_inputs() -> list[tuple[torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    shapes = [(50, 3), (7, 5), (200, 16), (2, 2)]
    return [(torch.randn(n, d, generator=g, dtype=torch.float64) * 3 + 1,) for n, d in shapes]


def _jacobian_inputs() -> list[tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(2)
    cases = []
    for d, h, o in [(4, 6, 3), (8, 16, 10), (2, 3, 1)]:
        cases.append(
            (
                torch.randn(h, d, generator=g, dtype=torch.float64),
                torch.randn(h, generator=g, dtype=torch.float64),
                torch.randn(o, h, generator=g, dtype=torch.float64),
                torch.randn(d, generator=g, dtype=torch.float64),
            )
        )
    return cases


def _covariance(x: torch.Tensor) -> torch.Tensor:
    return linalg.gram(x, centre=True)


exercise_covariance = Exercise(
    title="Exercise 0.1 — the covariance matrix",
    reference=_covariance,
    make_inputs=_covariance_inputs,
    rtol=1e-9,
    atol=1e-9,
)

exercise_hand_jacobian = Exercise(
    title="Exercise 0.2 — a Jacobian by hand",
    reference=hand_jacobian,
    make_inputs=_jacobian_inputs,
    rtol=1e-9,
    atol=1e-9,
)
