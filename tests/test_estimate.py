"""The RTL estimator: its cycle model against the RTL simulation, block-RAM mapping, --fit, refusals."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from wavebits.codegen.estimate import (
    CAPACITY,
    HEADROOM,
    DoesNotFit,
    Memory,
    bram_blocks,
    estimate,
    fit,
    inference_cycles,
    memory_blocks,
)
from wavebits.codegen.rtl import LANE_CHOICES, write_rtl_project
from wavebits.sim.rtlsim import check_rtl

from wavebits.bank import synth_bank, write_bank
from wavebits.graph import INPUT, Node


def run(*args):
    return subprocess.run([sys.executable, "-m", "wavebits.cli", "-q", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def big_mlp():
    """1.86M weights: far more block RAM than the ECP5-85F has at any lane count."""
    nodes = [Node("fc1", "linear", (INPUT,), out_channels=1024), Node("fc2", "linear", ("fc1",), out_channels=1024),
             Node("fc3", "linear", ("fc2",), out_channels=10)]
    return synth_bank((nodes, (784,)), widths=(8, 4))


@pytest.mark.verilator
@pytest.mark.parametrize("arch,lanes,weights", [("cnn-digits", 8, "banked"),
                                                pytest.param("mlp", 16, "reconstruct", marks=pytest.mark.slow)])
def test_cycle_model_equals_the_rtl_simulation(tmp_path, arch, lanes, weights):
    bank = synth_bank(arch, seed=0)
    project = write_rtl_project(bank, tmp_path / "p", weights, lanes)
    # the widest width twice: the first inference after reset may wait for the first rebuild
    sim = check_rtl(project, [max(bank.widths), *bank.widths], 1).cycles_per_width()
    model = inference_cycles(bank, lanes)
    for b, cycles in sim.items():
        assert abs(model[b]["total"] - cycles) <= 0.02 * cycles, (b, model[b]["total"], cycles)


@pytest.mark.parametrize("width,depth,ports2,blocks", [
    (8, 2048, False, 1),     # 9 bits x 2048
    (36, 512, False, 1),     # the simple dual-port 36-bit configuration
    (36, 512, True, 2),      # true dual port: 18 bits at most
    (64, 1024, False, 4),    # 18 bits x 1024, four side by side
    (1, 16384, False, 1),
    (10, 3000, False, 3),    # 4 bits x 4096, three side by side
])
def test_block_ram_count_is_the_cheapest_dp16kd_configuration(width, depth, ports2, blocks):
    assert bram_blocks(width, depth, ports2) == blocks


def test_output_registered_memories_are_counted_per_block_and_small_ones_stay_in_luts():
    assert memory_blocks(Memory("m", 8, 5000, oreg=True, count=2)) == 2 * 3  # 2048 + 2048 + 904 deep
    assert memory_blocks(Memory("m", 8, 5000, oreg=False)) == 3
    assert memory_blocks(Memory("small", 32, 16, oreg=False)) == 0
    assert memory_blocks(Memory("descriptors", 768, 12, oreg=False)) == 0  # a shallow ROM: logic


def test_fit_picks_the_fastest_lane_count_that_fits():
    bank = synth_bank("lenet5", seed=0)
    chosen = fit(bank, "banked")
    assert chosen.fits
    options = {p: estimate(bank, "banked", p) for p in LANE_CHOICES}
    faster = [e for e in options.values() if e.cycles[8]["total"] < chosen.cycles[8]["total"]]
    assert all(not e.fits for e in faster)
    assert all(v <= HEADROOM for v in chosen.resources.shares(CAPACITY["ulx3s-85f"]).values())


def test_cycles_scale_with_the_width_and_shrink_with_lanes():
    per = inference_cycles(synth_bank("lenet5", seed=0), 8)
    assert per[8]["total"] > per[4]["total"] > per[1]["total"]
    assert per[8]["conv2"] == pytest.approx(2 * per[4]["conv2"], rel=0.01)
    assert inference_cycles(synth_bank("lenet5", seed=0), 16)[8]["total"] < per[8]["total"]


def test_a_network_that_cannot_fit_is_refused(big_mlp):
    with pytest.raises(DoesNotFit, match="bram"):
        fit(big_mlp, "banked")


def test_codegen_rtl_fit_refuses_before_writing_anything(tmp_path, big_mlp):
    path = tmp_path / "big.wbank"
    write_bank(big_mlp, path)
    out = tmp_path / "project"
    r = run("codegen", "rtl", str(path), "-o", str(out), "--fit", "ulx3s-85f")
    assert r.returncode == 2
    assert r.stderr.count("error:") == 1 and "does not fit ulx3s-85f" in r.stderr
    assert not out.exists()


def test_codegen_rtl_fit_writes_the_chosen_lane_count(tmp_path):
    path = tmp_path / "lenet5.wbank"
    write_bank(synth_bank("lenet5", seed=0), path)
    r = run("codegen", "rtl", str(path), "-o", str(tmp_path / "p"), "--fit", "ulx3s-85f")
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "p" / "project.json").read_text())
    assert meta["lanes"] == fit(synth_bank("lenet5", seed=0), "banked").lanes
    r = run("codegen", "rtl", str(path), "-o", str(tmp_path / "q"), "--fit", "ulx3s-85f", "--lanes", "8")
    assert r.returncode == 2 and "not both" in r.stderr


def test_estimate_cli_reads_a_project_and_writes_json(tmp_path):
    bank = synth_bank("cnn-digits", seed=0)
    project = write_rtl_project(bank, tmp_path / "p", "reconstruct", 16)
    out = tmp_path / "estimate.json"
    r = run("estimate", str(project), "--json", str(out))
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text())
    assert rep["kind"] == "estimate" and rep["weights"] == "reconstruct" and rep["lanes"] == 16
    assert rep["cycles_per_width"]["8"] == inference_cycles(bank, 16)[8]["total"]
    assert "P=16" in r.stdout or rep["fits"]


def test_estimate_cli_exits_1_when_nothing_fits(tmp_path, big_mlp):
    path = tmp_path / "big.wbank"
    write_bank(big_mlp, path)
    r = run("estimate", str(path))
    assert r.returncode == 1
    assert "does NOT fit" in r.stdout


def test_layers_the_cycle_model_does_not_follow_are_named(resnet_bank):
    est = estimate(resnet_bank, "reconstruct", 8)
    assert est.unmodeled and all(name in est.cycles[8] for name in est.unmodeled)
    assert "lower bounds" in est.text() and est.to_dict()["unmodeled_layers"] == est.unmodeled
    assert not estimate(synth_bank("lenet5", seed=0), "banked", 8).unmodeled
