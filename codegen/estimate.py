"""What an RTL configuration costs before anything is built: cycles per layer and width, and the
LUT4s, flip-flops, DSPs and block RAMs it needs on a board.

The cycle model follows ``wb_core``'s schedule item by item, for every layer kind the core runs: the
input one value per cycle, then per layer six cycles of descriptor and record reads and the issue
queue, the items ``wb_issue`` issues one per cycle (``WORK`` says what each kind issues per output pixel: a
convolution a pass per convolution group a lane group meets, each an item per tap, channel word,
step of ``planes`` weight bit planes and byte of a wide input; a window sum the same on one slot
per lane without planes; a max pool an item per tap and word; an add an item per channel), the
drain of every group of P output channels (two channels per cycle, one in the output layer,
overlapped with the next group unless the group is shorter than its drain: ``wb_issue``'s drain
wait), and the last item's way to the last write.
It equals the Verilator simulation layer by layer (``tests/test_estimate.py``). The resource model
maps every memory of the design onto ECP5 block RAMs the way Yosys does (``codegen.bram``) and
counts logic with coefficients fitted to Yosys and nextpnr (``LOGIC``);
``benchmarks/estimate_accuracy.py`` sets both models beside the RTL simulation and nextpnr's report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from wavebits.bank.model import Bank
from wavebits.bank.report import table

from .bram import block_rows, mapped_blocks
from .rtl import (
    BOARDS,
    DESC_FIELDS,
    DRAIN_LANES,
    ELEM_W,
    FIELD_W,
    LANE_CHOICES,
    MAC_WORDS,
    MUL_PLANES,
    RAM_BLOCK,
    REQUANT_OREG,
    WEIGHT_MODES,
    HwLayer,
    RtlDesign,
    RtlError,
    build_design,
    check_mac,
    conv_groups_met,
    hardware_layers,
    lane_groups,
    slot_words,
)

# wb_core's schedule, in cycles. A layer: its setup states (S_DESC .. S_SETUP) and the cycle its
# first item takes through wb_issue's queue, then one item per cycle from wb_issue, then its last
# item's way to the last write, then the cycle its pipeline is seen empty and S_NEXT. An item
# reaches its operand stage TO_OPERANDS cycles after its issue (the issue register, MEM_LAT = 4
# stages: the address copies and the memories' 3 read stages, the operands), leaves the lanes
# LANE_LAT cycles later, and the cycle after that the drain takes the group's first channels,
# DRAIN_LANES per cycle (one in the output layer); a value takes REQUANT cycles from entering the
# requant pipeline to its write (stage 0, the requant memories' output register, wb_requant's
# REQUANT_STAGES).
# tests/test_estimate.py holds every layer to the RTL simulation.
SETUP_CYCLES = 6
START_CYCLES = 1  # S_START, after the input's last value
TO_OPERANDS = 6
# wb_mac_lane's and wb_requant's LATENCY: tests/test_rtl_leaf.py holds the modules to these
REQUANT_STAGES = 8
REQUANT = 1 + REQUANT_OREG + REQUANT_STAGES
END_CYCLES = 2
# wb_haar_engine: an item per cycle, then its pipeline (the element map's two stages, the record
# address, COMP_OREG + 2 stages of component reads, wb_haar_lane's LATENCY, the write register).
# While a layer's items issue, the next weighted layer's descriptor is looked up: found
# HAAR_LOOKUP cycles after the layer starts, 2 more per layer without weights skipped on the way.
# tests/test_rtl.py holds the rebuild to rebuild_cycles.
HAAR_PIPELINE = 2 + 1 + 4 + 7 + 1
HAAR_LOOKUP = 3


@dataclass(frozen=True)
class Capacity:
    """What a board's FPGA offers: LUT4s, flip-flops, 18x18 multipliers and 18-kbit block RAMs."""

    lut4: int
    ff: int
    dsp: int
    bram: int


CAPACITY = {"ulx3s-85f": Capacity(lut4=83640, ff=83640, dsp=156, bram=208)}
# the share of each resource of the device a fitting design may use (--fit keeps every one at or
# below it). Block RAM less: a design that takes nearly every block-RAM column spreads its logic over
# the die, and ResNet-8 at 174 of 208 (16 and 32 lanes) placed at 95.5 and 79.2 MHz, while every
# design measured at 156 or fewer met 100 MHz but for LUT-heavy LeNet-5 on 8 x 8 planes, reconstruct
# (docs/results: rtl-resnet8*.md, rtl-lenet5*.md)
HEADROOM = {"lut4": 0.85, "ff": 0.85, "dsp": 0.85, "bram": 0.80}


def lane_latency(planes: int = 1) -> int:
    """``wb_mac_lane``'s LAT with ``planes`` weight bit planes per item: the operands' register
    (planes > 1), the pair sums, the word sums, a level per doubling of the planes, the addend."""
    return 3 + int(planes > 1) + planes.bit_length() - 1


def plane_steps(bits: int, planes: int = 1) -> int:
    """Items a convolution unit takes at ``bits`` with ``planes`` weight bit planes per item (one at
    width 1: +-x or XNOR)."""
    return 1 if bits == 1 else -(-bits // planes)


@dataclass(frozen=True)
class Work:
    """One output pixel of a layer as ``wb_issue`` issues it: ``items`` per lane group (one entry for
    a layer without lane groups), ``drain`` the cycles the drain takes each group's channels in
    (empty where the values do not pass through the lanes and the drain), ``latency`` the cycles from
    the last item's issue to the layer's last write, ``lane_lat`` the lanes' latency (0 where the
    values do not pass them)."""

    items: tuple[int, ...]
    drain: tuple[int, ...] = ()
    latency: int = TO_OPERANDS
    lane_lat: int = 0


def drained(hw: HwLayer, lanes: int, planes: int, items: Callable[[range], int]) -> Work:
    """A layer on the lanes: ``items(group)`` per lane group, each group's channels requantized by
    the drain, DRAIN_LANES per cycle (one in the output layer) after the group's last item has left
    the lanes."""
    groups = lane_groups(hw, lanes)
    per = 1 if hw.is_out else DRAIN_LANES
    drain = tuple(-(-len(g) // per) for g in groups)
    lat = lane_latency(planes)
    return Work(tuple(items(g) for g in groups), drain, TO_OPERANDS + lat + drain[-1] + REQUANT, lat)


def conv_work(hw: HwLayer, bits: int, lanes: int, planes: int = 1) -> Work:
    """Convolutions and linear layers: per lane group, a pass per convolution group its channels
    meet, each an item per kernel tap, channel word, step of ``planes`` weight bit planes and byte of
    a wide input's values (a depthwise layer reads the words its lanes' channels span)."""
    words = slot_words(hw, lanes) if hw.depthwise else hw.unit_words
    unit = hw.kh * hw.kw * words * plane_steps(bits, planes) * hw.in_bytes
    return drained(hw, lanes, planes, lambda g: conv_groups_met(hw, g) * unit)


def window_sum_work(hw: HwLayer, bits: int, lanes: int, planes: int = 1) -> Work:
    """Average pooling: a depthwise convolution with unit weights, so no bit planes."""
    return drained(hw, lanes, planes, lambda g: hw.kh * hw.kw * slot_words(hw, lanes) * hw.in_bytes)


def max_pool_work(hw: HwLayer, bits: int, lanes: int, planes: int = 1) -> Work:
    """Max pooling: an item per tap and channel word (whole values compared), written the cycle
    after the operand stage."""
    return Work((hw.kh * hw.kw * hw.incw,), latency=TO_OPERANDS + 1)


def add_work(hw: HwLayer, bits: int, lanes: int, planes: int = 1) -> Work:
    """A residual add: an item per channel (a value of each input), from the operand stage straight
    into the requant pipeline."""
    return Work((hw.cout,), latency=TO_OPERANDS + REQUANT)


WORK: dict[str, Callable[[HwLayer, int, int, int], Work]] = {
    "conv": conv_work, "avgpool": window_sum_work, "pool": max_pool_work, "add": add_work}


def issue_cycles(work: Work, pixels: int, is_out: bool) -> int:
    """Cycles from a layer's first item to its last: one item per cycle, but a lane group's last item
    waits for the drain to be done with the previous group (``wb_issue``): outside the output layer
    the drain's cycles for that group after its last item, in the output layer until the drain has
    taken its last channel."""
    if not work.drain:
        return pixels * sum(work.items)
    wait = 1 + TO_OPERANDS + work.lane_lat if is_out else 0
    following = work.items[1:] + work.items[:1]
    steps = [max(n, wait + c) for n, c in zip(following, work.drain, strict=True)]
    return work.items[0] + pixels * sum(steps) - steps[-1]


def layer_cycles(hw: HwLayer, bits: int, lanes: int, planes: int = 1) -> int:
    """Cycles ``hw`` takes at ``bits`` on ``lanes`` lanes taking ``planes`` weight bit planes per item,
    from its descriptor read to the next one's (the output layer: to its last output beat, the cycle
    after its last value's write into the output FIFO), with an output stream that takes a value
    every cycle."""
    work = WORK[hw.op](hw, bits, lanes, planes)
    end = 0 if hw.is_out else END_CYCLES
    return SETUP_CYCLES + issue_cycles(work, hw.hout * hw.wout, hw.is_out) + work.latency + end


def input_cycles(bank: Bank) -> int:
    """Cycles the input stream takes: one value per cycle."""
    return math.prod(bank.input_shape) + START_CYCLES


def inference_cycles(bank: Bank, lanes: int, planes: int = 1) -> dict[int, dict[str, int]]:
    """Per width: cycles of the input and of every hardware layer (``total`` their sum)."""
    layers = hardware_layers(bank)
    out: dict[int, dict[str, int]] = {}
    for b in bank.widths:
        per = {"input": input_cycles(bank)}
        for hw in layers:
            per[hw.name] = layer_cycles(hw, b, lanes, planes)
        per["total"] = sum(per.values())
        out[b] = per
    return out


@dataclass(frozen=True)
class Memory:
    """``count`` instances of one ``wb_ram``: ``width`` x ``depth`` bits, ``oreg`` its OREG (memories
    with output registers are built of ``block``-deep blocks); ``ports2``: a second write port."""

    name: str
    width: int
    depth: int
    oreg: int = 2
    ports2: bool = False
    count: int = 1
    block: int = RAM_BLOCK

    @property
    def block_rows(self) -> list[int]:
        """The rows of each block of an instance (one block, all rows, without output registers)."""
        return block_rows(self.depth, self.block) if self.oreg else [self.depth]

    @property
    def blocks(self) -> int:
        """Blocks per instance."""
        return len(self.block_rows)


def memory_blocks(m: Memory) -> int:
    """Block RAMs of ``m`` (every instance), 0 for what Yosys keeps in LUTs. Built of blocks (with
    output registers), each block is a memory of its own to Yosys: a short last one stays in LUTs."""
    return m.count * sum(mapped_blocks(m.width, d, m.ports2) for d in m.block_rows)


def memories(design: RtlDesign) -> list[Memory]:
    """Every memory of the core, from the design's parameters (see ``wb_core``)."""
    prm = design.params
    p = int(prm["P"])
    recon = prm["WEIGHTS"] == 1
    rom_copies = 2 if recon else 1  # the Haar engine reads its own descriptor and record copies
    out = [Memory("descriptors", len(DESC_FIELDS) * FIELD_W, int(prm["NL"]), oreg=0, count=rom_copies),
           Memory("per-width records", int(prm["LW_W"]), int(prm["LW_DEPTH"]), oreg=0, count=rom_copies),
           Memory("requant", DRAIN_LANES * (int(prm["MUL_W"]) + int(prm["BIAS_W"])), int(prm["RQ_DEPTH"]),
                  oreg=int(prm["RQ_OREG"]), block=int(prm["RQ_BLK"])),
           *(Memory(f"activations {i}", 8, int(prm[f"ACT_DEPTH{i}"]), count=8) for i in range(int(prm["NBUF"])))]
    if int(prm["TWO"]):
        out.append(Memory("requant (adds' second input)", int(prm["MUL_W"]), int(prm["RQ2_DEPTH"]),
                          oreg=int(prm["RQ_OREG"])))
    wdepth = int(prm["WDEPTH"])
    if recon:
        q = p // 2
        out += [Memory("weight buffer", 8 * p, wdepth, ports2=True, count=16),
                Memory("components", 4 * int(prm["COMP_W"]), int(prm["CDEPTH"]), count=q),
                Memory("element map", ELEM_W, int(prm["EDEPTH"]), oreg=1)]
        if int(prm["XDEPTH"]):
            out.append(Memory("edge components", 2 * int(prm["COMP_W"]), int(prm["XDEPTH"]), count=q))
    else:
        widths = int(prm["WIDTHS"])
        out += [Memory(f"weights {b}-bit", 8 * b * p, wdepth, block=int(prm["WBLK"]))
                for b in range(1, 9) if widths >> (b - 1) & 1]
    return out


def rebuild_cycles(design: RtlDesign) -> int:
    """Cycles ``wb_haar_engine`` takes from a width write to its last weight: per weighted layer its
    items, or the look-up of the next weighted layer where that takes longer, then the pipeline."""
    weighted = [i for i, n in enumerate(design.rebuild_items) if n]
    cycles = HAAR_PIPELINE
    for i, nxt in zip(weighted, [*weighted[1:], None], strict=True):
        lookup = 0 if nxt is None else HAAR_LOOKUP + 2 * (nxt - i - 1)
        cycles += max(design.rebuild_items[i], lookup)
    return cycles


@dataclass
class Resources:
    """LUT4s, flip-flops, 18x18 multipliers and 18-kbit block RAMs."""

    lut4: int
    ff: int
    dsp: int
    bram: int

    def shares(self, cap: Capacity) -> dict[str, float]:
        """Each resource as a share of ``cap``."""
        return {k: getattr(self, k) / getattr(cap, k) for k in ("lut4", "ff", "dsp", "bram")}


def product_dsps(design: RtlDesign) -> int:
    """18x18 multipliers of one MUL_W x ACC_W requant product."""
    return -(-int(design.params["MUL_W"]) // 18) * -(-int(design.params["ACC_W"]) // 18)


def requant_dsps(design: RtlDesign) -> int:
    """18x18 multipliers of the drain's requant units: a product each, and a second one in the
    first unit with an add."""
    return (DRAIN_LANES + int(design.params["TWO"])) * product_dsps(design)


def lane_dsps(design: RtlDesign) -> int:
    """18x18 multipliers of the lanes: with MUL, one per lane and slot (a 9-bit weight times a 10-bit
    value)."""
    return int(design.params["MUL"]) * int(design.params["P"]) * 8


def features(weights: str, lanes: int, widths: int, two: bool, planes: int = 1, mul: bool = False, *,
             windowed: bool) -> list[float]:
    """What the logic grows with: 1 (control); the lanes P (with each, its share of the drain and,
    in reconstruct mode, the Haar engine's butterflies); P times the planes per item beyond the first
    in LUTs (each a lane's word sum and a level of its plane tree, and its share of the operand row);
    P on multipliers (a lane's weight decode, product registers and product sum instead, and its
    share of the operand row); banked, P times the ``widths`` stored (the weight row's width select);
    whether a layer adds two tensors (the second input's path and requant product); whether a layer
    has a window larger than one pixel (the issue stage's tap loops, padding checks and max pool,
    which Yosys folds away when the descriptors hold only 1 x 1 layers, as in an MLP)."""
    extra = 0.0 if mul else float(lanes * (planes - 1))
    if weights == "reconstruct":
        return [1.0, float(lanes), extra, float(lanes * mul), float(two), float(windowed)]
    return [1.0, float(lanes), extra, float(lanes * mul), float(lanes * widths), float(two), float(windowed)]


def has_window(layers: list[HwLayer]) -> bool:
    """Whether any layer reads a window of more than one pixel (``features``)."""
    return any(hw.kh * hw.kw > 1 for hw in layers)


def logic_features(design: RtlDesign) -> list[float]:
    """``features`` of a design."""
    prm = design.params
    return features("reconstruct" if prm["WEIGHTS"] == 1 else "banked", int(prm["P"]), int(prm["WIDTHS"]).bit_count(),
                    bool(prm["TWO"]), int(prm["PLANES"]), bool(prm["MUL"]), windowed=has_window(design.layers))


def fitted_logic(weights: str, x: list[float]) -> tuple[float, float]:
    """(LUT4s, flip-flops) that ``LOGIC`` gives for the features ``x`` of a ``weights`` design."""
    coef = LOGIC[weights]
    return (sum(c * v for c, v in zip(coef["lut4"], x, strict=True)),
            sum(c * v for c, v in zip(coef["ff"], x, strict=True)))


def absorbed_flip_flops(design: RtlDesign) -> int:
    """Flip-flops the build moves out of the fabric (``codegen.netlist``): the read registers that become
    block-RAM output registers, one per block, and the multiplier lanes' operand and product registers."""
    return (sum(m.count * m.blocks * m.width for m in memories(design) if m.oreg and memory_blocks(m))
            + dsp_register_flip_flops(design))


# wb_mac_lane's multiplier stage (MUL = 1) per slot: the weight (9 bits) and the product (19) in each
# lane, the value (10) once for all lanes (every lane registers the same word; Yosys merges them)
DSP_LANE_SLOT_FLIP_FLOPS, DSP_SHARED_SLOT_FLIP_FLOPS = 9 + 19, 10


def dsp_register_flip_flops(design: RtlDesign) -> int:
    """The multiplier lanes' operand and product registers, which become their DSPs' input and output
    registers (``netlist.absorb_dsp_registers``)."""
    if not int(design.params["MUL"]):
        return 0
    return 8 * (int(design.params["P"]) * DSP_LANE_SLOT_FLIP_FLOPS + DSP_SHARED_SLOT_FLIP_FLOPS)


def select_luts(design: RtlDesign) -> int:
    """LUTs of the block-select multiplexers after deep memories: one per bit and extra block."""
    return sum(m.count * m.width * (m.blocks - 1) for m in memories(design) if m.oreg and memory_blocks(m))


def final_flip_flops(design: RtlDesign) -> int:
    """The selected block's read register of OREG = 2 memories (wb_ram's q3)."""
    return sum(m.count * m.width for m in memories(design) if m.oreg == 2 and memory_blocks(m))


def row_select_flip_flops(design: RtlDesign) -> int:
    """wb_weight_store's register after the width (or half) select: one weight row, 64P bits."""
    return 64 * int(design.params["P"])


# wb_mac_array's FIELDS_W: what the lanes' valid slots are worked out from (vmask, gp, cw, lo, hi)
MASK_FIELD_BITS = 8 + 3 + 5 + 7 + 7


def lane_mask_flip_flops(design: RtlDesign) -> int:
    """wb_mac_array's copies of the lanes' valid-slot fields: MASK_LAT - 1 registers of them, shared
    by the lanes."""
    return MASK_FIELD_BITS * (int(design.params["MASK_LAT"]) - 1)


def activation_memories(design: RtlDesign) -> list[Memory]:
    """The activation buffers' slot RAMs (8 per buffer)."""
    return [m for m in memories(design) if m.name.startswith("activations")]


def address_bits(depth: int) -> int:
    """Address bits of a memory ``depth`` words deep (wb_core's addr_bits: at least one)."""
    return max(1, (depth - 1).bit_length())


def activation_port_flip_flops(design: RtlDesign) -> int:
    """The activation buffers' port registers: the read address registered beside each slot RAM
    (wb_core), and the write (wb_ram WREG): an enable per block, the address within a block and the
    data byte once per slot (every buffer registers the same nets there; Yosys keeps one copy). The
    slots' read addresses differ only where a grouped pass reads rotated words: without a grouped
    layer Yosys keeps one copy per buffer. A buffer's address register holds its own depth's bits."""
    mems = activation_memories(design)
    copies = 8 if any(hw.grouped for hw in design.layers) else 1
    read = sum(copies * address_bits(m.depth) for m in mems)
    enables = sum(m.count * m.blocks for m in mems)
    write_address = min(max(address_bits(m.depth) for m in mems), address_bits(RAM_BLOCK))
    return read + enables + 8 * (write_address + 8)


def counted_logic(design: RtlDesign) -> tuple[int, int]:
    """(LUT4s, flip-flops) counted from the design rather than fitted: the memories' select
    multiplexers and final read registers, the activation buffers' port registers, the weight row's
    select register and the copies of the lanes' valid-slot fields, less the multiplier registers that move
    into DSPs (the fit's flip-flops include them, as Yosys does)."""
    return (select_luts(design),
            final_flip_flops(design) + activation_port_flip_flops(design) + row_select_flip_flops(design)
            + lane_mask_flip_flops(design) - dsp_register_flip_flops(design))


def logic(design: RtlDesign) -> tuple[int, int]:
    """(LUT4s, flip-flops) of the design: ``LOGIC`` over ``logic_features``, plus ``counted_logic``."""
    fit_lut, fit_ff = fitted_logic("reconstruct" if design.params["WEIGHTS"] == 1 else "banked", logic_features(design))
    lut, ff = counted_logic(design)
    return round(fit_lut + lut), round(fit_ff + ff)


# coefficients of logic_features, fitted to Yosys's synth_ecp5 over the configurations of
# benchmarks/estimate_accuracy.py (--yosys prints the fit); the multiplier lanes' flip-flops (fourth)
# then raised by the 112 registers per lane that wb_mac_lane's multipliers gained (8 x (9 + 10) beside
# them, 2 x 20 fewer in the products' sum)
LOGIC = {
    "banked": {"lut4": [3181.9, 503.5, 204.6, 119.9, 13.0, 1287.4, 1580.8],
               "ff": [3144.3, 167.4, 111.3, 681.8, -2.6, 922.2, 463.2]},
    "reconstruct": {"lut4": [3307.1, 1535.4, 196.4, 64.0, 1164.6, 2558.1],
                    "ff": [4029.5, 533.7, 110.8, 672.5, 1138.6, 763.9]},
}


def resources(design: RtlDesign) -> Resources:
    """The design's estimated resources."""
    lut, ff = logic(design)
    return Resources(lut4=lut, ff=ff, dsp=requant_dsps(design) + lane_dsps(design),
                     bram=sum(memory_blocks(m) for m in memories(design)))


def over_headroom(res: Resources, cap: Capacity) -> list[str]:
    """The resources of ``res`` above their ``HEADROOM`` share of ``cap``, as ``name used/available
    (above N % of the device)``; empty when they fit."""
    avail = asdict(cap)
    return [f"{k} {getattr(res, k)}/{avail[k]} (above {100 * HEADROOM[k]:.0f} % of the device)"
            for k, v in res.shares(cap).items() if v > HEADROOM[k]]


@dataclass
class Estimate:
    """Cycles per layer and width and resources of one configuration on one board."""

    bank: str
    weights: str
    lanes: int
    planes: int
    board: str
    clock_mhz: float
    cycles: dict[int, dict[str, int]]
    resources: Resources
    capacity: Capacity
    memories: list[dict[str, Any]] = field(default_factory=list)
    rebuild_cycles: int = 0  # reconstruct: a width switch's rebuild of every weight (0 banked)
    weights_count: int = 0  # the bank's weights
    mac: str = "lut"  # how the lanes sum their products (rtl.MAC_CHOICES)

    @property
    def fits(self) -> bool:
        return not self.over()

    def over(self) -> list[str]:
        """``over_headroom`` of its resources."""
        return over_headroom(self.resources, self.capacity)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (kind ``estimate``, docs/reports.md)."""
        from wavebits.reports import report

        return report("estimate", bank=self.bank, weights=self.weights, lanes=self.lanes, planes=self.planes,
                      mac=self.mac, board=self.board,
                      clock_mhz=self.clock_mhz, fits=self.fits, headroom=HEADROOM,
                      resources=asdict(self.resources), capacity=asdict(self.capacity),
                      cycles_per_width={str(b): per["total"] for b, per in sorted(self.cycles.items(), reverse=True)},
                      cycles_per_layer={str(b): {k: v for k, v in per.items() if k != "total"}
                                        for b, per in sorted(self.cycles.items(), reverse=True)},
                      rebuild_cycles=self.rebuild_cycles, memories=self.memories)

    def text(self) -> str:
        """Readable tables: resources against the board, then cycles and inferences/s per width."""
        cap = asdict(self.capacity)
        shares = self.resources.shares(self.capacity)
        rows = [[k, getattr(self.resources, k), cap[k], f"{100 * shares[k]:.1f}", f"{100 * HEADROOM[k]:.0f}"]
                for k in cap]
        top = self.cycles[max(self.cycles)]["total"]
        crows = [[b, per["total"], f"{per['total'] / top:.3f}", f"{per['total'] / self.clock_mhz:.1f}",
                  round(self.clock_mhz * 1e6 / per["total"])] for b, per in sorted(self.cycles.items(), reverse=True)]
        layers = [k for k in self.cycles[max(self.cycles)] if k != "total"]
        lrows = [[k, *(self.cycles[b][k] for b in sorted(self.cycles, reverse=True))] for k in layers]
        verdict = "fits" if self.fits else f"does NOT fit: {', '.join(self.over())}"
        return "\n".join([
            f"estimate for {self.bank}: {self.weights} weights, P={self.lanes} lanes x {self.planes} weight bit "
            f"plane{'s' if self.planes > 1 else ''} per item{MAC_WORDS[self.mac]}, "
            f"{self.board} at "
            f"{self.clock_mhz:g} MHz: {verdict}",
            table(["resource", "estimate", "available", "%", "fit limit %"], rows), "",
            table(["width", "cycles/inference", "vs widest", "us/inference", "inferences/s"], crows), "",
            table(["layer", *(f"{b}-bit" for b in sorted(self.cycles, reverse=True))], lrows),
            *([f"\nrebuild after a width switch: {self.rebuild_cycles:,} cycles "
               f"({self.weights_count / (self.rebuild_cycles * self.lanes):.2f} weights per lane and cycle)"]
              if self.rebuild_cycles else [])])


def estimate(bank: Bank, weights: str = "banked", lanes: int = 8, board: str = "ulx3s-85f",
             clock_mhz: float = 100.0, planes: int = 1, mac: str = "lut") -> Estimate:
    """Estimate one configuration (``lanes`` lanes taking ``planes`` weight bit planes per item, summed
    by ``mac``) without writing anything; RtlError for a bank the RTL refuses."""
    if board not in BOARDS or board not in CAPACITY:
        raise RtlError(f"unknown board {board!r} (known: {', '.join(CAPACITY)})")
    if weights not in WEIGHT_MODES:
        raise RtlError(f"weights must be one of {', '.join(WEIGHT_MODES)}, got {weights!r}")
    design = build_design(bank, weights, lanes, images=False, planes=planes, mac=mac)
    mems = [{"name": m.name, "width": m.width, "depth": m.depth, "instances": m.count, "bram": memory_blocks(m)}
            for m in memories(design)]
    rebuild = rebuild_cycles(design) if weights == "reconstruct" else 0
    return Estimate(bank.name, weights, lanes, planes, board, clock_mhz, inference_cycles(bank, lanes, planes),
                    resources(design), CAPACITY[board], mems, rebuild, bank.weight_count(), mac)


class DoesNotFit(RtlError):
    """No configuration fits the board; ``estimate`` is the smallest one's."""

    def __init__(self, message: str, estimate: Estimate) -> None:
        super().__init__(message)
        self.estimate = estimate


def fit(bank: Bank, weights: str = "banked", board: str = "ulx3s-85f", clock_mhz: float = 100.0,
        lanes: tuple[int, ...] = LANE_CHOICES, planes: tuple[int, ...] = (1,),
        macs: tuple[str, ...] = ("lut",)) -> Estimate:
    """The fastest configuration (of ``lanes`` x ``planes`` x ``macs``, multipliers only with every
    plane; ``rtl.PLANE_CHOICES`` and ``rtl.MAC_CHOICES`` to search them too) whose estimate fits
    ``board`` within the headroom (fewest cycles at the widest width; ties: fewer LUTs); RtlError
    naming what overflows when none does."""
    for m in macs:
        check_mac(m, MUL_PLANES)
    engines = [(q, m) for q in planes for m in macs if m == "lut" or q == MUL_PLANES]
    if not engines:
        raise RtlError(f"--mac dsp takes --planes {MUL_PLANES}, the search has planes {', '.join(map(str, planes))}")
    options = [estimate(bank, weights, p, board, clock_mhz, q, m) for p in lanes for q, m in engines]
    fitting = [e for e in options if e.fits]
    if not fitting:
        smallest = options[0]
        other = "--weights reconstruct, " if weights == "banked" else ""
        raise DoesNotFit(f"bank {bank.name!r} does not fit {board} with {weights} weights at any lane count: "
                         f"with P={smallest.lanes}, {', '.join(smallest.over())}; try {other}fewer widths, "
                         "or a smaller network", smallest)
    widest = max(bank.widths)
    return min(fitting, key=lambda e: (e.cycles[widest]["total"], e.resources.lut4))
