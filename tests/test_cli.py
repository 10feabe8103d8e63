import gzip
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from wavebits.data import load_dataset, read_idx
from wavebits.errors import DataError


def run(*args, cwd=None):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "wavebits.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)


def assert_user_error(r, *fragments):
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: "), r.stderr
    for f in fragments:
        assert f in lines[-1], lines[-1]


def test_every_command_has_help():
    for cmd in ([], ["bank"], ["bank", "inspect"], ["bank", "synth"], ["golden"], ["switch-bench"], ["demo"]):
        r = run(*cmd, "--help")
        assert r.returncode == 0 and "Usage:" in r.stdout, cmd


def test_synth_inspect_golden(tmp_path):
    bank = tmp_path / "l.wbank"
    r = run("bank", "synth", "--arch", "mlp", "--seed", "4", "-o", str(bank))
    assert r.returncode == 0, r.stderr
    r = run("bank", "inspect", str(bank))
    assert r.returncode == 0, r.stderr
    for text in ("fc1", "64x64", "accumulator bits", "banked", "36.00", "reconstruct"):
        assert text in r.stdout
    r = run("golden", str(bank), "--bits", "8,1", "--limit", "50")
    assert r.returncode == 0, r.stderr
    assert "accuracy %" in r.stdout and "/50" in r.stdout


def test_cli_synth_is_reproducible(tmp_path):
    a, b = tmp_path / "a.wbank", tmp_path / "b.wbank"
    for p in (a, b):
        assert run("bank", "synth", "--arch", "cnn-digits", "--seed", "11", "-o", str(p)).returncode == 0
    assert a.read_bytes() == b.read_bytes()


def test_user_errors_are_one_line(tmp_path, bank_file):
    assert_user_error(run("bank", "inspect", str(tmp_path / "missing.wbank")), "missing.wbank", "no such file")
    broken = tmp_path / "broken.wbank"
    broken.write_bytes(bank_file.read_bytes()[:100])
    assert_user_error(run("golden", str(broken)), "broken.wbank")
    assert_user_error(run("golden", str(bank_file), "--bits", "9"), "--bits", "1..8")
    assert_user_error(run("golden", str(bank_file), "--data", "mnist"), "--data-dir")
    assert_user_error(run("golden", str(bank_file), "--data", "mnist", "--data-dir", str(tmp_path)),
                      "no such file")
    assert_user_error(run("golden", str(bank_file), "--bits", "x"), "--bits")


def test_hls4ml_without_the_tf_extra_is_one_error_line(tmp_path, bank_file):
    """Where TensorFlow/QKeras are missing (the tf extra; Python 3.12+), the hls4ml reference says so in one line."""
    hide = ("import sys; sys.modules.update(tensorflow=None, qkeras=None); "
            "sys.argv[0] = 'wavebits'; from wavebits.cli import main; main()")
    for args in (["sim", "hls4ml", str(bank_file), "--workdir", str(tmp_path / "h")],
                 ["verify", str(bank_file), "--backend", "hls4ml", "--workdir", str(tmp_path / "v")]):
        r = subprocess.run([sys.executable, "-c", hide, *args], capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, PYTHONWARNINGS="ignore"))
        assert_user_error(r, "tf extra", "wavebits[tf]", "Python 3.11")
    assert not (tmp_path / "h").exists() and not (tmp_path / "v").exists()  # refused before any work


def test_failed_write_leaves_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    target = blocker / "x.wbank"
    assert_user_error(run("bank", "synth", "--arch", "mlp", "-o", str(target)), "cannot write")
    assert blocker.read_text() == "not a folder" and sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.slow
@pytest.mark.verilator
def test_codegen_and_sim_rtl(tmp_path):
    bank = tmp_path / "m.wbank"
    assert run("bank", "synth", "--arch", "mlp", "--widths", "8,2,1", "-o", str(bank)).returncode == 0
    project = tmp_path / "rtl"
    r = run("codegen", "rtl", str(bank), "-o", str(project), "--weights", "reconstruct", "--lanes", "4",
            "--vectors", "4")
    assert r.returncode == 0, r.stderr
    assert (project / "wavebits_top.v").is_file() and (project / "board" / "ulx3s-85f.lpf").is_file()
    r = run("sim", "rtl", "rtl", "--bits", "all", "--schedule", "8,1,2", "--vectors", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr  # a project named relative to the working folder
    assert "0 mismatches" in r.stdout and "rebuild cycles" in r.stdout
    vcd = tmp_path / "wave.vcd"
    r = run("sim", "rtl", str(project), "--bits", "", "--schedule", "1", "--vectors", "1", "--vcd", str(vcd))
    assert r.returncode == 0, r.stderr
    assert "$var" in vcd.read_text()[:200_000] and "cfg_bits" in vcd.read_text()[:200_000]
    r = run("sim", "rtl", str(project), "--bits", "", "--schedule", "8,5")
    assert r.returncode == 2 and "no width 5" in r.stderr
    r = run("build", str(tmp_path))
    assert r.returncode == 2 and "not an RTL project" in r.stderr


@pytest.mark.slow
@pytest.mark.verilator
def test_demo_runs_end_to_end(tmp_path):
    r = run("demo", "--out", str(tmp_path / "demo"), "--no-bitstream")
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    assert "[7/7]" in out and "0 mismatches" in out and "ResNet-50" in out
    assert "RTL simulation" in out and "cycles/inference" in out and "bitstream: skipped" in out
    assert "agreement %" in out and "weights reconstruct" in out
    assert "VIOLATED" not in out
    assert (tmp_path / "demo" / "cnn-digits.wbank").is_file()


# ---------------------------------------------------------------- data


def _write_idx(path, magic, dims, payload):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">II", magic, dims[0]) + b"".join(struct.pack(">I", d) for d in dims[1:]))
        f.write(payload)


def test_idx_reader(tmp_path):
    p = tmp_path / "img.gz"
    _write_idx(p, 0x803, (2, 3, 4), bytes(range(24)))
    assert read_idx(p).shape == (2, 3, 4)
    _write_idx(p, 0x999, (2, 3, 4), bytes(range(24)))
    with pytest.raises(DataError, match="bad idx magic"):
        read_idx(p)
    _write_idx(p, 0x803, (2, 3, 4), bytes(range(20)))
    with pytest.raises(DataError, match="header says 24 bytes"):
        read_idx(p)
    p.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="not a readable gzip"):
        read_idx(p)


def test_digits_split_is_fixed():
    x1, y1 = load_dataset("digits")
    _, y2 = load_dataset("digits")
    assert x1.shape == (359, 1, 8, 8) and x1.dtype == np.uint8 and (y1 == y2).all()
    xt, _ = load_dataset("digits", "train")
    assert len(xt) + len(x1) == 1797


def test_mnist_from_shared_data(mnist_dir):
    x, y = load_dataset("mnist", "test", mnist_dir)
    assert x.shape == (10000, 1, 28, 28) and y.max() == 9


@pytest.mark.parametrize(("fmax", "allow", "fails"), [(95.0, False, True), (95.0, True, False), (104.0, False, False)])
def test_build_fails_when_timing_is_missed(tmp_path, monkeypatch, fmax, allow, fails):
    """Fmax below the core clock ends the build with exit code 1 unless --allow-timing-fail (a stand-in
    for the 3-minute place and route: the decision, not nextpnr, is under test here)."""
    from click.testing import CliRunner
    from wavebits.codegen import bitstream

    from wavebits.cli import cli
    from wavebits.errors import VerificationFailed

    def fake_build(project, board, seed):
        return bitstream.BuildReport(board, str(tmp_path / "x.bit"), {"LUT4": (100, 83640)}, fmax, 100.0,
                                     {"nextpnr": 1.0}, 0, 0, 0, 0)

    monkeypatch.setattr(bitstream, "build_bitstream", fake_build)
    args = ["build", str(tmp_path)] + (["--allow-timing-fail"] if allow else [])
    result = CliRunner().invoke(cli, args, standalone_mode=False)
    if fails:
        assert isinstance(result.exception, VerificationFailed)
        assert "timing not met: Fmax 95.0 MHz < core clock 100 MHz" in str(result.exception)
    else:
        assert result.exception is None, result.exception
