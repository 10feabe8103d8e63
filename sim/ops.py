"""Integer kernels of the golden model: exact accumulation for every layer kind.

All inputs are integer arrays with a batch axis first. Products are summed exactly: either in
float64 when the layer's bound is below 2**53 (every partial sum is then an exactly representable
integer, and BLAS does the work) or in int64 otherwise. At one bit, when both activations and
weights are bipolar, the dot product is computed as the hardware does: ``2 * popcount(XNOR) - N``.
"""

from __future__ import annotations

import numpy as np

EXACT_FLOAT = 1 << 53
_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
            padding: tuple[int, int] = (0, 0), pad_value: int = 0) -> np.ndarray:
    """(N, C, H, W) -> (N, C, Ho, Wo, kh, kw) sliding windows (a view where no padding is needed)."""
    if padding != (0, 0):
        ph, pw = padding
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    v = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=(2, 3))
    return v[:, :, :: stride[0], :: stride[1]]


def im2col(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
           padding: tuple[int, int], pad_value: int) -> tuple[np.ndarray, int, int]:
    """(N, C, H, W) -> (N*Ho*Wo, C*kh*kw) patch matrix in the weight matrix's column order."""
    v = windows(x, kernel, stride, padding, pad_value)
    n, c, ho, wo, kh, kw = v.shape
    return v.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw), ho, wo


def matmul_exact(cols: np.ndarray, wmat: np.ndarray, bound: int) -> np.ndarray:
    """``cols @ wmat.T`` in int64, exact for any result with |value| <= ``bound``."""
    if bound < EXACT_FLOAT:
        return (cols.astype(np.float64) @ wmat.T.astype(np.float64)).astype(np.int64)
    return cols.astype(np.int64) @ wmat.T.astype(np.int64)


def xnor_popcount(cols: np.ndarray, wmat: np.ndarray) -> np.ndarray:
    """Bipolar dot products ``2 * popcount(XNOR(x, w)) - N`` on bit-packed operands.

    ``cols`` (P, N) and ``wmat`` (Cout, N) hold +1/-1; they are packed to bits (1 for +1). Pad
    bits are zero in both operands, so they never count as mismatches.
    """
    k = cols.shape[1]
    xb = np.packbits(cols > 0, axis=1)
    wb = np.packbits(wmat > 0, axis=1)
    mismatches = _POPCOUNT8[xb[:, None, :] ^ wb[None, :, :]].sum(axis=2)
    return 2 * (k - mismatches) - k


def dot(cols: np.ndarray, wmat: np.ndarray, bound: int, bipolar: bool) -> np.ndarray:
    """Exact ``cols @ wmat.T``, by XNOR-popcount when both operands are bipolar."""
    if bipolar:
        return xnor_popcount(cols, wmat)
    return matmul_exact(cols, wmat, bound)


def conv2d(x: np.ndarray, w: np.ndarray, stride: tuple[int, int], padding: tuple[int, int],
           pad_value: int, bound: int, bipolar: bool) -> np.ndarray:
    """Integer convolution accumulators, (N, Cin, H, W) x (Cout, Cin, kh, kw) -> (N, Cout, Ho, Wo)."""
    n = x.shape[0]
    cols, ho, wo = im2col(x, w.shape[2:], stride, padding, pad_value)
    acc = dot(cols, w.reshape(w.shape[0], -1), bound, bipolar)
    return acc.reshape(n, ho, wo, -1).transpose(0, 3, 1, 2)


def linear(x: np.ndarray, w: np.ndarray, bound: int, bipolar: bool) -> np.ndarray:
    """Integer fully-connected accumulators, (N, Cin) x (Cout, Cin) -> (N, Cout)."""
    return dot(x, w, bound, bipolar)


def maxpool(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    return windows(x, kernel, stride).max(axis=(4, 5))


def sumpool(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Window sums, the accumulator of an average pool (requantized to the mean afterwards)."""
    return windows(x.astype(np.int64), kernel, stride).sum(axis=(4, 5))
