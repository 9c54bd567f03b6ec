"""helpers.activations.capture: the right tensors, in the asked order, and no hooks left behind."""

from __future__ import annotations

import pytest
import torch

from helpers.activations import capture
from helpers.models import relu_mlp


def make_model() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return relu_mlp([5, 7, 6, 3]).double()


def inputs(n: int = 4) -> torch.Tensor:
    return torch.randn(n, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def no_hooks_left(model: torch.nn.Module) -> bool:
    return all(not m._forward_hooks for m in model.modules())


def test_capture_equals_running_the_layers_by_hand():
    model, x = make_model(), inputs()
    acts = capture(model, x, ["fc0", "act0", "fc1", "act1", "fc2"])
    with torch.no_grad():
        fc0 = model.fc0(x)
        act0 = torch.relu(fc0)
        fc1 = model.fc1(act0)
        act1 = torch.relu(fc1)
        fc2 = model.fc2(act1)
    for name, expected in dict(fc0=fc0, act0=act0, fc1=fc1, act1=act1, fc2=fc2).items():
        assert torch.equal(acts[name], expected), name
    assert torch.equal(acts["fc2"], model(x).detach())
    assert no_hooks_left(model)


def test_capture_keeps_the_asked_order_and_only_those():
    acts = capture(make_model(), inputs(), ["act1", "fc0"])
    assert list(acts) == ["act1", "fc0"]
    assert acts["act1"].shape == (4, 6) and acts["fc0"].shape == (4, 7)


def test_captured_tensors_are_detached_copies():
    model, x = make_model(), inputs()
    acts = capture(model, x, ["fc2"])
    assert not acts["fc2"].requires_grad
    before = model(x).detach().clone()
    acts["fc2"].zero_()
    assert torch.equal(model(x).detach(), before)


def test_hooks_removed_when_forward_raises():
    model = make_model()
    with pytest.raises(RuntimeError):
        capture(model, torch.ones(2, 4, dtype=torch.float64), ["act0", "fc1"])  # 4 inputs, the model wants 5
    assert no_hooks_left(model)
    # and the model still runs normally afterwards, without stray captures
    capture(model, inputs(), ["fc1"])
    assert no_hooks_left(model)


def test_unknown_name_raises_and_lists_known_modules():
    model = make_model()
    with pytest.raises(KeyError, match=r"no submodule named \['fc9'\].*'act0'"):
        capture(model, inputs(), ["fc0", "fc9"])
    assert no_hooks_left(model)


def test_empty_and_duplicate_names_raise():
    model = make_model()
    with pytest.raises(ValueError, match="at least one"):
        capture(model, inputs(), [])
    with pytest.raises(ValueError, match="distinct"):
        capture(model, inputs(), ["fc0", "fc0"])
    assert no_hooks_left(model)


def test_capture_accepts_any_iterable_of_names():
    acts = capture(make_model(), inputs(), (name for name in ["act0"]))
    assert list(acts) == ["act0"]


def test_submodule_that_never_runs_raises_clearly():
    model = make_model()
    model.fc0.add_module("unused", torch.nn.Identity())  # a child that fc0's forward never calls
    with pytest.raises(RuntimeError, match=r"\['fc0.unused'\] did not run"):
        capture(model, inputs(), ["fc0.unused"])
    assert no_hooks_left(model)
