"""helpers.lenses.plots: each drawing helper draws its data as chapter 5 shows it (snapshots: tests/snapshots/), and
refuses data of the wrong shape in a whole sentence."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.lenses import plots
from tests.figure_snapshot import check_snapshot


def rng(seed: int) -> np.random.Generator:
    """Each test draws from its own generator: a test's data never depends on which tests ran before it."""
    return np.random.default_rng(seed)


def test_bar_reading():
    fig, ax = plt.subplots(figsize=(4, 3))
    plots.bar_reading(ax, [0.5, -0.25, 0.0, 1.5], ["a", "b", "c", "d"], title="a reading", xlabel="share")
    check_snapshot("lenses_bar_reading", fig)


def test_distance_map():
    fig, (ax, other) = plt.subplots(1, 2, figsize=(8, 4))
    plt.sca(other)  # the colour bar belongs to the map's axes, not to whichever is current
    distance = np.abs(rng(5).normal(size=(7, 7)))
    distance[2, 3] = 0.05  # one input inside both balls
    distance[0, 0] = 0.5  # exactly at the larger ε: inside its ball
    plots.distance_map(ax, distance, [0.1, 0.5], title="distances to (2, 3)", query=(2, 3))
    check_snapshot("lenses_distance_map", fig)


def test_attention_spread():
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    plots.attention_spread(axes, rng(6).uniform(size=(50, 3)), {"model": 1.0, "head 0 mean": 0.5, "head 1 mean": 0.25})
    check_snapshot("lenses_attention_spread", fig)


def test_singular_values():
    fig, ax = plt.subplots(figsize=(4, 3))
    plots.singular_values(ax, {"one": np.array([1e-20, 4.0, 2.0, 1e-9]), "two": np.array([3.0, 1.0, 0.5, 0.25])}, 2)
    check_snapshot("lenses_singular_values", fig)


def test_llc_traces():
    fig, ax = plt.subplots(figsize=(4, 3))
    plots.llc_traces(ax, {"short": np.arange(75.0), "long": np.linspace(0, 2, 110) ** 2}, burnin=30)
    check_snapshot("lenses_llc_traces", fig)


def test_wrong_shapes_are_refused_in_whole_sentences():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError) as refused:
        plots.bar_reading(ax, [1.0, 2.0], ["a"], title="t", xlabel="x")
    assert str(refused.value) == "need one name per value, got 2 values and 1 names"
    with pytest.raises(ValueError) as refused:
        plots.bar_reading(ax, [[1.0], [2.0]], ["a", "b"], title="t", xlabel="x")
    assert str(refused.value) == "need one name per value, got 2 values and 2 names"
    with pytest.raises(ValueError) as refused:
        plots.distance_map(ax, np.zeros((3, 4)), [0.1], title="t", query=(0, 0))
    assert str(refused.value) == "distance must be a square (p, p) grid, got shape (3, 4)"
    with pytest.raises(ValueError) as refused:
        plots.distance_map(ax, np.zeros(9), [0.1], title="t", query=(0, 0))
    assert str(refused.value) == "distance must be a square (p, p) grid, got shape (9,)"
    with pytest.raises(ValueError) as refused:
        plots.attention_spread([ax, ax], np.zeros(5), {"m": 1.0})
    assert str(refused.value) == "share must be (inputs, heads), got shape (5,)"
    plt.close(fig)
