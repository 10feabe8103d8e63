"""DS-CNN (small) for keyword spotting (MLPerf Tiny, Speech Commands v2), as a plain PyTorch module.

Input: 1x49x10 MFCC features (49 frames of 10 coefficients); output: 12 class logits (no softmax).
Source: the MLPerf Tiny reference model ``ds_cnn`` (benchmark/training/keyword_spotting/keras_model.py,
model_size_info 'small'), with PyTorch's symmetric padding (5, 1) for the first conv where Keras
pads 'same'. Parameters: 23,180 (BatchNorm included).

    wavebits train --model examples/ds_cnn.py:ds_cnn --data npz --data-dir kws_mfcc.npz
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn


def _conv_bn_relu(name: str, cin: int, cout: int, kernel: int | tuple[int, int], stride: int | tuple[int, int] = 1,
                  padding: int | tuple[int, int] = 0, groups: int = 1) -> list[tuple[str, nn.Module]]:
    """Conv2d ``name`` (no bias: the BatchNorm has one), BatchNorm2d, ReLU."""
    return [(name, nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False)),
            (f"{name}_bn", nn.BatchNorm2d(cout)), (f"{name}_relu", nn.ReLU())]


def ds_cnn(classes: int = 12, filters: int = 64, blocks: int = 4) -> nn.Module:
    """DS-CNN small: a 10x4 stride-2 conv, four depthwise-separable blocks, global pooling, linear."""
    layers = [*_conv_bn_relu("conv1", 1, filters, (10, 4), (2, 2), (5, 1)), ("drop1", nn.Dropout(0.2))]
    for i in range(1, blocks + 1):
        layers += _conv_bn_relu(f"dw{i}", filters, filters, 3, padding=1, groups=filters)  # depthwise 3x3
        layers += _conv_bn_relu(f"pw{i}", filters, filters, 1)  # pointwise 1x1
    layers += [("drop2", nn.Dropout(0.4)), ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
               ("fc", nn.Linear(filters, classes))]
    return nn.Sequential(OrderedDict(layers))
