"""benchmarks/layer_pipeline.py: the layer-pipeline sizing behind wb_core's one-layer-after-another
schedule, on the estimator's own parts."""

import pytest
from conftest import load_benchmark
from wavebits.codegen.estimate import layer_cycles, memory_blocks
from wavebits.codegen.rtl import LANE_CHOICES, build_design, hardware_layers

from wavebits.bank import synth_bank


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("layer_pipeline")


@pytest.fixture(scope="module")
def lenet5():
    return synth_bank("lenet5", seed=0)


def test_pipeline_interval_is_its_slowest_layer(bench, lenet5):
    pipe = bench.size_pipeline(lenet5, build_design(lenet5, "banked", 8, images=False))
    layers = hardware_layers(lenet5)
    for b in lenet5.widths:
        slowest = max(layer_cycles(hw, b, max(pipe.lanes[hw.name], LANE_CHOICES[0])) for hw in layers)
        assert pipe.interval[b] == max(slowest, 785)  # 28 x 28 input values, and the start cycle
    assert {k for k, v in pipe.lanes.items() if v} == {hw.name for hw in layers if hw.op == "conv"}


def test_per_layer_memories_hold_every_width_of_every_weighted_layer(bench, lenet5):
    layers = hardware_layers(lenet5)
    lanes = {hw.name: 4 for hw in layers}
    mems = bench.pipeline_memories(lenet5, layers, lanes, 65)
    weights = [m for m in mems if " weights " in m.name]
    assert len(weights) == len(lenet5.widths) * sum(hw.op == "conv" for hw in layers)
    fc1 = next(hw for hw in layers if hw.name == "fc1")
    assert next(m for m in weights if m.name == "fc1 weights 8-bit").depth == -(-fc1.cout // 4) * fc1.units
    # a 5x5 window keeps kh + sh rows of its input, a linear layer the whole tensor
    conv2 = next(hw for hw in layers if hw.name == "conv2")
    assert next(m for m in mems if m.name == "conv2 input").depth == 6 * conv2.win * conv2.incw
    assert next(m for m in mems if m.name == "fc1 input").depth == fc1.hin * fc1.win * fc1.incw
    assert sum(memory_blocks(m) for m in weights) > 150  # fragmented: more than wb_core's whole design


def test_lenet5_pipeline_does_not_fit_where_the_sequential_engine_does(bench):
    text = "\n".join(bench.compare("lenet5"))
    rows = {line.split("  ")[0]: line for line in text.splitlines() if line.startswith(("layers one", "layer pipe"))}
    assert rows["layers one after another (wb_core, --fit)"].rstrip().endswith("yes")
    assert rows["layer pipeline"].rstrip().endswith("no")
