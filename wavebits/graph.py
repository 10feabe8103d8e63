"""The network graph a bank describes: nodes, shape inference, value domains and bounds.

Nodes are listed in topological order; ``inputs`` name earlier nodes or ``"input"``. What is
specific to a layer kind (shape, fan-in, bounds, bank fields, kernels) lives in its class in
``wavebits.ops``; ``Node.kind`` finds it. A kind not in ``wavebits.ops.OPS`` is rejected by name
when a bank is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .intmath import activation_limit, rshift_round, signed_bits, weight_limit

if TYPE_CHECKING:
    from .ops import Op

INPUT = "input"


@dataclass(frozen=True)
class Node:
    """One layer of the graph.

    ``out_channels`` is set for conv2d and linear; ``kernel``/``stride``/``padding`` are (h, w)
    pairs used by conv2d and the pools; ``act`` applies to requantizing ops; ``groups`` to conv2d.
    The op's class (``kind``) says which fields it uses.
    """

    name: str
    op: str
    inputs: tuple[str, ...]
    out_channels: int = 0
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    act: str = "relu"
    groups: int = 1

    @property
    def kind(self) -> Op:
        """The op class instance of this node (KeyError for an unknown op)."""
        from .ops import OPS

        return OPS[self.op]

    @property
    def weighted(self) -> bool:
        return self.kind.weighted

    @property
    def requantizes(self) -> bool:
        return self.kind.requantizes


@dataclass(frozen=True)
class Domain:
    """The integers a tensor may hold at one width: ``kind`` is unsigned, bipolar or signed."""

    kind: str
    max_abs: int

    @property
    def bits(self) -> int:
        if self.kind == "bipolar":
            return 1
        if self.kind == "unsigned":
            return max(self.max_abs.bit_length(), 1)
        return signed_bits(self.max_abs)

    @property
    def pad_value(self) -> int:
        return -1 if self.kind == "bipolar" else 0


class GraphError(ValueError):
    """A structural problem in a graph; ``field`` names the node and attribute."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


def infer_shapes(nodes: list[Node], input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Output shape (without batch) of every node; raises GraphError naming the bad node."""
    from .ops import OPS, ShapeError

    shapes: dict[str, tuple[int, ...]] = {INPUT: tuple(input_shape)}
    for i, n in enumerate(nodes):
        where = f"layers[{i}] {n.name!r}"
        if n.op not in OPS:
            raise GraphError(f"{where}.op", f"unsupported layer kind {n.op!r} (supported: {', '.join(OPS)})")
        if n.name in shapes:
            raise GraphError(f"{where}.name", "duplicate layer name")
        for src in n.inputs:
            if src not in shapes:
                raise GraphError(f"{where}.inputs", f"{src!r} is not an earlier layer")
        kind = n.kind
        if len(n.inputs) != kind.arity:
            raise GraphError(f"{where}.inputs", f"{n.op} takes {kind.arity} input(s), got {len(n.inputs)}")
        ins = [shapes[s] for s in n.inputs]
        try:
            shapes[n.name] = kind.out_shape(n, ins)
            kind.check_act(n, ins)
        except ShapeError as e:
            raise GraphError(f"{where}.{e.key}", e.problem) from None
    return shapes


def bipolar_at_one_bit(nodes: list[Node]) -> dict[str, bool]:
    """Which tensors are bipolar (+1/-1) at one bit: ReLU-requantized outputs and what passes them on.

    The network input never is; at 1 bit such tensors are padded with -1 and meet 1-bit weights
    in XNOR-popcount.
    """
    out = {INPUT: False}
    for n in nodes:
        out[n.name] = (n.act == "relu") if n.requantizes else out[n.inputs[0]]
    return out


def weight_shape(node: Node, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape of a weighted node's weight tensor given its input shape."""
    return node.kind.weight_shape(node, in_shape)


def fan_in(node: Node, in_shape: tuple[int, ...]) -> int:
    """Number of products summed into one accumulator."""
    return node.kind.fan_in(node, in_shape)


@dataclass
class LayerBounds:
    """Worst-case magnitudes of one node at one width (all derived from formats, not data)."""

    acc_bound: int = 0  # |accumulator| <= this
    product_bound: int = 0  # |acc * mul + bias| <= this (requantizing ops)
    out: Domain = field(default_factory=lambda: Domain("unsigned", 0))

    @property
    def acc_bits(self) -> int:
        return signed_bits(self.acc_bound)

    @property
    def product_bits(self) -> int:
        return signed_bits(self.product_bound)


def _act_domain(act: str, bits: int, product_bound: int, shift: int) -> Domain:
    if act == "relu":
        return Domain("bipolar", 1) if bits == 1 else Domain("unsigned", activation_limit(bits))
    return Domain("signed", int(rshift_round(product_bound, shift)) + 1)


def input_domain(bits: int, signed: bool) -> Domain:
    """The network input's domain: ``bits``-bit unsigned, or two's complement when ``signed``."""
    return Domain("signed", 1 << (bits - 1)) if signed else Domain("unsigned", (1 << bits) - 1)


def derive_bounds(
    nodes: list[Node],
    shapes: dict[str, tuple[int, ...]],
    bits: int,
    input_bits: int,
    requant_max: dict[str, tuple[int, int, int]],
    input_signed: bool = False,
) -> dict[str, LayerBounds]:
    """Bounds of every node at width ``bits``.

    ``requant_max[name]`` gives ``(max |mul| summed over inputs, max |bias|, shift)`` at this width.
    The accumulator bound is ``fan_in * max|w| * max|x|`` with max|w| from the width's format, so
    hardware sized from it can never wrap for any weights the format admits.
    """
    out: dict[str, LayerBounds] = {INPUT: LayerBounds(out=input_domain(input_bits, input_signed))}
    for n in nodes:
        kind = n.kind
        srcs = [out[s].out for s in n.inputs]
        lb = LayerBounds(acc_bound=kind.acc_bound(n, [shapes[s] for s in n.inputs], srcs, weight_limit(bits)))
        if kind.requantizes:
            mul_sum, bias_max, shift = requant_max[n.name]
            lb.product_bound = kind.product_bound(lb.acc_bound, srcs, mul_sum, bias_max)
            lb.out = _act_domain(n.act, bits, lb.product_bound, shift)
        else:
            lb.out = srcs[0]
        out[n.name] = lb
    return out
