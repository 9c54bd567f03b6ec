"""The offline workshop, piece by piece: the instructor page's schedules (read from the chapters), the stick's folder
(make workshop), the learner's installer (install.py) and the self-test (python -m helpers.selftest).

The whole room, rehearsed without network from a read-only copy of the stick, is tests/test_workshop_rehearsal.py
(make audit: it downloads the wheels once and installs PyTorch, minutes rather than seconds).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_workshop_rehearsal import read_only, writable

from helpers import selftest
from tools import learner_install, schedules, workshop

ROOT = Path(__file__).resolve().parents[1]


# --- the instructor page's schedules ----------------------------------------------------------------------------


def test_the_committed_schedules_are_what_the_chapters_and_the_bench_say() -> None:
    assert schedules.PAGE.read_text() == schedules.page(), (
        "book/instructor_schedules.md is stale: run `python -m tools.schedules` (make execute and make bench do)"
    )


def test_the_exercises_and_sections_are_read_from_the_chapter() -> None:
    """Known by reading the chapters: chapter 1 holds Exercises 1.1–1.6, with 1.3 and 1.4 in its section 2 (the old
    page said 'Exercises 1.1–1.3' for sections 1–5); chapter 3's six exercises lie in sections 2–7."""
    bilinear = schedules.read_chapter("01_bilinear")
    by_number = {s.number: s.exercises for s in bilinear.sections if s.number is not None}
    assert by_number[1] == ["1.1", "1.2"] and by_number[2] == ["1.3", "1.4"] and by_number[3] == ["1.5"]
    assert [e for s in bilinear.sections for e in s.exercises] == [f"1.{k}" for k in range(1, 7)]
    lib = schedules.read_chapter("03_lib")
    holding = sorted({s.number for s in lib.sections if s.exercises})
    assert holding == [2, 3, 4, 7] and sum(len(s.exercises) for s in lib.sections) == 6
    slot = schedules.Slot("9:00", "12:00", chapter="03_lib", sections=(1, 2, 3, 4, 5, 6, 7))
    _, planned, _ = schedules.plan(slot, lib)
    assert planned.exercises == [f"3.{k}" for k in range(1, 7)]
    assert schedules._exercise_range(planned.exercises) == "Exercises 3.1–3.6"
    assert schedules._exercise_range(["3.1", "3.2", "3.3", "3.5"]) == "Exercises 3.1–3.3, 3.5"
    assert schedules._range([1, 2, 3, 6]) == "1–3, 6"


def test_a_schedule_fails_when_a_chapter_drifts_from_it(tmp_path, monkeypatch) -> None:
    """Moving an exercise to another section changes the page (so the committed page's test fails), and removing a
    section a slot names stops the page from being written at all."""
    (tmp_path / "chapters").mkdir()
    for path in (ROOT / "chapters").glob("*.ipynb"):
        shutil.copy(path, tmp_path / "chapters" / path.name)
    monkeypatch.setattr(schedules, "ROOT", tmp_path)
    assert schedules.page() == schedules.PAGE.read_text()
    path = tmp_path / "chapters" / "01_bilinear.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "markdown" and "### Exercise 1.5" in c.source)
    cell.source = cell.source.replace("### Exercise 1.5", "### Exercise 1.9")
    nbformat.write(nb, path)
    assert "Exercises 1.1–1.4, 1.9" in schedules.page()
    heading = next(c for c in nb.cells if c.cell_type == "markdown" and "## 6. " in c.source)
    heading.source = heading.source.replace("## 6. ", "## ")
    nbformat.write(nb, path)
    with pytest.raises(schedules.ScheduleError, match="has no section"):
        schedules.page()


def test_a_slot_shorter_than_what_it_asks_is_refused() -> None:
    chapter = schedules.read_chapter("01_bilinear")
    with pytest.raises(schedules.ScheduleError, match="shorter than what it asks"):
        schedules.plan(schedules.Slot("9:00", "9:20", chapter="01_bilinear", sections=(1, 2, 3)), chapter)


def test_the_schedules_include_chapter_5_and_every_chapter() -> None:
    named = {s.chapter for _, _, slots in schedules.SCHEDULES for s in slots if s.chapter}
    assert named == {p.stem for p in (ROOT / "chapters").glob("*.ipynb")}
    assert "05_four_lenses.ipynb" in schedules.PAGE.read_text()


# --- the stick's folder ------------------------------------------------------------------------------------------


def _fake_wheelhouse_and_site(tmp_path: Path) -> tuple[Path, Path]:
    wheelhouse, site = tmp_path / "wheels", tmp_path / "site"
    wheelhouse.mkdir()
    (wheelhouse / "tqdm-4.67.1-py3-none-any.whl").write_bytes(b"a wheel")
    site.mkdir()
    (site / "index.html").write_text("<html></html>")
    return wheelhouse, site


def test_the_stick_folder_holds_what_a_laptop_needs_and_nothing_else(tmp_path) -> None:
    wheelhouse, site = _fake_wheelhouse_and_site(tmp_path)
    folder = workshop.assemble(tmp_path / "out", wheelhouse, [("3.11", "linux-x86_64")], site)
    top = {p.name for p in folder.iterdir()}
    assert top == {
        "chapters",
        "book",
        "src",
        "data",
        "wheelhouse",
        "site",
        "install.py",
        "WORKSHOP.md",
        "pyproject.toml",
        "README.md",
        ".made-by-make-workshop",
    }
    names = {p.name for p in folder.rglob("*")}
    assert not names & {".venv", "node_modules", ".git", "tests", "tools", "__pycache__", ".written.json"}
    copies = sorted(p.name for p in (folder / "chapters").glob("*.ipynb"))
    assert copies == sorted(p.name for p in (ROOT / "chapters").glob("*.ipynb"))
    for path in (folder / "chapters").glob("*.ipynb"):
        text = path.read_text()
        assert "# BEGIN SOLUTION" not in text and "NotImplementedError" in text, f"{path.name}: not a learner's copy"
    assert (folder / "install.py").read_text() == (ROOT / "tools" / "learner_install.py").read_text()
    listing = json.loads((folder / "wheelhouse" / "targets.json").read_text())
    assert listing["targets"] == [{"python": "3.11", "platform": "linux-x86_64"}]
    assert "jupyterlab>=4.2,<5" in listing["requirements"] and not any("pytest" in r for r in listing["requirements"])
    manifest = json.loads((ROOT / "data" / "checkpoints" / "manifest.json").read_text())
    assert all((folder / "data" / "checkpoints" / e["file"]).exists() for e in manifest.values())
    # a second run replaces its own folder, and refuses a folder it did not make
    workshop.assemble(tmp_path / "out", wheelhouse, [("3.11", "linux-x86_64")], site)
    (tmp_path / "mine" / workshop.FOLDER).mkdir(parents=True)
    with pytest.raises(workshop.WorkshopError, match="not made by make workshop"):
        workshop.assemble(tmp_path / "mine", wheelhouse, [("3.11", "linux-x86_64")], site)


def test_the_solutions_pack_holds_the_books_chapters(tmp_path) -> None:
    pack = workshop.solutions_pack(tmp_path)
    for path in (ROOT / "chapters").glob("*.ipynb"):
        assert (pack / "chapters" / path.name).read_bytes() == path.read_bytes()


def test_make_workshop_names_its_targets_clearly(tmp_path) -> None:
    with pytest.raises(workshop.WorkshopError, match="no platform 'linux-sparc'"):
        workshop._target_options("3.11", "linux-sparc")
    with pytest.raises(workshop.WorkshopError, match="3.11, 3.12"):
        workshop._target_options("311", "linux-x86_64")
    options = workshop._target_options("3.12", "windows-x86_64")
    assert options[options.index("--abi") + 1] == "cp312" and "win_amd64" in options
    assert all(r not in {"pytest", "playwright"} for r in workshop.requirements())


def test_an_unreachable_index_fails_at_once_with_its_host() -> None:
    with pytest.raises(workshop.WorkshopError, match=r"cannot reach http://127\.0\.0\.1:9/"):
        workshop.check_reachable(("http://127.0.0.1:9/",), timeout=2)


def test_the_wheelhouse_check_finds_a_missing_wheel_offline(tmp_path) -> None:
    """An empty wheelhouse lacks everything; pip says which requirement it could not find first."""
    missing = workshop.missing_wheels(tmp_path, "3.11", "linux-x86_64")
    names = {re.split(r"[<>=!~\[]", r)[0] for r in workshop.requirements()}
    assert len(missing) == 1 and re.split(r"[<>=!~\[]", missing[0])[0] in names, missing


# --- the learner's installer ---------------------------------------------------------------------------------------


def _targets(tmp_path: Path, *targets: tuple[str, str]) -> Path:
    (tmp_path / "targets.json").write_text(json.dumps({"targets": [{"python": p, "platform": w} for p, w in targets]}))
    return tmp_path


def test_install_refuses_a_laptop_the_stick_does_not_serve(tmp_path) -> None:
    wheelhouse = _targets(tmp_path, ("3.11", "linux-x86_64"))
    learner_install.check_served(wheelhouse, "3.11", "linux-x86_64")
    with pytest.raises(
        learner_install.InstallError,
        match=r"serves Python 3\.11 on linux-x86_64, but this laptop "
        r"runs Python 3\.12 on linux-x86_64.*WORKSHOP_PYTHONS=\"3\.12\"",
    ):
        learner_install.check_served(wheelhouse, "3.12", "linux-x86_64")
    with pytest.raises(learner_install.InstallError, match="macos-arm64"):
        learner_install.check_served(wheelhouse, "3.11", "macos-arm64")
    with pytest.raises(learner_install.InstallError, match=r"needs Python 3\.11 or newer"):
        learner_install.check_served(wheelhouse, "3.10", "linux-x86_64")
    with pytest.raises(learner_install.InstallError, match="not a wheelhouse made by `make workshop`"):
        learner_install.check_served(tmp_path / "elsewhere", "3.11", "linux-x86_64")


def test_install_copies_from_a_read_only_stick_and_keeps_the_learners_work(tmp_path) -> None:
    stick = tmp_path / "stick"
    (stick / "chapters").mkdir(parents=True)
    (stick / "chapters" / "00_workbench.ipynb").write_text("the stick's copy")
    (stick / "pyproject.toml").write_text("[project]")
    (stick / "wheelhouse").mkdir()
    (stick / "wheelhouse" / "big.whl").write_text("not copied")
    read_only(stick)
    laptop = tmp_path / "home" / "reading networks"
    try:
        assert learner_install.copy_folder(stick, laptop, say=lambda _: None) == (2, 0)
        assert not (laptop / "wheelhouse").exists()
        (laptop / "chapters" / "00_workbench.ipynb").write_text("my answers")  # the copy is writable
        (laptop / "pyproject.toml").unlink()
        assert learner_install.copy_folder(stick, laptop, say=lambda _: None) == (1, 1)
        assert (laptop / "chapters" / "00_workbench.ipynb").read_text() == "my answers"
    finally:
        writable(stick)


def test_laptop_platform_names_match_the_wheelhouse_names() -> None:
    assert learner_install.laptop_platform() in workshop.PLATFORM_TAGS


# --- the self-test ---------------------------------------------------------------------------------------------------


def test_the_self_test_says_what_is_wrong(tmp_path) -> None:
    assert selftest.check_python((3, 11, 0)).passed
    old = selftest.check_python((3, 10, 12))
    assert not old.passed and "3.10.12 is too old" in old.line() and old.line().startswith("✗")
    assert selftest.check_weights().passed
    data = tmp_path / "checkpoints"
    shutil.copytree(ROOT / "data" / "checkpoints", data)
    victim = sorted(data.glob("*.safetensors"))[0]
    victim.write_bytes(victim.read_bytes()[:-10])  # a copy cut short
    broken = selftest.check_weights(data)
    assert not broken.passed and victim.stem in broken.detail and "1 of" in broken.detail
    lab = selftest.check_jupyterlab(tmp_path)  # a prefix without the extension
    assert not lab.passed and "jupyterlab-myst" in lab.detail


def test_the_self_test_runs_chapter_0_up_to_its_first_exercise() -> None:
    nb = json.loads((ROOT / "chapters" / "00_workbench.ipynb").read_text())
    first = selftest._first_cells(nb)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code[len(first)]["metadata"]["tags"].count("exercise") == 1 and len(first) >= 3
    result = selftest.check_first_cells()
    assert result.passed, result.line()


def test_the_first_cell_tells_a_learner_on_the_wrong_kernel_to_change_it(tmp_path) -> None:
    """A Python without the helpers, in the book's folder, gets a hint to choose the book's kernel, not an attempt to
    clone the repository (which failed offline with 'git clone … exit status 128')."""
    nb = json.loads((ROOT / "chapters" / "00_workbench.ipynb").read_text())
    first = "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])
    run = subprocess.run([sys.executable, "-S", "-c", first], cwd=ROOT / "chapters", capture_output=True, text=True)
    assert run.returncode == 1
    assert "lacks the book's helpers" in run.stderr and "Change Kernel" in run.stderr, run.stderr
    assert "git" not in run.stderr.splitlines()[-1]
