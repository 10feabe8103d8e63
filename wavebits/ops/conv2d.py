"""``conv2d``: 2-D convolution with zero padding, any ``groups`` (depthwise when groups == C)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import HlsContext, Shape, ShapeError, WeightedOp, need_channels, requant_args, window_out

if TYPE_CHECKING:
    from ..graph import Domain, Node


class Conv2d(WeightedOp):
    """Weights (Cout, Cin/groups, kh, kw), stride, zero padding, groups, requant, act relu|none."""

    name = "conv2d"
    fields = ("out_channels", "kernel", "stride", "padding", "groups", "act")

    def out_shape(self, node: Node, ins: Sequence[Shape]) -> Shape:
        src = need_channels(node, ins, "conv2d")
        if node.out_channels < 1:
            raise ShapeError("out_channels", "must be >= 1")
        g = node.groups
        if g < 1 or src[0] % g or node.out_channels % g:
            raise ShapeError("groups", f"{g} groups must divide the input channels ({src[0]}) and the output "
                             f"channels ({node.out_channels})")
        return (node.out_channels, *window_out(node, src))

    def fan_in(self, node: Node, in_shape: Shape) -> int:
        return in_shape[0] // node.groups * node.kernel[0] * node.kernel[1]

    def weight_shape(self, node: Node, in_shape: Shape) -> Shape:
        return (node.out_channels, in_shape[0] // node.groups, *node.kernel)

    def geometry(self, node: Node) -> str:
        g = f" g{node.groups}" if node.groups != 1 else ""
        return f"k{node.kernel[0]}x{node.kernel[1]} s{node.stride[0]} p{node.padding[0]}{g}"

    def accumulate(self, node: Node, xs: Sequence[np.ndarray], src: Domain, bits: int, w: np.ndarray | None,
                   acc_bound: int) -> np.ndarray:
        from ..sim import ops as kernels

        assert w is not None
        bipolar = src.kind == "bipolar" and bits == 1
        x, g = xs[0], node.groups
        if g == 1:
            return kernels.conv2d(x, w, node.stride, node.padding, src.pad_value, acc_bound, bipolar)
        cin, cout = x.shape[1] // g, w.shape[0] // g
        return np.concatenate([
            kernels.conv2d(x[:, i * cin:(i + 1) * cin], w[i * cout:(i + 1) * cout], node.stride, node.padding,
                           src.pad_value, acc_bound, bipolar)
            for i in range(g)], axis=1)

    def torch_apply(self, node: Node, x: Any, w: Any, bits: int | None, bipolar_input: bool) -> Any:
        import torch.nn.functional as F

        if bits == 1 and bipolar_input:
            # bipolar inputs are padded with -1, as the hardware's bit 0
            p = node.padding
            x = F.pad(x, (p[1], p[1], p[0], p[0]), value=-1.0)
            return F.conv2d(x, w, stride=node.stride, groups=node.groups)
        return F.conv2d(x, w, stride=node.stride, padding=node.padding, groups=node.groups)

    def hls_config(self, node: Node, ctx: HlsContext) -> list[str]:
        ins, outs = ctx.in_shapes[0], ctx.out_shape
        return [f"    static const unsigned in_c = {ins[0]}, in_h = {ins[1]}, in_w = {ins[2]};",
                f"    static const unsigned out_c = {outs[0]}, out_h = {outs[1]}, out_w = {outs[2]};",
                f"    static const unsigned k_h = {node.kernel[0]}, k_w = {node.kernel[1]}, "
                f"s_h = {node.stride[0]}, s_w = {node.stride[1]};",
                f"    static const unsigned p_h = {node.padding[0]}, p_w = {node.padding[1]};",
                f"    static const unsigned groups = {node.groups};",
                *self.hls_dot_config(node, ctx)]

    def hls_call(self, node: Node, ctx: HlsContext) -> str:
        return (f"wb::conv2d<{node.name}_config>({node.inputs[0]}_buf, {node.name}_buf, {ctx.weights}, "
                f"{requant_args(node)});")
