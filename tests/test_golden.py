import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wavebits.sim import GoldenModel, first_mismatch, ops
from wavebits.sim.golden import accumulate

from wavebits.archs import arch
from wavebits.bank import FloatLayer, build_bank, synth_bank
from wavebits.data import load_digits
from wavebits.errors import DataError, WidthError
from wavebits.graph import INPUT


def naive_conv(x, w, stride, pad, pad_value):
    """Direct loops: an independent reference for the im2col kernel."""
    n, c, h, ww = x.shape
    co, _, kh, kw = w.shape
    xp = np.full((n, c, h + 2 * pad, ww + 2 * pad), pad_value, dtype=np.int64)
    xp[:, :, pad:pad + h, pad:pad + ww] = x
    ho, wo = (h + 2 * pad - kh) // stride + 1, (ww + 2 * pad - kw) // stride + 1
    out = np.zeros((n, co, ho, wo), dtype=np.int64)
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            for o in range(co):
                out[:, o, i, j] = (patch * w[o]).sum(axis=(1, 2, 3))
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.integers(0, 2), st.sampled_from([1, 3]),
       st.booleans())
def test_conv_kernel_matches_direct_loops(seed, stride, pad, k, bipolar):
    rng = np.random.default_rng(seed)
    if bipolar:
        x = rng.choice([-1, 1], (2, 3, 6, 7))
        w = rng.choice([-1, 1], (4, 3, k, k))
        pad_value = -1
    else:
        x = rng.integers(0, 256, (2, 3, 6, 7))
        w = rng.integers(-127, 128, (4, 3, k, k))
        pad_value = 0
    got = ops.conv2d(x, w, (stride, stride), (pad, pad), pad_value, bound=1 << 30, bipolar=bipolar)
    assert (got == naive_conv(x, w, stride, pad, pad_value)).all()


@given(st.integers(0, 2**32 - 1), st.integers(1, 70))
def test_xnor_popcount_equals_integer_dot(seed, n):
    rng = np.random.default_rng(seed)
    x, w = rng.choice([-1, 1], (5, n)), rng.choice([-1, 1], (3, n))
    assert (ops.xnor_popcount(x, w) == x @ w.T).all()


def test_float_and_int64_summation_agree():
    rng = np.random.default_rng(1)
    x, w = rng.integers(0, 256, (7, 300)), rng.integers(-127, 128, (5, 300))
    assert (ops.matmul_exact(x, w, 1 << 20) == ops.matmul_exact(x, w, 1 << 60)).all()


def test_pools():
    x = np.arange(32).reshape(1, 2, 4, 4)
    assert ops.maxpool(x, (2, 2), (2, 2))[0, 0].tolist() == [[5, 7], [13, 15]]
    assert ops.sumpool(x, (2, 2), (2, 2))[0, 0].tolist() == [[10, 18], [42, 50]]


@pytest.mark.parametrize("arch_name", ["mlp", "cnn-digits"])
def test_worst_case_inputs_hit_but_never_pass_the_accumulator_bound(arch_name):
    """Weights at the format's limit and saturated activations: accumulators reach the derived
    bound exactly (so it is tight) and fit the derived accumulator width at every width."""
    nodes, input_shape = arch(arch_name)
    widths = (8, 7, 6, 5, 4, 3, 2, 1)
    from wavebits.graph import infer_shapes, weight_shape

    shapes = infer_shapes(nodes, input_shape)
    layers = {}
    for i, n in enumerate(nodes):
        if n.weighted:
            # each relu layer's step far below the last one's, so every activation saturates
            out_step = 10.0 ** (-6 * (i + 1)) if n.act == "relu" else 1.0
            shape = weight_shape(n, shapes[n.inputs[0]])
            layers[n.name] = FloatLayer(
                weight=np.full(shape, 1.0), comp_scales={b: (1, 1, 1, 1) for b in widths},
                step={b: 2.0 ** -12 for b in widths},
                act_scale={b: out_step for b in widths},
            )
    bank = build_bank("worst", nodes, input_shape, 10, widths, 1 / 255, layers)
    model = GoldenModel(bank)
    x = np.full((1, *input_shape), 255, dtype=np.uint8)
    for b in widths:
        bounds = bank.bounds(b)
        values = model.run(x, b, outputs="all")
        for n in nodes:
            if not n.weighted:
                continue
            acc = accumulate(n, values, bounds[n.inputs[0]].out, b, model.weights(b)[n.name],
                             bounds[n.name].acc_bound)
            peak = int(np.abs(acc).max())
            assert peak == bounds[n.name].acc_bound, (n.name, b)
            assert peak < 2 ** (bounds[n.name].acc_bits - 1)
            assert peak >= 2 ** (bounds[n.name].acc_bits - 2)  # one bit fewer would overflow


def test_banked_and_reconstruct_modes_agree_on_every_layer(digits_bank):
    x, _ = load_digits()
    banked, rec = GoldenModel(digits_bank, "banked"), GoldenModel(digits_bank, "reconstruct")
    for b in digits_bank.widths:
        a, r = banked.run(x[:64], b, "all"), rec.run(x[:64], b, "all")
        assert first_mismatch(a, r, a) is None


def test_outputs_have_the_width_format(digits_bank):
    x, _ = load_digits()
    model = GoldenModel(digits_bank)
    for b in digits_bank.widths:
        out = model.run(x[:32], b, ["conv1", "pool2", "fc"])
        if b == 1:
            assert set(np.unique(out["conv1"]).tolist()) <= {-1, 1}
        else:
            assert out["conv1"].min() >= 0 and out["conv1"].max() <= 2**b - 1
        assert out["pool2"].shape == (32, 32, 2, 2) and out["fc"].shape == (32, 10)


def test_random_bank_is_at_chance_level(digits_bank):
    x, y = load_digits()
    model = GoldenModel(digits_bank)
    for b in (8, 1):
        acc = float((model.predict(x, b) == y).mean())
        assert 0.0 <= acc < 0.35  # ten classes, random weights


def test_residual_network_runs_at_every_width(resnet_bank):
    x = np.random.default_rng(0).integers(0, 256, (4, 3, 32, 32)).astype(np.uint8)
    model = GoldenModel(resnet_bank)
    for b in resnet_bank.widths:
        out = model.run(x, b, ["add_2", "gap", "fc"])
        assert out["gap"].shape == (4, 64, 1, 1) and out["fc"].shape == (4, 10)
        if b > 1:
            assert out["add_2"].min() >= 0 and out["add_2"].max() <= 2**b - 1


def test_first_mismatch_names_layer_channel_and_values(digits_bank):
    x, _ = load_digits()
    a = GoldenModel(digits_bank).run(x[:4], 4, "all")
    b = {k: v.copy() for k, v in a.items()}
    b["conv2"][2, 5, 1, 0] += 1
    m = first_mismatch(a, b, [INPUT] + [n.name for n in digits_bank.nodes])
    assert (m.layer, m.channel, m.index) == ("conv2", 5, (2, 5, 1, 0))
    assert m.got == m.expected + 1 and "conv2" in str(m)


def test_bad_inputs_are_reported(digits_bank):
    model = GoldenModel(digits_bank)
    with pytest.raises(DataError, match="shape"):
        model.run(np.zeros((2, 1, 9, 9), np.uint8), 8)
    with pytest.raises(DataError, match=r"0\.\.255"):
        model.run(np.full((2, 1, 8, 8), 300), 8)
    with pytest.raises(WidthError, match="no width 9"):
        model.run(np.zeros((2, 1, 8, 8), np.uint8), 9)


def test_synth_meta_and_widths():
    b = synth_bank("mlp", seed=3, widths=(4, 8, 2))
    assert b.widths == (8, 4, 2) and b.meta == {"source": "synth", "arch": "mlp", "seed": 3}
