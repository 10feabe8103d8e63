"""Compiling the simulators' C++ through a cache of object files, as ccache does.

Each translation unit's object file is kept under a hash of the compiler, its flags and the unit's
preprocessed text, so Verilator's runtime (the same in every build), a project regenerated or
copied unchanged, and the same network's project in another folder compile once. Units compile in
parallel, one per CPU.

``WAVEBITS_CACHE`` names the folder (default ``$XDG_CACHE_HOME/wavebits/objects``, else
``~/.cache/wavebits/objects``); ``off`` compiles without it. When the folder passes
``WAVEBITS_CACHE_MB`` megabytes (default 1024), the objects used longest ago are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from wavebits.errors import WavebitsError
from wavebits.tools import run_tool

log = logging.getLogger(__name__)

DEFAULT_MAX_MB = 1024
TRIM_TO = 0.8
"""After a trim the cache holds at most this fraction of its limit."""


@dataclass
class CompileFailed(Exception):
    """The compiler refused ``unit`` (or the link, when ``unit`` is None); ``output`` is what it printed."""

    unit: Path | None
    output: str

    def __str__(self) -> str:
        return f"g++ failed on {self.unit}" if self.unit is not None else "linking failed"


def cache_dir() -> Path | None:
    """The cache folder from the environment, or None when ``WAVEBITS_CACHE=off``."""
    env = os.environ.get("WAVEBITS_CACHE", "")
    if env.lower() in ("off", "0", "no", "false"):
        return None
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "wavebits" / "objects"


def _limit_bytes() -> int:
    raw = os.environ.get("WAVEBITS_CACHE_MB", str(DEFAULT_MAX_MB))
    try:
        mb = int(raw)
    except ValueError:
        raise WavebitsError(f"WAVEBITS_CACHE_MB: expected a whole number of megabytes, got {raw!r}") from None
    if mb < 1:
        raise WavebitsError(f"WAVEBITS_CACHE_MB: expected at least 1, got {mb}")
    return mb << 20


@cache
def _compiler_id(cxx: str) -> str:
    proc = run_tool([cxx, "--version"])
    return f"{os.path.realpath(cxx)}\n{proc.stdout}"


def build(cxx: str, flags: Sequence[str], units: Sequence[Path], binary: Path, cwd: Path,
          link_flags: Sequence[str] = ()) -> None:
    """Compile ``units`` with ``flags`` (run in ``cwd``) and link them into ``binary``.

    Objects come from the cache where the same compiler has compiled the same preprocessed text with
    the same flags; the binary is written atomically. Raises CompileFailed with the compiler's output.
    """
    root = cache_dir()
    limit = _limit_bytes() if root is not None else 0
    binary, cwd = Path(binary).absolute(), Path(cwd).absolute()
    objects = binary.parent / f".{binary.name}.objects"
    objects.mkdir(parents=True, exist_ok=True)
    jobs = max(1, min(len(units), os.cpu_count() or 1))
    with ThreadPoolExecutor(jobs) as pool:
        built = list(pool.map(lambda i_u: _object(cxx, flags, i_u[1], objects / f"{i_u[0]}.o", cwd, root),
                              enumerate(units)))
    partial = binary.with_name(f".{binary.name}.{os.getpid()}")
    proc = run_tool([cxx, *link_flags, *map(str, built), "-o", str(partial)], cwd=cwd)
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        raise CompileFailed(None, proc.stdout + proc.stderr)
    os.replace(partial, binary)
    if root is not None:
        _trim(root, limit)


def _object(cxx: str, flags: Sequence[str], unit: Path, obj: Path, cwd: Path, root: Path | None) -> Path:
    """Write ``unit``'s object file to ``obj``: from the cache, or compiled and then stored there."""
    cached = None
    if root is not None:
        pre = run_tool([cxx, *flags, "-E", "-P", str(unit)], cwd=cwd)
        if pre.returncode != 0:
            raise CompileFailed(unit, pre.stdout + pre.stderr)
        key = hashlib.sha256("\0".join([_compiler_id(cxx), *flags, str(unit), pre.stdout]).encode()).hexdigest()
        cached = root / key[:2] / f"{key[2:]}.o"
        with contextlib.suppress(OSError):
            _copy(cached, obj)
            os.utime(cached)
            return obj
    obj.unlink(missing_ok=True)  # it may be a link into the cache, which the compiler must not overwrite
    proc = run_tool([cxx, *flags, "-c", str(unit), "-o", str(obj)], cwd=cwd)
    if proc.returncode != 0:
        raise CompileFailed(unit, proc.stdout + proc.stderr)
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            _copy(obj, cached)
        except OSError as e:  # a full or read-only cache costs speed, not the build
            log.warning("object cache %s: %s", root, e)
    return obj


def _copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` atomically (a hard link where the file system allows)."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _trim(root: Path, limit: int) -> None:
    """Remove the objects used longest ago until the cache holds at most TRIM_TO of ``limit`` bytes."""
    entries = []
    for path in root.glob("*/*.o"):
        with contextlib.suppress(OSError):
            st = path.stat()
            entries.append((st.st_mtime, st.st_size, path))
    total = sum(size for _, size, _ in entries)
    if total <= limit:
        return
    for _, size, path in sorted(entries):
        if total <= limit * TRIM_TO:
            break
        with contextlib.suppress(OSError):
            path.unlink()
            total -= size
