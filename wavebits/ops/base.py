"""The op interface: everything specific to one layer kind lives in one ``Op`` subclass.

An op knows its bank fields, its shape inference, its fan-in and accumulator bound, its integer
golden kernel, how float parameters become its requantization, its fake-quantized torch form
and its HLS call. The graph (``wavebits.graph``), the bank reader/writer and builder, the golden
model, training and HLS code generation ask the op and never branch on its name, so a new layer
kind is one file here plus its hardware emitters (``codegen/rtl.py`` lists what the RTL supports).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import BuildError
from ..intmath import requant_output

if TYPE_CHECKING:
    from ..bank.builder import FloatLayer
    from ..bank.model import Requant
    from ..graph import Domain, Node

Shape = tuple[int, ...]


class ShapeError(ValueError):
    """A node that does not fit its inputs; ``key`` is the node attribute at fault."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


@dataclass(frozen=True)
class HlsContext:
    """What an op's HLS emitter needs to know about the rest of the project."""

    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    bipolar_in: bool
    acc_bits: int
    weights: str  # C expression of the layer's active weights ("" for unweighted ops)


class Op(ABC):
    """One layer kind. Subclasses set the class attributes and override what applies."""

    name: ClassVar[str]
    weighted: ClassVar[bool] = False  # has wavelet components and per-width banks
    requantizes: ClassVar[bool] = False  # has per-width requant (mul, bias, shift) and an act
    arity: ClassVar[int] = 1
    fields: ClassVar[tuple[str, ...]] = ()  # ``Node`` attributes the bank stores (besides name/op/inputs)
    mul_rows: ClassVar[int] = 1  # requant multiplier rows (one per input for a scaled sum)
    learns_step: ClassVar[bool] = False  # a sum of scaled inputs whose output step is learned (own quantizer)

    # ------------------------------------------------------------------ graph

    @abstractmethod
    def out_shape(self, node: Node, ins: Sequence[Shape]) -> Shape:
        """Output shape (without batch); ``ShapeError`` naming the attribute at fault."""

    def check_act(self, node: Node, ins: Sequence[Shape]) -> None:
        """Requantizing ops take act ``relu`` or ``none``."""
        if self.requantizes and node.act not in ("relu", "none"):
            raise ShapeError("act", f"expected 'relu' or 'none', got {node.act!r}")

    def fan_in(self, node: Node, in_shape: Shape) -> int:
        """Products (or terms) summed into one accumulator."""
        return 1

    def weight_shape(self, node: Node, in_shape: Shape) -> Shape:
        raise TypeError(f"{self.name} has no weights")

    def acc_bound(self, node: Node, in_shapes: Sequence[Shape], srcs: Sequence[Domain], weight_limit: int) -> int:
        """|accumulator| bound from the formats alone (``weight_limit``: max |w| at the width)."""
        return 0

    def product_bound(self, acc_bound: int, srcs: Sequence[Domain], mul_sum: int, bias_max: int) -> int:
        """|acc * mul + bias| bound of a requantizing op."""
        return acc_bound * mul_sum + bias_max

    def geometry(self, node: Node) -> str:
        """Kernel/stride text for ``bank inspect``."""
        return ""

    # ------------------------------------------------------------------ golden model

    @abstractmethod
    def accumulate(self, node: Node, xs: Sequence[np.ndarray], src: Domain, bits: int, w: np.ndarray | None,
                   acc_bound: int) -> np.ndarray:
        """Exact accumulators (the output itself for ops that do not requantize).

        ``src`` is the first input's domain (padding value, bipolar or not); ``acc_bound`` picks
        the exact summation path.
        """

    def scaled(self, node: Node, xs: Sequence[np.ndarray], acc: np.ndarray, rq: Requant) -> np.ndarray:
        """``v = acc * mul + bias`` per channel, before the output stage."""
        from ..intmath import channel_view

        return acc.astype(np.int64) * channel_view(rq.mul, acc.ndim) + channel_view(rq.bias, acc.ndim)

    def requant_out(self, node: Node, v: np.ndarray, rq: Requant, bits: int) -> np.ndarray:
        return requant_output(v, rq.shift, node.act, bits)

    # ------------------------------------------------------------------ float parameters -> bank

    def float_requant(self, node: Node, bits: int, in_shapes: Sequence[Shape], in_scales: Sequence[float],
                      channels: int, layer: FloatLayer | None, out_scale: float | None,
                      mul_bits: int) -> tuple[Requant | None, float]:
        """The width's requant from float scales, and the output's float step.

        Pass-through ops keep their input's step. ``out_scale`` is the output step of a
        requantizing op without weights (from training or calibration).
        """
        return None, in_scales[0]

    # ------------------------------------------------------------------ training (torch)

    def torch_forward(self, node: Node, xs: Sequence[Any], bits: int | None, net: Any) -> Any:
        """Fake-quantized float forward of an unweighted op (``net``: the MultiScaleNet).

        Weighted ops run inside ``training.model.WeightedLayer`` through ``torch_apply`` instead.
        """
        raise TypeError(f"{self.name} is weighted: MultiScaleNet runs it through its WeightedLayer")

    # ------------------------------------------------------------------ HLS

    def hls_config(self, node: Node, ctx: HlsContext) -> list[str]:
        """Lines of the op's ``<name>_config`` struct beyond ``in_t``/``out_t``."""
        return []

    @abstractmethod
    def hls_call(self, node: Node, ctx: HlsContext) -> str:
        """The C++ statement that runs the node (buffers ``<name>_buf``; width index ``wi``)."""


def requant_args(node: Node) -> str:
    """The HLS arguments of a per-channel requant at width index ``wi``."""
    return f"{node.name}_mul[wi], {node.name}_bias[wi], {node.name}_rshift[wi], bits"


def need_channels(node: Node, ins: Sequence[Shape], what: str) -> Shape:
    src = ins[0]
    if len(src) != 3:
        raise ShapeError("inputs", f"{what} needs a (C, H, W) input, got {src}")
    return src


def window_out(node: Node, src: Shape) -> tuple[int, int]:
    """Output height and width of a kernel/stride/padding window over ``src``."""
    if min(node.kernel) < 1 or min(node.stride) < 1 or min(node.padding) < 0:
        raise ShapeError("kernel", "kernel and stride must be >= 1, padding >= 0")
    _, h, w = src
    hh = (h + 2 * node.padding[0] - node.kernel[0]) // node.stride[0] + 1
    ww = (w + 2 * node.padding[1] - node.kernel[1]) // node.stride[1] + 1
    if hh < 1 or ww < 1:
        raise ShapeError("kernel", f"kernel {node.kernel} does not fit input {src}")
    return hh, ww


def window_config(ins: Shape, outs: Shape, kernel: tuple[int, int], stride: tuple[int, int]) -> list[str]:
    """HLS config lines of a window over a (C, H, W) input."""
    return [f"    static const unsigned in_c = {ins[0]}, in_h = {ins[1]}, in_w = {ins[2]};",
            f"    static const unsigned out_c = {outs[0]}, out_h = {outs[1]}, out_w = {outs[2]};",
            f"    static const unsigned k_h = {kernel[0]}, k_w = {kernel[1]}, s_h = {stride[0]}, s_w = {stride[1]};"]


class WeightedOp(Op):
    """Conv and linear: wavelet-coded weights, exact dot products, BN-folded requant."""

    weighted = True
    requantizes = True

    def acc_bound(self, node: Node, in_shapes: Sequence[Shape], srcs: Sequence[Domain], weight_limit: int) -> int:
        return self.fan_in(node, in_shapes[0]) * weight_limit * srcs[0].max_abs

    def float_requant(self, node: Node, bits: int, in_shapes: Sequence[Shape], in_scales: Sequence[float],
                      channels: int, layer: FloatLayer | None, out_scale: float | None,
                      mul_bits: int) -> tuple[Requant | None, float]:
        from ..bank.builder import weighted_requant

        if layer is None:
            raise BuildError(f"layer {node.name!r}: no float parameters given")
        rq = weighted_requant(node.name, node, layer, bits, in_scales[0], channels, mul_bits)
        return rq, float(layer.act_scale[bits])

    @abstractmethod
    def torch_apply(self, node: Node, x: Any, w: Any, bits: int | None, bipolar_input: bool) -> Any:
        """The float product of input ``x`` and (fake-quantized) weights ``w`` (before BN)."""

    def hls_dot_config(self, node: Node, ctx: HlsContext) -> list[str]:
        """The config lines every weighted kernel reads: fan-in, bipolar input, accumulator, act."""
        return [f"    static const unsigned fan_in = {self.fan_in(node, ctx.in_shapes[0])};",
                f"    static const bool bipolar_in = {'true' if ctx.bipolar_in else 'false'};",
                f"    typedef ap_int<{ctx.acc_bits}> acc_t;",
                f"    static const bool relu = {'true' if node.act == 'relu' else 'false'};"]
