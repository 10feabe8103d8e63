"""hls4ml as an independent reference: the per-width QKeras model compiled and run by hls4ml."""

import numpy as np
import pytest
from wavebits.codegen.hls4ml_ref import bipolar_padding_layers, compare_hls4ml, hls4ml_model

from wavebits.bank import synth_bank
from wavebits.errors import WavebitsError


def test_lenet_is_bit_exact_in_hls4ml(tmp_path):
    bank = synth_bank("lenet5", seed=3)
    assert bipolar_padding_layers(bank) == []
    x = np.random.default_rng(1).integers(0, 256, (12, 1, 28, 28)).astype(np.uint8)
    for row in compare_hls4ml(bank, x, [8, 3, 1], tmp_path):
        assert row["exact"] == 1.0 and row["max_abs_diff"] == 0, row


def test_bipolar_padding_is_flagged(digits_bank):
    """cnn-digits pads a bipolar tensor at 1 bit (conv2): hls4ml is not expected to match there."""
    assert bipolar_padding_layers(digits_bank) == ["conv2"]
    assert bipolar_padding_layers(synth_bank("mlp", seed=0)) == []


def test_exact_at_multi_bit_widths_on_digits(tmp_path, digits_bank):
    from wavebits.data import load_digits

    x = load_digits("test")[0][:24]
    for row in compare_hls4ml(digits_bank, x, [8, 2], tmp_path):
        assert row["exact"] == 1.0, row


def test_residual_networks_are_refused(resnet_bank, tmp_path):
    with pytest.raises(WavebitsError, match="residual add"):
        hls4ml_model(resnet_bank, 8, tmp_path)
