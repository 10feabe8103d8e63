"""Sharding a check: serially, over processes on this machine, or over a Ray cluster.

An executor splits the inferences into contiguous shards (input order kept); each worker runs its
shard on the level and on the reference and compares them (``wavebits.sim.parity.check_range``),
so only the small partial reports travel back, and ``merge`` joins them in order. Shards are
balanced by cost, not count (a level may say what an inference at each width costs: bit-serial RTL
takes cycles in proportion to the width), and there are ``SHARDS_PER_WORKER`` of them per worker,
handed out as workers free up, so that a worker slowed by other jobs on a shared machine does not
hold up the rest. Each shard runs
on its own copy of the level (a hardware level starts from reset, at its shard's first width), so
the merged report equals the serial one for a correct design; only ``timing`` differs.

The levels' shared builds (C simulation and Verilator binaries) are made once, before the workers
start (``prepare``); every worker then runs them in its own temporary files. Ray workers must see
the project folders at the same paths (one machine, or a shared file system).
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol

import numpy as np

from wavebits.errors import WavebitsError

from .parity import Level, ParityReport

log = logging.getLogger(__name__)

ShardFn = Callable[[Level, Level, np.ndarray, Sequence[int], int, int], ParityReport]


class Executor(Protocol):
    """Runs a check's shards."""

    name: str
    workers: int

    def map_shards(self, fn: ShardFn, level: Level, reference: Level, x: np.ndarray, widths: Sequence[int],
                   block: int) -> list[ParityReport]:
        """``fn(level, reference, x[shard], widths[shard], shard.start, block)`` for every shard, in order."""
        ...


SHARDS_PER_WORKER = 4
"""Shards per worker: the pool hands them out as workers free up (dynamic load balancing)."""


def shards(n: int, count: int, cost: Sequence[float] | None = None) -> list[range]:
    """``n`` inferences split into at most ``count`` contiguous shards of nearly equal cost (``cost[k]``:
    inference k's; default 1 each, nearly equal counts)."""
    count = max(1, min(count, n))
    if cost is None:
        bounds = [n * i // count for i in range(count + 1)]
    else:
        total = np.concatenate([[0.0], np.cumsum(np.asarray(cost, dtype=float))])
        cuts = np.searchsorted(total, total[-1] * np.arange(1, count) / count)
        bounds = [0, *(int(c) for c in np.clip(cuts, 0, n)), n]
    return [range(bounds[i], bounds[i + 1]) for i in range(count) if bounds[i + 1] > bounds[i]]


def inference_costs(level: Level, widths: Sequence[int]) -> list[float]:
    """The relative cost of each inference: ``level.cost(bits)`` where the level defines it, else 1."""
    cost = getattr(level, "cost", None)
    return [float(cost(b)) for b in widths] if callable(cost) else [1.0] * len(widths)


def _tasks(level: Level, reference: Level, x: np.ndarray, widths: Sequence[int], block: int,
           workers: int) -> list[tuple[Any, ...]]:
    level.prepare()
    reference.prepare()
    parts = shards(len(x), workers * SHARDS_PER_WORKER, inference_costs(level, widths))
    return [(level, reference, x[p.start:p.stop], list(widths[p.start:p.stop]), p.start, block) for p in parts]


class SerialExecutor:
    """Everything in this process."""

    name = "serial"
    workers = 1

    def map_shards(self, fn: ShardFn, level: Level, reference: Level, x: np.ndarray, widths: Sequence[int],
                   block: int) -> list[ParityReport]:
        return [fn(level, reference, x, widths, 0, block)]


def _one_thread_each() -> None:
    """Worker initializer: one BLAS/OpenMP thread per worker process (the workers fill the cores)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


class ProcessExecutor:
    """Shards over ``workers`` processes on this machine (``concurrent.futures``, spawned; one BLAS
    thread each)."""

    name = "processes"

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise WavebitsError(f"--workers must be >= 1, got {workers}")
        self.workers = workers

    def map_shards(self, fn: ShardFn, level: Level, reference: Level, x: np.ndarray, widths: Sequence[int],
                   block: int) -> list[ParityReport]:
        tasks = _tasks(level, reference, x, widths, block, self.workers)
        log.info("%s: %d inferences in %d shards over %d processes", level.name, len(x), len(tasks), self.workers)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=ctx,
                                 initializer=_one_thread_each) as pool:
            return [f.result() for f in [pool.submit(fn, *t) for t in tasks]]


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise WavebitsError("--ray needs Ray: pip install 'wavebits[ray]' (or pip install ray)") from None
    return ray


class RayExecutor:
    """Shards over a Ray cluster: ``address`` ``auto`` joins the one Ray finds (``RAY_ADDRESS``, or
    a new local instance), any other value is a cluster address. An already initialized Ray is used
    as it is. ``workers``: the workers the shards are sized for, ``SHARDS_PER_WORKER`` each (default: the
    cluster's CPUs); Ray runs as many at once as the cluster has CPUs."""

    name = "ray"

    def __init__(self, address: str = "auto", workers: int | None = None) -> None:
        ray = _ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "logging_level": logging.ERROR}
            if address != "auto":
                kwargs["address"] = address
            try:
                ray.init(**kwargs)
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise WavebitsError(f"--ray {address}: cannot join the Ray cluster ({e})") from None
        self._ray = ray
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))

    def map_shards(self, fn: ShardFn, level: Level, reference: Level, x: np.ndarray, widths: Sequence[int],
                   block: int) -> list[ParityReport]:
        tasks = _tasks(level, reference, x, widths, block, self.workers)
        log.info("%s: %d inferences in %d Ray tasks", level.name, len(x), len(tasks))
        remote = self._ray.remote(fn)
        shared = self._ray.put(level), self._ray.put(reference)
        return self._ray.get([remote.remote(*shared, *t[2:]) for t in tasks])


def make_executor(workers: int = 1, ray: str | None = None) -> Executor:
    """The executor for ``--workers N`` and ``--ray auto|ADDRESS`` (with Ray, N sizes
    the shards)."""
    if ray:
        return RayExecutor(ray, workers if workers > 1 else None)
    if workers > 1:
        return ProcessExecutor(workers)
    return SerialExecutor()
