"""The simulators' compiler cache: hits across folders, misses on any change, off switch, trimming."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from wavebits.sim import objcache

from wavebits.errors import WavebitsError

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")

MAIN = '#include "value.h"\nint main() { return VALUE; }\n'


def _project(folder: Path, value: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "main.cpp").write_text(MAIN)
    (folder / "value.h").write_text(f"#define VALUE {value}\n")
    return folder


def _build(folder: Path) -> int:
    binary = folder / "build" / "prog"
    objcache.build("g++", ["-O0", "-I."], [Path("main.cpp")], binary, cwd=folder)
    return subprocess.run([str(binary)]).returncode


def _objects(cache: Path) -> list[Path]:
    return sorted(cache.glob("*/*.o"))


def test_same_preprocessed_text_compiles_once(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("WAVEBITS_CACHE", str(cache))
    assert _build(_project(tmp_path / "a", 3)) == 3
    [entry] = _objects(cache)
    # swap the cached object for another program's: a folder with the same text must link it
    other = _project(tmp_path / "other", 7)
    subprocess.run(["g++", "-c", "main.cpp", "-I.", "-o", str(tmp_path / "seven.o")], cwd=other, check=True)
    os.replace(tmp_path / "seven.o", entry)
    assert _build(_project(tmp_path / "b", 3)) == 7
    # a changed header is another key: compiled, not taken from the cache
    assert _build(_project(tmp_path / "c", 5)) == 5
    assert len(_objects(cache)) == 2


def test_cache_off_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("WAVEBITS_CACHE", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _build(_project(tmp_path / "a", 4)) == 4
    assert not (tmp_path / "xdg").exists()


def test_default_folder_follows_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("WAVEBITS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert objcache.cache_dir() == tmp_path / "xdg" / "wavebits" / "objects"


def test_the_oldest_objects_go_past_the_limit(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("WAVEBITS_CACHE", str(cache))
    monkeypatch.setenv("WAVEBITS_CACHE_MB", "1")
    (cache / "00").mkdir(parents=True)
    old = []
    for i in range(4):
        path = cache / "00" / f"old{i}.o"
        path.write_bytes(bytes(400 << 10))
        os.utime(path, (1000 + i, 1000 + i))
        old.append(path)
    assert _build(_project(tmp_path / "a", 2)) == 2
    remaining = _objects(cache)
    assert sum(p.stat().st_size for p in remaining) <= (1 << 20) * objcache.TRIM_TO
    assert not old[0].exists() and not old[1].exists() and old[3].exists()
    assert any(not p.name.startswith("old") for p in remaining)  # the object just built stays


def test_compiler_errors_come_back_with_their_output(tmp_path, monkeypatch):
    monkeypatch.setenv("WAVEBITS_CACHE", str(tmp_path / "cache"))
    folder = _project(tmp_path / "a", 1)
    (folder / "value.h").write_text("#define VALUE undeclared_name\n")
    with pytest.raises(objcache.CompileFailed) as e:
        _build(folder)
    assert "undeclared_name" in e.value.output and e.value.unit == Path("main.cpp")
    assert not (folder / "build" / "prog").exists()


@pytest.mark.parametrize("value", ["lots", "0"])
def test_a_bad_size_limit_is_one_error(tmp_path, monkeypatch, value):
    monkeypatch.setenv("WAVEBITS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WAVEBITS_CACHE_MB", value)
    with pytest.raises(WavebitsError, match="WAVEBITS_CACHE_MB"):
        _build(_project(tmp_path / "a", 1))
