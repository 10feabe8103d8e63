from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from wavebits.intmath import (
    activation_limit,
    quantize_weight,
    requantize,
    rshift_round,
    signed_bits,
    weight_limit,
)


@given(st.integers(-(1 << 40), 1 << 40), st.integers(0, 20))
def test_rshift_round_is_round_half_up(v, s):
    exact = Fraction(v, 1 << s)
    expected = (exact + Fraction(1, 2)).__floor__()
    assert int(rshift_round(np.int64(v), s)) == expected


def test_rshift_round_ties_go_up_for_negatives_too():
    v = np.array([-3, -2, -1, 1, 2, 3], dtype=np.int64)  # /2: -1.5 -1 -0.5 0.5 1 1.5
    assert rshift_round(v, 1).tolist() == [-1, -1, 0, 1, 1, 2]


def test_weight_and_activation_ranges():
    assert [weight_limit(b) for b in (1, 2, 3, 8)] == [1, 1, 3, 127]
    assert [activation_limit(b) for b in (1, 2, 8)] == [1, 3, 255]


@given(st.lists(st.integers(-(1 << 20), 1 << 20), min_size=1, max_size=50), st.integers(1, 8),
       st.integers(0, 12))
def test_quantize_weight_stays_in_format(values, bits, shift):
    q = quantize_weight(np.array(values, dtype=np.int64), shift, bits)
    if bits == 1:
        assert set(q.tolist()) <= {-1, 1}
        assert ((q == 1) == (np.array(values) >= 0)).all()
    else:
        assert np.abs(q).max() <= weight_limit(bits)


def test_requantize_modes():
    acc = np.array([[-100, 0, 100, 10_000]], dtype=np.int64).reshape(1, 4)
    mul = np.array([3, 3, 3, 3], dtype=np.int64)
    bias = np.array([0, 2, -2, 0], dtype=np.int64)
    # relu 4 bit: clip(round((acc*3+bias)/4), 0, 15)
    assert requantize(acc, mul, bias, 2, "relu", 4).tolist() == [[0, 1, 15, 15]]
    # sign at one bit: v >= 0 -> +1
    assert requantize(acc, mul, bias, 2, "relu", 1).tolist() == [[-1, 1, 1, 1]]
    # none: unclipped
    assert requantize(acc, mul, bias, 2, "none", 4).tolist() == [[-75, 1, 75, 7500]]


def test_signed_bits():
    assert signed_bits(0) == 1 and signed_bits(1) == 2 and signed_bits(127) == 8 and signed_bits(128) == 9
