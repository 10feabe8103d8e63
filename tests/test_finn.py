"""FINN as a reference: exact thresholds, the QONNX graph from a bank, FINN's execution, the refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wavebits.codegen.finn_ref import FinnUnsupported, expressible, thresholds, width_qonnx
from wavebits.codegen.project import default_vectors
from wavebits.sim.golden import GoldenModel
from wavebits.sim.parity import check

from wavebits.bank import synth_bank
from wavebits.bank.model import Requant
from wavebits.intmath import requantize


@pytest.fixture(scope="module")
def mlp_bank():
    return synth_bank("mlp", seed=0, calib=32)


def _multithreshold(acc: np.ndarray, t: np.ndarray, bits: int) -> np.ndarray:
    """FINN's MultiThreshold on (N, C) accumulators: the count of thresholds reached (bipolar at 1 bit)."""
    count = (acc[:, :, None] >= t[None, :, :]).sum(axis=2)
    return 2 * count - 1 if bits == 1 else count


@settings(max_examples=200, deadline=None)
@given(bits=st.integers(1, 8), shift=st.integers(0, 20), data=st.data())
def test_thresholds_are_the_requantization(bits, shift, data):
    channels, bound = 6, 300
    mul = np.array(data.draw(st.lists(st.integers(-(1 << 12), 1 << 12), min_size=channels, max_size=channels)))
    bias = np.array(data.draw(st.lists(st.integers(-(1 << 22), 1 << 22), min_size=channels, max_size=channels)))
    rq = Requant(mul.astype(np.int64), bias.astype(np.int64), shift)
    acc = np.repeat(np.arange(-bound, bound + 1, dtype=np.int64)[:, None], channels, axis=1)
    t, flip = thresholds(rq, bits, bound)
    assert np.all(np.diff(t, axis=1) >= 0)
    got = _multithreshold(np.where(flip[None, :], -acc, acc), t, bits)
    np.testing.assert_array_equal(got, requantize(acc, rq.mul, rq.bias, shift, "relu", bits))


def test_qonnx_graph_from_the_bank_runs_in_qonnx_as_the_golden_model(mlp_bank):
    from qonnx.core.onnx_exec import execute_onnx

    x = default_vectors(mlp_bank, 3)
    golden = GoldenModel(mlp_bank)
    hidden = [n.name for n in mlp_bank.nodes if n.weighted and n.act == "relu"]
    for bits in (8, 3, 1):
        model = width_qonnx(mlp_bank, bits)
        want = golden.run(x, bits, "all")
        for i in range(len(x)):
            ctx = execute_onnx(model, {"input": x[i:i + 1].astype(np.float32)}, return_full_exec_context=True)
            for name in hidden:
                np.testing.assert_array_equal(ctx[name], want[name][i:i + 1])
            acc = ctx[f"{mlp_bank.output}_acc"].astype(np.int64)
            rq = mlp_bank.requant[mlp_bank.output][bits]
            np.testing.assert_array_equal(requantize(acc, rq.mul, rq.bias, rq.shift, "none", bits),
                                          want[mlp_bank.output][i:i + 1])


def test_refusals_name_the_step_and_the_reason(resnet_bank, mlp_bank, monkeypatch):
    with pytest.raises(FinnUnsupported, match=r"width 8, export: layer '\w+' \(add\): no FINN mapping here "
                                              r"\(handled: linear, conv2d, maxpool, flatten\)"):
        expressible(resnet_bank, 8)
    import wavebits.codegen.finn_ref as finn_ref

    monkeypatch.setattr(finn_ref, "FLOAT32_EXACT", 20000)
    with pytest.raises(FinnUnsupported, match=r"width 8, execute: layer 'fc1': accumulators up to \d+ exceed "
                                              r"float32's exact integers"):
        expressible(mlp_bank, 8)
    expressible(mlp_bank, 2)  # its accumulators stay below the (patched) bound


def test_a_width_finn_cannot_express_is_a_skipped_entry_of_the_report(resnet_bank, tmp_path):
    from wavebits.sim.finn_level import FinnLevel

    level = FinnLevel(resnet_bank, tmp_path)
    report = check(level, default_vectors(resnet_bank, 2), [8, 1])
    assert not report.ok and report.values_compared == 0
    entry = report.to_dict()["per_width"][0]
    assert entry["bits"] == 8 and entry["inferences"] == 1
    assert entry["skipped"].startswith("export: layer ") and "(add): no FINN mapping" in entry["skipped"]
    assert "width 1 skipped: export" in report.text()


@pytest.mark.slow
@pytest.mark.finn
def test_finn_execution_equals_the_golden_model_at_every_width(mlp_bank, tmp_path):
    from wavebits.sim.finn_level import FinnLevel

    level = FinnLevel(mlp_bank, tmp_path)
    level.prepare()
    x = default_vectors(mlp_bank, 4)
    report = check(level, np.concatenate([x] * len(mlp_bank.widths)),
                   [b for b in mlp_bank.widths for _ in range(len(x))])
    assert report.ok and report.first is None, report.text()
    assert level.layers == ("fc1", "fc2", "fc3")
    assert sorted(report.per_width) == sorted(mlp_bank.widths)
    assert all(c.expected_exact and not c.skipped and c.inferences == len(x) for c in report.per_width.values())
    assert report.values_compared == len(mlp_bank.widths) * len(x) * (64 + 32 + 10)


def test_finn_rtl_refuses_1_bit_naming_the_layer(mlp_bank, tmp_path):
    from wavebits.sim.finn_level import FinnRtlLevel

    report = check(FinnRtlLevel(mlp_bank, tmp_path), default_vectors(mlp_bank, 2), [1])
    assert not report.ok and report.values_compared == 0
    assert report.to_dict()["per_width"][0]["skipped"] == (
        "SpecializeLayers: layer 'fc1': at 1 bit FINN computes XNOR-popcount (MVAU binaryXnorMode), "
        "which it implements only in HLS (MVAU_hls)")


def test_the_stitcher_ties_every_input_it_does_not_connect(tmp_path):
    from wavebits.codegen.finn_rtl import _instance, module_inputs

    src = tmp_path / "m.v"
    src.write_text("module m #(parameter W = 8)(\n  input ap_clk,\n  input [W-1:0] in0_V_TDATA,\n"
                   "  output logic [3:0] out0_V_TDATA,\n  input wire s_axilite_AWVALID\n);\nendmodule\n")
    assert module_inputs([src], "m") == ["ap_clk", "in0_V_TDATA", "s_axilite_AWVALID"]
    text = _instance("m", "n0", {"ap_clk": "ap_clk", "ap_clk2x": "ap_clk", "in0_V_TDATA": "s0_tdata",
                                 "out0_V_TDATA": "s1_tdata"}, [src])
    assert ".s_axilite_AWVALID('0)" in text and ".in0_V_TDATA(s0_tdata)" in text and ".out0_V_TDATA(s1_tdata)" in text
    assert "ap_clk2x" not in text  # a clock the module does not have


@pytest.mark.slow
@pytest.mark.finn
@pytest.mark.verilator
def test_finn_rtl_stitched_in_verilator_equals_the_golden_model_at_4_bits(mlp_bank, tmp_path):
    from wavebits.codegen.finn_rtl import Folding, simulate
    from wavebits.sim.finn_level import FinnRtlLevel

    level = FinnRtlLevel(mlp_bank, tmp_path, Folding(simd=8, pe=4))
    x = default_vectors(mlp_bank, 4)
    report = check(level, x, [4])
    assert report.ok and report.values_compared == len(x) * 10, report.text()
    fr = level._flows[4]
    assert fr.whole
    seg = fr.segments[0]
    assert [lay.op_type for lay in seg.layers] == [
        "MVAU_rtl", "Thresholding_rtl", "StreamingDataWidthConverter_rtl", "MVAU_rtl", "Thresholding_rtl",
        "StreamingDataWidthConverter_rtl", "MVAU_rtl"]
    assert [lay.folding for lay in seg.layers if lay.op_type == "MVAU_rtl"] == [
        {"PE": 4, "SIMD": 8}, {"PE": 4, "SIMD": 8}, {"PE": 2, "SIMD": 8}]  # fc3's 10 outputs: PE 2
    run = simulate(mlp_bank, fr, x)
    np.testing.assert_array_equal(run.layers["fc3"], GoldenModel(mlp_bank).run(x, 4, "all")["fc3"])
    sr = run.segments[0]
    assert report.cycles[4] == sr.latency
    # fc1 alone takes 64 / 8 input beats for each of its 64 / 4 output groups, the others overlap it
    assert sr.interval == (64 // 8) * (64 // 4) and sr.latency > sr.interval


@pytest.mark.slow
@pytest.mark.finn
def test_finn_rtl_names_the_max_pooling_it_has_only_in_hls(digits_bank, tmp_path):
    from wavebits.codegen.finn_rtl import finn_rtl_build, whole

    fr = finn_rtl_build(digits_bank, 4, tmp_path, verilate=False)
    assert fr.hls_layers[0] == ("pool1", "Pool") and not fr.whole
    with pytest.raises(FinnUnsupported, match=r"width 4, SpecializeLayers: layer 'pool1' \(Pool\): FINN implements "
                                              r"max pooling only in HLS"):
        whole(fr)
