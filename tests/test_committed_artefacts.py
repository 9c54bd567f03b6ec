"""The committed artefacts are honest: cached weights retrain to their recorded metrics, corrupted files and altered
figure references are caught by the chapters themselves."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from helpers import checkpoints

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


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_cache_is_honest(name, monkeypatch):
    """Retraining from scratch reproduces the recorded metrics within the stated tolerances."""
    monkeypatch.setenv("BOOK_PROGRESS", "0")
    report = checkpoints.retrain(name, root=DATA / "checkpoints", save=False)
    print(report)
    assert not report.failures, f"{name}: the cache does not retrain to its metrics: {report.failures}"
    assert report.max_weight_deviation < 1.0, f"{name}: retrained weights differ entirely ({report})"


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
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(chapter.parent)}}).execute()


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
