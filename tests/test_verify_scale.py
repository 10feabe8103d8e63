"""benchmarks/verify_scale.py: its random switch schedules, its results file, and a short run of it."""

import itertools
import json

import pytest
from conftest import load_benchmark
from wavebits.sim.parity import random_schedule


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("verify_scale")


def test_random_schedule_switches_on_every_inference():
    widths = [8, 7, 6, 5, 4, 3, 2, 1]
    s = random_schedule(widths, 500, seed=3)
    assert len(s) == 500 and set(s) == set(widths)
    assert all(a != b for a, b in itertools.pairwise(s))
    assert s == random_schedule(widths, 500, seed=3) != random_schedule(widths, 500, seed=4)


def test_rerunning_one_check_keeps_the_other_rows(bench, tmp_path):
    path = tmp_path / "r.json"
    first = bench.merge_results(path, {"checks": ["golden", "rtl"], "n": 1},
                                [{"check": "golden", "n": 1}, {"check": "rtl", "n": 1}])
    path.write_text(json.dumps(first))
    second = bench.merge_results(path, {"checks": ["rtl"], "n": 2}, [{"check": "rtl", "n": 2}])
    assert second["runs"] == [{"checks": ["golden"], "n": 1}, {"checks": ["rtl"], "n": 2}]
    assert second["rows"] == [{"check": "golden", "n": 1}, {"check": "rtl", "n": 2}]


def test_short_run_reports_equal_the_serial_one(bench, tmp_path):
    out = tmp_path / "vs.md"
    assert bench.main(["--checks", "golden", "--images", "24", "--compare", "golden=16", "--no-ray",
                       "--out", str(out)]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["executor"] for r in rows] == ["serial", "2 processes", "2 processes"]
    assert [r["same_as_serial"] for r in rows] == [True, True, None]
    assert [r["inferences"] for r in rows] == [128, 128, 192]
    assert all(r["report"]["ok"] for r in rows) and "0 mismatches" in out.read_text()
