"""Training at scale: devices and threads, DataLoader batches, streamed image folders, several processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from wavebits.training.config import load_config
from wavebits.training.data import (
    ArraySet,
    ImageFolderStream,
    ShardedBatchSampler,
    TrainData,
    loader,
    open_folder_stream,
)
from wavebits.training.dist import resolve_device
from wavebits.training.run import run_training

from wavebits.bank import read_bank
from wavebits.data import load_data, load_folder
from wavebits.errors import DataError, WavebitsError

REPO = Path(__file__).resolve().parents[1]


def digits_folder(root: Path, per_class: int = 40, test_per_class: int = 12) -> Path:
    """scikit-learn's digits as an image folder: train/<label>/*.png and test/<label>/*.png (8x8 grayscale)."""
    from PIL import Image

    data = load_data("digits")
    for split, x, y, n in (("train", data.x_train, data.y_train, per_class),
                           ("test", data.x_test, data.y_test, test_per_class)):
        for label in range(10):
            for i in np.flatnonzero(y == label)[:n]:
                path = root / split / f"d{label}" / f"{i:05d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(x[i, 0]).save(path)
    return root


# ---------------------------------------------------------------- batches


@pytest.mark.parametrize("world", [1, 2, 3])
def test_shards_of_every_batch_are_disjoint_and_cover_it(world):
    n, size = 103, 16
    samplers = [ShardedBatchSampler(n, size, (7, 1), rank, world) for rank in range(world)]
    for epoch in (0, 1):
        for s in samplers:
            s.set_epoch(epoch)
        batches = samplers[0].global_batches()
        shards = [list(s) for s in samplers]
        assert all(len(sh) == len(batches) for sh in shards)
        for k, batch in enumerate(batches):
            got = sorted(i for sh in shards for i in sh[k])
            assert got == sorted(batch.tolist())  # each index once, on exactly one rank
        seen = np.concatenate(batches)
        assert len(set(seen.tolist())) == len(seen) == n - (n % size if n % size < 2 * world else 0)
    assert [b.tolist() for b in samplers[0].global_batches()] != \
        [b.tolist() for b in ShardedBatchSampler(n, size, (7, 0), 0, world).global_batches()]  # phase reseeds


def test_a_last_batch_too_small_for_batchnorm_is_dropped():
    assert [len(b) for b in ShardedBatchSampler(33, 16).global_batches()] == [16, 16]
    assert [len(b) for b in ShardedBatchSampler(35, 16, world=2).global_batches()] == [16, 16]
    assert [len(b) for b in ShardedBatchSampler(36, 16, world=2).global_batches()] == [16, 16, 4]
    with pytest.raises(ValueError, match="rank 2 of 2"):
        ShardedBatchSampler(10, 4, rank=2, world=2)


def test_loader_batches_are_the_same_with_workers():
    x = np.arange(50 * 3, dtype=np.uint8).reshape(50, 3)
    y = np.arange(50, dtype=np.int64)
    sampler = ShardedBatchSampler(50, 8, (3,))
    serial = [(xb.clone(), yb.clone()) for xb, yb in loader(ArraySet(x, y), sampler)]
    parallel = list(loader(ArraySet(x, y), sampler, workers=2))
    assert len(serial) == len(parallel) == 7  # 6 of 8, one of 2
    for (a, b), (c, d) in zip(serial, parallel, strict=True):
        assert torch.equal(a, c) and torch.equal(b, d) and torch.equal(a[:, 0].long() // 3, b)


# ---------------------------------------------------------------- streamed folders


def test_streamed_folder_is_the_folder_loaded_in_memory(tmp_path):
    root = digits_folder(tmp_path / "digits", 6, 2)
    memory = load_folder(root)
    stream = open_folder_stream(root)
    assert isinstance(stream.train, ImageFolderStream) and stream.streamed
    assert np.array_equal(stream.x_test, memory.x_test) and np.array_equal(stream.y_test, memory.y_test)
    assert stream.input_shape == memory.input_shape == (1, 8, 8) and stream.classes == memory.classes == 10
    batches = list(loader(stream.train, ShardedBatchSampler(60, 16, (1,)), workers=2))
    order = ShardedBatchSampler(60, 16, (1,)).global_batches()
    for (xb, yb), idx in zip(batches, order, strict=True):
        assert np.array_equal(xb.numpy(), memory.x_train[idx]) and np.array_equal(yb.numpy(), memory.y_train[idx])
    assert "streamed" in stream.describe()


def test_streamed_image_of_another_size_is_named(tmp_path):
    from PIL import Image

    root = digits_folder(tmp_path / "digits", 2, 1)
    bad = root / "train" / "d3" / "zz.png"
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(bad)
    stream = open_folder_stream(root)
    i = next(k for k, (p, _) in enumerate(stream.train.items) if p == bad)
    with pytest.raises(DataError, match=r"zz\.png: 1x9x8 image \(CxHxW\), expected 1x8x8"):
        stream.train[i]


@pytest.mark.slow
def test_streamed_training_with_workers_gives_the_in_memory_bank(tmp_path):
    root = digits_folder(tmp_path / "digits")
    banks = []
    for stream, workers in ((False, 0), (True, 2)):
        cfg = load_config(None, "folder", data_dir=str(root), widths=(8, 2, 1), float_epochs=2, epochs=1,
                          stream=stream, workers=workers, threads=1, device="cpu")
        out = tmp_path / f"s{int(stream)}" / "b.wbank"
        result = run_training(cfg, out)
        assert all(p.ok for p in result.parity)
        assert isinstance(result.data, TrainData) == stream
        banks.append(out.read_bytes())
    assert banks[0] == banks[1]


# ---------------------------------------------------------------- config and devices


def test_runtime_keys_and_overrides(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[data]\nname = "folder"\ndir = "."\nstream = true\n[train]\ndevice = "cpu"\nthreads = 3\n'
                 "workers = 2\n")
    cfg = load_config(p)
    assert (cfg.stream, cfg.device, cfg.threads, cfg.workers) == (True, "cpu", 3, 2)
    cfg = load_config(p, threads=1, workers=0)
    assert (cfg.threads, cfg.workers) == (1, 0)
    assert load_config(None, "digits").device is None  # chosen at run time: cuda when available


def test_a_config_is_checked_before_torch_loads(tmp_path):
    """Config mistakes and missing model files are reported at once: checking a config imports no torch."""
    code = ("import sys\nfrom wavebits.training.config import load_config\n"
            "from wavebits.errors import WavebitsError\n"
            "for kw in ({'source': 'gone.py:net'}, {'weights': 'gone.pt'}):\n"
            "    try:\n        load_config(None, 'digits', **kw)\n"
            "    except WavebitsError as e:\n        print(e)\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.splitlines() == ["option: model.source: gone.py: no such file",
                                       "option: model.weights: gone.pt: no such file", "False"], out


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(WavebitsError, match="cuda requested"):
            resolve_device("cuda")


# ---------------------------------------------------------------- several processes


@pytest.mark.slow
@pytest.mark.parametrize("widths_per_step", [1, 3])
def test_two_processes_train_one_bank_that_keeps_the_contract(tmp_path, widths_per_step):
    """``wavebits train`` under torchrun, 2 CPU processes (gloo): rank 0 writes a bank within the
    contract, with one width per batch (DDP) and with the sandwich rule (gradients averaged by hand)."""
    out = tmp_path / "ddp" / "digits.wbank"
    config = tmp_path / "recipe.toml"
    config.write_text(f"[recipe]\nwidths_per_step = {widths_per_step}\n")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "wavebits.cli", "train", "--config", str(config), "--data", "digits", "--float-epochs", "2",
           "--epochs", "1", "--widths", "8,4,2,1", "--device", "cpu", "--threads", "1", "-o", str(out)]
    t0 = time.perf_counter()
    run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - t0
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.count("wrote ") == 1 and "2 processes" in run.stdout  # rank 0 alone prints and writes
    report = json.loads(out.with_name("report.json").read_text())
    assert report["ok"] and report["processes"] == 2 and [p["bits"] for p in report["parity"]] == [8, 4, 2, 1]
    bank = read_bank(out)
    assert bank.meta["widths"]["8"]["golden"] > 0.8, bank.meta["widths"]
    print(f"2-process training: {seconds:.0f} s")


@pytest.mark.slow
def test_gradients_are_averaged_over_ranks(tmp_path):
    """The sandwich rule's update: each rank's gradients become their mean; a parameter no width
    used keeps no gradient on any rank."""
    script = tmp_path / "avg.py"
    script.write_text(
        "import torch\n"
        "from torch import nn\n"
        "from wavebits.training.dist import average_gradients, runtime\n"
        "with runtime('cpu', 1) as rt:\n"
        "    m = nn.Linear(3, 2)\n"
        "    m.weight.grad = torch.full_like(m.weight, float(1 + 2 * rt.rank))\n"
        "    average_gradients(m, rt)\n"
        "    assert torch.equal(m.weight.grad, torch.full_like(m.weight, 2.0)), m.weight.grad\n"
        "    assert m.bias.grad is None\n"
        "    print(f'rank {rt.rank} of {rt.world}: averaged')\n")
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "rank 0 of 2: averaged" in run.stdout and "rank 1 of 2: averaged" in run.stdout


# ---------------------------------------------------------------- recipe switches for low widths


def _model_and_batch(recipe):
    from dataclasses import replace

    from wavebits.training.loop import build_model
    from wavebits.training.run import load_network

    cfg = replace(load_config(None, "digits", widths=(8, 2, 1)), recipe=recipe)
    data = load_data("digits", limit_train=64)
    network, _ = load_network(cfg, data.input_shape)
    model = build_model(cfg, network, data, False)
    x = torch.from_numpy(data.x_train.astype(np.float64) / 255).float()
    return cfg, model, x, torch.from_numpy(data.y_train)


def test_distillation_and_loss_weights_change_the_narrow_widths_loss():
    import torch.nn.functional as F
    from wavebits.training.loop import _loss
    from wavebits.training.model import Recipe
    from wavebits.training.task import CLASSIFY

    cfg, model, x, y = _model_and_batch(Recipe())
    with torch.no_grad():
        plain = {b: _loss(model.eval().set_width(b), model, x, y, b, CLASSIFY, cfg) for b in (8, 1)}
    cfg = _model_and_batch(Recipe(distill=True, loss_weights=(1.0, 1.0, 3.0)))[0]
    with torch.no_grad():
        teacher = model.set_width(8)(x)
        student = model.set_width(1)(x)
        soft = -(F.softmax(teacher, 1) * F.log_softmax(student, 1)).sum(1).mean()
        got = {b: _loss(model.set_width(b), model, x, y, b, CLASSIFY, cfg) for b in (8, 1)}
    assert torch.equal(got[8], plain[8])  # the widest width is the teacher: its loss is unchanged
    assert torch.allclose(got[1], 3.0 * (plain[1] + soft) / 2)
    assert not torch.allclose(soft, plain[1])


def test_loss_weights_are_one_per_width(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[recipe]\nloss_weights = [1, 2]\ndistill = true\n")
    with pytest.raises(WavebitsError, match=r"c\.toml: recipe\.loss_weights: expected 8 weights"):
        load_config(p)
    p.write_text("[recipe]\nloss_weights = [1, 1, 1, 1, 1, 1, 2, 2]\ndistill = true\n")
    cfg = load_config(p)
    assert cfg.recipe.distill and cfg.recipe.loss_weights == (1, 1, 1, 1, 1, 1, 2, 2)
    assert load_config(p, widths=(8, 1)).recipe.loss_weights is None  # they were for the config's widths


@pytest.mark.parametrize("k", [1, 2, 3, 4, 8])
def test_widths_per_step_follow_the_sandwich_rule(k):
    from dataclasses import replace

    from wavebits.training.loop import step_widths
    from wavebits.training.model import Recipe

    cfg = load_config(None, "digits", widths=(8, 4, 2, 1))
    cfg = replace(cfg, recipe=Recipe(widths_per_step=k))
    draw, rng = step_widths(cfg), np.random.default_rng(0)
    steps = [draw(rng) for _ in range(300)]
    for step in steps:
        assert len(step) == min(k, 4) and step == sorted(set(step), reverse=True)
        if k > 1:
            assert step[0] == 8 and step[-1] == 1  # the widest and the narrowest on every batch
    if k == 1:  # the paper's draw, with the generator's draws exactly as before the switch existed
        old = np.random.default_rng(0)
        assert steps == [[cfg.widths[old.choice(4, p=cfg.sampling())]] for _ in range(300)]
        assert {s[0] for s in steps} == {8, 4, 2, 1}
    if k == 3:
        assert {s[1] for s in steps} == {4, 2}
    if k >= 3:  # a width drawn with probability 0 is not trained
        skip_two = replace(cfg, probabilities=(1.0, 1.0, 0.0, 1.0))
        assert all(step_widths(skip_two)(rng) == [8, 4, 1] for _ in range(20))


def test_sandwich_loss_is_the_mean_of_the_widths_losses():
    import torch.nn.functional as F
    from wavebits.training.loop import _sandwich_loss
    from wavebits.training.model import Recipe
    from wavebits.training.task import CLASSIFY

    cfg, model, x, y = _model_and_batch(Recipe(widths_per_step=3, distill=True, loss_weights=(1.0, 1.0, 3.0)))
    with torch.no_grad():
        out = {b: model.train().set_width(b)(x) for b in (8, 2, 1)}
        got = _sandwich_loss(model, x, y, [8, 2, 1], CLASSIFY, cfg)
    ce = {b: F.cross_entropy(o, y) for b, o in out.items()}
    soft = {b: -(F.softmax(out[8], 1) * F.log_softmax(out[b], 1)).sum(1).mean() for b in (2, 1)}
    want = (ce[8] + (ce[2] + soft[2]) / 2 + 3.0 * (ce[1] + soft[1]) / 2) / 3
    assert torch.allclose(got, want)


@pytest.mark.parametrize("value", [0, 9, "two", True, 2.0])
def test_widths_per_step_is_checked(tmp_path, value):
    p = tmp_path / "c.toml"
    p.write_text(f"[recipe]\nwidths_per_step = {json.dumps(value)}\n")
    with pytest.raises(WavebitsError, match=r"c\.toml: recipe\.widths_per_step: expected an integer in 1\.\.8"):
        load_config(p)
