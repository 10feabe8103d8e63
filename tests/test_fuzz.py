"""A short, seeded run of benchmarks/fuzz.py: no input crashes, hangs or blows up a reader.

The data-file target (wavebits.data.read_idx) is left to its owners' run of the full benchmark.
"""

from conftest import load_benchmark


def test_short_fuzz_run_has_no_crash_hang_or_blowup():
    fuzz = load_benchmark("fuzz")
    outcomes = fuzz.run(300, seed=0, timeout=60, targets=("bank", "project"))
    s = fuzz.summary(outcomes, budget=64 << 20)
    total = s["total"]
    assert total["cases"] == 300 and total["rejected"] > 250
    assert total["crashes"] == 0 and total["hangs"] == 0, s["crash_causes"]
    assert total["over_budget"] == 0, total
    assert {"bank", "project"} <= set(s["targets"])
