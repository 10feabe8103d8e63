"""How Yosys maps a memory onto ECP5 DP16KD block RAMs, and how deep ``wb_ram``'s blocks should be.

A DP16KD is 18 kbit in one of a few shapes (``BRAM_CONFIGS``). Yosys builds a memory from the
cheapest shape: side by side for width, and cascaded for depth, where a multiplexer after the block
RAMs picks the row's block. ``wb_ram`` with output registers splits a memory into blocks of its own,
each read through a register that becomes the block RAM's output register (``codegen.netlist``), and
selects the block after those registers. A block Yosys still cascades defeats that: its multiplexer
sits between the block RAMs' slow clock-to-out and the register, which then cannot move into the
block RAM. ``block_depth`` picks a block depth at which every block is one block RAM deep (ResNet-8's
weights on 8 lanes, 1,226 rows: 1,024-deep blocks, where 2,048 cascaded three 512-deep ones).
"""

from __future__ import annotations

from collections.abc import Iterable

# DP16KD configurations (data bits, depth); 36 bits wide only with one read and one write port
BRAM_CONFIGS = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024))
BRAM_WIDE = (36, 512)
# Yosys keeps shallow memories (the descriptor and per-width record ROMs) and tiny ones in LUTs
LUT_MAX_DEPTH = 64
LUT_MAX_BITS = 2048
# wb_ram block depths codegen chooses from, deepest first (the first is wb_ram's default BLK)
BLOCK_DEPTHS = (2048, 1024, 512)


def _configs(ports2: bool) -> tuple[tuple[int, int], ...]:
    return BRAM_CONFIGS if ports2 else (*BRAM_CONFIGS, BRAM_WIDE)


def in_luts(width: int, depth: int) -> bool:
    """Whether Yosys keeps a ``width`` x ``depth`` memory in LUTs rather than block RAM."""
    return depth <= LUT_MAX_DEPTH or width * depth <= LUT_MAX_BITS


def bram_blocks(width: int, depth: int, ports2: bool = False) -> int:
    """DP16KD blocks for one ``width`` x ``depth`` memory: Yosys's cheapest configuration."""
    return min(-(-width // w) * -(-depth // d) for w, d in _configs(ports2))


def mapped_blocks(width: int, depth: int, ports2: bool = False) -> int:
    """Block RAMs of one memory as Yosys maps it: none where it keeps the memory in LUTs."""
    return 0 if in_luts(width, depth) else bram_blocks(width, depth, ports2)


def block_rows(depth: int, block: int) -> list[int]:
    """The rows of each ``block``-deep block of a ``depth``-row ``wb_ram``, the last holding the rest."""
    full, rest = divmod(depth, block)
    return [block] * full + ([rest] if rest else [])


def single_depth_blocks(width: int, depth: int, ports2: bool = False) -> int:
    """DP16KD blocks for one ``width`` x ``depth`` memory in the cheapest configuration at least
    ``depth`` deep (no cascade); 0 where it stays in LUTs."""
    if in_luts(width, depth):
        return 0
    return min(-(-width // w) for w, d in _configs(ports2) if d >= depth)


def cascades(width: int, depth: int, ports2: bool = False) -> bool:
    """Whether Yosys builds a ``width`` x ``depth`` memory of block RAMs cascaded in depth (a
    shallower configuration is cheaper than every one at least ``depth`` deep)."""
    return not in_luts(width, depth) and bram_blocks(width, depth, ports2) < single_depth_blocks(width, depth, ports2)


def block_depth(widths: Iterable[int], depth: int, ports2: bool = False) -> int:
    """The deepest ``wb_ram`` block depth (of ``BLOCK_DEPTHS``) at which no block of the memories of
    ``widths``, each ``depth`` deep, is cascaded: the fewest blocks to select between, each with its
    output register in the block RAM."""
    widths = list(widths)
    for blk in BLOCK_DEPTHS:
        if not any(cascades(w, d, ports2) for w in widths for d in set(block_rows(depth, blk))):
            return blk
    return BLOCK_DEPTHS[-1]
