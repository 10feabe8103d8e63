"""Data sets as 8-bit integer inputs with their scale: built-in sets, ``.npz`` files, image folders, arrays.

Every loader returns a :class:`DataSet`: inputs are ``uint8`` (unsigned) or ``int8`` (signed) arrays of
shape ``(N, C, H, W)`` (images) or ``(N, F)`` (flat features), labels are ``int64``, and ``scale`` is
the float value of one input step (``x_float = x_int * scale``). The scale and the signedness come
from the data: 1/255 for ``uint8`` and 1/128 for ``int8`` unless the file (or caller) gives one.

Sources, by name for :func:`load_data`:

``digits``
    scikit-learn's bundled 8x8 digits (pixels 0..16 times 16, clipped to 255), seeded hold-out split.
``mnist``, ``fashion-mnist``
    the four MNIST-layout idx ``.gz`` files in a folder.
``cifar10``
    CIFAR-10 JPEGs in a folder or ``.tar.gz`` of ``train/<class>/*.jpg`` and ``test/<class>/*.jpg``.
``npz``
    a NumPy ``.npz`` file, see :func:`load_npz`.
``folder``
    an image folder ``train/<class>/*`` (and optionally ``test/<class>/*``), see :func:`load_folder`.

From Python, :func:`from_arrays` and :func:`from_torch` build the same :class:`DataSet`.

Files are validated before anything large is allocated: every malformed input raises
:class:`~wavebits.errors.DataError` with a one-line message ``<file>: <key>: <problem>``. Import of
this module pulls in NumPy only; PIL, scikit-learn and torch are imported by the functions that use them.
"""

from __future__ import annotations

import gzip
import io
import math
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "npz", "folder")
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
NPZ_KEYS = ("x", "y", "x_test", "y_test", "scale", "layout")
LAYOUTS = ("NCHW", "NHWC")
MAX_BYTES = 4 << 30
"""Largest array (or decompressed idx payload) a loader reads: 4 GiB."""
MAX_CLASSES = 1 << 16
"""Largest class count a label may imply (label <= 65535)."""

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_CHUNK = 1 << 24
_DEFAULT_SCALE = {False: 1.0 / 255.0, True: 1.0 / 128.0}
_GRAY_MODES = ("L",)
_MISSING = {"x": "missing (the inputs)", "y": "missing (the labels; for a data set without labels pass labels=False)"}
_UNSUPPORTED_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


# ---------------------------------------------------------------- the data set


@dataclass
class DataSet:
    """Train and test inputs as 8-bit integers, their labels, and the float value of one input step.

    ``x_train``/``x_test`` are ``uint8`` (``signed`` False) or ``int8`` (``signed`` True), shaped
    ``(N, C, H, W)`` or ``(N, F)``; ``y_train``/``y_test`` are ``int64`` class labels ``(N,)``.
    ``classes`` is the class count (the class list where the source has one, else max label + 1 over
    train and test). A reconstruction (autoencoder) data set has no labels: ``classes`` is 0 and the
    ``y`` arrays are zeros. ``note`` says how the data was derived (hold-out split, layout, quantization).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    scale: float
    signed: bool
    name: str
    classes: int
    note: str = ""
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.scale, int | np.integer | np.floating) and not isinstance(self.scale, bool):
            self.scale = float(self.scale)
        want = np.int8 if self.signed else np.uint8
        for key, x, y in (("x_train", self.x_train, self.y_train), ("x_test", self.x_test, self.y_test)):
            if not isinstance(x, np.ndarray) or x.dtype != want:
                got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
                raise DataError(f"{self.name}: {key}: expected {np.dtype(want)} (signed={self.signed}), got {got}")
            if x.ndim < 2 or len(x) == 0:
                raise DataError(f"{self.name}: {key}: expected a non-empty (N, ...) array, got shape {x.shape}")
            if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.shape != (len(x),):
                got = f"{y.dtype} {y.shape}" if isinstance(y, np.ndarray) else type(y).__name__
                raise DataError(f"{self.name}: {'y' + key[1:]}: expected int64 ({len(x)},), got {got}")
        if self.x_test.shape[1:] != self.x_train.shape[1:]:
            raise DataError(f"{self.name}: x_test: samples of shape {self.x_test.shape[1:]}, "
                            f"x_train has {self.x_train.shape[1:]}")
        if not (isinstance(self.scale, float) and math.isfinite(self.scale) and self.scale > 0):
            raise DataError(f"{self.name}: scale: expected a positive finite float, got {self.scale!r}")
        top = max(int(self.y_train.max()), int(self.y_test.max()))
        low = min(int(self.y_train.min()), int(self.y_test.min()))
        if self.classes < 0 or low < 0 or top >= max(self.classes, 1):
            raise DataError(f"{self.name}: classes: {self.classes} classes, labels span {low}..{top}")
        if self.class_names and len(self.class_names) != self.classes:
            raise DataError(f"{self.name}: class_names: {len(self.class_names)} names for {self.classes} classes")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input: ``(C, H, W)`` or ``(F,)``."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def input_bits(self) -> int:
        """Bits of one input integer (always 8)."""
        return 8

    @property
    def labeled(self) -> bool:
        """False for a reconstruction data set (no labels, ``classes`` 0)."""
        return self.classes > 0

    def check_fits(self, input_shape: tuple[int, ...], signed: bool, target: str) -> None:
        """A DataError unless these inputs fit a network taking ``input_shape`` (int8 when ``signed``)."""
        if self.input_shape != tuple(input_shape):
            raise DataError(f"data set {self.name!r} gives inputs {self.input_shape}, {target} expects "
                            f"{tuple(input_shape)}")
        if self.signed != signed:
            raise DataError(f"data set {self.name!r} has {'signed' if self.signed else 'unsigned'} inputs, {target} "
                            f"takes {'signed' if signed else 'unsigned'} ones")

    def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of ``"train"`` or ``"test"``."""
        if split not in ("train", "test"):
            raise DataError(f"{self.name}: unknown split {split!r} (known: train, test)")
        return (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)

    def describe(self) -> str:
        """One line: sizes, input shape and type, scale, classes."""
        return describe_data(self.name, len(self.x_train), len(self.x_test), self.input_shape, self.x_test.dtype,
                             self.scale, self.classes, self.note)


def describe_data(name: str, n_train: int, n_test: int, input_shape: tuple[int, ...], dtype: Any, scale: float,
                  classes: int, note: str = "", how: str = "") -> str:
    """The one-line summary of a data set that training prints (``how``: e.g. that it streams)."""
    inv = 1.0 / scale
    step = f"1/{round(inv)}" if abs(inv - round(inv)) < 1e-9 * inv else f"{scale:g}"
    kinds = f"{classes} classes" if classes > 0 else "no labels"
    return (f"{name}: {n_train} train / {n_test} test, inputs {tuple(input_shape)} {np.dtype(dtype)}, scale {step}, "
            f"{kinds}{how}" + (f" ({note})" if note else ""))


# ---------------------------------------------------------------- shared helpers


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__


def _err(where: str | Path, key: str, problem: str) -> DataError:
    return DataError(f"{where}: {key}: {problem}")


def _check_fraction(where: str | Path, test_fraction: float) -> None:
    if not (isinstance(test_fraction, int | float) and 0 < test_fraction < 1):
        raise DataError(f"{where}: test_fraction: expected a number strictly between 0 and 1, got {test_fraction!r}")


def _check_limit(where: str | Path, key: str, limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1):
        raise DataError(f"{where}: {key}: expected a positive integer, got {limit!r}")


def holdout_split(n: int, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded hold-out split of ``n`` samples: ``(train indices, test indices)``, each sorted.

    ``round(n * test_fraction)`` samples (at least 1, at most ``n - 1``) of a seeded permutation go to test.
    """
    if n < 2:
        raise DataError(f"a hold-out split needs at least 2 samples, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = min(max(round(n * test_fraction), 1), n - 1)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _split_note(where: str | Path, test_fraction: float, seed: int, n_train: int, n_test: int) -> str:
    return (f"no x_test in {where}: seeded {100 * test_fraction:g} % hold-out split (seed {seed}), "
            f"{n_test} test / {n_train} train")


def subset(n: int, limit: int | None, seed: int = 0) -> np.ndarray:
    """Indices of a seeded random subset of ``limit`` of ``n`` samples, in their original order (all if None)."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def _classes_of(*ys: np.ndarray) -> int:
    return max(int(y.max()) for y in ys) + 1


# ---------------------------------------------------------------- digits


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    return np.minimum(d.images * 16, 255).astype(np.uint8)[:, None], d.target.astype(np.int64)


def _digits_order(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_test = round(n * test_fraction)
    return order[n_test:], order[:n_test]


def load_digits(split: str = "test", test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits, split by a seeded permutation (20 % test by default)."""
    x, y = _digits_arrays()
    train, test = _digits_order(len(y), test_fraction, seed)
    idx = test if split == "test" else train
    return x[idx], y[idx]


# ---------------------------------------------------------------- idx files (MNIST layout)


def _read_exact(f: Any, n: int) -> bytearray:
    """Up to ``n`` bytes from a stream, in chunks (nothing is allocated for bytes that never come)."""
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(_CHUNK, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def read_idx(path: Path) -> np.ndarray:
    """Read a gzipped idx file (images: magic 0x803, labels: 0x801) with clear errors.

    The header is checked (magic, non-empty, at most :data:`MAX_BYTES`) before the payload is read, and
    the payload is read in chunks, so a header's claim is never allocated up front. A corrupt, truncated
    or over-long stream raises :class:`DataError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with gzip.open(path, "rb") as f:
            head = _read_exact(f, 8)
            if len(head) < 8:
                raise DataError(f"{path}: too short for an idx header ({len(head)} bytes)")
            magic, count = struct.unpack(">II", head)
            dims = {0x801: 1, 0x803: 3}.get(magic)
            if dims is None:
                raise DataError(f"{path}: bad idx magic 0x{magic:x} (expected 0x801 labels or 0x803 images)")
            more = _read_exact(f, 4 * (dims - 1))
            if len(more) < 4 * (dims - 1):
                raise DataError(f"{path}: too short for an idx header ({8 + len(more)} bytes)")
            shape = (count, *struct.unpack(">" + "I" * (dims - 1), more))
            size = math.prod(shape)
            if size == 0:
                raise DataError(f"{path}: empty: header declares shape {shape}")
            if size > MAX_BYTES:
                raise DataError(f"{path}: header declares shape {shape}, {size} bytes, over the "
                                f"{MAX_BYTES >> 30} GiB limit")
            raw = _read_exact(f, size)
            tail = f.read(_CHUNK) if len(raw) == size else b""
            more = bool(tail) and bool(f.read(1))
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: not a readable gzip file ({_one_line(e)})") from None
    if len(raw) != size or tail:
        have = f"more than {size + len(tail)}" if more else str(len(raw) + len(tail))
        raise DataError(f"{path}: header says {size} bytes of data, file has {have}")
    return np.frombuffer(raw, dtype=np.uint8).reshape(shape)


def load_idx_dataset(root: str | Path, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """``(x uint8 (N, 1, H, W), y int64)`` of MNIST-layout idx files under ``root`` (e.g. ../shared/data/mnist)."""
    root = Path(root)
    if not root.is_dir():
        problem = "is a file, not a data folder" if root.exists() else "no such data folder"
        raise DataError(f"{root}: {problem}")
    image_file, label_file = (root / f for f in _IDX_FILES[split])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3:
        raise DataError(f"{image_file}: holds labels (magic 0x801), expected images (0x803)")
    if labels.ndim != 1:
        raise DataError(f"{label_file}: holds images (magic 0x803), expected labels (0x801)")
    if len(images) != len(labels):
        raise DataError(f"{root}: {len(images)} images but {len(labels)} labels")
    return images[:, None], labels.astype(np.int64)


# ---------------------------------------------------------------- CIFAR-10 JPEGs


def _open_image(data: bytes | None, where: str | Path) -> Any:
    """A PIL image, decoded (bytes, or the file ``where`` when ``data`` is None)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data) if data is not None else where)
            img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
            Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"{where}: not a readable image ({_one_line(e)})") from None
    return img


def _decode_cifar(data: bytes | None, where: str) -> np.ndarray:
    img = _open_image(data, where).convert("RGB")
    if img.size != (32, 32):
        raise DataError(f"{where}: expected a 32x32 image, got {img.size[0]}x{img.size[1]}")
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)


_CifarItem = tuple[str, int, bytes | None]


def _cifar_items(root: Path, splits: tuple[str, ...]) -> dict[str, list[_CifarItem]]:
    """``split -> [(name, label, JPEG bytes, or None for a file on disk)]``, sorted by name."""
    items: dict[str, list[_CifarItem]] = {s: [] for s in splits}
    if root.is_file():
        try:
            with tarfile.open(root) as tf:
                for m in tf:
                    parts = Path(m.name).parts
                    if m.isfile() and len(parts) >= 3 and parts[-3] in items and parts[-2] in CIFAR_CLASSES:
                        f = tf.extractfile(m)
                        items[parts[-3]].append((m.name, CIFAR_CLASSES.index(parts[-2]), f.read() if f else b""))
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise DataError(f"{root}: not a readable tarball ({_one_line(e)})") from None
    elif root.is_dir():
        for split in splits:
            base = root / split
            if not base.is_dir():
                raise DataError(f"{root}: no {split}/ folder (expected {split}/<class>/*.jpg)")
            for label, cls in enumerate(CIFAR_CLASSES):
                items[split] += [(str(f), label, None) for f in sorted((base / cls).glob("*.jpg"))]
    else:
        raise DataError(f"{root}: no such file or folder")
    for split, found in items.items():
        if not found:
            raise DataError(f"{root}: no {split} images found")
        found.sort(key=lambda t: t[0])
    return items


def _decode_cifar_items(items: list[_CifarItem], limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    items = [items[i] for i in subset(len(items), limit, seed)]
    x = np.stack([_decode_cifar(data, name) for name, _, data in items])
    return x, np.array([label for _, label, _ in items], dtype=np.int64)


def load_cifar10(root: str | Path, split: str = "test", limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x uint8 (N, 3, 32, 32), y int64)`` of CIFAR-10 from a folder or ``.tar.gz`` of ``<split>/<class>/*.jpg``.

    ``limit`` keeps a seeded (seed 0) random subset of that many images, in file order.
    """
    limit = limit or None
    _check_limit(root, "limit", limit)
    return _decode_cifar_items(_cifar_items(Path(root), (split,))[split], limit, 0)


# ---------------------------------------------------------------- validation shared by npz and arrays


def _resolve_layout(where: str | Path, x: np.ndarray, layout: str | None) -> tuple[str, str]:
    """``(layout, note)`` of a 4-D ``x``: the given one, or NHWC when the last axis looks like channels."""
    if layout is not None:
        if layout not in LAYOUTS:
            raise _err(where, "layout", f"unknown layout {layout!r} (known: {', '.join(LAYOUTS)})")
        return layout, ""
    if x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        return "NHWC", f"x taken as NHWC (last axis {x.shape[-1]}) and transposed to NCHW"
    return "NCHW", ""


def _as_nchw(x: np.ndarray, layout: str) -> np.ndarray:
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and layout == "NHWC":
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x


def _x_dtype_problem(dtype: np.dtype, floats: bool) -> str | None:
    """Why inputs of ``dtype`` are refused (None: accepted); floats only where a scale can quantize them."""
    if dtype.hasobject:
        return "object array (pickled data is not loaded)"
    if dtype in (np.uint8, np.int8) or (floats and dtype.kind == "f"):
        return None
    if dtype.kind == "f":
        return f"{dtype} data: expected uint8 or int8 (quantize first, or use from_arrays with a scale)"
    if dtype.kind in "iu":
        return f"{dtype} data: expected uint8 or int8 (cast values that fit with x.astype(np.uint8) or np.int8)"
    return f"{dtype} data: expected uint8 or int8"


def _check_x(where: str | Path, key: str, x: Any, floats: bool) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise _err(where, key, f"expected an array, got {type(x).__name__}")
    problem = _x_dtype_problem(x.dtype, floats)
    if problem:
        raise _err(where, key, problem)
    if x.ndim not in (2, 3, 4):
        raise _err(where, key, f"shape {x.shape}: expected (N, F), (N, H, W), (N, C, H, W) or (N, H, W, C)")
    if x.size == 0:
        raise _err(where, key, f"empty (shape {x.shape})")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise _err(where, key, "NaN or infinite values")
    return x


def _check_y(where: str | Path, key: str, y: Any, n: int, xkey: str) -> np.ndarray:
    if not isinstance(y, np.ndarray):
        raise _err(where, key, f"expected an array, got {type(y).__name__}")
    if y.dtype.hasobject:
        raise _err(where, key, "object array (pickled data is not loaded)")
    if y.dtype.kind not in "iu":
        raise _err(where, key, f"{y.dtype} labels: expected integer class labels")
    if y.ndim != 1:
        raise _err(where, key, f"shape {y.shape}: expected one label per sample, (N,)")
    if len(y) != n:
        raise _err(where, key, f"{len(y)} labels for {n} samples in {xkey}")
    if y.min() < 0:
        raise _err(where, key, f"negative label {int(y.min())}: labels must be class indices >= 0")
    if int(y.max()) >= MAX_CLASSES:
        raise _err(where, key, f"label {int(y.max())} over {MAX_CLASSES - 1}: labels must be class indices")
    return y.astype(np.int64)


def _check_scale(where: str | Path, scale: Any) -> float | None:
    if scale is None:
        return None
    if isinstance(scale, np.ndarray):
        if scale.dtype.kind not in "iuf" or scale.size != 1 or scale.ndim > 1:
            raise _err(where, "scale", f"expected a number, got a {scale.dtype} array of shape {scale.shape}")
        scale = scale.reshape(()).item()
    if isinstance(scale, bool) or not isinstance(scale, int | float | np.integer | np.floating):
        raise _err(where, "scale", f"expected a number, got {type(scale).__name__}")
    value = float(scale)
    if not (math.isfinite(value) and value > 0):
        raise _err(where, "scale", f"expected a positive finite number, got {value}")
    return value


def _quantize(xs: list[np.ndarray], scale: float) -> tuple[list[np.ndarray], str]:
    """Float arrays to integers: round half up of ``x / scale``, clipped to int8 if any value < 0 else uint8."""
    signed = any(bool((x < 0).any()) for x in xs)
    lo, hi, dtype = (-128, 127, np.int8) if signed else (0, 255, np.uint8)
    out, clipped, total = [], 0, 0
    for x in xs:
        q = np.floor(x.astype(np.float64) / scale + 0.5)
        clipped += int(((q < lo) | (q > hi)).sum())
        total += q.size
        out.append(np.clip(q, lo, hi).astype(dtype))
    note = f"float x quantized to {np.dtype(dtype)} with scale {scale:g} (round half up)"
    return out, note + (f", {clipped} of {total} values clipped to {lo}..{hi}" if clipped else "")


def _build(where: str | Path, name: str, arrays: dict[str, Any], *, scale: Any, layout: str | None, labels: bool,
           floats: bool, seed: int, test_fraction: float, limit_train: int | None = None,
           limit_test: int | None = None) -> DataSet:
    """Validate ``arrays`` (keys of :data:`NPZ_KEYS` but scale/layout) and make a :class:`DataSet`."""
    _check_fraction(where, test_fraction)
    _check_limit(where, "limit_train", limit_train)
    _check_limit(where, "limit_test", limit_test)
    x, x_test = arrays.get("x"), arrays.get("x_test")
    y, y_test = (arrays.get("y"), arrays.get("y_test")) if labels else (None, None)
    if x is None:
        raise _err(where, "x", _MISSING["x"])
    if labels and y is None:
        raise _err(where, "y", _MISSING["y"])
    if labels and (x_test is None) != (y_test is None):
        have, lack = ("x_test", "y_test") if x_test is not None else ("y_test", "x_test")
        raise _err(where, lack, f"missing ({have} is given; give both or neither)")
    x = _check_x(where, "x", x, floats)
    notes = []
    if x_test is not None:
        x_test = _check_x(where, "x_test", x_test, floats)
        if x_test.ndim != x.ndim or x_test.shape[1:] != x.shape[1:]:
            raise _err(where, "x_test", f"samples of shape {x_test.shape[1:]}, x has {x.shape[1:]}")
        if x_test.dtype != x.dtype:
            raise _err(where, "x_test", f"{x_test.dtype}, x is {x.dtype}")
    if labels:
        y = _check_y(where, "y", y, len(x), "x")
        if x_test is not None:
            y_test = _check_y(where, "y_test", y_test, len(x_test), "x_test")
    scale = _check_scale(where, scale)
    if x.ndim == 4:
        layout, note = _resolve_layout(where, x, layout)
        notes += [note] if note else []
    elif layout is not None and layout not in LAYOUTS:
        raise _err(where, "layout", f"unknown layout {layout!r} (known: {', '.join(LAYOUTS)})")
    x = _as_nchw(x, layout or "NCHW")
    x_test = _as_nchw(x_test, layout or "NCHW") if x_test is not None else None
    if x.dtype.kind == "f":
        if scale is None:
            raise _err(where, "scale", "missing: float x needs a scale (x_int = round(x / scale))")
        [x, *rest], note = _quantize([x] + ([x_test] if x_test is not None else []), scale)
        x_test = rest[0] if rest else None
        notes.append(note)
    signed = x.dtype == np.int8
    if scale is None:
        scale = _DEFAULT_SCALE[signed]
    if y is None:
        y = np.zeros(len(x), np.int64)
    if x_test is None:
        if len(x) < 2:
            raise _err(where, "x", f"{len(x)} sample: too few for a hold-out split (give x_test)")
        train, test = holdout_split(len(x), test_fraction, seed)
        x, x_test, y, y_test = x[train], x[test], y[train], y[test]
        notes.insert(0, _split_note(where, test_fraction, seed, len(train), len(test)))
    elif y_test is None:
        y_test = np.zeros(len(x_test), np.int64)
    classes = _classes_of(y, y_test) if labels else 0
    tr, te = subset(len(x), limit_train, seed), subset(len(x_test), limit_test, seed)
    return DataSet(np.ascontiguousarray(x[tr]), y[tr], np.ascontiguousarray(x_test[te]), y_test[te], scale, signed,
                   name, classes, "; ".join(notes))


# ---------------------------------------------------------------- .npz files


def _npz_header(zf: zipfile.ZipFile, path: Path, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Declared ``(shape, dtype)`` of member ``key``, checked against the member's size and the caps.

    The member's own size is checked against its stored bytes too (equal when stored, at most deflate's
    ~1032:1 when deflated), so what gets allocated is bounded by what the file holds.
    """
    info = zf.getinfo(key + ".npy")
    forged = info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size
    forged |= info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > 1100 * info.compress_size + 1024
    if forged:
        raise _err(path, key, f"member claims {info.file_size} bytes from {info.compress_size} stored bytes "
                              "(corrupt zip directory)")
    try:
        with zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise _err(path, key, f"unsupported .npy format version {version[0]}.{version[1]}")
            start = f.tell()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as e:
        raise _err(path, key, f"not a readable .npy member ({_one_line(e)})") from None
    if dtype.hasobject:
        raise _err(path, key, "object array (pickled data is not loaded)")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > MAX_BYTES:
        raise _err(path, key, f"declares shape {shape} {dtype}, {nbytes} bytes, over the {MAX_BYTES >> 30} GiB limit")
    if info.file_size - start != nbytes:
        raise _err(path, key, f"declares shape {shape} {dtype} ({nbytes} bytes), member holds "
                              f"{info.file_size - start} bytes (truncated or corrupt)")
    return shape, dtype


def _npz_header_check(path: Path, key: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Reject a member by its header alone (wrong kind of data), before reading it."""
    problem = _x_dtype_problem(dtype, floats=False) if key in ("x", "x_test") else None
    if problem:
        raise _err(path, key, problem)
    if key in ("y", "y_test") and dtype.kind not in "iu":
        raise _err(path, key, f"{dtype} labels: expected integer class labels")
    if key == "scale" and (dtype.kind not in "iuf" or math.prod(shape) != 1 or len(shape) > 1):
        raise _err(path, key, f"expected a number, got a {dtype} array of shape {shape}")
    if key == "layout" and (dtype.kind not in "US" or shape != () or dtype.itemsize > 64):
        raise _err(path, key, f"expected a string (NCHW or NHWC), got a {dtype} array of shape {shape}")


def load_npz(path: str | Path, *, labels: bool = True, seed: int = 0, test_fraction: float = 0.2,
             limit_train: int | None = None, limit_test: int | None = None, name: str | None = None) -> DataSet:
    """A :class:`DataSet` from a NumPy ``.npz`` file (``np.savez(path, x=..., y=...)``).

    Keys: ``x`` (uint8 or int8 inputs) and ``y`` (integer labels >= 0, any integer dtype), optional
    ``x_test``/``y_test`` (both or neither, same sample shape and dtype as train), optional ``scale``
    (positive float: the value of one input step; default 1/255 for uint8, 1/128 for int8) and optional
    ``layout`` (``"NCHW"`` or ``"NHWC"``). ``x`` may be ``(N, F)`` flat features, ``(N, H, W)`` one
    channel, ``(N, C, H, W)`` or ``(N, H, W, C)``; without ``layout`` a 4-D ``x`` whose last axis is 1, 3
    or 4 and whose axis 1 is not is taken as NHWC. ``layout`` only applies to 4-D inputs. Without
    ``x_test`` a seeded hold-out split (``test_fraction`` of the samples, ``seed``) is made and described
    in ``note``. ``limit_train``/``limit_test`` keep a seeded random subset (in file order).

    With ``labels=False`` (a reconstruction task, e.g. an autoencoder) ``y``/``y_test`` are optional and
    ignored: the data set's labels are zeros and ``classes`` is 0; ``x_test`` may then come alone.

    Each member's header is checked (dtype, no pickled objects, declared size against the member's size
    and :data:`MAX_BYTES`) before it is read. Every problem raises :class:`DataError` as one line
    ``<file>: <key>: <problem>``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or _one_line(e)})") from None
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        what = "a .npy array (save with np.savez)" if magic == b"\x93NUM" else "not a zip archive"
        raise DataError(f"{path}: not a .npz file ({what})")
    try:
        npz = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable .npz file ({_one_line(e)})") from None
    with npz:
        unknown = [k for k in npz.files if k not in NPZ_KEYS]
        if unknown:
            raise DataError(f"{path}: unknown key{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(repr(k) for k in unknown)} (known: {', '.join(NPZ_KEYS)})")
        keys = [k for k in NPZ_KEYS if k in npz.files and (labels or k not in ("y", "y_test"))]
        if "x" not in keys:
            raise _err(path, "x", _MISSING["x"])
        if labels and "y" not in keys:
            raise _err(path, "y", _MISSING["y"])
        for key in keys:
            if key + ".npy" not in npz.zip.namelist():
                raise _err(path, key, "not a .npy member")
            _npz_header_check(path, key, *_npz_header(npz.zip, path, key))
        arrays: dict[str, Any] = {}
        for key in keys:
            try:
                arrays[key] = npz[key]
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
                raise _err(path, key, f"truncated or corrupt member ({_one_line(e)})") from None
    scale = arrays.pop("scale", None)
    layout = arrays.pop("layout", None)
    if layout is not None:
        layout = layout.item()
        layout = layout.decode("ascii", "replace") if isinstance(layout, bytes) else str(layout)
        if layout not in LAYOUTS:
            raise _err(path, "layout", f"unknown layout {layout!r} (known: {', '.join(LAYOUTS)})")
    return _build(path, name or path.stem, arrays, scale=scale, layout=layout, labels=labels,
                  floats=False, seed=seed, test_fraction=test_fraction, limit_train=limit_train,
                  limit_test=limit_test)


# ---------------------------------------------------------------- image folders


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _class_folders(base: Path) -> list[Path]:
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def decode_images(files: list[tuple[Path, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Decode images of one size and kind (grayscale ``L`` -> 1 channel, else RGB) into ``(N, C, H, W)`` uint8.

    ``files`` are ``(path, label)`` pairs; returns the images and the labels (int64).
    """
    first: tuple[Path, tuple[int, int], bool] | None = None
    x: np.ndarray | None = None
    for i, (path, _) in enumerate(files):
        img = open_image(path)
        gray = img.mode in _GRAY_MODES
        if first is None:
            first = (path, img.size, gray)
            channels = 1 if gray else 3
            nbytes = len(files) * channels * img.size[0] * img.size[1]
            if nbytes > MAX_BYTES:
                raise DataError(f"{path}: {len(files)} images of {img.size[0]}x{img.size[1]}x{channels} are "
                                f"{nbytes} bytes, over the {MAX_BYTES >> 30} GiB limit")
            x = np.empty((len(files), channels, img.size[1], img.size[0]), np.uint8)
        elif img.size != first[1]:
            raise DataError(f"{path}: {img.size[0]}x{img.size[1]} image, expected {first[1][0]}x{first[1][1]} "
                            f"like {first[0]}")
        elif gray != first[2]:
            kinds = ("colour", "grayscale")
            raise DataError(f"{path}: {kinds[gray]} image (mode {img.mode}), expected {kinds[first[2]]} "
                            f"like {first[0]}")
        x[i] = image_array(img)
    assert x is not None
    return x, np.array([label for _, label in files], dtype=np.int64)


def open_image(path: Path) -> Any:
    """The decoded PIL image of ``path``; an unreadable file or a mode other than 8-bit raises :class:`DataError`."""
    img = _open_image(None, path)
    if img.mode in _UNSUPPORTED_MODES:
        raise DataError(f"{path}: {img.mode} image: expected 8-bit grayscale or colour (convert to L or RGB)")
    return img


def image_array(img: Any) -> np.ndarray:
    """A decoded PIL image as ``(C, H, W)`` uint8: grayscale (mode ``L``) 1 channel, any other mode RGB."""
    if img.mode in _GRAY_MODES:
        return np.asarray(img, dtype=np.uint8)[None]
    return np.asarray(img.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)


@dataclass(frozen=True)
class FolderItems:
    """The image files of a folder data set with their labels, split and subset as :func:`load_folder` takes them."""

    train: list[tuple[Path, int]]
    test: list[tuple[Path, int]]
    classes: tuple[str, ...]
    note: str = ""


def folder_items(root: str | Path, *, seed: int = 0, test_fraction: float = 0.2, limit_train: int | None = None,
                 limit_test: int | None = None) -> FolderItems:
    """The files :func:`load_folder` reads (same classes, split and subsets), without decoding any image."""
    root = Path(root)
    _check_fraction(root, test_fraction)
    _check_limit(root, "limit_train", limit_train)
    _check_limit(root, "limit_test", limit_test)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    base = root / "train"
    if not base.is_dir():
        raise DataError(f"{root}: no train/ folder (expected train/<class>/* images)")
    folders = _class_folders(base)
    if not folders:
        raise DataError(f"{base}: no class folders (expected {base}/<class>/* images)")
    classes = tuple(p.name for p in folders)
    train: list[tuple[Path, int]] = []
    for label, folder in enumerate(folders):
        found = _image_files(folder)
        if not found:
            raise DataError(f"{folder}: no images")
        train += [(p, label) for p in found]
    test: list[tuple[Path, int]] = []
    note = ""
    if (root / "test").is_dir():
        for folder in _class_folders(root / "test"):
            if folder.name not in classes:
                raise DataError(f"{folder}: class {folder.name!r} not in {base} (classes: {', '.join(classes)})")
            test += [(p, classes.index(folder.name)) for p in _image_files(folder)]
        if not test:
            raise DataError(f"{root / 'test'}: no images")
    else:
        if len(train) < 2:
            raise DataError(f"{base}: 1 image: too few for a hold-out split (add a test/ folder)")
        tr, te = holdout_split(len(train), test_fraction, seed)
        train, test = [train[i] for i in tr], [train[i] for i in te]
        note = _split_note(root, test_fraction, seed, len(train), len(test))
    train = [train[i] for i in subset(len(train), limit_train, seed)]
    test = [test[i] for i in subset(len(test), limit_test, seed)]
    return FolderItems(train, test, classes, note)


def load_folder(root: str | Path, *, seed: int = 0, test_fraction: float = 0.2, limit_train: int | None = None,
                limit_test: int | None = None, name: str | None = None) -> DataSet:
    """A :class:`DataSet` from an image folder: ``root/train/<class>/*`` and optionally ``root/test/<class>/*``.

    Classes are the sorted names of the class folders under ``train`` (label = position); ``test`` may
    lack classes but may not add one. Every non-hidden file directly in a class folder is an image read
    with PIL; all images (train and test) must have one size and be all grayscale (mode ``L``: 1 channel)
    or all colour (any other 8-bit mode, converted to RGB: 3 channels). Inputs are uint8, scale 1/255.
    Without ``test`` a seeded hold-out split (``test_fraction``, ``seed``) is made and described in
    ``note``. ``limit_train``/``limit_test`` keep a seeded random subset (in file order) before decoding.
    Hidden files and folders (name starting with ``.``) are ignored. Errors name the file or folder.
    """
    root = Path(root)
    items = folder_items(root, seed=seed, test_fraction=test_fraction, limit_train=limit_train,
                         limit_test=limit_test)
    x, y = decode_images(items.train + items.test)
    n = len(items.train)
    return DataSet(x[:n], y[:n], x[n:], y[n:], 1.0 / 255.0, False, name or root.name, len(items.classes),
                   items.note, items.classes)


# ---------------------------------------------------------------- from Python


def from_arrays(x: Any, y: Any = None, x_test: Any = None, y_test: Any = None, *, scale: float | None = None,
                layout: str | None = None, labels: bool = True, name: str = "arrays", seed: int = 0,
                test_fraction: float = 0.2) -> DataSet:
    """A :class:`DataSet` from in-memory arrays, validated like :func:`load_npz` (errors name ``name``).

    ``x`` is uint8 or int8 (``scale`` defaults to 1/255 or 1/128) or float: then ``scale`` is required and
    the inputs are quantized as ``floor(x / scale + 0.5)`` (round half up), clipped to int8 (-128..127)
    if any value of ``x`` or ``x_test`` is negative, else to uint8 (0..255); ``note`` says how many
    values were clipped. Shapes, layout, labels (``labels=False``: no ``y`` needed, ``classes`` 0) and
    the hold-out split without ``x_test`` follow :func:`load_npz`. Anything with ``__array__`` (CPU
    tensors included) is accepted; the arrays may share memory with the inputs.
    """
    arrays = {k: (np.asarray(v) if v is not None else None)
              for k, v in (("x", x), ("y", y), ("x_test", x_test), ("y_test", y_test))}
    return _build(name, name, arrays, scale=scale, layout=layout, labels=labels, floats=True, seed=seed,
                  test_fraction=test_fraction)


def _torch_items(dataset: Iterable[Any], where: str, labels: bool) -> tuple[np.ndarray, np.ndarray | None]:
    import torch

    def to_numpy(v: Any, what: str) -> np.ndarray:
        if isinstance(v, torch.Tensor):
            return v.detach().cpu().numpy()
        if isinstance(v, np.ndarray | int | float | np.number):
            return np.asarray(v)
        hint = " (add transforms.PILToTensor())" if type(v).__module__.startswith("PIL") else ""
        raise DataError(f"{where}: {what}: expected a tensor or array, got {type(v).__name__}{hint}")

    xs: list[np.ndarray] = []
    ys: list[int] = []
    for i, item in enumerate(dataset):
        pair = isinstance(item, tuple | list)
        if labels and not (pair and len(item) >= 2):
            raise DataError(f"{where}: item {i}: expected an (input, label) pair, got {type(item).__name__}")
        xi = to_numpy(item[0] if pair else item, f"item {i} input")
        if xs and (xi.shape != xs[0].shape or xi.dtype != xs[0].dtype):
            raise DataError(f"{where}: item {i} input: {xi.dtype} {tuple(xi.shape)}, item 0 is "
                            f"{xs[0].dtype} {tuple(xs[0].shape)}")
        xs.append(xi)
        if labels:
            yi = to_numpy(item[1], f"item {i} label")
            if yi.size != 1 or yi.dtype.kind not in "iu":
                raise DataError(f"{where}: item {i} label: expected one integer class label, got "
                                f"{yi.dtype} {tuple(yi.shape)}")
            ys.append(int(yi.reshape(())))
    if not xs:
        raise DataError(f"{where}: x: empty (no items)")
    return np.stack(xs), (np.array(ys, dtype=np.int64) if labels else None)


def from_torch(train_dataset: Iterable[Any], test_dataset: Iterable[Any] | None = None, *,
               scale: float | None = None, layout: str | None = None, labels: bool = True, name: str = "torch",
               seed: int = 0, test_fraction: float = 0.2) -> DataSet:
    """A :class:`DataSet` from ``torch.utils.data.Dataset`` objects of ``(tensor, int label)`` items.

    Each data set is iterated once; items must share one shape and dtype. Integer tensors must be uint8
    or int8, float tensors are quantized as in :func:`from_arrays` (e.g. torchvision's ``ToTensor()``
    images with ``scale=1/255`` give back the exact uint8 pixels). Inputs are ``(C, H, W)``, ``(H, W)``
    or ``(F,)`` per item. With ``labels=False`` items may be bare tensors and labels are ignored. Without
    ``test_dataset`` a seeded hold-out split is made, as in :func:`load_npz`.
    """
    x, y = _torch_items(train_dataset, f"{name} (train)", labels)
    x_test = y_test = None
    if test_dataset is not None:
        x_test, y_test = _torch_items(test_dataset, f"{name} (test)", labels)
    return _build(name, name, {"x": x, "y": y, "x_test": x_test, "y_test": y_test}, scale=scale, layout=layout,
                  labels=labels, floats=True, seed=seed, test_fraction=test_fraction)


# ---------------------------------------------------------------- by name


def _needs_dir(name: str, data_dir: str | Path | None, what: str) -> Path:
    if data_dir is None:
        raise DataError(f"data set {name!r} needs --data-dir ({what})")
    return Path(data_dir)


def _first(x: np.ndarray, y: np.ndarray, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    return (x[:limit], y[:limit]) if limit else (x, y)


def load_data(name: str, data_dir: str | Path | None = None, *, limit_train: int | None = None,
              limit_test: int | None = None, seed: int = 0, test_fraction: float = 0.2,
              labels: bool = True) -> DataSet:
    """The named data set (one of :data:`DATASETS`) as a :class:`DataSet`.

    ``data_dir`` is the idx folder (``mnist``, ``fashion-mnist``), the JPEG folder or ``.tar.gz``
    (``cifar10``), the ``.npz`` file (``npz``) or the image folder (``folder``); ``digits`` needs none.
    ``seed`` and ``test_fraction`` set the hold-out split of ``digits`` and of files without a test set.
    Limits: ``digits`` and the idx sets keep the first N samples (their files are already shuffled);
    ``cifar10``, ``npz`` and ``folder`` keep a seeded (``seed``) random subset in file order.
    ``labels=False`` (``npz`` only) loads a reconstruction data set, see :func:`load_npz`.
    """
    _check_limit(name, "limit_train", limit_train)
    _check_limit(name, "limit_test", limit_test)
    if not labels and name != "npz":
        raise DataError(f"data set {name!r} has labels; labels=False applies to 'npz' only")
    if name == "digits":
        _check_fraction(name, test_fraction)
        x, y = _digits_arrays()
        train, test = _digits_order(len(y), test_fraction, seed)
        note = (f"scikit-learn digits: seeded {100 * test_fraction:g} % hold-out split (seed {seed}), "
                f"{len(test)} test / {len(train)} train")
        return DataSet(*_first(x[train], y[train], limit_train), *_first(x[test], y[test], limit_test),
                       1.0 / 255.0, False, name, _classes_of(y), note)
    if name in ("mnist", "fashion-mnist"):
        root = _needs_dir(name, data_dir, "the folder with its idx .gz files")
        x, y = load_idx_dataset(root, "train")
        xt, yt = load_idx_dataset(root, "test")
        return DataSet(*_first(x, y, limit_train), *_first(xt, yt, limit_test), 1.0 / 255.0, False, name,
                       _classes_of(y, yt))
    if name == "cifar10":
        root = _needs_dir(name, data_dir, "folder or .tar.gz of JPEGs")
        items = _cifar_items(root, ("train", "test"))
        return DataSet(*_decode_cifar_items(items["train"], limit_train, seed),
                       *_decode_cifar_items(items["test"], limit_test, seed), 1.0 / 255.0, False, name,
                       len(CIFAR_CLASSES), class_names=CIFAR_CLASSES)
    if name == "npz":
        path = _needs_dir(name, data_dir, "the .npz file")
        return load_npz(path, labels=labels, seed=seed, test_fraction=test_fraction, limit_train=limit_train,
                        limit_test=limit_test)
    if name == "folder":
        root = _needs_dir(name, data_dir, "the folder with train/<class>/* images")
        return load_folder(root, seed=seed, test_fraction=test_fraction, limit_train=limit_train,
                           limit_test=limit_test)
    raise DataError(f"unknown data set {name!r} (known: {', '.join(DATASETS)})")


def load_split(name: str, split: str = "test", data_dir: str | Path | None = None, limit: int | None = None,
               *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of one split of a named data set (loads only that split where the source allows).

    The same samples as ``load_data(name, data_dir, limit_<split>=limit, seed=seed).split(split)``; a
    ``limit`` of 0 or None means all.
    """
    if split not in ("train", "test"):
        raise DataError(f"{name}: unknown split {split!r} (known: train, test)")
    limit = limit or None
    _check_limit(name, "limit", limit)
    if name == "digits":
        return _first(*load_digits(split, seed=seed), limit)
    if name in ("mnist", "fashion-mnist"):
        return _first(*load_idx_dataset(_needs_dir(name, data_dir, "the folder with its idx .gz files"), split),
                      limit)
    if name == "cifar10":
        root = _needs_dir(name, data_dir, "folder or .tar.gz of JPEGs")
        return _decode_cifar_items(_cifar_items(root, (split,))[split], limit, seed)
    return load_data(name, data_dir, seed=seed, **{f"limit_{split}": limit}).split(split)


def load_dataset(name: str, split: str = "test", data_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of a named data set's split; all but ``digits`` need ``data_dir``."""
    return load_split(name, split, data_dir)
