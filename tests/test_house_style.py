"""The house style as a tool (ruff, configured in pyproject.toml; `make lint`, which `make test` runs).

The formatter must never touch a training recipe's source (its sha256 is recorded with the cached weights), so the
list it leaves alone is the manifest's own; and the linter, with the book's configuration, fails on the kind of
defect it is there for.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]


def _ruff() -> str:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("ruff is not installed: `pip install -e '.[dev]'` (make test does).", pytrace=False)
    return found


def test_the_formatter_leaves_every_recipe_source_alone_and_nothing_else() -> None:
    manifest = json.loads((ROOT / "data" / "checkpoints" / "manifest.json").read_text())
    recipes = {f"src/{source}" for entry in manifest.values() for source in entry["recipe"]["sources"]}
    excluded = set(CONFIG["format"]["exclude"])
    assert excluded == recipes, f"not excluded: {sorted(recipes - excluded)}; no recipe: {sorted(excluded - recipes)}"
    waived = {path for path in CONFIG["lint"]["per-file-ignores"] if path.startswith("src/")}
    assert waived == recipes


def test_the_linter_fails_on_an_unused_import_and_a_long_line(tmp_path) -> None:
    """The book's configuration, on a file with the defects it is for, and on the same file mended."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bad = tmp_path / "tools" / "bad.py"
    bad.parent.mkdir()
    bad.write_text("import os\n\nx = '" + "y" * 130 + "'\n")
    run = subprocess.run([_ruff(), "check", "--no-cache", "."], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 1 and "F401" in run.stdout and "E501" in run.stdout, run.stdout
    bad.write_text('x = "y"\n')
    run = subprocess.run([_ruff(), "check", "--no-cache", "."], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout
    unformatted = subprocess.run(
        [_ruff(), "format", "--check", "--no-cache", "."], cwd=tmp_path, capture_output=True, text=True
    )
    assert unformatted.returncode == 0
    bad.write_text("x = {'a':1}\n")
    unformatted = subprocess.run(
        [_ruff(), "format", "--check", "--no-cache", "."], cwd=tmp_path, capture_output=True, text=True
    )
    assert unformatted.returncode == 1 and "would be reformatted" in unformatted.stdout


def test_a_chapters_code_line_wider_than_the_books_code_column_fails_the_linter(tmp_path) -> None:
    """The book's code column shows about 77 characters: chapters/ruff.toml holds the chapters' code to it.

    A copy of chapter 0 with one code line of 78 characters fails `ruff check` (E501) and the same copy with a line of
    77 passes; the committed chapters pass (make lint), so every line of every chapter fits the column.
    """
    (tmp_path / "chapters").mkdir()
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copy(ROOT / "chapters" / "ruff.toml", tmp_path / "chapters" / "ruff.toml")
    assert tomllib.loads((ROOT / "chapters" / "ruff.toml").read_text())["line-length"] == 77
    chapter = json.loads((ROOT / "chapters" / "00_workbench.ipynb").read_text())
    code = next(
        c for c in chapter["cells"] if c["cell_type"] == "code" and "exercise" not in c["metadata"].get("tags", [])
    )
    for width, fails in ((78, True), (77, False)):
        line = "x = '" + "y" * (width - 6) + "'"
        assert len(line) == width
        cell = dict(code, source=[line + "\n"], outputs=[], execution_count=None)
        (tmp_path / "chapters" / "long.ipynb").write_text(json.dumps(dict(chapter, cells=[cell])))
        run = subprocess.run([_ruff(), "check", "--no-cache", "chapters"], cwd=tmp_path, capture_output=True, text=True)
        assert (run.returncode == 1 and "E501" in run.stdout) == fails, (width, run.stdout)
