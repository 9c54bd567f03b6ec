"""Every running time and memory size the prose states ("about 3 minutes", "about 1.6 GiB") agrees with the data it
comes from: the bench (data/bench.json, written by `make bench`), the checkpoint manifest (the training time
recorded with every cached model) or the workshop's rehearsal (data/workshop.json, `make audit
BOOK_REHEARSAL=record`). A statement that drifts more than 10 % from its measurement fails, and so does a statement
of a time or a size that no entry below ties to its data.

The chapters' "Running time." lines are written by `make bench` itself (tests/test_notebooks.py checks them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from built_site import source_markdown

ROOT = Path(__file__).resolve().parents[1]
BENCH = json.loads((ROOT / "data" / "bench.json").read_text())
MANIFEST = json.loads((ROOT / "data" / "checkpoints" / "manifest.json").read_text())
#: the workshop's rehearsal (tests/test_workshop_rehearsal.py with BOOK_REHEARSAL=record, in make audit)
WORKSHOP = json.loads((ROOT / "data" / "workshop.json").read_text())
#: how far "about" may be from the measurement
TOLERANCE = 0.10
#: a stated time or size: a number and its unit
STATEMENT = re.compile(
    r"\b(\d+(?:\.\d+)?)\s*(s|seconds?|min|minutes?|GiB|GB|MiB|MB)\b(?! of (?:free )?(?:disk|memory))"
)


def _train_minutes(prefix: str) -> float:
    return sum(m["train_seconds"] for name, m in MANIFEST.items() if name.startswith(prefix)) / 60


def _kernel_way(name_start: str, way: str) -> dict:
    kernel = next(k for k in BENCH["kernels"] if k["name"].startswith(name_start))
    return next(w for w in kernel["ways"] if w["way"] == way)


#: (file, the sentence around the number (a regex whose group is the number), the measurement in its unit)
STATEMENTS: list[tuple[str, str, Callable[[], float]]] = [
    (
        "chapters/01_bilinear.ipynb",
        r"Retraining all twelve models from scratch \(`make retrain`\) takes about (\S+) minutes",
        lambda: _train_minutes("bilinear_"),
    ),
    (
        "chapters/01_bilinear.ipynb",
        r"eight models, about\s+(\S+) s each",
        lambda: _train_minutes("bilinear_mnist_") * 60 / 8,
    ),
    (
        "chapters/01_bilinear.ipynb",
        r"100 epochs, about (\S+) s each",
        lambda: _train_minutes("bilinear_mnist_") * 60 / 8,
    ),
    (
        "chapters/03_lib.ipynb",
        r"section 8's transformer at about (\S+) GiB",
        lambda: _kernel_way("mod-add LIB bases and edges", "generic")["increment_mib"] / 1024,
    ),
    (
        "chapters/03_lib.ipynb",
        r"\(about (\S+) minutes on the CPU; cached\)",
        lambda: _train_minutes("modadd_transformer"),
    ),
    (
        "chapters/04_inversionview.ipynb",
        r"Retraining the three models from scratch \(`RETRAIN=1`\) takes about (\S+) minutes",
        lambda: _train_minutes("inversion_"),
    ),
    (
        "chapters/04_inversionview.ipynb",
        r"in 5,000 steps, about (\S+) minutes on one CPU thread",
        lambda: _train_minutes("inversion_addition_model"),
    ),
    (
        "chapters/05_four_lenses.ipynb",
        r"Retraining the three cached models \(`RETRAIN=1`\) takes about (\S+) minutes",
        lambda: _train_minutes("lens_"),
    ),
    ("chapters/05_four_lenses.ipynb", r"on one thread: the model (\S+) minutes", lambda: _train_minutes("lens_modadd")),
    ("chapters/05_four_lenses.ipynb", r"its small twin (\S+) s", lambda: _train_minutes("lens_twin") * 60),
    (
        "chapters/05_four_lenses.ipynb",
        r"and the decoder (\S+) s \(measured",
        lambda: _train_minutes("lens_decoder") * 60,
    ),
    (
        "chapters/04_inversionview.ipynb",
        r"one thread: model A (\S+),",
        lambda: _train_minutes("inversion_addition_model"),
    ),
    (
        "chapters/04_inversionview.ipynb",
        r"the decoder (\S+) and model B",
        lambda: _train_minutes("inversion_addition_dec"),
    ),
    (
        "chapters/04_inversionview.ipynb",
        r"and model B (\S+) \(the training",
        lambda: _train_minutes("inversion_counting"),
    ),
    (
        "book/instructor.md",
        r"The chapter that needs the most memory peaks at about (\S+) GiB",
        lambda: max(c["peak_mib"] for c in BENCH["chapters"]) / 1024,
    ),
    (
        "book/instructor.md",
        r"the stick's folder measured about (\S+) GiB",
        lambda: WORKSHOP["stick_bytes"] / 2**30,
    ),
    ("book/instructor.md", r"the install took about (\S+) s", lambda: WORKSHOP["install_seconds"]),
    ("book/instructor.md", r"installed folder takes about (\S+) GiB", lambda: WORKSHOP["installed_bytes"] / 2**30),
    ("tools/workshop_guide.md", r"self-test: about (\S+) minute", lambda: WORKSHOP["install_seconds"] / 60),
    (
        "tools/workshop_guide.md",
        r"installed folder takes about (\S+) GiB",
        lambda: WORKSHOP["installed_bytes"] / 2**30,
    ),
    ("book/setup.md", r"Retraining all 23 models takes about (\S+) minutes", lambda: _train_minutes("")),
    (
        "book/setup.md",
        r"\(18 of the 23, about (\S+) minutes on one core\)",
        lambda: sum(m["train_seconds"] for m in MANIFEST.values() if m["train_seconds"] <= 60) / 60,
    ),
    (
        "book/setup.md",
        r"`make audit` retrains all of them \(about (\S+) minutes of training",
        lambda: _train_minutes(""),
    ),
    ("README.md", r"the slow ones too \(about (\S+) minutes of training\)", lambda: _train_minutes("")),
]


def _prose(path: str) -> str:
    """A page's text, or a chapter's Markdown cells, with line breaks as spaces."""
    return re.sub(r"\s+", " ", source_markdown(ROOT / path)[0])


@pytest.mark.parametrize("path, words, measured", STATEMENTS, ids=[f"{p}:{w[:40]}" for p, w, _ in STATEMENTS])
def test_a_stated_time_or_size_is_its_measurement(path: str, words: str, measured: Callable[[], float]) -> None:
    found = re.findall(words, _prose(path))
    assert len(found) == 1, f"{path}: expected the statement /{words}/ once, found {len(found)}"
    stated, value = float(found[0]), measured()
    assert abs(stated - value) <= TOLERANCE * value, (
        f"{path}: states {stated} where the data measure {value:.3g} (more than {TOLERANCE:.0%} apart): update the "
        f"sentence to the measurement"
    )


def test_every_stated_time_or_size_is_tied_to_its_data() -> None:
    """The chapters, the book's pages and the README state no time or size that an entry above does not check
    (a "Running time." line excepted)."""
    files = [
        "README.md",
        "tools/workshop_guide.md",
        *[str(p.relative_to(ROOT)) for p in sorted((ROOT / "book").glob("*.md"))],
        *[str(p.relative_to(ROOT)) for p in sorted((ROOT / "chapters").glob("*.ipynb"))],
    ]
    untied = []
    for path in files:
        if path in ("book/bench.md", "book/instructor_timings.md", "book/instructor_schedules.md"):  # from the data
            continue
        text = _prose(path)
        covered = [m.span(1) for words in (w for p, w, _ in STATEMENTS if p == path) for m in re.finditer(words, text)]
        for sentence in re.split(r"(?<=[.;])\s", text):
            if any(f"{line}.**" in sentence for line in ("Running time", "Study time")):  # written by the tools
                continue
            for m in re.finditer(r"about\s+" + STATEMENT.pattern, sentence):
                start = text.find(sentence) + m.start(1)
                if not any(a <= start < b for a, b in covered):
                    untied.append(f"{path}: {sentence.strip()[:140]}")
    assert not untied, "times or sizes stated with no check against the bench or the manifest:\n" + "\n".join(untied)


def test_the_check_catches_a_stale_statement(monkeypatch) -> None:
    """The instructor page once said the largest chapter peaks at about 1.3 GiB; the bench measured more."""
    import sys

    here = sys.modules[__name__]
    monkeypatch.setattr(here, "_prose", lambda path: "The chapter that needs the most memory peaks at about 1.3 GiB.")
    with pytest.raises(AssertionError, match="update the sentence"):
        test_a_stated_time_or_size_is_its_measurement(
            "book/instructor.md",
            next(w for p, w, _ in STATEMENTS if p == "book/instructor.md"),
            lambda: max(c["peak_mib"] for c in BENCH["chapters"]) / 1024,
        )
