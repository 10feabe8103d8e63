"""The generated board top level in Verilator behind a simulated serial line (no board needed).

``build_boardsim(project)`` verilates ``board/<board>.v`` as it is generated (the UART, the command
decoder and the core), with ``CLKS_PER_BIT`` set small so that a UART byte costs few cycles, and
the behavioural EHXPLLL stand-in ``rtl/tb/ehxplll_sim.v`` in place of the ECP5 primitive; the
harness ``rtl/tb/tb_board.cpp`` turns the bits on ``ftdi_txd``/``ftdi_rxd`` into bytes on a TCP
socket on 127.0.0.1. ``SimulatedBoard`` runs it, so that ``BoardLevel`` (``wavebits.sim.board``)
opens ``socket://127.0.0.1:<port>`` as it would open ``/dev/ttyUSB0``::

    with SimulatedBoard(project) as board:
        report = check(BoardLevel(project, board.url), x, [8, 1, 4])
"""

from __future__ import annotations

import select
import subprocess
from pathlib import Path
from types import TracebackType

from wavebits.codegen.project import read_project
from wavebits.codegen.rtl import BOARD_SOURCES, BOARD_TOP, CORE_SOURCES, HEADER

from .csim import build_lock
from .rtlsim import RtlSimError, compile_verilator

SIM_CLKS_PER_BIT = 8
"""Clock cycles per UART bit in simulation (the board runs the core clock / 115200, e.g. 868)."""


def build_boardsim(project: Path, clks_per_bit: int = SIM_CLKS_PER_BIT) -> Path:
    """Verilate the project's board top level with its UART at ``clks_per_bit``; returns the harness.

    Rebuilds only when a Verilog source or the harness is newer than the binary; the memory images
    are read when the harness starts ($readmemh), so changing them needs only a restart.
    """
    if clks_per_bit < 4:
        raise ValueError(f"clks_per_bit must be >= 4 (the UART receiver samples in mid-bit), got {clks_per_bit}")
    project = Path(project).resolve()
    meta = read_project(project, "rtl")
    board = f"board/{meta['board']}.v"
    obj = project / f"obj_dir_board{clks_per_bit}"
    binary = obj / "Vboard"
    sources = [f"rtl/{name}" for name in (*CORE_SOURCES, *BOARD_SOURCES)] + ["rtl/tb/ehxplll_sim.v", "wavebits_top.v",
                                                                             board]
    bench = project / "rtl/tb/tb_board.cpp"
    with build_lock(project):
        inputs = (*sources, f"rtl/{HEADER}", "rtl/tb/tb_board.cpp", "project.json")
        newest = max((project / f).stat().st_mtime for f in inputs)
        if not binary.is_file() or binary.stat().st_mtime < newest:
            compile_verilator(project, BOARD_TOP, sources, bench, obj, binary,
                              defines={"WB_CLKS_PER_BIT": clks_per_bit}, params={"CLKS_PER_BIT": clks_per_bit})
    return binary


class SimulatedBoard:
    """The simulated board, serving its UART on ``url`` (``socket://127.0.0.1:PORT``) while open.

    A context manager: entering builds the harness if needed and starts it, leaving stops it. One
    client at a time; between clients the simulation waits with its state kept, like a board.
    """

    def __init__(self, project: Path, clks_per_bit: int = SIM_CLKS_PER_BIT, start_timeout: float = 60.0) -> None:
        self.project = Path(project)
        self.clks_per_bit = clks_per_bit
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.stats = ""  # the harness's last line on exit: cycles, frames each way, framing errors
        self._proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        """The pyserial URL of the simulated serial line."""
        if self.port is None:
            raise RuntimeError("the simulated board is not running")
        return f"socket://127.0.0.1:{self.port}"

    def start(self) -> SimulatedBoard:
        """Build (if needed) and start the harness; returns once it listens."""
        binary = build_boardsim(self.project, self.clks_per_bit)
        proc = subprocess.Popen([str(binary), "0"], cwd=self.project, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self._proc = proc
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], self.start_timeout)
        line = proc.stdout.readline() if ready else ""
        fields = line.split()
        if len(fields) != 3 or fields[0] != "listening":
            self.stop()
            raise RtlSimError(f"{self.project}: the board harness did not start (said {line.strip()!r}; "
                              f"stderr: {self.stats!r})")
        self.port = int(fields[2])
        return self

    def stop(self) -> None:
        """Stop the harness (the process this object started) and keep its statistics line."""
        proc, self._proc, self.port = self._proc, None, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        self.stats = err.strip().splitlines()[-1] if err.strip() else ""

    def __enter__(self) -> SimulatedBoard:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

