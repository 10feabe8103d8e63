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

from .loop import outputs
from .model import MultiScaleNet
from .task import CLASSIFY, Task


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
            bias=None if layer.bias is None else layer.bias.detach().double().numpy(),
            bn={b: _bn(layer.batchnorm(b)) if layer.has_bn else None for b in model.widths},
        )
    learned = {n: {b: act.scale(b) for b in model.widths} for n, act in model.add_act.items()}
    return build_bank(name, model.nodes, model.input_shape, classes, model.widths, model.input_scale, layers,
                      learned, model.fmt, meta, input_signed=model.input_signed)


@dataclass
class Parity:
    """Golden model against fake-quantized model at one width.

    ``agreement`` is the fraction of equal predictions (classification) or equal output integers
    (reconstruction); the two quality figures are accuracies or mean squared errors.
    """

    bits: int
    agreement: float
    golden_accuracy: float
    fake_quant_accuracy: float
    task: Task = CLASSIFY

    @property
    def ok(self) -> bool:
        return self.task.within_contract(self.agreement, self.golden_accuracy, self.fake_quant_accuracy)

    def as_dict(self) -> dict[str, Any]:
        return {"bits": self.bits, "agreement": self.agreement, "golden": self.golden_accuracy,
                "fake_quant": self.fake_quant_accuracy, "metric": self.task.metric, "ok": self.ok}


def verify(model: MultiScaleNet, bank: Bank, x: np.ndarray, y: np.ndarray, task: Task = CLASSIFY) -> list[Parity]:
    """Compare the bank's golden model with the trained model at every width, on ``(x, y)``."""
    golden = GoldenModel(bank)
    model = copy.deepcopy(model).double()  # float64: near-ties round as the integers do
    xf = x.astype(np.float64) * bank.input_scale
    out = []
    for b in bank.widths:
        g = np.concatenate([golden.logits(x[i:i + 256], b) for i in range(0, len(x), 256)])
        f = outputs(model, x, b)
        if task.name == "reconstruct":  # compare integers: the fake-quant output over its step
            step = model.act_scale(bank.output, b)
            gf, f = g * step, np.floor(f / step + 0.5).astype(np.int64)
            out.append(Parity(b, task.agreement(g, f), task.score(gf, xf, y), task.score(f * step, xf, y), task))
        else:
            out.append(Parity(b, task.agreement(g, f), task.score(g, xf, y), task.score(f, xf, y), task))
    return out


def parity_table(rows: list[Parity]) -> str:
    from wavebits.bank.report import table

    task = rows[0].task if rows else CLASSIFY
    unit = task.metric
    return table(
        ["width", f"fake-quant {unit}", f"golden {unit}", "agreement %", "contract"],
        [[p.bits, task.format(p.fake_quant_accuracy), task.format(p.golden_accuracy),
          f"{100 * p.agreement:.2f}", "ok" if p.ok else "VIOLATED"] for p in rows],
    )
