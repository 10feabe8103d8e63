"""The MLPerf Tiny networks of examples/: import -> short training -> bank -> golden vs fake-quant ->
HLS C simulation bit-exact at every width and along a switch schedule.

Training here is a few steps on seeded synthetic data (the point is the flow, not accuracy);
``benchmarks/mlperf_tiny.py`` trains longer and on real data where it exists (CIFAR-10).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import wavebits as wb

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from catalog import NETWORKS, module, synthetic

WIDTHS = (8, 7, 6, 5, 4, 3, 2, 1)


@pytest.mark.slow
@pytest.mark.parametrize("example", NETWORKS, ids=[e.file for e in NETWORKS])
def test_example_network_end_to_end(tmp_path, example):
    data = synthetic(example, n=40)
    net = wb.import_model(module(example), example.shape)
    result = wb.train(net, data, widths=WIDTHS, pretrained=True, epochs=1, batch_size=16, warmup_batches=1)
    assert all(p.ok for p in result.parity), result.parity
    bank = result.bank
    assert bank.input_signed == example.signed
    hls = wb.compile_hls(bank, tmp_path / "hls", weights=example.weights)
    x = data.x_test[:2]
    report = hls.check(np.concatenate([x] * len(WIDTHS) + [data.x_test[:5]]),
                       [b for b in WIDTHS for _ in x] + [8, 1, 4, 2, 8])
    assert report.ok, report.text()
