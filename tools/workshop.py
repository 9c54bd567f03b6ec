"""``make workshop``: the folder a teacher copies to a USB stick for a room without internet, and a solutions pack.

    python -m tools.workshop [--out build/workshop] [--pythons "3.11 3.12"] [--platforms "linux-x86_64 macos-arm64"]
                             [--wheelhouse build/wheelhouse] [--offline]

The stick's folder (``<out>/reading-networks-workshop``) holds what a learner's laptop needs and nothing else:

- ``chapters/``: the learners' copies (exercises stubbed, outputs cleared; ``tools/student.py``), ``book/`` beside
  them for their links;
- ``src/``, ``pyproject.toml``, ``README.md`` and ``data/``: the helpers and the cached weights they load;
- ``wheelhouse/``: every wheel of the chapters' packages and JupyterLab (the ``lab`` extra, never the teacher's
  ``dev`` tools), for each Python version and platform named, with ``targets.json`` listing them;
- ``site/``: the built HTML book (``make book``), to open from the folder or to serve in the room;
- ``install.py`` (``tools/learner_install.py``) and ``WORKSHOP.md`` (``tools/workshop_guide.md``): the learner's one
  command and one page.

No ``.venv``, no ``node_modules``, no ``.git``, no tests. The wheels are downloaded once into ``--wheelhouse`` (a
cache kept between runs; ``--offline`` uses only what is there) and the wheelhouse is checked for completeness per
target, offline, before it is copied. The solutions pack (``<out>/reading-networks-solutions``) holds the book's own
chapters, solutions and outputs included, to hand out after the workshop.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

from tools.learner_install import EXTRA, laptop_platform, laptop_python
from tools.notebooks import ROOT, chapter_paths
from tools.student import write_copies

OUT = ROOT / "build" / "workshop"
WHEELHOUSE = ROOT / "build" / "wheelhouse"
FOLDER, SOLUTIONS = "reading-networks-workshop", "reading-networks-solutions"
#: PyTorch's own index of CPU-only wheels (no CUDA libraries: about 0.2 GB instead of several GB on Linux)
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
PYPI = "https://pypi.org/simple/"
#: pip's platform tags for each platform a wheelhouse can serve, most compatible first (pip prefers earlier tags)
PLATFORM_TAGS = {
    "linux-x86_64": [
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
        "manylinux_2_28_x86_64",
        "manylinux_2_5_x86_64",
        "manylinux1_x86_64",
    ],
    "linux-aarch64": ["manylinux_2_17_aarch64", "manylinux2014_aarch64", "manylinux_2_28_aarch64"],
    "macos-arm64": [f"macosx_{v}_0_arm64" for v in range(11, 16)]
    + ["macosx_10_9_universal2", "macosx_10_13_universal2"],
    "macos-x86_64": [f"macosx_10_{v}_x86_64" for v in (9, 12, 13, 15)] + ["macosx_11_0_x86_64"],
    "windows-x86_64": ["win_amd64"],
}
#: the parts of the repository the folder holds besides the chapters: the helpers, the cached weights, the figure
#: references their checks compare with, and the bench's record (the chapters' stated running times)
COPIED = ("pyproject.toml", "README.md", "src/helpers", "data/checkpoints", "data/references", "data/bench.json")


class WorkshopError(RuntimeError):
    """A step of make workshop that cannot go on, with a sentence that says why and what to do."""


def requirements() -> list[str]:
    """What a learner's environment needs: the book's dependencies, its `lab` extra, and the build backend of the
    editable install (pyproject.toml's build-system)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"][EXTRA],
        *project["build-system"]["requires"],
    ]


def _target_options(python: str, where: str) -> list[str]:
    if where not in PLATFORM_TAGS:
        raise WorkshopError(f"no platform {where!r}: name one of {', '.join(PLATFORM_TAGS)}")
    if not re.fullmatch(r"3\.\d+", python):
        raise WorkshopError(f"name a Python version as 3.11, 3.12, …, not {python!r}")
    abi = "cp" + python.replace(".", "")
    options = ["--only-binary=:all:", "--python-version", python, "--implementation", "cp", "--abi", abi]
    for tag in PLATFORM_TAGS[where]:
        options += ["--platform", tag]
    return options


def index_urls(torch_index: str = TORCH_INDEX) -> tuple[str, ...]:
    """The package indexes pip download will ask: pip's configured index (PyPI unless the configuration or
    PIP_INDEX_URL names another) and PyTorch's CPU index unless ``torch_index`` is empty."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    configured = re.findall(r"^\S*index-url='([^']+)'", listed, flags=re.MULTILINE)
    index = os.environ.get("PIP_INDEX_URL") or next((u for u in configured if not u.startswith("file:")), PYPI)
    return (index, torch_index) if torch_index else (index,)


def check_reachable(urls: tuple[str, ...] = (PYPI, TORCH_INDEX), timeout: float = 10) -> None:
    """Fail at once, naming the host, when a package index cannot be reached (pip itself would retry each package
    for minutes behind a firewall)."""
    for url in urls:
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            raise WorkshopError(
                f"cannot reach {url} ({err}). make workshop downloads the wheels once, on a machine with internet "
                "access; behind a proxy set HTTPS_PROXY, or run it elsewhere and reuse its --wheelhouse with --offline."
            ) from None


def download(wheelhouse: Path, python: str, where: str, torch_index: str = TORCH_INDEX) -> None:
    """pip download every wheel of requirements() for one target into the wheelhouse (one retry, 30-s timeouts)."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--progress-bar", "off"]
    patience = ["--retries", "1", "--timeout", "30"]  # pip's default, 5 retries per package, takes many minutes
    torch = ["--extra-index-url", torch_index] if torch_index else []
    command = [*pip, *patience, "--dest", str(wheelhouse), *torch, *_target_options(python, where), *requirements()]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        missing = re.findall(r"No matching distribution found for (\S+)", run.stderr)
        if missing:
            raise WorkshopError(
                f"{', '.join(missing)} has no wheel for Python {python} on {where}: a stick cannot serve laptops "
                f"with that Python (PyTorch and the scientific packages publish wheels for some versions only). Name "
                "another Python version, which the learners then install before the day."
            )
        raise WorkshopError(f"pip download failed for Python {python} on {where}:\n{run.stderr[-2000:]}")


def missing_wheels(wheelhouse: Path, python: str, where: str) -> list[str]:
    """What pip, offline and from the wheelhouse alone, could not install for one target (empty: complete)."""
    with tempfile.TemporaryDirectory() as scratch:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "--no-index",
                "--disable-pip-version-check",
                "--find-links",
                str(wheelhouse),
                "--target",
                scratch,
                *_target_options(python, where),
                *requirements(),
            ],
            capture_output=True,
            text=True,
            env={**_pip_env(), "PIP_NO_INDEX": "1"},
        )
    if run.returncode == 0:
        return []
    found = re.findall(r"No matching distribution found for (\S+)", run.stderr)
    return found or [run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "pip failed"]


def _pip_env() -> dict[str, str]:
    return {**os.environ, "PIP_CONFIG_FILE": os.devnull}


def size_of(path: Path) -> int:
    """Bytes of the files under ``path`` (a symbolic link, such as an environment's python, is not counted)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def human(size: int) -> str:
    return f"{size / 2**30:.2f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def _fresh(folder: Path) -> None:
    """Empty a folder this tool wrote before (marked by .made-by-make-workshop); refuse any other."""
    if folder.exists():
        if not (folder / ".made-by-make-workshop").exists():
            raise WorkshopError(f"{folder} exists and was not made by make workshop: move it away first")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / ".made-by-make-workshop").write_text("make workshop writes this folder afresh on every run\n")


def assemble(out: Path, wheelhouse: Path, targets: list[tuple[str, str]], site: Path) -> Path:
    """Write the stick's folder from a checked wheelhouse and a built site; returns the folder."""
    if not (site / "index.html").exists():
        raise WorkshopError(f"no built site at {site}: run make book first (make workshop does)")
    folder = out / FOLDER
    _fresh(folder)
    for part in COPIED:
        _copy(ROOT / part, folder / part)
    write_copies(folder)  # chapters/ (learners' copies) and book/ (the pages their links open)
    (folder / ".written.json").unlink(missing_ok=True)  # make student's record: a new folder starts without one
    _copy(ROOT / "tools" / "learner_install.py", folder / "install.py")
    _copy(ROOT / "tools" / "workshop_guide.md", folder / "WORKSHOP.md")
    _copy(site, folder / "site")
    shutil.copytree(wheelhouse, folder / "wheelhouse", ignore=shutil.ignore_patterns("targets.json"))
    listing = {"targets": [{"python": p, "platform": w} for p, w in targets], "requirements": requirements()}
    (folder / "wheelhouse" / "targets.json").write_text(json.dumps(listing, indent=1) + "\n")
    return folder


def solutions_pack(out: Path) -> Path:
    """The book's chapters with their solutions and outputs, for after the workshop."""
    folder = out / SOLUTIONS
    _fresh(folder)
    for path in chapter_paths():
        _copy(path, folder / "chapters" / path.name)
    (folder / "README.md").write_text(
        "# Solutions\n\nThe book's chapters with every exercise's solution and every output, as the book shows "
        "them.\nCopy `chapters/` beside your own (in the folder install.py made) under another name, for example\n"
        "`solutions/`, and open them in the same JupyterLab: your own copies are not replaced.\n"
    )
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.workshop", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--pythons", default=laptop_python(), help="Python versions to serve (default: this one)")
    parser.add_argument(
        "--platforms",
        default=laptop_platform(),
        help=f"platforms to serve (default: this one), of: {', '.join(PLATFORM_TAGS)}",
    )
    parser.add_argument("--wheelhouse", type=Path, default=WHEELHOUSE, help="the wheel cache kept between runs")
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--offline", action="store_true", help="download nothing: use the wheelhouse as it is")
    parser.add_argument(
        "--torch-index",
        default=TORCH_INDEX,
        help="PyTorch's CPU-only index (empty: PyPI's PyTorch, or what pip's configuration finds)",
    )
    args = parser.parse_args(argv)
    targets = [(p, w) for p in args.pythons.split() for w in args.platforms.split()]
    try:
        for python, where in targets:
            _target_options(python, where)  # a misspelt target fails before any download
            if not args.offline and missing_wheels(args.wheelhouse, python, where):
                check_reachable(index_urls(args.torch_index))
                print(f"make workshop: downloading the wheels for Python {python} on {where} into {args.wheelhouse}")
                download(args.wheelhouse, python, where, args.torch_index)
            missing = missing_wheels(args.wheelhouse, python, where)
            if missing:
                raise WorkshopError(
                    f"the wheelhouse {args.wheelhouse} lacks {', '.join(missing)} for Python {python} on {where}"
                    + (" (--offline: nothing was downloaded)" if args.offline else "")
                )
            print(f"make workshop: the wheelhouse is complete for Python {python} on {where} (checked offline)")
        folder = assemble(args.out, args.wheelhouse, targets, args.site)
        pack = solutions_pack(args.out)
    except WorkshopError as err:
        print(f"make workshop: {err}", file=sys.stderr)
        return 1
    print(
        f"make workshop: {folder} — {human(size_of(folder))} (wheelhouse {human(size_of(folder / 'wheelhouse'))}, "
        f"site {human(size_of(folder / 'site'))}): copy this folder to the stick"
    )
    print(f"make workshop: {pack} — {human(size_of(pack))}: the solutions, to hand out after the workshop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
