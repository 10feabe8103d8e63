"""Seeded synthetic banks: random float models with calibrated, plausible per-width parameters.

So that hardware work can start before training exists, ``synth_bank`` draws He-initialized
weights, per-width component scales near 1 and power-of-two weight steps, then calibrates each
width's BatchNorm statistics and activation steps layer by layer on seeded random inputs, running
the golden model's own kernels, so activations neither vanish nor saturate. The float parameters
then go through ``build_bank`` like a trained model's would.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..archs import arch
from ..graph import INPUT, Domain, Node, fan_in, infer_shapes, input_domain, weight_shape
from ..intmath import requant_output, weight_limit
from .builder import DEFAULT_FORMAT, BankFormat, BatchNorm, FloatLayer, build_bank, build_weights, relu_scale
from .model import Bank

DEFAULT_WIDTHS: tuple[int, ...] = (8, 7, 6, 5, 4, 3, 2, 1)


def _po2(x: float) -> float:
    return 2.0 ** round(math.log2(max(x, 1e-12)))


def _out_domain(node: Node, bits: int, src: Domain) -> Domain:
    if not node.requantizes:
        return src
    if node.act == "none":
        return Domain("signed", 1 << 40)
    return Domain("bipolar", 1) if bits == 1 else Domain("unsigned", (1 << bits) - 1)


def _wide_step(y: np.ndarray) -> float:
    """Step of an ``act none`` output: 4096 steps up to its peak, and at least 1/4096.

    The floor keeps a layer whose calibration outputs are all equal (the classifier of a 1-bit network
    whose global pooling gives every input the same signs) from folding into 2**60 multipliers."""
    return max(float(np.abs(y).max()), 1.0) / 4096


def synth_bank(arch_name: str | tuple[list[Node], tuple[int, ...]], seed: int = 0,
               widths: Sequence[int] = DEFAULT_WIDTHS, calib: int = 128, fmt: BankFormat = DEFAULT_FORMAT,
               input_signed: bool = False) -> Bank:
    """A reproducible random bank for a built-in architecture (``wavebits.archs``) or a graph.

    ``arch_name`` is a built-in name or ``(nodes, input_shape)``; ``input_signed`` makes the
    network input int8 (scale 1/128) instead of uint8 (scale 1/255).
    """
    nodes, input_shape = arch(arch_name) if isinstance(arch_name, str) else arch_name
    name = arch_name if isinstance(arch_name, str) else "graph"
    shapes = infer_shapes(nodes, input_shape)
    rng = np.random.default_rng(seed)
    widths = tuple(sorted(set(widths), reverse=True))
    input_scale = 1.0 / 128.0 if input_signed else 1.0 / 255.0
    lo, hi = (-128, 128) if input_signed else (0, 256)
    x_calib = rng.integers(lo, hi, size=(calib, *input_shape)).astype(np.int64)

    layers: dict[str, FloatLayer] = {}
    for n in nodes:
        if not n.weighted:
            continue
        shape = weight_shape(n, shapes[n.inputs[0]])
        w = rng.normal(0.0, math.sqrt(2.0 / fan_in(n, shapes[n.inputs[0]])), size=shape)
        std = float(w.std())
        comp_scales = {b: (1.0 + 0.05 * rng.normal(), *rng.uniform(0.8, 1.2, size=3)) for b in widths}
        step = {b: _po2(2.5 * std / weight_limit(b)) if b > 1 else _po2(float(np.abs(w).mean()))
                for b in widths}
        layers[n.name] = FloatLayer(weight=w, comp_scales=comp_scales, step=step, act_scale={}, bn={})
    banks = {n: build_weights(n, fl, widths, fmt).banks for n, fl in layers.items()}
    learned: dict[str, dict[int, float]] = {n.name: {} for n in nodes if n.kind.learns_step}

    for b in widths:
        values = {INPUT: x_calib}
        domain = {INPUT: input_domain(8, input_signed)}
        scale = {INPUT: input_scale}
        for n in nodes:
            kind = n.kind
            src = domain[n.inputs[0]]
            c = shapes[n.name][0]
            xs = [values[s] for s in n.inputs]
            acc_bound = fan_in(n, shapes[n.inputs[0]]) * weight_limit(b) * int(np.abs(xs[0]).max(initial=1))
            acc = kind.accumulate(n, xs, src, b, banks[n.name][b] if n.weighted else None, acc_bound)
            if n.weighted:
                fl = layers[n.name]
                z = acc * scale[n.inputs[0]] * fl.step[b]
                axes = (0, 2, 3) if z.ndim == 4 else (0,)
                beta = np.full(c, 0.5 if n.act == "relu" else 0.0)
                fl.bn[b] = BatchNorm(np.ones(c), beta, z.mean(axis=axes), z.var(axis=axes) + 1e-6)
                k, h = fl.bn[b].fold()
                y = z * k.reshape((1, -1) + (1,) * (z.ndim - 2)) + h.reshape((1, -1) + (1,) * (z.ndim - 2))
                fl.act_scale[b] = relu_scale(y, b) if n.act == "relu" else _wide_step(y)
            elif kind.learns_step:
                y = sum(x * scale[s] for x, s in zip(xs, n.inputs, strict=True))
                learned[n.name][b] = relu_scale(y, b) if n.act == "relu" else _wide_step(y)
            rq, scale[n.name] = kind.float_requant(
                n, b, [shapes[s] for s in n.inputs], [scale[s] for s in n.inputs], c, layers.get(n.name),
                learned.get(n.name, {}).get(b), fmt.mul_bits)
            values[n.name] = acc if rq is None else requant_output(kind.scaled(n, xs, acc, rq), rq.shift, n.act, b)
            domain[n.name] = _out_domain(n, b, src)

    return build_bank(
        name=name, nodes=nodes, input_shape=input_shape, classes=shapes[nodes[-1].name][0],
        widths=widths, input_scale=input_scale, layers=layers, add_scales=learned, fmt=fmt,
        meta={"source": "synth", "arch": name, "seed": seed}, input_signed=input_signed,
    )
