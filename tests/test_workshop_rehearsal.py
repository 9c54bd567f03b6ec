"""The workshop rehearsed: from the teacher's `make workshop` to a learner's first exercise, on a laptop with no
network.

1. The teacher's side: ``python -m tools.workshop`` for this machine's Python and platform, into a temporary folder
   (the wheels come from the cache build/wheelhouse/, downloaded once when it lacks them: the only step that needs
   a network).
2. The stick: that folder made read-only.
3. A learner's laptop: a fresh home folder, no pip configuration, ``PIP_NO_INDEX=1``, the folder installed at another
   path (with a space in it), and — where the machine allows a network namespace (``unshare -rn``) — no network at
   all but the loopback. ``install.py`` installs from the stick and ends with the self-test; the learner's copy of
   chapter 0 then runs, in the installed environment, past its first exercise, whose check prints the book's notice.
4. The same stick with one wheel taken out: the install stops, naming the package the wheelhouse lacks.

It takes minutes (PyTorch is installed twice), so it runs in ``make audit``, not ``make test``: set BOOK_REHEARSAL=1
to run it (``BOOK_REHEARSAL=record`` also writes its measurements to data/workshop.json, which the instructor page's
statements are checked against).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.workshop import size_of

ROOT = Path(__file__).resolve().parents[1]
MODE = os.environ.get("BOOK_REHEARSAL", "")
pytestmark = pytest.mark.skipif(not MODE, reason="the rehearsal of the workshop runs in make audit (BOOK_REHEARSAL=1)")
RECORD = ROOT / "data" / "workshop.json"
SITE = ROOT / "_build" / "html"


def _base_python() -> str:
    """A Python outside the book's environment, as a learner's laptop has (the environment's own base)."""
    return getattr(sys, "_base_executable", None) or shutil.which("python3") or sys.executable


def _no_network() -> list[str]:
    """A prefix that runs a command in a new network namespace with the loopback up and nothing else (a laptop with
    its network off still has a loopback, which Jupyter's kernels talk over), where the machine allows one."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip") or "/usr/sbin/ip"
    prefix = [unshare, "-rn", "sh", "-c", f'{ip} link set lo up && exec "$@"', "offline"] if unshare else []
    if prefix and subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
        return prefix
    return []


def _laptop_env(home: Path) -> dict[str, str]:
    env = {
        "HOME": str(home),
        "PATH": f"{Path(_base_python()).parent}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PIP_NO_INDEX": "1",
        "PIP_CONFIG_FILE": os.devnull,
        "PYTHONNOUSERSITE": "1",
        "BOOK_PROGRESS": "0",
    }
    home.mkdir(parents=True, exist_ok=True)
    return env


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file's size and modification time: a stick that a command wrote to is not the same listing."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def read_only(folder: Path) -> None:
    for path in [*folder.rglob("*"), folder]:
        path.chmod(0o555 if path.is_dir() else 0o444)


def writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.fixture(scope="module")
def stick(tmp_path_factory) -> Path:
    if not (SITE / "index.html").exists():
        pytest.fail("the rehearsal needs the built site: run make book first (make audit does)", pytrace=False)
    out = tmp_path_factory.mktemp("teacher")
    torch_index = os.environ.get("TORCH_INDEX", "https://download.pytorch.org/whl/cpu")  # make audit passes its own
    run = subprocess.run(
        [sys.executable, "-m", "tools.workshop", "--out", str(out), "--torch-index", torch_index],
        cwd=ROOT,
        text=True,
        capture_output=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    print(run.stdout)
    folder = out / "reading-networks-workshop"
    read_only(folder)
    yield folder
    writable(folder)


def test_a_learner_installs_from_a_read_only_stick_without_network_and_reaches_the_first_exercise(
    stick, tmp_path
) -> None:
    laptop = tmp_path / "laptop"
    env = _laptop_env(laptop / "home")
    target = laptop / "home" / "my courses" / "reading networks"
    before = _listing(stick)  # read-only, but root in a user namespace may write anyway: compare, too
    started = time.perf_counter()
    install = subprocess.run(
        [*_no_network(), _base_python(), str(stick / "install.py"), "--to", str(target)],
        cwd=laptop,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    print(install.stdout[-3000:], install.stderr[-3000:])
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    assert _listing(stick) == before, "the install wrote to the stick"
    for line in ("✓ Python", "✓ packages", "✓ cached weights", "✓ JupyterLab", "✓ chapter 0", "all 5 checks pass"):
        assert line in install.stdout, f"the self-test did not say {line!r}"
    assert "pytest" not in {p.name.split("-")[0] for p in (target / ".venv").rglob("*.dist-info")}
    # the learner's copy of chapter 0, in the installed environment, runs past its first exercise's check
    copy = target / "chapters" / "00_workbench.ipynb"
    executed = tmp_path / "executed.ipynb"
    runner = (
        "import nbformat, sys; from nbclient import NotebookClient; "
        "nb = nbformat.read(sys.argv[1], as_version=4); "
        "NotebookClient(nb, timeout=600, kernel_name='python3', "
        "resources={'metadata': {'path': str(__import__('pathlib').Path(sys.argv[1]).parent)}}).execute(); "
        "nbformat.write(nb, sys.argv[2])"
    )
    python = target / ".venv" / "bin" / "python"
    run = subprocess.run(
        [*_no_network(), str(python), "-c", runner, str(copy), str(executed)],
        env=env,
        capture_output=True,
        text=True,
        cwd=target,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    text = json.dumps(json.loads(executed.read_text()))
    assert "Exercise 0.1" in text and "still the stub" in text, "the first exercise's check did not print its notice"
    assert copy.read_text() == (stick / "chapters" / "00_workbench.ipynb").read_text(), "the learner's copy changed"
    if MODE == "record":
        RECORD.write_text(
            json.dumps(
                {
                    "date": time.strftime("%Y-%m-%d"),
                    "machine": f"{os.cpu_count()} CPU cores, Python {sys.version.split()[0]}, {sys.platform}",
                    "stick_bytes": size_of(stick),
                    "wheelhouse_bytes": size_of(stick / "wheelhouse"),
                    "site_bytes": size_of(stick / "site"),
                    "install_seconds": round(seconds, 1),
                    "installed_bytes": size_of(target),
                    "network": "none (a network namespace)" if _no_network() else "PIP_NO_INDEX only",
                },
                indent=1,
            )
            + "\n"
        )


def test_a_stick_that_lacks_a_wheel_stops_the_install_naming_it(stick, tmp_path) -> None:
    broken = tmp_path / "broken stick"
    shutil.copytree(stick, broken)
    writable(broken)
    wheel = next(broken.glob("wheelhouse/tqdm-*.whl"))
    wheel.unlink()
    read_only(broken)
    laptop = tmp_path / "laptop"
    try:
        run = subprocess.run(
            [*_no_network(), _base_python(), str(broken / "install.py"), "--to", str(laptop / "book")],
            cwd=tmp_path,
            env=_laptop_env(laptop / "home"),
            capture_output=True,
            text=True,
        )
    finally:
        writable(broken)
    assert run.returncode == 1
    assert "the wheelhouse lacks tqdm" in run.stderr, run.stdout[-2000:] + run.stderr[-2000:]
