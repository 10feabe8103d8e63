"""RTL: Verilog generation, Verilator parity with the golden model at every width with mid-stream
switches, in both weight modes, and the bitstream flow."""

import json
import re
from importlib import resources

import numpy as np
import pytest
from wavebits.codegen.estimate import HAAR_LOOKUP, HAAR_PIPELINE, estimate
from wavebits.codegen.rtl import RtlError, build_design, generate_rtl, hardware_layers, write_rtl_project
from wavebits.codegen.rtl_layout import (
    DESC_FIELDS,
    ELEM_FIELDS,
    ELEM_W,
    FIELD_W,
    HEADER,
    LW_FIELDS,
    LW_TERMS,
    TERM_W,
    fields_header,
    offsets,
)
from wavebits.sim.rtlsim import check_rtl

from wavebits.bank import synth_bank
from wavebits.errors import WavebitsError, WidthError
from wavebits.graph import INPUT, Node, fan_in

SCHEDULE = [8, 4, 1, 8, 2]


def test_project_header_is_rendered_from_the_layouts(tmp_path, digits_bank):
    assert fields_header().encode() == fields_header().encode()
    project = write_rtl_project(digits_bank, tmp_path / "p", "reconstruct", lanes=4)
    text = (project / "rtl" / HEADER).read_text()
    assert text == fields_header()
    params = {m.group(1): int(m.group(2)) for m in re.finditer(r"^localparam (\w+) = (\d+);", text, re.M)}
    assert [params[f"F_{f.name}"] for f in DESC_FIELDS] == list(range(len(DESC_FIELDS)))
    assert (params["FIELD_W"], params["NFIELDS"]) == (FIELD_W, len(DESC_FIELDS))
    for prefix, fields in (("LW", LW_FIELDS), ("ELEM", ELEM_FIELDS)):
        for f in fields:
            assert (params[f"{prefix}_{f.name}"], params[f"{prefix}_{f.name}_W"]) == (offsets(fields)[f.name], f.width)
    assert (params["LW_TERMS"], params["TERM_W"], params["ELEM_W"]) == (LW_TERMS, TERM_W, ELEM_W)
    # the header exists only as generated, and the engine slices the element map by its names
    assert not (resources.files("wavebits.hw") / "rtl" / HEADER).is_file()
    assert not re.search(r"elem\[\d", (project / "rtl" / "wb_haar_engine.v").read_text())


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.parametrize("planes", [1, 4])
@pytest.mark.parametrize("weights", ["banked", "reconstruct"])
def test_rtl_is_bit_exact_at_every_width_with_switches(tmp_path, digits_bank, weights, planes):
    project = write_rtl_project(digits_bank, tmp_path / "p", weights, lanes=8, planes=planes)
    plan = list(digits_bank.widths) + SCHEDULE
    report = check_rtl(project, plan, per_segment=2)
    assert report.ok, report.text()
    assert report.compared == 2 * len(plan) and report.mismatches == 0
    assert {inf.bits for inf in report.inferences} == set(digits_bank.widths)
    cycles = report.cycles_per_width()
    if planes == 1:
        assert cycles[1] < cycles[2] < cycles[4] < cycles[8]
    else:  # a step of four planes: widths 5 to 8 take two, 1 to 4 one
        assert cycles[1] == cycles[4] < cycles[5] == cycles[8]
    assert len(report.switches) == len(plan) - 1
    if weights == "reconstruct":
        # the Haar engine issues a column pair of a row group per cycle, layer after layer without a
        # gap (every layer here is longer than the look-up of the next), plus its pipeline: the
        # estimator's rebuild model
        rebuild = estimate(digits_bank, "reconstruct", 8, planes=planes).rebuild_cycles
        issue = sum(-(-n.out_channels // 8) * -(-fan_in(n, digits_bank.shapes[n.inputs[0]]) // 2)
                    for n in digits_bank.nodes if n.weighted)
        assert rebuild == issue + HAAR_PIPELINE
        assert all(s.rebuild == rebuild for s in report.switches), ([s.rebuild for s in report.switches], rebuild)
        assert all(s.extra == 0 for s in report.switches)  # hidden behind the inference in flight
    else:
        assert all(s.rebuild == 0 and s.extra == 0 for s in report.switches)


@pytest.mark.slow
@pytest.mark.verilator
def test_rebuild_waits_for_the_next_weighted_layers_look_up(tmp_path):
    """A layer of one item, then two max pools: the Haar engine finds the next weighted layer's
    descriptor only after skipping them; that layer's two items are over before the look-up of the
    next one too. The rebuild model counts both waits."""
    nodes = [Node("a", "conv2d", (INPUT,), out_channels=4, kernel=(1, 1)),
             Node("m1", "maxpool", ("a",), kernel=(2, 2), stride=(1, 1)),
             Node("m2", "maxpool", ("m1",), kernel=(2, 2), stride=(1, 1)),
             Node("b", "conv2d", ("m2",), out_channels=4, kernel=(1, 1)),
             Node("f", "flatten", ("b",)),
             Node("fc", "linear", ("f",), out_channels=3, act="none")]
    bank = synth_bank((nodes, (1, 6, 6)), calib=8)
    design = build_design(bank, "reconstruct", 8, images=False)
    rebuild = estimate(bank, "reconstruct", 8).rebuild_cycles
    assert design.rebuild_items == [1, 0, 0, 2, 32]
    assert rebuild == (HAAR_LOOKUP + 2 * 2) + HAAR_LOOKUP + 32 + HAAR_PIPELINE
    report = check_rtl(write_rtl_project(bank, tmp_path / "p", "reconstruct", 8), [8, 1, 4], per_segment=1)
    assert report.ok, report.text()
    assert all(s.rebuild == rebuild for s in report.switches), ([s.rebuild for s in report.switches], rebuild)


@pytest.mark.slow
@pytest.mark.verilator
def test_idle_switch_costs_the_rebuild_in_reconstruct_mode(tmp_path, digits_bank):
    project = write_rtl_project(digits_bank, tmp_path / "p", "reconstruct", lanes=4)
    report = check_rtl(project, [8, 1, 4], per_segment=2, switch_mode="idle")
    assert report.ok, report.text()
    for s in report.switches:
        load = int(np.prod(digits_bank.input_shape))
        assert 0 < s.extra <= s.rebuild - load + 4
        assert s.latency == s.depth + s.extra + 1


@pytest.mark.slow
@pytest.mark.verilator
def test_trained_bank_rtl_is_bit_exact(tmp_path, trained):
    result, path, _ = trained
    project = write_rtl_project(result.bank, tmp_path / "p", "reconstruct", lanes=16, bank_bytes=path.read_bytes())
    report = check_rtl(project, SCHEDULE, per_segment=2)
    assert report.ok, report.text()


@pytest.mark.verilator
def test_a_corrupted_weight_is_reported_by_layer(tmp_path, digits_bank):
    project = write_rtl_project(digits_bank, tmp_path / "p", "banked", lanes=8)
    hexfile = project / "mem" / "weights_b8.hex.0"
    lines = hexfile.read_text().splitlines()
    lines[0] = lines[0][:-1] + ("0" if lines[0][-1] != "0" else "f")  # one bit plane of the first conv1 taps
    hexfile.write_text("\n".join(lines) + "\n")
    report = check_rtl(project, [8], per_segment=1)
    assert not report.ok and report.mismatch.layer == "conv1"
    assert "conv1" in report.text() and "expected" in report.text()


def test_generation_is_deterministic(digits_bank):
    a = generate_rtl(digits_bank, "reconstruct", 8)
    b = generate_rtl(digits_bank, "reconstruct", 8)
    assert a == b


def test_residual_blocks_keep_their_skip_tensor_in_its_own_buffer(resnet_bank):
    """ResNet-8 as hardware layers: adds, act none branches of 4-byte values, a window sum for the global
    pooling, and three activation buffers: no layer between a skip tensor's writer and its add
    overwrites it."""
    layers = hardware_layers(resnet_bank)
    assert [h.op for h in layers].count("add") == 3 and layers[-2].op == "avgpool" and layers[-2].kh == 8
    assert {h.dst for h in layers} == {0, 1, 2}
    index = {h.name: i for i, h in enumerate(layers)}
    for i, h in enumerate(layers):
        if h.op == "add":
            assert h.out_bytes == 1 and 4 in (h.in_bytes, h.in2_bytes)
            for t, buf in zip(h.inputs, (h.src, h.src2), strict=True):
                writer = index[t]
                assert layers[writer].dst == buf
                assert all(layers[k].dst != buf for k in range(writer + 1, i))
    assert layers[index["b1c2"]].out_bytes == 4 and layers[index["b1c2"]].out_signed


def test_each_activation_buffer_is_as_deep_as_its_largest_tensor(resnet_bank):
    """ResNet-8's buffers in 8-byte words: buffer 0 the input (3 x 32 x 32: 1,024 words) and the
    16-channel byte tensors (2,048), buffer 1 also b2sc (32 channels x 4 bytes x 16 x 16: 4,096),
    buffer 2 b1c2 (16 channels x 4 bytes x 32 x 32: 8,192); the unused fourth buffer one word."""
    params = build_design(resnet_bank, "banked", 8, images=False).params
    assert [params[f"ACT_DEPTH{i}"] for i in range(4)] == [2048, 4096, 8192, 1]
    assert params["NBUF"] == 3


def test_what_the_rtl_does_not_run_is_named():
    """Act none values wider than 32 bits (a chain of act none layers), more tensors alive at once
    than the core has buffers, a graph that does not end in a weighted layer."""
    chain = [Node(f"c{i}", "conv2d", (f"c{i - 1}" if i > 1 else INPUT,), out_channels=8, kernel=(3, 3),
                  padding=(1, 1), act="none") for i in (1, 2, 3)]
    chain += [Node("f", "flatten", ("c3",)), Node("fc", "linear", ("f",), out_channels=3, act="none")]
    with pytest.raises(RtlError, match=r"layer 'c3': its act none values need more than 32 bits"):
        hardware_layers(synth_bank((chain, (3, 5, 5)), calib=4))
    wide = [Node(f"c{i}", "conv2d", (INPUT,), out_channels=4, kernel=(1, 1)) for i in range(4)]
    wide += [Node("a1", "add", ("c0", "c1")), Node("a2", "add", ("a1", "c2")), Node("a3", "add", ("a2", "c3")),
             Node("f", "flatten", ("a3",)), Node("fc", "linear", ("f",), out_channels=3, act="none")]
    with pytest.raises(RtlError, match=r"5 tensors are alive at once, the RTL core holds 4"):
        generate_rtl(synth_bank((wide, (2, 3, 3)), calib=4), "banked", 8)
    pooled = [Node("c", "conv2d", (INPUT,), out_channels=4, kernel=(3, 3)), Node("g", "gap", ("c",))]
    with pytest.raises(RtlError, match=r"the last layer 'g' must be conv2d or linear"):
        hardware_layers(synth_bank((pooled, (1, 5, 5)), calib=4))


def input_read_twice():
    """The int8 input read by the first convolution and by an add: stored as it comes, not packed."""
    return [
        Node("c1", "conv2d", (INPUT,), out_channels=2, kernel=(3, 3), padding=(1, 1), act="none"),
        Node("s", "add", ("c1", INPUT)),
        Node("c2", "conv2d", ("s",), out_channels=8, kernel=(3, 3), stride=(2, 2)),
        Node("f", "flatten", ("c2",)),
        Node("fc", "linear", ("f",), out_channels=4, act="none"),
    ], (2, 7, 7)


def test_an_input_read_twice_is_stored_unpacked():
    bank = synth_bank(input_read_twice(), calib=4, input_signed=True)
    first, add = hardware_layers(bank)[:2]
    assert first.pack == 1 and add.inputs == ("c1", INPUT) and add.src2 == 0 and add.in2_signed
    nodes, shape = input_read_twice()
    alone = [nodes[0], Node("f", "flatten", ("c1",)), Node("fc", "linear", ("f",), out_channels=4, act="none")]
    alone = synth_bank((alone, shape), calib=4)
    assert hardware_layers(alone)[0].pack == 3


@pytest.mark.verilator
def test_a_first_linear_layer_reads_its_image_input_stored_flat(tmp_path):
    """A linear layer over a (C, H, W) input reads it as C * H * W channels, eight to a word, where a
    (H, W) kernel took a word per pixel for 3 of its 8 slots: 10 items per lane group, not 25."""
    nodes = [Node("f", "flatten", (INPUT,)), Node("fc1", "linear", ("f",), out_channels=12),
             Node("fc2", "linear", ("fc1",), out_channels=5, act="none")]
    bank = synth_bank((nodes, (3, 5, 5)), widths=(8, 2, 1), calib=4, input_signed=True)
    fc1 = hardware_layers(bank)[0]
    assert (fc1.cin, fc1.hin, fc1.win, fc1.kh, fc1.kw, fc1.flat_in, fc1.units) == (75, 1, 1, 1, 1, True, 10)
    prm = build_design(bank, "banked", 4, images=False).params
    assert (prm["IN_C"], prm["IN_HW"], prm["IN_CW"], prm["IN_W"]) == (75, 1, 10, 1)
    project = write_rtl_project(bank, tmp_path / "p", "banked", lanes=4)
    report = check_rtl(project, [8, 2, 1, 8], per_segment=1)
    assert report.ok and report.mismatches == 0, report.text()
    est = estimate(bank, "banked", 4).cycles
    assert all(report.cycles_per_width()[b] == est[b]["total"] for b in (8, 2, 1))


def resnet8_like(c: tuple[int, int, int] = (8, 16, 16), shape: tuple[int, int, int] = (3, 8, 8)):
    """ResNet-8's graph (``wavebits.archs.resnet8``: stem, three residual stages, the second and third
    strided with a 1x1 shortcut, global pooling, linear) with fewer channels and a smaller input."""
    nodes = [Node("stem", "conv2d", (INPUT,), out_channels=c[0], kernel=(3, 3), padding=(1, 1))]
    x, cin = "stem", c[0]
    for i, (cout, stride) in enumerate(zip(c, (1, 2, 2), strict=True), start=1):
        nodes += [Node(f"b{i}c1", "conv2d", (x,), out_channels=cout, kernel=(3, 3), stride=(stride, stride),
                       padding=(1, 1)),
                  Node(f"b{i}c2", "conv2d", (f"b{i}c1",), out_channels=cout, kernel=(3, 3), padding=(1, 1),
                       act="none")]
        short = x
        if stride != 1:
            short = f"b{i}sc"
            nodes.append(Node(short, "conv2d", (x,), out_channels=cout, kernel=(1, 1), stride=(stride, stride),
                              act="none"))
        x = f"add{i}"
        nodes.append(Node(x, "add", (f"b{i}c2", short)))
        cin = cout
    nodes += [Node("gap", "gap", (x,)), Node("flatten", "flatten", ("gap",)),
              Node("fc", "linear", ("flatten",), out_channels=10, act="none")]
    assert cin == c[-1]
    return nodes, shape


def ds_cnn_like(filters: int = 16, blocks: int = 2, shape: tuple[int, int, int] = (1, 14, 6)):
    """DS-CNN's graph (``examples/ds_cnn.py``: a strided 10x4 conv on int8 features, depthwise-separable
    blocks, global pooling, linear) with fewer filters and blocks, a 4x2 first kernel and a smaller input."""
    nodes = [Node("conv1", "conv2d", (INPUT,), out_channels=filters, kernel=(4, 2), stride=(2, 2), padding=(2, 1))]
    x = "conv1"
    for i in range(1, blocks + 1):
        nodes += [Node(f"dw{i}", "conv2d", (x,), out_channels=filters, kernel=(3, 3), padding=(1, 1), groups=filters),
                  Node(f"pw{i}", "conv2d", (f"dw{i}",), out_channels=filters, kernel=(1, 1))]
        x = f"pw{i}"
    return [*nodes, Node("pool", "gap", (x,)), Node("flatten", "flatten", ("pool",)),
            Node("fc", "linear", ("flatten",), out_channels=12, act="none")], shape


def _every_width_and_switches(bank, project):
    plan = list(bank.widths) + SCHEDULE
    report = check_rtl(project, plan, per_segment=1)
    assert report.ok, report.text()
    assert report.compared == len(plan) and report.mismatches == 0
    cycles = report.cycles_per_width()
    assert cycles[1] < cycles[2] < cycles[4] < cycles[8]
    return report


@pytest.mark.slow  # every op is in the quick suite's mixed graph (test_ops)
@pytest.mark.verilator
def test_resnet8_like_network_is_bit_exact(tmp_path):
    """Residual adds (two buffers read at once, two requant multipliers), act none branches stored as
    4-byte signed values, a 1x1 strided shortcut, global average pooling: every width and switches."""
    bank = synth_bank(resnet8_like(), calib=16)
    _every_width_and_switches(bank, write_rtl_project(bank, tmp_path / "p", "banked", lanes=8))


@pytest.mark.slow  # every op is in the quick suite's mixed graph (test_ops)
@pytest.mark.verilator
def test_ds_cnn_like_network_is_bit_exact(tmp_path):
    """int8 input (its first kernel rows packed into words), depthwise convolutions on 16 lanes (each
    lane one slot, two words per tap), global average pooling, reconstruct mode: every width and
    switches."""
    bank = synth_bank(ds_cnn_like(), calib=16, input_signed=True)
    _every_width_and_switches(bank, write_rtl_project(bank, tmp_path / "p", "reconstruct", lanes=16))


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.parametrize("lanes,planes,mac", [(4, 8, "lut"), (32, 2, "lut"), (8, 8, "dsp")])
def test_every_op_in_both_weight_modes(tmp_path, lanes, planes, mac):
    """The ops on 4 lanes (a depthwise lane group half a word) taking all 8 weight bit planes per
    item, on 32 (four words) taking 2 and on 8 multiplying whole weights: ResNet-8- and DS-CNN-like
    networks, and one with max pools over int8 and over 4-byte act none values, grouped
    convolutions of 1 input channel (4 outputs) and 6 input channels (on 4-byte values) per group,
    an average pool, an add with an act none output, a depthwise convolution of act none values and
    an average pool of its output."""
    mixed = [
        Node("mp", "maxpool", (INPUT,), kernel=(2, 2), stride=(1, 1)),
        Node("c1", "conv2d", ("mp",), out_channels=12, kernel=(3, 3), padding=(1, 1), groups=3),
        Node("c2", "conv2d", ("c1",), out_channels=24, kernel=(1, 1), act="none"),
        Node("mp2", "maxpool", ("c2",), kernel=(2, 2), stride=(1, 1)),
        Node("g", "conv2d", ("mp2",), out_channels=20, kernel=(3, 3), padding=(1, 1), groups=4),
        Node("ap", "avgpool", ("g",), kernel=(2, 2), stride=(1, 1)),
        Node("pw", "conv2d", ("ap",), out_channels=20, kernel=(1, 1), act="none"),
        Node("s1", "add", ("pw", "ap")),
        Node("s2", "add", ("s1", "ap"), act="none"),
        Node("dw", "conv2d", ("s2",), out_channels=20, kernel=(3, 3), padding=(1, 1), groups=20, act="none"),
        Node("ap2", "avgpool", ("dw",), kernel=(2, 2), stride=(1, 1)),
        Node("f", "flatten", ("ap2",)),
        Node("fc", "linear", ("f",), out_channels=5, act="none"),
    ]
    banks = [synth_bank(resnet8_like(), calib=16), synth_bank(ds_cnn_like(), calib=16, input_signed=True),
             synth_bank((mixed, (3, 7, 6)), calib=16, input_signed=True),
             synth_bank(input_read_twice(), calib=16, input_signed=True)]
    for k, bank in enumerate(banks):
        for mode in ("banked", "reconstruct"):
            report = check_rtl(write_rtl_project(bank, tmp_path / f"{k}{mode}", mode, lanes, planes=planes, mac=mac),
                               [8, 5, 1, 2, 8], per_segment=1)
            assert report.ok, report.text()
            rebuild = estimate(bank, mode, lanes, planes=planes).rebuild_cycles
            assert all(s.rebuild == rebuild for s in report.switches), ([s.rebuild for s in report.switches], rebuild)


def test_bad_lanes_and_widths_are_clear_errors(tmp_path, digits_bank):
    with pytest.raises(RtlError, match="--lanes"):
        generate_rtl(digits_bank, "banked", 6)
    bank = synth_bank("cnn-digits", widths=(8, 4))
    project = write_rtl_project(bank, tmp_path / "p", "banked", lanes=4)
    with pytest.raises(WidthError, match="no width 2"):
        check_rtl(project, [8, 2], per_segment=1)
    with pytest.raises(WavebitsError, match="not an RTL project"):
        check_rtl(tmp_path, [8], per_segment=1)


@pytest.mark.slow
@pytest.mark.yosys
def test_bitstream_for_a_small_bank(tmp_path):
    """The open ECP5 flow end to end: yosys, nextpnr and ecppack produce a real .bit."""
    from wavebits.codegen.bitstream import build_bitstream

    bank = synth_bank("mlp", widths=(8, 4, 2, 1))
    project = write_rtl_project(bank, tmp_path / "p", "reconstruct", lanes=4)
    report = build_bitstream(project, "ulx3s-85f")
    bit = project / "build" / "ulx3s-85f.bit"
    assert bit.is_file() and bit.stat().st_size > 100_000
    assert report.utilization["LUT4"][0] > 500 and report.utilization["block RAM (18 kbit)"][0] >= 1
    assert report.fmax_mhz > 10
    assert report.outreg_ports > 0 and report.outreg_flip_flops >= report.outreg_ports
    assert "Fmax" in report.text() and "output registers" in report.text()
    # the core clock is the PLL's output, and nextpnr times the design against it
    assert report.target_mhz == 100.0
    log = (project / "build" / "nextpnr.log").read_text()
    assert re.search(r"Derived frequency constraint of 100\.0 MHz for net \S*clk", log), log[-2000:]


@pytest.mark.slow
@pytest.mark.verilator
def test_wide_requant_multipliers_are_exact(tmp_path):
    """32-bit requant multipliers (as ResNet-8 training exports) through the split-product requant unit."""
    from wavebits.bank.builder import BankFormat

    bank = synth_bank("cnn-digits", fmt=BankFormat(mul_bits=32))
    assert max(int(abs(rq.mul).max()) for per in bank.requant.values() for rq in per.values()) >= 1 << 30
    report = check_rtl(write_rtl_project(bank, tmp_path / "p", "banked", 8), [8, 2, 1], per_segment=1)
    assert report.ok, report.text()


@pytest.mark.slow
@pytest.mark.verilator
def test_strided_odd_shaped_network_is_bit_exact(tmp_path, monkeypatch):
    """Stride 2, a 3x2 kernel with one-sided padding, 3 input channels, 11 and 12 channels (partial
    channel words and lane groups), odd image sizes: both weight modes, widths and switches."""
    from wavebits import archs

    def strided(classes: int = 10) -> list[Node]:
        return [
            Node("c1", "conv2d", (INPUT,), out_channels=11, kernel=(3, 3), stride=(2, 2), padding=(1, 1)),
            Node("c2", "conv2d", ("c1",), out_channels=12, kernel=(3, 2), padding=(0, 1)),
            Node("p", "maxpool", ("c2",), kernel=(2, 2), stride=(2, 2)),
            Node("f", "flatten", ("p",)),
            Node("fc", "linear", ("f",), out_channels=classes, act="none"),
        ]

    monkeypatch.setitem(archs.ARCHS, "strided", (strided, (3, 13, 12)))
    bank = synth_bank("strided", widths=(8, 3, 1), calib=16)
    for mode in ("banked", "reconstruct"):
        report = check_rtl(write_rtl_project(bank, tmp_path / mode, mode, 4), [8, 3, 1, 8], per_segment=2)
        assert report.ok, report.text()


@pytest.mark.verilator
def test_output_backpressure_loses_nothing(tmp_path, digits_bank):
    """The bench refuses every third output beat, or takes one in 1024 cycles: outputs wait in the
    core's FIFO, none is lost. Held that long, the FIFO is still full when the next inference's
    first layer starts, so its drain stalls there too and its groups wait for the drain to be through
    (a group timed as if the drain ran would overwrite the shadow registers of the one before)."""
    project = write_rtl_project(digits_bank, tmp_path / "p", "banked", 8)
    free = check_rtl(project, [8, 1, 2], per_segment=2)
    assert free.ok, free.text()
    for backpressure in (True, "heavy"):
        held = check_rtl(project, [8, 1, 2], per_segment=2, backpressure=backpressure)
        assert held.ok, held.text()
        assert all(len(inf.outputs) == digits_bank.classes for inf in held.inferences)
    assert all(held.cycles_per_width()[b] > free.cycles_per_width()[b] for b in (8, 1, 2))


def test_half_padded_column_pairs_are_stored_as_two_components(digits_bank):
    """conv1 has 9 columns: its last column pair is half padding (LH = LL, HH = HL) and is stored as
    {HL, LL} edge records, so the components take exactly comp_bits per weight."""
    import json

    files = generate_rtl(digits_bank, "reconstruct", 8)
    meta = json.loads(files["project.json"])
    comp_bits = max(lw.fmt.comp_bits for lw in digits_bank.weights.values())
    assert meta["memory_bits"]["components"] == comp_bits * digits_bank.weight_count()
    assert meta["params"]["XDEPTH"] >= 1 and "mem/edge_0.hex.0" in files


@pytest.mark.slow
@pytest.mark.verilator
def test_a_half_padded_pair_that_is_not_redundant_keeps_four_components(tmp_path, digits_bank):
    """A bank made elsewhere may break LH = LL in a half-padded pair: that pair keeps all four
    components, is read from the component banks, and the RTL stays bit-exact."""
    import copy

    bank = copy.deepcopy(digits_bank)
    name = next(n.name for n in bank.nodes if n.weighted)
    lw = bank.weights[name]
    assert lw.components["LL"].shape[1] * 2 > np.prod(bank.weight_shape(name)[1:])  # odd column count
    lw.components["LH"][:, -1] = np.clip(lw.components["LH"][:, -1] + 3, -lw.fmt.comp_limit, lw.fmt.comp_limit)
    for b in bank.widths:
        lw.banks[b] = lw.reconstruct(b, bank.weight_shape(name))
    project = write_rtl_project(bank, tmp_path / "p", "reconstruct", lanes=8)
    assert not list((project / "mem").glob("edge_*"))
    report = check_rtl(project, [8, 3, 1, 8], per_segment=1)
    assert report.ok, report.text()


def test_pll_settings_make_the_core_clock():
    """The board top level's EHXPLLL: Trellis ecppll's search, within the ECP5 PLL's ranges."""
    from wavebits.codegen.ecp5_pll import PllError, ecp5_pll

    pll = ecp5_pll(25.0, 100.0)
    assert (pll.clki_div, pll.clkfb_div, pll.clkop_div) == (1, 4, 6) and pll.fout_mhz == 100.0
    near = ecp5_pll(25.0, 66.0)
    assert abs(near.fout_mhz - 66.0) < 0.5 and 400 <= near.fvco_mhz <= 800
    with pytest.raises(PllError, match="outside"):
        ecp5_pll(25.0, 500.0)


def test_board_top_level_clocks_the_core_from_its_pll(tmp_path):
    bank = synth_bank("mlp", widths=(8, 1))
    project = write_rtl_project(bank, tmp_path / "p", "banked", lanes=4, clock_mhz=75.0)
    top = (project / "board" / "ulx3s-85f.v").read_text()
    assert "EHXPLLL" in top and ".CLKFB_DIV(3)" in top and f"parameter CLKS_PER_BIT = {round(75e6 / 115200)}" in top
    assert json.loads((project / "project.json").read_text())["clock_mhz"] == 75.0
    with pytest.raises(WavebitsError, match="--clock-mhz"):
        write_rtl_project(bank, tmp_path / "q", "banked", lanes=4, clock_mhz=5.0)


def _ds_cnn_bank():
    """DS-CNN (``examples/ds_cnn.py``, full size, int8 input) as a synthetic bank."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    from catalog import NETWORKS, module

    from wavebits.importer import import_module

    example = next(e for e in NETWORKS if e.file == "ds_cnn")
    return synth_bank((import_module(module(example), example.shape).nodes, example.shape), calib=16,
                      input_signed=True)


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.parametrize("weights", ["banked", "reconstruct"])
@pytest.mark.parametrize("network", ["resnet8", "ds_cnn"])
def test_mlperf_tiny_networks_are_bit_exact_in_rtl(tmp_path, resnet_bank, network, weights):
    """Full-size ResNet-8 (CIFAR-10 shape) and DS-CNN (49x10 int8 MFCCs, 64 filters, four depthwise
    blocks): every layer bit-exact at every width and along a switch schedule."""
    bank = resnet_bank if network == "resnet8" else _ds_cnn_bank()
    _every_width_and_switches(bank, write_rtl_project(bank, tmp_path / "p", weights, lanes=8))
