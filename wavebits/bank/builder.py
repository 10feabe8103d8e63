"""Turn float parameters (as training produces them) into a bank in hardware-exact integer form.

numpy only. This is the one place where floats become contract integers:

* components: the orthonormal Haar components of the (even-padded) weight matrix, rounded to
  ``comp_bits``-wide fixed point with the most fractional bits that fit the layer's largest one;
* scales: each width's (alpha, beta, gamma, delta) as at most ``max_terms`` signed powers of two
  with ``scale_frac_bits`` fractional bits;
* weights: each width's integers, *reconstructed* from those integer forms (``reconstruct``),
  never quantized from the float weights directly, so the banks equal what hardware rebuilds;
* requant: BN folded into per-channel multiplier and bias with a shared shift, rounded half up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import BuildError
from ..fixedpoint import to_terms
from ..graph import INPUT, Node, infer_shapes, weight_shape
from ..intmath import INT64_SAFE, MAX_SHIFT, activation_limit
from ..reconstruct import WeightFormat, reconstruct
from ..wavelet import COMPONENTS, haar_forward, pad_even, weight_matrix
from .model import Bank, LayerWeights, Requant

MUL_BITS = 24  # default significant bits of requant multipliers (one multiply per output, not per MAC)


@dataclass(frozen=True)
class BankFormat:
    """Fixed-point choices for a whole bank."""

    comp_bits: int = 10
    scale_frac_bits: int = 8
    max_terms: int = 3
    mul_bits: int = MUL_BITS  # deep nets with fine-step residual branches need more (ResNet-8: 32)


DEFAULT_FORMAT = BankFormat()


@dataclass
class BatchNorm:
    """Per-channel batch normalization parameters of one width."""

    gamma: np.ndarray
    beta: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    eps: float = 1e-5

    def fold(self) -> tuple[np.ndarray, np.ndarray]:
        """``(k, h)`` with ``bn(z) = k * z + h``."""
        k = self.gamma / np.sqrt(self.var + self.eps)
        return k, self.beta - k * self.mean


@dataclass
class FloatLayer:
    """Float parameters of one weighted layer.

    ``comp_scales[b]`` is (alpha, beta, gamma, delta) for LL/LH/HL/HH at width b; ``step[b]`` the
    weight quantizer's step, a power of two; ``bn[b]`` the width's BatchNorm (None: identity);
    ``act_scale[b]`` the output activation step (at 1 bit with act relu: the bipolar magnitude).
    """

    weight: np.ndarray
    comp_scales: Mapping[int, Sequence[float]]
    step: Mapping[int, float]
    act_scale: Mapping[int, float]
    bias: np.ndarray | None = None
    bn: Mapping[int, BatchNorm | None] = field(default_factory=dict)


def _finite(where: str, value: Any) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    bad = np.argwhere(~np.isfinite(a))
    if len(bad):
        idx = tuple(int(i) for i in bad[0])
        raise BuildError(f"{where}: {a[idx] if a.ndim else a} at index {idx} is not finite")
    return a


def step_exponent(where: str, step: float) -> int:
    """``e`` with ``step == 2**e``; a BuildError if the step is no positive power of two."""
    s = float(_finite(where, step))
    mant, exp = math.frexp(s)
    if s <= 0 or mant != 0.5:
        raise BuildError(f"{where}: weight step {s} is not a positive power of two")
    return exp - 1


def component_frac_bits(peak: float, comp_bits: int) -> int:
    """Most fractional bits (0..24) with which a component of magnitude ``peak`` fits ``comp_bits``."""
    limit = (1 << (comp_bits - 1)) - 1
    return 24 if peak == 0 else min(24, max(0, math.floor(math.log2(limit / peak))))


def build_weights(name: str, layer: FloatLayer, widths: Sequence[int], fmt: BankFormat) -> LayerWeights:
    """Components, scales, shifts and the reconstructed integer banks of one layer."""
    w = _finite(f"layer {name!r}: weight", layer.weight)
    comps_f = [c / 2.0 for c in haar_forward(pad_even(weight_matrix(w)))]
    limit = (1 << (fmt.comp_bits - 1)) - 1
    frac = component_frac_bits(max(float(np.abs(c).max()) for c in comps_f), fmt.comp_bits)
    components = {
        k: np.clip(np.floor(c * (1 << frac) + 0.5), -limit, limit).astype(np.int16)
        for k, c in zip(COMPONENTS, comps_f, strict=True)
    }
    wfmt = WeightFormat(fmt.comp_bits, frac, fmt.scale_frac_bits, fmt.max_terms)
    scales, shifts, banks = {}, {}, {}
    for b in widths:
        if b not in layer.comp_scales or b not in layer.step:
            raise BuildError(f"layer {name!r}: no component scales or step for width {b}")
        values = _finite(f"layer {name!r}: comp_scales[{b}]", layer.comp_scales[b])
        if values.shape != (4,):
            raise BuildError(f"layer {name!r}: comp_scales[{b}] needs 4 values (LL, LH, HL, HH)")
        try:
            scales[b] = {k: to_terms(float(v), fmt.scale_frac_bits, fmt.max_terms)
                         for k, v in zip(COMPONENTS, values, strict=True)}
        except ValueError as e:
            raise BuildError(f"layer {name!r}: comp_scales[{b}]: {e}") from None
        shift = wfmt.step_shift(step_exponent(f"layer {name!r}: step[{b}]", layer.step[b]))
        if not 0 <= shift <= MAX_SHIFT:
            raise BuildError(f"layer {name!r}: step[{b}] = {layer.step[b]} needs quantization shift "
                             f"{shift}, outside 0..{MAX_SHIFT}")
        shifts[b] = shift
        banks[b] = reconstruct(components, scales[b], shift, b, w.shape)
    return LayerWeights(fmt=wfmt, components=components, scales=scales, shift=shifts, banks=banks)


def fixed_requant(where: str, mul: np.ndarray, bias: np.ndarray, mul_bits: int = MUL_BITS) -> Requant:
    """Integer ``(mul, bias, shift)`` for ``v / 2**shift ~= acc * mul + bias`` (floats in).

    The shift gives the largest multiplier ``mul_bits`` significant bits; both are rounded half up.
    """
    mul = _finite(f"{where}: multiplier", mul)
    bias = _finite(f"{where}: bias", bias)
    peak = float(np.abs(mul).max(initial=0.0))
    shift = 0 if peak == 0 else mul_bits - 1 - math.floor(math.log2(peak))
    shift = min(max(shift, 0), MAX_SHIFT)
    scale = float(1 << shift)
    terms = {}
    for name, value in (("multiplier", mul), ("bias", bias)):
        fixed = np.floor(value * scale + 0.5)
        outside = np.argwhere(np.abs(fixed) >= INT64_SAFE)
        if len(outside):
            idx = tuple(int(i) for i in outside[0])
            raise BuildError(f"{where}: {name} {value[idx]:.6g} at channel {idx[-1]} needs more than 62 bits "
                             f"at shift {shift} (a channel whose statistics have no variance?)")
        terms[name] = fixed.astype(np.int64)
    return Requant(mul=terms["multiplier"], bias=terms["bias"], shift=shift)


def weighted_requant(name: str, node: Node, layer: FloatLayer, bits: int, in_scale: float,
                     channels: int, mul_bits: int = MUL_BITS) -> Requant:
    """Requant of a conv/linear layer at ``bits``: BN and bias folded, divided by the output step."""
    bn = layer.bn.get(bits)
    k, h = bn.fold() if bn is not None else (np.ones(channels), np.zeros(channels))
    bias = layer.bias if layer.bias is not None else np.zeros(channels)
    out_scale = 1.0 if (node.act == "relu" and bits == 1) else float(layer.act_scale[bits])
    if out_scale <= 0:
        raise BuildError(f"layer {name!r}: act_scale[{bits}] must be positive, got {out_scale}")
    acc_scale = in_scale * 2.0 ** step_exponent(f"layer {name!r}: step[{bits}]", layer.step[bits])
    return fixed_requant(f"layer {name!r} requant[{bits}]", acc_scale * k / out_scale,
                         (bias * k + h) / out_scale, mul_bits)


def build_bank(
    name: str,
    nodes: list[Node],
    input_shape: tuple[int, ...],
    classes: int,
    widths: Sequence[int],
    input_scale: float,
    layers: Mapping[str, FloatLayer],
    add_scales: Mapping[str, Mapping[int, float]] | None = None,
    fmt: BankFormat = DEFAULT_FORMAT,
    meta: dict[str, Any] | None = None,
    input_signed: bool = False,
) -> Bank:
    """A complete bank from float parameters.

    ``add_scales[node][b]`` is the output step of each requantizing node without weights whose
    step is learned (residual adds); ``input_scale`` is the float value of one input step.
    """
    shapes = infer_shapes(nodes, input_shape)
    add_scales = add_scales or {}
    weights: dict[str, LayerWeights] = {}
    requant: dict[str, dict[int, Requant]] = {}
    for n in nodes:
        if n.weighted:
            if n.name not in layers:
                raise BuildError(f"layer {n.name!r}: no float parameters given")
            want = weight_shape(n, shapes[n.inputs[0]])
            if tuple(np.shape(layers[n.name].weight)) != want:
                raise BuildError(f"layer {n.name!r}: weight shape {np.shape(layers[n.name].weight)} "
                                 f"does not match the graph's {want}")
            weights[n.name] = build_weights(n.name, layers[n.name], widths, fmt)
    if not (math.isfinite(input_scale) and input_scale > 0):
        raise BuildError(f"input scale must be positive and finite, got {input_scale}")
    for b in widths:
        scale = {INPUT: float(input_scale)}
        for n in nodes:
            out_scale = add_scales[n.name].get(b) if n.name in add_scales else None
            rq, scale[n.name] = n.kind.float_requant(
                n, b, [shapes[s] for s in n.inputs], [scale[s] for s in n.inputs], shapes[n.name][0],
                layers.get(n.name), out_scale, fmt.mul_bits)
            if rq is not None:
                requant.setdefault(n.name, {})[b] = rq
    return Bank(name=name, widths=tuple(widths), input_shape=tuple(input_shape), classes=classes,
                nodes=list(nodes), weights=weights, requant=requant, meta=dict(meta or {}),
                input_signed=input_signed, input_scale=float(input_scale))


def relu_scale(y: np.ndarray, bits: int, quantile: float = 0.999) -> float:
    """An output step that maps the ``quantile`` of |y| to the top of the width's range."""
    top = float(np.quantile(np.abs(y), quantile)) if y.size else 1.0
    return max(top, 1e-6) / activation_limit(bits) if bits > 1 else max(float(np.abs(y).mean()), 1e-6)
