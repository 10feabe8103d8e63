"""Layer kinds of the graph, one class each (see ``base.Op``); ``OPS`` maps a bank's op name to it.

To add a layer kind: subclass ``Op`` in a new module here, register it below, and teach the
hardware emitters (the HLS kernel in ``hw/hls/wavebits/wb_layers.h``; ``codegen/rtl.py`` refuses
what the RTL engine does not run).
"""

from __future__ import annotations

from .add import Add
from .avgpool import AvgPool
from .base import HlsContext, Op, ShapeError, WeightedOp
from .conv2d import Conv2d
from .flatten import Flatten
from .gap import GlobalAvgPool
from .linear import Linear
from .maxpool import MaxPool

OPS: dict[str, Op] = {op.name: op for op in (Conv2d(), Linear(), MaxPool(), AvgPool(), GlobalAvgPool(), Flatten(),
                                             Add())}

__all__ = ["OPS", "HlsContext", "Op", "ShapeError", "WeightedOp"]
