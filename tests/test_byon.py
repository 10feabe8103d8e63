"""Bring your own network: a module the project has never seen, through the CLI and the Python API.

The network below is written here, not built in: nested Sequentials, a custom forward with a
residual add, a depthwise convolution, ReLU6, global average pooling and a bias-only classifier.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import wavebits as wb

NET_SOURCE = textwrap.dedent('''
    import torch
    from torch import nn


    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.dw = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.BatchNorm2d(c),
                                    nn.ReLU6())
            self.pw = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.pw(self.dw(x)) + x)


    class TinyNet(nn.Module):
        def __init__(self, classes=4):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1, bias=False),
                                          nn.BatchNorm2d(8), nn.ReLU(), Block(8), nn.Dropout(0.1))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(8, classes)

        def forward(self, x):
            return self.head(torch.flatten(self.pool(self.features(x)), 1))


    def tiny_net():
        return TinyNet()


    class WithGelu(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.GELU())
            self.head = nn.Linear(4 * 10 * 10, 4)

        def forward(self, x):
            return self.head(self.features(x).flatten(1))


    def with_gelu():
        return WithGelu()
''')


def _signal_data(n: int, shape: tuple[int, ...], classes: int, signed: bool, seed: int = 0):
    """Seeded, learnable synthetic data: one prototype per class plus noise, as 8-bit integers."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    protos = rng.normal(0, 40, (classes, *shape))
    x = protos[y] + rng.normal(0, 15, (n, *shape)) + (0 if signed else 128)
    lo, hi, dtype = (-128, 127, np.int8) if signed else (0, 255, np.uint8)
    return np.clip(np.round(x), lo, hi).astype(dtype), y


@pytest.fixture(scope="module")
def net_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("net") / "mynet.py"
    path.write_text(NET_SOURCE)
    return path


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wavebits.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.slow
def test_cli_trains_a_new_network_from_pretrained_weights(tmp_path, net_file):
    x, y = _signal_data(96, (1, 20, 20), 4, signed=True)
    np.savez(tmp_path / "d.npz", x=x, y=y, scale=np.float64(1 / 64))
    sys.path.insert(0, str(net_file.parent))
    try:
        import mynet
    finally:
        sys.path.pop(0)
    torch.manual_seed(0)
    torch.save(mynet.tiny_net().state_dict(), tmp_path / "w.pt")
    out = tmp_path / "out" / "tiny.wbank"
    r = _cli("train", "--model", f"{net_file}:tiny_net", "--weights", str(tmp_path / "w.pt"), "--data", "npz",
             "--data-dir", str(tmp_path / "d.npz"), "--widths", "8,4,2,1", "--epochs", "1", "-o", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "20 % hold-out split" in r.stdout and "int8" in r.stdout
    bank = wb.read_bank(out)
    assert bank.input_signed and bank.input_scale == 1 / 64 and bank.widths == (8, 4, 2, 1)
    ops = {n.op for n in bank.nodes}
    assert {"conv2d", "add", "gap", "flatten", "linear"} <= ops
    assert any(n.groups == 8 for n in bank.nodes)
    assert bank.meta["pretrained"] is True and bank.meta["float_epochs"] == 0
    assert set(bank.meta["widths"]) == {"8", "4", "2", "1"}
    report = json.loads((out.parent / "report.json").read_text())
    assert report["kind"] == "train" and report["schema_version"] == 3 and report["ok"] is True
    assert [p["bits"] for p in report["parity"]] == [8, 4, 2, 1]
    assert report["config"]["source"].endswith("mynet.py:tiny_net")
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_names_an_unsupported_layer(tmp_path, net_file):
    x, y = _signal_data(20, (1, 12, 12), 4, signed=False)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    r = _cli("train", "--model", f"{net_file}:with_gelu", "--data", "npz", "--data-dir", str(tmp_path / "d.npz"),
             "-o", str(tmp_path / "g.wbank"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "features.3 (GELU): unsupported layer" in lines[-1], r.stderr
    assert not (tmp_path / "g.wbank").exists()


@pytest.mark.parametrize(("args", "fragment"), [
    (["--model", "missing.py:f"], "missing.py"),
    (["--model", "{net}"], "file.py:function"),
    (["--model", "{net}:nothing"], "nothing"),
    (["--model", "{net}:tiny_net", "--arch", "lenet5"], "--model and --arch"),
    (["--data", "npz"], "data.dir"),
    (["--widths", "8,9"], "--widths"),
    (["--model", "{net}:tiny_net", "--weights", "{tmp}/none.pt"], "none.pt"),
])
def test_cli_train_errors_are_one_line(tmp_path, net_file, args, fragment):
    args = [a.format(net=net_file, tmp=tmp_path) for a in args]
    r = _cli("train", *args, "-o", str(tmp_path / "x.wbank"))
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len([ln for ln in lines if ln.startswith("error: ")]) == 1 and fragment in lines[-1], r.stderr


@pytest.mark.slow
def test_python_api_from_module_to_hls_and_rtl(tmp_path):
    """import -> train -> bank -> golden -> HLS C simulation and RTL simulation predictions, on the user's x."""
    from torch import nn

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.BatchNorm1d(16), nn.ReLU(),
                                      nn.Linear(16, 3))

        def forward(self, x):
            return self.body(x)

    x, y = _signal_data(120, (1, 6, 6), 3, signed=False)
    data = wb.from_arrays(x[:96], y[:96], x[96:], y[96:])
    net = wb.import_model(Mlp(), (1, 6, 6))
    result = wb.train(net, data, widths=(8, 2, 1), epochs=5, float_epochs=10, batch_size=16,
                      output=tmp_path / "mlp.wbank")
    assert all(p.ok for p in result.parity), result.parity
    bank = wb.read_bank(tmp_path / "mlp.wbank")
    golden = wb.golden(bank)
    hls = wb.compile_hls(bank, tmp_path / "hls", weights="reconstruct")
    rtl = wb.compile_rtl(bank, tmp_path / "rtl")
    for b in bank.widths:
        want = golden.logits(data.x_test[:6], b)
        assert np.array_equal(hls.predict(data.x_test[:6], b), want), b
        assert np.array_equal(rtl.predict(data.x_test[:3], b), want[:3]), b
    assert hls.check(data.x_test[:6], [8, 1, 2, 8]).ok
    assert (golden.predict(data.x_test, 8) == data.y_test).mean() > 0.5


@pytest.mark.slow
def test_python_api_autoencoder_with_signed_inputs(tmp_path):
    """A reconstruction task (no labels) on int8 features, bit-exact in the C simulation."""
    from torch import nn

    rng = np.random.default_rng(3)
    basis = rng.normal(0, 30, (4, 24))
    x = np.clip(np.round(rng.normal(0, 1, (160, 4)) @ basis), -128, 127).astype(np.int8)
    data = wb.from_arrays(x[:128], x_test=x[128:], labels=False, scale=1 / 64)
    model = nn.Sequential(nn.Linear(24, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 24))
    result = wb.train(model, data, widths=(8, 4), epochs=2, float_epochs=2)
    assert result.task.name == "reconstruct" and all(p.ok for p in result.parity), result.parity
    hls = wb.compile_hls(result.bank, tmp_path / "hls")
    for b in (8, 4):
        assert np.array_equal(hls.predict(data.x_test[:4], b), wb.golden(result.bank).logits(data.x_test[:4], b))


def test_importing_the_package_loads_neither_torch_nor_tensorflow():
    code = ("import sys, wavebits as wb; wb.compile_hls; wb.from_arrays; "
            "print('torch' in sys.modules, 'tensorflow' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split() == ["False", "False"], (r.stdout, r.stderr)
