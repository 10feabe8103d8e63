"""Rebuild a width's integer weights from the stored wavelet components.

``reconstruct`` is the hardware form and the definition: each component is scaled by shift-add
(``fixedpoint.shift_add``), the four are combined by the Haar butterfly (``wavelet.haar_inverse``)
and the result is quantized to the width by a rounding shift and a clamp
(``intmath.quantize_weight``). With components of ``F`` fractional bits and scales of ``S``, the
butterfly output holds twice the weight with ``F + S`` fractional bits, so a weight step of
``2**e`` is the shift ``F + S + 1 + e``.

``reconstruct_fast`` is the software hot swap: the same integers, computed with one multiply per
component (equal to the shift-add, see ``fixedpoint``) in cache-sized chunks. Tests hold the two
equal for every width.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .fixedpoint import Term, scale_int, shift_add
from .intmath import quantize_weight, weight_limit
from .wavelet import COMPONENTS, haar_inverse


@dataclass(frozen=True)
class WeightFormat:
    """Fixed-point formats of one layer's stored components and scales."""

    comp_bits: int  # signed width of each stored component
    comp_frac_bits: int  # F: fractional bits of the components
    scale_frac_bits: int  # S: fractional bits of the scales
    max_terms: int  # signed power-of-two terms per scale

    @property
    def comp_limit(self) -> int:
        return (1 << (self.comp_bits - 1)) - 1

    def step_shift(self, step_exp: int) -> int:
        """Quantization shift for a weight step of ``2**step_exp``."""
        return self.comp_frac_bits + self.scale_frac_bits + 1 + step_exp


def _crop(m: np.ndarray, weight_shape: Sequence[int]) -> np.ndarray:
    rows, cols = weight_shape[0], math.prod(weight_shape[1:])
    return m[:rows, :cols].reshape(weight_shape)


def reconstruct(
    components: Mapping[str, np.ndarray],
    scales: Mapping[str, Sequence[Term]],
    shift: int,
    bits: int,
    weight_shape: Sequence[int],
) -> np.ndarray:
    """Hardware-form reconstruction of the ``bits``-wide integer weights (int8, ``weight_shape``)."""
    scaled = [shift_add(components[k].astype(np.int64), scales[k]) for k in COMPONENTS]
    return _crop(quantize_weight(haar_inverse(*scaled), shift, bits), weight_shape)


def reconstruct_bound(comp_bits: int, scales: Mapping[str, Sequence[Term]]) -> int:
    """Largest |butterfly output| for any components of ``comp_bits`` (before rounding)."""
    comp_max = (1 << (comp_bits - 1)) - 1
    return sum(comp_max * abs(scale_int(scales[k])) for k in COMPONENTS)


def reconstruct_fast(
    components: Mapping[str, np.ndarray],
    scales: Mapping[str, Sequence[Term]],
    shift: int,
    bits: int,
    weight_shape: Sequence[int],
    comp_bits: int = 16,
    chunk: int = 1 << 16,
) -> np.ndarray:
    """Same integers as ``reconstruct``, fused and chunked so a switch costs a few passes in cache."""
    rows2, cols2 = components["LL"].shape
    mults = [scale_int(scales[k]) for k in COMPONENTS]
    rounding = (1 << (shift - 1)) if (bits > 1 and shift > 0) else 0
    bound = reconstruct_bound(comp_bits, scales) + rounding
    dtype = np.int32 if bound < (1 << 31) else np.int64
    sign_shift = np.iinfo(dtype).bits - 1
    lim = weight_limit(bits)

    out = np.empty((rows2, 2, cols2, 2), dtype=np.int8)
    # (row parity, column pair) viewed as one int16: the two int8 weights of a column pair
    out16 = out.view(np.int16).reshape(rows2, 2, cols2)
    lo_hi = (0, 1) if sys.byteorder == "little" else (1, 0)
    step = max(1, chunk // max(cols2, 1))
    rows = min(step, rows2)
    planes = np.empty((4, rows, cols2), dtype=dtype)  # butterfly outputs, one plane per block position
    p = np.empty((4, rows, cols2), dtype=dtype)  # scaled components
    for r0 in range(0, rows2, step):
        r1 = min(rows2, r0 + step)
        m = r1 - r0
        q, t = planes[:, :m], p[:, :m]
        for i, (k, mult) in enumerate(zip(COMPONENTS, mults, strict=True)):
            np.multiply(components[k][r0:r1], mult, out=t[i], dtype=dtype)
        if rounding:
            t[0] += rounding
        np.add(t[0], t[1], out=q[0])  # s1
        np.subtract(t[0], t[1], out=q[1])  # d1
        np.add(t[2], t[3], out=t[0])  # s2
        np.subtract(t[2], t[3], out=t[1])  # d2
        np.subtract(q[0], t[0], out=q[2])  # s1 - s2: block position (1, 0)
        np.subtract(q[1], t[1], out=q[3])  # d1 - d2: (1, 1)
        q[0] += t[0]  # s1 + s2: (0, 0)
        q[1] += t[1]  # d1 + d2: (0, 1)
        if bits == 1:
            np.right_shift(q, sign_shift, out=q)  # 0 where >= 0, -1 where negative
            np.bitwise_or(q, 1, out=q)  # +1 / -1
        else:
            if shift:
                np.right_shift(q, shift, out=q)
            np.clip(q, -lim, lim, out=q)
        for dr in (0, 1):
            lo, hi = q[2 * dr + lo_hi[0]], q[2 * dr + lo_hi[1]]
            np.bitwise_and(lo, 0xFF, out=lo)
            np.left_shift(hi, 8, out=hi)
            np.bitwise_or(lo, hi, out=lo)
            out16[r0:r1, dr] = lo  # keeps the low 16 bits: the two bytes
    return _crop(out.reshape(2 * rows2, 2 * cols2), weight_shape)
