"""What every generated project shares: test vectors, the golden outputs, the bank, project.json,
and writing the folder atomically (a temporary sibling folder, renamed into place)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from wavebits.sim.golden import GoldenModel

from wavebits.bank.io import _zip_bytes, to_members
from wavebits.bank.model import Bank
from wavebits.errors import WavebitsError


def write_tree(target: Path, files: Mapping[str, bytes | str]) -> Path:
    """Write ``files`` (relative path -> content) as the folder ``target``, all or nothing.

    An existing ``target`` is replaced only once the new tree is complete; it must look like a
    project this tool wrote (``project.json`` inside), so that no unrelated folder is overwritten.
    """
    target = Path(target)
    if target.exists() and not (target / "project.json").is_file():
        raise WavebitsError(f"{target}: exists and is not a wavebits project; choose another -o")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
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


def read_project(project: Path, kind: str) -> dict[str, Any]:
    """``project.json`` of a generated project of ``kind`` (hls, rtl); a clear error otherwise."""
    meta_path = Path(project) / "project.json"
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise WavebitsError(f"{project}: not a generated project (no project.json), so not an {kind.upper()} "
                            f"project; run `wavebits codegen {kind}` first") from None
    except json.JSONDecodeError as e:
        raise WavebitsError(f"{meta_path}: not valid JSON ({e})") from None
    if meta.get("kind") != kind:
        raise WavebitsError(f"{meta_path}: kind: expected {kind!r}, got {meta.get('kind')!r}")
    return meta


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
