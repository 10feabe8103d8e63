"""Verilog project generation for the RTL accelerator (hw/rtl) from a weight bank.

``generate_rtl(bank, weights=..., lanes=P)`` returns the project's files; ``write_rtl_project``
writes them atomically. The layout::

    rtl/wb_*.v                   the hardware library (hw/rtl), copied so the project stands alone
    rtl/wb_fields.vh             the memory layouts it includes, rendered from rtl_layout
    wavebits_top.v               the core with this bank's parameters and memory images
    board/<board>.v, .lpf        a board top level (pins, byte-serial output) and its constraints
    mem/*.hex                    $readmemh images: descriptors, per-width records, requant,
                                 weight banks (banked) or wavelet components and element map
    tb_data/                     test vectors and the golden model's outputs per width
    bank.wbank, project.json     the source bank and what the simulator needs to decode traces

The hardware stores activations as 8-channel words and runs every weighted layer as a convolution
(a linear layer reads its flattened input as a kernel over the whole (C, H, W) tensor), so the
weights are re-ordered here into the order the controller consumes them: per group of P output
channels, per tap (ky, kx), per channel word, per channel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from wavebits.bank.model import Bank
from wavebits.errors import WavebitsError
from wavebits.graph import INPUT, bipolar_at_one_bit, signed_bits
from wavebits.reconstruct import reconstruct_bound
from wavebits.wavelet import COMPONENTS

from .bram import BLOCK_DEPTHS, block_depth
from .ecp5_pll import DEFAULT_CLOCK_MHZ, Ecp5Pll, PllError, ecp5_pll
from .project import project_files, write_tree
from .rtl_layout import (
    DESC_FIELDS,
    ELEM_FIELDS,
    ELEM_W,
    FIELD_W,
    HEADER,
    LW_FIELDS,
    LW_TERMS,
    TERM_W,
    fields_header,
    lw_width,
    pack,
)

WEIGHT_MODES = ("banked", "reconstruct")
LANE_CHOICES = (4, 8, 16, 32)
PLANE_CHOICES = (1, 2, 4, 8)  # weight bit planes per item and lane (wb_mac_lane PLANES)
# how a lane sums its products (wb_mac_lane MUL): "lut", the weight bit planes' sums in LUTs; "dsp",
# each slot's whole weight times its value on a multiplier (8 planes per item)
MAC_CHOICES = ("lut", "dsp")
MUL_PLANES = 8
MAC_WORDS = {"lut": "", "dsp": " on multipliers"}  # what a report adds after the planes


def default_planes(mac: str) -> int:
    """Planes per item when none are given: one in LUTs, every plane on multipliers."""
    return MUL_PLANES if mac == "dsp" else 1


TOP = "wavebits_top"
BOARD_TOP = "wavebits_board"
CORE_SOURCES = ("wb_ram.v", "wb_rshift_round.v", "wb_mac_lane.v", "wb_mul_split.v", "wb_requant.v",
                "wb_haar_lane.v", "wb_haar_engine.v", "wb_weight_store.v", "wb_mac_array.v",
                "wb_input_loader.v", "wb_issue.v", "wb_drain.v", "wb_core.v")
BOARD_SOURCES = ("wb_uart.v", "wb_board_uart.v")  # synthesis only: the test bench drives the core's ports
LIBRARY = (*CORE_SOURCES, *BOARD_SOURCES, "tb/tb_main.cpp", "tb/tb_board.cpp", "tb/ehxplll_sim.v")
BOARDS = {
    # name: (nextpnr device flag, package, oscillator MHz, constraint file text)
    "ulx3s-85f": ("--85k", "CABGA381", 25, """\
# Radiona ULX3S, LFE5U-85F: 25 MHz oscillator, FTDI UART, eight LEDs
LOCATE COMP "clk_25mhz" SITE "G2";
IOBUF PORT "clk_25mhz" PULLMODE=NONE IO_TYPE=LVCMOS33;
FREQUENCY PORT "clk_25mhz" 25 MHZ;
LOCATE COMP "ftdi_rxd" SITE "L4";
IOBUF PORT "ftdi_rxd" PULLMODE=UP IO_TYPE=LVCMOS33 DRIVE=4;
LOCATE COMP "ftdi_txd" SITE "M1";
IOBUF PORT "ftdi_txd" PULLMODE=UP IO_TYPE=LVCMOS33;
LOCATE COMP "led[0]" SITE "B2";
LOCATE COMP "led[1]" SITE "C2";
LOCATE COMP "led[2]" SITE "C1";
LOCATE COMP "led[3]" SITE "D2";
LOCATE COMP "led[4]" SITE "D1";
LOCATE COMP "led[5]" SITE "E2";
LOCATE COMP "led[6]" SITE "E1";
LOCATE COMP "led[7]" SITE "H3";
IOBUF PORT "led[0]" PULLMODE=NONE IO_TYPE=LVCMOS33 DRIVE=4;
IOBUF PORT "led[1]" PULLMODE=NONE IO_TYPE=LVCMOS33 DRIVE=4;
IOBUF PORT "led[2]" PULLMODE=NONE IO_TYPE=LVCMOS33 DRIVE=4;
IOBUF PORT "led[3]" PULLMODE=NONE IO_TYPE=LVCMOS33 DRIVE=4;
IOBUF PORT "led[4]" PULLMODE=NONE IO_TYPE=LVCMOS33 DRIVE=4;
IOBUF PORT "led[5]" PULLMODE=NONE IO_TYPE=LVCMOS33 DRIVE=4;
IOBUF PORT "led[6]" PULLMODE=NONE IO_TYPE=LVCMOS33 DRIVE=4;
IOBUF PORT "led[7]" PULLMODE=NONE IO_TYPE=LVCMOS33 DRIVE=4;
"""),
}
NT = 3
RAM_BLOCK = BLOCK_DEPTHS[0]  # wb_ram's BLK: memories read through output registers are split into such blocks
# wb_drain's requant memory: rows of two channels, wider than 18 bits, so each block RAM is 512 x 36;
# blocks that deep keep every block one block RAM deep, its output register absorbed (codegen/netlist)
REQUANT_BLOCK = 512
DRAIN_LANES = 2  # wb_drain's requant units: channels requantized per cycle, a requant row's channels
REQUANT_OREG = 1  # wb_drain's requant memories: block outputs registered (their images split into blocks)
OP_CODES = {"conv": 0, "pool": 1, "avgpool": 2, "add": 3}  # the descriptor's OP field
MAX_BUFFERS = 4  # activation buffers wb_core can have (NBUF)
# wb_core MASK_LAT: what the lanes' valid slots are worked out from arrives this many cycles ahead of
# the operand stage (at most its memory stages) and crosses the die through MASK_LAT - 1 registers
MASK_LAT = 3
_LOG2 = {1: 0, 2: 1, 4: 2}
BAUD = 115200  # the board top level's UART (8N1)


class RtlError(WavebitsError):
    """A bank the RTL backend cannot build, naming the layer and the reason."""


def rtl_library() -> dict[str, str]:
    """The Verilog library, from the installed package (hw/rtl); the header it includes is rendered
    by ``rtl_layout.fields_header``."""
    root = resources.files("wavebits.hw") / "rtl"
    return {name: (root / name).read_text() for name in LIBRARY}


@dataclass
class HwLayer:
    """One hardware layer (one descriptor of ``wb_core``), in hardware geometry.

    ``op`` is the layer kind the core runs: ``"conv"`` (conv2d, grouped and depthwise too, and
    linear: a kernel over the whole stored tensor), ``"pool"`` (max pooling), ``"avgpool"``
    (average and global average pooling: a window sum on the lanes, then the requant's 1/n) or
    ``"add"`` (a residual add of two tensors, one value of each per cycle).

    A first convolution with ``cin * kw <= 8`` reads its input with each kernel row packed into one
    channel word (``pack`` taps): in hardware geometry it is a (kh, 1) kernel over ``cin * pack``
    channels of a tensor ``w + 2 * pw - kw + 1`` columns wide, without column padding. A first linear
    layer that alone reads a (C, H, W) input reads it stored flat (``flat_in``): a 1 x 1 kernel over
    C * H * W channels, every word full, where a (H, W) kernel takes a word per pixel for C channels.

    Tensors live in activation buffers: ``src`` (and ``src2``, an add's second input) is read,
    ``dst`` written (by every layer but the output layer, whose values leave through the output
    stream). A value takes ``*_bytes`` bytes (1, or 2 / 4 for the wide signed values of an act none
    layer inside the network), two's complement when ``*_signed``; ``*bipolar*``: +-1 stored as a bit
    at width 1.
    """

    name: str
    op: str  # "conv", "pool", "avgpool" or "add"
    cin: int
    hin: int
    win: int
    cout: int
    hout: int
    wout: int
    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int
    src: int = 0  # buffer of the (first) input
    is_out: bool = False
    act_none: bool = False
    bipolar_in: bool = False
    pack: int = 1  # kernel-row taps per channel word (1: none)
    pack_pw: int = 0  # a packed layer's own column padding
    flat_in: bool = False  # a first linear layer's (C, H, W) input stored flat, as C * H * W channels
    groups: int = 1  # convolution groups (depthwise: groups == cin == cout)
    dst: int = 0  # buffer of the output (none for the output layer)
    src2: int = 0  # add: buffer of the second input
    inputs: tuple[str, ...] = ()  # the graph tensors read (a flatten's source for a linear layer)
    in_bytes: int = 1  # bytes per value of the (first) input
    in2_bytes: int = 1  # add: of the second input
    out_bytes: int = 1  # of the output
    in_signed: bool = False  # the (first) input is two's complement (an int8 network input)
    in2_signed: bool = False
    in2_bipolar: bool = False  # add: the second input is bipolar at width 1
    out_signed: bool = False  # act none: two's complement output

    @property
    def incw(self) -> int:
        """Words per pixel of the (first) input."""
        return -(-self.cin * self.in_bytes // 8)

    @property
    def incw2(self) -> int:
        """Words per pixel of an add's second input."""
        return -(-self.cin * self.in2_bytes // 8)

    @property
    def outcw(self) -> int:
        """Words per pixel of the output."""
        return -(-self.cout * self.out_bytes // 8)

    @property
    def depthwise(self) -> bool:
        """One input channel per output channel (``groups == cin == cout``): one slot per lane."""
        return self.op == "conv" and self.groups > 1 and self.groups == self.cin == self.cout

    @property
    def grouped(self) -> bool:
        """A grouped convolution that is not depthwise: its lane groups run a pass per convolution
        group, reading words rotated to the group's first channel."""
        return self.op == "conv" and self.groups > 1 and not self.depthwise

    @property
    def unit_words(self) -> int:
        """Channel words per kernel tap in the weight layout (a depthwise layer's weight sits in slot 0
        of one unit per tap; a grouped one's covers its group's channels)."""
        if self.depthwise:
            return 1
        return -(-(self.cin // self.groups) // self.per_word)

    @property
    def per_word(self) -> int:
        """Input channels per word (8, or 4 / 2 for a wide input); a unit's weight slot i is the
        channel whose bytes start at slot i * in_bytes."""
        return 8 // self.in_bytes

    @property
    def units(self) -> int:
        """Weight units (rows) per group of P output channels."""
        return self.kh * self.kw * self.unit_words if self.op == "conv" else 0

    def unit(self, ky: int, kx: int, cw: int) -> int:
        return (ky * self.kw + kx) * self.unit_words + cw

    def elements(self) -> list[tuple[int, int, int, int, int]]:
        """Fan-in elements in consumption order: (ky, kx, channel word, slot, weight column)."""
        if self.depthwise:
            return [(ky, kx, 0, 0, ky * self.kw + kx) for ky in range(self.kh) for kx in range(self.kw)]
        cin, per = self.cin // self.groups, self.per_word  # a group's channels (the weight matrix's)
        cin_own, kw = cin // self.pack, self.kw * self.pack  # the layer's own geometry
        out = []
        for ky in range(self.kh):
            for kx in range(self.kw):
                for cw in range(self.unit_words):
                    for s in range(min(per, cin - per * cw)):
                        c, tap = (per * cw + s) % cin_own, (per * cw + s) // cin_own
                        out.append((ky, kx, cw, s, c * self.kh * kw + ky * kw + kx * self.pack + tap))
        return out


def lane_groups(hw: HwLayer, lanes: int) -> list[range]:
    """The output channels of each group of ``lanes`` channels."""
    return [range(g, min(g + lanes, hw.cout)) for g in range(0, hw.cout, lanes)]


def conv_groups_met(hw: HwLayer, group: range) -> int:
    """The passes of a lane group: the convolution groups its channels meet (one without groups, and
    in a depthwise layer, whose lanes take one slot each)."""
    if hw.groups == 1 or hw.depthwise:
        return 1
    per = hw.cout // hw.groups
    return group[-1] // per - group[0] // per + 1


def slot_words(hw: HwLayer, lanes: int) -> int:
    """Words per kernel tap when each lane takes the one slot its channel sits in (depthwise
    convolutions, window sums): the words a group of ``lanes`` values spans."""
    return max(1, lanes * hw.in_bytes // 8)


def pixel_units(hw: HwLayer, lanes: int, cwn: int) -> int:
    """Units per output pixel, the rounds of ``wb_issue``'s plane loop (descriptor PXU): in a
    convolution or window sum a kernel tap and channel word (``cwn`` per tap) in each pass of each lane
    group, in a max pool a tap and channel word, in an add a channel."""
    if hw.op == "add":
        return hw.cout
    taps = hw.kh * hw.kw * cwn
    if hw.op == "pool":
        return taps
    return taps * sum(conv_groups_met(hw, g) for g in lane_groups(hw, lanes))


def _value_formats(bank: Bank) -> dict[str, tuple[int, bool]]:
    """Every tensor's (bytes per value, signed) in the activation buffers, over all widths.

    ReLU outputs are unsigned bytes (bits at width 1), the network input uint8 or int8; an act none
    tensor holds any value its bound admits, in the fewest of 1, 2 or 4 bytes.
    """
    per_width = [bank.bounds(b) for b in bank.widths]
    out = {INPUT: (1, bank.input_signed)}
    for n in bank.nodes:
        if not n.requantizes:  # max pool, flatten: their input's values
            out[n.name] = out[n.inputs[0]]
            continue
        doms = [bd[n.name].out for bd in per_width]
        signed = any(d.kind == "signed" for d in doms)
        bits = max(d.bits for d in doms)
        out[n.name] = (next((k for k in (1, 2, 4) if 8 * k >= bits), 8), signed)
    return out


def _assign_buffers(layers: list[HwLayer]) -> int:
    """Give each layer's output an activation buffer that holds no tensor still to be read (the
    network input is in buffer 0); returns the number of buffers. A tensor lives from the layer
    that writes it to the last layer that reads it, so a residual block's skip tensor keeps its
    buffer while the branch runs (three buffers for ResNet-8, two for a chain)."""
    last_use: dict[str, int] = {}
    for i, hw in enumerate(layers):
        for t in hw.inputs:
            last_use[t] = i
    held: dict[int, str] = {0: INPUT}
    where = {INPUT: 0}
    for i, hw in enumerate(layers):
        hw.src = where[hw.inputs[0]]
        hw.src2 = where[hw.inputs[1]] if len(hw.inputs) > 1 else 0
        if hw.is_out:
            continue
        busy = {b for b, t in held.items() if last_use.get(t, -1) >= i}
        hw.dst = min(set(range(len(held) + 1)) - busy)
        held[hw.dst] = hw.name
        where[hw.name] = hw.dst
    return max(2, len(held))


def hardware_layers(bank: Bank) -> list[HwLayer]:
    """The bank's graph as hardware layers (flatten folded away, buffers assigned); RtlError naming
    the layer for what the RTL backend does not run."""
    shapes = bank.shapes
    bipolar = bipolar_at_one_bit(bank.nodes)
    formats = _value_formats(bank)
    geometry = {INPUT: shapes[INPUT]}  # the (C, H, W) a tensor is stored as
    alias = {INPUT: INPUT}  # a flatten's output is its source's tensor
    layers: list[HwLayer] = []
    last = bank.nodes[-1]
    if not last.weighted:
        raise RtlError(f"bank {bank.name!r}: the last layer {last.name!r} must be conv2d or linear for the RTL backend")
    if bank.input_bits != 8 or len(shapes[INPUT]) not in (1, 3):
        raise RtlError(f"bank {bank.name!r}: the RTL backend takes 8-bit (C, H, W) or flat inputs")
    if len(shapes[INPUT]) == 1:
        geometry[INPUT] = (shapes[INPUT][0], 1, 1)
    # layers reading each tensor (through flattens): the input is stored packed for its first
    # convolution only when nothing else reads it
    readers: dict[str, int] = {}
    source = {INPUT: INPUT}
    for n in bank.nodes:
        source[n.name] = source[n.inputs[0]] if n.op == "flatten" else n.name
        if n.op != "flatten":
            for i in n.inputs:
                readers[source[i]] = readers.get(source[i], 0) + 1
    for n in bank.nodes:
        where = f"layer {n.name!r}"
        ins = tuple(alias[i] for i in n.inputs)
        src = geometry[ins[0]]
        if n.op == "flatten":
            geometry[n.name] = src
            alias[n.name] = ins[0]
            continue
        nbytes, signed = formats[ins[0]]
        c, h, w = src
        if n.op == "maxpool":
            (kh, kw), (sh, sw) = n.kernel, n.stride
            ho, wo = shapes[n.name][1:]
            hw = HwLayer(n.name, "pool", c, h, w, c, ho, wo, kh, kw, sh, sw, 0, 0)
        elif n.op in ("avgpool", "gap"):
            (kh, kw), (sh, sw) = n.kind.window(n, src)
            ho, wo = shapes[n.name][1:]
            hw = HwLayer(n.name, "avgpool", c, h, w, c, ho, wo, kh, kw, sh, sw, 0, 0)
        elif n.op == "add":
            hw = HwLayer(n.name, "add", c, h, w, c, h, w, 1, 1, 1, 1, 0, 0)
        elif n.op == "conv2d":
            cout, ho, wo = shapes[n.name]
            (kh, kw), (ph, pw) = n.kernel, n.padding
            g = n.groups
            if g == 1 and not layers and ins[0] == INPUT and readers[INPUT] == 1 and kw > 1 and c * kw <= 8:
                hw = HwLayer(n.name, "conv", c * kw, h, w + 2 * pw - kw + 1, cout, ho, wo, kh, 1, *n.stride, ph, 0,
                             pack=kw, pack_pw=pw)
            else:
                hw = HwLayer(n.name, "conv", c, h, w, cout, ho, wo, kh, kw, *n.stride, ph, pw, groups=g)
        elif n.op == "linear":  # a kernel over the whole stored tensor
            flat = not layers and ins[0] == INPUT and readers[INPUT] == 1 and h * w > 1
            if flat:
                c, h, w = c * h * w, 1, 1
            hw = HwLayer(n.name, "conv", c, h, w, n.out_channels, 1, 1, h, w, 1, 1, 0, 0, flat_in=flat)
        else:
            raise RtlError(f"{where}: {n.op} is not supported by the RTL backend")
        hw.inputs = ins
        hw.is_out = n is last
        hw.act_none = n.requantizes and n.act == "none"
        hw.bipolar_in = bipolar[n.inputs[0]]
        hw.in_bytes, hw.in_signed = nbytes, signed
        if n.op == "add":
            hw.in2_bytes, hw.in2_signed = formats[ins[1]]
            hw.in2_bipolar = bipolar[n.inputs[1]]
        hw.out_bytes, hw.out_signed = formats[n.name]
        if hw.out_bytes > 4 and not hw.is_out:
            raise RtlError(f"{where}: its act none values need more than 32 bits, the widest the RTL backend stores")
        layers.append(hw)
        geometry[n.name] = (hw.cout, hw.hout, hw.wout)
        alias[n.name] = n.name
    _assign_buffers(layers)
    return layers


def _hex(values: list[int], bits: int) -> str:
    digits = max(1, -(-bits // 4))
    mask = (1 << bits) - 1
    return "".join(f"{v & mask:0{digits}x}\n" for v in values) or "0\n"


def _blocked(name: str, values: list[int], bits: int, block: int = RAM_BLOCK) -> dict[str, str]:
    """Images of a memory built of ``block``-deep blocks (``wb_ram`` with OREG >= 1): ``name.k``."""
    blocks = range(0, max(len(values), 1), block)
    return {f"{name}.{k:x}": _hex(values[start:start + block], bits) for k, start in enumerate(blocks)}


def _pack(fields: list[tuple[int, int]]) -> int:
    """Pack (value, width) pairs, first pair in the low bits."""
    word, pos = 0, 0
    for value, width in fields:
        word |= (value & ((1 << width) - 1)) << pos
        pos += width
    return word


def _lane_bits(bits: np.ndarray) -> np.ndarray:
    """(..., P) 0/1 -> (...,) integers with lane l at bit l."""
    return (bits.astype(np.int64) << np.arange(bits.shape[-1], dtype=np.int64)).sum(axis=-1)


def _weight_entries(tiles: np.ndarray, bits: int, p: int, hw: HwLayer, elems: list) -> list[int]:
    """One layer's weight memory rows at ``bits`` from (groups, fan-in, P) integer weights.

    One row per group and unit (kernel tap, channel word), in the order the core reads them. With
    ``planes`` stored planes (``bits`` at width >= 2, one at width 1), bit plane j of slot s (the
    word's channel) and lane l is at bit ``(s * planes + j) * P + l``: two's complement at width >= 2,
    the sign (1 = +1) at width 1. Slots past the layer's channels are zero.
    """
    groups = tiles.shape[0]
    if bits >= 2:
        planes = (tiles[:, :, None, :] >> np.arange(bits)[None, None, :, None]) & 1
    else:
        planes = (tiles > 0)[:, :, None, :]
    lanes = _lane_bits(planes)  # (groups, fan-in, planes)
    units = hw.units
    chunks = np.zeros((groups, units, 8, lanes.shape[2]), dtype=np.int64)
    unit = np.array([hw.unit(ky, kx, cw) for ky, kx, cw, _, _ in elems])
    slot = np.array([s for _, _, _, s, _ in elems])
    chunks[:, unit, slot, :] = lanes
    flat = chunks.reshape(groups * units, -1)
    return [sum(int(c) << (k * p) for k, c in enumerate(row) if c) for row in flat]


def _edge_pair(comps: dict[str, np.ndarray], cols: int) -> bool:
    """Whether the last column pair is half padding and stored as {HL, LL} edge records.

    With an odd column count the pair's second column is zero, so LH = LL and HH = HL: the
    two components rebuild it exactly. Banks made elsewhere that break this keep all four.
    """
    return cols % 2 == 1 and bool(np.array_equal(comps["LH"][:, -1], comps["LL"][:, -1])
                                  and np.array_equal(comps["HH"][:, -1], comps["HL"][:, -1]))


def _element_map(hw: HwLayer, elems: list, cols2: int, edge: bool) -> list[int]:
    """One entry per column pair: where each column's weights go, (unit, slot).

    An entry packs ELEM_FIELDS; ``v1 = 0`` marks a padded second column, ``edge_pair`` a pair stored
    as edge records.
    """
    where = {col: (hw.unit(ky, kx, cw), s) for ky, kx, cw, s, col in elems}
    words = []
    for j in range(cols2):
        unit0, slot0 = where[2 * j]
        second = where.get(2 * j + 1)
        unit1, slot1 = second or (0, 0)
        words.append(pack(ELEM_FIELDS, {"UNIT0": unit0, "SLOT0": slot0, "V1": int(second is not None),
                                        "UNIT1": unit1, "SLOT1": slot1, "EDGE_PAIR": int(edge and j == cols2 - 1)}))
    return words


@dataclass
class RtlDesign:
    """Everything the generated top level needs: parameters and memory images."""

    params: dict[str, int | str]
    files: dict[str, str]
    layers: list[HwLayer]
    memory_bits: dict[str, int]
    # per layer: the Haar engine's items (column pairs of row groups), 0 for a layer without weights
    rebuild_items: list[int] = field(default_factory=list)


def check_mac(mac: str, planes: int) -> None:
    """RtlError unless ``mac`` is one of MAC_CHOICES and, on multipliers, the lanes take every plane."""
    if mac not in MAC_CHOICES:
        raise RtlError(f"--mac must be one of {', '.join(MAC_CHOICES)}, got {mac!r}")
    if mac == "dsp" and planes != MUL_PLANES:
        raise RtlError(f"--mac dsp multiplies whole weights: it takes --planes {MUL_PLANES}, got {planes}")


def build_design(bank: Bank, weights: str, lanes: int, images: bool = True, planes: int = 1,
                 mac: str = "lut") -> RtlDesign:
    """Lay the bank out into the core's memories (see wb_core.v for the formats) for ``lanes`` lanes
    taking ``planes`` weight bit planes per item, summed by ``mac`` (MAC_CHOICES); ``images=False``
    sizes them without making their contents (``files`` then holds none of the weight images)."""
    if weights not in WEIGHT_MODES:
        raise RtlError(f"weights must be one of {', '.join(WEIGHT_MODES)}, got {weights!r}")
    if lanes not in LANE_CHOICES:
        raise RtlError(f"--lanes must be one of {', '.join(map(str, LANE_CHOICES))}, got {lanes}")
    if planes not in PLANE_CHOICES:
        raise RtlError(f"--planes must be one of {', '.join(map(str, PLANE_CHOICES))}, got {planes}")
    check_mac(mac, planes)
    p, q = lanes, lanes // 2
    layers = hardware_layers(bank)
    nbuf = max([2] + [hw.dst + 1 for hw in layers])
    if nbuf > MAX_BUFFERS:
        raise RtlError(f"bank {bank.name!r}: {nbuf} tensors are alive at once, the RTL core holds {MAX_BUFFERS}")
    nw = len(bank.widths)
    widx = {b: i for i, b in enumerate(bank.widths)}
    bounds = {b: bank.bounds(b) for b in bank.widths}

    descs, lw_words, rq_words, rq2_words = [], [], [], []
    entries_b: dict[int, list[int]] = {b: [] for b in bank.widths}  # banked words per width
    comp_records: list[int] = []
    edge_records: list[int] = []
    elem_words: list[int] = []
    n_comp = n_edge = n_elem = 0  # component records, edge records, element-map entries
    rebuild_items = [0] * len(layers)
    wbase = rq_base = rq2_base = cbase = ebase = xbase = 0
    acc_bits = 18
    mul_bits = bias_bits = v_bits = 2
    comp_bits = max((lw.fmt.comp_bits for lw in bank.weights.values()), default=10)
    r_bits = 2
    out_bits = 9
    buf_depth = [layers[0].hin * layers[0].win * layers[0].incw] + [0] * (nbuf - 1)  # words; the input in 0
    for li, hw in enumerate(layers):
        groups = -(-hw.cout // p)
        elems = hw.elements() if hw.op == "conv" else []
        units = hw.units
        if not hw.is_out:
            buf_depth[hw.dst] = max(buf_depth[hw.dst], hw.hout * hw.wout * hw.outcw)
        rows2 = cols2 = 0
        # the channel-word loop: its words, and the bytes it covers (CIN); a grouped layer's passes
        coutg, cinb, cwn, cin_loop = hw.cout, 0, hw.incw, hw.cin * hw.in_bytes
        if hw.grouped:
            cinb = hw.cin // hw.groups * hw.in_bytes
            coutg, cwn, cin_loop = hw.cout // hw.groups, hw.unit_words, cinb
        elif hw.depthwise or hw.op == "avgpool":
            cwn = slot_words(hw, p)  # the words a group of P channels spans (one value per lane)
        if hw.op == "conv":
            lwts = bank.weights[hw.name]
            rows2, cols2 = lwts.components["LL"].shape
            cols = [e[4] for e in elems]
            for b in bank.widths if images and weights == "banked" else ():
                w = lwts.banks[b].reshape(hw.cout, -1)[:, cols].astype(np.int64)  # (cout, fanin)
                wp = np.zeros((groups * p, len(elems)), dtype=np.int64)
                wp[:hw.cout] = w
                tiles = wp.reshape(groups, p, len(elems)).transpose(0, 2, 1)  # (groups, fanin, P)
                entries_b[b] += _weight_entries(tiles, b, p, hw, elems)
            # reconstruct mode: component records (column-pair major), edge records and the element map
            comps = {k: lwts.components[k].astype(np.int64) for k in COMPONENTS}
            edge = _edge_pair(comps, len(cols))
            n_comp += rows2 * (cols2 - int(edge))
            n_edge += rows2 * int(edge)
            n_elem += cols2
            rebuild_items[li] = groups * cols2
            if images and weights == "reconstruct":
                for j in range(cols2 - int(edge)):
                    for i in range(rows2):
                        comp_records.append(_pack([(int(comps[k][i, j]), comp_bits) for k in COMPONENTS]))
                if edge:
                    edge_records += [_pack([(int(comps["LL"][i, -1]), comp_bits),
                                            (int(comps["HL"][i, -1]), comp_bits)]) for i in range(rows2)]
                elem_words += _element_map(hw, elems, cols2, edge)
            for b in bank.widths:
                # partial shift-add sums can exceed the final scale (+2**10 - 2**8): size for the largest term
                top_shift = max((t[1] for ts in lwts.scales[b].values() for t in ts), default=0)
                r_bits = max(r_bits, signed_bits(reconstruct_bound(comp_bits, lwts.scales[b])) + 2,
                             comp_bits + top_shift + 4)
        requantizes = hw.op != "pool"
        if requantizes:
            for b in bank.widths:
                bd = bounds[b][hw.name]
                acc_bits = max(acc_bits, bd.acc_bits + 1)
                v_bits = max(v_bits, bd.product_bits + 1)
                if hw.act_none:
                    out_bits = max(out_bits, bd.out.bits + 1)
        lw_base = li * nw
        rq_pairs = -(-hw.cout // DRAIN_LANES)  # wb_drain's requant rows: a channel pair each
        for b in bank.widths:
            rq_row, rq2_row, rq_shift, wshift, terms = 0, 0, 0, 0, 0
            if requantizes:
                rq = bank.requant[hw.name][b]
                rq_row, rq_shift = rq_base + widx[b] * rq_pairs, rq.shift
                mul = rq.mul.reshape(-1, hw.cout).astype(np.int64)  # one row per input (an add: two)
                for c in range(hw.cout):
                    rq_words.append((int(mul[0, c]), int(rq.bias[c])))
                    bias_bits = max(bias_bits, signed_bits(abs(int(rq.bias[c]))))
                rq_words += [(0, 0)] * (DRAIN_LANES * rq_pairs - hw.cout)
                mul_bits = max(mul_bits, signed_bits(int(np.abs(mul).max())))
                if hw.op == "add":
                    rq2_row = rq2_base + widx[b] * hw.cout
                    rq2_words += [int(m) for m in mul[1]]
            if hw.op == "conv":
                wshift = bank.weights[hw.name].shift[b]
                # wb_rshift_round rounds correctly for shifts up to its width
                v_bits, r_bits = max(v_bits, rq_shift), max(r_bits, wshift)
                for ci, k in enumerate(COMPONENTS):
                    t = bank.weights[hw.name].scales[b][k]
                    if len(t) > NT:
                        raise RtlError(f"layer {hw.name!r}: width {b} scale {k} has {len(t)} terms "
                                       f"(the RTL takes {NT})")
                    for ti, (sign, shift) in enumerate(t):
                        enc = (1 << 6) | ((1 if sign < 0 else 0) << 5) | shift
                        terms |= enc << ((ci * NT + ti) * TERM_W)
            if wshift > 63 or rq_shift > 63:
                raise RtlError(f"layer {hw.name!r}: shift beyond 63 at width {b}")
            lw_words.append(pack(LW_FIELDS, {"RQROW": rq_row, "RQSHIFT": rq_shift, "WSHIFT": wshift, "RQ2ROW": rq2_row})
                            | (terms << LW_TERMS))
        flags = (int(hw.is_out) | (int(hw.act_none) << 1) | (int(hw.bipolar_in) << 2) | (int(hw.pack > 1) << 3)
                 | (int(hw.in_signed) << 4) | (int(hw.depthwise or hw.op == "avgpool") << 5)
                 | (int(hw.op == "avgpool") << 6) | (int(hw.in2_bipolar) << 7) | (int(hw.in2_signed) << 8)
                 | (_LOG2[min(hw.out_bytes, 4)] << 9) | (_LOG2[hw.in_bytes] << 11) | (_LOG2[hw.in2_bytes] << 13)
                 | (int(hw.grouped) << 15))
        values = {
            "OP": OP_CODES[hw.op], "FLAGS": flags, "CIN": cin_loop, "HIN": hw.hin, "WIN": hw.win,
            "INCW": hw.incw, "COUT": hw.cout, "HOUT": hw.hout, "WOUT": hw.wout, "OUTCW": hw.outcw,
            "KH": hw.kh, "KW": hw.kw, "SH": hw.sh, "SW": hw.sw, "PH": hw.ph, "PW": hw.pw, "GROUPS": groups,
            "FANIN": units, "WBASE": wbase, "LWBASE": lw_base,
            "DKY": hw.win * hw.incw, "DOX": hw.sw * hw.incw, "DOY": hw.sh * hw.win * hw.incw,
            "P0": (-hw.ph * hw.win - hw.pw) * hw.incw, "SRC": hw.src, "CBASE": cbase, "EBASE": ebase,
            "ROWS2": rows2, "COLS2": cols2, "XBASE": xbase, "DST": hw.dst, "SRC2": hw.src2,
            "INCW2": hw.incw2 if hw.op == "add" else 0, "CWN": cwn, "COUTG": coutg, "CINB": cinb,
            "PXU": pixel_units(hw, p, cwn),
        }
        descs.append(pack(DESC_FIELDS, values))
        if hw.op == "conv":
            wbase += groups * units
            cbase, xbase, ebase = n_comp, n_edge, n_elem
        if requantizes:
            rq_base += nw * rq_pairs
        if hw.op == "add":
            rq2_base += nw * hw.cout
    mul_bits = max(mul_bits, 18)
    acc_bits = max(acc_bits, 18)
    if acc_bits > 35 or mul_bits > 35:
        raise RtlError(f"bank {bank.name!r}: accumulators of {acc_bits} bits or requant multipliers of {mul_bits} "
                       f"bits exceed the RTL requant unit's 35")
    lw_w = lw_width(NT)
    rq_packed = [_pack([(m, mul_bits), (bb, bias_bits), (m2, mul_bits), (b2, bias_bits)])
                 for (m, bb), (m2, b2) in zip(rq_words[::2], rq_words[1::2], strict=True)]
    files = {
        "mem/desc.hex": _hex(descs, len(DESC_FIELDS) * FIELD_W),
        "mem/lw.hex": _hex(lw_words, lw_w),
        **_blocked("mem/requant.hex", rq_packed, 2 * (mul_bits + bias_bits), REQUANT_BLOCK),
    }
    if rq2_words:
        files.update(_blocked("mem/requant2.hex", rq2_words, mul_bits))
    memory_bits: dict[str, int] = {}
    wdepth = max(wbase, 1)
    wblk = RAM_BLOCK
    if weights == "banked":
        wblk = block_depth([8 * p * b for b in bank.widths], wdepth)
        for b in bank.widths:
            bw = 8 * p * b  # b planes per slot (one at width 1)
            if images:
                files.update(_blocked(f"mem/weights_b{b}.hex", entries_b[b], bw, wblk))
            memory_bits[f"bank {b}-bit"] = wbase * bw
    else:
        if images:
            for m in range(q):
                files.update(_blocked(f"mem/comp_{m:x}.hex", comp_records[m::q], 4 * comp_bits))
            for m in range(q if edge_records else 0):
                files.update(_blocked(f"mem/edge_{m:x}.hex", edge_records[m::q], 2 * comp_bits))
            files.update(_blocked("mem/elem.hex", elem_words, ELEM_W))
        memory_bits["components"] = n_comp * 4 * comp_bits + n_edge * 2 * comp_bits
        memory_bits["element map"] = n_elem * ELEM_W
        memory_bits["weight buffer (2 halves)"] = 2 * 64 * p * wdepth
    memory_bits["requant"] = len(rq_words) * (mul_bits + bias_bits) + len(rq2_words) * mul_bits
    memory_bits[f"activations ({nbuf} buffers)"] = 64 * sum(buf_depth)
    cdepth = max(1, -(-n_comp // q))
    xdepth = -(-n_edge // q)
    in_shape = bank.shapes[INPUT]
    first = layers[0]
    if first.flat_in or len(in_shape) == 1:
        in_c, in_w, in_hw = math.prod(in_shape), 1, 1
    else:
        in_c, in_w, in_hw = in_shape[0], in_shape[2], in_shape[1] * in_shape[2]
    params: dict[str, int | str] = {
        "WEIGHTS": 0 if weights == "banked" else 1, "P": p, "PLANES": planes, "MUL": int(mac == "dsp"),
        "QB": q.bit_length() - 1,
        "NL": len(layers), "NT": NT,
        "WIDTHS": sum(1 << (b - 1) for b in bank.widths),
        "WIDX": sum(widx[b] << (4 * (b - 1)) for b in bank.widths),
        "INIT_BITS": max(bank.widths), "IN_C": in_c, "IN_HW": in_hw, "IN_CW": -(-in_c // 8), "IN_W": in_w,
        "PACK": first.pack, "PACK_PW": first.pack_pw,
        "PACK_WS": first.win if first.pack > 1 else in_w,
        "ACC_W": acc_bits, "MUL_W": mul_bits, "BIAS_W": bias_bits,
        "V_W": max(v_bits, acc_bits + mul_bits + 1 + int(bool(rq2_words))),
        "OUT_W": out_bits, "NBUF": nbuf,
        **{f"ACT_DEPTH{i}": max(buf_depth[i] if i < nbuf else 1, 1) for i in range(MAX_BUFFERS)},
        "WDEPTH": wdepth, "WBLK": wblk,
        "RQ_DEPTH": max(len(rq_packed), 1),
        "RQ_BLK": REQUANT_BLOCK,
        "TWO": int(bool(rq2_words)), "RQ2_DEPTH": max(len(rq2_words), 1), "RQ_OREG": REQUANT_OREG,
        "POOL_NB": max((hw.in_bytes for hw in layers if hw.op == "pool"), default=0), "MASK_LAT": MASK_LAT,
        "LW_W": lw_w, "LW_DEPTH": len(lw_words),
        "COMP_W": comp_bits, "R_W": r_bits, "CDEPTH": cdepth,
        "EDEPTH": max(n_elem, 1),
        "XDEPTH": xdepth,
        "DESC_FILE": "mem/desc.hex", "LW_FILE": "mem/lw.hex", "RQ_FILE": "mem/requant.hex",
        "RQ2_FILE": "mem/requant2.hex" if rq2_words else "",
        "WEIGHT_PREFIX": "mem/weights", "ELEM_FILE": "mem/elem.hex", "COMP_PREFIX": "mem/comp",
        "EDGE_PREFIX": "mem/edge",
    }
    if weights == "reconstruct" and not n_comp + n_edge:
        raise RtlError(f"bank {bank.name!r} has no weighted layer")
    return RtlDesign(params, files, layers, memory_bits, rebuild_items)


def _verilog_value(v: int | str) -> str:
    return f'"{v}"' if isinstance(v, str) else str(v)


def top_verilog(params: dict[str, int | str]) -> str:
    """``wavebits_top``: the core with this bank's parameters (ports as wb_core)."""
    plist = ",\n".join(f"        .{k}({_verilog_value(v)})" for k, v in params.items())
    return f"""// Generated by wavebits from a weight bank: the accelerator core with this bank's parameters.
module {TOP} (
    input  wire        clk,
    input  wire        rst,
    input  wire        cfg_valid,
    input  wire [3:0]  cfg_bits,
    output wire        cfg_error,
    output wire [3:0]  live_bits,
    output wire        switching,
    output wire        rebuilding,
    input  wire        in_valid,
    input  wire [7:0]  in_data,
    output wire        in_ready,
    output wire        out_valid,
    output wire [{params["OUT_W"]}-1:0] out_data,
    output wire [3:0]  out_bits,
    input  wire        out_ready,
    output wire        trace_valid,
    output wire [7:0]  trace_layer,
    output wire [23:0] trace_addr,
    output wire [7:0]  trace_mask,
    output wire [63:0] trace_data
);
    wb_core #(
{plist}
    ) u_core (
        .clk(clk), .rst(rst), .cfg_valid(cfg_valid), .cfg_bits(cfg_bits), .cfg_error(cfg_error),
        .live_bits(live_bits), .switching(switching), .rebuilding(rebuilding),
        .in_valid(in_valid), .in_data(in_data), .in_ready(in_ready),
        .out_valid(out_valid), .out_data(out_data), .out_bits(out_bits), .out_ready(out_ready),
        .trace_valid(trace_valid), .trace_layer(trace_layer), .trace_addr(trace_addr),
        .trace_mask(trace_mask), .trace_data(trace_data));
endmodule
"""


def out_bytes(out_w: int) -> int:
    """Bytes the board top level sends per output value (``wb_board_uart``'s OUT_BYTES): the
    ``out_w``-bit signed value sign-extended, little endian; a width byte follows."""
    return out_w // 8 + 1


def board_verilog(board: str, params: dict[str, int | str], pll: Ecp5Pll) -> str:
    """The board top level: the PLL, and the core behind ``wb_board_uart`` at 115200 baud.

    ``CLKS_PER_BIT`` is a parameter of the module (its default: the core clock over 115200) so that
    a simulation can run the UART faster (``wavebits.sim.boardsim``)."""
    out_w = int(params["OUT_W"])
    return f"""// Generated by wavebits: {board} top level, the accelerator behind the board's UART, clocked at
// {pll.fout_mhz:g} MHz by the PLL from the {pll.fin_mhz:g} MHz oscillator (VCO {pll.fvco_mhz:g} MHz).
module {BOARD_TOP} #(
    parameter CLKS_PER_BIT = {round(pll.fout_mhz * 1e6 / BAUD)}  // core clock / baud
) (
    input  wire       clk_25mhz,
    input  wire       ftdi_txd,
    output wire       ftdi_rxd,
    output wire [7:0] led
);
    wire clk, clk_locked;
{pll.verilog("clk_25mhz", "clk", "clk_locked")}
    wb_board_uart #(.CLKS_PER_BIT(CLKS_PER_BIT), .OUT_W({out_w}), .OUT_BYTES({out_bytes(out_w)})) u_board (
        .clk(clk), .clk_locked(clk_locked), .ftdi_txd(ftdi_txd), .ftdi_rxd(ftdi_rxd), .led(led));
endmodule
"""


def output_count(bank: Bank) -> int:
    return math.prod(bank.shapes[bank.output])


def generate_rtl(bank: Bank, weights: str = "banked", lanes: int = 8, board: str = "ulx3s-85f",
                 bank_bytes: bytes | None = None, vectors: np.ndarray | None = None,
                 clock_mhz: float = DEFAULT_CLOCK_MHZ, planes: int = 1, mac: str = "lut") -> dict[str, bytes | str]:
    """All files of an RTL project for ``bank`` (deterministic for the same inputs); the board top
    level clocks the core at ``clock_mhz`` (the nearest its PLL makes); ``planes``: weight bit planes
    per item and lane, ``mac``: how the lanes sum them (MAC_CHOICES)."""
    if board not in BOARDS:
        raise RtlError(f"unknown board {board!r} (known: {', '.join(BOARDS)})")
    try:
        pll = ecp5_pll(BOARDS[board][2], clock_mhz)
    except PllError as e:
        raise RtlError(f"--clock-mhz: {e}") from None
    design = build_design(bank, weights, lanes, planes=planes, mac=mac)
    files: dict[str, bytes | str] = dict(design.files)
    for name, text in rtl_library().items():
        files[f"rtl/{name}"] = text
    files[f"rtl/{HEADER}"] = fields_header()
    files[f"{TOP}.v"] = top_verilog(design.params)
    files[f"board/{board}.v"] = board_verilog(board, design.params, pll)
    files[f"board/{board}.lpf"] = BOARDS[board][3]
    files.update(project_files(bank, vectors, bank_bytes, {
        "kind": "rtl", "top": TOP, "weights": weights, "lanes": lanes, "planes": planes,
        "board": board,
        "clock_mhz": round(pll.fout_mhz, 6),
        "outputs": output_count(bank), "params": design.params, "memory_bits": design.memory_bits,
        "weights_count": bank.weight_count(),
        "layers": [{"name": h.name, "op": h.op, "cout": h.cout, "hout": h.hout, "wout": h.wout,
                    "outcw": h.outcw, "bytes": h.out_bytes, "signed": h.out_signed, "is_out": h.is_out}
                   for h in design.layers]}))
    return files


def write_rtl_project(bank: Bank, out: Path, weights: str = "banked", lanes: int = 8, board: str = "ulx3s-85f",
                      bank_bytes: bytes | None = None, vectors: np.ndarray | None = None,
                      clock_mhz: float = DEFAULT_CLOCK_MHZ, planes: int = 1, mac: str = "lut") -> Path:
    """Generate and atomically write the project folder ``out``."""
    return write_tree(Path(out), generate_rtl(bank, weights, lanes, board, bank_bytes, vectors, clock_mhz, planes,
                                              mac))
