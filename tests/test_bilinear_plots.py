"""helpers.bilinear.plots: chapter 1's drawings show the model's own numbers as they were looked at (snapshots:
tests/snapshots/), and refuse data of the wrong shape in a whole sentence."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

from helpers.bilinear import plots
from tests.figure_snapshot import check_snapshot


def _tensor() -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    b = torch.randn(3, 3, 3, generator=g, dtype=torch.float64)
    b = (b + b.transpose(1, 2)) / 2  # symmetric slices, as a bilinear layer's
    b[:, 0, 2] = b[:, 2, 0] = 0.0
    b[2, 0, 2] = b[2, 2, 0] = -0.001 / 0.6  # with the u below, Q[0, 2] = -0.001: drawn as 0.00, never -0.00
    return b


def test_decomposition_diagram():
    u = torch.tensor([0.5, -1.0, 0.6], dtype=torch.float64)  # |0.6| = 0.6 · max|u|: the colour switches above it
    check_snapshot("bilinear_decomposition_diagram", plots.decomposition_diagram(_tensor(), u, ["x", "y", "z"]))


def test_decomposition_diagram_names_inputs_by_index_without_labels():
    fig = plots.decomposition_diagram(_tensor(), torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    assert [t.get_text() for t in fig.axes[-1].get_yticklabels()] == ["0", "1", "2"]
    plt.close(fig)


def test_contribution_bars():
    fig, ax = plt.subplots(figsize=(4, 3))
    drawn = plots.contribution_bars(ax, torch.tensor([0.5, -2.0, 0.0, 1.0, -0.25, 0.125]), "one input", top=3)
    assert drawn == [1, 3, 0]
    check_snapshot("bilinear_contribution_bars", fig)


def test_wrong_shapes_are_refused_in_whole_sentences():
    with pytest.raises(ValueError) as refused:
        plots.decomposition_diagram(_tensor(), torch.ones(2, dtype=torch.float64))
    assert str(refused.value) == "u must have one entry per slice of the tensor (3), got shape (2,)"


def test_decomposition_diagram_of_an_even_number_of_slices_under_the_book_style():
    """Four slices in two rows of two, and the hand-placed axes stay where they are put under the book's style (which
    turns on constrained layout for every other figure)."""
    import matplotlib as mpl

    from helpers.runtime import STYLE

    g = torch.Generator().manual_seed(4)
    b = torch.randn(4, 2, 2, generator=g, dtype=torch.float64)
    with mpl.rc_context(STYLE):
        fig = plots.decomposition_diagram(
            b + b.transpose(1, 2), torch.tensor([1.0, -0.5, 0.25, 2.0], dtype=torch.float64)
        )
    check_snapshot("bilinear_decomposition_diagram_four_slices", fig)
