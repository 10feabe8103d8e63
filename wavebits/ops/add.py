"""``add``: residual add of two tensors of one shape, each scaled by its own requant multiplier."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BuildError
from ..intmath import channel_view
from .base import HlsContext, Op, Shape, ShapeError

if TYPE_CHECKING:
    from ..bank.builder import FloatLayer
    from ..bank.model import Requant
    from ..graph import Domain, Node


class Add(Op):
    """``v = x_a * mul[0][c] + x_b * mul[1][c] + bias[c]``, then the output stage (act relu|none)."""

    name = "add"
    requantizes = True
    arity = 2
    fields = ("act",)
    mul_rows = 2
    learns_step = True

    def out_shape(self, node: Node, ins: Sequence[Shape]) -> Shape:
        if ins[1] != ins[0]:
            raise ShapeError("inputs", f"add needs equal shapes, got {ins[0]} and {ins[1]}")
        return ins[0]

    def acc_bound(self, node: Node, in_shapes: Sequence[Shape], srcs: Sequence[Domain], weight_limit: int) -> int:
        return max(s.max_abs for s in srcs)

    def product_bound(self, acc_bound: int, srcs: Sequence[Domain], mul_sum: int, bias_max: int) -> int:
        return max(s.max_abs for s in srcs) * mul_sum + bias_max

    def accumulate(self, node: Node, xs: Sequence[np.ndarray], src: Domain, bits: int, w: np.ndarray | None,
                   acc_bound: int) -> np.ndarray:
        """The first operand: the sum is formed operand by operand in ``scaled``."""
        return xs[0]

    def scaled(self, node: Node, xs: Sequence[np.ndarray], acc: np.ndarray, rq: Requant) -> np.ndarray:
        x, y = xs
        return (x * channel_view(rq.mul[0], x.ndim) + y * channel_view(rq.mul[1], y.ndim)
                + channel_view(rq.bias, x.ndim))

    def float_requant(self, node: Node, bits: int, in_shapes: Sequence[Shape], in_scales: Sequence[float],
                      channels: int, layer: FloatLayer | None, out_scale: float | None,
                      mul_bits: int) -> tuple[Requant | None, float]:
        from ..bank.builder import fixed_requant

        if out_scale is None or not out_scale > 0:
            raise BuildError(f"layer {node.name!r}: add needs a positive output step at width {bits}, got {out_scale}")
        mul = np.stack([np.full(channels, in_scales[0] / out_scale), np.full(channels, in_scales[1] / out_scale)])
        return fixed_requant(f"layer {node.name!r}", mul, np.zeros(channels), mul_bits), float(out_scale)

    def torch_forward(self, node: Node, xs: Sequence[Any], bits: int | None, net: Any) -> Any:
        return net.add_act[node.name](xs[0] + xs[1], bits)

    def hls_config(self, node: Node, ctx: HlsContext) -> list[str]:
        outs = ctx.out_shape
        return [f"    typedef t_{node.inputs[1]} in2_t;",
                f"    static const unsigned out_c = {outs[0]}, plane = {math.prod(outs[1:])};",
                f"    static const bool relu = {'true' if node.act == 'relu' else 'false'};"]

    def hls_call(self, node: Node, ctx: HlsContext) -> str:
        n = node.name
        return (f"wb::add<{n}_config>({node.inputs[0]}_buf, {node.inputs[1]}_buf, {n}_buf, {n}_mul_a[wi], "
                f"{n}_mul_b[wi], {n}_bias[wi], {n}_rshift[wi], bits);")
