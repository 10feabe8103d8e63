"""Where training runs: the device, the CPU threads, and the processes of a distributed run.

``wavebits train`` runs unchanged under ``torchrun``: :func:`runtime` reads torchrun's
``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` (and ``LOCAL_WORLD_SIZE``), joins the process group
(gloo on CPU, NCCL on GPU) and says which rank this process is. Rank 0 is the main process: it
alone re-estimates BatchNorm statistics and fits quantizer ranges (on the whole data set, then
:func:`broadcast_state` gives every rank its result), exports, verifies and writes files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from wavebits.errors import WavebitsError

from .config import DEVICES

T = TypeVar("T")


@dataclass(frozen=True)
class Runtime:
    """One training process: its device, its rank among ``world`` processes, its CPU threads."""

    device: torch.device
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    threads: int = 1

    @property
    def main(self) -> bool:
        """True for rank 0 (the process that exports, verifies, writes and prints)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when several processes train together."""
        return self.world > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise WavebitsError(f"environment: {name}: expected an integer, got {value!r}") from None


def available_cpus() -> int:
    """CPU cores this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """The machine's cores shared among the training processes on it (torchrun's ``LOCAL_WORLD_SIZE``)."""
    return max(1, available_cpus() // max(1, _env_int("LOCAL_WORLD_SIZE", 1)))


def resolve_device(name: str | None, local_rank: int = 0) -> torch.device:
    """``cpu`` or ``cuda`` (the GPU of this local rank); None: cuda when available, else cpu."""
    if name is None:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name not in DEVICES:
        raise WavebitsError(f"device: expected one of {', '.join(DEVICES)}, got {name!r}")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise WavebitsError("device: cuda requested, but torch sees no CUDA GPU (use --device cpu)")
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise WavebitsError(f"device: local rank {local_rank} needs GPU {local_rank}, this machine has {count}")
    return torch.device("cuda", local_rank)


def deterministic(device: torch.device | str = "cpu", threads: int | None = None) -> None:
    """Same seed, config and machine, same bytes: a fixed thread count and deterministic kernels.

    On CUDA a few kernels have no deterministic form (NLLLoss among them): they warn instead of failing.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(threads or default_threads())
    torch.use_deterministic_algorithms(True, warn_only=torch.device(device).type != "cpu")


def current(device: str | None = None, threads: int | None = None) -> Runtime:
    """The runtime of this process: the process group's rank and size if one is initialized."""
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() \
        else (0, 1)
    local_rank = _env_int("LOCAL_RANK", 0) if world > 1 else 0
    return Runtime(resolve_device(device, local_rank), rank, world, local_rank, threads or default_threads())


@contextmanager
def runtime(device: str | None = None, threads: int | None = None) -> Iterator[Runtime]:
    """This process's :class:`Runtime`; under torchrun (``WORLD_SIZE`` > 1) it joins the process group.

    A process group this context initialized is destroyed when it exits; one already initialized
    (by the caller) is used and left alone.
    """
    world = _env_int("WORLD_SIZE", 1)
    owns = False
    if world > 1 and not (dist.is_available() and dist.is_initialized()):
        if not dist.is_available():
            raise WavebitsError("WORLD_SIZE > 1 but this torch has no torch.distributed")
        local_rank = _env_int("LOCAL_RANK", 0)
        dev = resolve_device(device, local_rank)
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo",
                                device_id=dev if dev.type == "cuda" else None)
        owns = True
    try:
        rt = current(device, threads)
        deterministic(rt.device, rt.threads)
        yield rt
    finally:
        if owns:
            dist.destroy_process_group()


def broadcast_state(module: nn.Module, rt: Runtime) -> None:
    """Every rank gets rank 0's parameters and buffers (in place)."""
    if not rt.distributed:
        return
    with torch.no_grad():
        for t in module.state_dict().values():
            dist.broadcast(t, 0)


def broadcast_object(obj: T, rt: Runtime) -> T:
    """Rank 0's ``obj`` on every rank (pickled)."""
    if not rt.distributed:
        return obj
    box: list[Any] = [obj]
    dist.broadcast_object_list(box, 0, device=rt.device if rt.device.type == "cuda" else None)
    return box[0]


def barrier(rt: Runtime) -> None:
    """Wait for every rank."""
    if rt.distributed:
        dist.barrier(device_ids=[rt.device.index] if rt.device.type == "cuda" else None)


def average_gradients(module: nn.Module, rt: Runtime) -> None:
    """Every rank's gradients replaced by their mean over ranks (in place): what DDP does for one
    forward pass, for an update fed by several."""
    if not rt.distributed:
        return
    for p in module.parameters():
        if p.grad is not None:  # the same parameters on every rank: every rank trained the same widths
            dist.all_reduce(p.grad)
            p.grad /= rt.world


def wrap(model: nn.Module, rt: Runtime) -> nn.Module:
    """``model`` in DistributedDataParallel when distributed (each step trains one width: the other
    widths' parameters are unused, hence ``find_unused_parameters``); else ``model`` itself."""
    if not rt.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[rt.device.index] if rt.device.type == "cuda" else None,
                                   find_unused_parameters=True)
