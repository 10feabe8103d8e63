"""External commands the flow runs (g++, Verilator, the yowasp tools), found and run the same way everywhere."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
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


def run_tool(cmd: Sequence[str], cwd: str | Path | None = None,
             env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` to completion, capturing its output as text, in a process group of its own.

    When anything interrupts the wait (Ctrl-C, SIGTERM turned into an exception by the CLI, any
    other exception), the whole group is killed, so no compiler or simulator outlives the caller.
    """
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=None if env is None else dict(env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate()
    except BaseException:
        kill_group(proc)
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def kill_group(proc: subprocess.Popen) -> None:
    """Kill ``proc``'s process group (it leads one: ``start_new_session``) and reap ``proc``."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
