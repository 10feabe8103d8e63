"""Data sets as uint8 image batches: scikit-learn digits (embedded) and idx-format MNIST files.

Images come back as ``(N, C, H, W)`` uint8, labels as int64. Digits pixels (0..16) are scaled by
16 and clipped to 255; idx images are used as stored.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from .errors import DataError

DATASETS = ("digits", "mnist", "fashion-mnist")
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def load_digits(split: str = "test", test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's bundled 8x8 digits, split by a seeded permutation (20 % test by default)."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = np.minimum(d.images * 16, 255).astype(np.uint8)[:, None]
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = round(len(y) * test_fraction)
    idx = order[:n_test] if split == "test" else order[n_test:]
    return x[idx], y[idx]


def read_idx(path: Path) -> np.ndarray:
    """Read a gzipped idx file (images: magic 0x803, labels: 0x801) with clear errors."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable gzip file ({e})") from None
    if len(raw) < 8:
        raise DataError(f"{path}: too short for an idx header")
    magic, count = struct.unpack(">II", raw[:8])
    dims = {0x801: 1, 0x803: 3}.get(magic)
    if dims is None:
        raise DataError(f"{path}: bad idx magic 0x{magic:x} (expected 0x801 labels or 0x803 images)")
    shape = (count, *struct.unpack(">" + "I" * (dims - 1), raw[8:8 + 4 * (dims - 1)]))
    offset = 4 + 4 * dims
    size = int(np.prod(shape))
    if len(raw) - offset != size:
        raise DataError(f"{path}: header says {size} bytes of data, file has {len(raw) - offset}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def load_idx_dataset(root: str | Path, split: str = "test"):
    """MNIST-layout idx files under ``root`` (e.g. ../shared/data/mnist)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such data folder")
    images, labels = (read_idx(root / f) for f in _IDX_FILES[split])
    if len(images) != len(labels):
        raise DataError(f"{root}: {len(images)} images but {len(labels)} labels")
    return images[:, None].copy(), labels.astype(np.int64)


def load_dataset(name: str, split: str = "test", data_dir: str | Path | None = None):
    """``(x, y)`` of a named data set; idx data sets need ``data_dir``."""
    if name == "digits":
        return load_digits(split)
    if name in ("mnist", "fashion-mnist"):
        if data_dir is None:
            raise DataError(f"data set {name!r} needs --data-dir (the folder with its idx .gz files)")
        return load_idx_dataset(data_dir, split)
    raise DataError(f"unknown data set {name!r} (known: {', '.join(DATASETS)})")
