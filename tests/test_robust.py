"""Bad input of every kind: one typed error naming the file and field, bounded memory, nothing left behind."""

import io
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import tomllib
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import load_benchmark
from wavebits.codegen.hls import write_hls_project
from wavebits.codegen.project import load_project, read_project, write_tree
from wavebits.codegen.rtl import write_rtl_project

from wavebits import cli
from wavebits.bank import read_bank, synth_bank, write_bank
from wavebits.bank.io import MAX_TENSOR_ELEMENTS, atomic_write_bytes
from wavebits.errors import BankError, WavebitsError
from wavebits.tools import run_tool

ROOT = Path(__file__).resolve().parents[1]


fuzz = load_benchmark("fuzz")


@pytest.fixture(scope="module")
def mlp_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("mlp") / "mlp.wbank"
    write_bank(synth_bank("mlp", seed=0, widths=(8, 2, 1)), path)
    return path.read_bytes()


def _members(raw: bytes) -> list[tuple[str, bytes]]:
    return fuzz.members(raw)


def _header(raw: bytes) -> dict:
    return json.loads(dict(_members(raw))["header.json"])


def _bank(tmp_path: Path, entries, name: str = "bad.wbank") -> Path:
    path = tmp_path / name
    path.write_bytes(fuzz.zip_bytes(entries) if isinstance(entries, list) else entries)
    return path


def _with_header(raw: bytes, text: bytes | dict) -> list:
    body = text if isinstance(text, bytes) else json.dumps(text).encode()
    return [fuzz.entry(n, body if n == "header.json" else d) for n, d in _members(raw)]


def _expect(path: Path, *fragments: str, peak_mib: float = 32) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(BankError) as e:
            read_bank(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(e.value)
    assert msg.startswith(str(path)) and "\n" not in msg, msg
    for f in fragments:
        assert f in msg, msg
    assert peak < peak_mib * 2**20, f"{peak / 2**20:.1f} MiB to refuse {path.name}"


# ---------------------------------------------------------------- zip layer


def test_zip_oddities_are_bank_errors(tmp_path, mlp_bytes):
    def patched(**fields):
        entries = [fuzz.entry(n, d) for n, d in _members(mlp_bytes)]
        e = next(e for e in entries if e.name == b"fc1/w8.npy")
        for k, v in fields.items():
            setattr(e, k, v)
        return entries

    _expect(_bank(tmp_path, patched(flags=1)), "fc1/w8.npy", "encrypted")
    _expect(_bank(tmp_path, patched(method=14)), "fc1/w8.npy", "compression method 14")
    _expect(_bank(tmp_path, patched(version=99)), "file", "zip file version 9.9")
    _expect(_bank(tmp_path, patched(crc=123)), "fc1/w8.npy", "corrupted member")
    _expect(_bank(tmp_path, patched(flags=0x800, name=b"fc1/\xff.npy")), "file", "not a readable bank")
    entries = [fuzz.entry(n, d) for n, d in _members(mlp_bytes)]
    _expect(_bank(tmp_path, [*entries, entries[3]]), entries[3].name.decode(), "duplicate member")
    for name in ("notes.txt", "fc1/", "fc1/w9.npy", "../x.npy"):
        _expect(_bank(tmp_path, [*entries, fuzz.entry(name, b"x")]), name, "unexpected member")
    _expect(_bank(tmp_path, [*entries, fuzz.entry("ghost/LL.npy", dict(_members(mlp_bytes))["fc1/LL.npy"])]),
            "ghost/LL.npy", "not an array this header describes")
    many = [*entries, *(fuzz.entry(f"x{i}/LL.npy", b"", method=0) for i in range(30000))]
    _expect(_bank(tmp_path, many), "file", "members")
    _expect(_bank(tmp_path, [e for e in entries if e.name != b"header.json"]), "header.json", "missing")


def test_zip_bombs_are_refused_without_growing(tmp_path, mlp_bytes):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(1 << 20)
    bomb = b"".join(c.compress(zeros) for _ in range(512)) + c.flush()  # 512 MiB in about 0.5 MB
    crc = 0
    for _ in range(512):
        crc = zlib.crc32(zeros, crc)
    for target in (b"fc1/w8.npy", b"header.json"):
        for declared in (512 << 20, 1000):  # honest, and lying small
            entries = [fuzz.entry(n, d) for n, d in _members(mlp_bytes)]
            i = next(k for k, e in enumerate(entries) if e.name == target)
            entries[i] = fuzz.Entry(target, bomb, crc, declared)
            _expect(_bank(tmp_path, entries), target.decode(), peak_mib=16)


# ---------------------------------------------------------------- header.json


def test_header_json_is_strict(tmp_path, mlp_bytes):
    text = dict(_members(mlp_bytes))["header.json"]
    cases = {
        b'{"format": "x", ' + text[1:]: "appears twice",
        text.replace(b'"classes": 10', b'"classes": NaN'): "NaN",
        text.replace(b'"classes": 10', b'"classes": 1e999'): "out of range",
        text.replace(b'"mlp"', b'"ml\xff"'): "not UTF-8",
        text.replace(b'"classes": 10', b'"classes": ' + b"[" * 5000 + b"]" * 5000): "nested deeper",
        text.replace(b'"classes": 10', b'"classes": ' + b"[" * 40 + b"]" * 40): "nested deeper",
        text.replace(b'"classes": 10', b'"classes": 1' + b"0" * 5000): "not valid JSON",
        text + b" " * (9 << 20): "more than",
    }
    for body, fragment in cases.items():
        _expect(_bank(tmp_path, _with_header(mlp_bytes, body)), "header.json", fragment)


@pytest.mark.parametrize("edit, fragments", [
    (lambda h: h.update(version=True), ("version", "True")),
    (lambda h: h.update(classes=10.0), ("classes", "10.0")),
    (lambda h: h.update(extra=1), ("extra", "unknown field")),
    (lambda h: h["input"].update(zero_point=1), ("input.zero_point", "unknown field")),
    (lambda h: h["input"].update(scale=0), ("input.scale", "positive")),
    (lambda h: h["input"].update(signed=1), ("input.signed", "true or false")),
    (lambda h: h["layers"][1]["weights"].update(note="x"), ("weights.note", "unknown field")),
    (lambda h: h["layers"][1]["weights"]["widths"].update({"4": {}}), ("widths.4", "not a width of this bank")),
    (lambda h: h["layers"][1]["weights"]["widths"]["8"].update(x=0), ("widths.8.x", "unknown field")),
    (lambda h: h["layers"][1]["weights"]["widths"]["8"]["scales"].update(XX=[]), ("scales.XX", "unknown field")),
    (lambda h: h["layers"][1]["weights"]["widths"]["8"]["scales"].update(LL=[[1.0, 0]]), ("scales.LL", "terms")),
    (lambda h: h["layers"][1]["requant"].update({"5": {"shift": 1}}), ("requant.5", "not a width of this bank")),
    (lambda h: h["layers"][1]["requant"]["8"].update(mul=1), ("requant.8.mul", "unknown field")),
    (lambda h: h["layers"][0].update(out_channels=3),
     ("layers[0] 'flatten'.out_channels", "unknown field for a flatten")),
    (lambda h: h["layers"][1].update(name="fc1\n"), ("layers[1]", "an identifier")),
    (lambda h: h.update(name="mlp\n"), ("name", "printable")),
    (lambda h: h.update(widths=[8, 2, 1, 9]), ("widths", "1..8")),
    (lambda h: h.update(widths=[8, 2]), ("widths.1", "not a width of this bank")),
    (lambda h: h["input"].update(shape=[1, 60000, 60000]), ("input.shape", str(MAX_TENSOR_ELEMENTS))),
    (lambda h: h.update(layers=h["layers"] * 600), ("layers", "at most")),
    (lambda h: h["layers"][1].update(out_channels=1 << 20), ("weights", "more than")),
])
def test_header_schema(tmp_path, mlp_bytes, edit, fragments):
    header = _header(mlp_bytes)
    edit(header)
    _expect(_bank(tmp_path, _with_header(mlp_bytes, header)), *fragments)


# ---------------------------------------------------------------- npy members


def _with_npy(raw: bytes, name: str, blob: bytes) -> list:
    return [fuzz.entry(n, blob if n == name else d) for n, d in _members(raw)]


def test_npy_headers_are_checked_before_allocating(tmp_path, mlp_bytes):
    arr = np.lib.format.read_array(io.BytesIO(dict(_members(mlp_bytes))["fc1/w8.npy"]))
    good = {"descr": "|i1", "fortran_order": False, "shape": arr.shape}
    data = arr.tobytes()
    cases = [
        ({**good, "shape": (2**40,)}, data, "expected shape (64, 64), got (1099511627776,)"),
        ({**good, "shape": (2**62, 2**62)}, data, "expected shape"),
        ({**good, "descr": "<i8"}, data, "expected dtype int8, got int64"),
        ({**good, "descr": "|O"}, data, "expected dtype int8, got object"),
        ({**good, "fortran_order": True}, data, "Fortran"),
        ({**good, "shape": (True, 64)}, data, "not a tuple of integers"),
        (good, data[:-1], "truncated"),
        (good, data + b"\0", "beyond"),
        (good, data + bytes(1 << 20), "declares"),
    ]
    for hdr, payload, fragment in cases:
        _expect(_bank(tmp_path, _with_npy(mlp_bytes, "fc1/w8.npy", fuzz._npy(hdr, payload))), "fc1/w8", fragment)
    for blob in (b"\x93NUMPX\x01\x00" + data, b"\x93NUMPY\x03\x00\x10\x00\x00\x00{}" + b" " * 14,
                 b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**31) + b"{", fuzz._npy(good, data, raw_header=b"(" * 300)):
        _expect(_bank(tmp_path, _with_npy(mlp_bytes, "fc1/w8.npy", blob)), "fc1/w8.npy")


def test_read_arrays_are_writable_and_equal(tmp_path, mlp_bytes):
    path = tmp_path / "ok.wbank"
    path.write_bytes(mlp_bytes)
    b = read_bank(path)
    w = b.weights["fc1"].banks[8]
    assert w.flags.writeable and w.dtype == np.int8 and w.shape == (64, 64)


def test_read_bank_paths(tmp_path):
    with pytest.raises(BankError, match="is a folder"):
        read_bank(tmp_path)
    with pytest.raises(BankError, match="no such file"):
        read_bank(tmp_path / "nope.wbank")


# ---------------------------------------------------------------- generated projects


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    base = tmp_path_factory.mktemp("projects")
    bank = synth_bank("mlp", seed=0, widths=(8, 2, 1))
    x = np.zeros((3, 1, 8, 8), np.uint8)
    return {"hls": write_hls_project(bank, base / "hls", "banked", vectors=x),
            "rtl": write_rtl_project(bank, base / "rtl", "reconstruct", 8, vectors=x)}


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("kind, damage, fragments", [
    ("hls", lambda p: _edit_json(p, lambda m: m.update(extra=1)), ("project.json", "extra", "unknown field")),
    ("hls", lambda p: _edit_json(p, lambda m: m.update(vectors=True)), ("project.json", "vectors")),
    ("hls", lambda p: _edit_json(p, lambda m: m.update(widths=[8, 2])), ("project.json", "widths", "bank.wbank")),
    ("hls", lambda p: _edit_json(p, lambda m: m["layers"].append("nope")), ("layers", "'nope'")),
    ("hls", lambda p: (p / "project.json").write_text('{"kind": "hls", "kind": "hls"}'), ("appears twice",)),
    ("hls", lambda p: (p / "tb_data/tb_input_features.dat").unlink(), ("tb_input_features.dat", "missing")),
    ("hls", lambda p: _append(p / "tb_data/tb_input_features.dat", "1 2\n"), ("tb_input_features.dat", "4 rows")),
    ("hls", lambda p: _replace(p / "tb_data/tb_output_predictions_w2.dat", " ", " x", 1),
     ("tb_output_predictions_w2.dat", "row 1", "'x")),
    ("hls", lambda p: _replace(p / "tb_data/tb_input_features.dat", "0", "300", 1),
     ("tb_input_features.dat", "row 1", "300")),
    ("hls", lambda p: (p / "bank.wbank").write_bytes(b"junk"), ("bank.wbank", "not a readable bank")),
    ("rtl", lambda p: _edit_json(p, lambda m: m["params"].update(OUT_W="20")), ("project.json", "OUT_W")),
    ("rtl", lambda p: _edit_json(p, lambda m: m["layers"][0].update(cout=65)), ("project.json", "layers[0]")),
    ("rtl", lambda p: _edit_json(p, lambda m: m["params"].update(WBLK=1000)), ("project.json", "params.WBLK", "1000")),
    ("rtl", lambda p: _edit_json(p, lambda m: m["params"].update(MUL=2)), ("project.json", "params.MUL", "2")),
    # multipliers take every plane of a weight: the project's lanes take one
    ("rtl", lambda p: _edit_json(p, lambda m: m["params"].update(MUL=1)), ("project.json", "params.MUL", "8 planes")),
    ("rtl", lambda p: (p / "mem/desc.hex").unlink(), ("mem/desc.hex", "missing memory image")),
    ("rtl", lambda p: _append(p / "mem/lw.hex", "zz\n"), ("mem/lw.hex", "line", "not a hex word")),
    ("rtl", lambda p: (p / "mem/comp_1.hex.0").write_bytes(b"\xff\xfe"), ("comp_1.hex.0", "not UTF-8")),
    ("rtl", lambda p: (p / "rtl/tb/tb_main.cpp").unlink(), ("tb_main.cpp", "missing")),
])
def test_damaged_projects_are_named(tmp_path, projects, kind, damage, fragments):
    project = _copy(projects[kind], tmp_path / "p")
    damage(project)
    with pytest.raises(WavebitsError) as e:
        load_project(project, kind)
    msg = str(e.value)
    assert "\n" not in msg and str(project) in msg, msg
    for f in fragments:
        assert f in msg, msg


def test_a_weight_image_past_the_memorys_last_block_is_named(tmp_path):
    # images split at another block depth than the project's (WBLK) would load the wrong rows
    bank = synth_bank("mlp", seed=0, widths=(8, 2, 1))
    project = write_rtl_project(bank, tmp_path / "p", "banked", 8, vectors=np.zeros((3, 1, 8, 8), np.uint8))
    (project / "mem/weights_b8.hex.1").write_text("0\n")
    with pytest.raises(WavebitsError) as e:
        load_project(project, "rtl")
    assert "weights_b8.hex.1" in str(e.value) and "not a block" in str(e.value)


def _edit_json(project: Path, edit) -> None:
    meta = json.loads((project / "project.json").read_text())
    edit(meta)
    (project / "project.json").write_text(json.dumps(meta))


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def _replace(path: Path, old: str, new: str, count: int) -> None:
    path.write_text(path.read_text().replace(old, new, count))


def test_project_paths(tmp_path, projects):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(WavebitsError, match="is a file, not a project folder"):
        read_project(f, "rtl")
    with pytest.raises(WavebitsError, match="kind: expected 'rtl', got 'hls'"):
        read_project(projects["hls"], "rtl")
    assert load_project(projects["rtl"], "rtl").inputs.shape == (3, 1, 8, 8)


def test_damaged_rtl_project_stops_at_its_cycle_limit(tmp_path, projects):
    """A healthy simulation stays far below the limit; a simulation past it ends with a clear error."""
    from wavebits.sim.rtlsim import RtlSimError, check_rtl, expected_cycles, run_rtlsim

    project = _copy(projects["rtl"], tmp_path / "p")
    report = check_rtl(project, [8, 1], per_segment=1)
    assert report.ok
    loaded = load_project(project, "rtl")
    for bits, cycles in report.cycles_per_width().items():
        assert cycles <= expected_cycles(loaded.bank, 8, [bits], 1)
    with pytest.raises(RtlSimError, match="did not finish within 500 cycles"):
        run_rtlsim(project, [8], 1, max_cycles=500)
    assert not (project / "rtlsim_events.txt").exists()


# ---------------------------------------------------------------- child processes, signals, umask


def test_interrupted_tool_takes_its_process_group_along(tmp_path):
    pidfile = tmp_path / "pid"
    script = f"sleep 60 & echo $! > {pidfile}; wait"

    def interrupt():
        while not pidfile.exists() or not pidfile.read_text().strip():
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGUSR1)

    def raise_interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGUSR1, raise_interrupt)
    threading.Thread(target=interrupt, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_tool(["sh", "-c", script])
    finally:
        signal.signal(signal.SIGUSR1, old)
    stat = Path(f"/proc/{int(pidfile.read_text())}/stat")
    for _ in range(50):  # gone, or a zombie waiting for init to reap it
        if not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail("the tool's child outlived the interrupted call")


def test_sigterm_exits_143_after_cleanup(tmp_path):
    code = ("import sys; from wavebits import cli; "
            "sys.argv = ['wavebits', 'switch-bench', '--model', 'resnet50', '--repeats', '1000']; cli.main()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err.strip().splitlines()[-1] == "terminated", err
    assert "Traceback" not in err


def test_temporaries_removed_on_terminate(tmp_path, monkeypatch):
    target = tmp_path / "keep.wbank"
    target.write_bytes(b"old")

    def terminated(fd):
        raise cli.Terminated

    monkeypatch.setattr(os, "fsync", terminated)
    with pytest.raises(cli.Terminated):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["keep.wbank"]
    monkeypatch.undo()

    calls = []

    def write_then_stop(self, data):
        calls.append(self)
        if len(calls) == 2:
            raise cli.Terminated
        return Path.write_text(self, "x")

    monkeypatch.setattr(Path, "write_bytes", write_then_stop)
    with pytest.raises(cli.Terminated):
        write_tree(tmp_path / "proj", {"a.txt": "1", "b/c.txt": "2", "project.json": "{}"})
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wbank"]


def test_outputs_keep_the_umask(tmp_path):
    code = ("import os, sys; os.umask(0o027); from wavebits import cli; sys.argv = sys.argv[1:]; cli.main()")
    bank = tmp_path / "a.wbank"
    for args in (["bank", "synth", "--arch", "mlp", "-o", str(bank)],
                 ["codegen", "hls", str(bank), "-o", str(tmp_path / "p"), "--vectors", "2"]):
        r = subprocess.run([sys.executable, "-c", code, "wavebits", *args], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    assert bank.stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "p").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "p" / "project.json").stat().st_mode & 0o777 == 0o640


# ---------------------------------------------------------------- the command line


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    old_argv, old_term = sys.argv, signal.getsignal(signal.SIGTERM)
    sys.argv = ["wavebits", *args]
    try:
        with pytest.raises(SystemExit) as e:
            cli.main()
    finally:
        sys.argv = old_argv
        signal.signal(signal.SIGTERM, old_term)
    out, err = capsys.readouterr()
    return e.value.code, out, err


def _one_error(capsys, *args: str, code: int = 2) -> str:
    rc, _, err = _cli(capsys, *args)
    lines = err.splitlines()
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert rc == code and len(errors) == 1 and lines[-1] == errors[0], (rc, err)
    assert "Traceback" not in err
    return errors[0]


@pytest.fixture(scope="module")
def bank_path(tmp_path_factory, mlp_bytes) -> Path:
    p = tmp_path_factory.mktemp("cli") / "m.wbank"
    p.write_bytes(mlp_bytes)
    return p


def test_bad_command_lines(tmp_path, capsys, bank_path, projects):
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    out = tmp_path / "out.wbank"
    cases = [
        (["bank", "synth", "--arch", "mlp", "--seed", "-1", "-o", str(out)], "--seed"),
        (["bank", "synth", "--arch", "mlp", "--widths", "8,8", "-o", str(out)], "--widths"),
        (["bank", "synth", "--arch", "mlp", "--widths", "0", "-o", str(out)], "no width 0"),
        (["bank", "synth", "--arch", "vgg", "-o", str(out)], "'vgg' is not one of"),
        (["bank", "synth", "--arch", "mlp"], "Missing option '-o'"),
        (["bank", "synth", "--arch", "mlp", "-o", str(tmp_path)], "is a directory"),
        (["bank", "synth", "--bogus"], "No such option"),
        (["bank", "inspect"], "Missing argument 'FILE'"),
        (["bank", "inspect", str(tmp_path)], "is a directory"),
        (["bank", "inspect", str(a_file)], "not a readable bank"),
        (["golden", str(bank_path), "--limit", "0"], "--limit"),
        (["golden", str(bank_path), "--limit", "-1"], "--limit"),
        (["golden", str(bank_path), "--bits", "9"], "no width 9"),
        (["golden", str(bank_path), "--data", "mnist", "--data-dir", str(a_file)], "is a file"),
        (["switch-bench", "--bits", "0"], "no width 0"),
        (["switch-bench", "--bits", "9"], "no width 9"),
        (["switch-bench", "--repeats", "0"], "--repeats"),
        (["codegen", "hls", str(bank_path), "-o", str(tmp_path / "h"), "--vectors", "0"], "--vectors"),
        (["codegen", "hls", str(bank_path), "-o", str(a_file)], "is a file"),
        (["codegen", "rtl", str(bank_path), "-o", str(tmp_path / "r"), "--clock-mhz", "0"], "--clock-mhz"),
        (["codegen", "rtl", str(bank_path), "-o", str(tmp_path / "r"), "--lanes", "3"], "--lanes"),
        (["sim", "csim", str(a_file)], "is a file"),
        (["sim", "csim", str(tmp_path)], "not a generated project"),
        (["sim", "rtl", str(projects["hls"])], "kind: expected 'rtl'"),
        (["sim", "rtl", str(projects["rtl"]), "--vectors", "0"], "--vectors"),
        (["sim", "rtl", str(projects["rtl"]), "--schedule", "8,x"], "--schedule"),
        (["build", str(a_file)], "is a file"),
        (["build", str(projects["rtl"]), "--seed", "-1"], "--seed"),
        (["nosuchcommand"], "No such command"),
        (["bank", "inspect", str(tmp_path / "a\nerror: b.wbank")], "a\\nerror: b.wbank"),
    ]
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, fragment in cases:
        line = _one_error(capsys, *args)
        assert fragment in line, (args, line)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, nothing left behind


def test_tool_logs_are_indented_above_the_one_error_line(capsys, monkeypatch, bank_path):
    from wavebits.bank import report

    def failing(bank):
        raise WavebitsError("g++ failed (the end of its output above)", detail="x.cpp:1: error: bad\nerror: worse")

    monkeypatch.setattr(report, "inspect", failing)
    _, _, err = _cli(capsys, "bank", "inspect", str(bank_path))
    assert err.splitlines() == ["  x.cpp:1: error: bad", "  error: worse",
                                "error: g++ failed (the end of its output above)"]


def test_unexpected_exception_is_one_line_without_traceback(capsys, monkeypatch, bank_path):
    from wavebits.bank import report

    def broken(bank):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(report, "inspect", broken)
    line = _one_error(capsys, "bank", "inspect", str(bank_path), code=1)
    assert "internal error: RuntimeError: boom\\nsecond line" in line


def test_cocotb_is_only_a_test_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("cocotb")]
    assert [d for d in project["optional-dependencies"]["dev"] if d.startswith("cocotb")]
    package = [p for d in ("wavebits", "sim", "codegen", "training") for p in (ROOT / d).rglob("*.py")]
    assert not [p for p in package if "cocotb" in p.read_text()]
