"""The board in the loop: the host driver of the board top level's UART protocol (``BoardLevel``),
`wavebits verify --backend board`, against a Python stand-in of the protocol with injected faults and
against the Verilated board top level behind a simulated serial line (bits on its UART pins)."""

import json
import re
import shutil
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest
from wavebits.codegen.project import read_vectors
from wavebits.codegen.rtl import write_rtl_project
from wavebits.sim.board import BoardError, BoardLevel, decode_outputs, encode_input
from wavebits.sim.golden import GoldenModel
from wavebits.sim.parity import WIDTH_TAG, check

from wavebits.bank import synth_bank, write_bank
from wavebits.bank.io import read_bank

SWITCHING = [8, 1, 7, 2, 6, 3, 5, 4, 8, 4, 1]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "wavebits.cli", "-q", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """An RTL project of a tiny bank (an MLP on 8x8 inputs, every width 8..1), banked weights."""
    bank = synth_bank("mlp", seed=0)
    return write_rtl_project(bank, tmp_path_factory.mktemp("board") / "mlp", "banked", lanes=4)


@pytest.fixture(scope="module")
def vectors(project):
    return read_vectors(project, synth_bank("mlp", seed=0).input_shape)[:4]


class FakeBoard:
    """The board's side of the protocol in Python on a loopback socket, with faults to inject.

    Answers every complete input with the golden model's outputs at the live width. ``ignore`` is a
    width whose writes it ignores (as the core does for a width its bitstream lacks), ``tag`` a
    width byte sent instead of the true one, ``cut`` the number of bytes after which it falls
    silent, ``extra`` bytes sent after every answer. OUT_BYTES is read from the generated board top.
    """

    def __init__(self, project, ignore=None, tag=None, cut=None, extra=b""):
        meta = json.loads((project / "project.json").read_text())
        top = (project / "board" / f"{meta['board']}.v").read_text()
        self.out_bytes = int(re.search(r"\.OUT_BYTES\((\d+)\)", top).group(1))
        self.bank = read_bank(project / "bank.wbank")
        self.golden = GoldenModel(self.bank)
        self.ignore, self.tag, self.cut, self.extra = ignore, tag, cut, extra
        self.width = max(self.bank.widths)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                self._session(conn)

    def _answer(self, values):
        x = np.array(values).reshape(1, *self.bank.input_shape)
        out = self.golden.logits(x, self.width)[0].reshape(-1)
        tag = self.width if self.tag is None else self.tag
        return b"".join(int(v).to_bytes(self.out_bytes, "little", signed=True) + bytes([tag]) for v in out)

    def _session(self, conn):
        n = int(np.prod(self.bank.input_shape))
        values, command, sent = [], None, 0
        while chunk := conn.recv(4096):
            for byte in chunk:
                if command is None:
                    command = chr(byte) if chr(byte) in "WI" else None
                    continue
                if command == "W" and byte != self.ignore:
                    self.width = byte
                elif command == "I":
                    values.append(byte)
                    if len(values) == n:
                        answer = self._answer(values) + self.extra
                        values = []
                        if self.cut is not None:
                            answer = answer[:max(0, self.cut - sent)]
                        conn.sendall(answer)
                        sent += len(answer)
                command = None

    def close(self):
        self.server.close()


@pytest.fixture
def fake(project):
    boards = []

    def make(**faults):
        boards.append(FakeBoard(project, **faults))
        return boards[-1]

    yield make
    for b in boards:
        b.close()


def test_decode_outputs_sign_extends_and_refuses_bytes_out_of_step():
    data = bytes([0xFD, 0xFF, 4, 0xFF, 0x00, 4])  # -3 and 255 as 9-bit values in 2 bytes, width 4
    values, tags = decode_outputs(data, out_w=9, out_bytes=2)
    assert values.tolist() == [-3, 255] and tags.tolist() == [4, 4]
    with pytest.raises(BoardError, match="not a sign-extended 9-bit value"):
        decode_outputs(bytes([0x00, 0x01, 4]), out_w=9, out_bytes=2)  # 256
    with pytest.raises(BoardError, match="width byte 0x09 is no width"):
        decode_outputs(bytes([0x01, 0x00, 9]), out_w=9, out_bytes=2)
    assert encode_input(np.array([[1, 255]])) == b"I\x01I\xff"


def test_board_level_equals_the_golden_model_through_the_protocol(project, vectors, fake):
    level = BoardLevel(project, fake().url)
    assert level.layers == (level.bank.output,) and level.weights == "banked"
    report = check(level, vectors[np.arange(len(SWITCHING)) % len(vectors)], SWITCHING)
    assert report.ok and report.first is None and report.values_compared == 10 * len(SWITCHING), report.text()
    assert [inf.tag for inf in level.run(vectors[:2], [3, 6])] == [3, 6]


def test_a_width_the_board_ignores_is_reported_by_its_tag(project, vectors, fake):
    report = check(BoardLevel(project, fake(ignore=4).url), vectors[:3], [8, 4, 8])
    assert not report.ok and report.mismatched_inferences == 1, report.text()
    first = report.first
    assert (first.layer, first.inference, first.expected, first.got) == (WIDTH_TAG, 1, 4, 8)


def test_bytes_out_of_step_are_errors(project, vectors, fake):
    with pytest.raises(BoardError, match=r"no width 1\.\.8: the byte stream is out of step"):
        BoardLevel(project, fake(tag=0x41).url).run(vectors[:1], [8])
    with pytest.raises(BoardError, match="more bytes than expected after the last inference"):
        board = fake(extra=b"\x00")
        BoardLevel(project, board.url).run(vectors[:1], [8])
    with pytest.raises(BoardError, match="before inference 1"):
        BoardLevel(project, board.url).run(vectors[:2], [8])


def test_a_silent_board_times_out_naming_the_bytes_that_arrived(project, vectors, fake):
    level = BoardLevel(project, fake(cut=7).url, timeout=0.3)
    need = level.outputs * (level.out_bytes + 1)
    with pytest.raises(BoardError, match=rf"inference 0 \(width 2\): timed out after .* with 7 of {need} output bytes"):
        level.run(vectors[:1], [2])


def test_ports_that_cannot_be_opened_and_bad_settings(project, vectors):
    with pytest.raises(BoardError, match="/dev/ttyWB-none: cannot open the serial port"):
        BoardLevel(project, "/dev/ttyWB-none").run(vectors[:1], [8])
    with socket.create_server(("127.0.0.1", 0)) as s:
        closed = s.getsockname()[1]
    with pytest.raises(BoardError, match="cannot open the serial port"):
        BoardLevel(project, f"socket://127.0.0.1:{closed}").run(vectors[:1], [8])
    with pytest.raises(BoardError, match="--baud"):
        BoardLevel(project, "/dev/ttyUSB0", baud=0)


def test_cli_board_options_are_checked(project, tmp_path):
    bank = tmp_path / "m.wbank"
    write_bank(synth_bank("mlp", seed=0), bank)
    for args, message in ((["--backend", "board"], "needs --port"),
                          (["--port", "/dev/ttyUSB0"], "apply to --backend board only"),
                          (["--baud", "9600"], "which needs --port"),
                          (["--backend", "board", "--port", "/dev/ttyUSB0", "--weights", "reconstruct"],
                           "built with banked weights"),
                          (["--backend", "board", "--port", "/dev/ttyWB-none"], "cannot open the serial port")):
        r = run_cli("verify", str(project), *args)
        assert r.returncode == 2 and r.stderr.startswith("error:") and message in r.stderr, (args, r.stderr)
    r = run_cli("verify", str(bank), "--backend", "board", "--port", "/dev/ttyUSB0")
    assert r.returncode == 2 and "is a bank; give the RTL project" in r.stderr, r.stderr


# ---------------------------------------------------------------- the Verilated board top level


@pytest.fixture(scope="module")
def simulated(project):
    from wavebits.sim.boardsim import SimulatedBoard

    with SimulatedBoard(project) as board:
        yield board


@pytest.mark.verilator
def test_simulated_board_at_every_width_and_switching(project, vectors, simulated):
    level = BoardLevel(project, simulated.url, timeout=30)
    widths = list(level.bank.widths)
    report = check(level, np.concatenate([vectors] * len(widths)), [b for b in widths for _ in vectors])
    assert report.ok and report.first is None and sorted(report.per_width) == sorted(widths), report.text()
    report = check(level, vectors[np.arange(len(SWITCHING)) % len(vectors)], SWITCHING)
    assert report.ok and report.switches == len(SWITCHING) - 1 and report.values_compared == 10 * len(SWITCHING)


@pytest.mark.verilator
def test_cli_verify_backend_board_on_the_simulated_board(project, simulated, tmp_path):
    out = tmp_path / "r.json"
    r = run_cli("verify", str(project), "--backend", "board", "--port", simulated.url, "--random", "3",
                "--schedule", "8,1,5,2", "--timeout", "30", "--json", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS" in r.stdout and "0 mismatches" in r.stdout
    rep = json.loads(out.read_text())
    level = rep["levels"][0]
    assert rep["ok"] and level["level"] == "board" and level["weights"] == "banked" and level["values_differing"] == 0
    assert level["inferences"] == 3 * 8 + 4


@pytest.mark.verilator
def test_a_corrupted_memory_image_on_the_simulated_board_is_reported(project, vectors, simulated, tmp_path):
    from wavebits.sim.boardsim import SimulatedBoard

    bad = shutil.copytree(project, tmp_path / "bad")  # with the built harness: no rebuild
    hexfile = bad / "mem" / "weights_b8.hex.0"
    lines = hexfile.read_text().splitlines()
    # one row of 8-bit weights (a kernel tap and channel word of one group of lanes): invert every bit
    lines[27] = "".join(f"{int(c, 16) ^ 0xF:x}" for c in lines[27])
    hexfile.write_text("\n".join(lines) + "\n")
    with SimulatedBoard(bad) as board:
        report = check(BoardLevel(bad, board.url, timeout=30), vectors, [8, 1])
        assert not report.ok and report.first.layer == "fc3" and report.first.bits == 8, report.text()
        assert report.per_width[1].mismatched == 0  # only the 8-bit weights were corrupted
        r = run_cli("verify", str(bad), "--backend", "board", "--port", board.url, "--bits", "8", "--schedule", "",
                    "--timeout", "30")
        assert r.returncode == 1 and "FAIL: board" in r.stdout, r.stdout + r.stderr
    assert board.stats.endswith("framing_errors 0")


@pytest.mark.slow
@pytest.mark.verilator
def test_simulated_board_in_reconstruct_mode(tmp_path, vectors):
    from wavebits.sim.boardsim import SimulatedBoard

    project = write_rtl_project(synth_bank("mlp", seed=0), tmp_path / "r", "reconstruct", lanes=4)
    with SimulatedBoard(project) as board:
        report = check(BoardLevel(project, board.url, timeout=30), vectors[np.arange(len(SWITCHING)) % 4], SWITCHING)
    assert report.ok and report.weights == "reconstruct" and report.first is None, report.text()
