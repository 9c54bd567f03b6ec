"""The book's tools: per-section timing of executed chapters, and the generated bench and instructor pages."""

from __future__ import annotations

import json

import nbformat
import pytest

from tools.bench import BENCH_JSON, BENCH_PAGE, SECTIONS_PAGE, _page, _sections_page
from tools.notebooks import ROOT, section_seconds


def _timed(seconds: float) -> dict:
    return {
        "execution": {
            "iopub.execute_input": "2026-11-21T10:00:00.000000Z",
            "shell.execute_reply": f"2026-11-21T10:00:{seconds:09.6f}Z",
        }
    }


def test_section_seconds_sums_code_cells_under_each_heading() -> None:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Title\n\nIntro."),
            nbformat.v4.new_code_cell("a", metadata=_timed(1.5)),
            nbformat.v4.new_markdown_cell("Some text.\n\n## 1. First\n\n### a detail (not a section)"),
            nbformat.v4.new_code_cell("b", metadata=_timed(2.0)),
            nbformat.v4.new_code_cell("c", metadata=_timed(0.25)),
            nbformat.v4.new_markdown_cell("## 2. Prose only"),
            nbformat.v4.new_markdown_cell("## 3. Last"),
            nbformat.v4.new_code_cell("d", metadata=_timed(3.0)),
        ]
    )
    nb.cells.insert(3, nbformat.v4.new_markdown_cell("```python\n# a comment, not a heading\n```"))
    nb.cells.insert(4, nbformat.v4.new_code_cell(""))  # empty: never executed, so never timed
    assert section_seconds(nb) == [("(opening) Title", 1.5), ("1. First", 2.25), ("3. Last", 3.0)]


def test_section_seconds_needs_recorded_timing() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_code_cell("a")])
    with pytest.raises(ValueError, match="record_timing"):
        section_seconds(nb)


def test_generated_pages_match_data_bench_json() -> None:
    """book/bench.md and book/instructor_timings.md are written by `make bench` from data/bench.json."""
    result = json.loads(BENCH_JSON.read_text())
    assert BENCH_PAGE.read_text() == _page(result), "book/bench.md is stale: run `make bench`"
    assert SECTIONS_PAGE.read_text() == _sections_page(result), "book/instructor_timings.md is stale: run `make bench`"
    assert result["book_seconds"] <= 60, f"make book took {result['book_seconds']} s (goal: at most 60 s)"
    for chapter in result["chapters"]:
        assert chapter["sections"], f"{chapter['chapter']}: no section times"
        total = sum(s["seconds"] for s in chapter["sections"])
        assert total <= chapter["seconds"], f"{chapter['chapter']}: sections sum to more than the chapter"


def _notebook_printing(*lines: str) -> nbformat.NotebookNode:
    """A one-cell notebook whose committed output is ``lines``, and a second cell printing something harmless."""
    nb = nbformat.v4.new_notebook()
    first = nbformat.v4.new_code_cell(
        "print('ok')", outputs=[nbformat.v4.new_output("stream", name="stdout", text="ok\n")]
    )
    second = nbformat.v4.new_code_cell(
        "...", outputs=[nbformat.v4.new_output("stream", name="stdout", text="".join(f"{l}\n" for l in lines))]
    )
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), first, second]
    return nb


@pytest.mark.parametrize(
    "line",
    [
        "whitened Gram = identity: max deviation 2e-13",  # the old chapter 3 print, f"{err:.0e}"
        "largest dropped eigenvalue / largest = 1e-17",
        "the antisymmetric half contributes 6.9e-17",
        "max relative difference 1.2E-15",
        "residual 0.0000000000003",
        "mean −5e-17 of the features",
    ],
)
def test_noise_guard_names_the_cell_of_a_rounding_residual(line):
    from tools.notebooks import noise_prints

    assert noise_prints(_notebook_printing("fine 0.5", line)) == [(2, line)]


@pytest.mark.parametrize(
    "line",
    [
        "whitened Gram = identity: max deviation ≤ 1e-10 ✓",
        "figure 'x': data matches its reference (3 arrays, rtol=0, atol=1e-12)",
        "agrees to 1e-12 with autograd",
        "bound 1e-15 within 1e-11 threshold: 1e-12",
        "exactly 0 and 0.0 and 1e-3 and 12 of 64 and 2e9",
        "x < 1e-10 and y <= 1e-12",
    ],
)
def test_noise_guard_accepts_stated_bounds_and_ordinary_numbers(line):
    from tools.notebooks import noise_prints

    assert noise_prints(_notebook_printing(line)) == []


def test_noise_guard_reads_rich_outputs_too():
    from tools.notebooks import noise_prints

    nb = _notebook_printing("ok")
    nb.cells[2].outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "| err | 3e-16 |"})]
    assert noise_prints(nb) == [(2, "| err | 3e-16 |")]


def test_running_time_is_stated_from_the_bench_rounded(tmp_path):
    from tools.notebooks import rounded_seconds, state_running_time, stated_seconds

    assert [rounded_seconds(s) for s in (0.4, 6.7, 22.4, 32.9, 57.6, 98.7, 105.5, 125)] == [
        5,
        5,
        20,
        35,
        60,
        100,
        110,
        120,
    ]
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(
                "# 9. A chapter\n\n**Running time.** About 2 minutes on a laptop (see the bench); "
                "later 40 s of retraining."
            )
        ]
    )
    path = tmp_path / "09_chapter.ipynb"
    nbformat.write(nb, path)
    assert stated_seconds(nb) == 120
    assert state_running_time(path, 98.7) is True
    text = nbformat.read(path, as_version=4).cells[0].source
    assert "About 100 s on a laptop" in text and "later 40 s of retraining" in text  # only the first number changes
    assert state_running_time(path, 101.0) is False  # already stated


def test_mutants_reads_results_sets_equivalents_aside_and_reports_stale_entries():
    """The mutation tool's bookkeeping, by hand: statuses parsed from mutmut's listing (names with dots and
    underscores, statuses with spaces); killed and timeout count as caught, survived and 'no tests' do not; an
    equivalent mutant is set aside only while it survives, else it is stale; the share is over the counted ones."""
    from tools import mutants

    listing = "\n".join(
        [
            "    helpers.lib.bases.x_gram__mutmut_1: killed",
            "    helpers.lib.bases.x_gram__mutmut_2: survived",
            "    helpers.lib.bases.x_gram__mutmut_3: no tests",
            "    helpers.lib.bases.x_gram__mutmut_4: timeout",
            "    helpers.lib.bases.xǁBasisǁsize__mutmut_1: survived",
            "",
        ]
    )
    statuses = mutants.parse_results(listing)
    assert statuses["helpers.lib.bases.x_gram__mutmut_3"] == "no tests" and len(statuses) == 5
    listed = {
        "helpers.lib.bases.xǁBasisǁsize__mutmut_1": "returns the same number",
        "helpers.lib.bases.x_gram__mutmut_1": "x",
    }
    t = mutants.tally("lib", statuses, listed)
    assert list(t.equivalent) == ["helpers.lib.bases.xǁBasisǁsize__mutmut_1"]
    assert t.stale == ["helpers.lib.bases.x_gram__mutmut_1"]  # listed, but the tests kill it
    assert t.killed == 2 and len(t.counted) == 4 and t.share == 0.5
    assert t.survivors == ["helpers.lib.bases.x_gram__mutmut_2", "helpers.lib.bases.x_gram__mutmut_3"]
    text = mutants.report([t])
    assert "| lib | 5 | 0 | 1 | 2 | 1 | 2 | 50.0% (below 95%) |" in text and "returns the same number" in text
    assert "Stale" in text
    recipes = mutants.tally("lib", statuses, {}, {"helpers.lib.bases.x_gram": "a recipe"})  # four of five set aside
    assert len(recipes.set_aside) == 4 and recipes.counted == ["helpers.lib.bases.xǁBasisǁsize__mutmut_1"]
    assert recipes.share == 0.0 and "Set aside in lib (a recipe): helpers.lib.bases.x_gram" in mutants.report([recipes])


def test_every_mutants_wing_names_existing_files_and_a_valid_mutmut_table():
    """The wings of pyproject.toml: sources that exist under src/helpers, test files that exist, and a mutmut table
    that TOML reads back with the wing's own files."""
    import tomllib
    from pathlib import Path

    from tools import mutants

    root = Path(mutants.ROOT)
    found = mutants.wings()
    assert {w.name for w in found} >= {"bilinear", "degeneracy", "inversion", "lenses", "lib", "machinery"}
    for wing in found:
        assert all(list(root.glob(pattern)) for pattern in wing.source), wing.name
        assert all(pattern.startswith("src/helpers/") for pattern in wing.source)
        assert all((root / test).is_file() for test in wing.tests), wing.name
        table = tomllib.loads(mutants.mutmut_config(wing))["tool"]["mutmut"]
        assert table["only_mutate"] == wing.source and table["pytest_add_cli_args_test_selection"] == wing.tests
    assert isinstance(mutants.equivalents(), dict)


def test_mutants_rule_sets_aside_only_einsum_subscripts_in_upper_case():
    """A mutant that upper-cases an einsum's subscripts computes the same contraction (torch reads both cases); one
    that changes what is contracted, or upper-cases another string, is not set aside."""
    from tools import mutants

    versions = {
        "orig": ("ab", "ij,jk->ik"),
        "1": ("ab", "IJ,JK->IK"),
        "2": ("ab", "ij,jk->ki"),
        "3": ("AB", "ij,jk->ik"),
    }
    source = "".join(
        f'def x_f__mutmut_{n}(a, b):\n    label = "{label}"\n    return torch.einsum("{eq}", a, b)\n'
        for n, (label, eq) in versions.items()
    )
    bodies = mutants.function_bodies(source)
    verdicts = {
        n: mutants.equivalent_by_rule(*mutants.changed_lines(bodies, f"helpers.m.x_f__mutmut_{n}")) for n in (1, 2, 3)
    }
    assert verdicts == {1: mutants.EINSUM_CASE, 2: None, 3: None}
    assert mutants.changed_lines(bodies, "helpers.m.x_g__mutmut_1") is None


def test_mutmut_order_runs_the_fastest_tests_first(tmp_path, monkeypatch):
    """With mutmut's recorded durations in the folder it runs in, tests run fastest first (unknown ones first of
    all); without them (mutmut's first run), in pytest's order."""
    import json
    from types import SimpleNamespace

    from tools import mutmut_order

    items = [SimpleNamespace(nodeid=n) for n in ("t::slow", "t::new", "t::fast")]
    monkeypatch.chdir(tmp_path)
    mutmut_order.pytest_collection_modifyitems(None, None, items)
    assert [i.nodeid for i in items] == ["t::slow", "t::new", "t::fast"]
    (tmp_path / "mutmut-stats.json").write_text(json.dumps({"duration_by_test": {"t::slow": 9.0, "t::fast": 0.1}}))
    mutmut_order.pytest_collection_modifyitems(None, None, items)
    assert [i.nodeid for i in items] == ["t::new", "t::fast", "t::slow"]


def test_mutants_copies_new_test_files_before_they_are_committed_but_not_ignored_ones(tmp_path, monkeypatch):
    """A test being written is used by the next `make mutants` at once; build outputs (ignored) never travel."""
    import subprocess

    from tools import mutants

    root = tmp_path / "repo"
    (root / "tests").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / ".gitignore").write_text("tests/ignored.py\n")
    (root / "tests" / "test_old.py").write_text("old\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    (root / "tests" / "test_new.py").write_text("new\n")  # not committed, not even added
    (root / "tests" / "ignored.py").write_text("ignored\n")
    monkeypatch.setattr(mutants, "ROOT", root)
    monkeypatch.setattr(mutants, "WORK", tmp_path / "work")
    wing = mutants.Wing("w", ["src/*"], ["tests/test_old.py"], {})
    work = mutants.prepare(wing)
    assert (work / "tests" / "test_new.py").read_text() == "new\n"
    assert (work / "tests" / "test_old.py").exists() and not (work / "tests" / "ignored.py").exists()


def _figure_cell(source: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})
    ]
    return cell


def test_a_drawing_cell_is_one_that_only_draws() -> None:
    from tools.notebooks import is_drawing_cell

    drawing = 'fig, ax = plt.subplots()\nax.plot(x, y)\nax.set_title("t")\ncheck("f", {"y": y})\nplt.show()'
    assert is_drawing_cell(_figure_cell(drawing))
    method = "q = bilinear.interaction_matrix(w, v, u)\neig = bilinear.eigendecompose(q)\nfig, ax = plt.subplots()\n"
    method += "ax.plot(eig.values)\nplt.show()"
    assert not is_drawing_cell(_figure_cell(method))  # 3 of 5 lines draw: the method stays in view
    assert not is_drawing_cell(_figure_cell("def show(ax):\n    ax.plot(x)\n    ax.set_title('t')\nplt.show()"))
    no_figure = _figure_cell(drawing)
    no_figure.outputs = []
    assert not is_drawing_cell(no_figure)


def test_the_book_shows_figures_without_their_check_lines() -> None:
    """The line a figure check prints stays in the chapter (nbval compares it) and leaves the rendered output."""
    import sys

    from docutils import nodes

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    from reader_view import drop_figure_check_lines

    document = nodes.document(None, None)
    kept, only = (
        "figure 'a': data matches its reference (1 arrays)\nλ = 0.5\n",
        "figure 'b': data matches its reference\n",
    )
    for text in (kept, only):
        document += nodes.container("", nodes.literal_block(text, text, classes=["output", "stream"]))
    drop_figure_check_lines(None, document)
    assert [block.astext() for block in document.findall(nodes.literal_block)] == ["λ = 0.5\n"]
    chapter = (ROOT / "chapters" / "00_workbench.ipynb").read_text()
    assert "data matches its reference" in chapter
