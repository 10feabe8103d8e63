"""Software hot swap: time rebuilding a width's integer weights from the wavelet components.

Layer shapes are those of torchvision's ResNet-18 and ResNet-50 (convolutions and the classifier);
components and scales are random, since the work does not depend on their values. Timings are
medians over repeats after one untimed warm-up pass, pinned to one core.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from .fixedpoint import to_terms
from .reconstruct import reconstruct_fast
from .wavelet import COMPONENTS, padded_shape

PAPER_RESNET50_CPU_S = 1.2  # the paper's reconstruction time for ResNet-50 on a CPU
TARGET_RESNET50_S = 0.05


def resnet_shapes(depth: int) -> list[tuple[int, ...]]:
    """Weight shapes of torchvision ResNet-18 (basic blocks) or ResNet-50 (bottlenecks)."""
    if depth not in (18, 50):
        raise ValueError("depth must be 18 or 50")
    shapes: list[tuple[int, ...]] = [(64, 3, 7, 7)]
    inp = 64
    blocks = (2, 2, 2, 2) if depth == 18 else (3, 4, 6, 3)
    for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
        for i in range(count):
            stride_down = i == 0 and stage > 0
            if depth == 18:
                shapes += [(planes, inp, 3, 3), (planes, planes, 3, 3)]
                out = planes
            else:
                out = planes * 4
                shapes += [(planes, inp, 1, 1), (planes, planes, 3, 3), (out, planes, 1, 1)]
            if i == 0 and (stride_down or inp != out):
                shapes.append((out, inp, 1, 1))
            inp = out
    shapes.append((1000, inp))
    return shapes


@dataclass
class SwitchTiming:
    model: str
    weights: int
    bits: int
    median_s: float
    repeats: int


def _random_layer(rng: np.random.Generator, shape: tuple[int, ...], comp_bits: int):
    rows, cols = padded_shape(shape[0], math.prod(shape[1:]))
    lim = (1 << (comp_bits - 1)) - 1
    comps = {k: rng.integers(-lim, lim + 1, size=(rows // 2, cols // 2)).astype(np.int16) for k in COMPONENTS}
    return comps


def pin_one_core() -> None:
    """Run on a single core, as the benchmark claims (where the OS allows it)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def bench_model(depth: int, widths: Sequence[int], repeats: int = 5, seed: int = 0,
                comp_bits: int = 10, progress: bool = True) -> list[SwitchTiming]:
    """Median time to rebuild every layer of a ResNet at each width from random components."""
    rng = np.random.default_rng(seed)
    shapes = resnet_shapes(depth)
    layers = [_random_layer(rng, s, comp_bits) for s in shapes]
    count = sum(math.prod(s) for s in shapes)
    results = []
    it = tqdm(widths, desc=f"ResNet-{depth} switch", unit="width", leave=False) if progress else widths
    for b in it:
        scales = [{k: to_terms(float(v), 8, 3) for k, v in zip(COMPONENTS, rng.uniform(0.5, 1.5, 4), strict=True)}
                  for _ in shapes]
        shift = 10 + (8 - b)
        times = []
        for comps, sc, shape in zip(layers, scales, shapes, strict=True):  # untimed warm-up pass
            reconstruct_fast(comps, sc, shift, b, shape, comp_bits)
        for _ in range(repeats):
            t0 = time.perf_counter()
            for comps, sc, shape in zip(layers, scales, shapes, strict=True):
                reconstruct_fast(comps, sc, shift, b, shape, comp_bits)
            times.append(time.perf_counter() - t0)
        results.append(SwitchTiming(f"ResNet-{depth}", count, b, statistics.median(times), repeats))
    return results


def report(results: list[SwitchTiming]) -> str:
    """The benchmark table, with the paper's 1.2 s and our target beside each measurement."""
    from .bank.report import table

    rows = []
    for r in results:
        rows.append([r.model, f"{r.weights / 1e6:.1f}M", r.bits, f"{r.median_s * 1e3:.1f}",
                     f"{PAPER_RESNET50_CPU_S / r.median_s:.0f}x", r.repeats])
    text = table(["model", "weights", "width", "median ms", "vs paper 1.2 s", "repeats"], rows)
    r50 = [r.median_s for r in results if r.model == "ResNet-50"]
    if r50:
        worst = max(r50)
        verdict = "meets" if worst <= TARGET_RESNET50_S else "MISSES"
        text += (f"\nResNet-50 worst width: {worst * 1e3:.1f} ms on one core; "
                 f"{verdict} the {TARGET_RESNET50_S * 1e3:.0f} ms target; paper: {PAPER_RESNET50_CPU_S} s")
    return text
