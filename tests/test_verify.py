"""One verification interface: levels, the parity checker and report, sharding, `wavebits verify`."""

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from wavebits.codegen.hls import write_hls_project
from wavebits.codegen.rtl import write_rtl_project
from wavebits.sim.levels import CsimLevel, GoldenLevel, RtlLevel
from wavebits.sim.parity import (
    PREDICTION,
    WIDTH_TAG,
    Inference,
    Level,
    check,
    first_mismatch,
    plan,
    random_schedule,
    switching_order,
)
from wavebits.sim.shard import ProcessExecutor, shards

from wavebits.bank import synth_bank, write_bank
from wavebits.graph import INPUT

DOCS = Path(__file__).resolve().parents[1] / "docs" / "reports.md"


@pytest.fixture(scope="module")
def bank42():
    """A tiny bank with widths 4 and 2 only (no 8, no 1)."""
    return synth_bank("mlp", seed=0, widths=(4, 2))


@pytest.fixture(scope="module")
def inputs(bank42):
    """Inputs that are not the projects' baked vectors."""
    return np.random.default_rng(7).integers(0, 256, size=(3, *bank42.input_shape))


@pytest.fixture(scope="module")
def projects(tmp_path_factory, bank42):
    root = tmp_path_factory.mktemp("projects")
    return {(kind, mode): (write_hls_project(bank42, root / f"hls-{mode}", mode) if kind == "csim"
                           else write_rtl_project(bank42, root / f"rtl-{mode}", mode, 4))
            for kind in ("csim", "rtl") for mode in ("banked", "reconstruct")}


def _level(name, mode, bank, projects):
    if name == "golden":
        return GoldenLevel(bank, mode)
    return CsimLevel(projects[name, mode]) if name == "csim" else RtlLevel(projects[name, mode])


LEVELS = [("golden", "banked"), ("golden", "reconstruct"), ("csim", "banked"), ("csim", "reconstruct"),
          pytest.param("rtl", "banked", marks=pytest.mark.verilator),
          pytest.param("rtl", "reconstruct", marks=[pytest.mark.verilator, pytest.mark.slow])]


@pytest.mark.parametrize("schedule", [[4, 2], [2, 2, 4]])
@pytest.mark.parametrize(("name", "mode"), LEVELS)
def test_every_level_equals_the_golden_model(name, mode, schedule, bank42, inputs, projects):
    level = _level(name, mode, bank42, projects)
    assert isinstance(level, Level)
    x = np.concatenate([inputs, inputs])  # 6 inferences, the schedule repeated over them
    report = check(level, x, schedule)
    assert report.ok and report.first is None, report.text()
    assert report.level == name and report.weights == mode
    assert report.schedule == [schedule[k % len(schedule)] for k in range(len(x))]
    assert sum(c.inferences for c in report.per_width.values()) == len(x)
    assert report.values_compared > 0 and report.values_differing == 0
    assert set(report.layers) >= {"fc1", "fc2", "fc3"}
    if name == "rtl":
        assert report.cycles[2] < report.cycles[4]
    else:
        assert not report.cycles


def test_levels_run_the_given_inputs(bank42, inputs, projects):
    """C simulation and golden model on inputs that are not in tb_data: same integers, every layer."""
    got = CsimLevel(projects["csim", "banked"]).run(inputs, [2])
    want = GoldenLevel(bank42).run(inputs, [2])
    for g, w, x in zip(got, want, inputs, strict=True):
        assert g.bits == w.bits == 2
        np.testing.assert_array_equal(g.outputs[INPUT], x)
        for name in ("fc1", "fc3"):
            np.testing.assert_array_equal(g.outputs[name], w.outputs[name])


class Corrupt:
    """The golden level with one value changed (or its width tag, or only predictions)."""

    name = "corrupt"

    def __init__(self, bank, inference=None, layer=None, index=None, delta=1, tag=None, exact=True, layers=None):
        self.inner = GoldenLevel(bank)
        self.bank, self.weights = bank, "banked"
        self.layers = layers or self.inner.layers
        self.inference, self.layer, self.index, self.delta, self.tag, self.exact = \
            inference, layer, index, delta, tag, exact

    def expected_exact(self, bits):
        return self.exact

    def prepare(self):
        pass

    def run(self, x, schedule):
        out = self.inner.run(x, schedule)
        if self.layer is not None:
            out[self.inference].outputs[self.layer][self.index] += self.delta
        if self.tag is not None:
            out[self.inference] = Inference(out[self.inference].bits, out[self.inference].outputs, tag=self.tag)
        return out


def test_the_report_names_level_layer_channel_index_and_values(bank42, inputs):
    x = np.concatenate([inputs, inputs])
    want = GoldenLevel(bank42).run(x, [4, 2])[3].outputs["fc2"][5]
    report = check(Corrupt(bank42, inference=3, layer="fc2", index=(5,), delta=3), x, [4, 2])
    assert not report.ok
    m = report.first
    assert (m.level, m.inference, m.bits, m.layer, m.channel, m.index) == ("corrupt", 3, 2, "fc2", 5, (5,))
    assert (m.expected, m.got) == (int(want), int(want) + 3)
    assert report.mismatched_inferences == 1 and report.values_differing == 1
    assert report.per_width[2].mismatched == 1 and report.per_width[4].mismatched == 0
    d = report.to_dict()
    assert d["ok"] is False
    assert d["first_mismatch"] == {"level": "corrupt", "inference": 3, "bits": 2, "layer": "fc2", "channel": 5,
                                   "index": [5], "expected": int(want), "got": int(want) + 3}
    text = report.text()
    assert "fc2" in text and "channel 5" in text and f"expected {int(want)}, got {int(want) + 3}" in text


def test_a_wrong_width_tag_is_a_mismatch(bank42, inputs):
    report = check(Corrupt(bank42, inference=1, tag=4), inputs, [2])
    assert not report.ok and report.first.layer == WIDTH_TAG
    assert (report.first.expected, report.first.got) == (2, 4)


def test_levels_not_expected_exact_report_but_pass(bank42, inputs):
    report = check(Corrupt(bank42, inference=0, layer="fc1", index=(0,), exact=False), inputs, [4])
    assert report.ok and report.first is not None and report.mismatched_inferences == 1
    assert report.to_dict()["per_width"][0]["expected_exact"] is False


def test_prediction_only_levels_compare_the_class(bank42, inputs):
    logits = GoldenLevel(bank42).run(inputs, [4])[0].outputs[bank42.output]
    top = int(logits.argmax())
    delta = int(logits.max() - logits.min()) + 1
    other = (top + 1) % len(logits)
    level = Corrupt(bank42, inference=0, layer=bank42.output, index=(other,), delta=delta, layers=(PREDICTION,))
    report = check(level, inputs, [4])
    assert report.layers == [PREDICTION] and not report.ok
    assert (report.first.layer, report.first.expected, report.first.got) == (PREDICTION, top, other)


def test_first_mismatch_exists_once():
    from wavebits.sim import golden, parity

    assert golden.first_mismatch is parity.first_mismatch is first_mismatch
    assert golden.LayerMismatch is parity.LayerMismatch


def test_plan_and_default_schedule():
    assert switching_order([8, 7, 6, 5, 4, 3, 2, 1]) == [8, 1, 7, 2, 6, 3, 5, 4]
    assert switching_order([4, 2]) == [4, 2]
    vectors, widths = plan(3, [4, 2], [4, 2])
    assert vectors == [0, 1, 2, 0, 1, 2, 0, 1, 2] and widths == [4, 4, 4, 2, 2, 2, 4, 2, 4]
    assert [len(s) for s in shards(10, 3)] == [3, 3, 4] and shards(2, 8) == [range(0, 1), range(1, 2)]


def test_shards_balance_cost_and_rtl_costs_grow_with_the_width(projects):
    from wavebits.sim.shard import inference_costs

    widths = [4] * 4 + [2] * 8
    rtl = RtlLevel(projects["rtl", "banked"])
    cost = inference_costs(rtl, widths)
    assert cost == [4.0] * 4 + [2.0] * 8 and inference_costs(GoldenLevel(rtl.bank), widths) == [1.0] * 12
    assert shards(len(widths), 2, cost) == [range(0, 4), range(4, 12)]  # 4 at width 4 cost what 8 at 2 do
    assert shards(len(widths), 2) == [range(0, 6), range(6, 12)]


def _without_timing(report):
    d = report.to_dict()
    d.pop("timing")
    return d


@pytest.mark.parametrize(("name", "mode"), [("csim", "reconstruct"),
                                            pytest.param("rtl", "banked", marks=pytest.mark.verilator)])
def test_process_shards_equal_the_serial_run(name, mode, bank42, inputs, projects):
    level = _level(name, mode, bank42, projects)
    x = np.concatenate([inputs, inputs[:2]])
    serial = check(level, x, [4, 2, 2])
    sharded = check(level, x, [4, 2, 2], executor=ProcessExecutor(2))
    assert sharded.executor == "processes" and sharded.workers == 2
    assert _without_timing(serial) == _without_timing(sharded)


@pytest.mark.slow
def test_ray_shards_equal_the_serial_run(bank42, inputs, projects):
    ray = pytest.importorskip("ray")
    from wavebits.sim.shard import RayExecutor

    level = CsimLevel(projects["csim", "banked"])
    x = np.concatenate([inputs] * 3)
    serial = check(level, x, [4, 2])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        sharded = check(level, x, [4, 2], executor=RayExecutor(workers=3))
        golden = check(GoldenLevel(bank42, "reconstruct"), x, [4, 2], executor=RayExecutor())
    finally:
        ray.shutdown()
    assert sharded.executor == "ray" and sharded.workers == 3
    assert _without_timing(serial) == _without_timing(sharded)
    assert _without_timing(golden) == _without_timing(check(GoldenLevel(bank42, "reconstruct"), x, [4, 2]))


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "wavebits.cli", "-q", *args], capture_output=True, text=True,
                          cwd=cwd)


def _documented_fields(kind):
    """Field names in the table of ``kind`` in docs/reports.md."""
    text = DOCS.read_text()
    section = text.split(f"<!-- kind: {kind} -->", 1)[1].split("<!-- kind:", 1)[0]
    return set(re.findall(r"^\| `([\w.\[\]]+)` \|", section, re.M))


def _keys(d, prefix=""):
    out = set()
    for k, v in d.items():
        out.add(prefix + k)
        if isinstance(v, dict) and k not in ("cycles_per_width",):
            out |= _keys(v, f"{prefix}{k}.")
    return out


@pytest.mark.verilator
def test_cli_verify_a_bank_with_widths_4_and_2_needs_no_flags(tmp_path, bank42):
    path = tmp_path / "m42.wbank"
    write_bank(bank42, path)
    out = tmp_path / "report.json"
    r = run("verify", str(path), "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "PASS" in r.stdout
    rep = json.loads(out.read_text())
    assert rep["schema_version"] == 3 and rep["kind"] == "verify" and rep["ok"] is True
    assert rep["bits"] == [4, 2] and rep["schedule"] == [4, 2]
    assert [lv["level"] for lv in rep["levels"]] == ["csim", "rtl"]
    assert _keys(rep) - {"levels"} <= _documented_fields("verify")
    for level in rep["levels"]:
        assert set(_keys(level)) <= _documented_fields("parity"), set(_keys(level)) - _documented_fields("parity")
        assert level["first_mismatch"] is None and level["values_differing"] == 0


def test_cli_verify_exit_codes(tmp_path, bank42):
    project = write_hls_project(bank42, tmp_path / "p", "banked")
    out = tmp_path / "r.json"
    r = run("verify", str(project), "--backend", "golden,csim", "--random", "3", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())["inputs"] == {"source": "random", "seed": 0, "count": 3}
    # a corrupted weight: exit 1, the JSON names the layer
    weights_h = project / "firmware" / "weights.h"
    text = weights_h.read_text()
    start = text.index("static const wb::weight_t fc2_w")
    m = re.compile(r"-?\d+").search(text, text.index("{", start))
    value = int(m.group(0))
    weights_h.write_text(text[:m.start()] + str(-value if value else 1) + text[m.end():])
    r = run("verify", str(project), "--json", str(out))
    assert r.returncode == 1, r.stdout + r.stderr
    rep = json.loads(out.read_text())
    assert rep["ok"] is False and rep["levels"][0]["first_mismatch"]["layer"] == "fc2"
    # bad input: exit 2, one line
    for args in (["--bits", "8"], ["--backend", "nope"], ["--vectors", "2", "--random", "2"], ["--backend", "qonnx"]):
        r = run("verify", str(project), *args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("error:"), (args, r.stderr)
    assert run("verify", str(tmp_path / "missing.wbank")).returncode == 2


def test_cli_json_of_golden_and_sim_csim(tmp_path, bank42):
    path = tmp_path / "m.wbank"
    write_bank(bank42, path)
    out = tmp_path / "g.json"
    assert run("golden", str(path), "--limit", "20", "--json", str(out)).returncode == 0
    rep = json.loads(out.read_text())
    assert rep["kind"] == "golden" and [r["bits"] for r in rep["per_width"]] == [4, 2]
    assert _keys(rep) <= _documented_fields("golden")
    project = write_hls_project(bank42, tmp_path / "p", "reconstruct")
    r = run("sim", "csim", str(project), "--workers", "2", "--json", str(out))  # no flags for widths 4,2
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text())
    assert rep["kind"] == "parity" and rep["ok"] and rep["timing"]["workers"] == 2


@pytest.mark.slow
@pytest.mark.tensorflow
def test_hls4ml_level_is_exact_where_it_claims(tmp_path, bank42, inputs):
    from wavebits.sim.levels import Hls4mlLevel

    level = Hls4mlLevel(bank42, tmp_path)
    report = check(level, inputs, [4, 2])
    assert report.ok and report.first is None, report.text()
    assert report.layers == [bank42.output] and all(c.expected_exact for c in report.per_width.values())


@pytest.mark.slow
def test_qonnx_level_classifies_like_the_golden_model(tmp_path, trained):
    from dataclasses import replace

    from wavebits.sim.levels import QonnxLevel

    from wavebits.data import load_digits

    result, _, _ = trained
    bank = replace(result.bank, widths=(8, 1))
    x = load_digits("test")[0][:200]
    report = check(QonnxLevel(result.model, bank, tmp_path), x, [8, 1])
    assert report.layers == [PREDICTION] and report.ok  # never claimed exact: counted, not failed
    # float32 BatchNorm and half-to-even rounding may flip a rare prediction (test_training bounds it too)
    assert report.values_differing <= 0.01 * report.values_compared, report.text()


def test_cli_verify_random_switch_schedule(tmp_path):
    path = tmp_path / "digits.wbank"
    write_bank(synth_bank("cnn-digits", seed=0), path)
    out = tmp_path / "r.json"
    r = run("verify", str(path), "--backend", "golden", "--random", "2", "--bits", "",
            "--schedule", "random:9", "--seed", "3", "--json", str(out))
    assert r.returncode == 0, r.stderr
    schedule = json.loads(out.read_text())["schedule"]
    assert len(schedule) == 9 and all(a != b for a, b in itertools.pairwise(schedule))
    assert schedule == random_schedule(synth_bank("cnn-digits", seed=0).widths, 9, 3)
    for bad in ("random:0", "random:x", "random:"):
        r = run("verify", str(path), "--backend", "golden", "--schedule", bad)
        assert r.returncode == 2 and r.stderr.count("error:") == 1 and "random:K" in r.stderr, r.stderr
