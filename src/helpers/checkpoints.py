"""Cached weights: train once, commit the result, load it with a hash check everywhere else.

Each model the book trains is stored as ``data/checkpoints/<name>.safetensors`` (safetensors: no pickle,
byte-identical on re-save) and described by one entry of ``data/checkpoints/manifest.json``:

- ``sha256`` of the file, checked on every load;
- ``train_fn``, the importable training function (``module:function``) and the ``config`` it was called with;
- ``metrics`` measured right after training, and the ``tolerances`` within which a retraining must
  reproduce them (the honest-cache test, ``test_cache_is_honest`` in ``tests/test_committed_artefacts.py``,
  retrains and checks);
- ``platform``, what decided the rounding of the training run (:func:`helpers.runtime.compute_platform`), and, for
  a model whose training is chaotic (grokking, long schedules), ``chaotic``: the function that predicts its held-out
  data and the share of predictions a retraining on another platform must agree on;
- ``recipe`` (:mod:`helpers.recipes`): the sha256 of every file of the book's code the training executed, of every
  data file it read, and the torch version. :func:`stale_caches` compares it with the files as they are now, in a
  second; ``make test`` does so for every cache, and retrains only the fast ones (``make audit`` retrains all).

What a retraining must reproduce (:func:`judge_retraining`):

- on the platform the cache was trained on, the weights themselves, to ``SAME_PLATFORM_WEIGHT_BOUND``;
- on another platform, the weights to ``OTHER_PLATFORM_WEIGHT_BOUND`` when training is not chaotic, or, when it is,
  the behaviour: predictions on held-out data agreeing with the cached model's on at least ``min_agreement``;
- on every platform, the metrics within their tolerances.

``load_or_train(name, config, train_fn)`` loads the cache, or trains when there is none. It refuses, with an
error that says what to run, when the file's hash differs from the manifest, when ``config`` differs from the
one the cache was trained with, or when the file is missing in CI (``CI`` set). ``RETRAIN=1`` retrains.

A training function takes the config dict and returns ``(tensors, metrics)``: a flat ``dict`` of tensors
(a ``state_dict``) and a ``dict`` of float metrics.

Command line::

    python -m helpers.checkpoints list            # what is cached
    python -m helpers.checkpoints verify          # check every hash
    python -m helpers.checkpoints retrain [NAME]  # retrain from the manifest's configs (all when no NAME)
    python -m helpers.checkpoints stale           # the caches whose recipe no longer matches the code
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as _load_bytes
from safetensors.torch import save as _save_bytes

from .paths import checkpoint_dir
from .recipes import Drift, Trace, learn_recipe, recipe_drift, tracing
from .runtime import compute_platform

__all__ = [
    "FAST_TIER_SECONDS",
    "OTHER_PLATFORM_WEIGHT_BOUND",
    "SAME_PLATFORM_WEIGHT_BOUND",
    "Chaotic",
    "Checkpoint",
    "CheckpointError",
    "ChecksumMismatch",
    "ConfigMismatch",
    "MissingCheckpoint",
    "RetrainReport",
    "TrainFn",
    "load",
    "load_or_train",
    "judge_retraining",
    "read_manifest",
    "retrain",
    "retrain_tensors",
    "stale_caches",
    "stale_message",
    "train_fn_path",
]

TrainFn = Callable[[dict[str, Any]], tuple[dict[str, torch.Tensor], dict[str, float]]]
PredictFn = Callable[[dict[str, torch.Tensor], dict[str, Any]], torch.Tensor]
MANIFEST = "manifest.json"

#: Max |retrained − cached| / max |cached| over the tensors, on the platform the cache was trained on. Training runs
#: on one thread with deterministic algorithms, so it repeats there (measured: every cached model within this bound;
#: two retrainings of the similarity model identical), while a cache made elsewhere was caught at 6e-6 and another
#: model of the same shapes is off by more than 1.
SAME_PLATFORM_WEIGHT_BOUND = 1e-6
#: The same measure on another platform, for models whose training is not chaotic: different rounding from the first
#: step on moves their weights a little, not entirely. Measured by retraining every cached model with
#: ``MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default``: 2e-7 (toys) to 7e-3 (MNIST, no noise, weight decay 1), while
#: another model of the same shapes is off by more than 1. The mod-add transformer moved by 1.6 with 100 % equal
#: held-out predictions: it is marked chaotic and judged by behaviour.
OTHER_PLATFORM_WEIGHT_BOUND = 0.1
#: ``make test`` retrains the models whose recorded training time is at most this many seconds (18 of 23, about 4
#: minutes on one core); ``make audit`` retrains every model. Every model's recipe is checked on every run.
FAST_TIER_SECONDS = 60.0


class CheckpointError(RuntimeError):
    """A cached checkpoint cannot be used as it is; the message says what to run."""


class ChecksumMismatch(CheckpointError):
    """The file on disk is not the one the manifest describes."""


class ConfigMismatch(CheckpointError):
    """The chapter asks for a config other than the one the cache was trained with."""


class MissingCheckpoint(CheckpointError):
    """No cached file, in a context (CI) where training is not allowed."""


@dataclass(frozen=True)
class Checkpoint:
    """Weights loaded from (or just written to) the cache, with what the manifest says of them."""

    name: str
    tensors: dict[str, torch.Tensor]
    config: dict[str, Any]
    metrics: dict[str, float]
    trained_now: bool


@dataclass(frozen=True)
class Chaotic:
    """Marks a model whose training is chaotic: on another platform its retraining is judged by behaviour.

    Attributes:
        predict_fn: importable ``(tensors, config) -> labels``, the model's predictions on its held-out data.
        min_agreement: the share of those predictions a retraining must agree on with the cached model.
    """

    predict_fn: PredictFn
    min_agreement: float = 0.995


@dataclass(frozen=True)
class RetrainReport:
    """How a fresh retraining compares with the cached checkpoint (see :func:`judge_retraining`)."""

    name: str
    cached_metrics: dict[str, float]
    new_metrics: dict[str, float]
    tolerances: dict[str, float]
    max_weight_deviation: float  # max |new - cached| / max |cached| over all tensors
    train_seconds: float
    same_platform: bool = True
    weight_bound: float | None = SAME_PLATFORM_WEIGHT_BOUND  # None: weights not compared (chaotic, other platform)
    prediction_agreement: float | None = None  # share of held-out predictions equal to the cached model's
    min_agreement: float | None = None  # required share; None when the model is not marked chaotic

    @property
    def failures(self) -> list[str]:
        """What does not hold: metrics, weights or behaviour (empty when the cache is honest)."""
        bad = []
        for key, tol in self.tolerances.items():
            old, new = self.cached_metrics[key], self.new_metrics.get(key, math.nan)
            if not abs(new - old) <= tol:
                bad.append(f"{key}: cached {old:.4g}, retrained {new:.4g}, tolerance {tol:g}")
        if self.weight_bound is not None and not self.max_weight_deviation <= self.weight_bound:
            where = "the platform it was trained on" if self.same_platform else "another platform"
            bad.append(
                f"weights: max relative deviation {self.max_weight_deviation:.3g} from the cache, above the bound "
                f"{self.weight_bound:g} on {where}"
            )
        if self.min_agreement is not None and not (self.prediction_agreement or 0.0) >= self.min_agreement:
            bad.append(
                f"behaviour: retrained and cached models agree on {self.prediction_agreement:.2%} of held-out "
                f"predictions, below the required {self.min_agreement:.1%}"
            )
        return bad

    def __str__(self) -> str:
        where = "same platform as the cache" if self.same_platform else "another platform than the cache"
        lines = [f"{self.name}: retrained in {self.train_seconds:.0f} s on the {where}, "
                 f"max relative weight deviation {self.max_weight_deviation:.2e}"
                 + ("" if self.weight_bound is None else f" (bound {self.weight_bound:g})")]
        if self.min_agreement is not None:
            lines.append(f"  held-out predictions agree: {self.prediction_agreement:.2%} (≥ {self.min_agreement:.1%})")
        for key, tol in self.tolerances.items():
            old, new = self.cached_metrics[key], self.new_metrics.get(key, math.nan)
            verdict = "ok" if abs(new - old) <= tol else "OUT OF TOLERANCE"
            lines.append(f"  {key}: cached {old:.4f}, retrained {new:.4f} (±{tol:g}) {verdict}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------- helpers


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _canonical(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as JSON would store it (tuples become lists); rejects what JSON cannot hold."""
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    try:
        return json.loads(json.dumps(dict(config), sort_keys=True, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise TypeError(f"config must be JSON-serialisable with finite numbers: {err}") from None


def _sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def _root(root: Path | str | None) -> Path:
    return Path(root) if root is not None else checkpoint_dir()


def read_manifest(root: Path | str | None = None) -> dict[str, dict[str, Any]]:
    """The manifest as a dict ``name -> entry`` (empty when there is none yet)."""
    path = _root(root) / MANIFEST
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def _write_manifest(manifest: Mapping[str, Any], root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    text = json.dumps(dict(sorted(manifest.items())), indent=2, sort_keys=True) + "\n"
    (root / MANIFEST).write_text(text)


def train_fn_path(train_fn: TrainFn, *, what: str = "train_fn") -> str:
    """``module:qualname`` of a training (or prediction) function, checked to import back to the same object."""
    module, qualname = getattr(train_fn, "__module__", None), getattr(train_fn, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        raise ValueError(
            f"{what} {qualname or train_fn!r} must be a top-level function of an importable module "
            "(put it in src/helpers/), so that `make retrain` and the honest-cache test can call it"
        )
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if obj is not train_fn:
        raise ValueError(f"{what} {module}:{qualname} does not import back to the same function")
    return f"{module}:{qualname}"


def _chaotic_entry(chaotic: Chaotic | None) -> dict[str, Any] | None:
    if chaotic is None:
        return None
    if not isinstance(chaotic, Chaotic):
        raise TypeError(f"chaotic must be a checkpoints.Chaotic or None, got {type(chaotic).__name__}")
    if not 0 < chaotic.min_agreement <= 1:
        raise ValueError(f"min_agreement must lie in (0, 1], got {chaotic.min_agreement!r}")
    return {"predict_fn": train_fn_path(chaotic.predict_fn, what="predict_fn"), "min_agreement": chaotic.min_agreement}


def _import_train_fn(path: str) -> TrainFn:
    module, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _check_outputs(name: str, tensors: Any, metrics: Any, tolerances: Mapping[str, float]) -> None:
    if not isinstance(tensors, Mapping) or not tensors:
        raise TypeError(f"train_fn for {name!r} must return a non-empty dict of tensors first")
    for key, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"train_fn for {name!r} returned {key!r} of type {type(value).__name__}")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ValueError(f"train_fn for {name!r} returned non-finite values in {key!r}")
    if not isinstance(metrics, Mapping):
        raise TypeError(f"train_fn for {name!r} must return a dict of metrics second")
    for key, value in metrics.items():
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"metric {key!r} of {name!r} must be a finite number, got {value!r}")
    missing = set(metrics) - set(tolerances)
    if missing:
        raise ValueError(f"state a retraining tolerance for every metric of {name!r}; missing: {sorted(missing)}")
    extra = set(tolerances) - set(metrics)
    if extra:
        raise ValueError(f"tolerances name metrics that {name!r}'s train_fn does not return: {sorted(extra)}")


def _train(name: str, config: dict[str, Any], train_fn: TrainFn, tolerances: Mapping[str, float],
           trace: Trace | None = None):
    start = time.perf_counter()
    recording = nullcontext() if trace is None else tracing(into=trace)
    with torch.enable_grad(), recording:  # chapters may have turned gradients off to read weights
        tensors, metrics = train_fn(dict(config))
    seconds = time.perf_counter() - start
    _check_outputs(name, tensors, metrics, tolerances)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    metrics = {k: float(v) for k, v in metrics.items()}
    return tensors, metrics, seconds


def _save(
    name: str,
    tensors: dict[str, torch.Tensor],
    config: dict[str, Any],
    metrics: dict[str, float],
    tolerances: Mapping[str, float],
    fn_path: str,
    seconds: float,
    root: Path,
    chaotic: dict[str, Any] | None,
    recipe: dict[str, Any],
) -> None:
    blob = _save_bytes(tensors)
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{name}.safetensors").write_bytes(blob)
    manifest = read_manifest(root)
    manifest[name] = {
        "file": f"{name}.safetensors",
        "sha256": _sha256(blob),
        "train_fn": fn_path,
        "config": config,
        "metrics": metrics,
        "tolerances": {k: float(v) for k, v in sorted(tolerances.items())},
        "platform": compute_platform(),
        "train_seconds": round(seconds, 1),
        "recipe": recipe,
    }
    if chaotic is not None:
        manifest[name]["chaotic"] = chaotic
    _write_manifest(manifest, root)


# --------------------------------------------------------------------------------------------- API


def load(name: str, *, root: Path | str | None = None) -> Checkpoint:
    """Load a cached checkpoint after checking its sha256 against the manifest. Never unpickles."""
    root = _root(root)
    manifest = read_manifest(root)
    if name not in manifest:
        raise MissingCheckpoint(
            f"no checkpoint named {name!r} in {root / MANIFEST}. Train it by running its chapter "
            "(`make execute`), then commit data/checkpoints/."
        )
    entry = manifest[name]
    path = root / entry["file"]
    if not path.exists():
        raise MissingCheckpoint(
            f"checkpoint file {path} is missing although the manifest lists it. Restore it with "
            f"`git checkout -- data/checkpoints/{entry['file']}` or retrain with `make retrain NAME={name}`."
        )
    blob = path.read_bytes()
    digest = _sha256(blob)
    if digest != entry["sha256"]:
        raise ChecksumMismatch(
            f"checkpoint {name!r} ({path}) is corrupted or was changed: its sha256 is {digest[:12]}…, "
            f"the manifest says {entry['sha256'][:12]}…. Restore it with "
            f"`git checkout -- data/checkpoints/{entry['file']}` or retrain with `make retrain NAME={name}`."
        )
    try:
        tensors = _load_bytes(blob)
    except Exception as err:  # a file that hashes right but does not parse: manifest written by hand
        raise ChecksumMismatch(f"checkpoint {name!r} ({path}) is not a valid safetensors file: {err}") from None
    return Checkpoint(name, tensors, entry["config"], entry["metrics"], trained_now=False)


def load_or_train(
    name: str,
    config: Mapping[str, Any],
    train_fn: TrainFn,
    *,
    tolerances: Mapping[str, float],
    chaotic: Chaotic | None = None,
    root: Path | str | None = None,
) -> Checkpoint:
    """Load ``name`` from the cache, or train it with ``train_fn(config)`` and cache the result.

    Args:
        name: file stem, letters, digits and underscores (``workbench_mlp``).
        config: JSON-serialisable training config; must equal the cached one.
        train_fn: importable function ``config -> (tensors, metrics)``.
        tolerances: absolute tolerance per metric within which a retraining must reproduce it.
        chaotic: for a model whose training is chaotic, how to compare a retraining by behaviour on another
            platform (recorded in the manifest when the model is trained).
        root: checkpoint folder (default ``data/checkpoints``, or ``$BOOK_DATA/checkpoints``).

    Raises:
        ChecksumMismatch: the cached file is not the one in the manifest.
        ConfigMismatch: ``config`` differs from the cached config (set ``RETRAIN=1`` to retrain).
        MissingCheckpoint: no cache and ``CI`` is set.
    """
    if not isinstance(name, str) or not name.replace("_", "").isalnum():
        raise ValueError(f"checkpoint name must be letters, digits and underscores, got {name!r}")
    config = _canonical(config)
    fn_path = train_fn_path(train_fn)
    chaotic_entry = _chaotic_entry(chaotic)
    root = _root(root)
    entry = read_manifest(root).get(name)
    cached = entry is not None and (root / entry["file"]).exists()
    if cached and not _truthy("RETRAIN"):
        if entry["config"] != config:
            diff = sorted(k for k in set(config) | set(entry["config"]) if config.get(k) != entry["config"].get(k))
            detail = ", ".join(f"{k}: cached {entry['config'].get(k)!r} vs asked {config.get(k)!r}" for k in diff)
            raise ConfigMismatch(
                f"checkpoint {name!r} was trained with another config ({detail}). "
                "Retrain it on purpose with `RETRAIN=1` (for instance `RETRAIN=1 make execute`) and commit "
                "data/checkpoints/, or restore the chapter's config."
            )
        return load(name, root=root)
    if not cached and _truthy("CI") and not _truthy("RETRAIN"):
        raise MissingCheckpoint(
            f"checkpoint {name!r} is not in {root} and CI does not train. Run the chapter locally "
            "(`make execute`) or `make retrain`, and commit data/checkpoints/."
        )
    tensors, metrics, seconds = _train(name, config, train_fn, tolerances)
    _save(name, tensors, config, metrics, tolerances, fn_path, seconds, root, chaotic_entry,
          learn_recipe(fn_path, config))
    return Checkpoint(name, tensors, config, metrics, trained_now=True)


def _weight_deviation(new: Mapping[str, torch.Tensor], old: Mapping[str, torch.Tensor]) -> float:
    """max |new − old| / max |old| over the floating tensors; ``inf`` when names or shapes differ."""
    if set(new) != set(old):
        return math.inf
    deviation = 0.0
    for key, tensor in new.items():
        cached = old[key]
        if tensor.shape != cached.shape:
            return math.inf
        if cached.numel() and cached.is_floating_point():
            scale = cached.abs().max().clamp_min(1e-12)
            deviation = max(deviation, float((tensor - cached).abs().max() / scale))
    return deviation


def judge_retraining(
    name: str,
    tensors: Mapping[str, torch.Tensor],
    metrics: Mapping[str, float],
    *,
    train_seconds: float = math.nan,
    root: Path | str | None = None,
    platform: Mapping[str, str] | None = None,
) -> RetrainReport:
    """Compare a retraining's ``tensors`` and ``metrics`` with the cache of ``name`` (rules in the module's doc).

    Args:
        platform: where the retraining ran; default :func:`helpers.runtime.compute_platform` (here). A test passes
            another one to see the verdict another machine would reach with the same weights.
    """
    root = _root(root)
    cached = load(name, root=root)
    entry = read_manifest(root)[name]
    here = dict(compute_platform() if platform is None else platform)
    same = entry.get("platform") == here
    chaotic = entry.get("chaotic")
    deviation = _weight_deviation(tensors, cached.tensors)
    agreement = None
    if chaotic is not None:
        predict = _import_train_fn(chaotic["predict_fn"])
        with torch.no_grad():
            new_labels, old_labels = predict(dict(tensors), entry["config"]), predict(cached.tensors, entry["config"])
        if new_labels.shape != old_labels.shape or new_labels.numel() == 0:
            raise ValueError(f"{chaotic['predict_fn']} returned labels of shapes {new_labels.shape}, {old_labels.shape}")
        agreement = float((new_labels == old_labels).double().mean())
    if same:
        weight_bound: float | None = SAME_PLATFORM_WEIGHT_BOUND
    else:
        weight_bound = None if chaotic is not None else OTHER_PLATFORM_WEIGHT_BOUND
    return RetrainReport(
        name,
        cached.metrics,
        {k: float(v) for k, v in metrics.items()},
        entry["tolerances"],
        deviation,
        train_seconds,
        same_platform=same,
        weight_bound=weight_bound,
        prediction_agreement=agreement,
        min_agreement=None if chaotic is None else float(chaotic["min_agreement"]),
    )


def retrain_tensors(
    name: str, *, root: Path | str | None = None, trace: Trace | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, float], float]:
    """Retrain ``name`` from scratch with the manifest's config: ``(tensors, metrics, seconds)``, nothing saved.

    With ``trace``, the training runs under :func:`helpers.recipes.tracing`, which records into it the book's files
    the whole training executed and the data it read (to check that the recipe's short run saw them all).
    """
    entry = read_manifest(_root(root)).get(name)
    if entry is None:
        raise MissingCheckpoint(f"no checkpoint named {name!r} in {_root(root) / MANIFEST}")
    return _train(name, entry["config"], _import_train_fn(entry["train_fn"]), entry["tolerances"], trace)


def retrain(name: str, *, root: Path | str | None = None, save: bool = False) -> RetrainReport:
    """Retrain ``name`` from scratch with the manifest's config and judge it against the cache.

    With ``save=True`` the new weights, metrics and platform replace the cached ones (what ``make retrain`` does).
    """
    root = _root(root)
    tensors, metrics, seconds = retrain_tensors(name, root=root)
    report = judge_retraining(name, tensors, metrics, train_seconds=seconds, root=root)
    if save:
        entry = read_manifest(root)[name]
        _save(name, tensors, entry["config"], metrics, entry["tolerances"], entry["train_fn"], seconds, root,
              entry.get("chaotic"), learn_recipe(entry["train_fn"], entry["config"]))
    return report


def stale_caches(root: Path | str | None = None, *, source_dir: Path | str | None = None) -> dict[str, list[Drift]]:
    """The caches whose recipe no longer matches the code and data as they are: ``name -> what changed``.

    A cache without a recipe is stale (``Drift("recipe", name, "missing")``): nothing says what trained it.
    ``source_dir``: the folder holding the ``helpers`` package to compare with (default: the one imported).
    """
    where = {} if source_dir is None else {"source_dir": source_dir}
    stale: dict[str, list[Drift]] = {}
    for name, entry in read_manifest(root).items():
        recipe = entry.get("recipe")
        drift = [Drift("recipe", name, "missing")] if recipe is None else recipe_drift(recipe, **where)
        if drift:
            stale[name] = drift
    return stale


def stale_message(stale: Mapping[str, list[Drift]]) -> str:
    """What :func:`stale_caches` found, a line per cache with the command that brings it up to date."""
    lines = [f"{len(stale)} cached model(s) were trained by code or data that has changed since:"]
    for name, drift in sorted(stale.items()):
        lines.append(f"  {name}: {'; '.join(map(str, drift))} -> make retrain NAME={name}")
    lines.append("Retrain each (the weights come out the same when the change does not touch the arithmetic: "
                 "then only the manifest's recipe changes), review `git diff data/checkpoints`, and commit.")
    return "\n".join(lines)


def _main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m helpers.checkpoints", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list cached checkpoints")
    sub.add_parser("verify", help="check every cached file against its sha256")
    sub.add_parser("stale", help="list the caches whose training code or data changed since they were trained")
    p = sub.add_parser("retrain", help="retrain from the manifest's configs and replace the cache")
    p.add_argument("names", nargs="*", help="checkpoints to retrain (default: all)")
    args = parser.parse_args(argv)
    manifest = read_manifest()
    if args.command == "list":
        for name, entry in manifest.items():
            print(f"{name:28s} {entry['sha256'][:12]}  {entry['train_fn']}  {entry['metrics']}")
        return 0
    if args.command == "verify":
        for name in manifest:
            load(name)
            print(f"{name}: ok")
        return 0
    if args.command == "stale":
        stale = stale_caches()
        print(stale_message(stale) if stale else f"every recipe of {len(manifest)} caches matches the code")
        return 1 if stale else 0
    names = args.names or list(manifest)
    unknown = [n for n in names if n not in manifest]
    if unknown:
        parser.error(f"unknown checkpoints {unknown}; known: {sorted(manifest)}")
    status = 0
    for name in names:
        report = retrain(name, save=True)
        print(report)
        if report.failures:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
