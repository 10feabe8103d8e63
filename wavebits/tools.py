"""External commands the flow runs (g++, Verilator, the yowasp tools), found the same way everywhere."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .errors import WavebitsError


def find_tool(name: str, hint: str) -> str:
    """``name`` from PATH or from this Python's own bin folder (an unactivated virtual environment).

    A missing tool is a WavebitsError naming it and ``hint`` (how to install it).
    """
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        raise WavebitsError(f"{name} not found on PATH ({hint})")
    return path
