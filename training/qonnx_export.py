"""Per-width QONNX export through Brevitas, for FINN users, checked with qonnx's executor.

For width b the bank's network becomes a plain Brevitas model: ``QuantConv2d``/``QuantLinear``
holding the width's integer weights with a constant power-of-two scale (binary weights at 1 bit),
BatchNorm, ``QuantReLU`` with a constant scale (bipolar ``QuantIdentity`` at 1 bit) and an 8-bit
input quantizer. ``export_qonnx`` writes it; ``run_qonnx`` executes it with qonnx.

Where it can differ from the golden model (measured by ``compare``, bounded in the tests):
BatchNorm runs in float32 instead of the integer multiplier of 24 significant bits, and Brevitas
rounds half to even where the contract rounds half up; ``none`` layers (logits, residual
branches) stay in float instead of rounding to their fine step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from wavebits.bank.model import Bank
from wavebits.errors import WavebitsError
from wavebits.graph import INPUT
from wavebits.intmath import activation_limit, weight_limit

from .model import MultiScaleNet


def _brevitas():
    import brevitas.nn as qnn
    from brevitas.quant import (
        Int8WeightPerTensorFloat,
        SignedBinaryActPerTensorConst,
        SignedBinaryWeightPerTensorConst,
        Uint8ActPerTensorFloat,
    )

    return qnn, Int8WeightPerTensorFloat, SignedBinaryWeightPerTensorConst, Uint8ActPerTensorFloat, \
        SignedBinaryActPerTensorConst


class WidthNet(nn.Module):
    """One width of a trained ``MultiScaleNet``, in Brevitas layers."""

    def __init__(self, model: MultiScaleNet, bank: Bank, bits: int) -> None:
        super().__init__()
        qnn, WQ, BinWQ, AQ, BinAQ = _brevitas()
        self.nodes, self.bits = model.nodes, bits
        self.inp = qnn.QuantIdentity(act_quant=AQ, bit_width=8, scaling_impl_type="const", scaling_init=1.0,
                                     return_quant_tensor=False)
        self.layers, self.bns, self.acts = nn.ModuleDict(), nn.ModuleDict(), nn.ModuleDict()
        for n in self.nodes:
            if n.weighted:
                src = model.layers[n.name]
                step = src.weight.step(bits)
                if bits == 1:
                    wq = {"weight_quant": BinWQ, "weight_scaling_init": step}
                else:
                    wq = {"weight_quant": WQ, "weight_bit_width": bits, "weight_narrow_range": True,
                          "weight_scaling_impl_type": "const", "weight_scaling_init": step * weight_limit(bits)}
                cin = model.shapes[n.inputs[0]][0]
                if n.op == "conv2d":
                    layer = qnn.QuantConv2d(cin, n.out_channels, n.kernel, n.stride, padding=0, bias=False,
                                            groups=n.groups, **wq)
                else:
                    layer = qnn.QuantLinear(cin, n.out_channels, bias=False, **wq)
                with torch.no_grad():
                    layer.weight.copy_(torch.from_numpy(bank.weights[n.name].banks[bits].astype(np.float32) * step))
                self.layers[n.name] = layer
                self.bns[n.name] = src.batchnorm(bits)
            if n.requantizes and n.act == "relu" and n.op != "avgpool":
                scale = model.act_scale(n.name, bits)
                if bits == 1:
                    self.acts[n.name] = qnn.QuantIdentity(act_quant=BinAQ, return_quant_tensor=False)
                else:
                    self.acts[n.name] = qnn.QuantReLU(act_quant=AQ, bit_width=bits, scaling_impl_type="const",
                                                      scaling_init=scale * activation_limit(bits),
                                                      return_quant_tensor=False)
        self.bipolar = model.bipolar

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {INPUT: self.inp(x)}
        for n in self.nodes:
            s = values[n.inputs[0]]
            if n.weighted:
                if n.op == "conv2d":
                    pad = -1.0 if (self.bits == 1 and self.bipolar[n.inputs[0]]) else 0.0
                    s = F.pad(s, (n.padding[1], n.padding[1], n.padding[0], n.padding[0]), value=pad)
                y = self.bns[n.name](self.layers[n.name](s))
            elif n.op == "maxpool":
                y = F.max_pool2d(s, n.kernel, n.stride)
            elif n.op == "avgpool":
                y = F.avg_pool2d(s, n.kernel, n.stride)
            elif n.op == "gap":
                y = F.avg_pool2d(s, tuple(s.shape[2:]))
            elif n.op == "flatten":
                y = torch.flatten(s, 1)
            else:
                y = s + values[n.inputs[1]]
            values[n.name] = self.acts[n.name](y) if n.name in self.acts else y
        return values[self.nodes[-1].name]


def export_width(model: MultiScaleNet, bank: Bank, bits: int, path: Path, batch: int = 1) -> Path:
    """Write width ``bits`` of the model as a QONNX file."""
    from brevitas.export import export_qonnx

    if bank.input_signed or bank.input_scale != 1.0 / 255.0:
        raise WavebitsError(f"bank {bank.name!r}: the QONNX export takes uint8 inputs at scale 1/255 "
                            f"(this bank: {'int8' if bank.input_signed else 'uint8'} at {bank.input_scale:g})")
    net = WidthNet(model, bank, bits).eval()
    example = torch.zeros((batch, *model.input_shape))
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        # the TorchScript exporter: the dynamo one needs onnxscript, whose ml_dtypes TF 2.15 cannot take
        export_qonnx(net, input_t=example, export_path=str(path), dynamo=False)
    return path


def run_qonnx(path: Path, x: np.ndarray) -> np.ndarray:
    """Execute a QONNX file with qonnx on uint8 images (scaled by 1/255); returns the logits."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model

    m = cleanup_model(ModelWrapper(str(path)))  # folds constants so every shape is known
    name_in, name_out = m.graph.input[0].name, m.graph.output[0].name
    shape = m.get_tensor_shape(name_in)
    if list(shape[1:]) != list(x.shape[1:]):
        raise WavebitsError(f"{path}: input shape {shape} does not fit images {x.shape}")
    outs = []
    for i in range(0, len(x), shape[0]):
        chunk = (x[i:i + shape[0]].astype(np.float32) / 255.0)
        n = len(chunk)
        if n < shape[0]:
            chunk = np.concatenate([chunk, np.zeros((shape[0] - n, *chunk.shape[1:]), np.float32)])
        outs.append(execute_onnx(m, {name_in: chunk})[name_out][:n])
    return np.concatenate(outs)


def compare_qonnx(model: MultiScaleNet, bank: Bank, x: np.ndarray, y: np.ndarray, folder: Path,
                  batch: int = 128) -> list[tuple[int, float, float, float]]:
    """Export every width to ``folder/<bank>-w<b>.onnx`` and compare qonnx with the golden model.

    Returns ``(width, prediction agreement, qonnx accuracy, golden accuracy)`` per width.
    """
    from wavebits.sim.golden import GoldenModel

    golden = GoldenModel(bank)
    rows = []
    for b in bank.widths:
        path = export_width(model, bank, b, Path(folder) / f"{bank.name}-w{b}.onnx", batch=min(batch, len(x)))
        q = run_qonnx(path, x).argmax(axis=1)
        g = golden.predict(x, b)
        rows.append((b, float((q == g).mean()), float((q == y).mean()), float((g == y).mean())))
    return rows


def qonnx_table(rows: list[tuple[int, float, float, float]]) -> str:
    from wavebits.bank.report import table

    return "QONNX (Brevitas export, qonnx execution) against the golden model\n" + table(
        ["width", "agreement %", "qonnx %", "golden %"],
        [[b, f"{100 * a:.2f}", f"{100 * q:.2f}", f"{100 * g:.2f}"] for b, a, q, g in rows])
