"""In-memory form of a weight bank: the graph plus per-layer, per-width integer parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import WidthError
from ..fixedpoint import Term
from ..graph import LayerBounds, Node, derive_bounds, infer_shapes, weight_shape
from ..reconstruct import WeightFormat, reconstruct

FORMAT = "wavebits-bank"
VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1: unsigned 8-bit input at scale 1/255, no gap op, no groups
SUFFIX = ".wbank"


@dataclass
class LayerWeights:
    """A weighted layer's wavelet components, per-width scales and shifts, and the banks proper."""

    fmt: WeightFormat
    components: dict[str, np.ndarray]  # LL/LH/HL/HH, int16, (padded rows / 2, padded cols / 2)
    scales: dict[int, dict[str, tuple[Term, ...]]]  # width -> component -> shift-add terms
    shift: dict[int, int]  # width -> quantization shift
    banks: dict[int, np.ndarray]  # width -> int8 weights, the layer's weight shape

    def reconstruct(self, bits: int, shape: tuple[int, ...]) -> np.ndarray:
        """The hardware-form reconstruction of width ``bits`` (must equal ``banks[bits]``)."""
        return reconstruct(self.components, self.scales[bits], self.shift[bits], bits, shape)


@dataclass
class Requant:
    """Per-width requantization of one layer: ``v = acc * mul[c] + bias[c]``, then shift/act.

    ``mul`` has shape (C,), or (rows, C) for an op that scales several inputs (a residual add:
    one row per input, see ``Op.mul_rows``).
    """

    mul: np.ndarray
    bias: np.ndarray
    shift: int


@dataclass
class Bank:
    """One trained (or synthesized) model, runnable at every width in ``widths``."""

    name: str
    widths: tuple[int, ...]
    input_shape: tuple[int, ...]
    classes: int
    nodes: list[Node]
    weights: dict[str, LayerWeights]
    requant: dict[str, dict[int, Requant]]
    input_bits: int = 8
    meta: dict[str, Any] = field(default_factory=dict)
    input_signed: bool = False  # two's complement input (int8 features) instead of unsigned (uint8 images)
    input_scale: float = 1.0 / 255.0  # float value of one input step: x_float = x_int * input_scale

    @property
    def input_range(self) -> tuple[int, int]:
        """The inclusive integer range of a network input."""
        if self.input_signed:
            return -(1 << (self.input_bits - 1)), (1 << (self.input_bits - 1)) - 1
        return 0, (1 << self.input_bits) - 1

    @cached_property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Output shape of every node (and of ``"input"``)."""
        return infer_shapes(self.nodes, self.input_shape)

    @property
    def output(self) -> str:
        return self.nodes[-1].name

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def weight_shape(self, name: str) -> tuple[int, ...]:
        node = self.node(name)
        return weight_shape(node, self.shapes[node.inputs[0]])

    def check_width(self, bits: int) -> None:
        """Raise WidthError unless the bank was trained for ``bits``."""
        if bits not in self.widths:
            have = ",".join(str(b) for b in self.widths)
            raise WidthError(f"bank {self.name!r} has no width {bits} (trained widths: {have})")

    def bounds(self, bits: int) -> dict[str, LayerBounds]:
        """Worst-case magnitudes of every node at ``bits``."""
        rq = {}
        for name, per_width in self.requant.items():
            r = per_width[bits]
            mul_sum = int(np.abs(r.mul).reshape(-1, r.mul.shape[-1]).sum(axis=0).max())
            rq[name] = (mul_sum, int(np.abs(r.bias).max(initial=0)), r.shift)
        return derive_bounds(self.nodes, self.shapes, bits, self.input_bits, rq, self.input_signed)

    def weight_count(self) -> int:
        return sum(int(np.prod(self.weight_shape(n))) for n in self.weights)
