"""Export a trained ``MultiScaleNet`` to a weight bank, and prove the bank matches the model.

The float parameters go through ``wavebits.bank.build_bank`` (the one float-to-integer path);
``verify`` then runs the integer golden model on the bank and the fake-quantized model on the same
images at every width and compares predictions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
from wavebits.sim.golden import GoldenModel

from wavebits.bank.builder import BatchNorm, FloatLayer, build_bank
from wavebits.bank.model import Bank

from .loop import predict
from .model import MultiScaleNet


def _bn(module) -> BatchNorm:
    return BatchNorm(
        gamma=module.weight.detach().double().numpy(), beta=module.bias.detach().double().numpy(),
        mean=module.running_mean.double().numpy(), var=module.running_var.double().numpy(), eps=module.eps,
    )


def export_bank(model: MultiScaleNet, name: str, classes: int, meta: dict[str, Any] | None = None) -> Bank:
    """The bank of ``model``: components, per-width scales, steps, BN and activation steps."""
    layers = {}
    for lname, layer in model.layers.items():
        w = layer.weight
        layers[lname] = FloatLayer(
            weight=w.weight.detach().double().numpy(),
            comp_scales={b: w.scale_values(b).detach().double().numpy() for b in model.widths},
            step={b: w.step(b) for b in model.widths},
            act_scale={b: layer.act.scale(b) for b in model.widths},
            bn={b: _bn(layer.batchnorm(b)) for b in model.widths},
        )
    add_scales = {n: {b: act.scale(b) for b in model.widths} for n, act in model.add_act.items()}
    return build_bank(name, model.nodes, model.input_shape, classes, model.widths, 1.0 / 255.0, layers,
                      add_scales, model.fmt, meta)


@dataclass
class Parity:
    """Golden model against fake-quantized model at one width."""

    bits: int
    agreement: float  # fraction of identical predictions
    golden_accuracy: float
    fake_quant_accuracy: float

    @property
    def ok(self) -> bool:
        return self.agreement >= 0.999 and abs(self.golden_accuracy - self.fake_quant_accuracy) <= 0.001


def verify(model: MultiScaleNet, bank: Bank, x: np.ndarray, y: np.ndarray) -> list[Parity]:
    """Compare predictions of the bank's golden model and the trained model at every width."""
    golden = GoldenModel(bank)
    model = copy.deepcopy(model).double()  # float64: near-ties round as the integers do
    out = []
    for b in bank.widths:
        g = golden.predict(x, b)
        f = predict(model, x, b)
        out.append(Parity(b, float((g == f).mean()), float((g == y).mean()), float((f == y).mean())))
    return out


def parity_table(rows: list[Parity]) -> str:
    from wavebits.bank.report import table

    return table(
        ["width", "fake-quant %", "golden %", "agreement %", "contract"],
        [[p.bits, f"{100 * p.fake_quant_accuracy:.2f}", f"{100 * p.golden_accuracy:.2f}",
          f"{100 * p.agreement:.2f}", "ok" if p.ok else "VIOLATED"] for p in rows],
    )
