"""Fully connected autoencoder for anomaly detection (MLPerf Tiny, ToyADMOS / DCASE 2020), as a plain PyTorch module.

Input: 640 signed features (5 frames of 128 log-mel bins); output: their 640-value reconstruction
(the anomaly score is the reconstruction error). Source: the MLPerf Tiny reference model
(benchmark/training/anomaly_detection/keras_model.py): 640-128-128-128-128-8-128-128-128-128-640,
BatchNorm and ReLU after every hidden layer. Parameters: 267,928 (BatchNorm included).

    wavebits train --model examples/autoencoder.py:autoencoder --data npz --data-dir toyadmos.npz
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

HIDDEN = (128, 128, 128, 128, 8, 128, 128, 128, 128)


def autoencoder(features: int = 640) -> nn.Module:
    """The MLPerf Tiny dense autoencoder: 9 hidden Linear + BatchNorm1d + ReLU layers, linear output."""
    layers: list[tuple[str, nn.Module]] = []
    cin = features
    for i, cout in enumerate(HIDDEN, start=1):
        layers += [(f"fc{i}", nn.Linear(cin, cout)), (f"fc{i}_bn", nn.BatchNorm1d(cout)), (f"fc{i}_relu", nn.ReLU())]
        cin = cout
    layers.append(("out", nn.Linear(cin, features)))
    return nn.Sequential(OrderedDict(layers))
