"""``make bench``: execute each chapter once (wall time, peak memory) and run the benchmark kernels.

Each chapter runs in a child process that executes it with nbclient on a fresh kernel, so that the peak
resident memory of that process's children (the kernel) can be read back. Results go to ``data/bench.json``
(read by the notebook checks), ``book/bench.md`` (a page of the book) and ``book/instructor_timings.md`` (each
chapter's sections, included by the instructor page), and each chapter's "Running time" sentence is rewritten from
it (rounded), so that the two cannot drift apart. It also times the book's build from scratch.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from tools.kernels import KERNELS, MEASUREMENTS
from tools.notebooks import ROOT, chapter_paths, execute, rounded_seconds, section_seconds, state_running_time

BENCH_JSON = ROOT / "data" / "bench.json"
BENCH_PAGE = ROOT / "book" / "bench.md"
SECTIONS_PAGE = ROOT / "book" / "instructor_timings.md"  # included by book/instructor.md


def _run_one(path: Path) -> dict:
    start = time.perf_counter()
    nb = execute(path, write=False, record_timing=True)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    sections = [{"section": title, "seconds": round(t, 1)} for title, t in section_seconds(nb)]
    return {
        "chapter": path.stem,
        "seconds": round(seconds, 1),
        "peak_mib": round(peak_kib / 1024),
        "sections": sections,
    }


def _book_build_seconds() -> float:
    """Wall time of the book's build (`make book`'s jupyter-book command) from scratch, into a temporary folder."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        build = subprocess.run(
            [
                str(Path(sys.executable).parent / "jupyter-book"),
                "build",
                "-W",
                "-n",
                "--keep-going",
                "--path-output",
                out,
                ".",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        seconds = round(time.perf_counter() - start, 1)
    if build.returncode != 0:
        print(build.stdout[-4000:], build.stderr[-4000:], sep="\n", file=sys.stderr)
        raise SystemExit("bench: the book does not build (see above); nothing written")
    return seconds


def _chapter_rows() -> list[dict]:
    rows = []
    for path in chapter_paths():
        print(f"bench: executing {path.stem} …", flush=True)
        out = subprocess.run(
            [sys.executable, "-m", "tools.bench", "--one", str(path)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  {row['seconds']} s, {row['peak_mib']} MiB", flush=True)
        rows.append(row)
    return rows


def _machine() -> str:
    return (
        f"{os.cpu_count()} CPU cores ({platform.machine()}), Python {platform.python_version()}, "
        f"torch {torch.__version__}, BOOK_THREADS={os.environ.get('BOOK_THREADS', '1')}"
    )


def _page(result: dict) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` — do not edit by hand. Each chapter is executed once, top to bottom, on a fresh",
        "kernel with the cached weights; *peak memory* is the largest resident set size of the kernel process.",
        "",
        f"Measured on {result['date']}: {result['machine']}.",
        "",
        "## Chapters",
        "",
        "| chapter | wall time (s) | peak memory (MiB) |",
        "|---|---:|---:|",
    ]
    lines += [f"| {r['chapter']} | {r['seconds']:.1f} | {r['peak_mib']} |" for r in result["chapters"]]
    lines += [
        "",
        "Each chapter's time section by section is on the [instructor page](instructor.md).",
        "",
        "## Building the book",
        "",
        "`make book` (the jupyter-book build from the committed outputs, from an empty `_build`, with the",
        f"environment and the offline JavaScript already installed): **{result['book_seconds']:.1f} s**"
        f" (goal: at most 60 s).",
    ]
    lines += [
        "",
        "## Kernels",
        "",
        "The computations whose speed the book makes a claim about, each timed both ways on the same inputs",
        "(best of several runs), with a check that both ways give the same result.",
        "",
        "| chapter | kernel | compared | fast (ms) | slow (ms) | speed-up | same result |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {k['chapter']} | {k['name']} | {k['what']} | {k['seconds_fast'] * 1e3:.1f} | "
        f"{k['seconds_slow'] * 1e3:.1f} | {k['seconds_slow'] / k['seconds_fast']:.1f}× | "
        f"{'yes' if k['agree'] else 'NO'} |"
        for k in result["kernels"]
    ]
    notes = [f"- {k['name']}: {k['note']}" for k in result["kernels"] if k.get("note")]
    if notes:
        lines += ["", "Notes:", "", *notes]
    for k in result["kernels"]:
        if k.get("ways"):
            generic = next(w["seconds"] for w in k["ways"] if w["way"] == "generic")
            lines += [
                "",
                f"### {k['name']}: every way",
                "",
                "Each way runs in a fresh process (one thread) that loads the model and its activations, then builds",
                "the graph twice (the time is the faster build). *Peak memory* is that process's largest resident set;",
                "*peak before the build* is the largest it reached while loading, so a build that stays below it adds",
                "nothing to the peak; *the build's own* is what the first build itself took above the memory resident",
                "when it started (the process's high-water mark reset just before it; Linux). Where a build stays",
                "below the loading's peak, the peak column measures the loading, which varies between machines and",
                "runs: compare the ways by the build's own memory.",
                "",
                "| way | how | time (s) | speed-up over generic | peak memory (MiB) | peak before the build (MiB) "
                "| the build's own (MiB) | same as generic |",
                "|---|---|---:|---:|---:|---:|---:|---|",
            ]
            lines += [
                f"| {w['way']} | {w['how']} | {w['seconds']:.2f} | {generic / w['seconds']:.1f}× | {w['peak_mib']} | "
                f"{w['baseline_mib']} | {w.get('increment_mib', '—') if w.get('increment_mib') is not None else '—'} | "
                f"{'yes' if w['same_as_generic'] else 'NO'} |"
                for w in k["ways"]
            ]
    if result.get("measurements"):
        lines += [
            "",
            "## Measurements",
            "",
            "Costs a chapter states, measured once each (best of three where repeated).",
            "",
            "| chapter | what | how | value |",
            "|---|---|---|---:|",
        ]
        lines += [
            f"| {m['chapter']} | {m['name']} | {m['what']} | {m['value']:g} {m['unit']} |"
            for m in result["measurements"]
        ]
    return "\n".join(lines) + "\n"


def _sections_page(result: dict) -> str:
    """The per-section running times, as Markdown included by the instructor page."""
    lines = [
        "<!-- Written by `make bench` from data/bench.json; do not edit by hand. -->",
        "",
        f"Measured by `make bench` on {result['date']}: {result['machine']}. A section's time is what its code",
        "cells take on a fresh kernel with the cached weights; reading and discussion are not included.",
    ]
    for chapter in result["chapters"]:
        lines += [
            "",
            f"**{chapter['chapter']}** — {chapter['seconds']:.0f} s in all",
            "",
            "| section | running time (s) |",
            "|---|---:|",
        ]
        lines += [f"| {s['section']} | {s['seconds']:.1f} |" for s in chapter["sections"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(_run_one(Path(argv[1]))))
        return 0
    chapters = _chapter_rows()
    from helpers.runtime import thread_count

    torch.set_num_threads(thread_count())  # the kernels run on as many threads as the chapters do
    kernels = []
    for kernel in KERNELS:
        print(f"bench: kernel {kernel.__name__} …", flush=True)
        r = kernel()
        kernels.append(
            {
                "name": r.name,
                "chapter": r.chapter,
                "what": r.what,
                "seconds_fast": r.seconds_fast,
                "seconds_slow": r.seconds_slow,
                "agree": r.agree,
                "note": r.note,
                "ways": list(r.ways),
            }
        )
        print(f"  {r.ratio:.1f}x, agree={r.agree}", flush=True)
    measurements = []
    for measure in MEASUREMENTS:
        print(f"bench: measurement {measure.__name__} …", flush=True)
        measurements += measure()
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": _machine(),
        "book_seconds": None,
        "chapters": chapters,
        "kernels": kernels,
        "measurements": measurements,
    }
    previous = SECTIONS_PAGE.read_text() if SECTIONS_PAGE.exists() else None
    SECTIONS_PAGE.write_text(_sections_page(result))  # before the build, which includes it
    print("bench: building the book from scratch …", flush=True)
    try:
        result["book_seconds"] = _book_build_seconds()
    except SystemExit:
        if previous is not None:
            SECTIONS_PAGE.write_text(previous)
        raise
    print(f"  {result['book_seconds']} s", flush=True)
    BENCH_JSON.write_text(json.dumps(result, indent=2) + "\n")
    BENCH_PAGE.write_text(_page(result))
    for path, row in zip(chapter_paths(), chapters):  # each chapter states what was just measured
        if state_running_time(path, row["seconds"]):
            print(f"bench: {path.name} now states about {rounded_seconds(row['seconds'])} s")
    from tools import schedules  # the instructor page's schedules state the bench's seconds and memory

    schedules.write()
    print(
        f"wrote {BENCH_JSON.relative_to(ROOT)}, {BENCH_PAGE.relative_to(ROOT)}, {SECTIONS_PAGE.relative_to(ROOT)} "
        f"and {schedules.PAGE.relative_to(ROOT)}"
    )
    return 0 if all(k["agree"] for k in kernels) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
