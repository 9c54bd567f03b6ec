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
from helpers.checkpoints import (
    ChecksumMismatch,
    ConfigMismatch,
    MissingCheckpoint,
    judge_retraining,
    load,
    load_or_train,
    read_manifest,
    retrain,
    retrain_tensors,
    train_fn_path,
)
from helpers.runtime import compute_platform

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
        load_or_train(
            "c",
            CONFIG,
            tiny_train,
            tolerances=TOLERANCES,
            root=tmp_path,
            chaotic=checkpoints.Chaotic(toy_predict, agreement),
        )


def test_chaotic_predict_fn_must_be_importable(tmp_path):
    with pytest.raises(ValueError, match="predict_fn .* must be a top-level function"):
        load_or_train(
            "c",
            CONFIG,
            tiny_train,
            tolerances=TOLERANCES,
            root=tmp_path,
            chaotic=checkpoints.Chaotic(lambda t, c: t["w"], 0.9),
        )
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


# --------------------------------------------------------------------------------------------- exact texts, conventions
# Each test here pins what a reader sees (a refusal's whole sentence, a report line, the command line's output) or a
# convention the manifest keeps (sorted keys, two-space indent, seconds to 0.1 s), so that a typo, a wrong variable in
# a message or a dropped argument fails a test rather than reaching a learner.


class StaticRecipe:
    """A training function reached through a class (``module:StaticRecipe.train``): a dotted qualname."""

    @staticmethod
    def train(config):
        return tiny_train(config)


def test_a_dotted_train_fn_is_recorded_and_imported_back(tmp_path):
    assert train_fn_path(StaticRecipe.train) == f"{__name__}:StaticRecipe.train"
    load_or_train("dotted", CONFIG, StaticRecipe.train, tolerances=TOLERANCES, root=tmp_path)
    tensors, metrics, _ = retrain_tensors("dotted", root=tmp_path)
    assert torch.equal(tensors["w"], tiny_train(CONFIG)[0]["w"]) and metrics == tiny_train(CONFIG)[1]


def test_train_fn_path_refuses_with_whole_sentences():
    import functools

    missing = functools.partial(tiny_train)  # a partial has no __qualname__: it names no function
    with pytest.raises(ValueError) as refused:
        train_fn_path(missing)
    assert str(refused.value) == "train_fn functools: does not import back to the same function"

    def ghost(config):
        return tiny_train(config)

    ghost.__qualname__ = "no_such_function"  # the module has nothing of that name
    with pytest.raises(ValueError) as refused:
        train_fn_path(ghost, what="predict_fn")
    assert str(refused.value) == f"predict_fn {__name__}:no_such_function does not import back to the same function"
    ghost.__module__ = "__main__"
    with pytest.raises(ValueError) as refused:
        train_fn_path(ghost)
    assert str(refused.value) == (
        "train_fn 'no_such_function' must be a top-level function of an importable module (put it in src/helpers/), "
        "so that `make retrain` and the honest-cache test can call it"
    )


@pytest.mark.parametrize(
    "value, truthy",
    [
        ("", False),
        ("0", False),
        ("false", False),
        (" False ", False),
        ("no", False),
        ("NO", False),
        ("1", True),
        ("yes", True),
        ("true", True),
    ],
)
def test_an_environment_switch_is_off_for_empty_0_false_and_no_in_any_case(monkeypatch, value, truthy):
    monkeypatch.setenv("BOOK_TEST_SWITCH", value)
    assert checkpoints._truthy("BOOK_TEST_SWITCH") is truthy


def test_retrain_variable_is_read_by_its_exact_name(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "1")
    monkeypatch.setenv("retrain", "1")  # environment names are case-sensitive on Linux: this is not RETRAIN
    with pytest.raises(MissingCheckpoint) as refused:
        load_or_train("tiny", CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path)
    assert str(refused.value) == (
        f"checkpoint 'tiny' is not in {tmp_path} and CI does not train. Run the chapter locally (`make execute`) or "
        "`make retrain`, and commit data/checkpoints/."
    )
    monkeypatch.setenv("RETRAIN", "1")
    assert load_or_train("tiny", CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path).trained_now


def test_config_is_returned_and_stored_with_sorted_keys(tmp_path):
    first = load_or_train("tiny", {"seed": 0, "n": 4}, tiny_train, tolerances=TOLERANCES, root=tmp_path)
    assert list(first.config) == ["n", "seed"] and first.name == "tiny"
    again = load("tiny", root=tmp_path)
    assert again.name == "tiny" and list(again.config) == ["n", "seed"]
    with pytest.raises(TypeError) as refused:
        load_or_train("tiny", [("n", 4)], tiny_train, tolerances=TOLERANCES, root=tmp_path)
    assert str(refused.value) == "config must be a dict, got list"


def test_manifest_text_is_sorted_two_space_json_in_nested_new_folders(tmp_path):
    root = tmp_path / "a" / "b"  # neither exists yet
    load_or_train("zeta", CONFIG, tiny_train, tolerances=TOLERANCES, root=root)
    load_or_train("alpha", CONFIG, tiny_train, tolerances=TOLERANCES, root=root)
    text = (root / "manifest.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    assert text.index('"alpha"') < text.index('"zeta"') and text.startswith('{\n  "alpha": {\n    "config"')


def slow_train(config):
    """Takes about 60 ms, so that its training time has a first decimal and a second."""
    import time

    time.sleep(0.06)
    return tiny_train(config)


def test_training_time_is_kept_to_a_tenth_of_a_second(tmp_path):
    load_or_train("slow", CONFIG, slow_train, tolerances=TOLERANCES, root=tmp_path)
    seconds = read_manifest(tmp_path)["slow"]["train_seconds"]
    assert seconds >= 0.1 and seconds == round(seconds, 1)  # 0.06 s and a little, to one decimal (not 0.06)


def test_manifest_entry_has_exactly_its_fields_and_the_training_time(tmp_path, monkeypatch):
    import time

    calls = []
    monkeypatch.setattr(
        checkpoints, "learn_recipe", lambda fn_path, config: calls.append((fn_path, config)) or dict(TOY_RECIPE)
    )
    start = time.perf_counter()
    load_or_train("tiny", {"seed": 0, "n": 4}, tiny_train, tolerances=TOLERANCES, root=tmp_path)
    wall = time.perf_counter() - start
    entry = read_manifest(tmp_path)["tiny"]
    assert sorted(entry) == [
        "config",
        "file",
        "metrics",
        "platform",
        "recipe",
        "sha256",
        "tolerances",
        "train_fn",
        "train_seconds",
    ]
    assert entry["recipe"] == TOY_RECIPE and calls == [(f"{__name__}:tiny_train", CONFIG)]
    assert isinstance(entry["train_seconds"], float) and 0.0 <= entry["train_seconds"] <= round(wall, 1) + 0.05
    calls.clear()
    retrain("tiny", root=tmp_path, save=True)
    assert calls == [(f"{__name__}:tiny_train", CONFIG)] and read_manifest(tmp_path)["tiny"]["recipe"] == TOY_RECIPE


def _refusal(error, call) -> str:
    with pytest.raises(error) as refused:
        call()
    return str(refused.value)


def empty_train(config):
    return {}, {}


def metrics_list_train(config):
    return {"w": torch.ones(2)}, [1.0]


def nan_metric_train(config):
    return {"w": torch.ones(2)}, {"norm": float("nan")}


def text_metric_train(config):
    return {"w": torch.ones(2)}, {"norm": "high"}


@pytest.mark.parametrize(
    "train, error, sentence",
    [
        (empty_train, TypeError, "train_fn for 'bad' must return a non-empty dict of tensors first"),
        (list_train, TypeError, "train_fn for 'bad' returned 'w' of type list"),
        (nan_train, ValueError, "train_fn for 'bad' returned non-finite values in 'w'"),
        (metrics_list_train, TypeError, "train_fn for 'bad' must return a dict of metrics second"),
        (nan_metric_train, ValueError, "metric 'norm' of 'bad' must be a finite number, got nan"),
        (text_metric_train, ValueError, "metric 'norm' of 'bad' must be a finite number, got 'high'"),
    ],
)
def test_what_a_train_fn_returns_is_refused_in_a_whole_sentence(tmp_path, train, error, sentence):
    tolerances = {"norm": 1.0} if train in (nan_metric_train, text_metric_train) else {}
    assert (
        _refusal(error, lambda: load_or_train("bad", CONFIG, train, tolerances=tolerances, root=tmp_path)) == sentence
    )
    assert not (tmp_path / "manifest.json").exists()


def test_refusals_of_load_and_config_name_the_cache_in_whole_sentences(tmp_path, trained):
    manifest = tmp_path / "manifest.json"
    assert _refusal(MissingCheckpoint, lambda: load("nope", root=tmp_path)) == (
        f"no checkpoint named 'nope' in {manifest}. Train it by running its chapter (`make execute`), then commit "
        "data/checkpoints/."
    )
    assert _refusal(MissingCheckpoint, lambda: retrain_tensors("nope", root=tmp_path)) == (
        f"no checkpoint named 'nope' in {manifest}"
    )
    asked = {"n": 5, "seed": 0, "extra": 1}
    assert _refusal(
        ConfigMismatch, lambda: load_or_train("tiny", asked, tiny_train, tolerances=TOLERANCES, root=tmp_path)
    ) == (
        "checkpoint 'tiny' was trained with another config (extra: cached None vs asked 1, n: cached 4 vs asked 5). "
        "Retrain it on purpose with `RETRAIN=1` (for instance `RETRAIN=1 make execute`) and commit data/checkpoints/, "
        "or restore the chapter's config."
    )
    path = tmp_path / "tiny.safetensors"
    good = read_manifest(tmp_path)["tiny"]["sha256"]
    path.write_bytes(path.read_bytes()[:-1] + b"\x01")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert _refusal(ChecksumMismatch, lambda: load("tiny", root=tmp_path)) == (
        f"checkpoint 'tiny' ({path}) is corrupted or was changed: its sha256 is {digest[:12]}…, the manifest says "
        f"{good[:12]}…. Restore it with `git checkout -- data/checkpoints/tiny.safetensors` or retrain with "
        "`make retrain NAME=tiny`."
    )


def test_a_name_of_underscores_only_is_refused(tmp_path):
    with pytest.raises(ValueError) as refused:
        load_or_train("_", CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path)
    assert str(refused.value) == "checkpoint name must be letters, digits and underscores, got '_'"


@pytest.mark.parametrize("name", ["a_b", "_9", "x1_"])
def test_underscores_are_allowed_in_names(tmp_path, name):
    assert load_or_train(name, CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path).name == name


def test_an_agreement_of_exactly_one_is_allowed_and_the_chaotic_type_is_named(tmp_path):
    load_or_train(
        "c", CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path, chaotic=checkpoints.Chaotic(toy_predict, 1.0)
    )
    assert read_manifest(tmp_path)["c"]["chaotic"]["min_agreement"] == 1.0
    assert _refusal(
        TypeError, lambda: load_or_train("d", CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path, chaotic=0.9)
    ) == ("chaotic must be a checkpoints.Chaotic or None, got float")


def empty_predict(tensors, config):
    return torch.zeros(0, dtype=torch.long)


def one_predict(tensors, config):
    return tensors["w"][:1, 0].sign().long()


def test_a_prediction_of_one_label_is_judged_and_of_none_refused(tmp_path):
    one = load_or_train(
        "one", CONFIG, tiny_train, tolerances=TOLERANCES, root=tmp_path, chaotic=checkpoints.Chaotic(one_predict, 0.5)
    )
    report = judge_retraining("one", one.tensors, one.metrics, root=tmp_path)
    assert report.prediction_agreement == 1.0 and report.min_agreement == 0.5
    none = load_or_train(
        "none",
        CONFIG,
        tiny_train,
        tolerances=TOLERANCES,
        root=tmp_path,
        chaotic=checkpoints.Chaotic(empty_predict, 0.5),
    )
    assert _refusal(ValueError, lambda: judge_retraining("none", none.tensors, none.metrics, root=tmp_path)) == (
        f"{__name__}:empty_predict returned labels of shapes torch.Size([0]), torch.Size([0])"
    )


def test_retraining_a_cache_whose_recipe_now_fails_names_the_cache(tmp_path, trained):
    manifest = read_manifest(tmp_path)
    manifest["tiny"]["train_fn"] = f"{__name__}:nan_train"
    checkpoints._write_manifest(manifest, tmp_path)
    with pytest.raises(ValueError) as refused:
        retrain_tensors("tiny", root=tmp_path)
    assert str(refused.value) == "train_fn for 'tiny' returned non-finite values in 'w'"


def test_a_model_not_marked_chaotic_has_no_agreement_and_keeps_its_training_time(tmp_path, trained):
    report = judge_retraining("tiny", trained.tensors, trained.metrics, root=tmp_path, train_seconds=3.0)
    assert report.prediction_agreement is None and report.min_agreement is None and report.train_seconds == 3.0
    assert retrain("tiny", root=tmp_path).train_seconds >= 0.0


PROFILER_SEEN = []


def reading_train(config):
    """Reads a data file (which a trace records) and notes whether a profiler (the trace's) watched the training."""
    import sys

    PROFILER_SEEN.append(sys.getprofile() is not None)
    Path(config["path"]).read_bytes()
    return tiny_train(config)


def test_retrain_tensors_traces_only_when_given_a_trace(tmp_path):
    from helpers.recipes import Trace

    data = tmp_path / "input.bin"
    data.write_bytes(b"data")
    load_or_train("reads", {**CONFIG, "path": str(data)}, reading_train, tolerances=TOLERANCES, root=tmp_path)
    PROFILER_SEEN.clear()
    trace = Trace()
    retrain_tensors("reads", root=tmp_path, trace=trace)
    assert trace.data == {data.resolve()}
    retrain_tensors("reads", root=tmp_path)
    assert PROFILER_SEEN == [True, False]


def test_weight_deviation_scales_by_the_largest_cached_value_below_one_and_skips_integers():
    old = {"a": torch.tensor([0.5, -0.25]), "i": torch.tensor([1, 2])}
    new = {"a": torch.tensor([0.6, -0.25]), "i": torch.tensor([7, 9])}
    assert checkpoints._weight_deviation(new, old) == pytest.approx(0.2)  # 0.1 / 0.5; the integers are not weights
    zero = {"a": torch.zeros(2)}
    assert checkpoints._weight_deviation({"a": torch.full((2,), 1e-13)}, zero) == pytest.approx(0.1)  # floor 1e-12


def test_retrain_report_reads_as_a_sentence_per_metric():
    report = checkpoints.RetrainReport(
        "m",
        {"acc": 0.5, "loss": 0.5},
        {"acc": 0.75},
        {"acc": 0.25, "loss": 1.0},
        2e-7,
        12.4,
        same_platform=True,
        weight_bound=1e-6,
    )  # acc: exactly at its tolerance
    assert str(report) == (
        "m: retrained in 12 s on the same platform as the cache, max relative weight deviation 2.00e-07 (bound 1e-06)\n"
        "  acc: cached 0.5000, retrained 0.7500 (±0.25) ok\n"
        "  loss: cached 0.5000, retrained nan (±1) OUT OF TOLERANCE"
    )
    other = checkpoints.RetrainReport(
        "m",
        {"acc": 0.9},
        {"acc": 0.9},
        {"acc": 0.0},
        0.3,
        1.0,
        same_platform=False,
        weight_bound=None,
        prediction_agreement=0.995,
        min_agreement=0.99,
    )
    assert str(other) == (
        "m: retrained in 1 s on the another platform than the cache, max relative weight deviation 3.00e-01\n"
        "  held-out predictions agree: 99.50% (≥ 99.0%)\n"
        "  acc: cached 0.9000, retrained 0.9000 (±0) ok"
    )


def test_stale_caches_and_their_command_line(tmp_path, monkeypatch, capsys):
    from helpers.recipes import Drift

    monkeypatch.setenv("BOOK_DATA", str(tmp_path))
    root = tmp_path / "checkpoints"
    load_or_train("fresh", CONFIG, tiny_train, tolerances=TOLERANCES, root=root)
    assert checkpoints.stale_caches(root) == {}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "manifest.json").write_text(json.dumps({"lost": {"file": "lost.safetensors"}}))
    assert list(checkpoints.stale_caches(elsewhere)) == ["lost"]  # the folder given, not the book's
    assert checkpoints._main(["stale"]) == 0
    assert capsys.readouterr().out == "every recipe of 1 caches matches the code\n"
    (tmp_path / "pkg" / "helpers").mkdir(parents=True)
    (tmp_path / "pkg" / "helpers" / "extra.py").write_text("x = 1\n")
    manifest = read_manifest(root)
    recipe = {**TOY_RECIPE, "sources": {"helpers/extra.py": hashlib.sha256(b"x = 1\n").hexdigest()}}
    manifest["fresh"]["recipe"] = recipe
    manifest["old"] = {"file": "old.safetensors"}
    checkpoints._write_manifest(manifest, root)
    assert checkpoints.stale_caches(root, source_dir=tmp_path / "pkg") == {"old": [Drift("recipe", "old", "missing")]}
    stale = checkpoints.stale_caches(root)  # the imported package has no helpers/extra.py
    assert stale == {
        "fresh": [Drift("source", "helpers/extra.py", "missing")],
        "old": [Drift("recipe", "old", "missing")],
    }
    expected = (
        "2 cached model(s) were trained by code or data that has changed since:\n"
        "  fresh: source helpers/extra.py missing -> make retrain NAME=fresh\n"
        "  old: recipe old missing -> make retrain NAME=old\n"
        "Retrain each (the weights come out the same when the change does not touch the arithmetic: then only the "
        "manifest's recipe changes), review `git diff data/checkpoints`, and commit."
    )
    assert checkpoints.stale_message(stale) == expected
    assert (
        checkpoints.stale_message({"x": [Drift("source", "a", "changed"), Drift("data", "b", "missing")]}).split("\n")[
            1
        ]
        == "  x: source a changed; data b missing -> make retrain NAME=x"
    )
    assert checkpoints._main(["stale"]) == 1
    assert capsys.readouterr().out == expected + "\n"


def test_command_line_help_names_every_command(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # argparse wraps help at the terminal's width
    with pytest.raises(SystemExit) as stopped:
        checkpoints._main(["--help"])
    out = capsys.readouterr().out
    assert stopped.value.code == 0 and out.startswith("usage: python -m helpers.checkpoints [-h]")
    assert out.split("\n\n")[1] == checkpoints.__doc__.split("\n")[0]  # the docstring's first line, alone
    for line in [
        "list                list cached checkpoints",
        "verify              check every cached file against its sha256",
        "stale               list the caches whose training code or data changed since they were trained",
        "retrain             retrain from the manifest's configs and replace the cache",
    ]:
        assert line in out
    with pytest.raises(SystemExit) as stopped:
        checkpoints._main(["retrain", "--help"])
    out = capsys.readouterr().out
    assert stopped.value.code == 0 and re.search(r"\n  names +checkpoints to retrain \(default: all\)\n", out)
    assert out.startswith("usage: python -m helpers.checkpoints retrain [-h] [names ...]")
    with pytest.raises(SystemExit) as stopped:
        checkpoints._main([])
    assert stopped.value.code == 2 and "the following arguments are required: command" in capsys.readouterr().err


def test_command_line_retrains_all_or_the_named_and_fails_on_a_drift(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BOOK_DATA", str(tmp_path))
    root = tmp_path / "checkpoints"
    for name in ("one", "two"):
        load_or_train(name, CONFIG, drifting_train, tolerances=TOLERANCES, root=root)
    before = {n: e["sha256"] for n, e in read_manifest(root).items()}
    assert checkpoints._main(["retrain", "two"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("two: retrained in ") and "one:" not in out and out.endswith(" ok\n")
    DRIFT["value"] = 0.5
    try:
        assert checkpoints._main(["retrain"]) == 1
    finally:
        DRIFT["value"] = 0.0
    out = capsys.readouterr().out
    assert out.count("OUT OF TOLERANCE") == 2 and out.index("one:") < out.index("two:")
    after = {n: e["sha256"] for n, e in read_manifest(root).items()}
    assert all(after[n] != before[n] for n in before)  # saved: the command replaces the cache
