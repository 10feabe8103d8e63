"""ResNet-8 for image classification (MLPerf Tiny, CIFAR-10), as a plain PyTorch module.

Input: 3x32x32 image; output: 10 class logits (no softmax). Source: the MLPerf Tiny reference
model ``resnet_v1_eembc`` (benchmark/training/image_classification/keras_model.py), with
PyTorch's symmetric padding where Keras pads 'same'. Parameters: 77,946 (BatchNorm included).

    wavebits train --model examples/resnet8.py:resnet8 --data cifar10 --data-dir cifar10.tar.gz
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convs with BatchNorm and a residual add; a strided 1x1 conv shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        # as in the reference: the projection shortcut is a plain conv with bias, no BatchNorm
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, 0) if stride != 1 or cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        short = x if self.shortcut is None else self.shortcut(x)
        return F.relu(y + short)


class ResNet8(nn.Module):
    """Stem conv 16, three stages (16, 32, 64; stride 1, 2, 2), global average pooling, linear."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.stage1 = BasicBlock(16, 16, 1)
        self.stage2 = BasicBlock(16, 32, 2)
        self.stage3 = BasicBlock(32, 64, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(x)))
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.fc(self.flatten(self.pool(x)))


def resnet8(classes: int = 10) -> nn.Module:
    """The MLPerf Tiny ResNet-8 (CIFAR-10: 3x32x32 in, 10 classes)."""
    return ResNet8(classes)
