"""The small models the book trains."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

__all__ = ["relu_mlp"]


def relu_mlp(sizes: Sequence[int], *, bias: bool = True) -> nn.Sequential:
    """A ReLU MLP with named layers ``fc0, act0, fc1, act1, …, fc{L-1}`` (no activation after the last).

    ``relu_mlp([64, 32, 32, 10])`` maps 64 inputs through two hidden ReLU layers of 32 to 10 logits;
    the hidden activations are the outputs of ``act0`` and ``act1``.
    """
    sizes = list(sizes)
    if len(sizes) < 2 or not all(isinstance(s, int) and s > 0 for s in sizes):
        raise ValueError(f"sizes must be at least two positive ints, got {sizes}")
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers[f"fc{i}"] = nn.Linear(a, b, bias=bias)
        if i < len(sizes) - 2:
            layers[f"act{i}"] = nn.ReLU()
    return nn.Sequential(layers)
