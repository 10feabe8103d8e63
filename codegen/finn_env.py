"""FINN without Vivado: the one place that stands in for what finn-plus expects from a Xilinx install.

finn-plus (installed beside wavebits: README, "FINN users") is written to run inside its own launcher
(``run_finn.py``) on a machine with Vivado. Three things it takes from there are missing here, and
``finn_session`` provides them before any FINN module is imported:

- ``xsi``: every hardware-layer module imports ``finn_xsi.sim_engine``, which imports ``xsi``, the
  Python binding that FINN compiles against Vivado's XSI simulator. Without Vivado the binding does
  not exist, so ``xsi`` is registered as a module that refuses every use by name. Nothing wavebits
  runs needs it: FINN's Python execution of its hardware layers does not simulate, and FINN's own
  RTL simulation (the only user of XSI) is not reachable without Vivado anyway.
- ``FINN_XSI``: where FINN looks for that binding once built; ``finn.xsi`` reads it on import and,
  finding nothing there, tries to build the binding (which fails without Vivado, printing why). It
  is pointed at an empty folder and the import's printing goes to the debug log.
- ``FINN_BUILD_DIR``: FINN writes generated code under it and refuses to start without it.
- the global settings object, which ``run_finn.py`` creates; FINN offers
  ``initialize_dummy_settings`` for transformations run outside its launcher.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import types
from contextlib import redirect_stdout
from pathlib import Path

from wavebits.errors import WavebitsError

log = logging.getLogger(__name__)

FINN_VERSION = "1.4.0"
"""The finn-plus release wavebits runs with: the last one on numpy 1.x and onnx 1.17."""


class _NoXsi(types.ModuleType):
    """Stands for Vivado's ``xsi`` binding: importable, and an error on any use."""

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        raise WavebitsError(f"FINN asked Vivado's XSI simulator for {name!r}: FINN's RTL simulation needs Vivado, "
                            "which this machine does not have (wavebits simulates FINN's Verilog with Verilator)")


def finn_session(build_dir: Path) -> None:
    """Make finn-plus importable and runnable without Vivado; FINN writes under ``build_dir``.

    Idempotent; a clear error if finn-plus is not installed.
    """
    try:
        import finn
    except ImportError as e:
        raise WavebitsError(f"FINN is not installed ({e}): the finn level needs finn-plus {FINN_VERSION} "
                            "(README, 'FINN users')") from e
    build_dir = Path(build_dir)
    (build_dir / "no-xsi").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("FINN_BUILD_DIR", str(build_dir))
    os.environ.setdefault("FINN_XSI", str(build_dir / "no-xsi"))
    try:
        import xsi  # noqa: F401
    except ImportError:
        sys.modules["xsi"] = _NoXsi("xsi")
    printed = io.StringIO()
    with redirect_stdout(printed):
        import finn.core.rtlsim_exec
        import finn.custom_op.fpgadataflow
        import finn.custom_op.fpgadataflow.rtlbackend
        import finn.xsi  # noqa: F401  (these print, on import, why they cannot load the XSI binding)
        from finn.util import settings

        if settings._SETTINGS is None:
            settings.initialize_dummy_settings()
    if printed.getvalue().strip():
        log.debug("FINN on import: %s", printed.getvalue().strip())
    logging.getLogger("finn_logger").setLevel(logging.ERROR)  # FINN's layout notes: not the user's concern
