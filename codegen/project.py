"""What every generated project shares: test vectors, the golden outputs, the bank, project.json,
and writing the folder atomically (a temporary sibling folder, renamed into place)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from wavebits.sim.golden import GoldenModel

from wavebits.bank.io import _zip_bytes, to_members
from wavebits.bank.model import Bank
from wavebits.errors import WavebitsError
from wavebits.files import brief, folder_mode, strict_json

from .bram import BLOCK_DEPTHS


def write_tree(target: Path, files: Mapping[str, bytes | str]) -> Path:
    """Write ``files`` (relative path -> content) as the folder ``target``, all or nothing.

    An existing ``target`` is replaced only once the new tree is complete; it must look like a
    project this tool wrote (``project.json`` inside), so that no unrelated folder is overwritten.
    Files and folders get the modes the umask gives; the temporary folder is removed on any
    exception, KeyboardInterrupt (and the CLI's SIGTERM) included.
    """
    target = Path(target)
    if target.exists() and not (target / "project.json").is_file():
        raise WavebitsError(f"{target}: exists and is not a wavebits project; choose another -o")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        os.chmod(tmp, folder_mode())  # mkdtemp makes 0700; the folder gets what mkdir would give it
        for rel, content in sorted(files.items()):
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(content.encode() if isinstance(content, str) else content)
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def default_vectors(bank: Bank, count: int = 16, seed: int = 0) -> np.ndarray:
    """Test vectors: digits test images when the bank takes 8x8 images, else seeded random inputs."""
    if bank.input_shape == (1, 8, 8):
        from wavebits.data import load_digits

        return load_digits("test")[0][:count]
    rng = np.random.default_rng(seed)
    lo, hi = bank.input_range
    return rng.integers(lo, hi + 1, size=(count, *bank.input_shape)).astype(np.int8 if lo < 0 else np.uint8)


def tb_files(bank: Bank, vectors: np.ndarray) -> dict[str, str]:
    """tb_data: input vectors, and the golden model's outputs per width (hls4ml's file shape)."""
    golden = GoldenModel(bank)
    files = {"tb_data/tb_input_features.dat": "\n".join(" ".join(str(int(v)) for v in x.reshape(-1))
                                                         for x in vectors) + "\n"}
    for b in bank.widths:
        out = golden.logits(vectors, b)
        files[f"tb_data/tb_output_predictions_w{b}.dat"] = "\n".join(" ".join(str(int(v)) for v in row)
                                                                      for row in out) + "\n"
    return files


def read_vectors(project: Path, input_shape: tuple[int, ...]) -> np.ndarray:
    """The test vectors baked into a project's ``tb_data`` (N, *input_shape), as int64."""
    path = Path(project) / "tb_data" / "tb_input_features.dat"
    try:
        x = np.loadtxt(path, dtype=np.int64, ndmin=2)
    except (OSError, ValueError) as e:
        raise WavebitsError(f"{path}: cannot read the test vectors ({e})") from None
    if x.shape[1] != int(np.prod(input_shape)):
        raise WavebitsError(f"{path}: rows of {x.shape[1]} values, the bank's input has {int(np.prod(input_shape))}")
    return x.reshape(len(x), *input_shape)


def write_vectors(path: Path, x: np.ndarray) -> Path:
    """Inputs in the test benches' format: one vector per line, values separated by spaces."""
    Path(path).write_text("".join(" ".join(str(int(v)) for v in row.reshape(-1)) + "\n" for row in x))
    return Path(path)


MAX_VECTORS = 1 << 16
_MAX_JSON_BYTES = 16 << 20
_MAX_TB_BYTES = 256 << 20
_MAX_MEM_BYTES = 64 << 20
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_HEX_WORD = re.compile(r"[0-9a-fA-F]{1,1024}\Z")
_DECIMAL = re.compile(r"[+-]?[0-9]{1,19}\Z")
_COMMON_KEYS = ("generator", "kind", "bank", "widths", "vectors", "top", "weights", "layers")
_KEYS = {
    "hls": _COMMON_KEYS,
    "rtl": (*_COMMON_KEYS, "lanes", "planes", "board", "clock_mhz", "outputs", "params", "memory_bits",
            "weights_count"),
}
_RTL_LAYER_KEYS = ("name", "op", "cout", "hout", "wout", "outcw", "bytes", "signed", "is_out")


class ProjectError(WavebitsError):
    """A generated project whose files are missing, malformed or inconsistent; names the file and field."""

    def __init__(self, path: Path, field: str | None, problem: str) -> None:
        super().__init__(f"{path}: {field}: {problem}" if field else f"{path}: {problem}")


def read_project(project: Path, kind: str) -> dict[str, Any]:
    """``project.json`` of a generated project of ``kind`` (hls, rtl), every field checked; a clear error otherwise."""
    project = Path(project)
    if project.is_file():
        raise ProjectError(project, None, f"is a file, not a project folder (run `wavebits codegen {kind}` first)")
    meta_path = project / "project.json"
    if not meta_path.is_file():
        raise WavebitsError(f"{project}: not a generated project (no project.json), so not an {kind.upper()} "
                            f"project; run `wavebits codegen {kind}` first")
    text = _read_text(meta_path, _MAX_JSON_BYTES)
    try:
        meta = strict_json(text)
    except RecursionError:
        raise ProjectError(meta_path, None, "not valid JSON (nested too deep)") from None
    except ValueError as e:  # JSONDecodeError, a key seen twice, NaN, a number too long to convert
        raise ProjectError(meta_path, None, f"not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise ProjectError(meta_path, None, f"expected an object, got {type(meta).__name__}")
    if meta.get("kind") != kind:
        raise WavebitsError(f"{meta_path}: kind: expected {kind!r}, got {brief(meta.get('kind'))}")
    _check_meta(meta_path, meta, kind)
    return meta


def _check_meta(path: Path, meta: dict[str, Any], kind: str) -> None:
    def fail(key: str, problem: str) -> ProjectError:
        return ProjectError(path, key, problem)

    def expect(key: str, ok: bool, what: str, value: Any = None) -> None:
        if not ok:
            raise fail(key, f"expected {what}, got {brief(meta[key] if value is None else value)}")

    for key in _KEYS[kind]:
        if key not in meta:
            raise fail(key, "missing")
    extra = sorted(set(meta) - set(_KEYS[kind]))
    if extra:
        raise fail(brief(extra[0]) if not extra[0].isprintable() else extra[0], "unknown field")
    expect("generator", meta["generator"] == "wavebits", "'wavebits'")
    expect("bank", type(meta["bank"]) is str and meta["bank"].isprintable(), "the bank's name")
    widths = meta["widths"]
    expect("widths", type(widths) is list and len(widths) > 0 and all(_int_in(b, 1, 8) for b in widths)
           and len(set(widths)) == len(widths), "a list of distinct widths in 1..8")
    expect("vectors", _int_in(meta["vectors"], 1, MAX_VECTORS), f"an integer in 1..{MAX_VECTORS}")
    expect("top", type(meta["top"]) is str and bool(_IDENT.fullmatch(meta["top"])), "an identifier")
    expect("weights", meta["weights"] in ("banked", "reconstruct"), "'banked' or 'reconstruct'")
    layers = meta["layers"]
    if kind == "hls":
        expect("layers", type(layers) is list and len(layers) > 0 and all(
            type(n) is str and _IDENT.fullmatch(n) for n in layers), "a list of layer names")
        return
    from .rtl import BOARDS, LANE_CHOICES, MUL_PLANES, PLANE_CHOICES  # rtl imports this module

    def one_of(choices: tuple[int, ...]) -> str:
        return ", ".join(map(str, choices[:-1])) + f" or {choices[-1]}"

    expect("lanes", meta["lanes"] in LANE_CHOICES and type(meta["lanes"]) is int, one_of(LANE_CHOICES))
    expect("planes", meta["planes"] in PLANE_CHOICES and type(meta["planes"]) is int, one_of(PLANE_CHOICES))
    expect("board", type(meta["board"]) is str and meta["board"] in BOARDS, f"one of {', '.join(BOARDS)}")
    mhz = meta["clock_mhz"]
    expect("clock_mhz", type(mhz) in (int, float) and 0 < mhz <= 1000, "a clock in MHz (0..1000)")
    expect("outputs", _int_in(meta["outputs"], 1, 1 << 24), "an integer in 1..16777216")
    expect("weights_count", _int_in(meta["weights_count"], 0, 1 << 40), "a weight count")
    bits = meta["memory_bits"]
    expect("memory_bits", type(bits) is dict and all(_int_in(v, 0, 1 << 48) for v in bits.values()),
           "an object of bit counts")
    params = meta["params"]
    expect("params", type(params) is dict and all(
        _int_in(v, -(1 << 62), 1 << 62) or (type(v) is str and v.isprintable()) for v in params.values()),
        "an object of Verilog parameters (integers and strings)")
    for key, lo, hi in (("OUT_W", 2, 64), ("NL", 1, 1 << 16), ("QB", 0, 5), ("XDEPTH", 0, 1 << 30),
                        ("LW_DEPTH", 1, 1 << 30), ("RQ_DEPTH", 1, 1 << 30), ("RQ_BLK", 1, 1 << 14),
                        ("WDEPTH", 1, 1 << 30), ("P", 4, 32)):
        expect("params", _int_in(params.get(key), lo, hi), f"params.{key} an integer in {lo}..{hi}",
               params.get(key))
    wblk = _weight_block(params)
    expect("params", type(wblk) is int and wblk in BLOCK_DEPTHS, f"params.WBLK {one_of(BLOCK_DEPTHS)}", wblk)
    expect("params", params.get("PLANES") == meta["planes"], f"params.PLANES equal to planes ({meta['planes']})",
           params.get("PLANES"))
    mul = lane_multipliers(params)
    expect("params", mul in (0, 1) and type(mul) is int and (mul == 0 or meta["planes"] == MUL_PLANES),
           f"params.MUL 0, or 1 with {MUL_PLANES} planes", mul)
    expect("layers", type(layers) is list and len(layers) == params["NL"], f"a list of {params['NL']} layers")
    for i, layer in enumerate(layers):
        key = f"layers[{i}]"
        expect(key, type(layer) is dict and sorted(layer) == sorted(_RTL_LAYER_KEYS),
               f"an object with the fields {', '.join(_RTL_LAYER_KEYS)}", layer)
        expect(key, type(layer["name"]) is str and bool(_IDENT.fullmatch(layer["name"])), "a layer name",
               layer["name"])
        expect(key, type(layer["op"]) is str and layer["op"].isidentifier(), "an op name", layer["op"])
        expect(key, all(_int_in(layer[k], 1, 1 << 24) for k in ("cout", "hout", "wout", "outcw")),
               "positive integer cout, hout, wout and outcw", layer)
        expect(key, layer["bytes"] in (1, 2, 4, 8) and type(layer["bytes"]) is int, "bytes 1, 2, 4 or 8",
               layer["bytes"])
        expect(key, type(layer["signed"]) is bool, "signed true or false", layer["signed"])
        expect(key, type(layer["is_out"]) is bool and layer["is_out"] == (i == len(layers) - 1),
               "is_out true on the last layer only", layer["is_out"])


def _weight_block(params: dict[str, Any]) -> Any:
    """``params.WBLK``, the weight memories' block depth: wb_core's default where a project written
    before it lacks the field."""
    return params.get("WBLK", BLOCK_DEPTHS[0])


def lane_multipliers(params: dict[str, Any]) -> Any:
    """``params.MUL``, 1 where the lanes' products are on multipliers: 0 where a project written
    before it lacks the field."""
    return params.get("MUL", 0)


def project_mac(params: dict[str, Any]) -> str:
    """How a checked project's lanes sum their products (``rtl.MAC_CHOICES``)."""
    return "dsp" if lane_multipliers(params) else "lut"


def _int_in(v: Any, lo: int, hi: int) -> bool:
    return type(v) is int and lo <= v <= hi


def _read_text(path: Path, limit: int) -> str:
    """A generated text file, at most ``limit`` bytes of UTF-8; every failure names the file."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise ProjectError(path, None, f"{size} bytes, more than the {limit} it may hold")
            data = f.read(size + 1)  # never read(limit): a buffered read allocates what it is asked for
    except FileNotFoundError:
        raise ProjectError(path, None, "missing (regenerate the project)") from None
    except OSError as e:
        raise ProjectError(path, None, f"cannot read ({e.strerror or e})") from None
    if len(data) > limit:
        raise ProjectError(path, None, f"larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProjectError(path, None, f"not UTF-8 text (byte {e.start})") from None


@dataclass
class Project:
    """A generated project, read and checked: its metadata, bank, test vectors and expected outputs."""

    path: Path
    meta: dict[str, Any]
    bank: Bank
    inputs: np.ndarray  # (vectors, *input_shape), int64
    outputs: dict[int, np.ndarray]  # width -> (vectors, classes) golden logits, int64


def load_project(project: Path, kind: str) -> Project:
    """Read a generated project of ``kind`` and check that its files are present, parseable and consistent.

    Raises ``WavebitsError`` (``ProjectError``, or ``BankError`` for its bank) naming the file and
    the field or line, before any tool runs on it.
    """
    from wavebits.bank.io import read_bank

    project = Path(project)
    meta = read_project(project, kind)
    meta_path = project / "project.json"
    bank = read_bank(project / "bank.wbank")
    if meta["bank"] != bank.name:
        raise ProjectError(meta_path, "bank", f"{brief(meta['bank'])}, but bank.wbank is {bank.name!r}")
    if tuple(meta["widths"]) != bank.widths:
        raise ProjectError(meta_path, "widths", f"{meta['widths']}, but bank.wbank has {list(bank.widths)}")
    if kind == "hls":
        unknown = [n for n in meta["layers"] if n not in bank.shapes]
        if unknown:
            raise ProjectError(meta_path, "layers", f"{unknown[0]!r} is not a layer of bank.wbank")
        needed = ["firmware/" + meta["top"] + ".cpp", meta["top"] + "_test.cpp"]
    else:
        _check_rtl_layers(meta_path, meta, bank)
        needed = ["wavebits_top.v", "rtl/tb/tb_main.cpp"]
        _check_memory_images(project, meta)
    for rel in needed:
        if not (project / rel).is_file():
            raise ProjectError(project / rel, None, "missing (regenerate the project)")
    n, features = meta["vectors"], math.prod(bank.input_shape)
    inputs = _read_rows(project / "tb_data/tb_input_features.dat", n, features, *bank.input_range)
    classes = math.prod(bank.shapes[bank.output])
    outputs = {b: _read_rows(project / f"tb_data/tb_output_predictions_w{b}.dat", n, classes, -(1 << 62), 1 << 62)
               for b in bank.widths}
    return Project(project, meta, bank, inputs.reshape(n, *bank.input_shape), outputs)


def _check_rtl_layers(path: Path, meta: dict[str, Any], bank: Bank) -> None:
    for i, layer in enumerate(meta["layers"]):
        shape = bank.shapes.get(layer["name"])
        if shape is None:
            raise ProjectError(path, f"layers[{i}].name", f"{layer['name']!r} is not a layer of bank.wbank")
        c, hw = shape[0], math.prod(shape[1:])
        if (layer["cout"], layer["hout"] * layer["wout"], layer["outcw"]) != (c, hw, -(-c * layer["bytes"] // 8)):
            raise ProjectError(path, f"layers[{i}]", f"geometry {layer['cout']}x{layer['hout']}x{layer['wout']} "
                                                     f"does not match the bank's {shape}")
    if meta["layers"][-1]["name"] != bank.output:
        raise ProjectError(path, f"layers[{len(meta['layers']) - 1}].name", f"the output layer is {bank.output!r}")
    if meta["outputs"] != math.prod(bank.shapes[bank.output]):
        raise ProjectError(path, "outputs", f"{meta['outputs']}, but the bank's output has "
                                            f"{math.prod(bank.shapes[bank.output])} values")


def _check_memory_images(project: Path, meta: dict[str, Any]) -> None:
    """Every ``$readmemh`` image the core reads is present, and every image is plain hex words."""
    from .rtl import RAM_BLOCK

    params = meta["params"]
    wblk = _weight_block(params)
    required = {"mem/desc.hex": params["NL"], "mem/lw.hex": params["LW_DEPTH"], "mem/requant.hex.0": params["RQ_BLK"]}
    if params.get("TWO"):
        required["mem/requant2.hex.0"] = RAM_BLOCK
    if meta["weights"] == "banked":
        required.update({f"mem/weights_b{b}.hex.0": wblk for b in meta["widths"]})
    else:
        required.update({f"mem/comp_{m:x}.hex.0": RAM_BLOCK for m in range(1 << params["QB"])})
        required["mem/elem.hex.0"] = RAM_BLOCK
        if params["XDEPTH"]:
            required.update({f"mem/edge_{m:x}.hex.0": RAM_BLOCK for m in range(1 << params["QB"])})
    for rel in required:
        if not (project / rel).is_file():
            raise ProjectError(project / rel, None, "missing memory image (regenerate the project)")
    blocks = {"mem/weights_b": wblk, "mem/requant.hex.": params["RQ_BLK"]}  # other images: RAM_BLOCK deep
    mem = project / "mem"
    for image in sorted(mem.iterdir()) if mem.is_dir() else []:
        rel = f"mem/{image.name}"
        depth = next((d for pre, d in blocks.items() if rel.startswith(pre)), required.get(rel, RAM_BLOCK))
        if rel.startswith("mem/weights_b") and meta["weights"] == "banked":
            block = rel.rsplit(".", 1)[-1]
            if not re.fullmatch(r"[0-9a-f]+", block) or int(block, 16) * wblk >= params["WDEPTH"]:
                raise ProjectError(image, None, f"not a block of a {params['WDEPTH']}-row weight memory in "
                                                f"{wblk}-row blocks (regenerate the project)")
        words = 0
        for number, line in enumerate(_read_text(image, _MAX_MEM_BYTES).splitlines(), start=1):
            for token in line.split():
                if not _HEX_WORD.fullmatch(token):
                    raise ProjectError(image, f"line {number}", f"{brief(token)} is not a hex word")
                words += 1
        if words > depth:
            raise ProjectError(image, None, f"{words} words, more than the memory's {depth}")


def _read_rows(path: Path, rows: int, columns: int, lo: int, hi: int) -> np.ndarray:
    """A tb_data file: ``rows`` lines of ``columns`` decimal integers in lo..hi."""
    text = _read_text(path, _MAX_TB_BYTES)
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != rows:
        raise ProjectError(path, None, f"{len(lines)} rows, project.json says {rows} vectors")
    values: list[list[int]] = []
    for i, line in enumerate(lines):
        tokens = line.split()
        if len(tokens) != columns:
            raise ProjectError(path, f"row {i + 1}", f"{len(tokens)} values, expected {columns}")
        bad = next((t for t in tokens if not _DECIMAL.fullmatch(t)), None)
        if bad is not None:
            raise ProjectError(path, f"row {i + 1}", f"{brief(bad)} is not an integer")
        row = [int(t) for t in tokens]
        outside = next((v for v in row if not lo <= v <= hi), None)
        if outside is not None:
            raise ProjectError(path, f"row {i + 1}", f"value {outside} is outside {lo}..{hi}")
        values.append(row)
    return np.array(values, dtype=np.int64).reshape(rows, columns)


def project_files(bank: Bank, vectors: np.ndarray | None, bank_bytes: bytes | None,
                  meta: dict[str, Any]) -> dict[str, bytes | str]:
    """tb_data, the source bank (``bank_bytes`` as read, else serialized) and ``project.json``."""
    if vectors is None:
        vectors = default_vectors(bank)
    files: dict[str, bytes | str] = dict(tb_files(bank, vectors))
    if bank_bytes is None:
        header, arrays = to_members(bank)
        bank_bytes = _zip_bytes(header, arrays)
    files["bank.wbank"] = bank_bytes
    files["project.json"] = json.dumps({"generator": "wavebits", "bank": bank.name, "widths": list(bank.widths),
                                        "vectors": len(vectors), **meta}, indent=1, sort_keys=True) + "\n"
    return files
