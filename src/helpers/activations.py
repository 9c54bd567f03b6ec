"""Capturing a model's intermediate activations with forward hooks."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["capture"]


@torch.no_grad()
def capture(model: nn.Module, x: torch.Tensor, names: Iterable[str]) -> dict[str, torch.Tensor]:
    """Run ``model(x)`` and return the outputs of the named submodules, in the order asked.

    The hooks are removed afterwards, also when the forward pass raises.

    >>> acts = capture(model, x, ["act0", "act1"])   # doctest: +SKIP
    """
    names = list(names)
    if not names:
        raise ValueError("names must name at least one submodule")
    modules = dict(model.named_modules())
    unknown = [n for n in names if n not in modules]
    if unknown:
        known = [n for n in modules if n]
        raise KeyError(f"no submodule named {unknown} in {type(model).__name__}; it has {known}")
    if len(set(names)) != len(names):
        raise ValueError(f"names must be distinct, got {names}")
    out: dict[str, torch.Tensor] = {}
    handles = []

    def make_hook(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            out[name] = output.detach().clone()

        return hook

    try:
        for name in names:
            handles.append(modules[name].register_forward_hook(make_hook(name)))
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    silent = [n for n in names if n not in out]
    if silent:
        raise RuntimeError(
            f"submodules {silent} did not run in {type(model).__name__}'s forward pass: nothing to capture"
        )
    return {name: out[name] for name in names}
