"""``maxpool``: window maximum, no padding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import HlsContext, Op, Shape, ShapeError, need_channels, window_config, window_out

if TYPE_CHECKING:
    from ..graph import Domain, Node


class MaxPool(Op):
    """Kernel, stride, no padding."""

    name = "maxpool"
    fields = ("kernel", "stride")

    def out_shape(self, node: Node, ins: Sequence[Shape]) -> Shape:
        src = need_channels(node, ins, "maxpool")
        if node.padding != (0, 0):
            raise ShapeError("padding", "pooling takes no padding")
        return (src[0], *window_out(node, src))

    def geometry(self, node: Node) -> str:
        return f"k{node.kernel[0]}x{node.kernel[1]} s{node.stride[0]}"

    def accumulate(self, node: Node, xs: Sequence[np.ndarray], src: Domain, bits: int, w: np.ndarray | None,
                   acc_bound: int) -> np.ndarray:
        from ..sim import ops as kernels

        return kernels.maxpool(xs[0], node.kernel, node.stride)

    def torch_forward(self, node: Node, xs: Sequence[Any], bits: int | None, net: Any) -> Any:
        import torch.nn.functional as F

        return F.max_pool2d(xs[0], node.kernel, node.stride)

    def hls_config(self, node: Node, ctx: HlsContext) -> list[str]:
        return window_config(ctx.in_shapes[0], ctx.out_shape, node.kernel, node.stride)

    def hls_call(self, node: Node, ctx: HlsContext) -> str:
        return f"wb::maxpool<{node.name}_config>({node.inputs[0]}_buf, {node.name}_buf);"
