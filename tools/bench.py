"""``make bench``: execute each chapter once (wall time, peak memory) and run the benchmark kernels.

Each chapter runs in a child process that executes it with nbclient on a fresh kernel, so that the peak
resident memory of that process's children (the kernel) can be read back. Results go to ``data/bench.json``
(read by the notebook checks and the instructor pages) and ``book/bench.md`` (a page of the book).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from tools.kernels import KERNELS
from tools.notebooks import ROOT, chapter_paths, execute

BENCH_JSON = ROOT / "data" / "bench.json"
BENCH_PAGE = ROOT / "book" / "bench.md"


def _run_one(path: Path) -> dict:
    start = time.perf_counter()
    execute(path, write=False)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"chapter": path.stem, "seconds": round(seconds, 1), "peak_mib": round(peak_kib / 1024)}


def _chapter_rows() -> list[dict]:
    rows = []
    for path in chapter_paths():
        print(f"bench: executing {path.stem} …", flush=True)
        out = subprocess.run(
            [sys.executable, "-m", "tools.bench", "--one", str(path)],
            cwd=ROOT, check=True, capture_output=True, text=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  {row['seconds']} s, {row['peak_mib']} MiB", flush=True)
        rows.append(row)
    return rows


def _machine() -> str:
    return (f"{os.cpu_count()} CPU cores ({platform.machine()}), Python {platform.python_version()}, "
            f"torch {torch.__version__}, BOOK_THREADS={os.environ.get('BOOK_THREADS', '1')}")


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
        f"{k['seconds_slow'] * 1e3:.1f} | {k['seconds_slow'] / k['seconds_fast']:.1f}× | {'yes' if k['agree'] else 'NO'} |"
        for k in result["kernels"]
    ]
    notes = [f"- {k['name']}: {k['note']}" for k in result["kernels"] if k.get("note")]
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(_run_one(Path(argv[1]))))
        return 0
    chapters = _chapter_rows()
    kernels = []
    for kernel in KERNELS:
        print(f"bench: kernel {kernel.__name__} …", flush=True)
        r = kernel()
        kernels.append({"name": r.name, "chapter": r.chapter, "what": r.what, "seconds_fast": r.seconds_fast,
                        "seconds_slow": r.seconds_slow, "agree": r.agree, "note": r.note})
        print(f"  {r.ratio:.1f}x, agree={r.agree}", flush=True)
    result = {"date": time.strftime("%Y-%m-%d"), "machine": _machine(), "chapters": chapters, "kernels": kernels}
    BENCH_JSON.write_text(json.dumps(result, indent=2) + "\n")
    BENCH_PAGE.write_text(_page(result))
    print(f"wrote {BENCH_JSON.relative_to(ROOT)} and {BENCH_PAGE.relative_to(ROOT)}")
    return 0 if all(k["agree"] for k in kernels) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
