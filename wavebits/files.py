"""File-system helpers shared by the writers: the process's umask, read once and safely."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path


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
