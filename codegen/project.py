"""Writing a generated project atomically: a temporary sibling folder, renamed into place."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

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
