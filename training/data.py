"""Training data as uint8 arrays: digits (embedded), MNIST-layout idx files, CIFAR-10 JPEGs.

CIFAR-10 is read from an image folder (``train/<class>/*.jpg``, ``test/<class>/*.jpg``) or from a
tarball of that layout; classes are sorted by name.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np

from wavebits.data import load_dataset
from wavebits.errors import DataError

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _decode(data: bytes, where: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data)).convert("RGB")
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{where}: not a readable image ({e})") from None
    if img.size != (32, 32):
        raise DataError(f"{where}: expected a 32x32 image, got {img.size[0]}x{img.size[1]}")
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)


def load_cifar10(root: str | Path, split: str = "test", limit: int | None = None):
    """CIFAR-10 from a folder or ``.tar.gz`` of ``<split>/<class>/*.jpg`` files."""
    root = Path(root)
    items: list[tuple[str, int, bytes]] = []
    if root.is_file():
        try:
            with tarfile.open(root) as tf:
                for m in tf:
                    parts = Path(m.name).parts
                    if m.isfile() and len(parts) >= 3 and parts[-3] == split and parts[-2] in CIFAR_CLASSES:
                        items.append((m.name, CIFAR_CLASSES.index(parts[-2]), tf.extractfile(m).read()))
        except (tarfile.TarError, OSError, EOFError) as e:
            raise DataError(f"{root}: not a readable tarball ({e})") from None
    elif root.is_dir():
        base = root / split
        if not base.is_dir():
            raise DataError(f"{root}: no {split}/ folder (expected {split}/<class>/*.jpg)")
        for label, cls in enumerate(CIFAR_CLASSES):
            for f in sorted((base / cls).glob("*.jpg")):
                items.append((str(f), label, b""))
    else:
        raise DataError(f"{root}: no such file or folder")
    if not items:
        raise DataError(f"{root}: no {split} images found")
    items.sort(key=lambda t: t[0])
    if limit:
        rng = np.random.default_rng(0)
        items = [items[i] for i in sorted(rng.choice(len(items), min(limit, len(items)), replace=False))]
    x = np.stack([_decode(data or Path(name).read_bytes(), name) for name, _, data in items])
    y = np.array([label for _, label, _ in items], dtype=np.int64)
    return x, y


def load(name: str, split: str, data_dir: str | Path | None = None, limit: int | None = None):
    """``(x uint8 (N, C, H, W), y int64)`` for ``digits``, ``mnist``, ``fashion-mnist`` or ``cifar10``."""
    if name == "cifar10":
        if data_dir is None:
            raise DataError("data set 'cifar10' needs a data path (folder or .tar.gz of JPEGs)")
        return load_cifar10(data_dir, split, limit)
    x, y = load_dataset(name, split, data_dir)
    if limit:
        x, y = x[:limit], y[:limit]
    return x, y
