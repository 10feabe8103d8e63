"""End-to-end training job behind ``wavebits train``: data, network, training, export, verification.

The bank's metadata and a ``report.json`` beside it keep what the run measured: the config,
the float model's quality, every width's quality (fake-quant and golden) and the parity table;
``<bank>.png`` plots quality against width.

Under ``torchrun`` every process runs this job; rank 0 alone verifies and writes the files, and
every rank returns the same result (see :mod:`wavebits.training.dist`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wavebits.bank.io import atomic_write_bytes, write_bank
from wavebits.bank.model import Bank
from wavebits.data import DataSet, load_data
from wavebits.errors import DataError
from wavebits.importer import ImportedNetwork
from wavebits.reports import report, write_json

from .config import TrainConfig
from .data import TrainData, open_folder_stream
from .dist import Runtime, broadcast_object, deterministic, runtime
from .export import Parity, export_bank, verify
from .loop import History, train
from .model import MultiScaleNet
from .task import Task, task_for

__all__ = ["TrainResult", "deterministic", "load_network", "load_training_data", "run_training"]


@dataclass
class TrainResult:
    """A finished run: the trained model, its bank, the training history and the parity rows.

    ``runtime``: this process's device, threads and rank among the run's processes (rank 0 verified
    and wrote the files).
    """

    model: MultiScaleNet
    bank: Bank
    history: History
    parity: list[Parity]
    data: DataSet | TrainData | None = None
    seconds: float = 0.0
    runtime: Runtime = field(default_factory=lambda: Runtime(torch.device("cpu")))

    @property
    def main(self) -> bool:
        """True in the process that verified the bank and wrote the files (rank 0)."""
        return self.runtime.main

    @property
    def task(self) -> Task:
        return self.parity[0].task if self.parity else task_for(True)


def load_network(cfg: TrainConfig, input_shape: tuple[int, ...]) -> tuple[ImportedNetwork, bool]:
    """The configured network, imported through ``torch.fx``, and whether it comes with weights."""
    from wavebits.archs import arch_module
    from wavebits.importer import import_module, load_model_source, load_weights

    torch.manual_seed(cfg.seed)  # a module's own initialization is part of the run
    module = load_model_source(cfg.source) if cfg.source else arch_module(cfg.arch)
    if cfg.weights:
        load_weights(module, cfg.weights)
    return import_module(module.eval(), input_shape), cfg.weights is not None


def load_training_data(cfg: TrainConfig) -> DataSet | TrainData:
    """The configured data set (inputs, labels, input scale and signedness).

    Splits and subsets use seed 0 whatever the training seed, so every run of a data set sees the
    same test set (the one ``wavebits golden`` scores). With ``cfg.stream`` an image folder's train
    split stays on disk, read image by image as training goes; only the test split is in memory.
    """
    if cfg.stream:
        return open_folder_stream(cfg.data_dir, seed=0, limit_train=cfg.limit_train, limit_test=cfg.limit_test)
    return load_data(cfg.dataset, cfg.data_dir, limit_train=cfg.limit_train, limit_test=cfg.limit_test, seed=0,
                     labels=cfg.task == "classify")


def run_training(cfg: TrainConfig, output: Path | None = None, data: DataSet | TrainData | None = None,
                 network: ImportedNetwork | None = None, pretrained: bool = False) -> TrainResult:
    """Train per ``cfg``, export the bank (to ``output`` with its report), verify it on the test set.

    ``data`` and ``network`` replace the configured ones (the Python API passes its own). Under
    ``torchrun`` (``WORLD_SIZE`` > 1) the processes train together; rank 0 verifies and writes.
    """
    with runtime(cfg.device, cfg.threads) as rt:
        return _run(cfg, rt, output, data, network, pretrained)


def _run(cfg: TrainConfig, rt: Runtime, output: Path | None, data: DataSet | TrainData | None,
         network: ImportedNetwork | None, pretrained: bool) -> TrainResult:
    t0 = time.perf_counter()
    data = data if data is not None else load_training_data(cfg)
    if network is None:
        network, pretrained = load_network(cfg, data.input_shape)
    if tuple(network.input_shape) != tuple(data.input_shape):
        raise DataError(f"data set {data.name!r} gives inputs {tuple(data.input_shape)}, network "
                        f"{network.source!r} expects {tuple(network.input_shape)}")
    model, history = train(cfg, data, network, pretrained, rt=rt)
    task = task_for(data.labeled)
    classes = int(np.prod(model.shapes[model.nodes[-1].name]))
    name = f"{cfg.model_name}-{data.name}"
    meta: dict[str, Any] = {"source": "wavebits train", "dataset": data.name, "model": cfg.model_name,
                            "seed": cfg.seed, "epochs": cfg.epochs, "task": task.name, "pretrained": pretrained,
                            "float_epochs": 0 if pretrained else cfg.float_epochs}
    bank = export_bank(model, name, classes, meta)
    parity = verify(model, bank, data.x_test, data.y_test, task) if rt.main else []
    parity = broadcast_object(parity, rt)
    result = TrainResult(model, bank, history, parity, data, time.perf_counter() - t0, rt)
    bank.meta.update(results_meta(result))
    if output is not None and rt.main:
        write_bank(bank, output)
        write_report(result, cfg, Path(output))
    return result


def results_meta(result: TrainResult) -> dict[str, Any]:
    """What the bank's metadata keeps of a run: quality per width and the parity table."""
    task = result.task
    return {
        "metric": task.metric,
        "float": result.history.float_accuracy,
        "widths": {str(p.bits): {"fake_quant": p.fake_quant_accuracy, "golden": p.golden_accuracy,
                                 "agreement": p.agreement, "ok": p.ok} for p in result.parity},
    }


def report_dict(result: TrainResult, cfg: TrainConfig, bank_path: Path | None) -> dict[str, Any]:
    """The ``report.json`` of a run (schema documented in docs/reports.md)."""
    config = asdict(cfg)
    config["widths"] = list(cfg.widths)
    return report(
        "train", bank=str(bank_path) if bank_path else None, bank_name=result.bank.name,
        data=result.data.describe() if result.data else None, task=result.task.name, metric=result.task.metric,
        float=result.history.float_accuracy, parity=[p.as_dict() for p in result.parity],
        ok=all(p.ok for p in result.parity), device=str(result.runtime.device), processes=result.runtime.world,
        threads=result.runtime.threads,
        config=config, timing={"seconds": round(result.seconds, 3)},
    )


def write_report(result: TrainResult, cfg: TrainConfig, bank_path: Path) -> tuple[Path, Path]:
    """``report.json`` and ``<bank>.png`` beside the bank (both written atomically)."""
    path = write_json(bank_path.with_name("report.json"), report_dict(result, cfg, bank_path))
    png = bank_path.with_suffix(".png")
    atomic_write_bytes(png, quality_plot(result))
    return path, png


def quality_plot(result: TrainResult) -> bytes:
    """PNG of quality against width: fake-quant and golden per width, the float model as a line."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    task = result.task
    scale = 100.0 if task.name == "classify" else 1.0
    bits = [p.bits for p in result.parity]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    ax.plot(bits, [scale * p.fake_quant_accuracy for p in result.parity], "o-", label="fake-quant (torch)")
    ax.plot(bits, [scale * p.golden_accuracy for p in result.parity], "x--", label="golden (integers)")
    ax.axhline(scale * result.history.float_accuracy, color="grey", lw=0.8, ls=":", label="float model")
    ax.set_xlabel("width (bits)")
    ax.set_ylabel(task.metric)
    ax.set_xticks(sorted(bits))
    ax.set_title(f"{result.bank.name}: one model, every width")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
