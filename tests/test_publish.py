"""`make publish` as a maintainer runs it, against a local bare repository standing in for the code host: the
gh-pages branch it pushes holds the built site, serves index.html at its root, and links nothing by an absolute
path (a project site is served below /<repository>/, where a link to /_static/… would break)."""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
from built_site import ROOT, SITE

#: a link that only works at a server's root, or on the machine that built the site
ABSOLUTE = re.compile(r"""(?:href|src)\s*=\s*["'](?:/(?!/)|file:)|/(?:work|home|root|tmp|Users)/\S*?_build""")


def _git(*args: str, cwd: Path, env: dict | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def absolute_links(folder: Path) -> list[str]:
    found = []
    for page in sorted(folder.rglob("*.html")):
        for m in ABSOLUTE.finditer(page.read_text("utf-8", errors="replace")):
            found.append(f"{page.relative_to(folder)}: {m.group(0)[:80]}")
    return found


def test_make_publish_pushes_the_site_to_a_gh_pages_branch(tmp_path) -> None:
    if not (SITE / "index.html").exists():
        pytest.fail("No built book: run `make book` first (`make test` does).", pytrace=False)
    host = tmp_path / "host.git"
    _git("init", "--quiet", "--bare", str(host), cwd=tmp_path)
    # ghp-import commits in the repository of its working directory: a throw-away one (GIT_DIR), so that publishing
    # from the test leaves the book's own repository without a gh-pages branch
    local = tmp_path / "local.git"
    _git("init", "--quiet", "--bare", str(local), cwd=tmp_path)
    env = {
        **os.environ,
        "GIT_DIR": str(local),
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@localhost",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@localhost",
    }
    run = subprocess.run(
        ["make", "--no-print-directory", "-o", "book", "publish", f"PUBLISH_REMOTE={host}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    files = _git("ls-tree", "-r", "--name-only", "gh-pages", cwd=host).split()
    assert "index.html" in files and ".nojekyll" in files and "chapters/01_bilinear.html" in files
    assert len(_git("rev-list", "gh-pages", cwd=host).split()) == 1  # one commit, replacing the last
    served = tmp_path / "served"
    served.mkdir()
    archive = tmp_path / "site.tar"
    _git("archive", "--output", str(archive), "gh-pages", cwd=host)
    with tarfile.open(archive) as tar:
        tar.extractall(served, filter="data")
    assert "chapters/" in (served / "index.html").read_text() or "intro" in (served / "index.html").read_text()
    assert not absolute_links(served), absolute_links(served)[:10]


def test_the_check_sees_an_absolute_link(tmp_path) -> None:
    (tmp_path / "a.html").write_text('<a href="/_static/x.css">x</a><img src="_static/ok.png">')
    (tmp_path / "b.html").write_text('<a href="https://example.org/">ok</a><a href="//cdn.example/x">ok</a>')
    assert absolute_links(tmp_path) == ['a.html: href="/']
