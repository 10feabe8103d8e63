"""MobileNetV1 (width 0.25) for visual wake words (MLPerf Tiny, person / no person), as a plain PyTorch module.

Input: 3x96x96 image; output: 2 class logits (no softmax). Source: the MLPerf Tiny reference model
``mobilenet_v1`` (benchmark/training/visual_wake_words/vww_model.py, alpha 0.25), which uses ReLU
where Keras' MobileNet uses ReLU6 (``relu6=True`` switches), with PyTorch's symmetric padding for the
strided convs where Keras pads 'same'. Parameters: 213,586 at width 0.25 (BatchNorm included).

    wavebits train --model examples/mobilenet_v1.py:mobilenet_v1 --data folder --data-dir vww96/
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

# (depthwise stride, pointwise output channels at width 1) of the 13 depthwise-separable blocks
BLOCKS = ((1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
          (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024))


def _conv_bn_act(name: str, cin: int, cout: int, kernel: int, stride: int, groups: int,
                 relu6: bool) -> list[tuple[str, nn.Module]]:
    """Conv2d ``name`` (no bias: the BatchNorm has one), BatchNorm2d, ReLU or ReLU6."""
    return [(name, nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)),
            (f"{name}_bn", nn.BatchNorm2d(cout)), (f"{name}_relu", nn.ReLU6() if relu6 else nn.ReLU())]


def mobilenet_v1(width: float = 0.25, classes: int = 2, relu6: bool = False) -> nn.Module:
    """MobileNetV1: a 3x3 stride-2 conv, 13 depthwise-separable blocks, global pooling, linear."""
    cin = int(32 * width)
    layers = _conv_bn_act("conv1", 3, cin, 3, 2, 1, relu6)
    for i, (stride, channels) in enumerate(BLOCKS, start=1):
        cout = int(channels * width)
        layers += _conv_bn_act(f"dw{i}", cin, cin, 3, stride, cin, relu6)  # depthwise 3x3
        layers += _conv_bn_act(f"pw{i}", cin, cout, 1, 1, 1, relu6)  # pointwise 1x1
        cin = cout
    layers += [("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(cin, classes))]
    return nn.Sequential(OrderedDict(layers))
