"""The Python API, shaped like hls4ml's convert -> compile -> predict.

::

    import wavebits as wb

    net = wb.import_model(MyNet(), input_shape=(1, 28, 28))   # torch.fx: the graph and its weights
    data = wb.from_arrays(x, y, x_test, y_test)                  # or load_npz / load_folder / from_torch
    result = wb.train(net, data, epochs=5, pretrained=True)      # one model for every width
    wb.write_bank(result.bank, "my.wbank")

    wb.golden(result.bank).predict(x_test, bits=4)                # the integer golden model
    hls = wb.compile_hls(result.bank, "out/hls")                  # HLS C++, compiled with g++
    hls.predict(x_test[:16], bits=4)                              # logits from the C simulation
    rtl = wb.compile_rtl(result.bank, "out/rtl")                  # Verilog, compiled by Verilator
    rtl.predict(x_test[:4], bits=2)                               # logits from the RTL simulation

Every ``predict`` takes the network's integer inputs (uint8 images, or int8 features for a signed
bank): quantize float data with ``from_arrays(..., scale=...)`` first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from torch import nn

    from .bank.model import Bank
    from .data import DataSet
    from .importer import ImportedNetwork
    from .sim.golden import GoldenModel
    from .sim.parity import Inference, ParityReport
    from .training.config import TrainConfig
    from .training.run import TrainResult


def import_model(module: nn.Module, input_shape: tuple[int, ...], weights: str | Path | None = None) -> ImportedNetwork:
    """Trace a float ``torch.nn.Module`` into the wavebits graph, with its weights.

    ``input_shape`` is one input's shape without the batch axis, ``(C, H, W)`` or ``(features,)``;
    ``weights`` optionally loads a state dict (``.pt``) into the module first. Unsupported layers
    raise ``UnsupportedLayerError`` naming the module (e.g. ``features.3 (GELU)``).
    """
    from .importer import import_module, load_weights

    if weights is not None:
        load_weights(module, weights)
    return import_module(module.eval(), tuple(input_shape))


def train(network: ImportedNetwork | nn.Module, data: DataSet, *, pretrained: bool = False,
          widths: Sequence[int] = (8, 7, 6, 5, 4, 3, 2, 1), epochs: int = 10, float_epochs: int = 10,
          seed: int = 0, config: TrainConfig | None = None, output: str | Path | None = None,
          **train_options: Any) -> TrainResult:
    """Train one multiscale model of ``network`` for every width in ``widths`` on ``data``.

    ``network`` is an imported network or a module (imported with ``data``'s input shape).
    ``pretrained``: the module's own weights start the training and no float training is run;
    otherwise ``float_epochs`` of float training come first. ``epochs`` counts the multiscale
    epochs (a width drawn per step). ``config`` gives every other setting (``TrainConfig``);
    ``train_options`` override its fields (``lr``, ``batch_size``, ``probabilities``, ...).
    ``output`` writes the bank with its ``report.json`` and PNG. The result holds the trained
    model, the bank and the golden-vs-fake-quant parity per width (``result.parity``).
    """
    from torch import nn

    from .training.config import TrainConfig
    from .training.run import run_training

    if isinstance(network, nn.Module):
        network = import_model(network, data.input_shape)
    cfg = replace(config or TrainConfig(), widths=tuple(widths), epochs=epochs, float_epochs=float_epochs,
                  seed=seed, dataset=data.name, task="classify" if data.labeled else "reconstruct",
                  probabilities=None, **train_options)
    return run_training(cfg, Path(output) if output is not None else None, data=data, network=network,
                        pretrained=pretrained)


def golden(bank: Bank | str | Path, weight_mode: str = "banked") -> GoldenModel:
    """The bank's integer golden model: ``.predict(x, bits)``, ``.logits(x, bits)``, ``.run(x, bits, "all")``."""
    from .sim.golden import GoldenModel

    return GoldenModel(_bank(bank), weight_mode)


class CompiledModel:
    """A generated HLS or RTL project, compiled, answering with its simulation's integers.

    ``run(x, schedule)`` gives every layer of every inference (and cycles for RTL) with the width
    switching along ``schedule``; ``predict(x, bits)`` the output layer at one width;
    ``check(x, schedule)`` the parity report against the golden model.
    """

    def __init__(self, level: Any) -> None:
        self.level = level
        self.bank: Bank = level.bank
        self.project: Path = level.project
        level.prepare()

    def run(self, x: np.ndarray, schedule: Sequence[int]) -> list[Inference]:
        return self.level.run(np.asarray(x), list(schedule))

    def predict(self, x: np.ndarray, bits: int) -> np.ndarray:
        """Output-layer integers (logits) of every input at width ``bits``, shape (N, outputs)."""
        out = self.run(x, [bits])
        return np.stack([inf.outputs[self.bank.output] for inf in out]).reshape(len(out), -1)

    def check(self, x: np.ndarray, schedule: Sequence[int]) -> ParityReport:
        from .sim.parity import check

        return check(self.level, np.asarray(x), list(schedule))


def compile_hls(bank: Bank | str | Path, output: str | Path, weights: str = "banked") -> CompiledModel:
    """Write the HLS C++ project of ``bank`` to ``output`` and compile its C simulation (g++)."""
    from .codegen.hls import write_hls_project
    from .sim.levels import CsimLevel

    return CompiledModel(CsimLevel(write_hls_project(_bank(bank), Path(output), weights)))


def compile_rtl(bank: Bank | str | Path, output: str | Path, weights: str = "banked", lanes: int = 8) -> CompiledModel:
    """Write the Verilog project of ``bank`` to ``output`` and build its Verilator simulation."""
    from .codegen.rtl import write_rtl_project
    from .sim.levels import RtlLevel

    return CompiledModel(RtlLevel(write_rtl_project(_bank(bank), Path(output), weights, lanes)))


def _bank(bank: Bank | str | Path) -> Bank:
    from .bank.io import read_bank

    return read_bank(bank) if isinstance(bank, str | Path) else bank
