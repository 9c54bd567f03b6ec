"""Install the book on this laptop from the workshop's folder, with no network: one command.

    python3 install.py [--to FOLDER]

(On Windows: ``py install.py``.) Run it from the stick, or from a copy of the workshop folder: it never writes
next to itself, so a read-only stick works. It

1. checks this Python against what the folder's wheelhouse serves (version, operating system, processor), and that
   Python can make a virtual environment (Debian and Ubuntu need the ``python3-venv`` package, which cannot be
   installed without a network);
2. copies the chapters, the book's helpers, its cached weights and the built site to FOLDER on this laptop's disk
   (default: ``reading-networks`` in your home folder); a FOLDER that already holds your work keeps every file you
   changed: only missing files are added;
3. makes a Python environment there (``FOLDER/.venv``) and installs into it, from the wheelhouse only, what the
   chapters need: PyTorch and the scientific packages, JupyterLab, and the helpers (editable, from FOLDER/src);
4. runs the book's self-test (``python -m helpers.selftest``) and prints the command that opens the chapters.

This file is the book's ``tools/learner_install.py``; ``make workshop`` copies it into the folder as ``install.py``.
It uses the standard library only, since it runs before any environment exists.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: what install.py copies to the laptop (the wheelhouse stays on the stick: it is read, not copied)
PARTS = ("WORKSHOP.md", "README.md", "pyproject.toml", "src", "data", "chapters", "book", "site")
#: the extra of pyproject.toml that holds JupyterLab (never the teacher's build and test tools)
EXTRA = "lab"
MIN_PYTHON = (3, 11)


class InstallError(RuntimeError):
    """A step that cannot go on, with a sentence that says why and what to do."""


def laptop_platform() -> str:
    """This laptop as the wheelhouse names platforms: linux-x86_64, macos-arm64, windows-x86_64, …"""
    system = {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "x64": "x86_64", "aarch64": "aarch64" if system == "linux" else "arm64"}.get(
        machine, machine
    )
    if system == "macos" and machine == "aarch64":
        machine = "arm64"
    return f"{system}-{machine}"


def laptop_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def served_targets(wheelhouse: Path) -> list[dict]:
    """The (python, platform) pairs the wheelhouse was made for, from its targets.json."""
    listing = wheelhouse / "targets.json"
    if not listing.exists():
        raise InstallError(
            f"{wheelhouse} has no targets.json: this is not a wheelhouse made by `make workshop`. Ask the teacher."
        )
    return json.loads(listing.read_text(encoding="utf-8"))["targets"]


def check_served(wheelhouse: Path, python: str | None = None, where: str | None = None) -> None:
    """Refuse, with the reason, a laptop whose Python or platform the wheelhouse has no wheels for."""
    python, where = python or laptop_python(), where or laptop_platform()
    if tuple(map(int, python.split("."))) < MIN_PYTHON:
        raise InstallError(
            f"this laptop's Python is {python}; the book needs Python {'.'.join(map(str, MIN_PYTHON))} or newer."
        )
    targets = served_targets(wheelhouse)
    if not any(t["python"] == python and t["platform"] == where for t in targets):
        served = ", ".join(f"Python {t['python']} on {t['platform']}" for t in targets)
        raise InstallError(
            f"the wheelhouse on this stick serves {served}, but this laptop runs Python {python} on {where}. "
            "Compiled packages such as PyTorch need wheels made for the exact Python version and platform, so "
            "pip would fail with 'No matching distribution found for torch'. Ask the teacher for a stick made "
            f'with `make workshop WORKSHOP_PYTHONS="{python}" WORKSHOP_PLATFORMS="{where}"` (it can hold several), '
            "or run this installer with a Python the stick serves (for example python3.11 install.py)."
        )


def check_venv_module() -> None:
    """python -m venv needs ensurepip, which Debian and Ubuntu ship separately (python3-venv)."""
    try:
        import ensurepip  # noqa: F401
        import venv  # noqa: F401
    except ImportError:
        raise InstallError(
            f"this Python ({sys.executable}) cannot make a virtual environment: on Debian and Ubuntu install the "
            f"package python{laptop_python()}-venv (sudo apt-get install python3-venv). It needs a network: do it "
            "before the workshop."
        ) from None


def copy_folder(source: Path, target: Path, say=print) -> tuple[int, int]:
    """Copy PARTS from source to target, adding missing files only: a file already there (the learner's own copy
    of a chapter, changed or not) is kept. Returns (files copied, files kept)."""
    copied = kept = 0
    for part in PARTS:
        origin = source / part
        if not origin.exists():
            continue
        files = [origin] if origin.is_file() else [p for p in origin.rglob("*") if p.is_file()]
        for path in files:
            destination = target / path.relative_to(source)
            if destination.exists():
                kept += 1
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)  # contents only: a read-only stick's modes are not carried over
            copied += 1
    say(
        f"copied {copied} files to {target}"
        + (f"; kept {kept} already there (your work is not replaced)" if kept else "")
    )
    return copied, kept


def venv_python(target: Path) -> Path:
    scripts = "Scripts" if sys.platform == "win32" else "bin"
    return target / ".venv" / scripts / ("python.exe" if sys.platform == "win32" else "python")


def _offline_environment() -> dict[str, str]:
    """pip from the wheelhouse only: no index, no configuration file of the laptop's, no version check."""
    env = dict(os.environ)
    env.update(PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONUTF8="1")
    return env


def install_environment(target: Path, wheelhouse: Path, say=print) -> float:
    """Make FOLDER/.venv and install the book's `lab` extra into it from the wheelhouse. Returns the seconds taken."""
    started = time.perf_counter()
    python = venv_python(target)
    if not python.exists():
        say(f"making the Python environment {target / '.venv'} …")
        subprocess.run([sys.executable, "-m", "venv", str(target / ".venv")], check=True)
    say(f"installing from {wheelhouse} (no network; a few minutes) …")
    log = target / "install.log"
    with log.open("w", encoding="utf-8") as out:
        run = subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--no-index",
                "--find-links",
                str(wheelhouse),
                "--progress-bar",
                "off",
                "-e",
                f"{target}[{EXTRA}]",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_offline_environment(),
            cwd=target,
        )
    if run.returncode != 0:
        text = log.read_text(encoding="utf-8", errors="replace")
        missing = re.findall(r"No matching distribution found for (\S+)", text)
        if missing:
            raise InstallError(
                f"the wheelhouse lacks {', '.join(sorted(set(missing)))} for Python {laptop_python()} on "
                f"{laptop_platform()}: the stick is incomplete. Tell the teacher (`make workshop` checks a "
                f"wheelhouse before writing it). pip's messages are in {log}."
            )
        raise InstallError(
            f"pip could not install the book; its messages are in {log} (last line: "
            f"{text.strip().splitlines()[-1] if text.strip() else 'none'})"
        )
    return time.perf_counter() - started


def lab_command(target: Path) -> str:
    scripts = "Scripts" if sys.platform == "win32" else "bin"
    return f'"{target / ".venv" / scripts / "jupyter"}" lab "{target / "chapters"}"'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="install.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--to",
        type=Path,
        default=Path.home() / "reading-networks",
        help="where to install on this laptop's disk (default: ~/reading-networks)",
    )
    parser.add_argument("--wheelhouse", type=Path, default=HERE / "wheelhouse", help=argparse.SUPPRESS)
    parser.add_argument("--skip-selftest", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    target = args.to.expanduser().resolve()
    try:
        if target == HERE or HERE in target.parents:
            raise InstallError(f"install to the laptop's disk, not into the workshop folder itself ({HERE})")
        check_served(args.wheelhouse)
        check_venv_module()
        print(f"Python {laptop_python()} on {laptop_platform()}: served by this stick's wheelhouse")
        target.mkdir(parents=True, exist_ok=True)
        copy_folder(HERE, target)
        seconds = install_environment(target, args.wheelhouse)
        print(f"installed in {seconds:.0f} s")
    except InstallError as err:
        print(f"install.py: {err}", file=sys.stderr)
        return 1
    if not args.skip_selftest:
        print("self-test:")
        if subprocess.run([str(venv_python(target)), "-m", "helpers.selftest"], cwd=target).returncode != 0:
            print("install.py: the self-test failed (the lines marked ✗ above say what to do)", file=sys.stderr)
            return 1
    print(
        f"\nReady. Open the chapters with:\n  {lab_command(target)}\n"
        f"The book itself (the built site) is at {target / 'site' / 'index.html'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
