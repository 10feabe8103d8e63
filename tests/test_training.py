import io
import re
import tarfile
from dataclasses import replace

import numpy as np
import pytest
import torch
from wavebits.sim import GoldenModel
from wavebits.training.config import load_config
from wavebits.training.data import load, load_cifar10
from wavebits.training.loop import predict, to_input
from wavebits.training.quant import ACT_QUANT, WEIGHT_QUANT
from wavebits.training.run import run_training

from wavebits.bank import read_bank, write_bank
from wavebits.errors import DataError, WavebitsError
from wavebits.intmath import quantize_weight, requant_output


@pytest.mark.slow
def test_golden_model_agrees_with_fake_quant_at_every_width(trained):
    result, _, _ = trained
    assert [p.bits for p in result.parity] == [8, 7, 6, 5, 4, 3, 2, 1]
    for p in result.parity:
        assert p.ok, p  # >= 99.9 % equal predictions, accuracy within 0.1 point
    assert result.parity[0].golden_accuracy > 0.9  # it learned something even in 4 epochs


@pytest.mark.slow
def test_exported_weights_are_the_fake_quant_weights(trained):
    result, path, _ = trained
    bank = read_bank(path)
    for name, layer in result.model.layers.items():
        for b in bank.widths:
            fq = layer.weight(b).detach().double() / layer.weight.step(b)
            assert torch.equal(fq, torch.from_numpy(bank.weights[name].banks[b].astype(np.float64))), (name, b)


@pytest.mark.slow
def test_activations_are_the_golden_integers(trained):
    """Layer by layer, the fake-quant activations divided by their step are the golden integers."""
    result, path, _ = trained
    bank, model = read_bank(path), result.model
    x, _ = load("digits", "test")
    golden = GoldenModel(bank)
    names = [n.name for n in bank.nodes if n.requantizes and n.act == "relu"]
    for b in bank.widths:
        g = golden.run(x, b, names)
        model.eval().set_width(b)
        with torch.no_grad():
            f = model(to_input(x), outputs=names)
        for n in names:
            ints = np.rint(f[n].numpy() / model.act_scale(n, b)).astype(np.int64)
            assert np.mean(ints == g[n]) >= 0.999, (n, b)


@pytest.mark.slow
def test_training_is_deterministic(tmp_path, trained):
    _, first, cfg = trained
    again = tmp_path / "again.wbank"
    run_training(cfg, again)
    assert again.read_bytes() == first.read_bytes()


@pytest.mark.slow
def test_width_switch_rebuilds_nothing(trained):
    result, _, _ = trained
    model = result.model
    before = [id(m) for m in model.modules()]
    x, _ = load("digits", "test")
    outs = {b: predict(model, x[:64], b) for b in (8, 1)}
    assert [id(m) for m in model.modules()] == before
    with pytest.raises(ValueError):
        model.set_width(9)
    assert outs[8].shape == outs[1].shape == (64,)


@pytest.mark.slow
def test_qonnx_export_matches_golden(tmp_path, trained):
    from wavebits.training.qonnx_export import compare_qonnx

    result, _, _ = trained
    x, y = load("digits", "test")
    bank = replace(result.bank, widths=(8, 2, 1))
    for b, agreement, _, _ in compare_qonnx(result.model, bank, x, y, tmp_path):
        # float32 BatchNorm and half-to-even rounding may flip a rare activation: bounded here
        assert agreement >= 0.99, (b, agreement)
    assert (tmp_path / f"{bank.name}-w1.onnx").is_file()


@pytest.mark.slow
def test_export_round_trips_through_file(trained, tmp_path):
    result, _, _ = trained
    p = tmp_path / "x.wbank"
    write_bank(result.bank, p)
    assert read_bank(p).meta["source"] == "wavebits train"


# ---------------------------------------------------------------- configs and data


def test_config_errors_name_file_and_key(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[train]\nepochz = 3\n")
    with pytest.raises(WavebitsError, match=r"c\.toml: train\.epochz: unknown key"):
        load_config(p)
    p.write_text("[model]\nwidths = [8, 9]\n")
    with pytest.raises(WavebitsError, match=r"model\.widths"):
        load_config(p)
    p.write_text("[train\n")
    with pytest.raises(WavebitsError, match="not valid TOML"):
        load_config(p)
    with pytest.raises(WavebitsError, match="no such config file"):
        load_config(tmp_path / "none.toml")
    p.write_text("[train]\nmul_bits = 64\n")
    with pytest.raises(WavebitsError, match=r"train\.mul_bits: expected an integer in 8\.\.40"):
        load_config(p)


@pytest.mark.parametrize(("text", "key", "problem"), [
    ('[train]\nepochs = "ten"\n', "train.epochs", "expected an integer"),
    ("[train]\nbatch_size = 0\n", "train.batch_size", "expected an integer in 1.."),
    ("[train]\nlr = -0.1\n", "train.lr", "expected a positive number"),
    ("[train]\nseed = 1.0\n", "train.seed", "expected an integer"),
    ("[train]\nepochs = true\n", "train.epochs", "expected an integer"),
    ("[train]\nprobabilities = [1, 2]\n", "train.probabilities", "expected 8 weights"),
    ("[recipe]\nwavelet = 1\n", "recipe.wavelet", "expected true or false"),
    ('[data]\nname = "imagenet"\n', "data.name", "expected one of"),
    ('[model]\nsource = "net.py"\n', "model.source", "file.py:function"),
    ('[model]\narch = "lenet5"\nsource = "n.py:f"\n', "model", "either arch"),
    ('[data]\nname = "npz"\n', "data.dir", "needs a file or folder"),
    ('[train]\ndevice = "tpu"\n', "train.device", "expected one of cpu, cuda"),
    ("[train]\nthreads = 0\n", "train.threads", "expected an integer in 1.."),
    ("[train]\nworkers = -1\n", "train.workers", "expected an integer in 0.."),
    ("[data]\nstream = 1\n", "data.stream", "expected true or false"),
    ("[data]\nstream = true\n", "data.stream", "streaming reads image folders"),
])
def test_config_values_are_type_checked_before_anything_runs(tmp_path, text, key, problem):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(WavebitsError, match=rf"c\.toml: {re.escape(key)}: .*{re.escape(problem)}"):
        load_config(p)


def test_config_that_is_not_utf8(tmp_path):
    p = tmp_path / "c.toml"
    p.write_bytes(b"[train]\nepochs = 3 # \xff\xfe\n")
    with pytest.raises(WavebitsError, match="not UTF-8"):
        load_config(p)


def test_requant_multipliers_widen_for_residual_and_deep_networks():
    from wavebits.training.loop import DEEP, default_mul_bits

    from wavebits.archs import arch
    from wavebits.graph import INPUT, Node

    assert default_mul_bits(arch("lenet5")[0]) == 24 and default_mul_bits(arch("resnet8")[0]) == 32
    deep = [Node(f"fc{i}", "linear", (f"fc{i - 1}" if i else INPUT,), out_channels=4) for i in range(DEEP + 1)]
    assert default_mul_bits(deep[:DEEP]) == 24 and default_mul_bits(deep) == 32


def test_config_defaults_and_overrides():
    cfg = load_config(None, "digits", epochs=3)
    assert cfg.arch == "cnn-digits" and cfg.epochs == 3 and abs(sum(cfg.sampling()) - 1) < 1e-12
    assert cfg.mul_bits is None and load_config(None, "cifar10").mul_bits == 32


def _cifar_tarball(path, per_class=1):
    from PIL import Image

    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as tf:
        for split in ("train", "test"):
            for cls in ("airplane", "cat", "truck"):
                for i in range(per_class):
                    buf = io.BytesIO()
                    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, "JPEG")
                    info = tarfile.TarInfo(f"CIFAR-10-images/{split}/{cls}/{i:04d}.jpg")
                    info.size = len(buf.getvalue())
                    tf.addfile(info, io.BytesIO(buf.getvalue()))


def test_cifar_tarball_loader(tmp_path):
    p = tmp_path / "c.tar.gz"
    _cifar_tarball(p, 2)
    x, y = load_cifar10(p, "test")
    assert x.shape == (6, 3, 32, 32) and x.dtype == np.uint8 and sorted(set(y.tolist())) == [0, 3, 9]
    with pytest.raises(DataError, match="no such file"):
        load_cifar10(tmp_path / "missing.tar.gz")
    (tmp_path / "bad.tar.gz").write_bytes(b"junk")
    with pytest.raises(DataError, match="not a readable tarball"):
        load_cifar10(tmp_path / "bad.tar.gz")


@pytest.mark.slow
def test_mnist_lenet_trains_and_exports(tmp_path, mnist_dir):
    cfg = load_config(None, "mnist", data_dir=str(mnist_dir), float_epochs=1, epochs=1, limit_train=3000,
                      limit_test=500)
    result = run_training(cfg, tmp_path / "m.wbank")
    assert all(p.ok for p in result.parity)
    assert result.parity[0].golden_accuracy > 0.8


def test_brevitas_width_quantizers_are_the_integer_contract():
    """Training's Brevitas IntQuant (round half up, run-time width) equals wavebits.intmath on ties."""
    twice = np.arange(-600, 601)  # x = twice / 2 hits every tie
    x = torch.tensor(twice / 2.0, dtype=torch.float64)
    for bits in range(2, 9):
        assert np.array_equal(WEIGHT_QUANT.codes(x, 1.0, bits).numpy().astype(np.int64),
                              quantize_weight(twice, 1, bits).astype(np.int64))
        assert np.array_equal(ACT_QUANT.codes(x, 1.0, bits).numpy().astype(np.int64),
                              requant_output(twice, 1, "relu", bits))
