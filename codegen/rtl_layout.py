"""The memory layouts that the RTL generator packs and the hardware unpacks, written once.

Three records: the layer descriptor (``DESC_FIELDS``, ``FIELD_W`` bits each), the per-(layer,
width) record (``LW_FIELDS``, then the scale terms from ``LW_TERMS`` on) and the Haar engine's
element-map entry (``ELEM_FIELDS``). Every record packs its first field into the lowest bits.
``fields_header()`` renders them as the Verilog header that wb_core and wb_haar_engine include; a
generated project carries it as ``rtl/wb_fields.vh``, so the layout exists only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wavebits.wavelet import COMPONENTS

HEADER = "wb_fields.vh"


@dataclass(frozen=True)
class Field:
    """One field of a packed record: its name (upper case, as in Verilog), width in bits and meaning."""

    name: str
    width: int
    comment: str = ""


FIELD_W = 24


def _desc(name: str, comment: str = "") -> Field:
    return Field(name, FIELD_W, comment)


DESC_FIELDS: tuple[Field, ...] = (
    _desc("OP", "0 conv/linear, 1 maxpool, 2 window sum (avgpool, gap), 3 add"),
    _desc("FLAGS", "bit0 output layer, bit1 act none, bit2 input bipolar at 1 bit, bit3 packed kernel rows, "
                   "bit4 input signed, bit5 one slot per lane (depthwise, window sum), bit6 unit weights (window "
                   "sum), bit7 second input bipolar at 1 bit, bit8 second input signed, bits 9-10 / 11-12 / 13-14: "
                   "log2 of the bytes per value of the output / input / second input, bit15 grouped (not "
                   "depthwise)"),
    _desc("CIN", "channels the channel-word loop covers (a group's when grouped)"),
    _desc("HIN"),
    _desc("WIN"),
    _desc("INCW", "input words per pixel (8 byte slots per word)"),
    _desc("COUT"),
    _desc("HOUT"),
    _desc("WOUT"),
    _desc("OUTCW", "output words per pixel"),
    _desc("KH"),
    _desc("KW"),
    _desc("SH"),
    _desc("SW"),
    _desc("PH"),
    _desc("PW"),
    _desc("GROUPS", "ceil(COUT / P)"),
    _desc("FANIN", "weight rows per group: units (kernel tap, channel word)"),
    _desc("WBASE", "first weight row"),
    _desc("LWBASE", "first per-width parameter record"),
    _desc("DKY", "address step per kernel row: WIN * INCW"),
    _desc("DOX", "per output column: SW * INCW"),
    _desc("DOY", "per output row: SH * WIN * INCW"),
    _desc("P0", "signed address of the first window's top-left tap"),
    _desc("SRC", "activation buffer read (the first input)"),
    _desc("CBASE", "first component record (reconstruct)"),
    _desc("EBASE", "first element-map entry, one per column pair (reconstruct)"),
    _desc("ROWS2", "row pairs of the padded weight matrix"),
    _desc("COLS2", "its column pairs"),
    _desc("XBASE", "first edge record (reconstruct, odd column count)"),
    _desc("DST", "activation buffer written"),
    _desc("SRC2", "add: the second input's buffer"),
    _desc("INCW2", "add: the second input's words per pixel"),
    _desc("CWN", "conv: channel words per kernel tap (the channel-word loop)"),
    _desc("COUTG", "grouped conv: output channels per convolution group"),
    _desc("CINB", "grouped conv: input bytes per convolution group"),
    _desc("PXU", "units per output pixel (rounds of the issue stage's plane loop): a conv's lane groups' "
                 "passes x KH x KW x CWN, a max pool's KH x KW x CWN, an add's COUT"),
)

LW_FIELDS: tuple[Field, ...] = (
    Field("RQROW", 24, "first requant row of the layer at this width"),
    Field("RQSHIFT", 6, "requant shift"),
    Field("WSHIFT", 6, "weight quantization shift (reconstruct)"),
    Field("RQ2ROW", 24, "add: the second input's first multiplier row (requant2 memory)"),
)
TERM_W = 7  # one scale term: {valid, sign, shift[4:0]}
LW_TERMS = sum(f.width for f in LW_FIELDS)  # the scale terms follow the fixed fields

ELEM_FIELDS: tuple[Field, ...] = (
    Field("UNIT0", 24, "the weight row (kernel tap, channel word) of the pair's first column"),
    Field("SLOT0", 3, "its channel slot in that row"),
    Field("V1", 1, "the second column exists (0: padding)"),
    Field("UNIT1", 24, "the weight row of the second column"),
    Field("SLOT1", 3, "its channel slot in that row"),
    Field("EDGE_PAIR", 1, "the pair is stored as {HL, LL} edge records"),
)
ELEM_W = sum(f.width for f in ELEM_FIELDS)


def terms_width(nt: int) -> int:
    """Bits of the scale terms of one (layer, width) record: every component, ``nt`` terms each."""
    return len(COMPONENTS) * nt * TERM_W


def lw_width(nt: int) -> int:
    """Bits of one (layer, width) record with ``nt`` terms per component scale."""
    return LW_TERMS + terms_width(nt)


def offsets(fields: Sequence[Field]) -> dict[str, int]:
    """Each field's lowest bit in its record."""
    out, pos = {}, 0
    for f in fields:
        out[f.name] = pos
        pos += f.width
    return out


def pack(fields: Sequence[Field], values: dict[str, int]) -> int:
    """Pack ``values`` (by field name, each taken modulo its width) into one record."""
    word, pos = 0, 0
    for f in fields:
        word |= (values[f.name] & ((1 << f.width) - 1)) << pos
        pos += f.width
    return word


def _param(name: str, value: int, comment: str = "") -> str:
    line = f"localparam {name} = {value};"
    return f"{line:<36}// {comment}" if comment else line


def fields_header() -> str:
    """The Verilog header ``wb_fields.vh``: a localparam for every field of the three records."""
    lines = [
        "// Generated by wavebits from codegen/rtl_layout.py: the memory layouts the generator packs.",
        "// Layer descriptor: NFIELDS fields of FIELD_W bits, field F_x at bits [F_x * FIELD_W +: FIELD_W].",
        _param("FIELD_W", FIELD_W),
    ]
    lines += [_param(f"F_{f.name}", i, f.comment) for i, f in enumerate(DESC_FIELDS)]
    lines.append(_param("NFIELDS", len(DESC_FIELDS)))
    lines.append("// Per (layer, width) record: field x at lw[LW_x +: LW_x_W], the scale terms from LW_TERMS on.")
    for f in LW_FIELDS:
        lines += [_param(f"LW_{f.name}", offsets(LW_FIELDS)[f.name], f.comment), _param(f"LW_{f.name}_W", f.width)]
    lines.append(_param("LW_TERMS", LW_TERMS, f"{len(COMPONENTS)} components x NT terms x TERM_W"))
    lines.append(_param("TERM_W", TERM_W, "{valid, sign, shift[4:0]}"))
    lines.append("// Element-map entry (wb_haar_engine), one per column pair: field x at elem[ELEM_x +: ELEM_x_W].")
    for f in ELEM_FIELDS:
        lines += [_param(f"ELEM_{f.name}", offsets(ELEM_FIELDS)[f.name], f.comment),
                  _param(f"ELEM_{f.name}_W", f.width)]
    lines.append(_param("ELEM_W", ELEM_W))
    return "\n".join(lines) + "\n"
