"""helpers.checkpoints: train once, load with a hash check, refuse clearly when the cache cannot be trusted."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import struct
from pathlib import Path

import pytest
import torch

from helpers import checkpoints
from helpers.runtime import compute_platform
from helpers.checkpoints import (
    ChecksumMismatch,
    ConfigMismatch,
    MissingCheckpoint,
    load,
    load_or_train,
    read_manifest,
    retrain,
    retrain_tensors,
    judge_retraining,
    train_fn_path,
)

CONFIG = {"n": 4, "seed": 0}
TOLERANCES = {"norm": 1e-6}

#: Shifts what ``drifting_train`` returns, to simulate a retraining that does not reproduce the cache.
DRIFT = {"value": 0.0}


def tiny_train(config):
    """A deterministic 'training': seeded random weights and one metric."""
    g = torch.Generator().manual_seed(config["seed"])
    w = torch.randn(config["n"], 3, generator=g)
    return {"w": w, "b": torch.arange(3, dtype=torch.float64), "steps": torch.tensor([7])}, {"norm": float(w.norm())}


def drifting_train(config):
    tensors, metrics = tiny_train(config)
    tensors["w"] = tensors["w"] + DRIFT["value"]
    return tensors, {"norm": metrics["norm"] + DRIFT["value"]}


def nan_train(config):
    return {"w": torch.tensor([float("nan")])}, {}


def list_train(config):
    return {"w": [1.0, 2.0]}, {}


def counting_train(config):
    counting_train.calls += 1
    return tiny_train(config)


counting_train.calls = 0


#: What these tests record as a recipe: the toy training functions here have no steps to shorten, and recipes are
#: tested on their own in tests/test_recipes.py.
TOY_RECIPE = {"sources": {}, "data": {}, "torch": torch.__version__.split("+")[0], "short_steps": 0}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("RETRAIN", raising=False)
    monkeypatch.setattr(checkpoints, "learn_recipe", lambda fn_path, config: dict(TOY_RECIPE))


@pytest.fixture
def trained(tmp_path: Path) -> checkpoints.Checkpoint:
    return load_or_train("tiny", CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path)


# --------------------------------------------------------------------------------------------- round trip


def test_train_then_load_returns_equal_tensors(tmp_path, trained):
    assert trained.trained_now is True
    loaded = load_or_train("tiny", CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path)
    assert loaded.trained_now is False
    assert set(loaded.tensors) == {"w", "b", "steps"}
    for key, value in trained.tensors.items():
        assert loaded.tensors[key].dtype == value.dtype
        assert torch.equal(loaded.tensors[key], value)
    expected, metrics = tiny_train(CONFIG)
    assert torch.equal(loaded.tensors["w"], expected["w"])
    assert loaded.metrics == metrics == trained.metrics
    assert loaded.config == CONFIG


def test_cached_checkpoint_is_not_retrained(tmp_path):
    counting_train.calls = 0
    for _ in range(3):
        load_or_train("counted", CONFIG, counting_train, tolerances=TOLERANCES, root=tmp_path)
    assert counting_train.calls == 1


def test_manifest_describes_the_checkpoint(tmp_path, trained):
    entry = read_manifest(tmp_path)["tiny"]
    blob = (tmp_path / "tiny.safetensors").read_bytes()
    assert entry["file"] == "tiny.safetensors"
    assert entry["sha256"] == hashlib.sha256(blob).hexdigest()
    assert entry["config"] == CONFIG
    assert entry["metrics"] == trained.metrics
    assert entry["tolerances"] == TOLERANCES
    assert entry["train_fn"] == f"{tiny_train.__module__}:tiny_train"
    assert entry["platform"] == compute_platform()
    assert entry["platform"]["torch"] == torch.__version__.split("+")[0]
    assert "chaotic" not in entry
    # the manifest is valid, sorted JSON
    text = (tmp_path / "manifest.json").read_text()
    assert json.loads(text) == read_manifest(tmp_path)


def test_manifest_keeps_other_entries(tmp_path, trained):
    load_or_train("other", {"n": 2, "seed": 1}, tiny_train, tolerances=TOLERANCES, root=tmp_path)
    assert sorted(read_manifest(tmp_path)) == ["other", "tiny"]
    assert load("tiny", root=tmp_path).config == CONFIG


def test_read_manifest_of_empty_folder_is_empty(tmp_path):
    assert read_manifest(tmp_path) == {}


def test_config_tuples_compare_equal_to_lists(tmp_path):
    load_or_train("tup", {"sizes": (2, 3)}, tiny_train_sizes, tolerances=TOLERANCES, root=tmp_path)
    again = load_or_train("tup", {"sizes": [2, 3]}, tiny_train_sizes, tolerances=TOLERANCES, root=tmp_path)
    assert again.trained_now is False


def tiny_train_sizes(config):
    return tiny_train({"n": config["sizes"][0], "seed": 0})


# --------------------------------------------------------------------------------------------- no pickle


def test_file_is_safetensors_header_then_json(tmp_path, trained):
    blob = (tmp_path / "tiny.safetensors").read_bytes()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + header_len])
    assert header["w"]["dtype"] == "F32" and header["w"]["shape"] == [4, 3]
    assert header["b"]["dtype"] == "F64"
    assert not blob.startswith(b"\x80")  # a pickle stream would start with the PROTO opcode


def test_load_never_unpickles(tmp_path, trained, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("load must not unpickle")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    loaded = load("tiny", root=tmp_path)
    assert torch.equal(loaded.tensors["w"], trained.tensors["w"])


# --------------------------------------------------------------------------------------------- corruption


def test_corrupted_byte_fails_with_clear_error(tmp_path, trained):
    path = tmp_path / "tiny.safetensors"
    blob = bytearray(path.read_bytes())
    blob[-5] ^= 0x01  # one bit of one byte, inside the tensor data
    path.write_bytes(bytes(blob))
    with pytest.raises(ChecksumMismatch) as info:
        load_or_train("tiny", CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path)
    message = str(info.value)
    assert "checkpoint 'tiny'" in message
    assert "corrupted" in message
    assert "git checkout -- data/checkpoints/tiny.safetensors" in message
    assert "make retrain NAME=tiny" in message
    with pytest.raises(ChecksumMismatch, match=re.escape("checkpoint 'tiny'")):
        load("tiny", root=tmp_path)


def test_file_that_hashes_right_but_does_not_parse(tmp_path, trained):
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(b"not a safetensors file")
    manifest = read_manifest(tmp_path)
    manifest["tiny"]["sha256"] = hashlib.sha256(b"not a safetensors file").hexdigest()
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ChecksumMismatch, match="not a valid safetensors file"):
        load("tiny", root=tmp_path)


def test_unknown_name_raises_missing(tmp_path, trained):
    with pytest.raises(MissingCheckpoint, match="no checkpoint named 'nope'.*make execute"):
        load("nope", root=tmp_path)


def test_file_missing_but_listed_raises_on_load(tmp_path, trained):
    (tmp_path / "tiny.safetensors").unlink()
    with pytest.raises(MissingCheckpoint, match="missing although the manifest lists it.*make retrain NAME=tiny"):
        load("tiny", root=tmp_path)


# --------------------------------------------------------------------------------------------- refusals


def test_config_mismatch_names_the_key(tmp_path, trained):
    with pytest.raises(ConfigMismatch, match=r"'tiny'.*n: cached 4 vs asked 5.*RETRAIN=1") as info:
        load_or_train("tiny", {"n": 5, "seed": 0}, tiny_train, tolerances=TOLERANCES, root=tmp_path)
    assert "seed" not in str(info.value)


def test_config_mismatch_on_added_key(tmp_path, trained):
    with pytest.raises(ConfigMismatch, match="extra: cached None vs asked 1"):
        load_or_train("tiny", {**CONFIG, "extra": 1}, tiny_train, tolerances=TOLERANCES, root=tmp_path)


def test_missing_in_ci_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(MissingCheckpoint, match=r"'tiny'.*CI does not train.*`make"):
        load_or_train("tiny", CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path)
    assert not (tmp_path / "tiny.safetensors").exists()


def test_ci_false_still_trains(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "false")
    assert load_or_train("tiny", CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path).trained_now


def test_ci_loads_an_existing_cache(tmp_path, trained, monkeypatch):
    monkeypatch.setenv("CI", "1")
    assert load_or_train("tiny", CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path).trained_now is False


def test_retrain_variable_retrains_even_with_new_config(tmp_path, trained, monkeypatch):
    monkeypatch.setenv("RETRAIN", "1")
    again = load_or_train("tiny", CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path)
    assert again.trained_now is True
    new = load_or_train("tiny", {"n": 2, "seed": 0}, tiny_train, tolerances=TOLERANCES, root=tmp_path)
    assert new.trained_now is True and new.tensors["w"].shape == (2, 3)
    monkeypatch.delenv("RETRAIN")
    assert read_manifest(tmp_path)["tiny"]["config"] == {"n": 2, "seed": 0}
    assert load("tiny", root=tmp_path).tensors["w"].shape == (2, 3)


def test_lambda_train_fn_raises(tmp_path):
    with pytest.raises(ValueError, match="top-level function"):
        load_or_train("tiny", CONFIG, lambda c: tiny_train(c), tolerances=TOLERANCES, root=tmp_path)


def test_nested_train_fn_raises(tmp_path):
    def nested(config):
        return tiny_train(config)

    with pytest.raises(ValueError, match="top-level function"):
        load_or_train("tiny", CONFIG, nested, tolerances=TOLERANCES, root=tmp_path)
    assert not (tmp_path / "manifest.json").exists()


def test_train_fn_that_does_not_import_back_raises():
    def impostor(config):
        return tiny_train(config)

    impostor.__qualname__ = "tiny_train"  # claims to be tiny_train, but is another object
    with pytest.raises(ValueError, match="does not import back"):
        train_fn_path(impostor)


def test_train_fn_path_of_the_book_function():
    from helpers.workbench import train_digits_mlp

    assert train_fn_path(train_digits_mlp) == "helpers.workbench:train_digits_mlp"


def test_missing_tolerance_raises_and_saves_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"tolerance for every metric.*missing: \['norm'\]"):
        load_or_train("tiny", CONFIG, tiny_train, tolerances={}, root=tmp_path)
    assert not any(tmp_path.iterdir())


def test_tolerance_for_unknown_metric_raises(tmp_path):
    with pytest.raises(ValueError, match=r"does not return: \['acc'\]"):
        load_or_train("tiny", CONFIG, tiny_train, tolerances={**TOLERANCES, "acc": 0.1}, root=tmp_path)


def test_non_finite_weights_raise(tmp_path):
    with pytest.raises(ValueError, match="non-finite values in 'w'"):
        load_or_train("bad", {}, nan_train, tolerances={}, root=tmp_path)


def test_non_tensor_weights_raise(tmp_path):
    with pytest.raises(TypeError, match="'w' of type list"):
        load_or_train("bad", {}, list_train, tolerances={}, root=tmp_path)


@pytest.mark.parametrize("name", ["", "has space", "../escape", "dot.ted", 3])
def test_bad_names_raise(tmp_path, name):
    with pytest.raises(ValueError, match="letters, digits and underscores"):
        load_or_train(name, CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path)


@pytest.mark.parametrize("config", [{"f": object()}, {"x": float("nan")}, [("n", 4)]])
def test_non_json_config_raises(tmp_path, config):
    with pytest.raises(TypeError, match="config must be"):
        load_or_train("tiny", config, tiny_train, tolerances=TOLERANCES, root=tmp_path)


# --------------------------------------------------------------------------------------------- retrain


def test_retrain_of_deterministic_fn_reproduces_the_cache(tmp_path, trained):
    sha = read_manifest(tmp_path)["tiny"]["sha256"]
    report = retrain("tiny", root=tmp_path)
    assert report.max_weight_deviation == 0.0
    assert report.failures == []
    assert report.new_metrics == report.cached_metrics == trained.metrics
    assert "ok" in str(report) and "OUT OF TOLERANCE" not in str(report)
    retrain("tiny", root=tmp_path, save=True)
    assert read_manifest(tmp_path)["tiny"]["sha256"] == sha  # byte-identical on re-save


def test_retrain_lists_metrics_beyond_tolerance(tmp_path, monkeypatch):
    load_or_train("drift", CONFIG, drifting_train, tolerances={"norm": 0.1}, root=tmp_path)
    monkeypatch.setitem(DRIFT, "value", 0.5)
    report = retrain("drift", root=tmp_path)
    assert report.max_weight_deviation > 0
    assert len(report.failures) == 2
    assert report.failures[0].startswith("norm: cached")
    assert "tolerance 0.1" in report.failures[0]
    assert report.failures[1].startswith("weights: max relative deviation")  # same platform: weights must match
    assert "OUT OF TOLERANCE" in str(report)
    # without save the cache is untouched
    assert load("drift", root=tmp_path).metrics == report.cached_metrics


def _other_platform() -> dict[str, str]:
    """A platform that differs from this machine's, whatever this machine is (an AMD AVX2 host included)."""
    here = compute_platform()
    return {**here, "cpu_vendor": f"not {here['cpu_vendor']}", "cpu_capability": f"not {here['cpu_capability']}"}


def test_retrain_within_tolerance_passes_on_another_platform(tmp_path, monkeypatch):
    """Weights 0.05 off (w has entries up to ~2): metrics within 0.1, weights well inside the other-platform bound."""
    load_or_train("drift", CONFIG, drifting_train, tolerances={"norm": 0.1}, root=tmp_path)
    monkeypatch.setitem(DRIFT, "value", 0.05)
    tensors, metrics, _ = retrain_tensors("drift", root=tmp_path)
    report = judge_retraining("drift", tensors, metrics, root=tmp_path, platform=_other_platform())
    assert not report.same_platform and report.weight_bound == checkpoints.OTHER_PLATFORM_WEIGHT_BOUND
    assert report.failures == []
    assert 0.01 < report.max_weight_deviation < 0.05
    same = judge_retraining("drift", tensors, metrics, root=tmp_path)
    assert same.same_platform and [f.split(":")[0] for f in same.failures] == ["weights"]


def test_weight_deviation_is_relative_to_the_largest_cached_entry():
    old = {"a": torch.tensor([4.0, -2.0]), "b": torch.tensor([1.0])}
    new = {"a": torch.tensor([4.0, -1.0]), "b": torch.tensor([1.5])}
    assert checkpoints._weight_deviation(new, old) == pytest.approx(0.5)  # max(1/4, 0.5/1)
    assert checkpoints._weight_deviation({"a": old["a"]}, old) == float("inf")
    assert checkpoints._weight_deviation({**old, "b": torch.ones(2)}, old) == float("inf")


# A chaotic toy: the same predictions from weights that differ entirely (sign flips of w leave |x·w| unchanged).
PROBE = torch.randn(200, 4, generator=torch.Generator().manual_seed(1))


def toy_predict(tensors, config):
    """Predicted class of 200 fixed inputs: the largest |x·w| of the three columns."""
    return (PROBE[:, : config["n"]] @ tensors["w"]).abs().argmax(-1)


CHAOTIC = checkpoints.Chaotic(toy_predict, min_agreement=0.99)


def test_chaotic_model_on_another_platform_is_judged_by_behaviour(tmp_path):
    cached = load_or_train("chaos", CONFIG, tiny_train, tolerances=TOLERANCES, chaotic=CHAOTIC, root=tmp_path)
    entry = read_manifest(tmp_path)["chaos"]
    assert entry["chaotic"] == {"predict_fn": f"{__name__}:toy_predict", "min_agreement": 0.99}
    flipped = {**cached.tensors, "w": -cached.tensors["w"]}  # entirely other weights, same function
    other = judge_retraining("chaos", flipped, cached.metrics, root=tmp_path, platform=_other_platform())
    assert other.weight_bound is None and other.prediction_agreement == 1.0 and other.failures == []
    assert "agree: 100.00%" in str(other)
    same = judge_retraining("chaos", flipped, cached.metrics, root=tmp_path)
    assert [f.split(":")[0] for f in same.failures] == ["weights"]  # on its own platform the weights must match
    scrambled = {**cached.tensors, "w": cached.tensors["w"][:, [1, 2, 0]]}  # another function
    bad = judge_retraining("chaos", scrambled, cached.metrics, root=tmp_path, platform=_other_platform())
    assert bad.prediction_agreement < 0.5
    assert [f.split(":")[0] for f in bad.failures] == ["behaviour"]


def test_an_entry_without_platform_counts_as_another_platform(tmp_path, trained):
    manifest = read_manifest(tmp_path)
    del manifest["tiny"]["platform"]
    checkpoints._write_manifest(manifest, tmp_path)
    report = retrain("tiny", root=tmp_path)
    assert not report.same_platform and report.failures == []


def test_retrain_with_save_keeps_the_chaotic_mark(tmp_path):
    load_or_train("chaos", CONFIG, tiny_train, tolerances=TOLERANCES, chaotic=CHAOTIC, root=tmp_path)
    retrain("chaos", root=tmp_path, save=True)
    assert read_manifest(tmp_path)["chaos"]["chaotic"]["predict_fn"].endswith(":toy_predict")


@pytest.mark.parametrize("agreement", [0.0, 1.5, -0.1])
def test_chaotic_needs_an_agreement_in_the_unit_interval(tmp_path, agreement):
    with pytest.raises(ValueError, match="min_agreement"):
        load_or_train("c", CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path,
                      chaotic=checkpoints.Chaotic(toy_predict, agreement))


def test_chaotic_predict_fn_must_be_importable(tmp_path):
    with pytest.raises(ValueError, match="predict_fn .* must be a top-level function"):
        load_or_train("c", CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path,
                      chaotic=checkpoints.Chaotic(lambda t, c: t["w"], 0.9))
    with pytest.raises(TypeError, match="checkpoints.Chaotic"):
        load_or_train("c", CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path, chaotic=toy_predict)


def test_retrain_with_save_replaces_the_cache(tmp_path, monkeypatch):
    load_or_train("drift", CONFIG, drifting_train, tolerances={"norm": 0.1}, root=tmp_path)
    monkeypatch.setitem(DRIFT, "value", 0.5)
    report = retrain("drift", root=tmp_path, save=True)
    reloaded = load("drift", root=tmp_path)
    assert reloaded.metrics == report.new_metrics
    assert retrain("drift", root=tmp_path).max_weight_deviation == 0.0


def test_retrain_of_unknown_checkpoint_raises(tmp_path):
    with pytest.raises(MissingCheckpoint):
        retrain("nope", root=tmp_path)


def test_command_line_lists_verifies_and_refuses_unknown_names(tmp_path, monkeypatch, capsys):
    """`python -m helpers.checkpoints list | verify | retrain NAME` on a data folder of its own ($BOOK_DATA): list
    prints each entry's name, hash prefix, training function and metrics; verify loads each and says ok, and stops
    on a file that no longer matches its hash; retrain refuses a name the manifest does not hold, naming the known."""
    monkeypatch.setenv("BOOK_DATA", str(tmp_path))
    ck = load_or_train("tiny", CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path / "checkpoints")
    entry = checkpoints.read_manifest(tmp_path / "checkpoints")["tiny"]
    assert checkpoints._main(["list"]) == 0
    assert capsys.readouterr().out == f"{'tiny':28s} {entry['sha256'][:12]}  {entry['train_fn']}  {entry['metrics']}\n"
    assert checkpoints._main(["verify"]) == 0
    assert capsys.readouterr().out == "tiny: ok\n"
    with pytest.raises(SystemExit) as stopped:
        checkpoints._main(["retrain", "nope"])
    assert stopped.value.code == 2 and "unknown checkpoints ['nope']; known: ['tiny']" in capsys.readouterr().err
    path = tmp_path / "checkpoints" / entry["file"]
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(checkpoints.ChecksumMismatch):
        checkpoints._main(["verify"])
    assert ck.metrics["norm"] > 0
