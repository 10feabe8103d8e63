"""External commands the flow runs (g++, Verilator, the yowasp tools), found the same way everywhere."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .errors import WavebitsError


def find_tool(name: str, hint: str) -> str:
    """``name`` from PATH or from this Python's own bin folder (an unactivated virtual environment).

    A missing tool is a WavebitsError naming it and ``hint`` (how to install it).
    """
    path = shutil.which(name)
    if path is not None:
        return path
    local = Path(sys.executable).parent / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    raise WavebitsError(f"{name} not found on PATH ({hint})")
