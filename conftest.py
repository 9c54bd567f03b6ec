"""How `make test` and `make audit` spread their work over the machine's cores (pytest-xdist).

pytest-xdist sends whole files to a worker: a chapter's nbval cells stay together (one kernel runs the notebook top to
bottom), the honest-cache tests share their retrainings, and a module that starts a browser or a JupyterLab starts it
once. This file orders the files so that the longest go out first — the chapters by their time in
``data/bench.json``, the retraining module by the recorded training time of the models it retrains — and no worker is
left with a long chapter at the end while the other idles. Each worker runs PyTorch on one thread: two workers share
two cores. ``make audit`` retrains every model, one test per model, with ``--dist worksteal``: the slowest
model starts first on one worker while the other takes the rest, and an idle worker takes over queued tests.

It sits at the repository's root so that it applies to ``chapters/`` as well as ``tests/``.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
RETRAINING_MODULE = "test_committed_artefacts.py"
#: Modules that start a browser or JupyterLab, or execute learner copies: about a minute each.
SLOW_MODULES = {"test_site.py": 60.0, "test_student.py": 60.0, "test_jupyterlab.py": 30.0, "test_page_checks.py": 20.0}


@functools.cache
def _expected_seconds() -> dict[str, float]:
    """Expected wall time of each long file, by file name."""
    expected = dict(SLOW_MODULES)
    bench = ROOT / "data" / "bench.json"
    if bench.exists():
        rows = json.loads(bench.read_text())["chapters"]
        expected.update({f"{row['chapter']}.ipynb": row["seconds"] for row in rows})
    from helpers.checkpoints import FAST_TIER_SECONDS

    audit = os.environ.get("BOOK_AUDIT", "").strip() not in ("", "0")
    expected[RETRAINING_MODULE] = sum(
        seconds for seconds in _train_seconds().values() if audit or seconds <= FAST_TIER_SECONDS
    )
    return expected


@functools.cache
def _train_seconds() -> dict[str, float]:
    """Each cached model's recorded training time, by name."""
    from helpers.checkpoints import read_manifest

    return {name: e["train_seconds"] for name, e in read_manifest(ROOT / "data" / "checkpoints").items()}


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest files first, then every other file as collected; inside a file, the items in their collected
    order, but the retrainings longest first (``make audit`` spreads them test by test, and one slow model must start
    first for the two workers to finish together)."""
    expected = _expected_seconds()
    trainings = _train_seconds()

    def order(indexed: tuple[int, pytest.Item]) -> tuple[float, float, int]:
        index, item = indexed
        name = getattr(item, "callspec", None) and item.callspec.params.get("name")
        return (-expected.get(Path(str(item.fspath)).name, 0.0), -trainings.get(name, 0.0), index)

    items[:] = [item for _, item in sorted(enumerate(items), key=order)]
