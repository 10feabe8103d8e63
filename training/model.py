"""A multiscale quantized network built from the same graph (``wavebits.graph.Node``) as the bank.

``MultiScaleNet.set_width(b)`` switches the whole model to width ``b`` (``None``: float) at run
time; no module is rebuilt. Each weighted layer holds one shared float weight (``WaveletWeight``),
a BatchNorm per width (plus one for the float model) and an output quantizer per width.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from wavebits.bank.builder import DEFAULT_FORMAT, BankFormat
from wavebits.graph import INPUT, Node, bipolar_at_one_bit, fan_in, infer_shapes, weight_shape

from .quant import FineQuant, PactActivation, WaveletWeight
from .recipe import DEFAULT_RECIPE, Recipe

if TYPE_CHECKING:
    from wavebits.importer import ImportedLayer


class WeightedLayer(nn.Module):
    """Conv2d or linear with shared weights, per-width BN and a per-width output quantizer.

    ``init`` (from ``wavebits.importer``) gives the source layer's structure: a layer without
    BatchNorm keeps a bias instead (shared by every width, as the module had it), and a
    ReLU6/Hardtanh bound clips the float model's activation. With ``pretrained`` its values seed
    the shared weights and the float BatchNorm; otherwise they start from a seeded He init.
    """

    def __init__(self, node: Node, in_shape: tuple[int, ...], widths: Sequence[int], recipe: Recipe,
                 fmt: BankFormat, generator: torch.Generator, init: ImportedLayer | None = None,
                 pretrained: bool = False) -> None:
        super().__init__()
        self.node = node
        shape = weight_shape(node, in_shape)
        pretrained = pretrained and init is not None
        if pretrained:
            w = torch.as_tensor(init.weight, dtype=torch.float32).clone()
        else:
            bound = (6.0 / fan_in(node, in_shape)) ** 0.5  # He uniform
            w = (torch.rand(shape, generator=generator) * 2 - 1) * bound
        self.weight = WaveletWeight(w, widths, fmt, wavelet=recipe.wavelet,
                                    per_width_scales=recipe.wavelet,
                                    per_width_step=recipe.per_width_weight_quant)
        self.per_width_bn = recipe.per_width_bn
        self.has_bn = init is None or init.bn is not None
        if self.has_bn:
            bn = nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d
            keys = ["fp", *(str(b) for b in widths)] if recipe.per_width_bn else ["fp", "shared"]
            self.bn = nn.ModuleDict({k: bn(node.out_channels) for k in keys})
            if pretrained:
                _load_bn(self.bn["fp"], init)
            self.bias = None
        else:
            self.bn = nn.ModuleDict()
            b = init.bias if pretrained and init.bias is not None else np.zeros(node.out_channels)
            self.bias = nn.Parameter(torch.as_tensor(b, dtype=torch.float32).clone())
        clip = init.clip if init is not None else None
        if node.act == "relu":
            self.act: nn.Module = PactActivation(widths, per_width=recipe.per_width_act, float_clip=clip)
        else:
            self.act = FineQuant(widths)

    def batchnorm(self, bits: int | None) -> nn.Module | None:
        """The BatchNorm of ``bits`` (None: the float model's); None for a layer without BN."""
        if not self.has_bn:
            return None
        if bits is None:
            return self.bn["fp"]
        return self.bn[str(bits) if self.per_width_bn else "shared"]

    def pre_activation(self, x: torch.Tensor, bits: int | None, bipolar_input: bool) -> torch.Tensor:
        z = self.node.kind.torch_apply(self.node, x, self.weight(bits), bits, bipolar_input)
        bn = self.batchnorm(bits)
        if bn is not None:
            return bn(z)
        return z + self.bias.view((1, -1) + (1,) * (z.dim() - 2))

    def forward(self, x: torch.Tensor, bits: int | None, bipolar_input: bool = False) -> torch.Tensor:
        return self.act(self.pre_activation(x, bits, bipolar_input), bits)


def _load_bn(bn: nn.Module, init: ImportedLayer) -> None:
    """The source's BatchNorm, with the conv/linear bias folded into its running mean."""
    src = init.bn
    mean = np.asarray(src.mean, dtype=np.float64)
    if init.bias is not None:
        mean = mean - np.asarray(init.bias, dtype=np.float64)
    with torch.no_grad():
        for t, v in ((bn.weight, src.gamma), (bn.bias, src.beta), (bn.running_mean, mean), (bn.running_var, src.var)):
            t.copy_(torch.as_tensor(np.asarray(v), dtype=t.dtype))
    bn.eps = float(src.eps)


class MultiScaleNet(nn.Module):
    """Executes a bank graph in float (fake-quantized) form at the active width.

    ``input_scale`` is the float value of one input integer step (1/255 for uint8 images);
    ``init`` maps weighted layers to the source module's parameters (``wavebits.importer``), used
    as starting values when ``pretrained``.
    """

    def __init__(self, nodes: list[Node], input_shape: tuple[int, ...], widths: Sequence[int],
                 recipe: Recipe = DEFAULT_RECIPE, fmt: BankFormat = DEFAULT_FORMAT, seed: int = 0,
                 input_scale: float = 1.0 / 255.0, input_signed: bool = False,
                 init: Mapping[str, ImportedLayer] | None = None, pretrained: bool = False) -> None:
        super().__init__()
        self.nodes = list(nodes)
        self.input_shape = tuple(input_shape)
        self.widths = tuple(widths)
        self.recipe = recipe
        self.fmt = fmt
        self.input_scale = float(input_scale)
        self.input_signed = input_signed
        self.shapes = infer_shapes(self.nodes, self.input_shape)
        gen = torch.Generator().manual_seed(seed)
        init = init or {}
        self.layers = nn.ModuleDict()
        self.add_act = nn.ModuleDict()
        for n in self.nodes:
            if n.weighted:
                self.layers[n.name] = WeightedLayer(n, self.shapes[n.inputs[0]], widths, recipe, fmt, gen,
                                                    init.get(n.name), pretrained)
            elif n.kind.learns_step:
                if n.act == "relu":
                    self.add_act[n.name] = PactActivation(widths, per_width=recipe.per_width_act)
                else:
                    self.add_act[n.name] = FineQuant(widths)
        self.bits: int | None = None
        self.bipolar = bipolar_at_one_bit(self.nodes)

    def set_width(self, bits: int | None) -> MultiScaleNet:
        """Switch the whole model to ``bits`` (or float with None); returns self."""
        if bits is not None and bits not in self.widths:
            raise ValueError(f"width {bits} is not among the model's widths {self.widths}")
        self.bits = bits
        return self

    def quantizer(self, name: str) -> nn.Module:
        """The output quantizer of a node that has one (weighted or learned-step nodes)."""
        return self.layers[name].act if name in self.layers else self.add_act[name]

    def forward(self, x: torch.Tensor, outputs: Sequence[str] | None = None):
        """``x`` is the integer input times ``input_scale`` (the bank's input scale)."""
        values = {INPUT: x}
        bits = self.bits
        for n in self.nodes:
            if n.weighted:
                values[n.name] = self.layers[n.name](values[n.inputs[0]], bits, self.bipolar[n.inputs[0]])
            else:
                values[n.name] = n.kind.torch_forward(n, [values[s] for s in n.inputs], bits, self)
        if outputs is not None:
            return {o: values[o] for o in outputs}
        return values[self.nodes[-1].name]

    def act_scale(self, name: str, bits: int) -> float:
        """The output step of a node at ``bits`` (pass-through nodes: their input's)."""
        if name == INPUT:
            return self.input_scale
        if name in self.layers or name in self.add_act:
            return self.quantizer(name).scale(bits)
        node = next(n for n in self.nodes if n.name == name)
        return self.act_scale(node.inputs[0], bits)
