"""helpers.figures: the data behind each figure is written once, then compared with a tolerance."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from helpers.figures import WRITE_VARIABLE, FigureCheck, FigureMismatch, MissingReference, compare_arrays

CHAPTER = "99_test"


def sample() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"spectrum": rng.normal(size=8), "coords": rng.normal(size=(5, 2)), "count": np.int64(3)}


@pytest.fixture
def write_mode(monkeypatch):
    monkeypatch.setenv(WRITE_VARIABLE, "write")


@pytest.fixture
def compare_mode(monkeypatch):
    monkeypatch.delenv(WRITE_VARIABLE, raising=False)


def write_reference(tmp_path, monkeypatch, name: str, data) -> None:
    monkeypatch.setenv(WRITE_VARIABLE, "write")
    FigureCheck(CHAPTER, root=tmp_path)(name, data)
    monkeypatch.delenv(WRITE_VARIABLE)


# --------------------------------------------------------------------------------------------- writing


def test_write_mode_stores_the_data(tmp_path, write_mode, capsys):
    check = FigureCheck(CHAPTER, root=tmp_path)
    assert check.writing
    data = sample()
    check("pca_spectrum", data)
    with np.load(tmp_path / "pca_spectrum.npz", allow_pickle=False) as stored:
        assert sorted(stored.files) == sorted(data)
        for key, value in data.items():
            np.testing.assert_array_equal(stored[key], value)
    assert "reference written" in capsys.readouterr().out
    assert check.checked == ["pca_spectrum"]


def test_write_variable_must_say_write(tmp_path, monkeypatch):
    monkeypatch.setenv(WRITE_VARIABLE, "yes")
    assert not FigureCheck(CHAPTER, root=tmp_path).writing
    monkeypatch.setenv(WRITE_VARIABLE, " WRITE ")
    assert FigureCheck(CHAPTER, root=tmp_path).writing


# --------------------------------------------------------------------------------------------- comparing


def test_equal_data_passes(tmp_path, monkeypatch, capsys):
    write_reference(tmp_path, monkeypatch, "fig", sample())
    check = FigureCheck(CHAPTER, root=tmp_path)
    assert not check.writing
    check("fig", sample())
    assert "data matches its reference (3 arrays" in capsys.readouterr().out
    assert check.checked == ["fig"]


def test_within_tolerance_passes_and_beyond_fails(tmp_path, monkeypatch):
    write_reference(tmp_path, monkeypatch, "fig", sample())
    data = sample()
    data["spectrum"] = data["spectrum"] * (1 + 1e-4)
    FigureCheck(CHAPTER, root=tmp_path)("fig", data, rtol=1e-3, atol=0)
    with pytest.raises(FigureMismatch, match="'spectrum'.*deviation"):
        FigureCheck(CHAPTER, root=tmp_path)("fig", data, rtol=1e-6, atol=0)


def test_one_altered_value_raises_with_name_and_deviation(tmp_path, monkeypatch):
    write_reference(tmp_path, monkeypatch, "pca_spectrum", sample())
    data = sample()
    data["coords"][3, 1] += 0.25
    with pytest.raises(FigureMismatch) as info:
        FigureCheck(CHAPTER, root=tmp_path)("pca_spectrum", data, rtol=1e-4, atol=1e-6)
    message = str(info.value)
    assert "pca_spectrum" in message
    assert "deviation" in message
    assert "'coords'" in message
    assert "0.25" in message
    assert "at index (3, 1)" in message


def test_mismatch_is_an_assertion_error(tmp_path, monkeypatch):
    write_reference(tmp_path, monkeypatch, "fig", {"a": np.zeros(3)})
    with pytest.raises(AssertionError):
        FigureCheck(CHAPTER, root=tmp_path)("fig", {"a": np.ones(3)})


def test_key_mismatch_raises(tmp_path, monkeypatch):
    write_reference(tmp_path, monkeypatch, "fig", {"a": np.zeros(3), "b": np.ones(2)})
    with pytest.raises(FigureMismatch, match=r"data keys \['a', 'c'\] differ from the reference's \['a', 'b'\]"):
        FigureCheck(CHAPTER, root=tmp_path)("fig", {"a": np.zeros(3), "c": np.ones(2)})
    with pytest.raises(FigureMismatch, match="data keys"):
        FigureCheck(CHAPTER, root=tmp_path)("fig", {"a": np.zeros(3)})


def test_shape_mismatch_raises(tmp_path, monkeypatch):
    write_reference(tmp_path, monkeypatch, "fig", {"a": np.zeros((2, 3))})
    with pytest.raises(FigureMismatch, match=r"'a' has shape \(3, 2\), the reference \(2, 3\)"):
        FigureCheck(CHAPTER, root=tmp_path)("fig", {"a": np.zeros((3, 2))})


def test_missing_reference_raises(tmp_path, compare_mode):
    with pytest.raises(MissingReference, match=r"figure 'fig' has no reference.*`make references`"):
        FigureCheck(CHAPTER, root=tmp_path)("fig", sample())


def test_duplicate_names_raise(tmp_path, monkeypatch):
    write_reference(tmp_path, monkeypatch, "fig", sample())
    check = FigureCheck(CHAPTER, root=tmp_path)
    check("fig", sample())
    with pytest.raises(ValueError, match="already checked.*unique"):
        check("fig", sample())


def test_duplicate_names_raise_in_write_mode(tmp_path, write_mode):
    check = FigureCheck(CHAPTER, root=tmp_path)
    check("fig", sample())
    with pytest.raises(ValueError, match="already checked"):
        check("fig", sample())


def test_nan_in_the_same_place_passes(tmp_path, monkeypatch):
    data = {"a": np.array([1.0, np.nan, 3.0])}
    write_reference(tmp_path, monkeypatch, "fig", data)
    FigureCheck(CHAPTER, root=tmp_path)("fig", {"a": np.array([1.0, np.nan, 3.0])})


def test_nan_in_another_place_fails(tmp_path, monkeypatch):
    write_reference(tmp_path, monkeypatch, "fig", {"a": np.array([1.0, np.nan, 3.0])})
    with pytest.raises(FigureMismatch, match="deviation nan at index"):
        FigureCheck(CHAPTER, root=tmp_path)("fig", {"a": np.array([1.0, 2.0, np.nan])})


def test_equal_infinities_pass_and_unequal_fail(tmp_path, monkeypatch):
    write_reference(tmp_path, monkeypatch, "fig", {"a": np.array([np.inf, -np.inf, 1.0])})
    FigureCheck(CHAPTER, root=tmp_path)("fig", {"a": np.array([np.inf, -np.inf, 1.0])})
    with pytest.raises(FigureMismatch, match="deviation inf"):
        FigureCheck(CHAPTER, root=tmp_path)("fig", {"a": np.array([np.inf, np.inf, 1.0])})


def test_torch_tensors_accepted(tmp_path, monkeypatch):
    g = torch.Generator().manual_seed(0)
    t = torch.randn(4, 3, generator=g, dtype=torch.float64)
    write_reference(tmp_path, monkeypatch, "fig", {"t": t, "labels": torch.arange(4)})
    FigureCheck(CHAPTER, root=tmp_path)("fig", {"t": t.numpy().copy(), "labels": np.arange(4)})
    FigureCheck(CHAPTER, root=tmp_path)("fig", {"t": t.requires_grad_(True) * 1, "labels": torch.arange(4)})
    with pytest.raises(FigureMismatch, match="'labels'"):
        FigureCheck(CHAPTER, root=tmp_path)("fig", {"t": t.detach(), "labels": torch.arange(4) + 1})


def test_float32_data_is_compared_in_float64(tmp_path, monkeypatch):
    x = np.linspace(0, 1, 7)
    write_reference(tmp_path, monkeypatch, "fig", {"x": x.astype(np.float32)})
    with np.load(tmp_path / "fig.npz") as stored:
        assert stored["x"].dtype == np.float64
    FigureCheck(CHAPTER, root=tmp_path)("fig", {"x": torch.tensor(x, dtype=torch.float32)})


def test_scalars_and_booleans(tmp_path, monkeypatch):
    write_reference(tmp_path, monkeypatch, "fig", {"loss": 0.5, "mask": np.array([True, False])})
    FigureCheck(CHAPTER, root=tmp_path)("fig", {"loss": 0.5, "mask": np.array([True, False])})
    with pytest.raises(FigureMismatch, match="'loss'.*deviation 0.1"):
        FigureCheck(CHAPTER, root=tmp_path)("fig", {"loss": 0.6, "mask": np.array([True, False])})


# --------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("chapter", ["", "a/b", "../up", 3, "_x"])
def test_bad_chapter_raises(chapter, tmp_path):
    with pytest.raises(ValueError, match="chapter must be a folder name"):
        FigureCheck(chapter, root=tmp_path)


@pytest.mark.parametrize("name", ["", "a b", "../x", "fig.png", None])
def test_bad_figure_name_raises(name, tmp_path, write_mode):
    with pytest.raises(ValueError, match="figure name"):
        FigureCheck(CHAPTER, root=tmp_path)(name, sample())


def test_bad_data_raises(tmp_path, write_mode):
    check = FigureCheck(CHAPTER, root=tmp_path)
    with pytest.raises(ValueError, match="non-empty dict"):
        check("a", {})
    with pytest.raises(ValueError, match="non-empty dict"):
        check("b", [np.zeros(2)])
    with pytest.raises(ValueError, match="'x' is empty"):
        check("c", {"x": np.zeros(0)})
    with pytest.raises(TypeError, match="object array"):
        check("d", {"x": np.array([1, "a", None], dtype=object)})
    with pytest.raises(TypeError, match="numeric or boolean"):
        check("e", {"x": np.array(["a", "b"])})
    with pytest.raises(ValueError, match="non-negative"):
        check("f", {"x": np.zeros(2)}, rtol=-1)
    assert not list(tmp_path.iterdir())  # nothing written for refused data


# --------------------------------------------------------------------------------------------- compare_arrays


def test_compare_arrays_matches_allclose():
    rng = np.random.default_rng(1)
    r = rng.normal(size=50)
    for scale in (1e-9, 1e-6, 1e-4, 1e-2):
        a = r + scale * rng.normal(size=50)
        ok, deviation, index = compare_arrays(a, r, rtol=1e-5, atol=1e-8)
        assert ok == np.allclose(a, r, rtol=1e-5, atol=1e-8)
        assert deviation == pytest.approx(np.abs(a - r).max())
        assert index == (int(np.argmax(np.abs(a - r))),)


def test_compare_arrays_shape_mismatch():
    assert compare_arrays(np.zeros(3), np.zeros(4), 0, 0) == (False, float("inf"), ())


# --------------------------------------------------------------------------------------------- exact texts, conventions
# What a reader sees when a check fails, and the conventions of the comparison at its edges.


def _message(error, call) -> str:
    with pytest.raises(error) as raised:
        call()
    return str(raised.value)


def test_compare_arrays_at_its_edges():
    assert compare_arrays(np.zeros(0), np.zeros(0), 0.0, 0.0) == (True, 0.0, ())
    assert compare_arrays(np.array([1.0]), np.array([1.5]), 0.0, 0.5) == (True, 0.5, (0,))  # deviation = atol passes
    assert compare_arrays(np.array([1.0, 3.0]), np.array([1.0, 2.0]), 0.5, 0.0) == (True, 1.0, (1,))  # = rtol·|ref|
    assert compare_arrays(np.array([1.0, 3.0]), np.array([1.0, 2.0]), 0.25, 0.25) == (False, 1.0, (1,))
    ok, deviation, where = compare_arrays(np.array([1.0, 2.0, np.nan]), np.array([1.0, np.nan, 3.0]), 1.0, 1.0)
    assert not ok and np.isnan(deviation) and where == (1,)  # the first place where the NaNs differ
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inf - inf must not warn: equal infinities match, as in np.allclose
        assert compare_arrays(np.array([np.inf, 1.0]), np.array([np.inf, 1.0]), 0.0, 0.0) == (True, 0.0, (0,))


def test_messages_name_the_figure_the_key_and_the_place(tmp_path, monkeypatch):
    check = FigureCheck(CHAPTER, root=tmp_path)
    assert _message(TypeError, lambda: check("f", {"labels": np.array(["a", "b"])})) == (
        "figure data 'labels' must be numeric or boolean, got dtype <U1"
    )
    assert _message(MissingReference, lambda: check("f", {"x": [1.0]})) == (
        "figure 'f' has no reference f.npz. Create references on purpose with `make references` and commit "
        "data/references/."
    )
    write_reference(tmp_path, monkeypatch, "vector", {"x": [1.0, 2.0]})
    write_reference(tmp_path, monkeypatch, "scalar", {"x": 1.0})
    assert _message(FigureMismatch, lambda: check("vector", {"x": [1.0, 2.5]}, rtol=0.0, atol=0.25)) == (
        "figure 'vector': 'x' differs from its reference vector.npz: largest deviation 0.5 at index (1,) (value 2.5, "
        "reference 2; rtol=0, atol=0.25)"
    )
    assert _message(FigureMismatch, lambda: check("scalar", {"x": 3.0}, rtol=0.0, atol=0.0)) == (
        "figure 'scalar': 'x' differs from its reference scalar.npz: largest deviation 2 (value 3, reference 1; "
        "rtol=0, atol=0)"
    )
    check("vector", {"x": [1.0, 2.0]}, rtol=0.0, atol=0.0)  # zero tolerances are allowed
    assert _message(ValueError, lambda: check("vector", {"x": [1.0, 2.0]})) == (
        f"figure 'vector' was already checked in chapter '{CHAPTER}': names must be unique"
    )


def test_a_reference_in_the_book_is_shown_by_its_path_in_the_repository(compare_mode):
    from helpers.figures import reference_dir

    check = FigureCheck("99_no_such_chapter")
    assert check.root == reference_dir("99_no_such_chapter") and check.chapter == "99_no_such_chapter"
    assert _message(MissingReference, lambda: check("f", {"x": [1.0]})).startswith(
        "figure 'f' has no reference data/references/99_no_such_chapter/f.npz."
    )


def test_references_are_written_into_new_nested_folders(tmp_path, write_mode):
    FigureCheck(CHAPTER, root=tmp_path / "a" / "b")("f", {"x": [1.0]})
    assert (tmp_path / "a" / "b" / "f.npz").exists()


def test_a_reference_holding_python_objects_is_never_unpickled(tmp_path, compare_mode):
    np.savez(tmp_path / "f.npz", x=np.array([1, None], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        FigureCheck(CHAPTER, root=tmp_path)("f", {"x": [1.0, 2.0]})
