"""Sharding a level's inferences: serially, over processes on this machine, or over a Ray cluster.

An executor splits the inferences into contiguous shards (input order kept), runs each with the
level's own ``run`` in a worker and joins the results in order. Each shard runs on a fresh level
(a hardware level starts from reset, at its shard's first width), so results equal the serial run
for a correct design; only timing (wall time, cycles of the first inference of a shard) differs.

The levels' shared builds (C simulation and Verilator binaries) are made once, before the workers
start (``prepare``); every worker then runs them in its own temporary files. Ray workers must see
the project folders at the same paths (one machine, or a shared file system).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol

import numpy as np

from wavebits.errors import WavebitsError

from .parity import Inference, Level, widths_for

log = logging.getLogger(__name__)


class Executor(Protocol):
    """Runs a level over inferences, possibly in shards."""

    name: str
    workers: int

    def run(self, level: Level, x: np.ndarray, schedule: Sequence[int]) -> list[Inference]:
        """Like ``level.run(x, schedule)``, in shards."""
        ...


def shards(n: int, count: int) -> list[range]:
    """``n`` inferences split into at most ``count`` contiguous, nearly equal shards."""
    count = max(1, min(count, n))
    bounds = [n * i // count for i in range(count + 1)]
    return [range(bounds[i], bounds[i + 1]) for i in range(count) if bounds[i + 1] > bounds[i]]


def run_shard(level: Level, x: np.ndarray, widths: list[int]) -> list[Inference]:
    """One shard (the function workers run)."""
    return level.run(x, widths)


def _prepare(level: Level) -> None:
    prepare = getattr(level, "prepare", None)
    if prepare is not None:
        prepare()


class SerialExecutor:
    """Everything in this process, in one call of the level."""

    name = "serial"
    workers = 1

    def run(self, level: Level, x: np.ndarray, schedule: Sequence[int]) -> list[Inference]:
        return level.run(x, list(schedule))


class ProcessExecutor:
    """Shards over ``workers`` processes on this machine (``concurrent.futures``, spawned)."""

    name = "processes"

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise WavebitsError(f"--workers must be >= 1, got {workers}")
        self.workers = workers

    def run(self, level: Level, x: np.ndarray, schedule: Sequence[int]) -> list[Inference]:
        widths = widths_for(len(x), schedule)
        parts = shards(len(x), self.workers)
        if len(parts) <= 1:
            return level.run(x, widths)
        _prepare(level)
        log.info("%s: %d inferences in %d shards over %d processes", level.name, len(x), len(parts), self.workers)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(parts)), mp_context=ctx) as pool:
            futures = [pool.submit(run_shard, level, x[p.start:p.stop], widths[p.start:p.stop]) for p in parts]
            return [inf for f in futures for inf in f.result()]


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise WavebitsError("--ray needs Ray: pip install 'wavebits[ray]' (or pip install ray)") from None
    return ray


class RayExecutor:
    """Shards over a Ray cluster: ``address`` ``auto`` joins the one Ray finds (``RAY_ADDRESS``, or
    starts a local instance), any other value is a cluster address. An already initialized Ray is
    used as it is. ``workers`` shards (default: the cluster's CPUs)."""

    name = "ray"

    def __init__(self, address: str = "auto", workers: int | None = None) -> None:
        ray = _ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address != "auto":
                kwargs["address"] = address
            try:
                ray.init(**kwargs)
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise WavebitsError(f"--ray {address}: cannot join the Ray cluster ({e})") from None
        self._ray = ray
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))

    def run(self, level: Level, x: np.ndarray, schedule: Sequence[int]) -> list[Inference]:
        widths = widths_for(len(x), schedule)
        parts = shards(len(x), self.workers)
        _prepare(level)
        log.info("%s: %d inferences in %d Ray tasks", level.name, len(x), len(parts))
        task = self._ray.remote(run_shard)
        ref = self._ray.put(level)
        refs = [task.remote(ref, x[p.start:p.stop], widths[p.start:p.stop]) for p in parts]
        return [inf for r in self._ray.get(refs) for inf in r]


def make_executor(workers: int = 1, ray: str | None = None) -> Executor:
    """The executor for ``--workers N`` and ``--ray auto|ADDRESS`` (Ray wins when both are given)."""
    if ray:
        return RayExecutor(ray, workers if workers > 1 else None)
    if workers > 1:
        return ProcessExecutor(workers)
    return SerialExecutor()


def cpu_count() -> int:
    """CPUs this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
