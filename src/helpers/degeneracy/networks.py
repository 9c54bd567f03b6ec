"""The trained networks of chapter 2: a small digits MLP, and a modular task learnt by a block-diagonal and by a
densely coupled MLP of the same shape.

All three are one-hidden-layer ReLU networks, so the chapter reads them as a :class:`~helpers.degeneracy.counts.MLP`
with one flat float64 parameter vector (:func:`flat_parameters`).
"""

from __future__ import annotations

from typing import Any

import torch

from .. import data
from ..models import relu_mlp
from ..training import train_classifier
from .counts import MLP

__all__ = [
    "DIGITS_CONFIG",
    "DIGITS_TOLERANCES",
    "MODULAR_CONFIG",
    "MODULAR_TOLERANCES",
    "block_mask",
    "flat_parameters",
    "modular_task",
    "neuron_modules",
    "train_modular_mlp",
    "train_small_digits_mlp",
]

#: A digits MLP small enough (460 parameters) for exact Hessians and many SGLD chains: 64 pixels → 6 ReLUs → 10.
DIGITS_CONFIG: dict[str, Any] = {
    "sizes": [64, 6, 10],
    "epochs": 60,
    "batch_size": 64,
    "lr": 1e-2,
    "weight_decay": 1e-3,
    "seed": 0,
    "split_seed": 0,
    "test_fraction": 0.2,
}
DIGITS_TOLERANCES = {"train_accuracy": 0.02, "test_accuracy": 0.03, "test_loss": 0.08}

#: Two independent halves of the input, each with its own teacher; the student has 12 hidden neurons.
MODULAR_CONFIG: dict[str, Any] = {
    "n": 512,
    "half": 4,
    "teacher_hidden": 4,
    "outputs_per_half": 2,
    "hidden": 12,
    "steps": 3000,
    "lr": 1e-2,
    "input_scales": [1.4, 1.2, 1.0, 0.8, 1.3, 1.1, 0.9, 0.7],
    "data_seed": 0,
    "seed": 0,
    "block": True,
}
MODULAR_TOLERANCES = {"loss": 0.01}


def train_small_digits_mlp(config: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Train ``relu_mlp(config['sizes'])`` (one hidden layer) on the digits split; return its state dict and metrics."""
    if len(config["sizes"]) != 3:
        raise ValueError(f"the small digits MLP has one hidden layer, got sizes {config['sizes']}")
    split = data.digits(test_fraction=config["test_fraction"], seed=config["split_seed"])
    torch.manual_seed(config["seed"])
    model = relu_mlp(config["sizes"])
    metrics = train_classifier(model, split, epochs=config["epochs"], batch_size=config["batch_size"],
                               lr=config["lr"], weight_decay=config["weight_decay"], seed=config["seed"],
                               desc="small digits MLP")
    return model.state_dict(), metrics


def flat_parameters(state: dict[str, torch.Tensor]) -> tuple[MLP, torch.Tensor]:
    """The network of a one-hidden-layer ``relu_mlp`` state dict as an :class:`MLP` and its flat float64 parameters."""
    keys = ("fc0.weight", "fc0.bias", "fc1.weight", "fc1.bias")
    if set(keys) != set(state):
        raise ValueError(f"expected the state dict of a one-hidden-layer relu_mlp with keys {keys}, got {sorted(state)}")
    w1, b1, w2, b2 = (state[k].detach().to(torch.float64) for k in keys)
    return MLP(w1.shape[1], w1.shape[0], w2.shape[0]), MLP.flatten(w1, b1, w2, b2)


def modular_task(config: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``x`` (n, 2·half) and targets ``y`` (n, 2·outputs_per_half) of the modular task, float64.

    The inputs are Gaussian, whitened on the sample and scaled per coordinate by ``input_scales``, so that the two
    halves are *exactly* uncorrelated on the data (mean 0, covariance ``diag(input_scales²)``). The scales are
    distinct so that the principal components are well defined (equal variances would let any rotation serve, and
    each LAPACK build would pick its own). The first outputs are a random ReLU teacher of the first half, the last
    outputs another of the second half: the task is two independent tasks side by side.
    """
    g = torch.Generator().manual_seed(config["data_seed"])
    n, half = config["n"], config["half"]
    x = torch.randn(n, 2 * half, generator=g, dtype=torch.float64)
    x = x - x.mean(0)
    values, vectors = torch.linalg.eigh(x.T @ x / n)
    x = x @ vectors @ torch.diag(values.rsqrt()) @ vectors.T  # sample covariance exactly I
    scales = torch.tensor(config["input_scales"], dtype=torch.float64)
    if scales.shape != (2 * half,) or (scales <= 0).any() or scales.unique().shape[0] != 2 * half:
        raise ValueError(f"input_scales must be {2 * half} distinct positive numbers, got {config['input_scales']}")
    x = x * scales
    teacher = MLP(half, config["teacher_hidden"], config["outputs_per_half"])
    first, second = teacher.random(g), teacher.random(g)
    return x, torch.cat([teacher(first, x[:, :half]), teacher(second, x[:, half:])], dim=1)


def neuron_modules(config: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Which module (0 or 1) each input, hidden neuron and output belongs to in the block-diagonal network."""
    half, hidden, outs = config["half"], config["hidden"], config["outputs_per_half"]
    return (torch.arange(2 * half) >= half).long(), (torch.arange(hidden) >= hidden // 2).long(), \
        (torch.arange(2 * outs) >= outs).long()


def block_mask(config: dict[str, Any]) -> torch.Tensor:
    """The flat 0/1 mask of the block-diagonal network: a weight is kept when both its ends are in one module."""
    inputs, hidden, outputs = neuron_modules(config)
    m1 = (hidden[:, None] == inputs[None, :]).double()  # (h, d_in)
    m2 = (outputs[:, None] == hidden[None, :]).double()  # (o, h)
    return MLP.flatten(m1, torch.ones(len(hidden), dtype=torch.float64), m2, torch.ones(len(outputs), dtype=torch.float64))


def train_modular_mlp(config: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Train the student on :func:`modular_task` by full-batch Adam on the mean squared error, float64.

    With ``config['block']`` the weights between modules are held at zero (the block-diagonal network); without, all
    weights train (the dense network). Returns ``{"w": flat parameters}`` and the final training loss.
    """
    x, y = modular_task(config)
    net = MLP(x.shape[1], config["hidden"], y.shape[1])
    mask = block_mask(config) if config["block"] else torch.ones(net.n_params, dtype=torch.float64)
    g = torch.Generator().manual_seed(config["seed"])
    w = (net.random(g) * 0.5 * mask).requires_grad_(True)
    optimiser = torch.optim.Adam([w], lr=config["lr"])
    for _ in range(config["steps"]):
        loss = ((net(w * mask, x) - y) ** 2).sum(-1).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    w = (w * mask).detach()
    return {"w": w}, {"loss": float(((net(w, x) - y) ** 2).sum(-1).mean())}
