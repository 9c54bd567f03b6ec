"""Mutation testing, wing by wing: how many plausible bugs each wing's own unit tests catch.

``make mutants`` (or ``python -m tools.mutants [WING ...]``) runs mutmut once per wing of ``src/helpers`` listed in
``pyproject.toml`` under ``[tool.book.mutants.<wing>]`` (``source``: the files to mutate, ``tests``: the unit-test
files that are that wing's own). Each wing runs in its own copy of the repository under ``build/mutants/<wing>``,
so that mutmut's configuration is the wing's and the working tree is never touched; a stopped run resumes where it
stopped. mutmut changes one thing at a time (an operator, a constant, a comparison, an argument) and runs the tests
that reach the changed function; a mutant is *killed* when one of them fails (or hangs past the timeout), and
*survives* when they all pass or when no test of the wing reaches it. Training recipes are set aside by name (the
wing's ``set_aside`` table says why: ``make audit`` judges them, no unit test trains a model).

Surviving mutants that cannot be killed, because they do not change behaviour (an equivalent mutant), are listed
with the reason in ``tools/mutants_equivalent.toml``; they are set aside from the share and printed. A listed name
that no longer survives is reported as stale, so that the list stays honest.

Slow (minutes per wing); not part of ``make test``. Run it after changing a wing's helpers.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import hashlib
import os
import re
import resource
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutants"
EQUIVALENT = ROOT / "tools" / "mutants_equivalent.toml"
COPIED = ("src", "tests", "data", "tools", "pyproject.toml")  # what a wing's tests may read
KILLED = {"killed", "timeout"}  # a hang is a detected change too; mutmut's timeout is generous (below)
MEMORY = 6 * 2**30  # address space per process: a mutant that asks for far more (seen: 10 GiB) fails, not the laptop


@dataclass
class Wing:
    name: str
    source: list[str]
    tests: list[str]
    set_aside: dict[str, str] = field(default_factory=dict)  # mutant-name prefix -> why unit tests do not judge it


@dataclass
class Tally:
    """One wing's mutants by status, and the equivalent ones set aside."""

    wing: str
    statuses: dict[str, str] = field(default_factory=dict)  # mutant name -> mutmut's status
    equivalent: dict[str, str] = field(default_factory=dict)  # surviving mutant -> why it is equivalent
    stale: list[str] = field(default_factory=list)  # listed as equivalent but not surviving
    set_aside: dict[str, str] = field(default_factory=dict)  # mutant -> why no unit test judges it (a recipe)

    @property
    def counted(self) -> list[str]:
        return [m for m in self.statuses if m not in self.equivalent and m not in self.set_aside]

    @property
    def killed(self) -> int:
        return sum(self.statuses[m] in KILLED for m in self.counted)

    @property
    def survivors(self) -> list[str]:
        return sorted(m for m in self.counted if self.statuses[m] not in KILLED)

    @property
    def share(self) -> float:
        return self.killed / len(self.counted) if self.counted else float("nan")


def wings(pyproject: Path = ROOT / "pyproject.toml") -> list[Wing]:
    """The wings of ``[tool.book.mutants]``, in the order they are listed."""
    table = tomllib.loads(pyproject.read_text())["tool"]["book"]["mutants"]
    return [
        Wing(name, list(spec["source"]), list(spec["tests"]), dict(spec.get("set_aside", {})))
        for name, spec in table.items()
    ]


def mutmut_config(wing: Wing) -> str:
    """The ``[tool.mutmut]`` table of one wing's copy: mutate its files, run its unit tests only."""

    def toml_list(items: list[str]) -> str:
        return "[" + ", ".join(f'"{item}"' for item in items) + "]"

    return "\n".join(
        [
            "",
            "[tool.mutmut]",
            'source_paths = ["src/helpers"]',
            f"only_mutate = {toml_list(wing.source)}",
            f"pytest_add_cli_args_test_selection = {toml_list(wing.tests)}",
            # fastest tests first (tools/mutmut_order.py), so that a mutant dies by its quickest failing test
            'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "tools.mutmut_order", "-x", "-q"]',
            'process_isolation = "forkserver"',  # torch is not fork-safe after it has run
            # a mutant's tests run in a fresh collection (imports, torch), which the suite's timings leave out: add 30 s
            "timeout_constant = 30.0",
            "timeout_multiplier = 2.0",  # mutmut's default 15 lets a looping mutant of a slow test run for many minutes
            'also_copy = ["data/", "tools/"]',
            "",
        ]
    )


def prepare(wing: Wing) -> Path:
    """The wing's copy of the repository's files (tracked or new, not ignored), with its mutmut configuration. An
    existing copy is brought up to date, not replaced: mutmut keeps its results there and re-tests only functions that
    changed, so a long run can be stopped and resumed (``rm -r build/mutants`` starts afresh)."""
    work = WORK / wing.name
    work.mkdir(parents=True, exist_ok=True)
    # tracked files and new ones not yet committed (a test being written), never ignored ones
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", *COPIED],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    for rel in filter(None, tracked.decode().split("\0")):
        source, target = ROOT / rel, work / rel
        if target.exists() and target.read_bytes() == source.read_bytes() and rel != "pyproject.toml":
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    with (work / "pyproject.toml").open("a") as f:
        f.write(mutmut_config(wing))
    return work


def tests_digest(wing: Wing) -> str:
    """A digest of the wing's unit-test files: when it changes, mutants that survived the old tests are re-tested."""
    digest = hashlib.sha256()
    for rel in sorted(wing.tests):
        digest.update(rel.encode() + b"\0" + (ROOT / rel).read_bytes())
    return digest.hexdigest()


def run(wing: Wing, max_children: int) -> dict[str, str]:
    """Run mutmut on one wing; return every mutant's status (killed, survived, no tests, timeout, …).

    mutmut keeps a mutant's result until the function it mutates changes; a mutant that survived is also tested
    again when the wing's tests have changed since (a new or changed test may kill it), after tracing again which
    tests reach which function."""
    work = WORK / wing.name
    stamp, digest = work / "tests.sha256", tests_digest(wing)
    # results without a stamp came from unknown tests; a fresh copy has none to doubt
    tested_with = stamp.read_text() if stamp.exists() else ("" if (work / "mutants").exists() else digest)
    prepare(wing)
    mutmut = [sys.executable, "-m", "mutmut"]
    env = {**os.environ, "BOOK_PROGRESS": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    log = WORK / f"{wing.name}.log"

    def mutmut_run(*names: str) -> None:
        with log.open("a") as out:
            done = subprocess.run(
                [*mutmut, "run", "--max-children", str(max_children), *names],
                cwd=work,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY)),
            )
        if done.returncode != 0:
            raise SystemExit(f"mutmut failed on the wing {wing.name} (exit {done.returncode}); see {log}")

    def statuses() -> dict[str, str]:
        return parse_results(
            subprocess.run(
                [*mutmut, "results", "--all", "true"], cwd=work, env=env, check=True, capture_output=True, text=True
            ).stdout
        )

    log.write_text("")
    if tested_with != digest:  # mutmut traces the reach of new test names only; a changed test may reach more
        (work / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    mutmut_run()
    found = statuses()
    if tested_with != digest:
        again = sorted(name for name, status in found.items() if status not in KILLED)
        if again:
            print(f"  the tests changed: {len(again)} surviving mutants tested again", flush=True)
            mutmut_run(*again)
            found = statuses()
    stamp.write_text(digest)
    return found


def parse_results(text: str) -> dict[str, str]:
    """``name: status`` lines of ``mutmut results --all true`` as a dict."""
    statuses = {}
    for line in text.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name:
            statuses[name] = status.strip()
    return statuses


def equivalents(path: Path = EQUIVALENT) -> dict[str, dict[str, str]]:
    """Per wing, the mutants listed as equivalent, with the reason."""
    if not path.exists():
        return {}
    return {wing: dict(entries) for wing, entries in tomllib.loads(path.read_text()).items()}


#: Equivalent by a rule that reads the change itself, so that no list has to name each case.
EINSUM_CASE = "torch.einsum reads upper-case subscripts as it reads lower-case ones: the same contraction"
_SUBSCRIPTS = re.compile(r"einsum\((['\"])([a-z,.\->\s]+)\1")


def function_bodies(source: str) -> dict[str, list[str]]:
    """Every function of a mutated module (mutmut writes the original and each mutant as functions), by name, as
    normalised source lines without the ``def`` line."""
    return {
        node.name: ast.unparse(node).splitlines()[1:]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


def changed_lines(bodies: dict[str, list[str]], mutant: str) -> tuple[list[str], list[str]] | None:
    """The lines that mutant ``mutant`` (mutmut's name, ``helpers.m.x_f__mutmut_3``) changes, before and after, given
    its module's :func:`function_bodies`; None when the function is not found."""
    function = mutant.rsplit(".", 1)[1]
    before, after = bodies.get(function.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"), bodies.get(function)
    if before is None or after is None:
        return None
    diff = list(difflib.unified_diff(before, after, lineterm="", n=0))[2:]
    return (
        [line[1:].strip() for line in diff if line.startswith("-")],
        [line[1:].strip() for line in diff if line.startswith("+")],
    )


def equivalent_by_rule(before: list[str], after: list[str]) -> str | None:
    """The reason a change is equivalent when a rule recognises it (einsum subscripts in upper case), else None."""
    if len(before) == len(after) == 1:
        for match in _SUBSCRIPTS.finditer(before[0]):
            quote, subscripts = match.groups()
            if after[0] == before[0].replace(quote + subscripts + quote, quote + subscripts.upper() + quote):
                return EINSUM_CASE
    return None


def rule_equivalents(wing: str, statuses: dict[str, str]) -> dict[str, str]:
    """Surviving mutants of a wing that a rule recognises as equivalent, with the reason."""
    found: dict[str, str] = {}
    modules: dict[Path, dict[str, list[str]]] = {}  # each mutated module parsed once: they hold every mutant
    for name, status in statuses.items():
        if status in KILLED:
            continue
        module = name.rsplit(".", 1)[0]
        path = WORK / wing / "mutants" / "src" / (module.replace(".", "/") + ".py")
        if not path.exists():
            path = path.with_suffix("") / "__init__.py"
        if not path.exists():
            continue
        if path not in modules:
            modules[path] = function_bodies(path.read_text())
        lines = changed_lines(modules[path], name)
        why = lines and equivalent_by_rule(*lines)
        if why:
            found[name] = why
    return found


def tally(
    wing: str, statuses: dict[str, str], listed: dict[str, str], set_aside: dict[str, str] | None = None
) -> Tally:
    """Set the listed equivalent mutants aside (only those that survive; the rest are stale), and every mutant of a
    function the wing sets aside (by name prefix: training recipes, which ``make audit`` judges, not unit tests)."""
    result = Tally(wing, statuses)
    for name in statuses:
        for prefix, why in (set_aside or {}).items():
            if name.startswith(prefix):
                result.set_aside[name] = why
    for name, why in listed.items():
        if statuses.get(name) is not None and statuses[name] not in KILLED:
            result.equivalent[name] = why
        else:
            result.stale.append(name)
    return result


def report(tallies: list[Tally], target: float = 0.95) -> str:
    lines = [
        "| wing | mutants | recipes (set aside) | equivalent (set aside) | killed | of which by timeout "
        "| survived or unreached | share killed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in tallies:
        timeouts = sum(t.statuses[m] == "timeout" for m in t.counted)
        lines.append(
            f"| {t.wing} | {len(t.statuses)} | {len(t.set_aside)} | {len(t.equivalent)} | {t.killed} "
            f"| {timeouts} | {len(t.survivors)} "
            f"| {t.share:.1%}{'' if t.share >= target else ' (below ' + format(target, '.0%') + ')'} |"
        )
    for t in tallies:
        for why in sorted(set(t.set_aside.values())):
            names = sorted({n.split("__mutmut_")[0] for n, w in t.set_aside.items() if w == why})
            lines += ["", f"Set aside in {t.wing} ({why}): " + ", ".join(names)]
        if t.equivalent:
            lines += ["", f"Equivalent mutants of {t.wing} (tools/mutants_equivalent.toml):"]
            lines += [f"- {name}: {why}" for name, why in sorted(t.equivalent.items())]
        if t.stale:
            lines += [
                "",
                f"Stale entries for {t.wing} (listed as equivalent, no longer surviving): " + ", ".join(t.stale),
            ]
        if t.survivors:
            lines += ["", f"Survivors of {t.wing} ({len(t.survivors)}; `mutmut show NAME` in build/mutants/{t.wing}):"]
            lines += ["  " + name for name in t.survivors]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wing", nargs="*", help="wings to test (default: every wing of pyproject.toml)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    known = {w.name: w for w in wings()}
    unknown = [w for w in args.wing if w not in known]
    if unknown:
        parser.error(f"unknown wing(s) {unknown}; the wings are {sorted(known)}")
    listed = equivalents()
    tallies = []
    for name in args.wing or list(known):
        print(f"mutants: {name} …", flush=True)
        statuses = run(known[name], args.max_children)
        by_rule = rule_equivalents(name, statuses)
        tallies.append(tally(name, statuses, {**by_rule, **listed.get(name, {})}, known[name].set_aside))
        print(f"  {tallies[-1].killed} of {len(tallies[-1].counted)} killed ({tallies[-1].share:.1%})", flush=True)
    text = report(tallies)
    print(text)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "report.md").write_text(text + "\n")
    return 0 if all(t.share >= 0.95 for t in tallies) else 1


if __name__ == "__main__":
    raise SystemExit(main())
