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
import struct
import tempfile
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BankError
from ..files import brief, file_mode, strict_json
from ..fixedpoint import MAX_TERM_SHIFT
from ..graph import INPUT, GraphError, Node, infer_shapes, weight_shape
from ..intmath import INT64_SAFE, MAX_SHIFT, weight_limit
from ..ops import OPS
from ..reconstruct import WeightFormat, reconstruct
from ..wavelet import COMPONENTS, padded_shape
from .model import FORMAT, READABLE_VERSIONS, VERSION, Bank, LayerWeights, Requant

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")  # \Z: a trailing newline is no name
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_LAYER_KEYS = {"name", "op", "inputs", "out_shape", "weights", "requant"}  # plus the op's own fields


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
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The file gets the mode a plain ``open`` would give it (0666 less the umask); the temporary file
    is removed on any exception, KeyboardInterrupt (and the CLI's SIGTERM) included.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), file_mode())  # mkstemp makes 0600; the file gets what open() would give it
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------- reading

MAX_LAYERS = 1024
MAX_TENSOR_ELEMENTS = 1 << 26  # any activation tensor of the graph
MAX_WEIGHTS = 1 << 26  # all weighted layers together (ResNet-50 has 2**24.6)
_MAX_HEADER_BYTES = 8 << 20
_MAX_JSON_DEPTH = 32
_MAX_NAME_LENGTH = 128
_NPY_HEADER_MAX = 4096  # magic, header length and the header dict, generously (numpy writes 128 bytes)
_CHUNK = 1 << 20
_HEADER_MEMBER = "header.json"
_ARRAY_MEMBER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*/(?:LL|LH|HL|HH|w[1-8]|rq[1-8]/(?:mul|bias))\.npy")
# the writer's members per layer: 4 components and a bank per width, or mul and bias per width
_MAX_MEMBERS = 1 + MAX_LAYERS * (len(COMPONENTS) + 8 + 2 * 8)
# what a corrupted zip can make zipfile or zlib raise, besides BadZipFile
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError, struct.error,
               NotImplementedError, RuntimeError, OverflowError, UnicodeDecodeError)


def read_bank(path: str | Path, verify: bool = True) -> Bank:
    """Load and validate a bank. ``verify`` also re-runs reconstruction against every bank.

    Any content at all either gives a Bank or raises ``BankError`` naming the file and the first
    bad member or field. Nothing is allocated on a size that the file only declares: every member
    is decompressed once, in chunks, and refused as soon as it exceeds what the header implies.
    """
    path = Path(path)
    if not path.exists():
        raise BankError(path, "file", "no such file")
    if path.is_dir():
        raise BankError(path, "file", "is a folder, not a bank file")
    if not path.is_file():
        raise BankError(path, "file", "not a regular file")
    try:
        fh = open(path, "rb")  # noqa: SIM115 (closed below; the zip reads it through _BoundedFile)
    except OSError as e:
        raise BankError(path, "file", f"cannot open ({e.strerror or e})") from None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        entries = _declared_entries(fh, size)
        if entries is not None and entries > _MAX_MEMBERS:
            raise BankError(path, "file", f"{entries} members (a bank has at most {_MAX_MEMBERS})")
        try:
            zf = zipfile.ZipFile(_BoundedFile(fh, size))
        except _ZIP_ERRORS as e:
            raise BankError(path, "file", f"not a readable bank (truncated or corrupted zip: {_why(e)})") from None
        with zf:
            members = _check_members(path, zf)
            header = _read_header(path, zf, members.pop(_HEADER_MEMBER))
            arrays = ZipArrays(path, zf, members)
            bank = parse_bank(header, arrays, path, verify=verify)
            arrays.check_all_read()
    return bank


def _why(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _declared_entries(fh: io.BufferedReader, size: int) -> int | None:
    """The member count in the zip's end record (None where there is none), read before zipfile parses
    the central directory: that takes time in proportion to the count, which the file may inflate."""
    tail = min(size, 22 + 0xFFFF)
    fh.seek(size - tail)
    data = fh.read(tail)
    at = data.rfind(b"PK\x05\x06")
    if at < 0 or len(data) - at < 22:
        return None
    return struct.unpack_from("<H", data, at + 10)[0]


class _BoundedFile:
    """A binary file whose ``read(n)`` never asks for more than the file holds.

    zipfile passes sizes from the archive's own records to ``read``; Python's buffered reader
    allocates the requested size before it reads, so a record declaring terabytes would allocate them.
    """

    def __init__(self, f: io.BufferedReader, size: int) -> None:
        self.f, self.size = f, size

    def read(self, n: int | None = -1) -> bytes:
        left = max(self.size - self.f.tell(), 0)
        return self.f.read(left if n is None or n < 0 or n > left else n)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.f.seek(offset, whence)

    def tell(self) -> int:
        return self.f.tell()

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        """The caller closes the underlying file."""


def _check_members(path: Path, zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The zip's members by name, each a plain, unencrypted, stored or deflated file with a known name."""
    infos = zf.infolist()
    if len(infos) > _MAX_MEMBERS:
        raise BankError(path, "file", f"{len(infos)} members (a bank has at most {_MAX_MEMBERS})")
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        if name in members:
            raise BankError(path, _shown(name), "duplicate member")
        if info.flag_bits & 0x1:
            raise BankError(path, _shown(name), "encrypted member (a bank is never encrypted)")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise BankError(path, _shown(name), f"unsupported compression method {info.compress_type} "
                                                "(a bank is stored or deflated)")
        if info.extract_version > zipfile.MAX_EXTRACT_VERSION:
            raise BankError(path, _shown(name), f"needs zip version {info.extract_version / 10:.1f} "
                                                f"(this reader supports {zipfile.MAX_EXTRACT_VERSION / 10:.1f})")
        if name != _HEADER_MEMBER and not _ARRAY_MEMBER.fullmatch(name):
            raise BankError(path, _shown(name), "unexpected member (a bank holds header.json and "
                                                "<layer>/<array>.npy members only)")
        members[name] = info
    if _HEADER_MEMBER not in members:
        raise BankError(path, _HEADER_MEMBER, "missing: not a wavebits bank")
    return members


def _shown(name: str) -> str:
    """A member name fit for a one-line message."""
    return name if name.isprintable() and len(name) <= 200 else repr(name[:200])


def _read_member(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """All of a member, decompressed once in chunks; refused beyond ``limit`` bytes (declared or produced)."""
    if info.file_size > limit:
        raise BankError(path, _shown(info.filename), f"declares {info.file_size} bytes uncompressed, "
                                                     f"more than the {limit} it may hold")
    try:
        with zf.open(info) as f:
            data = bytearray()
            while chunk := f.read(min(_CHUNK, limit + 1 - len(data))):
                data += chunk
                if len(data) > limit:
                    raise BankError(path, _shown(info.filename), f"more than {limit} bytes uncompressed")
    except _ZIP_ERRORS as e:
        raise BankError(path, _shown(info.filename), f"corrupted member ({_why(e)})") from None
    return bytes(data)


def _read_header(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Any:
    raw = _read_member(path, zf, info, _MAX_HEADER_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BankError(path, _HEADER_MEMBER, f"not UTF-8 ({e.reason} at byte {e.start})") from None
    try:
        header = strict_json(text)
    except json.JSONDecodeError as e:
        raise BankError(path, _HEADER_MEMBER, f"not valid JSON ({e})") from None
    except RecursionError:
        raise BankError(path, _HEADER_MEMBER, f"nested deeper than {_MAX_JSON_DEPTH} levels") from None
    except ValueError as e:  # a key seen twice, a NaN, a number too long to convert
        raise BankError(path, _HEADER_MEMBER, f"not valid JSON ({e})") from None
    if _json_depth(header) > _MAX_JSON_DEPTH:
        raise BankError(path, _HEADER_MEMBER, f"nested deeper than {_MAX_JSON_DEPTH} levels")
    return header


def _json_depth(obj: Any) -> int:
    depth, level = 0, [(obj, 1)]
    while level:
        o, d = level.pop()
        depth = max(depth, d)
        children = o.values() if isinstance(o, dict) else o if isinstance(o, list) else ()
        level.extend((c, d + 1) for c in children if isinstance(c, (dict, list)))
    return depth


class ZipArrays:
    """The ``.npy`` members of an open bank, read one at a time and only as the header requires.

    ``array(name, dtype, shape)`` checks the member's own npy header against the expected dtype and
    shape before it reads any data, then reads exactly the declared data bytes and no more.
    """

    def __init__(self, path: Path, zf: zipfile.ZipFile, members: Mapping[str, zipfile.ZipInfo]) -> None:
        self.path, self.zf, self.members = path, zf, dict(members)
        self.read: set[str] = set()

    def array(self, name: str, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
        """The array ``name`` (member ``<name>.npy``), which must have exactly ``dtype`` and ``shape``."""
        member = f"{name}.npy"
        info = self.members.get(member)
        if info is None:
            raise BankError(self.path, name, "array missing")
        if member in self.read:
            raise BankError(self.path, name, "read twice (a bank lists each array once)")
        self.read.add(member)
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        limit = _NPY_HEADER_MAX + nbytes
        if info.file_size > limit:
            raise BankError(self.path, member, f"declares {info.file_size} bytes uncompressed, more than an "
                                               f"array of shape {tuple(shape)} needs")
        try:
            with self.zf.open(info) as raw:
                f = _Capped(raw, limit)
                got_dtype, got_shape = self._npy_header(member, f)
                if got_dtype != dtype:
                    raise BankError(self.path, name, f"expected dtype {dtype.name}, got {_dtype_name(got_dtype)}")
                if got_shape != tuple(shape):
                    raise BankError(self.path, name, f"expected shape {tuple(shape)}, got {got_shape}")
                data = bytearray()
                while len(data) < nbytes and (chunk := f.read(min(_CHUNK, nbytes - len(data)))):
                    data += chunk
                if len(data) < nbytes:
                    raise BankError(self.path, member, f"truncated: {len(data)} of {nbytes} data bytes")
                if f.read(1):
                    raise BankError(self.path, member, f"data beyond the {nbytes} bytes its header declares")
        except _ZIP_ERRORS as e:
            raise BankError(self.path, member, f"corrupted member ({_why(e)})") from None
        return np.frombuffer(data, dtype=dtype).reshape(shape)

    def _npy_header(self, member: str, f: _Capped) -> tuple[np.dtype, tuple[int, ...]]:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=_NPY_HEADER_MAX)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=_NPY_HEADER_MAX)
            else:
                raise BankError(self.path, member, f"npy format version {version} (a bank uses 1.0 or 2.0)")
        except (ValueError, TypeError, SyntaxError, RecursionError, struct.error, tokenize.TokenError) as e:
            raise BankError(self.path, member, f"not a valid npy array header ({_why(e)})") from None
        if fortran is not False:
            raise BankError(self.path, member, "Fortran-ordered array (a bank stores C order)")
        if not all(type(n) is int for n in shape):
            raise BankError(self.path, member, f"shape {shape!r} is not a tuple of integers")
        return dtype, shape

    def check_all_read(self) -> None:
        """Every member was asked for: anything else is not part of this bank."""
        extra = sorted(set(self.members) - self.read)
        if extra:
            raise BankError(self.path, _shown(extra[0]), "unexpected member (not an array this header describes)")


def _dtype_name(dtype: np.dtype) -> str:
    return dtype.name if dtype.isnative or dtype.itemsize == 1 else dtype.str


class _Capped:
    """A read-only stream that raises once more than ``limit`` bytes have been read from it."""

    def __init__(self, f: Any, limit: int) -> None:
        self.f, self.left = f, limit

    def read(self, n: int = -1) -> bytes:
        want = self.left + 1 if n is None or n < 0 else min(n, self.left + 1)
        data = self.f.read(want)
        self.left -= len(data)
        if self.left < 0:
            raise ValueError("member larger than its array")
        return data


class _Fields:
    """Typed access to a JSON object that names the field on every failure.

    Every key read is remembered, so that ``finish`` can refuse the keys nobody asked for.
    """

    def __init__(self, path: Path | None, obj: Any, where: str) -> None:
        self.path, self.where = path, where
        if not isinstance(obj, dict):
            raise BankError(path, where or "header", f"expected an object, got {type(obj).__name__}")
        self.obj = obj
        self.used: set[str] = set()

    def fail(self, key: str, problem: str) -> BankError:
        field = f"{self.where}.{key}" if self.where else key
        return BankError(self.path, field, problem)

    def get(self, key: str) -> Any:
        if key not in self.obj:
            raise self.fail(key, "missing")
        self.used.add(key)
        return self.obj[key]

    def int(self, key: str, lo: int, hi: int) -> int:
        v = self.get(key)
        if type(v) is not int or not lo <= v <= hi:
            raise self.fail(key, f"expected an integer in {lo}..{hi}, got {brief(v)}")
        return v

    def str(self, key: str, check: Callable[[str], Any] = bool, what: str = "a string") -> str:
        v = self.get(key)
        if type(v) is not str or not check(v):
            raise self.fail(key, f"expected {what}, got {brief(v)}")
        return v

    def ints(self, key: str, length: int | None, lo: int, hi: int) -> tuple[int, ...]:
        v = self.get(key)
        ok = type(v) is list and all(type(x) is int and lo <= x <= hi for x in v)
        if not ok or (length is not None and len(v) != length) or (length is None and not v):
            n = f"{length} " if length is not None else ""
            raise self.fail(key, f"expected a list of {n}integers in {lo}..{hi}, got {brief(v)}")
        return tuple(v)

    def sub(self, key: str) -> _Fields:
        return _Fields(self.path, self.get(key), f"{self.where}.{key}" if self.where else key)

    def finish(self, *handled: str, what: str = "unknown field") -> None:
        """Refuse the first key that was neither read nor is in ``handled``."""
        extra = sorted(set(self.obj) - self.used - set(handled))
        if extra:
            raise self.fail(_shown(extra[0]), what)


def _array(
    path: Path | None, arrays: ZipArrays | Mapping[str, np.ndarray], name: str, dtype: Any, shape: tuple[int, ...]
) -> np.ndarray:
    """The array ``name`` with exactly ``dtype`` and ``shape``, from a bank being read or a plain mapping."""
    if isinstance(arrays, ZipArrays):
        return arrays.array(name, dtype, shape)
    if name not in arrays:
        raise BankError(path, name, "array missing")
    a = arrays[name]
    if not isinstance(a, np.ndarray):
        raise BankError(path, name, f"expected a numpy array, got {type(a).__name__}")
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
        raise f.fail("op", f"unsupported layer kind {brief(op)} (supported: {', '.join(OPS)})")
    kind = OPS[op]
    extra = sorted(set(f.obj) - _LAYER_KEYS - set(kind.fields))
    if extra:
        raise f.fail(_shown(extra[0]), f"unknown field for a {op} layer")
    kw: dict[str, Any] = {}
    for key in kind.fields:
        spec = FIELDS[key]
        if key not in f.obj and spec.default is not None:
            kw[key] = spec.default
        else:
            kw[key] = spec.read(f, key)
    inputs = f.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(s, str) for s in inputs):
        raise f.fail("inputs", f"expected a list of layer names, got {brief(inputs)}")
    return Node(name=f.str("name", _NAME.fullmatch, "an identifier"), op=op, inputs=tuple(inputs), **kw)


def parse_bank(
    header: Any, arrays: ZipArrays | Mapping[str, np.ndarray], path: Path | None = None, verify: bool = True
) -> Bank:
    """Build a Bank from its header and arrays, validating every field.

    ``arrays`` maps array names (``conv1/LL``) to numpy arrays, or is the ``ZipArrays`` of a bank
    being read, which reads each array only once the header has fixed its dtype and shape.
    """
    h = _Fields(path, header, "")
    fmt = h.get("format")
    if type(fmt) is not str or fmt != FORMAT:
        raise h.fail("format", f"expected {FORMAT!r}, got {brief(fmt)}: not a wavebits bank")
    version = h.get("version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        readable = ", ".join(str(v) for v in READABLE_VERSIONS)
        raise h.fail("version", f"unsupported schema version {brief(version)} (this wavebits reads {readable})")
    name = h.str("name", lambda s: s.isprintable() and 0 < len(s) <= _MAX_NAME_LENGTH,
                 f"a printable name of 1..{_MAX_NAME_LENGTH} characters")
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
            raise inp.fail("signed", f"expected true or false, got {brief(input_signed)}")
        input_scale = inp.get("scale")
        if isinstance(input_scale, bool) or not isinstance(input_scale, int | float) \
                or not (math.isfinite(input_scale) and input_scale > 0):
            raise inp.fail("scale", f"expected a positive number, got {brief(input_scale)}")
    inp.finish()
    classes = h.int("classes", 2, 1 << 20)
    meta = h.get("meta") if "meta" in h.obj else {}
    if not isinstance(meta, dict):
        raise h.fail("meta", "expected an object")

    raw_layers = h.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise h.fail("layers", "expected a non-empty list")
    if len(raw_layers) > MAX_LAYERS:
        raise h.fail("layers", f"{len(raw_layers)} layers (at most {MAX_LAYERS})")
    h.finish()
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
    _check_sizes(path, nodes, shapes)

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
        lf.finish("weights", "requant", what=f"unexpected for a {node.op} layer")
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
            if lname != INPUT and max(lb.acc_bound, lb.product_bound) >= INT64_SAFE:
                i = next(i for i, n in enumerate(nodes) if n.name == lname)
                raise BankError(path, f"layers[{i}] {lname!r}.requant[{b}]",
                                "accumulator x multiplier bound exceeds 62 bits (multiplier too large)")
    return bank


def _check_sizes(path: Path | None, nodes: list[Node], shapes: Mapping[str, tuple[int, ...]]) -> None:
    """Refuse graphs whose tensors or weights are too large to hold, before any array is read."""
    for i, n in enumerate([None, *nodes]):
        name = INPUT if n is None else n.name
        elements = math.prod(shapes[name])
        if elements > MAX_TENSOR_ELEMENTS:
            field = "input.shape" if n is None else f"layers[{i - 1}] {name!r}.out_shape"
            raise BankError(path, field, f"{elements} elements (at most {MAX_TENSOR_ELEMENTS} per tensor)")
    total = 0
    for i, n in enumerate(nodes):
        if n.weighted:
            total += math.prod(weight_shape(n, shapes[n.inputs[0]]))
            if total > MAX_WEIGHTS:
                raise BankError(path, f"layers[{i}] {n.name!r}.weights",
                                f"the bank would hold more than {MAX_WEIGHTS} weights")


def _parse_weights(
    f: _Fields, node: Node, in_shape: tuple[int, ...], widths: tuple[int, ...],
    arrays: ZipArrays | Mapping[str, np.ndarray], verify: bool,
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
    per_width = f.sub("widths")
    f.finish()
    rows, cols = padded_shape(shape[0], int(np.prod(shape[1:])))
    comps = {}
    for k in COMPONENTS:
        a = _array(path, arrays, f"{node.name}/{k}", np.int16, (rows // 2, cols // 2))
        problem = _first_outside(a, -fmt.comp_limit, fmt.comp_limit)
        if problem:
            raise BankError(path, f"{node.name}/{k}", f"{problem} ({fmt.comp_bits}-bit components)")
        comps[k] = a
    scales, shifts, banks = {}, {}, {}
    for b in widths:
        wf = per_width.sub(str(b))
        shifts[b] = wf.int("shift", 0, MAX_SHIFT)
        sf = wf.sub("scales")
        scales[b] = {}
        for k in COMPONENTS:
            terms = sf.get(k)
            ok = type(terms) is list and len(terms) <= fmt.max_terms and all(
                type(t) is list and len(t) == 2 and type(t[0]) is int and t[0] in (-1, 1)
                and type(t[1]) is int and 0 <= t[1] <= MAX_TERM_SHIFT
                for t in terms
            )
            if not ok:
                raise sf.fail(k, f"expected at most {fmt.max_terms} [sign (+1/-1), shift (0..{MAX_TERM_SHIFT})] "
                              f"terms, got {brief(terms)}")
            scales[b][k] = tuple((int(s), int(e)) for s, e in terms)
        sf.finish()
        wf.finish()
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
    per_width.finish(what="not a width of this bank")
    return LayerWeights(fmt=fmt, components=comps, scales=scales, shift=shifts, banks=banks)


def _parse_requant(
    f: _Fields, node: Node, channels: int, widths: tuple[int, ...], arrays: ZipArrays | Mapping[str, np.ndarray]
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
            problem = _first_outside(a, -(INT64_SAFE - 1), INT64_SAFE - 1)
            if problem:
                raise BankError(f.path, name, problem)
        rf.finish()
        out[b] = Requant(mul=mul, bias=bias, shift=shift)
    f.finish(what="not a width of this bank")
    return out
