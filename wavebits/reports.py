"""Machine-readable reports: every ``--json FILE`` writes one object through ``write_json``.

Each report carries ``schema_version`` (bumped on any incompatible change) and ``kind``; the
fields of every kind are documented in ``docs/reports.md``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import WavebitsError

SCHEMA_VERSION = 1


def report(kind: str, **fields: Any) -> dict[str, Any]:
    """A report object: ``schema_version``, ``kind``, then ``fields``."""
    return {"schema_version": SCHEMA_VERSION, "kind": kind, **fields}


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as indented JSON, atomically (a temporary sibling renamed into place)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        os.replace(tmp, path)
    except OSError as e:
        raise WavebitsError(f"{path}: cannot write the JSON report ({e.strerror or e})") from None
    return path
