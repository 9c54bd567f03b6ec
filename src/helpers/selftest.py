"""Is this computer ready for the book? One line per check, and what to do when one fails.

    python -m helpers.selftest [--quick]

Run it on each laptop after installing (a workshop's ``install.py`` runs it last). The checks, in order:

1. the Python version the book needs (``requires-python`` of its ``pyproject.toml``);
2. the packages the chapters import, and the book's own helpers, wing by wing;
3. every cached model's weights against the sha256 in their manifest (a truncated copy from a stick fails here);
4. JupyterLab and the extension that renders the chapters' Markdown (jupyterlab-myst);
5. chapter 0's first code cells, run on a fresh kernel up to its first exercise (``--quick`` leaves this out).

Nothing is written: the chapter runs from a temporary copy, and a learner's own copy is never touched. The exit
status is 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from helpers import checkpoints
from helpers.paths import REPO_ROOT

__all__ = ["Check", "MIN_PYTHON", "PACKAGES", "WINGS", "run_checks", "main"]

#: the oldest Python the book runs on (pyproject.toml's requires-python)
MIN_PYTHON = (3, 11)
#: (import name, distribution name) of every package a chapter imports
PACKAGES = (
    ("torch", "torch"),
    ("numpy", "numpy"),
    ("scipy", "scipy"),
    ("sklearn", "scikit-learn"),
    ("mlxtend", "mlxtend"),
    ("matplotlib", "matplotlib"),
    ("safetensors", "safetensors"),
    ("tqdm", "tqdm"),
    ("networkx", "networkx"),
    ("ipywidgets", "ipywidgets"),
    ("ipykernel", "ipykernel"),
)
#: the helpers' method wings, one per chapter
WINGS = (
    "helpers.workbench",
    "helpers.bilinear",
    "helpers.degeneracy",
    "helpers.lib",
    "helpers.inversion",
    "helpers.lenses",
)
#: the chapter whose first cells the self-test runs
FIRST_CHAPTER = "00_workbench"


@dataclass(frozen=True)
class Check:
    """One check's outcome: its name, whether it passed, and a sentence (what was found, or what to do)."""

    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'✓' if self.passed else '✗'} {self.name}: {self.detail}"


def check_python(version: tuple[int, ...] | None = None) -> Check:
    """The interpreter is at least MIN_PYTHON."""
    version = tuple(sys.version_info[:3]) if version is None else tuple(version)
    shown = ".".join(map(str, version))
    if version[:2] >= MIN_PYTHON:
        return Check("Python", True, f"{shown} ({sys.executable})")
    need = ".".join(map(str, MIN_PYTHON))
    return Check("Python", False, f"{shown} is too old: the book needs Python {need} or newer")


def check_packages() -> Check:
    """Every package a chapter imports, and every wing of the helpers, imports."""
    found, missing = [], []
    for module, distribution in PACKAGES:
        try:
            importlib.import_module(module)
            found.append(f"{distribution} {importlib.metadata.version(distribution)}")
        except Exception as err:  # an import can fail with more than ImportError (a broken binary wheel)
            missing.append(f"{distribution} ({type(err).__name__}: {err})")
    for wing in WINGS:
        try:
            importlib.import_module(wing)
        except Exception as err:
            missing.append(f"{wing} ({type(err).__name__}: {err})")
    if missing:
        return Check(
            "packages",
            False,
            "cannot import " + "; ".join(missing) + ". Install the book again (a workshop: run install.py once more)",
        )
    return Check("packages", True, ", ".join(found) + f"; the helpers' {len(WINGS)} wings")


def check_weights(root: Path | None = None) -> Check:
    """Every cached model named in the manifest loads and matches its sha256."""
    names = sorted(checkpoints.read_manifest(root))
    bad = []
    for name in names:
        try:
            checkpoints.load(name, root=root)
        except checkpoints.CheckpointError as err:
            bad.append(f"{name}: {err}")
    if not names:
        return Check("cached weights", False, "the manifest lists no model: the data/ folder is missing or empty")
    if bad:
        return Check("cached weights", False, f"{len(bad)} of {len(names)} do not verify — " + " | ".join(bad))
    return Check("cached weights", True, f"all {len(names)} models match the sha256 in their manifest")


def check_jupyterlab(prefix: Path | None = None) -> Check:
    """JupyterLab imports and jupyterlab-myst's extension is installed where this JupyterLab looks for it."""
    prefix = Path(sys.prefix) if prefix is None else prefix
    try:
        lab = importlib.metadata.version("jupyterlab")
        myst = importlib.metadata.version("jupyterlab-myst")
    except importlib.metadata.PackageNotFoundError as err:
        return Check(
            "JupyterLab",
            False,
            f"{err.name} is not installed: install the book with its `lab` extra (a workshop: install.py does)",
        )
    extension = prefix / "share" / "jupyter" / "labextensions" / "jupyterlab-myst" / "package.json"
    if not extension.exists():
        return Check(
            "JupyterLab", False, f"jupyterlab-myst {myst} is installed but its extension is not in {extension.parent}"
        )
    return Check(
        "JupyterLab",
        True,
        f"JupyterLab {lab} with jupyterlab-myst {myst} (`jupyter labextension list` may call it 'not compatible': "
        "it renders the chapters all the same)",
    )


def _first_cells(notebook: dict) -> list[dict]:
    """The code cells of a chapter before its first exercise."""
    cells = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        if "exercise" in cell.get("metadata", {}).get("tags", []):
            break
        cells.append(cell)
    return cells


def check_first_cells(chapters: Path | None = None, *, timeout: int = 300) -> Check:
    """Chapter 0's code cells up to its first exercise run without error on a fresh kernel of this Python."""
    chapters = REPO_ROOT / "chapters" if chapters is None else chapters
    path = chapters / f"{FIRST_CHAPTER}.ipynb"
    if not path.exists():
        return Check("chapter 0", False, f"{path} is missing")
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError as err:
        return Check("chapter 0", False, f"cannot run a notebook: {err}")
    cells = _first_cells(nbformat.read(path, as_version=4))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c["source"]) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        shutil.copy(path, Path(scratch) / path.name)  # the kernel runs beside a copy: nothing of the learner's moves
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": scratch}})
        try:
            client.execute(stderr=subprocess.DEVNULL)  # the kernel's start-up warnings are not the learner's
        except CellExecutionError as err:
            last = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
            return Check("chapter 0", False, f"a cell failed: {last}")
        except Exception as err:  # no kernel, a kernel that died, a timeout
            return Check("chapter 0", False, f"{type(err).__name__}: {err}")
    seconds = time.perf_counter() - started
    return Check("chapter 0", True, f"its first {len(cells)} code cells ran on a fresh kernel in {seconds:.0f} s")


def run_checks(*, quick: bool = False, say: Callable[[str], None] = print) -> list[Check]:
    """Run every check in order, saying each line as it comes."""
    steps: list[Callable[[], Check]] = [check_python, check_packages, check_weights, check_jupyterlab]
    if not quick:
        steps.append(check_first_cells)
    results = []
    for step in steps:
        result = step()
        say(result.line())
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.selftest", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="leave out running chapter 0's first cells")
    args = parser.parse_args(argv)
    results = run_checks(quick=args.quick)
    failed = [r.name for r in results if not r.passed]
    print(f"self-test: {'all ' + str(len(results)) + ' checks pass' if not failed else 'failed: ' + ', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
