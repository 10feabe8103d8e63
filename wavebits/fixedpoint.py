"""Fixed-point scales made of a few signed power-of-two terms, applied by shifts and adds.

A scale with ``frac_bits`` fractional bits is stored as terms ``(sign, shift)``; its value is
``sum(sign * 2**shift) / 2**frac_bits``. Multiplying an integer ``x`` by it in hardware form is
``sum(sign * (x << shift))``, which equals ``x * scale_int(terms)`` exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Term = tuple[int, int]
MAX_TERM_SHIFT = 30


def scale_int(terms: Sequence[Term]) -> int:
    """The integer ``scale * 2**frac_bits`` that ``terms`` encode."""
    return sum(sign << shift for sign, shift in terms)


def shift_add(x: np.ndarray, terms: Sequence[Term]) -> np.ndarray:
    """Scale integers ``x`` by shift-add: ``sum(sign * (x << shift))``."""
    acc = np.zeros_like(x)
    for sign, shift in terms:
        acc = acc + (x << shift) if sign > 0 else acc - (x << shift)
    return acc


def to_terms(value: float, frac_bits: int, max_terms: int) -> tuple[Term, ...]:
    """Nearest signed power-of-two form of ``value`` with ``frac_bits`` and at most ``max_terms``.

    The value is first rounded to the fixed-point grid, then written in canonical signed digits
    (CSD, no two adjacent non-zero digits); if that needs more than ``max_terms`` digits the
    least significant ones are dropped after re-rounding, so the result is the best greedy fit.
    """
    if not math.isfinite(value):
        raise ValueError(f"scale must be finite, got {value}")
    target = round(value * (1 << frac_bits))
    terms: list[Term] = []
    residual = target
    while residual != 0 and len(terms) < max_terms:
        mag = abs(residual)
        shift = mag.bit_length() - 1
        # pick the nearer of 2**shift and 2**(shift+1) (the CSD choice)
        if mag - (1 << shift) > (1 << (shift + 1)) - mag:
            shift += 1
        if shift > MAX_TERM_SHIFT:
            raise ValueError(f"scale {value} is too large for {frac_bits} fractional bits")
        sign = 1 if residual > 0 else -1
        terms.append((sign, shift))
        residual -= sign << shift
    return tuple(terms)
