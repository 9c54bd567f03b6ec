"""helpers.verdicts: a numerical identity prints its bound, never its residual, and raises with the measured value."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers.verdicts import BoundExceeded, verdict, verdict_line


def test_a_residual_within_its_bound_prints_the_bound_not_the_residual(capsys):
    assert verdict("max |Q − Qᵀ|", 2.3e-13, 1e-10) is None  # nothing for a notebook to echo
    assert capsys.readouterr().out == "max |Q − Qᵀ| ≤ 1e-10 ✓\n"


def test_the_printed_line_does_not_depend_on_the_residual(capsys):
    """Another CPU rounds differently: the verdict must read the same for any residual within the bound."""
    lines = {verdict_line("x", value, 1e-8) for value in (0.0, 1e-17, -3e-13, 9.99e-9, 1e-8)}
    assert lines == {"x ≤ 1e-8 ✓"}


@pytest.mark.parametrize(
    "bound, shown", [(1e-6, "1e-6"), (1e-12, "1e-12"), (1.0, "1"), (0.005, "0.005"), (2.5e-4, "0.00025")]
)
def test_bounds_are_printed_readably(bound, shown):
    assert verdict_line("x", 0.0, bound) == f"x ≤ {shown} ✓"


@pytest.mark.parametrize("value", [2e-10, -5e-3, math.nan, math.inf])
def test_a_broken_identity_raises_with_the_measured_value(value):
    with pytest.raises(BoundExceeded, match=r"✗ max dev = .*above the stated bound 1e-10"):
        verdict("max dev", value, 1e-10)


def test_tensors_and_arrays_of_one_element_are_accepted():
    assert verdict_line("t", torch.tensor(1e-14, dtype=torch.float64), 1e-10).endswith("✓")
    assert verdict_line("a", np.float64(1e-14), 1e-10).endswith("✓")
    with pytest.raises(TypeError, match="measured value must be a number"):
        verdict("a", torch.ones(3), 1e-10)


@pytest.mark.parametrize("bound", [0, -1e-10, math.nan, math.inf, True, "1e-10"])
def test_the_bound_must_be_positive_and_finite(bound):
    with pytest.raises(ValueError, match="positive finite"):
        verdict("x", 0.0, bound)


def test_the_claim_must_say_something():
    with pytest.raises(ValueError, match="non-empty claim"):
        verdict("  ", 0.0, 1e-10)


def test_a_target_prints_the_measured_value_and_never_raises(capsys):
    from helpers.verdicts import target

    target("exact match", 0.99025, 0.98, digits=3)
    assert capsys.readouterr().out == "exact match: 0.990 (target ≥ 0.98) ✓\n"
    target("in-ball rate", 0.27, 0.3)
    assert capsys.readouterr().out == "in-ball rate: 0.27 (target ≥ 0.3) ✗ missed\n"
    target("edge", 0.3, 0.3)
    assert capsys.readouterr().out.endswith("✓\n")
    with pytest.raises(ValueError, match="claim"):
        target(" ", 1.0, 0.5)
