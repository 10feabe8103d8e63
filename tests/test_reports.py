"""Helpers the benchmarks share (``wavebits.reports``)."""

from __future__ import annotations

import tempfile

import pytest

from wavebits.reports import scratch


def test_scratch_folders_go_unless_the_run_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with scratch("wb-test-") as work:
        (work / "nextpnr.log").write_text("placed")
    assert work.parent == tmp_path and not work.exists()
    with pytest.raises(RuntimeError, match="late"), scratch("wb-test-") as work:
        (work / "nextpnr.log").write_text("placed")
        raise RuntimeError("late")
    assert (work / "nextpnr.log").read_text() == "placed"  # a failed run keeps its tools' logs
    assert str(work) in capsys.readouterr().err
