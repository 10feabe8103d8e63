"""End-to-end training job behind ``wavebits train``: data, training, export, verification."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from wavebits.bank.io import write_bank
from wavebits.bank.model import Bank

from .config import TrainConfig
from .data import load
from .export import Parity, export_bank, verify
from .loop import History, train
from .model import MultiScaleNet

THREADS = 2


def deterministic() -> None:
    """Same seed and config, same bytes: fixed thread count and deterministic kernels."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)


@dataclass
class TrainResult:
    model: MultiScaleNet
    bank: Bank
    history: History
    parity: list[Parity]


def run_training(cfg: TrainConfig, output: Path | None = None) -> TrainResult:
    """Train per ``cfg``, export the bank (to ``output`` if given) and verify it on the test set."""
    deterministic()
    x, y = load(cfg.dataset, "train", cfg.data_dir, cfg.limit_train)
    xt, yt = load(cfg.dataset, "test", cfg.data_dir, cfg.limit_test)
    model, history = train(cfg, (x, y, xt, yt))
    meta = {"source": "wavebits train", "dataset": cfg.dataset, "arch": cfg.arch, "seed": cfg.seed,
            "epochs": cfg.epochs, "float_epochs": cfg.float_epochs}
    bank = export_bank(model, f"{cfg.arch}-{cfg.dataset}", int(yt.max()) + 1 if cfg.dataset != "cifar10" else 10, meta)
    if output is not None:
        write_bank(bank, output)
    return TrainResult(model, bank, history, verify(model, bank, xt, yt))
