"""A multiscale quantized network built from the same graph (``wavebits.graph.Node``) as the bank.

``MultiScaleNet.set_width(b)`` switches the whole model to width ``b`` (``None``: float) at run
time; no module is rebuilt. Each weighted layer holds one shared float weight (``WaveletWeight``),
a BatchNorm per width (plus one for the float model) and an output quantizer per width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from wavebits.bank.builder import DEFAULT_FORMAT, BankFormat
from wavebits.graph import INPUT, Node, bipolar_at_one_bit, fan_in, infer_shapes, weight_shape

from .quant import FineQuant, PactActivation, WaveletWeight, round_half_up, ste


@dataclass(frozen=True)
class Recipe:
    """Which parameters are per width (the paper's ablation ladder E2..E6 switches them on)."""

    per_width_act: bool = True
    per_width_bn: bool = True
    per_width_weight_quant: bool = True
    wavelet: bool = True


class WeightedLayer(nn.Module):
    """Conv2d or linear with shared weights, per-width BN and a per-width output quantizer."""

    def __init__(self, node: Node, in_shape: tuple[int, ...], widths: Sequence[int], recipe: Recipe,
                 fmt: BankFormat, generator: torch.Generator) -> None:
        super().__init__()
        self.node = node
        shape = weight_shape(node, in_shape)
        bound = (6.0 / fan_in(node, in_shape)) ** 0.5  # He uniform
        w = (torch.rand(shape, generator=generator) * 2 - 1) * bound
        self.weight = WaveletWeight(w, widths, fmt, wavelet=recipe.wavelet,
                                    per_width_scales=recipe.wavelet,
                                    per_width_step=recipe.per_width_weight_quant)
        bn = nn.BatchNorm2d if node.op == "conv2d" else nn.BatchNorm1d
        keys = ["fp", *(str(b) for b in widths)] if recipe.per_width_bn else ["fp", "shared"]
        self.per_width_bn = recipe.per_width_bn
        self.bn = nn.ModuleDict({k: bn(node.out_channels) for k in keys})
        if node.act == "relu":
            self.act: nn.Module = PactActivation(widths, per_width=recipe.per_width_act)
        else:
            self.act = FineQuant(widths)

    def batchnorm(self, bits: int | None) -> nn.Module:
        if bits is None:
            return self.bn["fp"]
        return self.bn[str(bits) if self.per_width_bn else "shared"]

    def pre_activation(self, x: torch.Tensor, bits: int | None, bipolar_input: bool) -> torch.Tensor:
        w = self.weight(bits)
        if self.node.op == "conv2d":
            if bits == 1 and bipolar_input:
                # bipolar inputs are padded with -1, as the hardware's bit 0
                p = self.node.padding
                x = F.pad(x, (p[1], p[1], p[0], p[0]), value=-1.0)
                z = F.conv2d(x, w, stride=self.node.stride)
            else:
                z = F.conv2d(x, w, stride=self.node.stride, padding=self.node.padding)
        else:
            z = F.linear(x, w)
        return self.batchnorm(bits)(z)

    def forward(self, x: torch.Tensor, bits: int | None, bipolar_input: bool = False) -> torch.Tensor:
        return self.act(self.pre_activation(x, bits, bipolar_input), bits)


class MultiScaleNet(nn.Module):
    """Executes a bank graph in float (fake-quantized) form at the active width."""

    def __init__(self, nodes: list[Node], input_shape: tuple[int, ...], widths: Sequence[int],
                 recipe: Recipe = Recipe(), fmt: BankFormat = DEFAULT_FORMAT, seed: int = 0) -> None:
        super().__init__()
        self.nodes = list(nodes)
        self.input_shape = tuple(input_shape)
        self.widths = tuple(widths)
        self.recipe = recipe
        self.fmt = fmt
        self.shapes = infer_shapes(self.nodes, self.input_shape)
        gen = torch.Generator().manual_seed(seed)
        self.layers = nn.ModuleDict()
        self.add_act = nn.ModuleDict()
        for n in self.nodes:
            if n.weighted:
                self.layers[n.name] = WeightedLayer(n, self.shapes[n.inputs[0]], widths, recipe, fmt, gen)
            elif n.op == "add":
                self.add_act[n.name] = PactActivation(widths, per_width=recipe.per_width_act)
        self.bits: int | None = None
        self.bipolar = bipolar_at_one_bit(self.nodes)

    def set_width(self, bits: int | None) -> MultiScaleNet:
        """Switch the whole model to ``bits`` (or float with None); returns self."""
        if bits is not None and bits not in self.widths:
            raise ValueError(f"width {bits} is not among the model's widths {self.widths}")
        self.bits = bits
        return self

    def forward(self, x: torch.Tensor, outputs: Sequence[str] | None = None):
        """``x`` is the uint8 image scaled by 1/255 (the bank's input scale)."""
        values = {INPUT: x}
        bits = self.bits
        for n in self.nodes:
            src = values[n.inputs[0]]
            if n.weighted:
                y = self.layers[n.name](src, bits, self.bipolar[n.inputs[0]])
            elif n.op == "maxpool":
                y = F.max_pool2d(src, n.kernel, n.stride)
            elif n.op == "avgpool":
                y = self._avgpool(src, n, bits)
            elif n.op == "flatten":
                y = torch.flatten(src, 1)
            else:  # add
                y = self.add_act[n.name](src + values[n.inputs[1]], bits)
            values[n.name] = y
        if outputs is not None:
            return {o: values[o] for o in outputs}
        return values[self.nodes[-1].name]

    def _avgpool(self, x: torch.Tensor, n: Node, bits: int | None) -> torch.Tensor:
        mean = F.avg_pool2d(x, n.kernel, n.stride)
        if bits is None:
            return mean
        if bits == 1:
            return ste(mean, torch.where(mean >= 0, 1.0, -1.0))
        step = self.act_scale(n.inputs[0], bits)
        # average the integers themselves: window sums of 64 are often exact ties (.5)
        ints = F.avg_pool2d(torch.round(x.detach() / step), n.kernel, n.stride)
        return ste(mean, round_half_up(ints) * step)

    def act_scale(self, name: str, bits: int) -> float:
        """The output step of a requantizing node at ``bits`` (pass-through nodes: their input's)."""
        node = next(n for n in self.nodes if n.name == name)
        if node.weighted:
            return self.layers[name].act.scale(bits)
        if node.op == "add":
            return self.add_act[name].scale(bits)
        if node.inputs[0] == INPUT:
            return 1.0 / 255.0
        return self.act_scale(node.inputs[0], bits)
