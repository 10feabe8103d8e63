"""The network graph a bank describes: nodes, shape inference, value domains and bounds.

Nodes are listed in topological order; ``inputs`` name earlier nodes or ``"input"``.
Supported ops (anything else is rejected by name when a bank is loaded):

``conv2d``   weights (Cout, Cin, kh, kw), stride, zero padding, requant, act relu|none
``linear``   weights (Cout, Cin), requant, act relu|none
``maxpool``  kernel, stride, no padding
``avgpool``  kernel, stride, no padding; sum then requant (the mean, in integer form)
``flatten``  (C, H, W) -> (C*H*W,) in C-major order, as ``torch.flatten``
``add``      residual add of two tensors of one shape, each scaled by its own requant ``mul``
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .intmath import activation_limit, rshift_round, signed_bits, weight_limit

OPS: tuple[str, ...] = ("conv2d", "linear", "maxpool", "avgpool", "flatten", "add")
WEIGHTED_OPS: tuple[str, ...] = ("conv2d", "linear")
REQUANT_OPS: tuple[str, ...] = ("conv2d", "linear", "avgpool", "add")
INPUT = "input"


@dataclass(frozen=True)
class Node:
    """One layer of the graph.

    ``out_channels`` is set for conv2d and linear; ``kernel``/``stride``/``padding`` are (h, w)
    pairs used by conv2d and the pools; ``act`` applies to requantizing ops.
    """

    name: str
    op: str
    inputs: tuple[str, ...]
    out_channels: int = 0
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    act: str = "relu"

    @property
    def weighted(self) -> bool:
        return self.op in WEIGHTED_OPS

    @property
    def requantizes(self) -> bool:
        return self.op in REQUANT_OPS


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
        want = 2 if n.op == "add" else 1
        if len(n.inputs) != want:
            raise GraphError(f"{where}.inputs", f"{n.op} takes {want} input(s), got {len(n.inputs)}")
        src = shapes[n.inputs[0]]
        if n.op in ("conv2d", "maxpool", "avgpool"):
            if len(src) != 3:
                raise GraphError(f"{where}.inputs", f"{n.op} needs a (C, H, W) input, got {src}")
            if min(n.kernel) < 1 or min(n.stride) < 1 or min(n.padding) < 0:
                raise GraphError(f"{where}.kernel", "kernel and stride must be >= 1, padding >= 0")
            c, h, w = src
            hh = (h + 2 * n.padding[0] - n.kernel[0]) // n.stride[0] + 1
            ww = (w + 2 * n.padding[1] - n.kernel[1]) // n.stride[1] + 1
            if hh < 1 or ww < 1:
                raise GraphError(f"{where}.kernel", f"kernel {n.kernel} does not fit input {src}")
            if n.op != "conv2d" and n.padding != (0, 0):
                raise GraphError(f"{where}.padding", "pooling takes no padding")
            out_c = n.out_channels if n.op == "conv2d" else c
            if n.op == "conv2d" and out_c < 1:
                raise GraphError(f"{where}.out_channels", "must be >= 1")
            shapes[n.name] = (out_c, hh, ww)
        elif n.op == "linear":
            if len(src) != 1:
                raise GraphError(f"{where}.inputs", f"linear needs a flat input, got {src} (add a flatten)")
            if n.out_channels < 1:
                raise GraphError(f"{where}.out_channels", "must be >= 1")
            shapes[n.name] = (n.out_channels,)
        elif n.op == "flatten":
            size = 1
            for s in src:
                size *= s
            shapes[n.name] = (size,)
        else:  # add
            other = shapes[n.inputs[1]]
            if other != src:
                raise GraphError(f"{where}.inputs", f"add needs equal shapes, got {src} and {other}")
            shapes[n.name] = src
        if n.requantizes and n.act not in ("relu", "none"):
            raise GraphError(f"{where}.act", f"expected 'relu' or 'none', got {n.act!r}")
        if n.op == "avgpool" and n.act != "relu":
            raise GraphError(f"{where}.act", "avgpool requantizes to the activation format: act must be 'relu'")
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
    if node.op == "conv2d":
        return (node.out_channels, in_shape[0], *node.kernel)
    return (node.out_channels, in_shape[0])


def fan_in(node: Node, in_shape: tuple[int, ...]) -> int:
    """Number of products summed into one accumulator."""
    if node.op == "conv2d":
        return in_shape[0] * node.kernel[0] * node.kernel[1]
    if node.op == "linear":
        return in_shape[0]
    if node.op == "avgpool":
        return node.kernel[0] * node.kernel[1]
    return 1


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


def derive_bounds(
    nodes: list[Node],
    shapes: dict[str, tuple[int, ...]],
    bits: int,
    input_bits: int,
    requant_max: dict[str, tuple[int, int, int]],
) -> dict[str, LayerBounds]:
    """Bounds of every node at width ``bits``.

    ``requant_max[name]`` gives ``(max |mul| summed over inputs, max |bias|, shift)`` at this width.
    The accumulator bound is ``fan_in * max|w| * max|x|`` with max|w| from the width's format, so
    hardware sized from it can never wrap for any weights the format admits.
    """
    out: dict[str, LayerBounds] = {INPUT: LayerBounds(out=Domain("unsigned", (1 << input_bits) - 1))}
    for n in nodes:
        srcs = [out[s].out for s in n.inputs]
        x = srcs[0]
        lb = LayerBounds()
        if n.weighted:
            lb.acc_bound = fan_in(n, shapes[n.inputs[0]]) * weight_limit(bits) * x.max_abs
        elif n.op == "avgpool":
            lb.acc_bound = fan_in(n, shapes[n.inputs[0]]) * x.max_abs
        elif n.op == "add":
            lb.acc_bound = max(s.max_abs for s in srcs)
        if n.requantizes:
            mul_sum, bias_max, shift = requant_max[n.name]
            if n.op == "add":
                lb.product_bound = max(s.max_abs for s in srcs) * mul_sum + bias_max
            else:
                lb.product_bound = lb.acc_bound * mul_sum + bias_max
            lb.out = _act_domain(n.act, bits, lb.product_bound, shift)
        else:
            lb.out = x
        out[n.name] = lb
    return out
