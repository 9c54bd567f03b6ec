"""The Makefile's guards, run as a reader runs them: `make` on a Python that is too old stops with a clear message
and creates nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _make(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_a_python_older_than_the_books_stops_make_before_any_venv(tmp_path) -> None:
    """PYTHON_MIN above the running Python stands in for an old Python (3.10 against the book's 3.11)."""
    venv = tmp_path / ".venv"
    run = _make("install", f"PYTHON={sys.executable}", f"VENV={venv}", "PYTHON_MIN=99.0")
    assert run.returncode != 0
    assert "the book needs Python 99.0 or newer" in run.stderr and f"is Python {sys.version_info.major}." in run.stderr
    assert not venv.exists(), "make created an environment with a Python it had refused"


def test_the_running_python_passes_the_books_minimum() -> None:
    run = _make("check-python", f"PYTHON={sys.executable}")
    assert run.returncode == 0, run.stderr


def test_make_lab_opens_the_learners_copies_and_the_full_chapters_a_flag_away() -> None:
    """`make lab` writes the learners' copies first (never overwriting an edited one: tests/test_student.py) and
    opens JupyterLab on them; `make lab FULL=1` opens the chapters with their solutions."""
    learner = _make("-n", "lab")
    assert learner.returncode == 0, learner.stderr
    assert "tools.student --out build/student" in learner.stdout
    assert "--ServerApp.root_dir=build/student" in learner.stdout
    full = _make("-n", "lab", "FULL=1")
    assert "tools.student" not in full.stdout and "--ServerApp.root_dir=. " in full.stdout
