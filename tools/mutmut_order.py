"""A pytest plugin for mutation runs (``make mutants``): run a mutant's tests fastest first.

mutmut hands pytest the tests that reach the mutated function and stops at the first failure (``-x``); pytest would
run them in file order, so a mutant that a 0.1 s test kills could first wait for a 20 s one. mutmut records each
test's duration in ``mutmut-stats.json`` (in the folder it runs in); this orders the collected tests by it. Order
does not change a verdict: the tests do not depend on one another.
"""

from __future__ import annotations

import json
from pathlib import Path


def pytest_collection_modifyitems(session, config, items) -> None:  # noqa: ANN001 - pytest's hook signature
    stats = Path("mutmut-stats.json")
    if not stats.exists():  # mutmut's first run, which records the durations
        return
    durations = json.loads(stats.read_text()).get("duration_by_test", {})
    items.sort(key=lambda item: durations.get(item.nodeid, 0.0))
