import re
import subprocess

import numpy as np
import pytest
from wavebits.codegen.hls import generate_hls, write_hls_project
from wavebits.sim.csim import build_csim, check_csim

from wavebits.bank import read_bank, synth_bank
from wavebits.errors import WavebitsError, WidthError

SCHEDULE = [8, 4, 1, 8, 2]


@pytest.fixture(scope="module")
def lenet_bank():
    return synth_bank("lenet5", seed=5)


@pytest.mark.parametrize("weights", ["banked", "reconstruct"])
def test_synth_bank_csim_is_bit_exact(tmp_path, digits_bank, weights):
    project = write_hls_project(digits_bank, tmp_path / "p", weights)
    report = check_csim(project, None, SCHEDULE, progress=False)
    assert report.ok, report.text()
    assert set(report.per_width) == set(digits_bank.widths) and report.switches >= len(digits_bank.widths)
    if weights == "reconstruct":
        # every width change ran the Haar unit (the first load included), and nothing else did
        assert report.reconstructions == report.switches + 1
    else:
        assert report.reconstructions == 0


@pytest.mark.slow
@pytest.mark.parametrize("weights", ["banked", "reconstruct"])
def test_trained_bank_csim_is_bit_exact(tmp_path, trained, weights):
    result, path, _ = trained
    project = write_hls_project(result.bank, tmp_path / "p", weights, bank_bytes=path.read_bytes())
    report = check_csim(project, None, SCHEDULE, progress=False)
    assert report.ok, report.text()


@pytest.mark.slow
def test_lenet_reconstruct_csim_is_bit_exact(tmp_path, lenet_bank):
    project = write_hls_project(lenet_bank, tmp_path / "p", "reconstruct")
    assert check_csim(project, [8, 5, 2, 1], [1, 8, 3, 1], progress=False).ok


def test_reconstruct_project_holds_no_banks(digits_bank):
    files = generate_hls(digits_bank, "reconstruct")
    weights_h = files["firmware/weights.h"]
    assert "_LL[" in weights_h and "haar_reconstruct" in files["firmware/wavebits_top.cpp"]
    assert not re.search(r"_w\[WB_N_WIDTHS\]", weights_h)
    banked = generate_hls(digits_bank, "banked")["firmware/weights.h"]
    assert re.search(r"_w\[WB_N_WIDTHS\]", banked) and "_LL[" not in banked


def test_generation_is_deterministic(tmp_path, digits_bank):
    a = write_hls_project(digits_bank, tmp_path / "a", "reconstruct")
    b = write_hls_project(synth_bank("cnn-digits", seed=0), tmp_path / "b", "reconstruct")
    files_a = {p.relative_to(a): p.read_bytes() for p in sorted(a.rglob("*")) if p.is_file()}
    files_b = {p.relative_to(b): p.read_bytes() for p in sorted(b.rglob("*")) if p.is_file()}
    assert files_a == files_b


def test_mismatch_names_layer_and_values(tmp_path, digits_bank):
    project = write_hls_project(digits_bank, tmp_path / "p", "banked")
    weights_h = project / "firmware" / "weights.h"
    text = weights_h.read_text()
    # flip the sign of the 4-bit bank's first conv2 weight (width index 4 is 4 bits)
    start = text.index("static const wb::weight_t conv2_w")
    block_start = start
    for _ in range(5):
        block_start = text.index("{\n    ", block_start + 1)
    first = re.match(r"\{\n    (-?\d+)", text[block_start:])
    value = int(first.group(1))
    text = text[:block_start] + "{\n    " + str(-value if value else 1) + text[block_start + len(first.group(0)):]
    weights_h.write_text(text)
    report = check_csim(project, [4], None, progress=False)
    assert not report.ok
    _, bits, _, where = report.first
    assert bits == 4 and where.layer == "conv2" and where.expected != where.got
    assert "conv2" in report.text() and "expected" in report.text()


def test_standalone_testbench_passes(tmp_path, digits_bank):
    project = write_hls_project(digits_bank, tmp_path / "p", "banked", vectors=np.zeros((3, 1, 8, 8), np.uint8))
    binary = build_csim(project)
    r = subprocess.run([str(binary)], cwd=project, capture_output=True, text=True)
    assert r.returncode == 0 and "0 mismatches" in r.stdout


def test_bad_inputs(tmp_path, digits_bank, monkeypatch):
    project = write_hls_project(digits_bank, tmp_path / "p", "banked")
    with pytest.raises(WidthError):
        check_csim(project, [9], None, progress=False)
    with pytest.raises(WavebitsError, match="not a generated project"):
        check_csim(tmp_path, None, None, progress=False)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(WavebitsError, match="not a wavebits project"):
        write_hls_project(digits_bank, other, "banked")
    assert (other / "notes.txt").read_text() == "keep me"
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    (project / "firmware" / "parameters.h").write_text((project / "firmware" / "parameters.h").read_text() + "\n")
    with pytest.raises(WavebitsError, match="g\\+\\+ not found"):
        build_csim(project)


def test_project_reads_its_own_bank(tmp_path, bank_file):
    from click.testing import CliRunner

    from wavebits.cli import cli

    out = tmp_path / "proj"
    r = CliRunner().invoke(cli, ["codegen", "hls", str(bank_file), "-o", str(out), "--weights", "reconstruct",
                                 "--vectors", "4"])
    assert r.exit_code == 0, r.output
    assert (out / "bank.wbank").read_bytes() == bank_file.read_bytes()
    assert read_bank(out / "bank.wbank").widths == (8, 7, 6, 5, 4, 3, 2, 1)
    for name in ("build_prj.tcl", "vivado_build.tcl", "wavebits_top_test.cpp", "firmware/wavebits/wb_haar.h",
                 "tb_data/tb_output_predictions_w1.dat"):
        assert (out / name).is_file(), name
