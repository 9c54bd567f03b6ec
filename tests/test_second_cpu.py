"""The second-CPU pass of `make test` really runs on another code path (skipped in the first pass).

`make test` runs nbval over every chapter a second time with ``MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default``:
MKL then takes its portable code path and ATen its generic kernels, so sums round as on another CPU. If a future
torch ignored either variable, this pass would silently repeat the first; this test notices.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SECOND_PASS = os.environ.get("ATEN_CPU_CAPABILITY") == "default" and os.environ.get("MKL_CBWR") == "COMPATIBLE"


@pytest.mark.skipif(not SECOND_PASS, reason="only in make test's second-CPU pass")
def test_the_second_pass_changes_the_platform():
    from helpers.runtime import compute_platform

    here = compute_platform()
    assert here["cpu_capability"] == "DEFAULT", here
    clean = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR")}
    code = "import json; from helpers.runtime import compute_platform; print(json.dumps(compute_platform()))"
    first = subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=True).stdout
    assert json.loads(first) != here, "the variables did not change the platform: the second pass repeats the first"
