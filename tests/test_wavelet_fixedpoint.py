import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from wavebits.fixedpoint import scale_int, shift_add, to_terms
from wavebits.reconstruct import reconstruct, reconstruct_fast
from wavebits.wavelet import COMPONENTS, haar_forward, haar_inverse, pad_even

even_shapes = st.tuples(st.integers(1, 6), st.integers(1, 6)).map(lambda s: (2 * s[0], 2 * s[1]))


@given(even_shapes.flatmap(lambda s: arrays(np.int64, s, elements=st.integers(-(1 << 20), 1 << 20))))
def test_integer_haar_round_trip_is_exact(m):
    assert (haar_inverse(*haar_forward(m)) == 4 * m).all()


@given(arrays(np.float64, (4, 6), elements=st.floats(-10, 10)))
def test_orthonormal_haar_preserves_energy_and_inverts(m):
    comps = [c / 2 for c in haar_forward(m)]
    assert np.isclose(sum((c ** 2).sum() for c in comps), (m ** 2).sum())
    assert np.allclose(haar_inverse(*comps) / 2, m)


def test_pad_even_pads_odd_sizes_with_zeros():
    m = np.arange(15).reshape(3, 5)
    p = pad_even(m)
    assert p.shape == (4, 6) and (p[:3, :5] == m).all() and p[3].sum() == 0 and p[:, 5].sum() == 0


terms_st = st.lists(st.tuples(st.sampled_from([-1, 1]), st.integers(0, 12)), max_size=4)


@given(arrays(np.int64, 20, elements=st.integers(-(1 << 15), 1 << 15)), terms_st)
def test_shift_add_equals_integer_product(x, terms):
    assert (shift_add(x, terms) == x * scale_int(terms)).all()


@given(st.floats(-8, 8, allow_nan=False), st.integers(0, 12))
def test_to_terms_with_enough_terms_is_exact_on_the_grid(value, frac):
    terms = to_terms(value, frac, 16)
    assert scale_int(terms) == round(value * (1 << frac))
    assert len({s for _, s in terms}) == len(terms)  # one term per power


@given(st.floats(0.25, 4, allow_nan=False))
def test_three_csd_terms_are_close(value):
    got = scale_int(to_terms(value, 8, 3)) / 256
    assert abs(got - value) <= value / 8 + 1 / 256  # three signed digits: within 1/8 relative


def _random_components(rng, rows2, cols2, comp_bits=10):
    lim = (1 << (comp_bits - 1)) - 1
    return {k: rng.integers(-lim, lim + 1, (rows2, cols2)).astype(np.int16) for k in COMPONENTS}


@given(st.integers(0, 2**32 - 1), st.integers(1, 8), st.integers(0, 24),
       st.tuples(st.integers(1, 9), st.integers(1, 9)))
def test_fast_reconstruction_equals_hardware_form(seed, bits, shift, shape):
    rng = np.random.default_rng(seed)
    rows, cols = shape
    comps = _random_components(rng, (rows + 1) // 2, (cols + 1) // 2)
    scales = {k: to_terms(float(rng.uniform(-3, 3)), 8, 3) for k in COMPONENTS}
    hw = reconstruct(comps, scales, shift, bits, shape)
    fast = reconstruct_fast(comps, scales, shift, bits, shape, comp_bits=10, chunk=3)
    assert hw.dtype == fast.dtype == np.int8
    assert (hw == fast).all()


@given(st.integers(0, 2**32 - 1), st.integers(2, 8))
def test_reconstruction_recovers_weights_from_their_exact_components(seed, bits):
    """Unit scales and components that are the exact Haar transform give the weights back."""
    rng = np.random.default_rng(seed)
    lim = (1 << (bits - 1)) - 1
    w = rng.integers(-lim, lim + 1, (6, 10))
    comps = {k: c.astype(np.int16) for k, c in zip(COMPONENTS, haar_forward(w), strict=True)}
    one = {k: ((1, 8),) for k in COMPONENTS}  # 1.0 with 8 fractional bits
    # butterfly output is 4 * w * 2**8: shift by 10 gives w exactly
    assert (reconstruct(comps, one, 10, bits, w.shape) == w).all()
