"""Machine-readable reports: every ``--json FILE`` writes one object through ``write_json``.

Each report carries ``schema_version`` (bumped on any incompatible change) and ``kind``; the
fields of every kind are documented in ``docs/reports.md``.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import WavebitsError

SCHEMA_VERSION = 3


def report(kind: str, **fields: Any) -> dict[str, Any]:
    """A report object: ``schema_version``, ``kind``, then ``fields``."""
    return {"schema_version": SCHEMA_VERSION, "kind": kind, **fields}


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as indented JSON, atomically and with the user's umask."""
    from .bank.io import atomic_write_bytes

    path = Path(path)
    try:
        atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode())
    except OSError as e:
        raise WavebitsError(f"{path}: cannot write the JSON report ({e.strerror or e})") from None
    return path


def publish(text: str, out: Path | None) -> None:
    """Print a benchmark's tables and, with ``out``, write them there too (atomically, folders made)."""
    from .bank.io import atomic_write_bytes

    print(text)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(out), text.encode())


def command_line(root: Path) -> str:
    """The command that is running, as typed from ``root`` (a benchmark's reproduce line): the
    interpreter as ``python``, and paths inside ``root`` relative to it."""

    def from_root(arg: str) -> str:
        path = Path(arg)
        if path.is_absolute():
            try:
                return str(path.resolve().relative_to(root.resolve()))
            except ValueError:
                return arg
        return arg

    return shlex.join(["python", *map(from_root, sys.argv)])


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A benchmark's temporary work folder: removed when the block finishes, kept when it raises
    (named on stderr), so that the tools' logs of a failed run can still be read."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    except BaseException:
        print(f"kept the work folder {work} for its logs", file=sys.stderr)
        raise
    shutil.rmtree(work, ignore_errors=True)
