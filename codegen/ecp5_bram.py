"""How Yosys maps a ``wb_ram`` onto ECP5 block RAMs (DP16KD), and the block depth that makes a
memory built of output-registered blocks cheapest.

``wb_ram`` with OREG >= 1 is built of BLK-deep blocks, each a memory of its own to Yosys: a block
takes Yosys's cheapest DP16KD configuration, and a short last block stays in LUTs. Both the
estimator (``codegen.estimate``) and the generator (``codegen.rtl``, choosing the weight banks'
BLK) read these rules.
"""

from __future__ import annotations

# DP16KD configurations (data bits, depth); 36 bits wide only with one read and one write port
BRAM_CONFIGS = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024))
BRAM_WIDE = (36, 512)
# Yosys keeps shallow memories (the descriptor and per-width record ROMs) and tiny ones in LUTs
LUT_MAX_DEPTH = 64
LUT_MAX_BITS = 2048


def bram_blocks(width: int, depth: int, ports2: bool = False) -> int:
    """DP16KD blocks for one ``width`` x ``depth`` memory: Yosys's cheapest configuration."""
    configs = BRAM_CONFIGS if ports2 else (*BRAM_CONFIGS, BRAM_WIDE)
    return min(-(-width // w) * -(-depth // d) for w, d in configs)


def in_luts(width: int, depth: int) -> bool:
    """Whether Yosys keeps a ``width`` x ``depth`` memory in LUTs."""
    return depth <= LUT_MAX_DEPTH or width * depth <= LUT_MAX_BITS


def mapped_blocks(width: int, depth: int, ports2: bool = False) -> int:
    """Block RAMs of one memory as Yosys maps it: none where it keeps the memory in LUTs."""
    return 0 if in_luts(width, depth) else bram_blocks(width, depth, ports2)


def block_depths(depth: int, block: int) -> list[int]:
    """The depths of the blocks a ``depth``-deep memory is built of (the last holds the rest)."""
    full, rest = divmod(depth, block)
    return [block] * full + ([rest] if rest else [])


def blocked_bram(width: int, depth: int, block: int, ports2: bool = False) -> int:
    """Block RAMs of one memory built of ``block``-deep blocks."""
    return sum(mapped_blocks(width, d, ports2) for d in block_depths(depth, block))


def cheapest_block(widths: list[int], depth: int, choices: tuple[int, ...]) -> int:
    """The block depth of ``choices`` (deepest first) with which memories of ``widths`` bits x
    ``depth`` words take the fewest block RAMs; a shallower block only where it saves one (its
    short last block then stays in LUTs, behind one more select)."""
    return min(choices, key=lambda b: (sum(blocked_bram(w, depth, b) for w in widths), -b))
