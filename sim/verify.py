"""``wavebits verify``: one bank or project, any levels, one parity report each.

``verify`` resolves the target (a bank, or a generated HLS or RTL project and its bank), generates
the projects the requested levels need in a work folder, runs the same inputs along the same width
plan on every level and checks each against the golden model. The ``board`` level talks to a board
over a serial port (``SerialLine``) and needs the RTL project its bitstream was built from.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wavebits.bank.io import read_bank
from wavebits.bank.model import Bank
from wavebits.errors import WavebitsError
from wavebits.reports import report

from .board import BAUD, TIMEOUT_S, BoardLevel
from .levels import LEVEL_NAMES, CsimLevel, GoldenLevel, Hls4mlLevel, RtlLevel
from .parity import Level, ParityReport, check, plan
from .shard import Executor, SerialExecutor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SerialLine:
    """Where the ``board`` level finds its board: a port (device or pyserial URL), baud rate, timeout."""

    port: str
    baud: int = BAUD
    timeout: float = TIMEOUT_S


@dataclass
class Target:
    """What ``verify`` was given: a bank file, or a generated project (``kind`` hls or rtl)."""

    path: Path
    bank: Bank
    kind: str  # "bank", "hls" or "rtl"
    weights: str | None = None  # the project's weight mode


def resolve_target(path: Path) -> Target:
    """A bank file, or a folder holding a generated project; a clear error for anything else."""
    from wavebits.codegen.project import read_project

    path = Path(path)
    if path.is_dir():
        if not (path / "project.json").is_file():
            raise WavebitsError(f"{path}: neither a bank file nor a generated project (no project.json)")
        import json

        kind = json.loads((path / "project.json").read_text()).get("kind")
        if kind not in ("hls", "rtl"):
            raise WavebitsError(f"{path / 'project.json'}: kind: expected 'hls' or 'rtl', got {kind!r}")
        meta = read_project(path, kind)
        return Target(path, read_bank(path / "bank.wbank"), kind, meta["weights"])
    if not path.exists():
        raise WavebitsError(f"{path}: no such bank file or project folder")
    return Target(path, read_bank(path), "bank")


def parse_backends(text: str | None, target: Target) -> list[str]:
    """``--backend``: comma-separated level names; default csim,rtl for a bank, else the project's."""
    if not text:
        return ["csim", "rtl"] if target.kind == "bank" else [{"hls": "csim", "rtl": "rtl"}[target.kind]]
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in LEVEL_NAMES]
    if unknown or not names:
        raise WavebitsError(f"--backend: unknown level {unknown[0] if unknown else '(none)'!r} "
                            f"(known: {','.join(LEVEL_NAMES)})")
    if "qonnx" in names:
        raise WavebitsError("--backend qonnx: the QONNX export needs the trained torch model, which a bank does not "
                            "hold; run `wavebits train --qonnx DIR`, or QonnxLevel(model, bank, workdir) in Python")
    if "board" in names and target.kind != "rtl":
        what = "a bank" if target.kind == "bank" else "an HLS project"
        raise WavebitsError(f"--backend board: {target.path} is {what}; give the RTL project the board's bitstream "
                            "was built from (wavebits codegen rtl)")
    return list(dict.fromkeys(names))


def select_inputs(target: Target, data: str | None, data_dir: Path | None, vectors: int | None,
                  random: int | None, limit: int | None, seed: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """The inputs to verify with and a description of where they came from.

    One of: a test split (``data``), the bank's default test vectors (``vectors``: digits for 8x8
    inputs, else seeded random), ``random`` seeded uniform inputs. Default: a project's own baked
    vectors, or 8 default vectors for a bank.
    """
    from wavebits.codegen.project import default_vectors, read_vectors

    bank = target.bank
    given = [name for name, v in (("--data", data), ("--vectors", vectors), ("--random", random)) if v is not None]
    if len(given) > 1:
        raise WavebitsError(f"{' and '.join(given)}: give one source of inputs")
    if data is not None:
        from wavebits.data import load_data

        ds = load_data(data, data_dir, labels=data != "npz")
        ds.check_fits(bank.input_shape, bank.input_signed, f"bank {bank.name!r}")
        x = ds.x_test
        source: dict[str, Any] = {"source": "data", "name": data}
    elif random is not None:
        if random < 1:
            raise WavebitsError("--random must be >= 1")
        rng = np.random.default_rng(seed)
        lo, hi = bank.input_range
        x = rng.integers(lo, hi + 1, size=(random, *bank.input_shape))
        source = {"source": "random", "seed": seed}
    elif vectors is not None or target.kind == "bank":
        count = 8 if vectors is None else vectors
        if count < 1:
            raise WavebitsError("--vectors must be >= 1")
        x = default_vectors(bank, count)
        source = {"source": "vectors"}
    else:
        x = read_vectors(target.path, bank.input_shape)
        source = {"source": "project", "path": str(target.path)}
    if limit is not None:
        if limit < 1:
            raise WavebitsError("--limit must be >= 1")
        x = x[:limit]
    x = np.asarray(x).astype(np.int64)
    return x, {**source, "count": len(x)}


@dataclass
class VerifyReport:
    """Every level's parity report for one target, inputs and plan."""

    target: Path
    bank: str
    widths: list[int]
    bits: list[int]
    schedule: list[int]
    inputs: dict[str, Any]
    levels: list[ParityReport] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.levels) and all(r.ok for r in self.levels)

    def text(self) -> str:
        head = (f"verify {self.target} (bank {self.bank!r}, widths {','.join(map(str, self.widths))}): "
                f"{self.inputs['count']} inputs ({self.inputs['source']}) at widths {','.join(map(str, self.bits))}"
                f"{', then schedule ' + ','.join(map(str, self.schedule)) if self.schedule else ''}")
        verdict = "PASS" if self.ok else "FAIL: " + ", ".join(r.level for r in self.levels if not r.ok)
        return "\n\n".join([head, *(r.text() for r in self.levels), verdict])

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``docs/reports.md``, kind ``verify``)."""
        return report("verify", target=str(self.target), bank=self.bank, widths=self.widths, bits=self.bits,
                      schedule=self.schedule, inputs=self.inputs, ok=self.ok,
                      levels=[r.to_dict() for r in self.levels], timing={"wall_s": round(self.wall_s, 3)})


def make_level(name: str, target: Target, weights: str, workdir: Path, lanes: int = 8,
               line: SerialLine | None = None) -> Level:
    """The level ``name`` for ``target``: its own project where it is one, else one generated in ``workdir``
    (``board``: the board on ``line``, running ``target``'s bitstream)."""
    bank = target.bank
    if name == "board":
        if line is None or target.kind != "rtl":
            raise WavebitsError("--backend board needs --port and an RTL project")
        return BoardLevel(target.path, line.port, line.baud, line.timeout)
    if name == "golden":
        return GoldenLevel(bank, weights)
    if name == "hls4ml":
        return Hls4mlLevel(bank, workdir / "hls4ml")
    if name == "finn":
        from .finn_level import FinnLevel

        return FinnLevel(bank, workdir / "finn")
    if name == "finn-rtl":
        from .finn_level import FinnRtlLevel

        return FinnRtlLevel(bank, workdir / "finn-rtl")
    kind = {"csim": "hls", "rtl": "rtl"}[name]
    if target.kind == kind and target.weights == weights:
        project = target.path
    else:
        project = workdir / f"{kind}-{weights}"
        if not (project / "project.json").is_file():
            log.info("generating the %s project (%s weights) in %s", kind.upper(), weights, project)
            if kind == "hls":
                from wavebits.codegen.hls import write_hls_project

                write_hls_project(bank, project, weights)
            else:
                from wavebits.codegen.rtl import write_rtl_project

                write_rtl_project(bank, project, weights, lanes)
    return CsimLevel(project) if kind == "hls" else RtlLevel(project)


def verify(target: Target, backends: Sequence[str], x: np.ndarray, inputs: dict[str, Any], bits: Sequence[int],
           schedule: Sequence[int], weights: str | None = None, workdir: Path | None = None,
           executor: Executor | None = None, lanes: int = 8, line: SerialLine | None = None) -> VerifyReport:
    """Run every level in ``backends`` on ``x`` along the plan (``bits``, then ``schedule``) and check it.

    ``line`` is the board's serial line, for the ``board`` level only; that level runs in this
    process whatever ``executor`` says (one board, one port)."""
    bank = target.bank
    for b in [*bits, *schedule]:
        bank.check_width(b)
    if not bits and not schedule:
        raise WavebitsError("--bits and --schedule are both empty: nothing to verify")
    if ("board" in backends) != (line is not None):
        raise WavebitsError("--backend board needs --port" if line is None else
                            "--port, --baud and --timeout apply to --backend board only")
    if "board" in backends and weights is not None and weights != target.weights:
        raise WavebitsError(f"--weights {weights}: the board runs {target.path}'s bitstream, built with "
                            f"{target.weights} weights")
    weights = weights or target.weights or "banked"
    vectors, widths = plan(len(x), bits, schedule)
    xs = x[vectors]
    result = VerifyReport(target.path, bank.name, list(bank.widths), list(bits), list(schedule), inputs)
    t0 = time.perf_counter()
    with ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wavebits-verify-")))
        for name in backends:
            level = make_level(name, target, weights, Path(workdir), lanes, line)
            log.info("%s: %d inferences", name, len(xs))
            runner = executor or SerialExecutor()
            if name == "board" and runner.workers > 1:
                log.info("board: one serial port, so it runs in this process (not on %d workers)", runner.workers)
                runner = SerialExecutor()
            parity = check(level, xs, widths, executor=runner)
            log.info("%s: %s", name, "ok" if parity.ok else "FAILED")
            result.levels.append(parity)
    result.wall_s = time.perf_counter() - t0
    return result
