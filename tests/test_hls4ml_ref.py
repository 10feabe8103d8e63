"""hls4ml as an independent reference: the per-width QKeras model compiled and run by hls4ml."""

import numpy as np
import pytest
from wavebits.codegen.hls4ml_ref import bipolar_padding_layers, compare_hls4ml, hls4ml_model
from wavebits.sim.golden import GoldenModel

from wavebits.bank import synth_bank
from wavebits.errors import WavebitsError

pytestmark = [pytest.mark.slow, pytest.mark.tensorflow]


def test_lenet_is_bit_exact_in_hls4ml(tmp_path):
    bank = synth_bank("lenet5", seed=3)
    assert bipolar_padding_layers(bank) == []
    x = np.random.default_rng(1).integers(0, 256, (12, 1, 28, 28)).astype(np.uint8)
    for row in compare_hls4ml(bank, x, [8, 3, 1], tmp_path):
        assert row["exact"] == 1.0 and row["max_abs_diff"] == 0, row


def test_one_bit_difference_is_the_padding_value_and_bounded(tmp_path, digits_bank):
    """cnn-digits pads a bipolar tensor at 1 bit (conv2): hls4ml zero-pads, the contract pads -1.
    Every layer before conv2 is equal; conv2's accumulators equal the golden kernel's with 0
    padding, and differ from the contract by at most the number of padded taps."""
    from wavebits.sim import ops

    from wavebits.data import load_digits

    assert bipolar_padding_layers(digits_bank) == ["conv2"]
    assert bipolar_padding_layers(synth_bank("mlp", seed=0)) == []
    x = load_digits("test")[0][:16]
    hls = hls4ml_model(digits_bank, 1, tmp_path / "w1", trace=True)
    _, trace = hls.trace(np.ascontiguousarray(x.transpose(0, 2, 3, 1).astype(np.float64)))
    golden = GoldenModel(digits_bank).run(x, 1, "all")

    def nchw(name, like):
        return trace[name].reshape(len(x), like.shape[2], like.shape[3], like.shape[1]).transpose(0, 3, 1, 2)

    assert (nchw("conv1_act", golden["conv1"]) == golden["conv1"]).all()
    assert (nchw("pool1", golden["pool1"]) == golden["pool1"]).all()
    node = digits_bank.node("conv2")
    w = GoldenModel(digits_bank).weights(1)["conv2"]
    zero_pad = ops.conv2d(golden["pool1"], w, node.stride, node.padding, 0, 1 << 40, bipolar=False)
    contract = ops.conv2d(golden["pool1"], w, node.stride, node.padding, -1, 1 << 40, bipolar=True)
    got = nchw("conv2", zero_pad)
    assert (got == zero_pad).all()
    taps = node.kernel[0] * node.kernel[1] * w.shape[1]
    assert 0 < np.abs(got - contract).max() <= taps


def test_exact_at_multi_bit_widths_on_digits(tmp_path, digits_bank):
    from wavebits.data import load_digits

    x = load_digits("test")[0][:24]
    for row in compare_hls4ml(digits_bank, x, [8, 2], tmp_path):
        assert row["exact"] == 1.0, row


def test_residual_networks_are_refused(resnet_bank, tmp_path):
    with pytest.raises(WavebitsError, match="residual add"):
        hls4ml_model(resnet_bank, 8, tmp_path)
