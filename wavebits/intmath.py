"""The integer contract: rounding, saturation, weight quantization and requantization.

This module is the one Python definition of the arithmetic every stage (golden model, HLS, RTL)
must reproduce bit for bit. All functions work on numpy integer arrays (int64 unless noted) and
never touch floats.

Rounding
    ``rshift_round(v, s)`` divides by ``2**s`` rounding half up, i.e. towards +inf on ties:
    ``(v + 2**(s-1)) >> s`` with an arithmetic (flooring) shift; ``s == 0`` leaves ``v`` as is.
Saturation
    ``np.clip`` to the inclusive range of the destination format, after rounding.
Weights at width b
    b >= 2: signed, narrow range ``[-(2**(b-1) - 1), 2**(b-1) - 1]`` (symmetric, as Brevitas'
    ``narrow_range=True``). b == 1: bipolar, ``+1`` where the reconstructed value is >= 0, else -1.
Activations at width b
    b >= 2: unsigned ``[0, 2**b - 1]`` after ReLU. b == 1: bipolar ``+1 / -1``; a bipolar value is
    stored as the bit ``(v + 1) // 2`` so that a dot product is ``2 * popcount(XNOR) - N``.
    Zero padding pads unsigned and signed tensors with 0 and bipolar tensors with -1 (bit 0).
Requantization (BN folded) of an accumulator ``acc`` for output channel c
    ``v = acc * mul[c] + bias[c]``;
    act ``relu``, b >= 2: ``clip(rshift_round(v, shift), 0, 2**b - 1)``;
    act ``relu``, b == 1: ``+1 if v >= 0 else -1`` (a threshold, no rounding);
    act ``none``: ``rshift_round(v, shift)``, unclipped (logits and residual branches).
"""

from __future__ import annotations

import numpy as np

MAX_SHIFT = 62
INT64_SAFE = 1 << 62  # a bank's integers (requant terms, bounds) stay inside +-2**62: headroom for int64 sums


def rshift_round(v: np.ndarray, shift: int) -> np.ndarray:
    """Divide by ``2**shift`` rounding half up (arithmetic shift; exact for every int64 input)."""
    if shift < 0 or shift > MAX_SHIFT:
        raise ValueError(f"shift must be in 0..{MAX_SHIFT}, got {shift}")
    if shift == 0:
        return v
    return (v + (1 << (shift - 1))) >> shift


def weight_limit(bits: int) -> int:
    """Largest weight magnitude at ``bits`` (narrow signed range; 1 at one bit)."""
    return 1 if bits == 1 else (1 << (bits - 1)) - 1


def activation_limit(bits: int) -> int:
    """Largest activation magnitude at ``bits`` (unsigned range; 1 for bipolar at one bit)."""
    return 1 if bits == 1 else (1 << bits) - 1


def quantize_weight(r: np.ndarray, shift: int, bits: int) -> np.ndarray:
    """Quantize reconstructed fixed-point weights ``r`` to ``bits``: shift, round, clamp (or sign)."""
    if bits == 1:
        return np.where(r >= 0, 1, -1).astype(np.int8)
    lim = weight_limit(bits)
    return np.clip(rshift_round(r, shift), -lim, lim).astype(np.int8)


def channel_view(per_channel: np.ndarray, ndim: int) -> np.ndarray:
    """Reshape a (C,) vector to broadcast along axis 1 of an ``ndim``-dimensional batch."""
    return per_channel.reshape((1, -1) + (1,) * (ndim - 2))


def requantize(
    acc: np.ndarray, mul: np.ndarray, bias: np.ndarray, shift: int, act: str, bits: int
) -> np.ndarray:
    """Requantize accumulators ``acc`` (channel axis 1) with per-channel ``mul``/``bias``."""
    v = acc.astype(np.int64) * channel_view(mul, acc.ndim) + channel_view(bias, acc.ndim)
    return requant_output(v, shift, act, bits)


def requant_output(v: np.ndarray, shift: int, act: str, bits: int) -> np.ndarray:
    """The output stage of requantization, from the scaled value ``v = acc * mul + bias``."""
    if act == "none":
        return rshift_round(v, shift)
    if act != "relu":
        raise ValueError(f"unknown activation {act!r}")
    if bits == 1:
        return np.where(v >= 0, 1, -1).astype(np.int64)
    return np.clip(rshift_round(v, shift), 0, activation_limit(bits))


def signed_bits(bound: int) -> int:
    """Bits of a two's-complement integer that holds every value in ``[-bound, bound]``."""
    return max(int(bound).bit_length() + 1, 1)

