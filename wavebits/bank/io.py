"""Read and write ``.wbank`` files: a zip of ``header.json`` and ``.npy`` arrays, no pickle.

Writing is deterministic (fixed member order and timestamps, so one bank gives one byte string)
and atomic (a temporary file in the destination folder, renamed into place). Reading validates
every field and raises ``BankError`` naming the file and the first bad field. The writer runs the
same validation before it writes anything, so an invalid bank never reaches the disk.

Layout::

    header.json                 schema below (``format``, ``version``, graph, formats, scalars);
                                each layer entry holds the fields its op declares (``wavebits.ops``)
    <layer>/LL ... <layer>/HH   int16 wavelet components, (padded rows / 2, padded cols / 2)
    <layer>/w<b>                int8 weights at width b (the banks proper)
    <layer>/rq<b>/mul           int64 requant multipliers, (C,) or (2, C) for add
    <layer>/rq<b>/bias          int64 requant biases, (C,)
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BankError
from ..fixedpoint import MAX_TERM_SHIFT
from ..graph import INPUT, GraphError, Node, infer_shapes, weight_shape
from ..intmath import MAX_SHIFT, weight_limit
from ..ops import OPS
from ..reconstruct import WeightFormat, reconstruct
from ..wavelet import COMPONENTS, padded_shape
from .model import FORMAT, READABLE_VERSIONS, VERSION, Bank, LayerWeights, Requant

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_LAYER_KEYS = {"name", "op", "inputs", "out_shape", "weights", "requant"}  # plus the op's own fields
_INT64_SAFE = 1 << 62


# ----------------------------------------------------------------------------- writing


def to_members(bank: Bank) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and arrays that represent ``bank`` on disk."""
    layers = []
    arrays: dict[str, np.ndarray] = {}
    for n in bank.nodes:
        entry: dict[str, Any] = {"name": n.name, "op": n.op, "inputs": list(n.inputs)}
        for key in n.kind.fields:
            entry[key] = FIELDS[key].emit(getattr(n, key))
        entry["out_shape"] = list(bank.shapes[n.name])
        if n.name in bank.weights:
            lw = bank.weights[n.name]
            entry["weights"] = {
                "shape": list(bank.weight_shape(n.name)),
                "comp_bits": lw.fmt.comp_bits,
                "comp_frac_bits": lw.fmt.comp_frac_bits,
                "scale_frac_bits": lw.fmt.scale_frac_bits,
                "max_terms": lw.fmt.max_terms,
                "widths": {
                    str(b): {
                        "shift": int(lw.shift[b]),
                        "scales": {k: [list(t) for t in lw.scales[b][k]] for k in COMPONENTS},
                    }
                    for b in bank.widths
                },
            }
            for k in COMPONENTS:
                arrays[f"{n.name}/{k}"] = lw.components[k]
            for b in bank.widths:
                arrays[f"{n.name}/w{b}"] = lw.banks[b]
        if n.name in bank.requant:
            entry["requant"] = {str(b): {"shift": int(bank.requant[n.name][b].shift)} for b in bank.widths}
            for b in bank.widths:
                arrays[f"{n.name}/rq{b}/mul"] = bank.requant[n.name][b].mul
                arrays[f"{n.name}/rq{b}/bias"] = bank.requant[n.name][b].bias
        layers.append(entry)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "name": bank.name,
        "widths": list(bank.widths),
        "input": {"shape": list(bank.input_shape), "bits": bank.input_bits, "signed": bank.input_signed,
                  "scale": bank.input_scale},
        "classes": bank.classes,
        "meta": bank.meta,
        "layers": layers,
    }
    return header, arrays


def write_bank(bank: Bank, path: str | Path) -> Path:
    """Validate ``bank`` and write it atomically to ``path``; returns the path."""
    path = Path(path)
    header, arrays = to_members(bank)
    parse_bank(header, arrays, path)  # the reader's checks, before anything touches the disk
    payload = _zip_bytes(header, arrays)
    atomic_write_bytes(path, payload)
    return path


def _zip_bytes(header: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        def put(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)

        put("header.json", json.dumps(header, indent=1, sort_keys=True).encode())
        for name in sorted(arrays):
            arr_buf = io.BytesIO()
            np.lib.format.write_array(arr_buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            put(f"{name}.npy", arr_buf.getvalue())
    return buf.getvalue()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------- reading


def read_bank(path: str | Path, verify: bool = True) -> Bank:
    """Load and validate a bank. ``verify`` also re-runs reconstruction against every bank."""
    path = Path(path)
    if not path.is_file():
        raise BankError(path, "file", "no such file")
    try:
        with zipfile.ZipFile(path) as zf:
            try:
                bad = zf.testzip()
            except zlib.error as e:
                raise BankError(path, "file", f"corrupted compressed data ({e})") from None
            if bad is not None:
                raise BankError(path, bad, "corrupted member (CRC mismatch)")
            names = set(zf.namelist())
            if "header.json" not in names:
                raise BankError(path, "header.json", "missing: not a wavebits bank")
            try:
                header = json.loads(zf.read("header.json").decode())
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise BankError(path, "header.json", f"not valid JSON ({e})") from None
            arrays = {}
            for name in sorted(names - {"header.json"}):
                if not name.endswith(".npy"):
                    raise BankError(path, name, "unexpected member (only .npy arrays and header.json)")
                try:
                    with zf.open(name) as f:
                        arrays[name[:-4]] = np.lib.format.read_array(
                            io.BytesIO(f.read()), allow_pickle=False
                        )
                except ValueError as e:
                    raise BankError(path, name, f"unreadable array ({e})") from None
    except (zipfile.BadZipFile, EOFError, OSError, zipfile.LargeZipFile) as e:
        raise BankError(path, "file", f"not a readable bank (truncated or corrupted zip: {e})") from None
    return parse_bank(header, arrays, path, verify=verify)


class _Fields:
    """Typed access to a JSON object that names the field on every failure."""

    def __init__(self, path: Path | None, obj: Any, where: str) -> None:
        self.path, self.where = path, where
        if not isinstance(obj, dict):
            raise BankError(path, where or "header", f"expected an object, got {type(obj).__name__}")
        self.obj = obj

    def fail(self, key: str, problem: str) -> BankError:
        field = f"{self.where}.{key}" if self.where else key
        return BankError(self.path, field, problem)

    def get(self, key: str) -> Any:
        if key not in self.obj:
            raise self.fail(key, "missing")
        return self.obj[key]

    def int(self, key: str, lo: int, hi: int) -> int:
        v = self.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise self.fail(key, f"expected an integer in {lo}..{hi}, got {v!r}")
        return v

    def str(self, key: str, check: Callable[[str], bool] = bool, what: str = "a string") -> str:
        v = self.get(key)
        if not isinstance(v, str) or not check(v):
            raise self.fail(key, f"expected {what}, got {v!r}")
        return v

    def ints(self, key: str, length: int | None, lo: int, hi: int) -> tuple[int, ...]:
        v = self.get(key)
        ok = isinstance(v, list) and all(
            isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi for x in v
        )
        if not ok or (length is not None and len(v) != length) or (length is None and not v):
            n = f"{length} " if length is not None else ""
            raise self.fail(key, f"expected a list of {n}integers in {lo}..{hi}, got {v!r}")
        return tuple(v)

    def sub(self, key: str) -> _Fields:
        return _Fields(self.path, self.get(key), f"{self.where}.{key}" if self.where else key)


def _array(
    path: Path | None, arrays: Mapping[str, np.ndarray], name: str, dtype: Any, shape: tuple[int, ...]
) -> np.ndarray:
    if name not in arrays:
        raise BankError(path, name, "array missing")
    a = arrays[name]
    if a.dtype != np.dtype(dtype):
        raise BankError(path, name, f"expected dtype {np.dtype(dtype).name}, got {a.dtype.name}")
    if a.shape != tuple(shape):
        raise BankError(path, name, f"expected shape {tuple(shape)}, got {a.shape}")
    return a


def _first_outside(a: np.ndarray, lo: int, hi: int) -> str | None:
    bad = np.argwhere((a < lo) | (a > hi))
    if len(bad) == 0:
        return None
    idx = tuple(int(i) for i in bad[0])
    return f"value {int(a[idx])} at index {idx} is outside {lo}..{hi}"


@dataclass(frozen=True)
class _Field:
    """How one ``Node`` attribute is read from and written to a layer entry."""

    read: Callable[[_Fields, str], Any]
    emit: Callable[[Any], Any] = lambda v: v
    default: Any = None  # a field a version-1 bank may omit


FIELDS: dict[str, _Field] = {
    "out_channels": _Field(lambda f, k: f.int(k, 1, 1 << 20)),
    "kernel": _Field(lambda f, k: f.ints(k, 2, 1, 64), list),
    "stride": _Field(lambda f, k: f.ints(k, 2, 1, 64), list),
    "padding": _Field(lambda f, k: f.ints(k, 2, 0, 64), list),
    "groups": _Field(lambda f, k: f.int(k, 1, 1 << 20), default=1),
    "act": _Field(lambda f, k: f.str(k, lambda s: s in ("relu", "none"), "'relu' or 'none'")),
}


def _parse_node(f: _Fields) -> Node:
    op = f.str("op")
    if op not in OPS:
        raise f.fail("op", f"unsupported layer kind {op!r} (supported: {', '.join(OPS)})")
    kind = OPS[op]
    extra = sorted(set(f.obj) - _LAYER_KEYS - set(kind.fields))
    if extra:
        raise f.fail(extra[0], f"unknown field for a {op} layer")
    kw: dict[str, Any] = {}
    for key in kind.fields:
        spec = FIELDS[key]
        if key not in f.obj and spec.default is not None:
            kw[key] = spec.default
        else:
            kw[key] = spec.read(f, key)
    inputs = f.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(s, str) for s in inputs):
        raise f.fail("inputs", f"expected a list of layer names, got {inputs!r}")
    return Node(name=f.str("name", _NAME.fullmatch, "an identifier"), op=op, inputs=tuple(inputs), **kw)


def parse_bank(
    header: Any, arrays: Mapping[str, np.ndarray], path: Path | None = None, verify: bool = True
) -> Bank:
    """Build a Bank from its header and arrays, validating every field."""
    h = _Fields(path, header, "")
    fmt = h.get("format")
    if fmt != FORMAT:
        raise h.fail("format", f"expected {FORMAT!r}, got {fmt!r}: not a wavebits bank")
    version = h.get("version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        readable = ", ".join(str(v) for v in READABLE_VERSIONS)
        raise h.fail("version", f"unsupported schema version {version!r} (this wavebits reads {readable})")
    name = h.str("name")
    widths = h.ints("widths", None, 1, 8)
    if len(set(widths)) != len(widths):
        raise h.fail("widths", f"duplicate widths in {list(widths)}")
    inp = h.sub("input")
    input_shape = inp.ints("shape", None, 1, 1 << 16)
    if len(input_shape) not in (1, 3):
        raise inp.fail("shape", f"expected (features,) or (C, H, W), got {list(input_shape)}")
    input_bits = inp.int("bits", 2, 16)
    input_signed, input_scale = False, 1.0 / 255.0  # version 1: uint8 images
    if version >= 2:
        input_signed = inp.get("signed")
        if not isinstance(input_signed, bool):
            raise inp.fail("signed", f"expected true or false, got {input_signed!r}")
        input_scale = inp.get("scale")
        if isinstance(input_scale, bool) or not isinstance(input_scale, int | float) \
                or not (math.isfinite(input_scale) and input_scale > 0):
            raise inp.fail("scale", f"expected a positive number, got {input_scale!r}")
    classes = h.int("classes", 2, 1 << 20)
    meta = h.get("meta") if "meta" in h.obj else {}
    if not isinstance(meta, dict):
        raise h.fail("meta", "expected an object")

    raw_layers = h.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise h.fail("layers", "expected a non-empty list")
    fields = []
    for i, raw in enumerate(raw_layers):
        lf = _Fields(path, raw, f"layers[{i}]")
        nm = raw.get("name") if isinstance(raw, dict) else None
        lf.where = f"layers[{i}] {nm!r}" if isinstance(nm, str) else lf.where
        fields.append(lf)
    nodes = [_parse_node(lf) for lf in fields]
    try:
        shapes = infer_shapes(nodes, input_shape)
    except GraphError as e:
        raise BankError(path, e.field, e.problem) from None
    if shapes[nodes[-1].name] != (classes,):
        raise h.fail("classes", f"the last layer gives shape {shapes[nodes[-1].name]}, not ({classes},)")

    weights: dict[str, LayerWeights] = {}
    requant: dict[str, dict[int, Requant]] = {}
    for node, lf in zip(nodes, fields, strict=True):
        out_shape = lf.ints("out_shape", None, 1, 1 << 30)
        if out_shape != shapes[node.name]:
            raise lf.fail("out_shape", f"shape mismatch: declared {list(out_shape)}, "
                                       f"inferred {list(shapes[node.name])}")
        for key, wanted in (("weights", node.weighted), ("requant", node.requantizes)):
            if wanted and key not in lf.obj:
                raise lf.fail(key, f"missing (a {node.op} layer needs it)")
            if not wanted and key in lf.obj:
                raise lf.fail(key, f"unexpected for a {node.op} layer")
        in_shape = shapes[node.inputs[0]]
        if node.weighted:
            weights[node.name] = _parse_weights(lf.sub("weights"), node, in_shape, widths, arrays, verify)
        if node.requantizes:
            channels = shapes[node.name][0]
            requant[node.name] = _parse_requant(lf.sub("requant"), node, channels, widths, arrays)

    bank = Bank(
        name=name, widths=tuple(widths), input_shape=tuple(input_shape), classes=classes,
        nodes=nodes, weights=weights, requant=requant, input_bits=input_bits, meta=meta,
        input_signed=input_signed, input_scale=float(input_scale),
    )
    for b in widths:
        for lname, lb in bank.bounds(b).items():
            if lname != INPUT and max(lb.acc_bound, lb.product_bound) >= _INT64_SAFE:
                i = next(i for i, n in enumerate(nodes) if n.name == lname)
                raise BankError(path, f"layers[{i}] {lname!r}.requant[{b}]",
                                "accumulator x multiplier bound exceeds 62 bits (multiplier too large)")
    return bank


def _parse_weights(
    f: _Fields, node: Node, in_shape: tuple[int, ...], widths: tuple[int, ...],
    arrays: Mapping[str, np.ndarray], verify: bool,
) -> LayerWeights:
    path = f.path
    shape = weight_shape(node, in_shape)
    declared = f.ints("shape", None, 1, 1 << 30)
    if declared != shape:
        raise f.fail("shape", f"shape mismatch: declared {list(declared)}, the graph needs {list(shape)}")
    fmt = WeightFormat(
        comp_bits=f.int("comp_bits", 2, 16),
        comp_frac_bits=f.int("comp_frac_bits", 0, 30),
        scale_frac_bits=f.int("scale_frac_bits", 0, 24),
        max_terms=f.int("max_terms", 1, 8),
    )
    rows, cols = padded_shape(shape[0], int(np.prod(shape[1:])))
    comps = {}
    for k in COMPONENTS:
        a = _array(path, arrays, f"{node.name}/{k}", np.int16, (rows // 2, cols // 2))
        problem = _first_outside(a, -fmt.comp_limit, fmt.comp_limit)
        if problem:
            raise BankError(path, f"{node.name}/{k}", f"{problem} ({fmt.comp_bits}-bit components)")
        comps[k] = a
    per_width = f.sub("widths")
    scales, shifts, banks = {}, {}, {}
    for b in widths:
        wf = per_width.sub(str(b))
        shifts[b] = wf.int("shift", 0, MAX_SHIFT)
        sf = wf.sub("scales")
        scales[b] = {}
        for k in COMPONENTS:
            terms = sf.get(k)
            ok = isinstance(terms, list) and len(terms) <= fmt.max_terms and all(
                isinstance(t, list) and len(t) == 2 and t[0] in (-1, 1) and not isinstance(t[0], bool)
                and isinstance(t[1], int) and not isinstance(t[1], bool) and 0 <= t[1] <= MAX_TERM_SHIFT
                for t in terms
            )
            if not ok:
                raise sf.fail(k, f"expected at most {fmt.max_terms} [sign (+1/-1), shift (0..{MAX_TERM_SHIFT})] "
                              f"terms, got {terms!r}")
            scales[b][k] = tuple((int(s), int(e)) for s, e in terms)
        name = f"{node.name}/w{b}"
        w = _array(path, arrays, name, np.int8, shape)
        if b == 1:
            bad = np.argwhere((w != 1) & (w != -1))
            idx = tuple(int(i) for i in bad[0]) if len(bad) else None
            problem = f"value {int(w[idx])} at index {idx} is not +1/-1" if idx else None
        else:
            problem = _first_outside(w, -weight_limit(b), weight_limit(b))
        if problem:
            raise BankError(path, name, problem)
        if verify:
            rec = reconstruct(comps, scales[b], shifts[b], b, shape)
            diff = np.argwhere(rec != w)
            if len(diff):
                idx = tuple(int(i) for i in diff[0])
                raise BankError(path, name, f"differs from the reconstruction of the components at index "
                                f"{idx}: stored {int(w[idx])}, reconstructed {int(rec[idx])}")
        banks[b] = w
    return LayerWeights(fmt=fmt, components=comps, scales=scales, shift=shifts, banks=banks)


def _parse_requant(
    f: _Fields, node: Node, channels: int, widths: tuple[int, ...], arrays: Mapping[str, np.ndarray]
) -> dict[int, Requant]:
    out = {}
    rows = node.kind.mul_rows
    mul_shape = (rows, channels) if rows > 1 else (channels,)
    for b in widths:
        rf = f.sub(str(b))
        shift = rf.int("shift", 0, MAX_SHIFT)
        mul = _array(f.path, arrays, f"{node.name}/rq{b}/mul", np.int64, mul_shape)
        bias = _array(f.path, arrays, f"{node.name}/rq{b}/bias", np.int64, (channels,))
        for name, a in ((f"{node.name}/rq{b}/mul", mul), (f"{node.name}/rq{b}/bias", bias)):
            problem = _first_outside(a, -(_INT64_SAFE - 1), _INT64_SAFE - 1)
            if problem:
                raise BankError(f.path, name, problem)
        out[b] = Requant(mul=mul, bias=bias, shift=shift)
    return out
