"""Reference networks, shared by the bank synthesizer and training.

Each architecture is a plain float PyTorch module (``arch_module``); its graph is what
``wavebits.importer.import_module`` makes of it (``arch``). Every weighted layer is followed by a
BatchNorm, and by a ReLU except the last one. torch is imported only when a module is built, so
reading banks stays light.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .graph import Node

if TYPE_CHECKING:
    from torch import nn


def _conv(name: str, cin: int, cout: int, k: int, stride: int = 1, pad: int | None = None,
          relu: bool = True) -> list[tuple[str, nn.Module]]:
    """Conv2d (no bias) + BatchNorm2d [+ ReLU]; the conv is named ``name``."""
    from torch import nn

    p = k // 2 if pad is None else pad
    items: list[tuple[str, nn.Module]] = [(name, nn.Conv2d(cin, cout, k, stride, p, bias=False)),
                                          (f"{name}_bn", nn.BatchNorm2d(cout))]
    return [*items, (f"{name}_relu", nn.ReLU())] if relu else items


def _fc(name: str, cin: int, cout: int, relu: bool = True) -> list[tuple[str, nn.Module]]:
    """Linear (no bias) + BatchNorm1d [+ ReLU]; the linear is named ``name``."""
    from torch import nn

    items: list[tuple[str, nn.Module]] = [(name, nn.Linear(cin, cout, bias=False)),
                                          (f"{name}_bn", nn.BatchNorm1d(cout))]
    return [*items, (f"{name}_relu", nn.ReLU())] if relu else items


def _pool(name: str, k: int) -> list[tuple[str, nn.Module]]:
    from torch import nn

    return [(name, nn.MaxPool2d(k))]


def _flatten() -> list[tuple[str, nn.Module]]:
    from torch import nn

    return [("flatten", nn.Flatten())]


def _sequential(*parts: list[tuple[str, nn.Module]]) -> nn.Sequential:
    from torch import nn

    return nn.Sequential(OrderedDict(item for part in parts for item in part))


def mlp(input_shape: tuple[int, ...] = (1, 8, 8), classes: int = 10, hidden: int = 64) -> nn.Module:
    """A three-layer perceptron on the flattened input."""
    return _sequential(_flatten(), _fc("fc1", math.prod(input_shape), hidden), _fc("fc2", hidden, hidden // 2),
                       _fc("fc3", hidden // 2, classes, relu=False))


def cnn_digits(classes: int = 10) -> nn.Module:
    """A small CNN for 8x8 digits: two 3x3 convs with max pooling and one linear layer."""
    return _sequential(_conv("conv1", 1, 16, 3), _pool("pool1", 2), _conv("conv2", 16, 32, 3), _pool("pool2", 2),
                       _flatten(), _fc("fc", 32 * 2 * 2, classes, relu=False))


def lenet5(classes: int = 10) -> nn.Module:
    """LeNet-5 for 28x28 inputs (conv 5x5 pad 2, max pooling, three linear layers)."""
    return _sequential(_conv("conv1", 1, 6, 5), _pool("pool1", 2), _conv("conv2", 6, 16, 5, pad=0),
                       _pool("pool2", 2), _flatten(), _fc("fc1", 16 * 5 * 5, 120), _fc("fc2", 120, 84),
                       _fc("fc3", 84, classes, relu=False))


@functools.cache
def _resnet8_class() -> type[nn.Module]:
    """The ResNet-8 module class (defined on first use, so that importing this file needs no torch)."""
    import torch.nn.functional as F
    from torch import nn

    class ResNet8(nn.Module):
        """MLPerf Tiny ResNet-8: stem, three residual stages (16, 32, 64), global pooling, linear.

        Layers are attributes named as the graph's nodes (``stem``, ``b1c1``, ``b2sc``, ...), each
        followed by its BatchNorm ``<name>_bn``; stages 2 and 3 take a strided 1x1 shortcut conv.
        """

        stages = ((16, 1), (32, 2), (64, 2))

        def __init__(self, classes: int = 10) -> None:
            super().__init__()
            for name, *args in self._convs():
                conv, bn = (m for _, m in _conv(name, *args, relu=False))
                self.add_module(name, conv)
                self.add_module(f"{name}_bn", bn)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(self.stages[-1][0], classes, bias=False)
            self.fc_bn = nn.BatchNorm1d(classes)

        def _convs(self) -> list[tuple[Any, ...]]:
            """(name, cin, cout, k, stride, pad) of every conv, in execution order."""
            out: list[tuple[Any, ...]] = [("stem", 3, 16, 3, 1, 1)]
            cin = 16
            for i, (cout, stride) in enumerate(self.stages, start=1):
                out += [(f"b{i}c1", cin, cout, 3, stride, 1), (f"b{i}c2", cout, cout, 3, 1, 1)]
                if stride != 1:
                    out.append((f"b{i}sc", cin, cout, 1, stride, 0))
                cin = cout
            return out

        def _bn_conv(self, name: str, x: Any) -> Any:
            return getattr(self, f"{name}_bn")(getattr(self, name)(x))

        def forward(self, x: Any) -> Any:
            x = F.relu(self._bn_conv("stem", x))
            for i, (_, stride) in enumerate(self.stages, start=1):
                y = F.relu(self._bn_conv(f"b{i}c1", x))
                y = self._bn_conv(f"b{i}c2", y)
                short = self._bn_conv(f"b{i}sc", x) if stride != 1 else x
                x = F.relu(y + short)
            return self.fc_bn(self.fc(self.flatten(self.gap(x))))

    return ResNet8


def resnet8(classes: int = 10) -> nn.Module:
    """MLPerf Tiny ResNet-8 for 32x32x3: three residual stages (16, 32, 64) and global pooling."""
    return _resnet8_class()(classes)


# name -> (factory, input shape). A factory returns a torch module, or a hand-written list of nodes.
ARCHS: dict[str, tuple[Callable[[], Any], tuple[int, ...]]] = {
    "mlp": (mlp, (1, 8, 8)),
    "cnn-digits": (cnn_digits, (1, 8, 8)),
    "lenet5": (lenet5, (1, 28, 28)),
    "resnet8": (resnet8, (3, 32, 32)),
}


def _lookup(name: str) -> tuple[Callable[[], Any], tuple[int, ...]]:
    if name not in ARCHS:
        raise KeyError(f"unknown architecture {name!r} (known: {', '.join(ARCHS)})")
    return ARCHS[name]


def arch_module(name: str) -> nn.Module:
    """A freshly initialized float torch module of the named reference architecture."""
    from torch import nn

    build, _ = _lookup(name)
    module = build()
    if not isinstance(module, nn.Module):
        raise TypeError(f"architecture {name!r} is a hand-written graph, not a torch module")
    return module


def arch(name: str) -> tuple[list[Node], tuple[int, ...]]:
    """Nodes and input shape of a named reference architecture (its module, imported)."""
    import torch

    from .importer import import_module

    build, shape = _lookup(name)
    with torch.random.fork_rng(devices=[]):  # the throwaway initialization leaves the global RNG alone
        made = build()
    if isinstance(made, list):
        return made, shape
    return import_module(made, shape).nodes, shape
