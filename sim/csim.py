"""C simulation of a generated HLS project: g++ against the ap_types headers, checked bit-exact.

``build_csim`` compiles the project once (cached by a hash of its sources); ``run_csim`` runs a list
of (width, vector) inferences through it, on the baked vectors or on any inputs; ``CsimLevel``
(``wavebits.sim.levels``) puts it behind the common level interface, and ``check_csim`` compares
every layer of every inference with the golden model, integer for integer.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from wavebits.codegen.project import load_project, read_project, read_vectors, write_vectors

from wavebits.errors import WavebitsError
from wavebits.tools import find_tool, run_tool

from . import objcache
from .parity import LayerMismatch, ParityReport

if TYPE_CHECKING:
    from .shard import Executor

log = logging.getLogger(__name__)


def ap_types_dir() -> Path:
    """Xilinx's ap_int/ap_fixed headers as shipped inside the installed hls4ml package.

    Found without importing hls4ml (a core dependency; its QKeras front end needs the tf extra,
    its headers do not)."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise WavebitsError("hls4ml is not installed: it provides the ap_types headers of the C simulation "
                            "(pip install hls4ml==1.3.0)")
    d = Path(next(iter(spec.submodule_search_locations))) / "templates" / "vivado" / "ap_types"
    if not (d / "ap_int.h").is_file():
        raise WavebitsError(f"{d}: ap_int.h not found in the hls4ml package")
    return d


@contextmanager
def build_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder/.build.lock`` while a build runs (other processes wait)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".build.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_csim(project: Path, quiet: bool = True) -> Path:
    """Compile the project's C test bench; returns the binary (reused while the sources are unchanged).

    Safe to call from several processes at once: one builds, the others wait and reuse its binary.
    """
    project = Path(project)
    info = read_project(project, "hls")
    cxx = find_tool("g++", "the C simulation needs a C++ compiler: apt-get install g++")
    top = info["top"]
    sources = [*sorted((project / "firmware").rglob("*.[ch]*")), project / f"{top}_test.cpp"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    binary = project / "build" / f"csim-{digest}"
    with build_lock(binary.parent):
        if binary.is_file():
            return binary
        log.info("building the C simulation of %s with g++", project)
        flags = ["-O2", "-std=c++14", "-w", "-Ifirmware", f"-I{ap_types_dir()}"]
        try:
            objcache.build(cxx, flags, [Path("firmware") / f"{top}.cpp", Path(f"{top}_test.cpp")], binary, cwd=project)
        except objcache.CompileFailed as e:
            tail = "\n".join(e.output.strip().splitlines()[-15:])
            raise WavebitsError(f"{project}: g++ failed to build the C simulation (the end of its output above)",
                                detail=tail) from None
    return binary


def run_csim(project: Path, binary: Path, sequence: list[tuple[int, int]],
             inputs: np.ndarray | None = None) -> list[tuple[int, dict[str, np.ndarray]]]:
    """Run ``(bits, vector)`` inferences in order; returns (reconstructions so far, layer outputs) each.

    Vectors index ``inputs`` (N, ...) when given, else the project's tb_data. Every call works in its
    own temporary folder, so that several processes can run the same project at once.
    """
    project = Path(project)
    (project / "build").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="run-", dir=project / "build") as tmp:
        run_file, out_file = Path(tmp) / "run.dat", Path(tmp) / "out.dat"
        run_file.write_text("".join(f"{b} {i}\n" for b, i in sequence))
        args = [str(binary.resolve()), str(run_file.resolve()), str(out_file.resolve())]
        if inputs is not None:
            args.append(str(write_vectors(Path(tmp) / "inputs.dat", inputs).resolve()))
        r = run_tool(args, cwd=project)
        if r.returncode != 0:
            raise WavebitsError(f"{project}: C simulation failed (exit {r.returncode}; the end of its output above)",
                                detail=r.stderr.strip()[-500:])
        text = out_file.read_text(errors="replace")
    results: list[tuple[int, dict[str, np.ndarray]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        name, _, rest = line.partition(" ")
        try:
            if name == "inference":
                results.append((int(rest.split()[3]), {}))
            else:
                results[-1][1][name] = np.array(rest.split(), dtype=np.int64)
        except (IndexError, ValueError):
            raise WavebitsError(f"{out_file}: line {number}: not what the test bench writes; the project's "
                                "sources are damaged (regenerate it)") from None
    if len(results) != len(sequence):
        raise WavebitsError(f"{out_file}: {len(results)} inferences, {len(sequence)} were run; the project's "
                            "sources are damaged (regenerate it)")
    return results


@dataclass
class CsimReport:
    """Outcome of a C-simulation parity check (``sim csim``); ``parity`` is the full report."""

    weights: str
    inferences: int = 0
    per_width: dict[int, int] = field(default_factory=dict)  # width -> inferences checked
    mismatches: int = 0  # inferences with any differing value
    switches: int = 0
    reconstructions: int | None = 0  # None: counted in other processes
    first: tuple[int, int, int, LayerMismatch] | None = None  # inference, width, vector, where
    parity: ParityReport | None = None

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def text(self) -> str:
        from wavebits.bank.report import table

        rows = [[b, n] for b, n in self.per_width.items()]
        recon = "" if self.reconstructions is None else f", {self.reconstructions} Haar-unit reconstructions"
        out = [f"C simulation ({self.weights} weights): {self.inferences} inferences, "
               f"{self.switches} width switches{recon}",
               table(["width", "inferences"], rows)]
        if self.first is None:
            out.append("every layer of every inference equals the golden model: 0 mismatches")
        else:
            k, b, i, m = self.first
            out.append(f"{self.mismatches} inferences differ; first: inference {k} (width {b}, vector {i}): {m}")
        return "\n".join(out)


def check_csim(project: Path, widths: list[int] | None = None, schedule: list[int] | None = None,
               progress: bool = True, executor: Executor | None = None) -> CsimReport:
    """Every baked vector at every width in ``widths``, then along ``schedule``, against the golden model.

    A thin front end of ``wavebits.sim.parity.check`` with a ``CsimLevel``.
    """
    from .levels import CsimLevel
    from .parity import check, plan

    load_project(project, "hls")  # every file named when missing or damaged, before anything runs
    level = CsimLevel(project)
    bank = level.bank
    widths = list(bank.widths) if widths is None else widths
    for b in [*widths, *(schedule or [])]:
        bank.check_width(b)
    x = read_vectors(project, bank.input_shape)
    vectors, sequence = plan(len(x), widths, schedule or [])
    if progress:
        log.info("C simulation of %s: %d inferences", project, len(sequence))
    parity = check(level, x[vectors], sequence, executor=executor)
    report = CsimReport(weights=level.weights, inferences=parity.inferences, switches=parity.switches,
                        reconstructions=level.reconstructions if parity.executor == "serial" else None,
                        mismatches=parity.mismatched_inferences,
                        parity=parity)
    for b in sequence:
        report.per_width[b] = report.per_width.get(b, 0) + 1
    if parity.first is not None:
        m = parity.first
        report.first = (m.inference, m.bits, vectors[m.inference],
                        LayerMismatch(m.layer, m.channel, m.index, m.expected, m.got))
    return report
