"""A chapter opened in a real JupyterLab (the `lab` extra, which `make test` installs) renders its MyST markup.

The chapters cite with ``{cite}`key```, link terms with ``{term}`` and pages with ``{doc}``. Plain JupyterLab shows
these as raw text; jupyterlab-myst renders them. The test starts JupyterLab on 127.0.0.1 with a throw-away token and
config folders, opens chapter 1 in the system's headless Chromium, and checks the rendered opening cells.
A screenshot goes to ``_build/screenshots/jupyterlab__01_bilinear.png``.
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
        pytest.fail("JupyterLab with jupyterlab-myst is not installed: `pip install -e '.[dev,lab]'` (make test does).",
                    pytrace=False)
    if without_myst:  # JupyterLab as a reader without the `lab` extra's MyST renderer would see it
        config = home / "config" / "labconfig" / "page_config.json"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text('{"disabledExtensions": {"jupyterlab-myst": true}}')
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "BOOK_PROGRESS": "0"}
    # never write the chapter (autosave off), and no pop-up asking about news over the screenshot
    for plugin, settings in {"@jupyterlab/docmanager-extension/plugin": '{"autosave": false}',
                             "@jupyterlab/apputils-extension/notification": '{"fetchNews": "false"}'}.items():
        path = home / "settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(settings)
    port = _free_port()
    command = [str(jupyter), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1", f"--ServerApp.token={TOKEN}",
               f"--ServerApp.root_dir={ROOT}", "--LabApp.news_url=", "--ServerApp.disable_check_xsrf=True"]
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


def _rendered_markdown(base: str, screenshot: Path) -> list[str]:
    """The text of chapter 1's rendered Markdown cells in view, opened in JupyterLab at ``base``."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=require_chromium(), headless=True, args=CHROMIUM_FLAGS)
        page = chromium.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(90_000)
        try:
            page.goto(f"{base}/lab/tree/chapters/01_bilinear.ipynb?token={TOKEN}")
            page.locator(".jp-MarkdownCell", has_text="Bilinear MLPs").first.wait_for()
            page.wait_for_timeout(2000)  # let every visible cell render
            page.screenshot(path=screenshot)
            return page.locator(".jp-MarkdownCell").all_inner_texts()
        finally:
            chromium.close()


def test_chapter_opens_in_jupyterlab_with_rendered_myst(tmp_path) -> None:
    with _jupyterlab(tmp_path) as base:
        rendered = _rendered_markdown(base, SCREENSHOTS / "jupyterlab__01_bilinear.png")
    opening = "\n".join(rendered[:3])
    assert "Bilinear MLPs" in opening, opening[:500]
    raw = RAW_ROLE.findall("\n".join(rendered))
    assert not raw, f"MyST roles shown as raw text in JupyterLab: {raw}\n{opening[:800]}"


def test_the_check_sees_raw_roles_without_jupyterlab_myst(tmp_path) -> None:
    """The same check fails on the defect: JupyterLab with jupyterlab-myst disabled shows the roles as text."""
    with _jupyterlab(tmp_path, without_myst=True) as base:
        rendered = _rendered_markdown(base, SCREENSHOTS / "jupyterlab__01_bilinear__without_myst.png")
    raw = RAW_ROLE.findall("\n".join(rendered))
    assert "{cite}" in raw and "{term}" in raw, raw
