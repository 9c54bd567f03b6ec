"""helpers.runtime.setup: seeds, determinism, thread count, style, device, and one stable line of output."""

from __future__ import annotations

import os
import random
import re

import matplotlib as mpl
import numpy as np
import pytest
import torch

from helpers.runtime import STYLE, THREADS_VARIABLE, describe, pick_device, setup, thread_count


@pytest.fixture(autouse=True)
def restore_global_state(monkeypatch):
    """Give the thread count and matplotlib style back as they were; start without BOOK_THREADS."""
    threads = torch.get_num_threads()
    rc = mpl.rcParams.copy()
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    # setup() sets this variable with setdefault; setting it through monkeypatch restores it afterwards
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    yield
    torch.set_num_threads(threads)
    mpl.rcParams.update(rc)


def test_setup_returns_a_device():
    device = setup(0, quiet=True)
    assert isinstance(device, torch.device)
    assert device == pick_device()
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_setup_makes_torch_deterministic():
    setup(0, quiet=True)
    assert torch.are_deterministic_algorithms_enabled()


def test_setup_uses_one_thread_by_default():
    torch.set_num_threads(2)
    setup(0, quiet=True)
    assert torch.get_num_threads() == 1
    assert thread_count() == 1


def test_setup_uses_book_threads(monkeypatch):
    monkeypatch.setenv(THREADS_VARIABLE, " 2 ")
    setup(0, quiet=True)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("raw", ["abc", "0", "-2", "1.5", ""])
def test_bad_book_threads_raises(monkeypatch, raw):
    monkeypatch.setenv(THREADS_VARIABLE, raw)
    with pytest.raises(ValueError, match=f"{THREADS_VARIABLE} must be a positive integer"):
        setup(0, quiet=True)


def test_setup_seed_makes_random_draws_reproducible():
    setup(7, quiet=True)
    first = (torch.randn(5), np.random.rand(3), random.random())
    torch.randn(100)  # move every generator on
    np.random.rand(100)
    setup(7, quiet=True)
    second = (torch.randn(5), np.random.rand(3), random.random())
    assert torch.equal(first[0], second[0])
    assert np.array_equal(first[1], second[1])
    assert first[2] == second[2]
    setup(8, quiet=True)
    assert not torch.equal(torch.randn(5), first[0])


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0", None])
def test_bad_seed_raises(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        setup(seed, quiet=True)


def test_setup_prints_one_stable_line(capsys):
    setup(3)
    first = capsys.readouterr()
    setup(3)
    second = capsys.readouterr()
    assert first.out == second.out
    assert first.err == ""
    lines = first.out.splitlines()
    assert len(lines) == 1 and first.out.endswith("\n")
    major_minor = re.escape(".".join(torch.__version__.split(".")[:2]))
    assert re.fullmatch(rf"book setup · seed 3 · torch {major_minor} · deterministic", lines[0])


def test_setup_line_is_the_same_for_any_thread_count(capsys, monkeypatch):
    """The line is committed in every chapter: it must not depend on the machine or the environment."""
    setup(0)
    one = capsys.readouterr().out
    monkeypatch.setenv(THREADS_VARIABLE, "2")
    setup(0)
    assert capsys.readouterr().out == one


def test_describe_says_device_threads_and_capability(monkeypatch):
    monkeypatch.setenv(THREADS_VARIABLE, "2")
    setup(0, quiet=True)
    text = describe()
    assert re.fullmatch(r"device (cpu|cuda) · 2 threads · CPU capability \w+", text), text


def test_quiet_setup_prints_nothing(capsys):
    setup(0, quiet=True)
    assert capsys.readouterr() == ("", "")


def test_setup_applies_the_style():
    mpl.rcParams["figure.dpi"] = 42
    setup(0, quiet=True)
    for key, value in STYLE.items():
        expected = list(value) if isinstance(value, tuple) else value
        actual = mpl.rcParams[key]
        assert (list(actual) if isinstance(actual, tuple | list) else actual) == expected, key


def test_setup_keeps_an_existing_cublas_setting(monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    setup(0, quiet=True)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


# --- figures drawn for the book's column ---------------------------------------------------------------------------


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.runtime import STYLE

    with matplotlib.rc_context(STYLE):
        return plt.figure(figsize=(width, height))


def test_a_figure_wider_than_the_column_is_narrowed_to_it_and_a_narrow_one_is_left_alone() -> None:
    from helpers.runtime import COLUMN_PX, fit_to_column

    wide, narrow = _figure(11.0, 3.8), _figure(5.0, 3.0)
    fit_to_column(wide)
    fit_to_column(narrow)
    assert wide.get_size_inches() == pytest.approx([COLUMN_PX / 100, 3.8])  # 6.88 in wide, as tall as drawn
    assert narrow.get_size_inches() == pytest.approx([5.0, 3.0])


def test_the_smallest_text_is_measured_in_css_pixels_without_hidden_tick_labels() -> None:
    from helpers.runtime import smallest_text_px

    figure = _figure(6.0, 3.0)
    shown, hidden = figure.subplots(1, 2)
    shown.set_title("a title", fontsize=7.2)  # 7.2 pt at 100 dpi: exactly 10 px
    shown.tick_params(labelsize=9)
    hidden.set_axis_off()
    hidden.tick_params(labelsize=4)  # would be 5.6 px, but an axis switched off shows no tick labels
    assert smallest_text_px(figure) == pytest.approx(10.0)
    shown.set_xlabel("x", fontsize=6)
    assert smallest_text_px(figure) == pytest.approx(6 * 100 / 72)
    assert smallest_text_px(_figure(2.0, 2.0)) == float("inf")  # no axes, no text


def test_a_chapters_figure_is_twice_as_sharp_and_says_its_shown_size_and_smallest_text() -> None:
    import base64

    from helpers.runtime import figure_png

    figure = _figure(9.0, 3.0)
    ax = figure.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_title("fitted", fontsize=8.64)  # 12 px at 100 dpi
    data, metadata = figure_png(figure)
    png = base64.b64decode(data)
    pixels = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert metadata["width"] == round(pixels[0] / 2) and metadata["height"] == round(pixels[1] / 2)
    assert 600 < metadata["width"] <= 700  # fitted to the 688-px column (the tight box trims or adds a few px)
    assert metadata["book_text_px"] == pytest.approx(min(12.0, 10 * 100 / 72), abs=0.01)  # tick labels are 10 pt


def test_texts_drawn_over_each_other_are_found_and_neighbours_are_not() -> None:
    from helpers.runtime import overlapping_texts

    figure = _figure(4.0, 2.0)  # two 2-inch panels: the left title runs about 1.5 inches into the right one's
    left, right = figure.subplots(1, 2)
    left.set_title("a title far too long for its own small panel of the figure")
    right.set_title("its neighbour")
    assert ("a title far too long for its own small panel of the figure", "its neighbour") in overlapping_texts(figure)
    left.set_title("short")
    assert overlapping_texts(figure) == []


def test_a_panel_title_longer_than_its_panel_is_broken_into_lines() -> None:
    from helpers.runtime import fit_to_column, overlapping_texts

    figure = _figure(4.0, 2.0)
    left, right = figure.subplots(1, 2)
    left.set_title("a title far too long for its own small panel of the figure")
    right.set_title("$Q_{38}$: a title with mathematics is left whole")
    fit_to_column(figure)
    assert "\n" in left.get_title() and "\n" not in right.get_title()
    assert left.get_title().replace("\n", " ") == "a title far too long for its own small panel of the figure"
    assert ("a title far too long for its own small panel of the figure", "its neighbour") not in overlapping_texts(
        figure
    )


def test_a_pngs_size_is_read_from_its_header() -> None:
    import io

    import matplotlib.pyplot as plt
    import numpy as np

    from helpers.runtime import png_size

    buffer = io.BytesIO()
    plt.imsave(buffer, np.zeros((3, 7)), format="png")  # 3 rows, 7 columns
    assert png_size(buffer.getvalue()) == (7, 3)
    with pytest.raises(ValueError, match="not PNG data"):
        png_size(b"GIF89a" + bytes(20))
