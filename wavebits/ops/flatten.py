"""``flatten``: (C, H, W) -> (C*H*W,) in C-major order, as ``torch.flatten(x, 1)``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import HlsContext, Op, Shape

if TYPE_CHECKING:
    from ..graph import Domain, Node


class Flatten(Op):
    """(C, H, W) -> (C*H*W,) in C-major order, as torch.flatten."""

    name = "flatten"

    def out_shape(self, node: Node, ins: Sequence[Shape]) -> Shape:
        return (math.prod(ins[0]),)

    def accumulate(self, node: Node, xs: Sequence[np.ndarray], src: Domain, bits: int, w: np.ndarray | None,
                   acc_bound: int) -> np.ndarray:
        return xs[0].reshape(xs[0].shape[0], -1)

    def torch_forward(self, node: Node, xs: Sequence[Any], bits: int | None, net: Any) -> Any:
        import torch

        return torch.flatten(xs[0], 1)

    def hls_config(self, node: Node, ctx: HlsContext) -> list[str]:
        return [f"    static const unsigned size = {ctx.out_shape[0]};"]

    def hls_call(self, node: Node, ctx: HlsContext) -> str:
        return f"wb::flatten<{node.name}_config>({node.inputs[0]}_buf, {node.name}_buf);"
