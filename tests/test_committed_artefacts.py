"""The committed artefacts are honest: cached weights retrain to their recorded metrics, corrupted files and altered
figure references are caught by the chapters themselves.

Two tiers (``book/setup.md``, "What the honest-cache test proves"): ``make test`` retrains every model whose recorded
training time is at most ``FAST_SECONDS`` and checks the recipe of every model against the code; ``make audit``
(``BOOK_AUDIT=1``) retrains every model.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from helpers import checkpoints, recipes

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
MANIFEST = checkpoints.read_manifest(DATA / "checkpoints")


def test_manifest_lists_every_committed_checkpoint():
    files = {p.name for p in (DATA / "checkpoints").glob("*.safetensors")}
    assert files == {entry["file"] for entry in MANIFEST.values()}


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_committed_checkpoint_matches_its_hash(name):
    ckpt = checkpoints.load(name, root=DATA / "checkpoints")
    assert ckpt.tensors and ckpt.metrics


FAST_SECONDS = checkpoints.FAST_TIER_SECONDS
AUDIT = os.environ.get("BOOK_AUDIT", "").strip() not in ("", "0")
FAST = sorted(name for name, entry in MANIFEST.items() if entry["train_seconds"] <= FAST_SECONDS)


def _retrain_tier(name: str):
    """A parameter that ``make test`` skips, with the reason, when the model is retrained by ``make audit`` only."""
    if AUDIT or name in FAST:
        return name
    seconds = MANIFEST[name]["train_seconds"]
    reason = f"{name} trains in {seconds:.0f} s (> {FAST_SECONDS:.0f} s): retrained by `make audit`; recipe checked"
    return pytest.param(name, marks=pytest.mark.skip(reason=reason))


_RETRAINED: dict[str, tuple[dict, dict, float, recipes.Trace]] = {}


def _retrained(name: str, monkeypatch) -> tuple[dict, dict, float]:
    """Retrain ``name`` from scratch once per test session (the cross-platform tests reuse the honest-cache run),
    recording what the whole training executed and read."""
    if name not in _RETRAINED:
        monkeypatch.setenv("BOOK_PROGRESS", "0")
        trace = recipes.Trace()
        _RETRAINED[name] = (*checkpoints.retrain_tensors(name, root=DATA / "checkpoints", trace=trace), trace)
    return _RETRAINED[name][:3]


def test_recipes_match_the_code():
    """Every cache's recipe matches the code and data as they are now (the fast test that names what to retrain)."""
    stale = checkpoints.stale_caches(DATA / "checkpoints")
    assert not stale, checkpoints.stale_message(stale)


def test_fast_tier_retrains_most_models_within_its_budget():
    """The tier ``make test`` retrains stays about 4 minutes; the rest is named in each skip reason."""
    assert sum(MANIFEST[name]["train_seconds"] for name in FAST) <= 300
    assert len(FAST) >= len(MANIFEST) - 5, sorted(set(MANIFEST) - set(FAST))


def _another_platform() -> dict[str, str]:
    """A platform that differs from every manifest entry's: another vendor, ISA and BLAS code path."""
    return {"machine": "arm64", "cpu_vendor": "0x61", "cpu_capability": "DEFAULT", "blas": "Accelerate", "torch": "x"}


CHAOTIC = sorted(name for name, entry in MANIFEST.items() if "chaotic" in entry)


def test_every_cached_model_records_its_platform():
    for name, entry in MANIFEST.items():
        assert set(entry.get("platform", {})) == {"machine", "cpu_vendor", "cpu_capability", "blas", "torch"}, name


def test_chaotic_models_are_marked_as_their_code_declares():
    from helpers.inversion import decoder, probed
    from helpers.lenses import decoder as lens_decoder
    from helpers.lenses import model as lens_model
    from helpers.lib import modadd

    declared = {
        "modadd_transformer": modadd.MODADD_CHAOTIC,
        "inversion_addition_model": probed.ADDITION_CHAOTIC,
        "inversion_counting_model": probed.COUNTING_CHAOTIC,
        "inversion_addition_decoder": decoder.DECODER_CHAOTIC,
        "lens_modadd_bilinear": modadd.MODADD_CHAOTIC,
        "lens_twin_bilinear": lens_model.TWIN_CHAOTIC,
        "lens_decoder": lens_decoder.LENS_DECODER_CHAOTIC,
    }
    assert CHAOTIC == sorted(declared)
    for name, chaotic in declared.items():
        assert MANIFEST[name]["chaotic"] == checkpoints._chaotic_entry(chaotic), name


@pytest.mark.parametrize("name", [_retrain_tier(name) for name in sorted(MANIFEST)])
def test_cache_is_honest(name, monkeypatch):
    """One retraining from scratch, judged three ways (one test per model, so that each model is retrained once
    whichever worker runs it):

    - here: it reproduces the recorded metrics, and the weights (same platform) or the held-out predictions (another
      platform, chaotic training) of the cache;
    - as a machine of another platform would judge it (chaotic models): by behaviour, and it passes;
    - the recipe's short run (a few steps) recorded every file of the book's code that the whole training executed,
      and every data file it read: what the recipe test does not watch, no training uses.
    """
    tensors, metrics, seconds = _retrained(name, monkeypatch)
    report = checkpoints.judge_retraining(name, tensors, metrics, train_seconds=seconds, root=DATA / "checkpoints")
    print(report)
    assert not report.failures, f"{name}: the cache is not what its training produces: {report.failures}"

    if name in CHAOTIC:
        elsewhere = checkpoints.judge_retraining(
            name, tensors, metrics, root=DATA / "checkpoints", platform=_another_platform()
        )
        assert not elsewhere.same_platform and elsewhere.weight_bound is None, elsewhere
        assert elsewhere.prediction_agreement is not None, elsewhere
        assert elsewhere.prediction_agreement >= elsewhere.min_agreement, elsewhere
        assert not elsewhere.failures, elsewhere.failures

    trace = _RETRAINED[name][3]
    recipe = MANIFEST[name]["recipe"]
    sources = {recipes._source_key(path, [recipes.PACKAGE_DIR]) for path in trace.sources}
    assert sources <= set(recipe["sources"]), f"{name}: the short run missed {sorted(sources - set(recipe['sources']))}"
    data = {recipes._data_key(path) for path in trace.data}
    assert data <= set(recipe["data"]), f"{name}: the short run missed the data {sorted(data - set(recipe['data']))}"


def _swap_in(root: Path, name: str, tensors: dict) -> None:
    """Replace ``name``'s cached weights by ``tensors`` and update the hash, as a careless commit would."""
    from safetensors.torch import save as save_bytes

    blob = save_bytes({k: v.contiguous() for k, v in tensors.items()})
    (root / MANIFEST[name]["file"]).write_bytes(blob)
    manifest = checkpoints.read_manifest(root)
    manifest[name]["sha256"] = checkpoints._sha256(blob)
    checkpoints._write_manifest(manifest, root)


#: The chaotic model the judgement tests swap weights in: the p = 29 twin of chapter 5 (7 s to retrain, so it is in
#: the fast tier), trained by the same code as the mod-add transformer.
SWAPPED = "lens_twin_bilinear"


def _another_modadd_model() -> dict:
    """Another model of the same architecture: the twin as initialised by another seed, untrained."""
    from helpers.lib import modadd

    torch.manual_seed(12345)
    model = modadd.build_model(MANIFEST[SWAPPED]["config"])
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("platform", ["same", "another"])
def test_cache_holding_another_models_weights_fails(platform, tmp_path, monkeypatch):
    """Another model's weights under the cached name fail the judgement: by weights on the same platform, by
    held-out predictions on another."""
    assert SWAPPED in FAST and SWAPPED in CHAOTIC
    root = tmp_path / "checkpoints"
    shutil.copytree(DATA / "checkpoints", root)
    _swap_in(root, SWAPPED, _another_modadd_model())
    tensors, metrics, seconds = _retrained(SWAPPED, monkeypatch)
    where = MANIFEST[SWAPPED]["platform"] if platform == "same" else _another_platform()
    report = checkpoints.judge_retraining(SWAPPED, tensors, metrics, root=root, platform=where)
    expected = "weights" if platform == "same" else "behaviour"
    assert any(f.startswith(expected) for f in report.failures), report.failures


def test_other_platform_weight_bound_catches_another_model(tmp_path, monkeypatch):
    """A non-chaotic model on another platform is judged by its weights, and another model's weights fail."""
    name = "workbench_mlp"
    root = tmp_path / "checkpoints"
    shutil.copytree(DATA / "checkpoints", root)
    tensors, metrics, _ = _retrained(name, monkeypatch)
    torch.manual_seed(12345)
    other = {k: torch.randn_like(v) * v.std() for k, v in tensors.items()}  # same shapes and scale, another model
    _swap_in(root, name, other)
    report = checkpoints.judge_retraining(name, tensors, metrics, root=root, platform=_another_platform())
    assert report.weight_bound == checkpoints.OTHER_PLATFORM_WEIGHT_BOUND
    assert any(f.startswith("weights") for f in report.failures), report.failures
    honest = checkpoints.judge_retraining(
        name, tensors, metrics, root=DATA / "checkpoints", platform=_another_platform()
    )
    assert not honest.failures, honest.failures


@pytest.mark.parametrize("name", sorted(MANIFEST)[:1])
def test_one_corrupted_byte_fails_loading_with_a_clear_error(name, tmp_path):
    root = tmp_path / "checkpoints"
    shutil.copytree(DATA / "checkpoints", root)
    path = root / MANIFEST[name]["file"]
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01  # one bit of one byte in the middle of the weights
    path.write_bytes(bytes(blob))
    with pytest.raises(checkpoints.ChecksumMismatch, match=rf"{name}.*corrupted.*git checkout"):
        checkpoints.load(name, root=root)


def _execute(chapter: Path, data_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("BOOK_DATA", str(data_dir))
    monkeypatch.setenv("BOOK_PROGRESS", "0")
    monkeypatch.delenv("BOOK_REFERENCES", raising=False)
    nb = nbformat.read(chapter, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(chapter.parent)}}
    ).execute()


def test_altered_figure_reference_fails_the_chapter_and_names_the_figure(tmp_path, monkeypatch):
    """Change one value of one committed reference: executing the chapter must fail on that figure."""
    chapter = ROOT / "chapters" / "00_workbench.ipynb"
    data_dir = tmp_path / "data"
    shutil.copytree(DATA, data_dir)
    path = data_dir / "references" / "00_workbench" / "pca.npz"
    with np.load(path) as stored:
        arrays = {k: stored[k].copy() for k in stored.files}
    arrays["coords"][5, 1] += 0.5  # one value, far beyond the figure's tolerance
    np.savez_compressed(path, **arrays)
    with pytest.raises(CellExecutionError) as failure:
        _execute(chapter, data_dir, monkeypatch)
    message = str(failure.value)
    assert "FigureMismatch" in message and "figure 'pca'" in message and "'coords'" in message, message[-2000:]
    assert "largest deviation 0.5" in message, message[-2000:]
