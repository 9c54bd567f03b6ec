"""A chapter opened in a real JupyterLab (the `lab` extra, which `make test` installs) renders its MyST markup.

The chapters cite, link glossary terms and link pages with plain Markdown links (book/authoring.md), which every
viewer renders; MyST roles such as ``{cite}`key``` would show as raw text or as "⚠key" in JupyterLab. The test starts
JupyterLab on 127.0.0.1 with a throw-away token and config folders, opens every chapter in the system's headless
Chromium, brings each Markdown cell into view and fails on a raw role, a ⚠ mark, a raw citation key or a console
message of MyST. A screenshot of chapter 1 goes to ``_build/screenshots/jupyterlab__01_bilinear.png``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from built_site import ROOT, SCREENSHOTS
from test_readable_links import bibliography
from test_site import CHROMIUM_FLAGS, require_chromium

TOKEN = "book-test"
#: a MyST role left as text: plain JupyterLab shows {cite}`key` as "{cite}" followed by the key in code style
RAW_ROLE = re.compile(r"\{(?:cite|term|doc)(?::\w+)?\}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _jupyterlab(home: Path, *, without_myst: bool = False) -> Iterator[str]:
    """A JupyterLab server on the repository, with its own config, data and runtime folders; yields its URL."""
    jupyter = Path(sys.executable).with_name("jupyter")
    labextensions = subprocess.run([str(jupyter), "labextension", "list"], capture_output=True, text=True)
    if labextensions.returncode != 0 or "jupyterlab-myst" not in labextensions.stdout + labextensions.stderr:
        pytest.fail(
            "JupyterLab with jupyterlab-myst is not installed: `pip install -e '.[dev,lab]'` (make test does).",
            pytrace=False,
        )
    if without_myst:  # JupyterLab as a reader without the `lab` extra's MyST renderer would see it
        config = home / "config" / "labconfig" / "page_config.json"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text('{"disabledExtensions": {"jupyterlab-myst": true}}')
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "BOOK_PROGRESS": "0",
    }
    # never write the chapter (autosave off), render every cell (no windowing), and no pop-up asking about news
    for plugin, settings in {
        "@jupyterlab/docmanager-extension/plugin": '{"autosave": false}',
        "@jupyterlab/notebook-extension/tracker": '{"windowingMode": "none"}',
        "@jupyterlab/apputils-extension/notification": '{"fetchNews": "false"}',
    }.items():
        path = home / "settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(settings)
    port = _free_port()
    command = [
        str(jupyter),
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--ServerApp.token={TOKEN}",
        f"--ServerApp.root_dir={ROOT}",
        "--LabApp.news_url=",
        "--ServerApp.disable_check_xsrf=True",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    leftovers = [d for d in (ROOT / "chapters" / ".ipynb_checkpoints",) if not d.exists()]  # Lab makes it on open
    log = open(home / "server.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{(home / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(home, ignore_errors=True)
        for folder in leftovers:
            shutil.rmtree(folder, ignore_errors=True)


#: what a reader must never see in a rendered chapter: MyST's mark of an unresolved citation or reference
UNRESOLVED = "\u26a0"
#: console messages of JupyterLab's MyST renderer about the chapter (unresolved citations, terms, links)
MYST_CONSOLE = re.compile(r"cross.?reference|citation|not found|myst", re.IGNORECASE)


def _open_chapters(base: str, chapters: list[str], screenshots: dict[str, Path]) -> dict[str, tuple[str, list[str]]]:
    """For each chapter, opened in JupyterLab at ``base``: the text of its rendered Markdown cells and the console's
    warnings and errors while it opened."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    seen: dict[str, tuple[str, list[str]]] = {}
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=require_chromium(), headless=True, args=CHROMIUM_FLAGS)
        try:
            for name in chapters:
                page = chromium.new_page(viewport={"width": 1280, "height": 1000})
                page.set_default_timeout(90_000)
                console: list[str] = []
                page.on(
                    "console",
                    lambda m, c=console: c.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
                )
                page.on("pageerror", lambda e, c=console: c.append(f"pageerror: {e}"))
                # ?reset: a fresh workspace, with no tab of the chapter opened before
                page.goto(f"{base}/lab/tree/chapters/{name}.ipynb?reset&token={TOKEN}")
                cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-MarkdownCell")
                cells.first.wait_for()
                page.wait_for_timeout(1500)
                page.wait_for_function(  # every Markdown cell rendered (no windowing: all are in the page)
                    "() => [...document.querySelectorAll("
                    "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-MarkdownCell')].every("
                    "c => c.querySelector('.jp-RenderedMarkdown, .jp-RenderedMyST, .myst'))"
                )
                page.wait_for_timeout(1500)
                if name in screenshots:
                    page.screenshot(path=screenshots[name])
                seen[name] = ("\n".join(cells.all_inner_texts()), console)
                page.close()
        finally:
            chromium.close()
    return seen


def _problems(text: str, console: list[str]) -> list[str]:
    """What a reader of the chapter in JupyterLab would trip on: raw roles, unresolved marks, bibliography keys,
    MyST's console messages."""
    found = [f"raw MyST role {r!r}" for r in sorted(set(RAW_ROLE.findall(text)))]
    if UNRESOLVED in text:
        at = text.index(UNRESOLVED)
        found.append(f"unresolved mark: {text[max(0, at - 60) : at + 40]!r}")
    found += [f"raw citation key {k!r}" for k in bibliography() if k in text]
    found += [f"console: {m[:200]}" for m in console if MYST_CONSOLE.search(m)]
    return found


def test_every_chapter_reads_in_jupyterlab(tmp_path) -> None:
    """Citations, glossary terms and links of every chapter render in JupyterLab with jupyterlab-myst: no ⚠ mark,
    no raw citation key, no MyST message in the console. Screenshot of chapter 1's opening cells."""
    chapters = sorted(p.stem for p in (ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    with _jupyterlab(tmp_path) as base:
        seen = _open_chapters(base, chapters, {"01_bilinear": SCREENSHOTS / "jupyterlab__01_bilinear.png"})
    assert "Bilinear MLPs" in seen["01_bilinear"][0][:2000]
    problems = {name: _problems(text, console) for name, (text, console) in seen.items()}
    assert not any(problems.values()), {name: found for name, found in problems.items() if found}


def test_the_check_sees_raw_roles_without_jupyterlab_myst(tmp_path) -> None:
    """Without MyST rendering, a role written as ``{cite}`key``` shows as text: the check above would see it."""
    assert _problems("as in {cite}`pearce2024bilinear`.", []) == [
        "raw MyST role '{cite}'",
        "raw citation key 'pearce2024bilinear'",
    ]
    assert _problems("as in \u26a0pearce2024bilinear.", ["warning: Cross reference target was not found"])[
        0
    ].startswith("unresolved mark")
