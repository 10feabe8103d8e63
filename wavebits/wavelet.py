"""The one-level 2-D Haar transform on a weight matrix, in the form hardware computes it.

One butterfly serves both directions: the 2-D Haar matrix is its own inverse up to a factor 4.
For the 2x2 block ``[[a, b], [c, d]]`` at rows ``2i, 2i+1`` and columns ``2j, 2j+1``::

    LL = a + b + c + d     LH = a - b + c - d     HL = a + b - c - d     HH = a - b - c + d

and applying the same butterfly to ``(LL, LH, HL, HH)`` gives ``(4a, 4b, 4c, 4d)``. The
orthonormal transform used by training is this one divided by 2 in each direction. On integers
everything is exact: adds and subtracts only, no rounding.
"""

from __future__ import annotations

import numpy as np

COMPONENTS: tuple[str, ...] = ("LL", "LH", "HL", "HH")


def butterfly(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray):
    """The 2x2 Haar butterfly: 8 adds/subtracts, returning ``(a+b+c+d, a-b+c-d, a+b-c-d, a-b-c+d)``."""
    s1, d1, s2, d2 = a + b, a - b, c + d, c - d
    return s1 + s2, d1 + d2, s1 - s2, d1 - d2


def pad_even(m: np.ndarray) -> np.ndarray:
    """Zero-pad a 2-D matrix at the bottom/right to even dimensions (numpy or torch)."""
    rows, cols = m.shape
    if isinstance(m, np.ndarray):
        return np.pad(m, ((0, rows % 2), (0, cols % 2)))
    import torch.nn.functional as F  # training differentiates through the same transform

    return F.pad(m, (0, cols % 2, 0, rows % 2))


def _stack(arrays: list, axis: int):
    if isinstance(arrays[0], np.ndarray):
        return np.stack(arrays, axis=axis)
    import torch

    return torch.stack(arrays, dim=axis)


def padded_shape(rows: int, cols: int) -> tuple[int, int]:
    """The even shape a ``rows x cols`` matrix is padded to."""
    return rows + rows % 2, cols + cols % 2


def haar_forward(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unnormalized forward transform of an even-sized matrix into ``(LL, LH, HL, HH)``."""
    if m.ndim != 2 or m.shape[0] % 2 or m.shape[1] % 2:
        raise ValueError(f"haar_forward needs an even-sized 2-D matrix, got shape {m.shape}")
    return butterfly(m[0::2, 0::2], m[0::2, 1::2], m[1::2, 0::2], m[1::2, 1::2])


def haar_inverse(ll: np.ndarray, lh: np.ndarray, hl: np.ndarray, hh: np.ndarray) -> np.ndarray:
    """Unnormalized inverse: ``haar_inverse(*haar_forward(m)) == 4 * m`` exactly on integers."""
    b00, b01, b10, b11 = butterfly(ll, lh, hl, hh)
    # interleave by stacking (not slice assignment), so torch can differentiate through it
    blocks = _stack([_stack([b00, b01], -1), _stack([b10, b11], -1)], 1)
    return blocks.reshape(2 * ll.shape[0], 2 * ll.shape[1])


def weight_matrix(w: np.ndarray) -> np.ndarray:
    """View a weight tensor (Cout, Cin[, kh, kw]) as the 2-D matrix Cout x Cin*kh*kw."""
    return w.reshape(w.shape[0], -1)
