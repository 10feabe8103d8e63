"""``avgpool``: window average, no padding: the window sum requantized to the rounded mean."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..intmath import activation_limit
from .base import HlsContext, Op, Shape, ShapeError, need_channels, requant_args, window_config, window_out

if TYPE_CHECKING:
    from ..bank.builder import FloatLayer
    from ..bank.model import Requant
    from ..graph import Domain, Node


class AvgPool(Op):
    """Average pooling; act ``relu`` keeps an activation's format (at 1 bit the sign), ``none`` a signed one."""

    name = "avgpool"
    requantizes = True
    fields = ("kernel", "stride", "act")

    def window(self, node: Node, in_shape: Shape) -> tuple[tuple[int, int], tuple[int, int]]:
        """The pooling window's (kernel, stride) over an input of ``in_shape``."""
        return node.kernel, node.stride

    def out_shape(self, node: Node, ins: Sequence[Shape]) -> Shape:
        src = need_channels(node, ins, self.name)
        if node.padding != (0, 0):
            raise ShapeError("padding", "pooling takes no padding")
        return (src[0], *window_out(node, src))

    def geometry(self, node: Node) -> str:
        return f"k{node.kernel[0]}x{node.kernel[1]} s{node.stride[0]}"

    def fan_in(self, node: Node, in_shape: Shape) -> int:
        k, _ = self.window(node, in_shape)
        return k[0] * k[1]

    def acc_bound(self, node: Node, in_shapes: Sequence[Shape], srcs: Sequence[Domain], weight_limit: int) -> int:
        return self.fan_in(node, in_shapes[0]) * srcs[0].max_abs

    def accumulate(self, node: Node, xs: Sequence[np.ndarray], src: Domain, bits: int, w: np.ndarray | None,
                   acc_bound: int) -> np.ndarray:
        from ..sim import ops as kernels

        k, s = self.window(node, xs[0].shape[1:])
        return kernels.sumpool(xs[0], k, s)

    def float_requant(self, node: Node, bits: int, in_shapes: Sequence[Shape], in_scales: Sequence[float],
                      channels: int, layer: FloatLayer | None, out_scale: float | None,
                      mul_bits: int) -> tuple[Requant | None, float]:
        from ..bank.builder import fixed_requant

        n = self.fan_in(node, in_shapes[0])
        rq = fixed_requant(f"layer {node.name!r}", np.full(channels, 1.0 / n), np.zeros(channels), mul_bits)
        return rq, in_scales[0]

    def torch_forward(self, node: Node, xs: Sequence[Any], bits: int | None, net: Any) -> Any:
        import torch
        import torch.nn.functional as F

        from wavebits.training.quant import ste

        x = xs[0]
        k, s = self.window(node, tuple(x.shape[1:]))
        mean = F.avg_pool2d(x, k, s)
        if bits is None:
            return mean
        if bits == 1 and node.act == "relu":
            return ste(mean, torch.where(mean >= 0, 1.0, -1.0))
        step = net.act_scale(node.inputs[0], bits)
        # the integers' window sums times the bank's fixed-point 1/n, rounded as the requant rounds
        # (window sums are often ties, and 1/n is no power of two for most windows)
        n = k[0] * k[1]
        rq, _ = self.float_requant(node, bits, [tuple(x.shape[1:])], [step], 1, None, None, net.fmt.mul_bits)
        sums = torch.round(F.avg_pool2d(torch.round(x.detach().double() / step), k, s) * n)
        q = torch.floor((sums * int(rq.mul[0]) + (1 << rq.shift >> 1)) / float(1 << rq.shift))
        if node.act == "relu":
            q = q.clamp(0, activation_limit(bits))
        return ste(mean, (q * step).to(mean.dtype))

    def hls_config(self, node: Node, ctx: HlsContext) -> list[str]:
        k, s = self.window(node, ctx.in_shapes[0])
        return [*window_config(ctx.in_shapes[0], ctx.out_shape, k, s),
                f"    typedef ap_int<{ctx.acc_bits}> acc_t;",
                f"    static const bool relu = {'true' if node.act == 'relu' else 'false'};"]

    def hls_call(self, node: Node, ctx: HlsContext) -> str:
        return f"wb::avgpool<{node.name}_config>({node.inputs[0]}_buf, {node.name}_buf, {requant_args(node)});"
