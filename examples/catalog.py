"""The MLPerf Tiny example networks as one list, and seeded synthetic data shaped for each.

Used by ``tests/test_mlperf_tiny.py`` and ``benchmarks/mlperf_tiny.py``; speech commands, visual
wake words and ToyADMOS are not available where wavebits is developed, so those networks train on
``synthetic`` data (class prototypes plus noise), which only shows that the flow runs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import NamedTuple

import numpy as np
from torch import nn

import wavebits as wb

HERE = Path(__file__).resolve().parent


class Example(NamedTuple):
    """One example network: its file and function, input, classes (0: reconstruction), C-sim weight mode."""

    file: str
    function: str
    shape: tuple[int, ...]
    signed: bool
    classes: int
    weights: str


NETWORKS = [
    Example("resnet8", "resnet8", (3, 32, 32), False, 10, "banked"),
    Example("ds_cnn", "ds_cnn", (1, 49, 10), True, 12, "reconstruct"),
    Example("mobilenet_v1", "mobilenet_v1", (3, 96, 96), False, 2, "reconstruct"),
    Example("autoencoder", "autoencoder", (640,), True, 0, "banked"),
]


def module(example: Example) -> nn.Module:
    """A fresh float module of the example (random initialization)."""
    spec = importlib.util.spec_from_file_location(f"example_{example.file}", HERE / f"{example.file}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, example.function)()


def synthetic(example: Example, n: int, seed: int = 0, test: int = 8) -> wb.DataSet:
    """Seeded class prototypes plus noise as 8-bit integers; the last ``test`` samples are the test set."""
    rng = np.random.default_rng(seed)
    k = max(example.classes, 1)
    y = rng.integers(0, k, n)
    x = rng.normal(0, 40, (k, *example.shape))[y] + rng.normal(0, 20, (n, *example.shape))
    lo, hi, dtype = (-128, 127, np.int8) if example.signed else (0, 255, np.uint8)
    x = np.clip(np.round(x + (0 if example.signed else 128)), lo, hi).astype(dtype)
    if example.classes == 0:
        return wb.from_arrays(x[:-test], x_test=x[-test:], labels=False, name="synthetic")
    return wb.from_arrays(x[:-test], y[:-test], x[-test:], y[-test:], name="synthetic")
