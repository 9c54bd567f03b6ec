"""helpers.explorers: every figure drawn once, stacks linked to their controls in the browser, clear errors."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from helpers.explorers import option_label, state_bytes, static_explorer  # noqa: E402

CALLS: list[dict] = []


def draw(a, b):
    CALLS.append({"a": a, "b": b})
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.set_title(f"{a} {b}")
    return fig


def test_every_combination_is_drawn_once_and_reachable(monkeypatch):
    CALLS.clear()
    box = static_explorer(draw, {"a": [1, 2, 3], "b": ["x", "y"]}, defaults={"a": 2})
    assert len(CALLS) == 6 and {(c["a"], c["b"]) for c in CALLS} == {(a, b) for a in (1, 2, 3) for b in "xy"}
    assert set(box.figures) == {(a, b) for a in (1, 2, 3) for b in "xy"}
    assert all(png.startswith(b"\x89PNG") for png in box.figures.values())
    controls, outer = box.children[0].children, box.children[1]
    assert [c.description for c in controls] == ["a", "b"]
    assert isinstance(controls[0], widgets.SelectionSlider) and isinstance(controls[1], widgets.ToggleButtons)
    assert controls[0].index == 1 and controls[1].index == 0  # the defaults: a = 2, b = "x"
    # the stack a reader sees for (a, b) = (3, "y") holds the figure drawn for (3, "y")
    inner = outer.children[2]
    assert inner.children[1].value == box.figures[(3, "y")]
    # one link per stack: the outer one from control a, each inner one from control b; all to selected_index
    links = box.links
    assert len(links) == 1 + 3
    assert all(link.target[1] == "selected_index" and link.source[1] == "index" for link in links)
    assert sum(link.source[0] is controls[0] for link in links) == 1
    assert sum(link.source[0] is controls[1] for link in links) == 3
    assert outer.selected_index == 1 and inner.selected_index == 0


def test_numbers_are_labelled_as_written():
    assert option_label(0.05) == "0.05" and option_label(0.0501) == "0.0501" and option_label(3) == "3"
    box = static_explorer(draw, {"a": [0.01, 0.05, 0.2], "b": ["x"]}, defaults={"a": 0.05})
    slider = box.children[0].children[0]
    assert [label for label, _ in slider.options] == ["0.01", "0.05", "0.2"] and slider.label == "0.05"


def test_state_size_counts_the_figures():
    small = static_explorer(draw, {"a": [1], "b": ["x"]})
    large = static_explorer(draw, {"a": [1, 2, 3, 4], "b": ["x", "y"]})
    assert state_bytes(large) > 6 * sum(len(p) for p in small.figures.values())


@pytest.mark.parametrize(
    "controls, defaults, message",
    [
        ({}, None, "at least one control"),
        ({"a": [], "b": ["x"]}, None, "offers no values"),
        ({"a": [1, 1], "b": ["x"]}, None, "repeats a value"),
        ({"a": [1, 2], "b": ["x"]}, {"a": 3}, "not among its values"),
        ({"a": [1, 2], "b": ["x"]}, {"c": 1}, "unknown controls"),
    ],
)
def test_bad_controls_raise_clearly(controls, defaults, message):
    with pytest.raises(ValueError, match=message):
        static_explorer(draw, controls, defaults=defaults)
