"""Training data: a thin wrapper over :mod:`wavebits.data` for callers that want one split as arrays.

New code should call :func:`wavebits.data.load_data`, which returns both splits together with the
input scale and signedness (a :class:`wavebits.data.DataSet`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wavebits.data import CIFAR_CLASSES, DataSet, load_cifar10, load_data, load_split

__all__ = ["CIFAR_CLASSES", "DataSet", "load", "load_cifar10", "load_data"]


def load(name: str, split: str, data_dir: str | Path | None = None,
         limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y int64)`` of one split of a named data set (see :data:`wavebits.data.DATASETS`).

    ``x`` is uint8 ``(N, C, H, W)`` for the built-in sets; ``npz`` and ``folder`` data may be int8 or
    flat ``(N, F)`` (use :func:`wavebits.data.load_data` to get its scale). ``limit`` (0 or None: all)
    keeps the first N images of ``digits``/``mnist``/``fashion-mnist`` and a seeded (seed 0) random
    subset of the others.
    """
    return load_split(name, split, data_dir, limit)
