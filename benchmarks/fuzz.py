"""Fuzz every reader of user input: mutated banks, generated projects and data files.

Usage: python benchmarks/fuzz.py [--cases 10000] [--seed 0] [--timeout 10] [--budget-mib 64]
                                 [--json FILE] [--write docs/results/fuzz.md]

Each case mutates a valid input (banks: bit flips, byte insertions and deletions, truncation,
header.json edits, npy header lies, zip bombs, duplicate and unknown members, zip flag patches;
projects: project.json edits, tb_data and memory-image damage, missing files; idx .gz data
files: truncation, garbage, header lies) and runs its reader in this process under a timer and
tracemalloc. An outcome is a typed rejection (a WavebitsError such as BankError), an accepted
input, a crash (any other exception, grouped by type and the line that raised it) or a hang
(past --timeout). Peak memory is the largest tracemalloc peak of one case; a case above
--budget-mib counts as over budget. Cases are reproducible: case i of seed s is the same input.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import random
import resource
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
import tracemalloc
import zipfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from wavebits.codegen.hls import write_hls_project
from wavebits.codegen.project import load_project
from wavebits.codegen.rtl import write_rtl_project

from wavebits.bank import read_bank, synth_bank, write_bank
from wavebits.data import read_idx
from wavebits.errors import WavebitsError

TARGETS = ("bank", "project", "data")
WEIGHTS = {"bank": 0.7, "project": 0.2, "data": 0.1}
BOMB_BYTES = 256 << 20


# ----------------------------------------------------------------------------- a zip writer that can lie


@dataclass
class Entry:
    """One zip member as written: every field of its records can be set to anything."""

    name: bytes
    payload: bytes  # as stored (compressed when method is 8)
    crc: int
    usize: int
    method: int = 8
    flags: int = 0
    version: int = 20


def entry(name: str, data: bytes, method: int = 8) -> Entry:
    payload = data
    if method == 8:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        payload = c.compress(data) + c.flush()
    return Entry(name.encode(), payload, zlib.crc32(data), len(data), method)


def zip_bytes(entries: list[Entry]) -> bytes:
    out, central = bytearray(), bytearray()
    for e in entries:
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, e.version, e.flags, e.method, 0, 0x21,
                           e.crc & 0xFFFFFFFF, len(e.payload) & 0xFFFFFFFF, e.usize & 0xFFFFFFFF, len(e.name), 0)
        out += e.name + e.payload
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, e.version, e.flags, e.method, 0, 0x21,
                               e.crc & 0xFFFFFFFF, len(e.payload) & 0xFFFFFFFF, e.usize & 0xFFFFFFFF, len(e.name),
                               0, 0, 0, 0, 0o644 << 16, offset & 0xFFFFFFFF)
        central += e.name
    n = len(entries)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n & 0xFFFF, n & 0xFFFF, len(central), len(out), 0)
    return bytes(out + central + eocd)


def members(bank_bytes: bytes) -> list[tuple[str, bytes]]:
    import io

    with zipfile.ZipFile(io.BytesIO(bank_bytes)) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


# ----------------------------------------------------------------------------- JSON mutations


def _paths(obj: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


def _odd_value(rng: random.Random) -> Any:
    return rng.choice([True, False, None, 1.0, -1, 0, 2**31, 2**63, 10**30, -(10**30), 1e308, 0.5, "8", "",
                       "conv1\n", "x" * 1000, [], {}, [1, 2], {"a": 1}, [[[[]]]], "\u2028", "é", 9, 1 << 40])


def mutate_json(obj: Any, rng: random.Random) -> tuple[str, bytes]:
    """One mutation of a JSON document; returns (kind, new text as bytes)."""
    obj = json.loads(json.dumps(obj))
    paths = list(_paths(obj))
    kind = rng.choice(["delete", "extra-key", "type-swap", "type-swap", "huge-number", "deep-nesting", "bad-name",
                       "duplicate-key", "nan", "not-utf8", "huge-string", "wrong-top"])
    path = rng.choice(paths)
    parent_path, key = path[:-1], path[-1] if path else None

    def parent() -> Any:
        o = obj
        for k in parent_path:
            o = o[k]
        return o

    if kind == "wrong-top":
        return kind, rng.choice([b"[]", b"1", b'"x"', b"null", b""])
    if kind == "not-utf8":
        text = json.dumps(obj).encode()
        i = rng.randrange(len(text))
        return kind, text[:i] + b"\xff\xfe" + text[i:]
    if kind == "nan":
        text = json.dumps(obj)
        return kind, text.replace(rng.choice(["8", "1", "0"]), rng.choice(["NaN", "Infinity", "-Infinity"]), 1).encode()
    if kind == "duplicate-key":
        text = json.dumps(obj)
        m = text.find('"', rng.randrange(max(len(text) - 1, 1)))
        end = text.find('"', m + 1) if m >= 0 else -1
        k = text[m + 1:end] if end > m >= 0 else "widths"
        i = text.find("{")
        return kind, (text[:i + 1] + f'"{k}": 1, ' + text[i + 1:]).encode()
    if not path:
        kind = "extra-key"
    if kind == "delete" and isinstance(parent(), dict):
        del parent()[key]
    elif kind == "delete" and isinstance(parent(), list):
        parent().pop(key)
    elif kind == "extra-key":
        target = obj if not path else parent()
        if isinstance(target, dict):
            target[rng.choice(["extra", "Widths", "8", "09", "notes", "name "])] = _odd_value(rng)
        elif isinstance(target, list):
            target.append(_odd_value(rng))
    elif kind == "type-swap":
        parent()[key] = _odd_value(rng)
    elif kind == "huge-number":
        parent()[key] = rng.choice([10**rng.randrange(5, 400), -(2**rng.randrange(31, 200)), 2**62, 2**64 + 1])
    elif kind == "deep-nesting":
        depth = rng.choice([40, 200, 5000, 100000])
        return kind, json.dumps(obj).replace("[", "[" * depth + "[", 1).replace("]", "]" * (depth + 1), 1).encode()
    elif kind == "bad-name":
        parent()[key] = rng.choice(["conv1\n", "a b", "", "x" * 100, "1abc", "fc1\u0000", "é", "a\nerror: b"])
    elif kind == "huge-string":
        parent()[key] = "x" * rng.choice([10**4, 10**6])
    return kind, json.dumps(obj, indent=1).encode()


# ----------------------------------------------------------------------------- bank mutations


def _npy(arr_header: dict, data: bytes, version: tuple[int, int] = (1, 0), raw_header: bytes | None = None) -> bytes:
    text = raw_header if raw_header is not None else repr(arr_header).encode("latin1")
    text += b" " * ((64 - (len(text) + 11) % 64) % 64) + b"\n"
    if version == (1, 0):
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data
    return b"\x93NUMPY" + bytes(version) + struct.pack("<I", len(text)) + text + data


class BankMutator:
    """Mutations of a set of valid banks."""

    def __init__(self, banks: list[bytes]) -> None:
        self.banks = [(b, members(b)) for b in banks]
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        zeros = bytes(1 << 20)
        self.bomb = b"".join(c.compress(zeros) for _ in range(BOMB_BYTES >> 20)) + c.flush()
        self.bomb_crc = 0
        for _ in range(BOMB_BYTES >> 20):
            self.bomb_crc = zlib.crc32(zeros, self.bomb_crc)

    def __call__(self, rng: random.Random) -> tuple[str, bytes]:
        raw, mem = rng.choice(self.banks)
        kind = rng.choices(["bitflip", "insert", "delete", "truncate", "header", "npy", "bomb", "duplicate",
                            "extra-member", "zip-fields", "many-members"],
                           [12, 6, 6, 6, 25, 20, 4, 4, 6, 10, 1])[0]
        data = bytearray(raw)
        if kind == "bitflip":
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            return kind, bytes(data)
        if kind == "insert":
            i = rng.randrange(len(data))
            return kind, bytes(data[:i] + rng.randbytes(rng.randint(1, 16)) + data[i:])
        if kind == "delete":
            i = rng.randrange(len(data))
            return kind, bytes(data[:i] + data[i + rng.randint(1, 64):])
        if kind == "truncate":
            return kind, bytes(data[:rng.randrange(len(data))])
        entries = [entry(n, d) for n, d in mem]
        if kind == "header":
            header = json.loads(dict(mem)["header.json"])
            sub, text = mutate_json(header, rng)
            entries[[n for n, _ in mem].index("header.json")] = entry("header.json", text)
            return f"header:{sub}", zip_bytes(entries)
        if kind == "npy":
            return self._npy(rng, mem, entries)
        if kind == "bomb":
            i = rng.randrange(len(entries))
            name = entries[i].name
            sub = rng.choice(["honest", "small-declared", "npy-prefix"])
            if sub == "npy-prefix" and name.endswith(b".npy"):
                arr = np.lib.format.read_array(__import__("io").BytesIO(dict(mem)[name.decode()]))
                prefix = _npy({"descr": arr.dtype.str, "fortran_order": False, "shape": arr.shape}, b"")
                c = zlib.compressobj(9, zlib.DEFLATED, -15)
                head = c.compress(prefix)
                zeros = bytes(1 << 20)
                body = b"".join(c.compress(zeros) for _ in range(64)) + c.flush()
                crc = zlib.crc32(bytes(64 << 20), zlib.crc32(prefix))
                entries[i] = Entry(name, head + body, crc, len(prefix) + (64 << 20))
            else:
                declared = BOMB_BYTES if sub == "honest" else rng.choice([100, 1 << 16])
                entries[i] = Entry(name, self.bomb, self.bomb_crc, declared)
            return f"bomb:{sub}", zip_bytes(entries)
        if kind == "duplicate":
            i = rng.randrange(len(entries))
            dup = entries[i] if rng.random() < 0.5 else entry(entries[i].name.decode(), b"other")
            entries.insert(rng.randrange(len(entries) + 1), dup)
            return kind, zip_bytes(entries)
        if kind == "extra-member":
            name = rng.choice(["notes.txt", "fc1/w9.npy", "ghost/LL.npy", "fc1/", "../x.npy", "header.json/",
                               "fc1/w8.npy.bak", "a/b/c.npy", "conv1/LL.npy"])
            entries.insert(rng.randrange(len(entries) + 1), entry(name, rng.choice([b"", b"data", mem[-1][1]])))
            return kind, zip_bytes(entries)
        if kind == "many-members":
            entries += [entry(f"x{i}/LL.npy", b"", method=0) for i in range(rng.choice([5000, 29000]))]
            return kind, zip_bytes(entries)
        return self._zip_fields(rng, entries)

    def _npy(self, rng: random.Random, mem: list[tuple[str, bytes]], entries: list[Entry]) -> tuple[str, bytes]:
        import io

        i = rng.choice([k for k, (n, _) in enumerate(mem) if n.endswith(".npy")])
        name, raw = mem[i]
        arr = np.lib.format.read_array(io.BytesIO(raw))
        hdr = {"descr": arr.dtype.str, "fortran_order": False, "shape": arr.shape}
        data = arr.tobytes()
        sub = rng.choice(["shape", "huge-shape", "dtype", "fortran", "version", "magic", "header-garbage",
                          "header-length", "short-data", "long-data", "shape-types"])
        version = (1, 0)
        raw_header = None
        if sub == "shape":
            hdr["shape"] = rng.choice([(), (1,), tuple(reversed(arr.shape)), (*arr.shape, 1), (arr.size + 1,)])
        elif sub == "huge-shape":
            hdr["shape"] = rng.choice([(2**40,), (2**31, 2**31), (2**62, 2**62, 2**62), (-1, 5), (0,)])
        elif sub == "dtype":
            hdr["descr"] = rng.choice(["<i8", ">i2", "|O", "<f4", "<U4", "|V8", "<i4", "|b1", [("a", "<i2")]])
        elif sub == "fortran":
            hdr["fortran_order"] = rng.choice([True, 1, "no"])
        elif sub == "version":
            version = rng.choice([(3, 0), (2, 0), (0, 0), (255, 255)])
        elif sub == "magic":
            return f"npy:{sub}", zip_bytes([*entries[:i], entry(name, b"\x93NUMPX" + raw[6:]), *entries[i + 1:]])
        elif sub == "header-garbage":
            raw_header = rng.choice([b"{", b"[1, 2]", b"{'descr': '<i2'}", b"__import__('os')", b"(" * 300,
                                     b"{'descr': '<i2', 'fortran_order': False, 'shape': (1,), 'extra': 1}"])
        elif sub == "header-length":
            body = b"\x93NUMPY\x02\x00" + struct.pack("<I", rng.choice([2**31, 2**32 - 1, 100000])) + b"{"
            return f"npy:{sub}", zip_bytes([*entries[:i], entry(name, body), *entries[i + 1:]])
        elif sub == "short-data":
            data = data[:rng.randrange(max(len(data), 1))]
        elif sub == "long-data":
            data = data + rng.randbytes(rng.choice([1, 8, 4096]))
        elif sub == "shape-types":
            hdr["shape"] = rng.choice([(True,) * len(arr.shape), tuple(float(s) for s in arr.shape), [2, 3], "(1,)"])
        blob = _npy(hdr, data, version, raw_header)
        return f"npy:{sub}", zip_bytes([*entries[:i], entry(name, blob), *entries[i + 1:]])

    def _zip_fields(self, rng: random.Random, entries: list[Entry]) -> tuple[str, bytes]:
        e = rng.choice(entries)
        sub = rng.choice(["encrypted", "method", "version", "name-bytes", "crc", "usize", "stored-as-deflated"])
        if sub == "encrypted":
            e.flags |= 0x1
        elif sub == "method":
            e.method = rng.choice([1, 6, 9, 12, 14, 93, 95, 98, 99])
        elif sub == "version":
            e.version = rng.choice([45, 63, 64, 99, 255])
        elif sub == "name-bytes":
            e.flags |= 0x800
            e.name = rng.choice([b"\xff\xfe.npy", b"fc1/\xc3(.npy", e.name + b"\x80"])
        elif sub == "crc":
            e.crc ^= 1 << rng.randrange(32)
        elif sub == "usize":
            e.usize = rng.choice([0, 1, e.usize - 1, e.usize + 1, 2**32 - 1])
        else:
            e.method = 0
        return f"zip:{sub}", zip_bytes(entries)


# ----------------------------------------------------------------------------- project and data mutations


def _bytes_mutation(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    op = rng.choice(["flip", "truncate", "garbage", "empty", "insert"])
    if op == "flip" and b:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif op == "truncate":
        b = b[:rng.randrange(len(b) + 1)]
    elif op == "garbage":
        b = bytearray(rng.randbytes(rng.randint(1, 4096)))
    elif op == "empty":
        b = bytearray()
    else:
        i = rng.randrange(len(b) + 1)
        b[i:i] = rng.choice([b"x", b"\n", b" -1", b" 99999999999999999999", b"\xff", b" 1e3", b" \xd9\xa3"])
    return bytes(b)


def mutate_project(rng: random.Random, folder: Path, kind: str) -> str:
    """Damage the project copy in ``folder`` in one way; returns the mutation's name."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    what = rng.choices(["project.json", "tb_data", "mem", "bank", "missing", "swap"], [35, 25, 15 if kind == "rtl"
                                                                                        else 0, 10, 10, 5])[0]
    if what == "project.json":
        p = folder / "project.json"
        if rng.random() < 0.7:
            sub, text = mutate_json(json.loads(p.read_text()), rng)
            p.write_bytes(text)
            return f"project.json:{sub}"
        p.write_bytes(_bytes_mutation(rng, p.read_bytes()))
        return "project.json:bytes"
    if what in ("tb_data", "mem", "bank"):
        pool = [p for p in files if (what == "bank" and p.name == "bank.wbank") or
                (what != "bank" and p.relative_to(folder).parts[0] == what)]
        p = rng.choice(pool)
        p.write_bytes(_bytes_mutation(rng, p.read_bytes()))
        return f"{what}:bytes"
    if what == "missing":
        p = rng.choice(files)
        p.unlink()
        return "missing-file"
    p = rng.choice([folder / "project.json", folder / "tb_data", folder / "bank.wbank"])
    if p.is_dir():
        shutil.rmtree(p)
        p.write_text("not a folder")
    else:
        p.unlink()
        p.mkdir()
    return "file-folder-swap"


def idx_bytes(kind: str) -> bytes:
    if kind == "images":
        raw = struct.pack(">IIII", 0x803, 3, 28, 28) + bytes(3 * 28 * 28)
    else:
        raw = struct.pack(">II", 0x801, 3) + bytes([1, 2, 3])
    return gzip.compress(raw, mtime=0)


def mutate_idx(rng: random.Random) -> tuple[str, bytes]:
    kind = rng.choice(["images", "labels"])
    gz = idx_bytes(kind)
    raw = gzip.decompress(gz)
    sub = rng.choices(["gz-bytes", "gz-truncate", "garbage", "header-lie", "raw-truncate", "raw-extend", "gz-bomb"],
                      [5, 5, 5, 5, 5, 5, 1])[0]
    if sub == "gz-bomb":  # a valid header declaring what the zeros after it then give
        count = 96 << 20 if kind == "labels" else (96 << 20) // (28 * 28)
        head = struct.pack(">II", 0x801, count) if kind == "labels" else struct.pack(">IIII", 0x803, count, 28, 28)
        c = zlib.compressobj(9, zlib.DEFLATED, 31)
        zeros = bytes(1 << 20)
        return sub, c.compress(head) + b"".join(c.compress(zeros) for _ in range(96)) + c.flush()
    if sub == "gz-bytes":
        return sub, _bytes_mutation(rng, gz)
    if sub == "gz-truncate":
        return sub, gz[:rng.randrange(len(gz))]
    if sub == "garbage":
        return sub, rng.randbytes(rng.randint(0, 512))
    b = bytearray(raw)
    if sub == "header-lie":
        field_at = rng.randrange(0, min(len(b), 16) // 4) * 4
        b[field_at:field_at + 4] = struct.pack(">I", rng.choice([0, 1, 0x802, 2**31, 2**32 - 1, 60000]))
    elif sub == "raw-truncate":
        b = b[:rng.randrange(len(b))]
    else:
        b += bytes(rng.randint(1, 100))
    return sub, gzip.compress(bytes(b), mtime=0)


# ----------------------------------------------------------------------------- running


class Hang(BaseException):
    """A case ran past its time limit (a BaseException: the reader must not catch it)."""


def _alarm(signum: int, frame: object) -> None:
    raise Hang


@dataclass
class Outcome:
    target: str
    mutation: str
    result: str  # rejected, accepted, crash, hang
    peak: int  # bytes, tracemalloc
    seconds: float
    cause: str = ""  # for crashes: exception type @ file:line (function)
    message: str = ""


def _where(e: BaseException) -> str:
    """``module.Type @ the last line of this repository on the way -> the line that raised``."""
    frames = traceback.extract_tb(e.__traceback__)
    root = str(Path(__file__).resolve().parents[1]) + os.sep
    ours = [f for f in frames if f.filename.startswith(root) and "site-packages" not in f.filename]
    module = type(e).__module__
    name = type(e).__qualname__ if module == "builtins" else f"{module}.{type(e).__qualname__}"
    loc = f"{ours[-1].filename[len(root):]}:{ours[-1].lineno} ({ours[-1].name})" if ours else "?"
    if frames and (not ours or frames[-1] is not ours[-1]):
        loc += f" -> {Path(frames[-1].filename).name}:{frames[-1].lineno} ({frames[-1].name})"
    return f"{name} @ {loc}"


def run_one(target: str, mutation: str, fn: Callable[[], Any], timeout: float) -> Outcome:
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    result, cause, message = "accepted", "", ""
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except WavebitsError as e:
        result, message = "rejected", str(e)
    except Hang:
        result = "hang"
    except Exception as e:
        result, cause, message = "crash", _where(e), f"{type(e).__name__}: {e}"[:300]
    peak = max(tracemalloc.get_traced_memory()[1] - base, 0)
    return Outcome(target, mutation, result, peak, time.perf_counter() - t0, cause, message)


@dataclass
class Fixture:
    """The valid inputs every case starts from."""

    work: Path
    banks: BankMutator
    projects: dict[str, Path] = field(default_factory=dict)


def make_fixture(work: Path) -> Fixture:
    banks = []
    for arch, widths in (("mlp", (8, 7, 6, 5, 4, 3, 2, 1)), ("mlp", (8, 2, 1)), ("cnn-digits", (4, 1))):
        p = work / f"{arch}-{len(widths)}.wbank"
        write_bank(synth_bank(arch, seed=0, widths=widths), p)
        banks.append(p.read_bytes())
    small = read_bank(work / "mlp-3.wbank")
    fixture = Fixture(work, BankMutator(banks))
    fixture.projects["hls"] = write_hls_project(small, work / "base-hls", "banked", vectors=np.zeros((3, 1, 8, 8),
                                                                                                    np.uint8))
    fixture.projects["rtl"] = write_rtl_project(small, work / "base-rtl", "reconstruct", 8,
                                                vectors=np.zeros((3, 1, 8, 8), np.uint8))
    return fixture


def case(fx: Fixture, seed: int, index: int, targets: tuple[str, ...] = TARGETS) -> tuple[str, str, Callable[[], Any]]:
    """Case ``index`` of ``seed``: (target, mutation, the call that reads the mutated input)."""
    rng = random.Random(seed * 1_000_003 + index)
    target = rng.choices(targets, [WEIGHTS[t] for t in targets])[0]
    if target == "bank":
        mutation, data = fx.banks(rng)
        path = fx.work / "case.wbank"
        path.write_bytes(data)
        return target, mutation, lambda: read_bank(path)
    if target == "project":
        kind = rng.choice(["hls", "rtl"])
        folder = fx.work / "case-project"
        shutil.rmtree(folder, ignore_errors=True)
        if folder.exists():
            folder.unlink()
        shutil.copytree(fx.projects[kind], folder)
        mutation = f"{kind}:{mutate_project(rng, folder, kind)}"
        return target, mutation, lambda: load_project(folder, kind)
    mutation, data = mutate_idx(rng)
    path = fx.work / "case-idx.gz"
    path.write_bytes(data)
    return target, mutation, lambda: read_idx(path)


def run(cases: int, seed: int = 0, timeout: float = 10.0, progress: bool = False,
        targets: tuple[str, ...] = TARGETS) -> list[Outcome]:
    """Run ``cases`` cases of ``seed`` on ``targets``; the fixture lives in a temporary folder removed afterwards."""
    outcomes = []
    old = signal.signal(signal.SIGALRM, _alarm)
    tracemalloc.start()
    try:
        with tempfile.TemporaryDirectory(prefix="wavebits-fuzz-") as tmp:
            fx = make_fixture(Path(tmp))
            for i in range(cases):
                target, mutation, fn = case(fx, seed, i, targets)
                outcomes.append(run_one(target, mutation, fn, timeout))
                if progress and (i + 1) % 500 == 0:
                    print(f"{i + 1}/{cases} cases", file=sys.stderr, flush=True)
    finally:
        tracemalloc.stop()
        signal.signal(signal.SIGALRM, old)
    return outcomes


def summary(outcomes: list[Outcome], budget: int) -> dict[str, Any]:
    """Counts per target and per mutation, crash causes, peaks."""
    def counts(group: list[Outcome]) -> dict[str, Any]:
        c = Counter(o.result for o in group)
        worst = max(group, key=lambda o: o.peak)
        return {"cases": len(group), "rejected": c["rejected"], "accepted": c["accepted"], "crashes": c["crash"],
                "hangs": c["hang"], "over_budget": sum(o.peak > budget for o in group), "peak_bytes": worst.peak,
                "peak_mutation": worst.mutation, "slowest_s": round(max(o.seconds for o in group), 3)}

    by_target = {t: counts([o for o in outcomes if o.target == t]) for t in TARGETS
                 if any(o.target == t for o in outcomes)}
    by_mutation = {m: counts([o for o in outcomes if f"{o.target}/{o.mutation}" == m])
                   for m in sorted({f"{o.target}/{o.mutation}" for o in outcomes})}
    causes: dict[str, dict[str, Any]] = defaultdict(lambda: {"count": 0, "example": ""})
    for o in outcomes:
        if o.result == "crash":
            causes[o.cause]["count"] += 1
            causes[o.cause]["example"] = causes[o.cause]["example"] or f"{o.target}/{o.mutation}: {o.message}"
    return {"total": counts(outcomes), "targets": by_target, "mutations": by_mutation, "crash_causes": dict(causes),
            "budget_bytes": budget}


def markdown(s: dict[str, Any], command: str) -> str:
    def mib(n: int) -> str:
        return f"{n / 2**20:.1f}"

    head = "| {} | cases | typed rejections | accepted | crashes | hangs | peak memory MiB | over budget |"
    rows = [head.format("target"), "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, c in [*s["targets"].items(), ("all", s["total"])]:
        rows.append(f"| {name} | {c['cases']:,} | {c['rejected']:,} | {c['accepted']:,} | {c['crashes']} | "
                    f"{c['hangs']} | {mib(c['peak_bytes'])} | {c['over_budget']} |")
    lines = ["# Fuzzing the input readers", "", f"Made by `{command}` ({s['seconds']:.0f} s).", "",
             "Every case mutates a valid bank, generated project or idx data file and reads it in-process "
             "(`read_bank`, `codegen.project.load_project`, `wavebits.data.read_idx`). A typed rejection is a "
             "`WavebitsError` (one `error:` line in the CLI); a crash is any other exception; peak memory is "
             f"the largest tracemalloc peak of one case (budget {mib(s['budget_bytes'])} MiB).", "", *rows, ""]
    if s["crash_causes"]:
        lines += ["Crash causes:", "", "| cause | cases | example |", "|---|---:|---|"]
        for cause, c in sorted(s["crash_causes"].items(), key=lambda kv: -kv[1]["count"]):
            lines.append(f"| `{cause}` | {c['count']} | {c['example'][:150].replace('|', '/')} |")
        lines.append("")
    lines += ["Per mutation:", "", head.format("mutation"), rows[1]]
    for name, c in s["mutations"].items():
        lines.append(f"| {name} | {c['cases']:,} | {c['rejected']:,} | {c['accepted']:,} | {c['crashes']} | "
                     f"{c['hangs']} | {mib(c['peak_bytes'])} | {c['over_budget']} |")
    return "\n".join(lines) + "\n"


def _limit_address_space(gib: int) -> None:
    """A crash instead of a swamped machine if some reader allocates without bound."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        current = int(f.read().split()[0]) * resource.getpagesize()
    want = current + (gib << 30)
    if hard == resource.RLIM_INFINITY or want < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (want, hard))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per case before it counts as a hang")
    ap.add_argument("--budget-mib", type=float, default=64.0, help="peak memory per case above which it is flagged")
    ap.add_argument("--json", type=Path, default=None, help="write the full report here")
    ap.add_argument("--write", type=Path, default=None, help="write the markdown table here (docs/results/fuzz.md)")
    ap.add_argument("--memory-limit-gib", type=int, default=4, help="address space this process may add")
    ap.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated subset of {','.join(TARGETS)}")
    args = ap.parse_args()
    _limit_address_space(args.memory_limit_gib)
    command = "python benchmarks/fuzz.py " + " ".join(sys.argv[1:])
    t0 = time.time()
    targets = tuple(t for t in args.targets.split(",") if t)
    if not targets or not set(targets) <= set(TARGETS):
        ap.error(f"--targets: choose from {','.join(TARGETS)}")
    outcomes = run(args.cases, args.seed, args.timeout, progress=True, targets=targets)
    s = summary(outcomes, int(args.budget_mib * 2**20))
    s["seconds"] = round(time.time() - t0, 1)  # markdown() prints it
    s["command"] = command
    text = markdown(s, command)
    print(text)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text)
    if args.json:
        report = {**s, "crashes": [asdict(o) for o in outcomes if o.result in ("crash", "hang")],
                  "over_budget": [asdict(o) for o in outcomes if o.peak > s["budget_bytes"]],
                  "accepted": Counter(f"{o.target}/{o.mutation}" for o in outcomes if o.result == "accepted")}
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
