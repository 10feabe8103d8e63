"""The board in the loop: a host driver for the board top level's UART (``hw/rtl/wb_board_uart.v``).

``BoardLevel(project, port)`` is the execution level ``board`` (``wavebits verify --backend board
--port /dev/ttyUSB0``): it streams inputs to a board running the bitstream built from the RTL
``project``, writes the width register along the schedule, and reads the output layer back. The
protocol, byte by byte (8N1, 115200 baud on the ULX3S's FTDI port):

- host to board: ``'W' b`` writes the width register (``b`` = 1..8 as one byte); ``'I' v`` gives
  one input value ``v`` (uint8), so an input of n values is n such pairs, in (C, H, W) order;
- board to host, for every output value: ``OUT_BYTES`` bytes, the ``OUT_W``-bit signed value
  sign-extended and little endian, then one byte with the width it was computed at. An inference
  gives as many values as the output layer has (``project.json``: ``outputs``), in (H, W, C) order.
  ``OUT_W`` is the project's ``params.OUT_W``; ``OUT_BYTES = OUT_W // 8 + 1``
  (``wavebits.codegen.rtl.out_bytes``).

Nothing flows back toward the host: the command decoder holds one input value until the core takes
it, and the core takes input only between inferences, so the driver keeps one inference in flight
(it sends an input once every output of the previous one has arrived). A width written between
inferences is live for the next one (in reconstruct mode the core waits for the rebuild). The board
answers nothing else: a width its bitstream lacks lights ``cfg_error`` on an LED and is ignored,
which shows here as outputs tagged with the old width (the checker reports the tag).

This driver has been run against the Verilated board top level behind a simulated serial line
(``wavebits.sim.boardsim``), not against a physical board.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wavebits.bank.io import read_bank
from wavebits.errors import WavebitsError

from .golden import GoldenModel
from .parity import Inference, widths_for

BAUD = 115200
TIMEOUT_S = 5.0
"""Seconds an inference may take beyond its bytes' time on the line before the driver gives up."""


class BoardError(WavebitsError):
    """A serial port that cannot be used, a board that does not answer, or bytes out of step."""


def _serial() -> Any:
    try:
        import serial
    except ImportError:
        raise BoardError("--backend board needs pyserial: pip install 'wavebits[board]' (or pip install pyserial)"
                         ) from None
    return serial


def decode_outputs(data: bytes, out_w: int, out_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """One inference's bytes -> (values, width tags), one of each per output value.

    Raises ``BoardError`` where the bytes cannot be what the board sends (a tag byte that is no
    width, a value that is not sign-extended from ``out_w`` bits): the stream is out of step.
    """
    record = out_bytes + 1
    if len(data) % record:
        raise BoardError(f"{len(data)} bytes are not whole output values of {record} bytes")
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, record)
    tags = rows[:, -1].astype(np.int64)
    bad = np.flatnonzero((tags < 1) | (tags > 8))
    if len(bad):
        raise BoardError(f"output value {bad[0]}: width byte 0x{tags[bad[0]]:02x} is no width 1..8: the byte stream "
                         "is out of step (another bitstream, baud rate or project?)")
    values = np.array([int.from_bytes(row[:out_bytes].tobytes(), "little", signed=True) for row in rows],
                      dtype=np.int64)
    lo, hi = -(1 << (out_w - 1)), (1 << (out_w - 1)) - 1
    wide = np.flatnonzero((values < lo) | (values > hi))
    if len(wide):
        raise BoardError(f"output value {wide[0]}: {values[wide[0]]} is not a sign-extended {out_w}-bit value: the "
                         "byte stream is out of step (another bitstream, baud rate or project?)")
    return values, tags


def encode_input(x: np.ndarray) -> bytes:
    """One input as the board takes it: ``'I' v`` for every value, in (C, H, W) order."""
    flat = np.asarray(x).reshape(-1).astype(np.uint8)
    out = np.empty(2 * len(flat), dtype=np.uint8)
    out[0::2] = ord("I")
    out[1::2] = flat
    return out.tobytes()


def encode_width(bits: int) -> bytes:
    """The width register write ``'W' bits``."""
    return bytes((ord("W"), bits))


class BoardLevel:
    """A board running the bitstream of an RTL project, over its serial port: the output layer.

    ``port`` is a device (``/dev/ttyUSB0``, ``COM3``) or any pyserial URL (``socket://host:port``,
    ``rfc2217://...``); the port is opened for each ``run`` and closed after it. ``timeout`` is how
    many seconds an inference may take beyond the time its bytes need on the line. Picklable (no
    open port is kept), but one board serves one process: ``verify`` runs it serially.
    """

    name = "board"

    def __init__(self, project: Path, port: str, baud: int = BAUD, timeout: float = TIMEOUT_S) -> None:
        from wavebits.codegen.project import read_project
        from wavebits.codegen.rtl import out_bytes

        self.project = Path(project)
        meta = read_project(self.project, "rtl")
        self.bank = read_bank(self.project / "bank.wbank")
        self.weights: str = meta["weights"]
        self.layers = (self.bank.output,)
        self.out_w = int(meta["params"]["OUT_W"])
        self.out_bytes = out_bytes(self.out_w)
        self.outputs = int(meta["outputs"])
        if baud < 1:
            raise BoardError(f"--baud must be >= 1, got {baud}")
        if timeout <= 0:
            raise BoardError(f"--timeout must be > 0 seconds, got {timeout}")
        self.port, self.baud, self.timeout = port, baud, timeout

    def prepare(self) -> None:
        """Nothing to build: the board holds its bitstream."""

    def expected_exact(self, bits: int) -> bool:
        return True

    def _open(self) -> Any:
        serial = _serial()
        try:
            return serial.serial_for_url(self.port, baudrate=self.baud, timeout=self.timeout,
                                         write_timeout=self.timeout)
        except (serial.SerialException, ValueError, OSError) as e:
            raise BoardError(f"{self.port}: cannot open the serial port ({e})") from None

    def _line_s(self, n_bytes: int) -> float:
        """Seconds ``n_bytes`` take on the line (10 bits a byte)."""
        return 10 * n_bytes / self.baud

    def run(self, x: np.ndarray, schedule: Sequence[int]) -> list[Inference]:
        """Run ``x[k]`` at ``schedule[k % len(schedule)]``, one inference in flight; a width is written
        before the first inference and wherever the schedule changes it."""
        serial = _serial()
        x = GoldenModel(self.bank).check_input(x)
        widths = widths_for(len(x), schedule)
        for b in set(widths):
            self.bank.check_width(b)
        shape = self.bank.shapes[self.bank.output]
        out: list[Inference] = []
        port = self._open()
        try:
            port.reset_input_buffer()
            live = None
            for k, (xi, b) in enumerate(zip(x, widths, strict=True)):
                self._no_stray_bytes(port, f"before inference {k}")
                command = (encode_width(b) if b != live else b"") + encode_input(xi)
                live = b
                port.write_timeout = self.timeout + self._line_s(len(command))
                port.write(command)
                data = self._read(port, k, b, len(command))
                values, tags = decode_outputs(data, self.out_w, self.out_bytes)
                if (tags != tags[0]).any():
                    raise BoardError(f"{self.port}: inference {k} (width {b}): its outputs carry widths "
                                     f"{sorted(set(tags.tolist()))}; one inference has one width")
                out.append(Inference(b, {self.bank.output: _layer(values, shape)}, tag=int(tags[0])))
            self._no_stray_bytes(port, "after the last inference")
        except serial.SerialTimeoutException:
            raise BoardError(f"{self.port}: writing to the serial port timed out (more than {self.timeout:g} s beyond "
                             "the bytes' time on the line)") from None
        except serial.SerialException as e:
            raise BoardError(f"{self.port}: the serial port failed ({e})") from None
        finally:
            port.close()
        return out

    def _read(self, port: Any, k: int, bits: int, sent: int) -> bytes:
        """One inference's output bytes, or ``BoardError`` naming how many arrived in time."""
        need = self.outputs * (self.out_bytes + 1)
        allowed = self.timeout + self._line_s(sent + need)
        start = time.monotonic()
        data = bytearray()
        while len(data) < need:
            left = allowed - (time.monotonic() - start)
            if left <= 0:
                raise BoardError(
                    f"{self.port}: inference {k} (width {bits}): timed out after {allowed:.1f} s with {len(data)} of "
                    f"{need} output bytes ({self.outputs} values of {self.out_bytes} bytes and a width byte); is the "
                    f"board running this project's bitstream at {self.baud} baud? (An interrupted run can leave a "
                    f"partial input in the board: reload the bitstream.)")
            port.timeout = left
            data += port.read(need - len(data))
        return bytes(data)

    def _no_stray_bytes(self, port: Any, where: str) -> None:
        """Between inferences the board must be silent: more bytes mean the stream is out of step."""
        if port.in_waiting:
            raise BoardError(f"{self.port}: the board sent more bytes than expected {where} "
                             f"({self.outputs} output values of {self.out_bytes + 1} bytes each per inference); "
                             f"is the board running this project's bitstream?")

    def __repr__(self) -> str:
        return f"BoardLevel({str(self.project)!r}, {self.port!r}, baud={self.baud})"


def _layer(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The output stream ((H, W, C) order for a 3-D layer) in the golden model's layout."""
    if len(shape) == 3:
        return values.reshape(shape[1], shape[2], shape[0]).transpose(2, 0, 1)
    return values.reshape(shape)
