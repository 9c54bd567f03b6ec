"""How `make test` spreads its work over the machine's cores (pytest-xdist, ``--dist loadgroup``).

Work that must stay on one worker is put in one group:

- each chapter's nbval cells (one kernel runs the notebook top to bottom);
- the tests that share one retraining of a cached model (``tests/test_committed_artefacts.py`` retrains it once);
- the modules that start a browser or a JupyterLab once for all their tests.

Everything else is spread test by test. The longest groups are sent out first (the chapters by their time in
``data/bench.json``, then the retrainings by their recorded training time), so that no worker is left with a long
chapter at the end while the other idles. Each worker runs PyTorch on one thread: two workers share two cores.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ONE_GROUP_MODULES = {"test_site.py", "test_page_checks.py", "test_jupyterlab.py"}
RETRAINING_MODULE = "test_committed_artefacts.py"


def _chapter_seconds() -> dict[str, float]:
    bench = ROOT / "data" / "bench.json"
    if not bench.exists():
        return {}
    return {row["chapter"]: row["seconds"] for row in json.loads(bench.read_text())["chapters"]}


def _train_seconds() -> dict[str, float]:
    manifest = ROOT / "data" / "checkpoints" / "manifest.json"
    return {name: entry["train_seconds"] for name, entry in json.loads(manifest.read_text()).items()}


def _group(item: pytest.Item, chapters: dict[str, float], trainings: dict[str, float]) -> tuple[str, float] | None:
    """The item's group and the seconds it is expected to take (to order the groups), or None to spread it."""
    path = Path(str(item.fspath))
    if path.suffix == ".ipynb":
        return f"chapter-{path.stem}", chapters.get(path.stem, 60.0)
    if path.name in ONE_GROUP_MODULES:
        return f"module-{path.stem}", 30.0
    if path.name == RETRAINING_MODULE:
        marker = item.get_closest_marker("retrains")
        name = marker.args[0] if marker else getattr(item, "callspec", None) and item.callspec.params.get("name")
        if name in trainings:
            return f"retrain-{name}", trainings[name]
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "retrains(name): the test retrains the cached model `name` (one group per model)")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chapters, trainings = _chapter_seconds(), _train_seconds()
    expected: dict[str, float] = {}
    for item in items:
        group = _group(item, chapters, trainings)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(name=group[0]))
            expected[group[0]] = group[1]

    def order(indexed: tuple[int, pytest.Item]) -> tuple[float, int]:
        index, item = indexed
        marker = item.get_closest_marker("xdist_group")
        return (-expected[marker.kwargs["name"]] if marker else 0.0, index)

    items[:] = [item for _, item in sorted(enumerate(items), key=order)]
