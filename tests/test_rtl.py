"""RTL: Verilog generation, Verilator parity with the golden model at every width with mid-stream
switches, in both weight modes, and the bitstream flow."""

import json
import re
from importlib import resources

import numpy as np
import pytest
from wavebits.codegen.rtl import RtlError, generate_rtl, hardware_layers, write_rtl_project
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
from wavebits.graph import INPUT, Node

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
@pytest.mark.parametrize("weights", ["banked", "reconstruct"])
def test_rtl_is_bit_exact_at_every_width_with_switches(tmp_path, digits_bank, weights):
    project = write_rtl_project(digits_bank, tmp_path / "p", weights, lanes=8)
    plan = list(digits_bank.widths) + SCHEDULE
    report = check_rtl(project, plan, per_segment=2)
    assert report.ok, report.text()
    assert report.compared == 2 * len(plan) and report.mismatches == 0
    assert {inf.bits for inf in report.inferences} == set(digits_bank.widths)
    cycles = report.cycles_per_width()
    assert cycles[1] < cycles[2] < cycles[4] < cycles[8]
    assert len(report.switches) == len(plan) - 1
    if weights == "reconstruct":
        assert all(s.rebuild > 0 for s in report.switches)
        assert all(s.extra == 0 for s in report.switches)  # hidden behind the inference in flight
    else:
        assert all(s.rebuild == 0 and s.extra == 0 for s in report.switches)


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


def test_unsupported_layers_are_named(resnet_bank):
    with pytest.raises(RtlError, match=r"layer 'b1c2': act 'none' inside the network is not supported"):
        hardware_layers(resnet_bank)
    bank = synth_bank("resnet8", calib=4)
    bank.nodes = [n if n.op != "conv2d" else Node(n.name, n.op, n.inputs, n.out_channels, n.kernel, n.stride,
                                                   n.padding, "relu") for n in bank.nodes]
    with pytest.raises(RtlError, match=r"layer 'add': add is not supported"):
        hardware_layers(bank)


def test_intermediate_act_none_is_rejected(digits_bank):
    nodes = list(digits_bank.nodes)
    nodes[0] = Node("conv1", "conv2d", (INPUT,), out_channels=16, kernel=(3, 3), padding=(1, 1), act="none")
    bank = synth_bank("cnn-digits")
    bank.nodes = nodes
    with pytest.raises(RtlError, match=r"layer 'conv1': act 'none' inside the network"):
        hardware_layers(bank)


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
    """The bench refuses every third output beat: outputs wait in the core's FIFO, none is lost."""
    project = write_rtl_project(digits_bank, tmp_path / "p", "banked", 8)
    free = check_rtl(project, [8, 1], per_segment=2)
    held = check_rtl(project, [8, 1], per_segment=2, backpressure=True)
    assert free.ok and held.ok, held.text()
    assert all(len(inf.outputs) == digits_bank.classes for inf in held.inferences)


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
