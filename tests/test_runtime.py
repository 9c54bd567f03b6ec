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
