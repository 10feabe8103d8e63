"""torch.fx importer: every supported layer form, the built-in architectures, the examples, every error."""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wavebits.archs import ARCHS, arch, arch_module
from wavebits.errors import WavebitsError
from wavebits.graph import INPUT, Node, infer_shapes
from wavebits.importer import (
    ImportedNetwork,
    ImportTraceError,
    UnsupportedLayerError,
    import_module,
    load_model_source,
    load_weights,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_graph(net: ImportedNetwork, x: torch.Tensor) -> torch.Tensor:
    """Evaluate an imported graph with its float parameters: what the wavebits graph means."""
    values = {INPUT: x}
    for n in net.nodes:
        src = values[n.inputs[0]]
        if n.weighted:
            layer = net.layers[n.name]
            w = torch.from_numpy(layer.weight)
            b = torch.from_numpy(layer.bias) if layer.bias is not None else None
            y = F.conv2d(src, w, b, n.stride, n.padding, groups=n.groups) if n.op == "conv2d" else F.linear(src, w, b)
            if layer.bn is not None:
                k, h = (torch.from_numpy(a) for a in layer.bn.fold())
                shape = (1, -1, 1, 1) if y.dim() == 4 else (1, -1)
                y = y * k.view(shape) + h.view(shape)
        elif n.op == "maxpool":
            y = F.max_pool2d(src, n.kernel, n.stride)
        elif n.op == "avgpool":
            y = F.avg_pool2d(src, n.kernel, n.stride)
        elif n.op == "gap":
            y = src.mean((2, 3), keepdim=True)
        elif n.op == "flatten":
            y = torch.flatten(src, 1)
        else:
            assert n.op == "add"
            y = src + values[n.inputs[1]]
        if n.requantizes and n.act == "relu":
            clip = net.clips.get(n.name)
            y = y.clamp(0, clip) if clip is not None else y.relu()
        values[n.name] = y
    return values[net.nodes[-1].name]


def randomize_bn(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters (so fusion mistakes show)."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(c, generator=g) * 0.1)
    return module.eval()


def assert_equivalent(module: nn.Module, net: ImportedNetwork, seed: int = 0) -> None:
    x = torch.randn((3, *net.input_shape), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    module = module.double().eval()
    with torch.no_grad():
        want = module(x)
        got = run_graph(net, x)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def _same(cls: type[nn.Module], shape: tuple[int, ...]) -> tuple[nn.Module, ImportedNetwork]:
    m = cls()
    return m, import_module(m, shape)


def summary(net: ImportedNetwork) -> list[tuple[str, str, tuple[str, ...], str]]:
    return [(n.name, n.op, n.inputs, n.act) for n in net.nodes]


# ---------------------------------------------------------------- modules and fusion


def test_conv_bn_relu_sequential_fuses_into_one_node_with_bn_params():
    m = randomize_bn(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                   nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 4 * 4, 5)))
    net = import_module(m, (3, 8, 8))
    assert summary(net) == [("n_0", "conv2d", (INPUT,), "relu"), ("n_3", "maxpool", ("n_0",), "relu"),
                            ("n_4", "flatten", ("n_3",), "relu"), ("n_5", "linear", ("n_4",), "none")]
    conv = net.nodes[0]
    assert (conv.out_channels, conv.kernel, conv.stride, conv.padding, conv.groups) == (8, (3, 3), (1, 1), (1, 1), 1)
    assert net.nodes[1].kernel == (2, 2) and net.nodes[1].stride == (2, 2)
    assert set(net.layers) == {"n_0", "n_5"} and net.source == "Sequential" and net.input_shape == (3, 8, 8)
    layer = net.layers["n_0"]
    assert layer.weight.shape == (8, 3, 3, 3) and layer.weight.dtype == np.float64
    assert layer.bias is None and layer.clip is None
    bn = m[1]
    np.testing.assert_array_equal(layer.bn.gamma, bn.weight.detach().double().numpy())
    np.testing.assert_array_equal(layer.bn.beta, bn.bias.detach().double().numpy())
    np.testing.assert_array_equal(layer.bn.mean, bn.running_mean.double().numpy())
    np.testing.assert_array_equal(layer.bn.var, bn.running_var.double().numpy())
    assert layer.bn.eps == bn.eps
    fc = net.layers["n_5"]
    assert fc.weight.shape == (5, 128) and fc.bias is not None and fc.bn is None
    assert net.nodes[-1].out_channels == 5
    assert_equivalent(m, net)


class Custom(nn.Module):
    """Nested Sequentials and a hand-written forward."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU6()),
            nn.Sequential(OrderedDict(dw=nn.Conv2d(4, 4, 3, padding="same", groups=4, bias=False),
                                      bn=nn.BatchNorm2d(4), act=nn.Hardtanh(0.0, 3.0))),
            nn.Conv2d(4, 8, 1, groups=2, padding="valid"),
        )
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.features(x))
        x = F.avg_pool2d(x, 2)
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


def test_nested_sequentials_depthwise_grouped_and_clipped_activations():
    m = randomize_bn(Custom())
    net = import_module(m, (1, 9, 9))
    assert summary(net) == [
        ("features_0_0", "conv2d", (INPUT,), "relu"),
        ("features_1_dw", "conv2d", ("features_0_0",), "relu"),
        ("features_2", "conv2d", ("features_1_dw",), "relu"),
        ("avg_pool2d", "avgpool", ("features_2",), "relu"),
        ("adaptive_avg_pool2d", "gap", ("avg_pool2d",), "relu"),
        ("flatten", "flatten", ("adaptive_avg_pool2d",), "relu"),
        ("head", "linear", ("flatten",), "none"),
    ]
    stem, dw, pw = net.nodes[:3]
    assert (stem.stride, stem.padding, stem.groups) == ((2, 2), (1, 1), 1)
    assert (dw.padding, dw.groups, net.layers[dw.name].weight.shape) == ((1, 1), 4, (4, 1, 3, 3))
    assert (pw.padding, pw.groups, net.layers[pw.name].weight.shape) == ((0, 0), 2, (8, 2, 1, 1))
    assert net.layers["features_0_0"].clip == 6.0 and net.layers["features_1_dw"].clip == 3.0
    assert net.layers["features_2"].clip is None and net.layers["features_2"].bn is None
    assert net.clips == {"features_0_0": 6.0, "features_1_dw": 3.0}
    assert net.nodes[3].kernel == (2, 2) and net.nodes[3].stride == (2, 2)
    assert infer_shapes(net.nodes, net.input_shape)["adaptive_avg_pool2d"] == (8, 1, 1)
    assert_equivalent(m, net)


@pytest.mark.parametrize("act", [nn.ReLU(), nn.ReLU(inplace=True), F.relu, torch.relu, "method", nn.ReLU6(),
                                 F.relu6, nn.Hardtanh(0, 2.5), "hardtanh"])
def test_every_relu_form_fuses(act):
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(6, 4)
            self.bn = nn.BatchNorm1d(4)
            self.out = nn.Linear(4, 2)
            self.act = act if isinstance(act, nn.Module) else None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.bn(self.fc(x))
            if self.act is not None:
                y = self.act(y)
            elif act == "method":
                y = y.relu()
            elif act == "hardtanh":
                y = F.hardtanh(y, min_val=0.0, max_val=4.0)
            else:
                y = act(y)
            return self.out(y)

    m = randomize_bn(M())
    net = import_module(m, (6,))
    assert summary(net) == [("fc", "linear", (INPUT,), "relu"), ("out", "linear", ("fc",), "none")]
    want = {"hardtanh": 4.0}.get(act) if isinstance(act, str) else (
        6.0 if act in (F.relu6,) or isinstance(act, nn.ReLU6) else 2.5 if isinstance(act, nn.Hardtanh) else None)
    assert net.layers["fc"].clip == want
    assert net.layers["fc"].bn is not None
    assert_equivalent(m, net)


@pytest.mark.parametrize("form", ["Flatten", "torch.flatten", "method", "view_size", "view_shape", "reshape",
                                  "view_n"])
def test_every_flatten_form(form):
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3)
            self.flat = nn.Flatten()
            self.fc = nn.Linear(3 * 4 * 4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.relu(self.conv(x))
            n = x.size(0)
            x = {"Flatten": lambda: self.flat(x), "torch.flatten": lambda: torch.flatten(x, 1),
                 "method": lambda: x.flatten(1), "view_size": lambda: x.view(x.size(0), -1),
                 "view_shape": lambda: x.view(x.shape[0], -1), "reshape": lambda: x.reshape(x.shape[0], -1),
                 "view_n": lambda: x.view(n, -1)}[form]()
            return self.fc(x)

    net = import_module(M(), (2, 6, 6))
    assert [n.op for n in net.nodes] == ["conv2d", "flatten", "linear"]
    assert infer_shapes(net.nodes, net.input_shape)[net.nodes[1].name] == (48,)
    assert_equivalent(*_same(M, (2, 6, 6)))


def test_flatten_of_a_flat_tensor_is_dropped_and_after_gap_kept():
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.gap = nn.AdaptiveAvgPool2d((1, 1))
            self.flatten = nn.Flatten()
            self.fc1 = nn.Linear(4, 4)
            self.fc2 = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.flatten(self.gap(F.relu(self.conv(x))))
            x = F.relu(self.fc1(x)).view(x.size(0), -1)
            return self.fc2(torch.flatten(x, 1))

    m, net = _same(M, (1, 5, 5))
    assert summary(net) == [("conv", "conv2d", (INPUT,), "relu"), ("gap", "gap", ("conv",), "relu"),
                            ("flatten", "flatten", ("gap",), "relu"), ("fc1", "linear", ("flatten",), "relu"),
                            ("fc2", "linear", ("fc1",), "none")]
    assert_equivalent(m, net)


@pytest.mark.parametrize("keepdim", [True, False])
def test_mean_over_the_plane_is_global_pooling(keepdim):
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.fc = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.conv(x)
            x = x.mean((2, 3), keepdim=True).flatten(1) if keepdim else torch.mean(x, [-2, -1])
            return self.fc(x)

    m, net = _same(M, (1, 5, 5))
    assert [(n.op, n.act) for n in net.nodes] == [("conv2d", "none"), ("gap", "none"), ("flatten", "relu"),
                                                  ("linear", "none")]
    assert net.nodes[1].kernel == (1, 1) and net.nodes[1].stride == (1, 1)
    assert_equivalent(m, net)


def test_pools_functional_forms_and_relu_after_maxpool_of_relu_is_dropped():
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.pool = nn.MaxPool2d(kernel_size=(2, 3), stride=(2, 1))
            self.avg = nn.AvgPool2d(2)
            self.drop = nn.Dropout2d(0.5)
            self.ident = nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.relu(self.conv(x))
            x = F.relu(self.drop(self.pool(x)))  # a ReLU of a ReLU'd tensor: a no-op
            x = F.max_pool2d(self.ident(x), 2, stride=1)
            x = F.dropout(x, 0.3, self.training)
            return self.avg(x).contiguous()

    m, net = _same(M, (1, 9, 10))
    assert summary(net) == [("conv", "conv2d", (INPUT,), "relu"), ("pool", "maxpool", ("conv",), "relu"),
                            ("max_pool2d", "maxpool", ("pool",), "relu"), ("avg", "avgpool", ("max_pool2d",), "relu")]
    assert (net.nodes[1].kernel, net.nodes[1].stride) == ((2, 3), (2, 1))
    assert (net.nodes[2].kernel, net.nodes[2].stride) == ((2, 2), (1, 1))
    assert_equivalent(m, net)


def test_avgpool_of_a_signed_tensor_has_act_none():
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(2, 2))
    net = import_module(m, (1, 4, 4))
    assert [(n.op, n.act) for n in net.nodes][:2] == [("conv2d", "none"), ("avgpool", "none")]


class Residual(nn.Module):
    def __init__(self, relu_after: bool, form: str) -> None:
        super().__init__()
        self.relu_after, self.form = relu_after, form
        self.conv1 = nn.Conv2d(2, 2, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(2)
        self.conv2 = nn.Conv2d(2, 2, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        y = self.conv2(x)
        if self.form == "+":
            out = y + x
        elif self.form == "torch.add":
            out = torch.add(y, x)
        elif self.form == "method":
            out = y.add(x)
        else:
            y += x
            out = y
        return self.relu(out) if self.relu_after else out


@pytest.mark.parametrize("form", ["+", "torch.add", "method", "+="])
@pytest.mark.parametrize("relu_after", [True, False])
def test_residual_add(form, relu_after):
    m = randomize_bn(Residual(relu_after, form))
    net = import_module(m, (2, 5, 5))
    add = net.nodes[-1]
    assert [n.name for n in net.nodes[:2]] == ["conv1", "conv2"]
    assert add.op == "add" and add.inputs == ("conv2", "conv1") and add.act == ("relu" if relu_after else "none")
    assert re.fullmatch(r"[a-z_]+", add.name)
    assert_equivalent(m, net)


def test_names_are_sanitized_unique_and_stateless_modules_may_be_reused():
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.input = nn.Conv2d(1, 2, 3, padding=1)  # "input" is taken by the network input
            self.pool = nn.MaxPool2d(2)
            self.layers = nn.ModuleDict({"fc-a": nn.Linear(2, 2)})

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.pool(self.pool(F.relu(self.input(x))))
            return self.layers["fc-a"](torch.flatten(x, 1))

    net = import_module(M(), (1, 4, 4))
    names = [n.name for n in net.nodes]
    assert names == ["input_1", "pool", "pool_1", "flatten", "layers_fc_a"]
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in names)


def test_dead_branches_are_pruned_and_training_mode_is_restored():
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.aux = nn.Linear(3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.aux(x)
            return self.fc(x)

    m = M().train()
    net = import_module(m, (3,))
    assert [n.name for n in net.nodes] == ["fc"] and set(net.layers) == {"fc"}
    assert m.training and m.fc.training


def test_subclass_of_a_supported_layer_without_own_forward_is_kept():
    class MyConv(nn.Conv2d):
        pass

    net = import_module(nn.Sequential(MyConv(1, 2, 3)), (1, 4, 4))
    assert [n.op for n in net.nodes] == ["conv2d"]


# ---------------------------------------------------------------- built-ins and examples


def test_builtin_architectures_import_to_the_reference_graphs():
    nodes, shape = arch("cnn-digits")
    assert shape == (1, 8, 8)
    assert [(n.name, n.op, n.act) for n in nodes] == [
        ("conv1", "conv2d", "relu"), ("pool1", "maxpool", "relu"), ("conv2", "conv2d", "relu"),
        ("pool2", "maxpool", "relu"), ("flatten", "flatten", "relu"), ("fc", "linear", "none")]
    assert nodes[0] == Node("conv1", "conv2d", (INPUT,), out_channels=16, kernel=(3, 3), padding=(1, 1))

    nodes, shape = arch("mlp")
    assert [(n.name, n.op, n.out_channels) for n in nodes] == [("flatten", "flatten", 0), ("fc1", "linear", 64),
                                                               ("fc2", "linear", 32), ("fc3", "linear", 10)]
    nodes, shape = arch("lenet5")
    shapes = infer_shapes(nodes, shape)
    assert [n.name for n in nodes] == ["conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "fc2", "fc3"]
    assert shapes["conv1"] == (6, 28, 28) and shapes["pool2"] == (16, 5, 5) and shapes["fc3"] == (10,)

    nodes, shape = arch("resnet8")
    shapes = infer_shapes(nodes, shape)
    assert [n.name for n in nodes] == ["stem", "b1c1", "b1c2", "add", "b2c1", "b2c2", "b2sc", "add_1", "b3c1",
                                       "b3c2", "b3sc", "add_2", "gap", "flatten", "fc"]
    by = {n.name: n for n in nodes}
    assert by["b1c2"].act == "none" and by["b2sc"].kernel == (1, 1) and by["b2sc"].stride == (2, 2)
    assert by["add_1"].inputs == ("b2c2", "b2sc") and by["add_1"].act == "relu"
    assert by["add"].inputs == ("b1c2", "stem")
    assert by["gap"].op == "gap" and by["gap"].act == "relu"
    assert shapes["add_2"] == (64, 8, 8) and shapes["gap"] == (64, 1, 1) and shapes["fc"] == (10,)


@pytest.mark.parametrize("name", list(ARCHS))
def test_builtin_modules_have_bn_on_every_weighted_layer(name):
    m = randomize_bn(arch_module(name))
    net = import_module(m, ARCHS[name][1])
    assert all(layer.bn is not None and layer.bias is None for layer in net.layers.values())
    assert [n.name for n in net.nodes] == [n.name for n in arch(name)[0]]
    assert_equivalent(m, net)


def test_arch_leaves_the_global_rng_alone():
    torch.manual_seed(1)
    arch("cnn-digits")
    after = torch.rand(3)
    torch.manual_seed(1)
    assert torch.equal(after, torch.rand(3))


EXAMPLE_SHAPES = {"resnet8": (3, 32, 32), "ds_cnn": (1, 49, 10), "mobilenet_v1": (3, 96, 96), "autoencoder": (640,)}


@pytest.fixture(scope="module")
def examples() -> dict[str, tuple[nn.Module, ImportedNetwork]]:
    """Each example module (built by its file's function of the same name) and its import."""
    out = {}
    for name, shape in EXAMPLE_SHAPES.items():
        m = load_model_source(f"{EXAMPLES / name}.py:{name}")
        out[name] = (m, import_module(m, shape))
    return out


@pytest.mark.parametrize(("name", "ops", "out"), [
    ("resnet8", {"conv2d": 9, "add": 3, "gap": 1, "flatten": 1, "linear": 1}, 10),
    ("ds_cnn", {"conv2d": 9, "gap": 1, "flatten": 1, "linear": 1}, 12),
    ("mobilenet_v1", {"conv2d": 27, "gap": 1, "flatten": 1, "linear": 1}, 2),
    ("autoencoder", {"linear": 10}, 640),
])
def test_examples_import(examples, name, ops, out):
    m, net = examples[name]
    counts: dict[str, int] = {}
    for n in net.nodes:
        counts[n.op] = counts.get(n.op, 0) + 1
    assert counts == ops
    assert net.nodes[-1].out_channels == out and net.nodes[-1].act == "none"
    assert infer_shapes(net.nodes, net.input_shape)[net.nodes[-1].name] == (out,)
    documented = re.search(r"Parameters: ([\d,]+)", (EXAMPLES / f"{name}.py").read_text()).group(1)
    assert sum(p.numel() for p in m.parameters()) == int(documented.replace(",", ""))
    assert f"{name}.py:{name}" in (EXAMPLES / "README.md").read_text()


def test_example_details(examples):
    ds = examples["ds_cnn"][1]
    by = {n.name: n for n in ds.nodes}
    assert (by["conv1"].kernel, by["conv1"].stride, by["conv1"].padding) == ((10, 4), (2, 2), (5, 1))
    assert by["dw1"].groups == 64 and by["pw1"].kernel == (1, 1)
    assert infer_shapes(ds.nodes, ds.input_shape)["conv1"] == (64, 25, 5)
    mb = examples["mobilenet_v1"][1]
    shapes = infer_shapes(mb.nodes, mb.input_shape)
    assert shapes["conv1"] == (8, 48, 48) and shapes["pw13"] == (256, 3, 3)
    assert sum(n.stride == (2, 2) for n in mb.nodes) == 5
    rn = examples["resnet8"][1]
    assert rn.layers["stage2_shortcut"].bn is None and rn.layers["stage2_shortcut"].bias is not None
    ae = examples["autoencoder"][1]
    assert [n.out_channels for n in ae.nodes] == [128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
    assert all(ae.layers[n.name].bn is not None for n in ae.nodes[:-1]) and ae.layers["out"].bn is None


@pytest.mark.parametrize("name", ["resnet8", "ds_cnn", "autoencoder"])
def test_examples_compute_what_their_graph_says(examples, name):
    m, net = examples[name]
    assert_equivalent(randomize_bn(m), import_module(m, net.input_shape))


# ---------------------------------------------------------------- errors


def test_unsupported_module_is_named():
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.GELU())
    with pytest.raises(UnsupportedLayerError, match=r"^3 \(GELU\): unsupported layer \(supported: Conv2d, Linear"):
        import_module(m, (1, 5, 5))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.GELU())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.features(x)

    with pytest.raises(UnsupportedLayerError, match=r"^features\.3 \(GELU\): unsupported layer"):
        import_module(Net(), (1, 5, 5))
    assert issubclass(UnsupportedLayerError, WavebitsError) and issubclass(ImportTraceError, WavebitsError)


@pytest.mark.parametrize(("fn", "pattern"), [
    (torch.sigmoid, r"^sigmoid \(torch\.sigmoid\): unsupported layer"),
    (lambda x: x * 2, r"^mul \(operator\.mul\): unsupported layer"),
    (lambda x: x + 1, r"^add \(operator\.add\): adds 1, not a tensor"),
    (lambda x: x.view(1, -1), r"^view \(Tensor\.view\): changes the batch dimension"),
    (lambda x: x.view(x.size(0), 2, -1), r"^view \(Tensor\.view\): reshapes \(2, 4, 4\) to \(2, 16\); only flattening"),
    (lambda x: torch.flatten(x), r"^flatten \(torch\.flatten\): flattens dims 0\.\.-1"),
    (lambda x: torch.flatten(x, 2), r"^flatten \(torch\.flatten\): flattens dims 2\.\.-1"),
    (lambda x: F.hardtanh(x), r"^hardtanh \(torch\.nn\.functional\.hardtanh\): Hardtanh\(-1\.0, 1\.0\)"),
    (lambda x: F.max_pool2d(x, 2, ceil_mode=True), r"^max_pool2d \(.*max_pool2d\): ceil_mode=True"),
    (lambda x: F.avg_pool2d(x, 2, padding=1), r"^avg_pool2d \(.*avg_pool2d\): padding 1"),
    (lambda x: F.adaptive_avg_pool2d(x, 2), r"^adaptive_avg_pool2d \(.*\): output size 2"),
    (lambda x: x.mean(1), r"^mean \(Tensor\.mean\): mean over dims 1"),
])
def test_unsupported_functions_are_named(fn, pattern):
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return fn(self.conv(x))

    with pytest.raises(UnsupportedLayerError, match=pattern):
        import_module(M(), (1, 4, 4))


@pytest.mark.parametrize(("module", "pattern"), [
    (nn.Conv2d(1, 2, 3, dilation=2), r"^0 \(Conv2d\): dilation \(2, 2\) is not supported"),
    (nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"), r"^0 \(Conv2d\): padding_mode='reflect'"),
    (nn.Conv2d(1, 2, 2, padding="same"), r"^0 \(Conv2d\): padding='same' with the even kernel"),
    (nn.MaxPool2d(2, ceil_mode=True), r"^0 \(MaxPool2d\): ceil_mode=True is not supported"),
    (nn.MaxPool2d(2, padding=1), r"^0 \(MaxPool2d\): padding 1"),
    (nn.MaxPool2d(2, dilation=2), r"^0 \(MaxPool2d\): dilation 2"),
    (nn.AvgPool2d(2, ceil_mode=True), r"^0 \(AvgPool2d\): ceil_mode=True"),
    (nn.AdaptiveAvgPool2d(2), r"^0 \(AdaptiveAvgPool2d\): output size 2"),
    (nn.Hardtanh(), r"^0 \(Hardtanh\): Hardtanh\(-1\.0, 1\.0\) is not supported"),
    (nn.BatchNorm2d(1), r"^0 \(BatchNorm2d\): BatchNorm must directly follow a Conv2d or Linear"),
    (nn.ReLU(), r"^0 \(ReLU\): an activation must directly follow"),
    (nn.Linear(5, 2), r"^0 \(Linear\): needs a flat input, got \(1, 5, 5\)"),
])
def test_unsupported_settings_are_named(module, pattern):
    with pytest.raises(UnsupportedLayerError, match=pattern):
        import_module(nn.Sequential(module, nn.Flatten()), (1, 5, 5))


def test_standalone_bn_and_relu_errors():
    after_pool = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.BatchNorm2d(2))
    with pytest.raises(UnsupportedLayerError, match=r"^2 \(BatchNorm2d\): BatchNorm must directly follow"):
        import_module(after_pool, (1, 6, 6))
    relu_after_pool = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.ReLU())
    with pytest.raises(UnsupportedLayerError, match=r"^2 \(ReLU\): an activation must directly follow"):
        import_module(relu_after_pool, (1, 6, 6))
    bn_no_stats = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, track_running_stats=False))
    with pytest.raises(UnsupportedLayerError, match=r"^1 \(BatchNorm2d\): has no running statistics"):
        import_module(bn_no_stats, (1, 6, 6))
    relu6_of_relu = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.ReLU6())
    with pytest.raises(UnsupportedLayerError, match=r"^3 \(ReLU6\): an activation must directly follow"):
        import_module(relu6_of_relu, (1, 6, 6))

    class Branch(nn.Module):  # the conv output also feeds the add: its BN cannot be fused
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)
            self.bn = nn.BatchNorm2d(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return self.bn(y) + y

    with pytest.raises(UnsupportedLayerError, match=r"^bn \(BatchNorm2d\): BatchNorm must directly follow"):
        import_module(Branch(), (2, 4, 4))


def test_shared_weights_and_constants_are_rejected():
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(F.relu(self.fc(x)))

    with pytest.raises(UnsupportedLayerError, match=r"^fc \(Linear\): is called more than once"):
        import_module(Shared(), (3,))

    class Param(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.offset = nn.Parameter(torch.zeros(3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x) + self.offset

    with pytest.raises(UnsupportedLayerError, match=r"^add \(operator\.add\): input offset is not a tensor computed"):
        import_module(Param(), (3,))


def test_untraceable_forward_names_the_line():
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:  # data-dependent control flow
                return self.fc(x)
            return x

    line = Branchy.forward.__code__.co_firstlineno + 1
    with pytest.raises(ImportTraceError) as info:
        import_module(Branchy(), (3,))
    msg = str(info.value)
    assert msg.startswith("Branchy: torch.fx cannot trace forward() at ") and "\n" not in msg
    assert f"{Path(__file__).name}:{line}:" in msg


def test_inputs_outputs_and_shape_errors():
    class Two(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return x + y

    with pytest.raises(WavebitsError, match=r"^Two: forward\(\) takes 2 inputs \(x, y\); a network takes one"):
        import_module(Two(), (3,))

    class Pair(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.fc(x), x

    with pytest.raises(WavebitsError, match=r"^Pair: forward\(\) returns a tuple; a network returns one tensor"):
        import_module(Pair(), (3,))
    with pytest.raises(WavebitsError, match=r"^Identity: forward\(\) has no layers"):
        import_module(nn.Identity(), (3,))
    with pytest.raises(WavebitsError, match=r"^Sequential: 0 \(Linear\) fails on an input of shape \(4,\)"):
        import_module(nn.Sequential(nn.Linear(3, 3)), (4,))
    with pytest.raises(WavebitsError, match=r"must be \(C, H, W\) or \(features,\)"):
        import_module(nn.Sequential(nn.Linear(3, 3)), (1, 3))


def test_an_unused_defaulted_second_input_is_fine():
    class Opt(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
            return self.fc(x)

    assert [n.name for n in import_module(Opt(), (3,)).nodes] == ["fc"]


# ---------------------------------------------------------------- load_model_source / load_weights


def test_load_model_source(tmp_path):
    src = tmp_path / "net.py"
    src.write_text("from torch import nn\n\n"
                   "def good():\n    return nn.Sequential(nn.Linear(4, 2))\n\n"
                   "def bad():\n    return 42\n\n"
                   "def boom():\n    raise RuntimeError('no data')\n\n"
                   "VALUE = 3\n")
    assert isinstance(load_model_source(f"{src}:good"), nn.Sequential)
    cases = {
        f"{src}": r"expected FILE\.py:FUNCTION",
        f"{src}:": r"expected FILE\.py:FUNCTION",
        f"{tmp_path / 'net.txt'}:good": r"expected FILE\.py:FUNCTION",
        f"{tmp_path / 'missing.py'}:good": r"missing\.py: no such file",
        f"{src}:nothere": r"net\.py: no function 'nothere'",
        f"{src}:VALUE": r"net\.py: 'VALUE' is a int, not a function",
        f"{src}:bad": r"net\.py:bad\(\) returned a int, expected a torch\.nn\.Module",
        f"{src}:boom": r"net\.py:boom\(\) failed: RuntimeError: no data",
    }
    for spec, pattern in cases.items():
        with pytest.raises(WavebitsError, match=pattern):
            load_model_source(spec)
    broken = tmp_path / "broken.py"
    broken.write_text("import not_a_module_anywhere\n")
    with pytest.raises(WavebitsError, match=r"broken\.py: import failed: ModuleNotFoundError: No module named"):
        load_model_source(f"{broken}:good")


def test_load_weights(tmp_path):
    def make() -> nn.Module:
        return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))

    trained = make()
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(1.0)
    path = tmp_path / "w.pt"
    for saved in (trained.state_dict(), {"state_dict": trained.state_dict()}, {"model": trained.state_dict()},
                  {f"module.{k}": v for k, v in trained.state_dict().items()}):
        torch.save(saved, path)
        fresh = make()
        assert load_weights(fresh, path) is fresh
        assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), trained.state_dict().values(),
                                                     strict=True))
    no_counter = {k: v for k, v in trained.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(no_counter, path)
    load_weights(make(), path)

    def fails(data: object, pattern: str) -> None:
        torch.save(data, path)
        with pytest.raises(WavebitsError, match=pattern):
            load_weights(make(), path)

    sd = trained.state_dict()
    fails({k: v for k, v in sd.items() if k != "3.bias"}, r"w\.pt: missing key '3\.bias' \(1 key in all\)")
    fails({**sd, "extra.weight": torch.zeros(1)}, r"w\.pt: unexpected key 'extra\.weight'")
    fails({**sd, "0.weight": torch.zeros(3, 5)}, r"w\.pt: '0\.weight' has shape \(3, 5\), the model expects \(3, 4\)")
    fails([1, 2], r"w\.pt: expected a state dict")
    fails({**sd, "0.weight": 3}, r"w\.pt: '0\.weight' is a int, not a tensor")
    path.write_bytes(b"not a torch file")
    with pytest.raises(WavebitsError, match=r"w\.pt: cannot read weights: "):
        load_weights(make(), path)
    with pytest.raises(WavebitsError, match=r"nope\.pt: no such file"):
        load_weights(make(), tmp_path / "nope.pt")


class Pickled:
    """An arbitrary object: ``weights_only`` loading refuses it."""


def test_unsafe_pickles_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"0.weight": Pickled()}, path)
    with pytest.raises(WavebitsError, match=r"evil\.pt: cannot read weights"):
        load_weights(nn.Sequential(nn.Linear(1, 1)), path)
