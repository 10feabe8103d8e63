"""Helpers shared by the readers and writers of user files: strict JSON, short values, the umask."""

from __future__ import annotations

import functools
import json
import math
import os
import re
from pathlib import Path
from typing import Any


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses a key seen twice in one object, NaN and Infinity, and numbers out of
    float range; raises ValueError (JSONDecodeError included), or RecursionError for deep nesting."""
    return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant, parse_float=_finite_float)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {brief(key)} appears twice in one object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"number {text[:40]} is out of range")
    return v


def brief(value: Any) -> str:
    """``repr(value)``, shortened to fit in a one-line message."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({type(value).__name__}, {len(text)} characters)"


@functools.cache
def umask() -> int:
    """The process's umask.

    Read from ``/proc/self/status`` where it is there: the portable way, setting a umask to learn
    the old one, briefly changes it for every thread of the process.
    """
    try:
        m = re.search(r"^Umask:\s*([0-7]+)$", Path("/proc/self/status").read_text(), re.MULTILINE)
        if m:
            return int(m.group(1), 8)
    except OSError:
        pass
    old = os.umask(0o077)
    os.umask(old)
    return old


def file_mode() -> int:
    """The mode a newly created file gets (``0o666`` less the umask)."""
    return 0o666 & ~umask()


def folder_mode() -> int:
    """The mode a newly created folder gets (``0o777`` less the umask)."""
    return 0o777 & ~umask()
