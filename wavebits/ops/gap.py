"""``gap``: global average pooling, (C, H, W) -> (C, 1, 1), the mean of each channel's plane."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .avgpool import AvgPool
from .base import Shape, need_channels

if TYPE_CHECKING:
    from ..graph import Node


class GlobalAvgPool(AvgPool):
    """Average pooling whose window is the whole input plane (``nn.AdaptiveAvgPool2d(1)``)."""

    name = "gap"
    fields = ("act",)

    def window(self, node: Node, in_shape: Shape) -> tuple[tuple[int, int], tuple[int, int]]:
        plane = (int(in_shape[1]), int(in_shape[2]))
        return plane, plane

    def out_shape(self, node: Node, ins: Sequence[Shape]) -> Shape:
        return (need_channels(node, ins, self.name)[0], 1, 1)

    def geometry(self, node: Node) -> str:
        return "global"
