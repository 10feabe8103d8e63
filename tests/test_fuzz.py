"""A short, seeded run of benchmarks/fuzz.py: no input crashes, hangs or blows up a reader.

The data-file target (wavebits.data.read_idx) is left to its owners' run of the full benchmark.
"""

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz.py"


def test_short_fuzz_run_has_no_crash_hang_or_blowup():
    spec = importlib.util.spec_from_file_location("wavebits_fuzz", BENCH)
    fuzz = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = fuzz  # dataclasses look their module up
    spec.loader.exec_module(fuzz)
    outcomes = fuzz.run(300, seed=0, timeout=60, targets=("bank", "project"))
    s = fuzz.summary(outcomes, budget=64 << 20)
    total = s["total"]
    assert total["cases"] == 300 and total["rejected"] > 250
    assert total["crashes"] == 0 and total["hangs"] == 0, s["crash_causes"]
    assert total["over_budget"] == 0, total
    assert {"bank", "project"} <= set(s["targets"])
