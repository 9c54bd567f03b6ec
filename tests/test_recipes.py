"""helpers.recipes: a cache's recipe names the files its training executed and read, and nothing else.

A toy package is written into a temporary folder: a training function in ``train.py`` that calls ``loop.py`` and reads
a data file, beside ``unused.py`` that no training calls. Its recipe is learned in a fresh process (as the book does),
then files are edited the way a contributor would, and the drift must name exactly what changed.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from helpers import checkpoints, recipes
from helpers.recipes import Drift, learn_recipe, recipe_drift, short_config, tracing

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

LOOP = """\
def run(steps, lr):
    total = 0.0
    for step in range(steps):
        total += lr * (step + 1)
    return total
"""

TRAIN = """\
from pathlib import Path

import torch

from toybook.loop import run

DATA_FILE = Path(__file__).resolve().parents[1] / "toydata" / "points.txt"


def train(config):
    points = [float(x) for x in DATA_FILE.read_text().split()]
    total = run(config["steps"], config["lr"]) + sum(points)
    return {"w": torch.tensor([total])}, {"total": total}
"""

UNUSED = """\
def never_called():
    return 42
"""


@pytest.fixture
def toybook(tmp_path, monkeypatch) -> Path:
    package = tmp_path / "toybook"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "loop.py").write_text(LOOP)
    (package / "train.py").write_text(TRAIN)
    (package / "unused.py").write_text(UNUSED)
    (tmp_path / "toydata").mkdir()
    (tmp_path / "toydata" / "points.txt").write_text("1 2 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "toybook" or m.startswith("toybook.")]:
        monkeypatch.delitem(sys.modules, name)
    return tmp_path


@pytest.fixture
def recipe(toybook) -> dict:
    return learn_recipe("toybook.train:train", {"steps": 1000, "lr": 0.1}, code_roots=[toybook / "toybook"])


def test_short_config_cuts_steps_and_epochs_and_keeps_the_rest():
    assert short_config({"steps": 5000, "lr": 0.1}) == {"steps": recipes.SHORT_STEPS, "lr": 0.1}
    assert short_config({"epochs": 60, "batch_size": 64}) == {"epochs": 1, "batch_size": 64}
    assert short_config({"steps": 1}) == {"steps": 1}  # never lengthened
    with pytest.raises(ValueError, match="needs 'steps' or 'epochs'"):
        short_config({"lr": 0.1})
    with pytest.raises(ValueError, match="at least 1"):
        short_config({"steps": 10}, steps=0)


def test_recipe_holds_the_executed_files_and_the_data_read(recipe, toybook):
    assert sorted(recipe["sources"]) == ["toybook/loop.py", "toybook/train.py"]  # not unused.py, not __init__.py
    assert list(recipe["data"]) == [str((toybook / "toydata" / "points.txt").resolve().relative_to(toybook))]
    assert recipe["torch"] == recipes._torch_version() and recipe["short_steps"] == recipes.SHORT_STEPS
    assert recipe_drift(recipe, source_dir=toybook) == []


def test_a_changed_line_of_the_training_loop_is_named(recipe, toybook):
    loop = toybook / "toybook" / "loop.py"
    loop.write_text(LOOP.replace("lr * (step + 1)", "lr * step"))
    assert recipe_drift(recipe, source_dir=toybook) == [Drift("source", "toybook/loop.py", "changed")]


def test_a_changed_learning_rate_in_a_traced_file_is_named(recipe, toybook):
    train = toybook / "toybook" / "train.py"
    train.write_text(TRAIN.replace('config["lr"]', '0.5 * config["lr"]'))
    assert recipe_drift(recipe, source_dir=toybook) == [Drift("source", "toybook/train.py", "changed")]


def test_a_change_no_training_executes_is_not_named(recipe, toybook):
    (toybook / "toybook" / "unused.py").write_text(UNUSED.replace("42", "43"))
    (toybook / "toybook" / "new_module.py").write_text("X = 1\n")
    assert recipe_drift(recipe, source_dir=toybook) == []


def test_changed_or_missing_data_and_missing_sources_are_named(recipe, toybook):
    (toybook / "toydata" / "points.txt").write_text("1 2 4\n")
    key = next(iter(recipe["data"]))
    assert recipe_drift(recipe, source_dir=toybook) == [Drift("data", key, "changed")]
    (toybook / "toydata" / "points.txt").unlink()
    (toybook / "toybook" / "loop.py").unlink()
    assert recipe_drift(recipe, source_dir=toybook) == [
        Drift("source", "toybook/loop.py", "missing"),
        Drift("data", key, "missing"),
    ]


def test_another_torch_version_is_named(recipe, toybook):
    older = dict(recipe, torch="1.0.0")
    assert recipe_drift(older, source_dir=toybook) == [
        Drift("torch", "1.0.0", f"changed to {recipes._torch_version()}")
    ]


def test_tracing_skips_files_written_and_files_an_import_reads(tmp_path):
    written, read = tmp_path / "out.txt", tmp_path / "in.csv"
    read.write_text("1,2\n")
    module = tmp_path / "reads_at_import.py"
    module.write_text(f"from pathlib import Path\nTEXT = Path({str(tmp_path / 'resource.txt')!r}).read_text()\n")
    (tmp_path / "resource.txt").write_text("a library's own resource\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with tracing([tmp_path]) as trace:
            written.write_text("x")
            read.read_text()
            import reads_at_import  # noqa: F401 - its read happens inside an import
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("reads_at_import", None)
    assert trace.data == {read.resolve()}


def test_learning_a_recipe_that_fails_says_which(toybook):
    with pytest.raises(RuntimeError, match="toybook.train:nothing"):
        learn_recipe("toybook.train:nothing", {"steps": 3}, code_roots=[toybook / "toybook"])


def test_load_or_train_records_the_recipe_and_stale_caches_names_the_cache(toybook, monkeypatch):
    """Through the cache's own API: train, record, edit the loop, and the cache is named with the command to run."""
    root = toybook / "checkpoints"
    import importlib

    train = importlib.import_module("toybook.train").train
    monkeypatch.delenv("CI", raising=False)  # CI refuses to train a missing cache; this test trains on purpose
    monkeypatch.setattr(
        checkpoints, "learn_recipe", lambda fn, config: learn_recipe(fn, config, code_roots=[toybook / "toybook"])
    )
    checkpoints.load_or_train("toy", {"steps": 20, "lr": 0.1}, train, tolerances={"total": 1e-9}, root=root)
    entry = checkpoints.read_manifest(root)["toy"]
    assert sorted(entry["recipe"]["sources"]) == ["toybook/loop.py", "toybook/train.py"]
    assert checkpoints.stale_caches(root, source_dir=toybook) == {}
    (toybook / "toybook" / "loop.py").write_text(LOOP.replace("step + 1", "step + 2"))
    stale = checkpoints.stale_caches(root, source_dir=toybook)
    assert stale == {"toy": [Drift("source", "toybook/loop.py", "changed")]}
    message = checkpoints.stale_message(stale)
    assert "toy: source toybook/loop.py changed -> make retrain NAME=toy" in message


def test_a_cache_without_a_recipe_is_stale(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"old": {"file": "old.safetensors"}}))
    assert checkpoints.stale_caches(tmp_path) == {"old": [Drift("recipe", "old", "missing")]}


# --------------------------------------------------------------------------------------------- the book's caches


def _edited_copy(tmp_path: Path, relative: str, old: str, new: str) -> Path:
    """A copy of the book's package with one line of one file edited; returns the folder that holds ``helpers/``."""
    shutil.copytree(recipes.PACKAGE_DIR, tmp_path / "helpers", ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / "helpers" / relative
    text = path.read_text()
    assert text.count(old) == 1, f"{relative} should hold {old!r} once"
    path.write_text(text.replace(old, new))
    return tmp_path


def _named(source_dir: Path) -> set[str]:
    return set(checkpoints.stale_caches(DATA / "checkpoints", source_dir=source_dir))


def test_the_books_recipes_match_the_code_as_committed():
    assert _named(recipes.PACKAGE_DIR.parent) == set()


def test_a_line_of_the_mod_add_training_loop_names_the_models_it_trains(tmp_path):
    """modadd.py trains three caches, and the lens decoder runs its probed model through it."""
    copy = _edited_copy(tmp_path, "lib/modadd.py", "min(1.0, (step + 1) / warmup)", "min(1.0, step / warmup)")
    assert _named(copy) == {"modadd_transformer", "lens_modadd_bilinear", "lens_twin_bilinear", "lens_decoder"}


def test_a_learning_rate_in_the_workbench_config_names_the_workbench_model(tmp_path):
    copy = _edited_copy(tmp_path, "workbench.py", '"lr": 3e-3', '"lr": 1e-3')
    assert _named(copy) == {"workbench_mlp"}


def test_a_line_no_training_executes_names_no_cache(tmp_path):
    copy = _edited_copy(
        tmp_path,
        "lib/graphs.py",
        "total = torch.zeros(d, d, dtype=torch.float64)",
        "total = torch.zeros(d, d, dtype=torch.float32)",
    )  # LIB's graphs: no training uses them
    assert _named(copy) == set()
