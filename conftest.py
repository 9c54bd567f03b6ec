"""How `make test` spreads its work over the machine's cores (pytest-xdist, ``--dist loadfile``).

pytest-xdist sends whole files to a worker: a chapter's nbval cells stay together (one kernel runs the notebook top to
bottom), the honest-cache tests share their retrainings, and a module that starts a browser or a JupyterLab starts it
once. This file orders the files so that the longest go out first — the chapters by their time in
``data/bench.json``, the retraining module by the recorded training time of the models it retrains — and no worker is
left with a long chapter at the end while the other idles. Each worker runs PyTorch on one thread: two workers share
two cores.

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
        expected.update({f"{row['chapter']}.ipynb": row["seconds"] for row in json.loads(bench.read_text())["chapters"]})
    from helpers.checkpoints import FAST_TIER_SECONDS, read_manifest

    audit = os.environ.get("BOOK_AUDIT", "").strip() not in ("", "0")
    expected[RETRAINING_MODULE] = sum(e["train_seconds"] for e in read_manifest(ROOT / "data" / "checkpoints").values()
                                      if audit or e["train_seconds"] <= FAST_TIER_SECONDS)
    return expected


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest files first, each file's items in their collected order, then every other file as collected."""
    expected = _expected_seconds()

    def order(indexed: tuple[int, pytest.Item]) -> tuple[float, int]:
        index, item = indexed
        return (-expected.get(Path(str(item.fspath)).name, 0.0), index)

    items[:] = [item for _, item in sorted(enumerate(items), key=order)]
