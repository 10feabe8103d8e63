from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from wavebits.bank import synth_bank, write_bank

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

HAVE_TENSORFLOW = all(importlib.util.find_spec(m) is not None for m in ("tensorflow", "qkeras"))


def load_benchmark(name: str):
    """The module of ``benchmarks/<name>.py`` (benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"wavebits_bench_{name}",
                                                  Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _have_finn() -> bool:
    try:
        importlib.metadata.version("finn-plus")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


HAVE_FINN = _have_finn()
REQUIRE_FINN = os.environ.get("WAVEBITS_REQUIRE_FINN") == "1"
"""CI installs FINN (.ci/run) and sets this: there a test marked `finn` runs (and fails without FINN)."""


CACHE_KEY = pytest.StashKey[str]()


def pytest_configure(config):
    """The whole run (every xdist worker and every CLI it starts) shares one compiler cache
    (wavebits.sim.objcache) of its own, started empty and removed at the end, unless WAVEBITS_CACHE
    is set; the user's cache is never touched."""
    if "WAVEBITS_CACHE" not in os.environ:
        os.environ["WAVEBITS_CACHE"] = tempfile.mkdtemp(prefix="wavebits-test-cache-")
        config.stash[CACHE_KEY] = os.environ["WAVEBITS_CACHE"]


def pytest_unconfigure(config):
    cache = config.stash.get(CACHE_KEY, None)
    if cache is not None:
        shutil.rmtree(cache, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Tests marked `tensorflow` skip where the tf extra is not installed (Python 3.12 and 3.13), tests
    marked `finn` where finn-plus is not (README, "FINN users"), unless WAVEBITS_REQUIRE_FINN=1."""
    skips = {}
    if not HAVE_TENSORFLOW:
        skips["tensorflow"] = pytest.mark.skip(reason="needs the tf extra (TensorFlow 2.15, QKeras: Python 3.11 only)")
    if not HAVE_FINN and not REQUIRE_FINN:
        skips["finn"] = pytest.mark.skip(reason="needs finn-plus 1.4.0 (README, 'FINN users')")
    for item in items:
        for marker, skip in skips.items():
            if marker in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def digits_bank():
    return synth_bank("cnn-digits", seed=0)


@pytest.fixture(scope="session")
def bank_file(tmp_path_factory, digits_bank) -> Path:
    path = tmp_path_factory.mktemp("banks") / "cnn-digits.wbank"
    write_bank(digits_bank, path)
    return path


@pytest.fixture(scope="session")
def resnet_bank():
    return synth_bank("resnet8", seed=0, calib=16)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    d = SHARED_DATA / "mnist"
    if not (d / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("MNIST not present in ../shared/data/mnist")
    return d


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A quickly trained digits model: (TrainResult, bank path, config)."""
    from wavebits.training.config import load_config
    from wavebits.training.run import run_training

    path = tmp_path_factory.mktemp("trained") / "digits.wbank"
    cfg = load_config(None, "digits", float_epochs=4, epochs=4)
    return run_training(cfg, path), path, cfg
