"""``linear``: fully connected layer on a flat input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import HlsContext, Shape, ShapeError, WeightedOp, requant_args

if TYPE_CHECKING:
    from ..graph import Domain, Node


class Linear(WeightedOp):
    """Weights (Cout, Cin), requant, act relu|none."""

    name = "linear"
    fields = ("out_channels", "act")

    def out_shape(self, node: Node, ins: Sequence[Shape]) -> Shape:
        if len(ins[0]) != 1:
            raise ShapeError("inputs", f"linear needs a flat input, got {ins[0]} (add a flatten)")
        if node.out_channels < 1:
            raise ShapeError("out_channels", "must be >= 1")
        return (node.out_channels,)

    def fan_in(self, node: Node, in_shape: Shape) -> int:
        return in_shape[0]

    def weight_shape(self, node: Node, in_shape: Shape) -> Shape:
        return (node.out_channels, in_shape[0])

    def accumulate(self, node: Node, xs: Sequence[np.ndarray], src: Domain, bits: int, w: np.ndarray | None,
                   acc_bound: int) -> np.ndarray:
        from ..sim import ops as kernels

        assert w is not None
        return kernels.linear(xs[0], w, acc_bound, src.kind == "bipolar" and bits == 1)

    def torch_apply(self, node: Node, x: Any, w: Any, bits: int | None, bipolar_input: bool) -> Any:
        import torch.nn.functional as F

        return F.linear(x, w)

    def hls_config(self, node: Node, ctx: HlsContext) -> list[str]:
        return [f"    static const unsigned out_c = {ctx.out_shape[0]};", *self.hls_dot_config(node, ctx)]

    def hls_call(self, node: Node, ctx: HlsContext) -> str:
        return (f"wb::linear<{node.name}_config>({node.inputs[0]}_buf, {node.name}_buf, {ctx.weights}, "
                f"{requant_args(node)});")
