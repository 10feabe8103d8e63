"""The layer kinds of wavebits.ops: grouped/depthwise conv, global average pooling, signed inputs.

Every op answers for itself (shape, fan-in, bounds, bank fields, golden kernel, HLS call); these
tests run a graph that uses all of them through the bank, the golden model and the C simulation.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wavebits.codegen.hls import write_hls_project
from wavebits.codegen.project import default_vectors
from wavebits.sim import GoldenModel, ops
from wavebits.sim.csim import check_csim

from wavebits.bank import read_bank, synth_bank, write_bank
from wavebits.bank.report import inspect
from wavebits.errors import BankError, DataError
from wavebits.graph import INPUT, GraphError, Node, infer_shapes
from wavebits.ops import OPS


def mixed_graph() -> tuple[list[Node], tuple[int, ...]]:
    """Grouped and depthwise convs, a signed avgpool, a residual add and global average pooling."""
    return [
        Node("c1", "conv2d", (INPUT,), out_channels=8, kernel=(3, 3), padding=(1, 1), groups=2),
        Node("dw", "conv2d", ("c1",), out_channels=8, kernel=(3, 3), stride=(2, 2), padding=(1, 1), groups=8),
        Node("pw", "conv2d", ("dw",), out_channels=8, kernel=(1, 1), act="none"),
        Node("ap", "avgpool", ("pw",), kernel=(2, 2), stride=(1, 1), act="none"),
        Node("sc", "conv2d", ("dw",), out_channels=8, kernel=(2, 2), act="none"),
        Node("sum", "add", ("ap", "sc"), act="relu"),
        Node("gap", "gap", ("sum",), act="relu"),
        Node("flat", "flatten", ("gap",)),
        Node("fc", "linear", ("flat",), out_channels=5, act="none"),
    ], (4, 9, 9)


@pytest.fixture(scope="module")
def mixed_bank():
    return synth_bank(mixed_graph(), seed=1, calib=32, input_signed=True)


def naive_grouped_conv(x, w, stride, pad, groups):
    n, c, h, ww = x.shape
    co, cg, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * pad, ww + 2 * pad), dtype=np.int64)
    xp[:, :, pad:pad + h, pad:pad + ww] = x
    ho, wo = (h + 2 * pad - kh) // stride + 1, (ww + 2 * pad - kw) // stride + 1
    out = np.zeros((n, co, ho, wo), dtype=np.int64)
    per_group = co // groups
    for o in range(co):
        g = o // per_group
        for i in range(ho):
            for j in range(wo):
                patch = xp[:, g * cg:(g + 1) * cg, i * stride:i * stride + kh, j * stride:j * stride + kw]
                out[:, o, i, j] = (patch * w[o]).sum(axis=(1, 2, 3))
    return out


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 2, 4]), st.integers(1, 2), st.integers(0, 1))
def test_grouped_conv_matches_direct_loops(seed, groups, stride, pad):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (2, 4, 6, 5))
    node = Node("c", "conv2d", (INPUT,), out_channels=8, kernel=(3, 3), stride=(stride, stride),
                padding=(pad, pad), groups=groups)
    w = rng.integers(-127, 128, OPS["conv2d"].weight_shape(node, (4, 6, 5)))
    from wavebits.graph import Domain

    got = OPS["conv2d"].accumulate(node, [x], Domain("signed", 128), 8, w, 1 << 40)
    assert (got == naive_grouped_conv(x, w, stride, pad, groups)).all()


def test_shapes_fan_in_and_errors():
    nodes, shape = mixed_graph()
    shapes = infer_shapes(nodes, shape)
    assert shapes["c1"] == (8, 9, 9) and shapes["dw"] == (8, 5, 5) and shapes["gap"] == (8, 1, 1)
    assert OPS["conv2d"].fan_in(nodes[1], shapes["c1"]) == 9  # depthwise: one channel per output
    assert OPS["gap"].fan_in(nodes[6], shapes["sum"]) == 16
    bad = [Node("c", "conv2d", (INPUT,), out_channels=6, kernel=(3, 3), groups=4)]
    with pytest.raises(GraphError, match=r"layers\[0\] 'c'\.groups: 4 groups must divide"):
        infer_shapes(bad, (4, 8, 8))
    with pytest.raises(GraphError, match=r"\.op: unsupported layer kind 'gelu'"):
        infer_shapes([Node("g", "gelu", (INPUT,))], (4, 8, 8))


def test_bank_round_trip_keeps_groups_gap_and_signed_input(tmp_path, mixed_bank):
    path = write_bank(mixed_bank, tmp_path / "mixed.wbank")
    back = read_bank(path)
    assert back.nodes == mixed_bank.nodes
    assert back.input_signed and back.input_scale == 1 / 128 and back.input_range == (-128, 127)
    text = inspect(back)
    assert "int8" in text and "g8" in text and "global" in text


def rewrite_header(src_path, dst_path, edit):
    """A copy of a bank with its header.json edited by ``edit(header)``."""
    import json
    import zipfile

    with zipfile.ZipFile(src_path) as src, zipfile.ZipFile(dst_path, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "header.json":
                header = json.loads(data)
                edit(header)
                data = json.dumps(header).encode()
            dst.writestr(item, data)
    return dst_path


def test_version_one_banks_still_read(tmp_path, bank_file):
    """A version-1 bank (unsigned 8-bit input at 1/255, no input sign or scale) reads as before."""

    def to_v1(h):
        h["version"] = 1
        del h["input"]["signed"], h["input"]["scale"]
        for layer in h["layers"]:
            layer.pop("groups", None)

    bank = read_bank(rewrite_header(bank_file, tmp_path / "v1.wbank", to_v1))
    assert not bank.input_signed and bank.input_scale == 1 / 255


def test_unknown_field_for_an_op_is_rejected(tmp_path, bank_file):
    bad = rewrite_header(bank_file, tmp_path / "bad.wbank", lambda h: h["layers"][1].update(groups=2))  # a maxpool
    with pytest.raises(BankError, match=r"layers\[1\] 'pool1'\.groups: unknown field for a maxpool layer"):
        read_bank(bad)


def test_golden_runs_every_width_and_checks_signed_inputs(mixed_bank):
    model = GoldenModel(mixed_bank)
    x = default_vectors(mixed_bank, 6)
    assert x.dtype == np.int8 and x.min() < 0
    for b in mixed_bank.widths:
        out = model.run(x, b, "all")
        assert out["gap"].shape == (6, 8, 1, 1) and out["fc"].shape == (6, 5)
        if b > 1:
            assert out["gap"].min() >= 0 and out["gap"].max() <= 2**b - 1
        else:
            assert set(np.unique(out["gap"]).tolist()) <= {-1, 1}
    with pytest.raises(DataError, match=r"-128\.\.127"):
        model.run(np.full((1, 4, 9, 9), 200), 8)


def test_gap_equals_a_full_window_avgpool():
    x = np.random.default_rng(0).integers(0, 16, (2, 3, 4, 5))
    gap = Node("g", "gap", (INPUT,))
    from wavebits.graph import Domain

    got = OPS["gap"].accumulate(gap, [x], Domain("unsigned", 15), 4, None, 0)
    assert (got == ops.sumpool(x, (4, 5), (4, 5))).all() and got.shape == (2, 3, 1, 1)


@pytest.mark.parametrize("weights", ["banked", "reconstruct"])
def test_mixed_graph_csim_is_bit_exact(tmp_path, mixed_bank, weights):
    project = write_hls_project(mixed_bank, tmp_path / weights, weights, vectors=default_vectors(mixed_bank, 4))
    report = check_csim(project, list(mixed_bank.widths), [8, 3, 1, 8, 2, 5], progress=False)
    assert report.ok, report.text()
    assert report.inferences == 8 * 4 + 6


@pytest.mark.verilator
@pytest.mark.parametrize("weights,planes,mac", [("reconstruct", 1, "lut"), ("banked", 4, "lut"), ("banked", 8, "dsp")])
def test_mixed_graph_rtl_is_bit_exact(tmp_path, mixed_bank, weights, planes, mac):
    """The RTL runs every op of the graph: a grouped convolution of two input channels per group on 8
    lanes (two groups per lane group, one pass each), depthwise, an average pool of act none values,
    the add of two act none tensors, global pooling, int8 input; one weight bit plane per item, four
    (widths 3 and 5 leave part of a step's planes empty), and the products on multipliers."""
    from wavebits.codegen.rtl import hardware_layers, write_rtl_project
    from wavebits.sim.rtlsim import check_rtl

    assert [h.op for h in hardware_layers(mixed_bank)] == ["conv", "conv", "conv", "avgpool", "conv", "add",
                                                            "avgpool", "conv"]
    project = write_rtl_project(mixed_bank, tmp_path / "p", weights, 8, vectors=default_vectors(mixed_bank, 2),
                                planes=planes, mac=mac)
    report = check_rtl(project, [8, 3, 1, 8, 2, 5], per_segment=1)
    assert report.ok, report.text()


def test_grouped_convolutions_across_lane_groups_rtl_is_bit_exact(tmp_path):
    """Convolution groups that straddle lane groups (12 channels a group on 4 lanes) and lane groups
    that take several groups (2 channels a group), one pass after another, in the RTL."""
    from wavebits.codegen.rtl import write_rtl_project
    from wavebits.sim.rtlsim import check_rtl

    graph = [
        Node("c1", "conv2d", (INPUT,), out_channels=24, kernel=(3, 3), padding=(1, 1), groups=2),
        Node("c2", "conv2d", ("c1",), out_channels=12, kernel=(1, 1), groups=6),
        Node("c3", "conv2d", ("c2",), out_channels=6, kernel=(3, 3), groups=3),
        Node("flat", "flatten", ("c3",)),
        Node("fc", "linear", ("flat",), out_channels=5, act="none"),
    ]
    bank = synth_bank((graph, (6, 6, 6)), seed=2, calib=16)
    project = write_rtl_project(bank, tmp_path / "p", "banked", 4, vectors=default_vectors(bank, 2))
    report = check_rtl(project, [8, 2, 1, 5], per_segment=1)
    assert report.ok, report.text()
