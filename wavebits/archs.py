"""Reference network graphs, shared by the bank synthesizer and training."""

from __future__ import annotations

from .graph import INPUT, Node


def _conv(name: str, src: str, cout: int, k: int, stride: int = 1, pad: int | None = None,
          act: str = "relu") -> Node:
    p = k // 2 if pad is None else pad
    return Node(name, "conv2d", (src,), out_channels=cout, kernel=(k, k), stride=(stride, stride),
                padding=(p, p), act=act)


def _fc(name: str, src: str, cout: int, act: str = "relu") -> Node:
    return Node(name, "linear", (src,), out_channels=cout, act=act)


def _pool(name: str, src: str, k: int, op: str = "maxpool") -> Node:
    return Node(name, op, (src,), kernel=(k, k), stride=(k, k))


def mlp(input_shape: tuple[int, ...] = (1, 8, 8), classes: int = 10, hidden: int = 64) -> list[Node]:
    return [
        Node("flatten", "flatten", (INPUT,)),
        _fc("fc1", "flatten", hidden),
        _fc("fc2", "fc1", hidden // 2),
        _fc("fc3", "fc2", classes, act="none"),
    ]


def cnn_digits(classes: int = 10) -> list[Node]:
    """A small CNN for 8x8 digits: two 3x3 convs with max pooling and one linear layer."""
    return [
        _conv("conv1", INPUT, 16, 3),
        _pool("pool1", "conv1", 2),
        _conv("conv2", "pool1", 32, 3),
        _pool("pool2", "conv2", 2),
        Node("flatten", "flatten", ("pool2",)),
        _fc("fc", "flatten", classes, act="none"),
    ]


def lenet5(classes: int = 10) -> list[Node]:
    """LeNet-5 for 28x28 inputs (conv 5x5 pad 2, max pooling, three linear layers)."""
    return [
        _conv("conv1", INPUT, 6, 5),
        _pool("pool1", "conv1", 2),
        _conv("conv2", "pool1", 16, 5, pad=0),
        _pool("pool2", "conv2", 2),
        Node("flatten", "flatten", ("pool2",)),
        _fc("fc1", "flatten", 120),
        _fc("fc2", "fc1", 84),
        _fc("fc3", "fc2", classes, act="none"),
    ]


def resnet8(classes: int = 10) -> list[Node]:
    """MLPerf Tiny ResNet-8 for 32x32x3: three residual stages (16, 32, 64) and global pooling."""
    nodes = [_conv("stem", INPUT, 16, 3)]
    src = "stem"
    for i, (cout, stride) in enumerate(((16, 1), (32, 2), (64, 2)), start=1):
        nodes.append(_conv(f"b{i}c1", src, cout, 3, stride))
        nodes.append(_conv(f"b{i}c2", f"b{i}c1", cout, 3, act="none"))
        short = src
        if stride != 1:
            nodes.append(_conv(f"b{i}sc", src, cout, 1, stride, pad=0, act="none"))
            short = f"b{i}sc"
        nodes.append(Node(f"b{i}add", "add", (f"b{i}c2", short), act="relu"))
        src = f"b{i}add"
    nodes += [
        _pool("gap", src, 8, op="avgpool"),
        Node("flatten", "flatten", ("gap",)),
        _fc("fc", "flatten", classes, act="none"),
    ]
    return nodes


ARCHS = {
    "mlp": (mlp, (1, 8, 8)),
    "cnn-digits": (cnn_digits, (1, 8, 8)),
    "lenet5": (lenet5, (1, 28, 28)),
    "resnet8": (resnet8, (3, 32, 32)),
}


def arch(name: str) -> tuple[list[Node], tuple[int, ...]]:
    """Nodes and input shape of a named reference architecture."""
    if name not in ARCHS:
        raise KeyError(f"unknown architecture {name!r} (known: {', '.join(ARCHS)})")
    build, shape = ARCHS[name]
    return build(), shape
