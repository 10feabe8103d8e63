"""C simulation of a generated HLS project: g++ against the ap_types headers, checked bit-exact.

``check_csim`` builds the project once (cached by a hash of its sources), runs every test vector at
every requested width, then along a switch schedule (the width changes between inferences), and
compares every layer's output with the golden model, integer for integer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from wavebits.codegen.project import load_project, read_project

from wavebits.errors import WavebitsError
from wavebits.tools import find_tool, run_tool

from .golden import GoldenModel, LayerMismatch


def ap_types_dir() -> Path:
    """Xilinx's ap_int/ap_fixed headers as shipped inside the installed hls4ml package."""
    try:
        import hls4ml
    except ImportError:
        raise WavebitsError("hls4ml is not installed: it provides the ap_types headers (pip install hls4ml)") from None
    d = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    if not (d / "ap_int.h").is_file():
        raise WavebitsError(f"{d}: ap_int.h not found in the hls4ml package")
    return d


def build_csim(project: Path, quiet: bool = True) -> Path:
    """Compile the project's C test bench; returns the binary (reused while the sources are unchanged)."""
    project = Path(project)
    info = read_project(project, "hls")
    cxx = find_tool("g++", "the C simulation needs a C++ compiler: apt-get install g++")
    top = info["top"]
    sources = [*sorted((project / "firmware").rglob("*.[ch]*")), project / f"{top}_test.cpp"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    binary = project / "build" / f"csim-{digest}"
    if binary.is_file():
        return binary
    binary.parent.mkdir(exist_ok=True)
    cmd = [cxx, "-O2", "-std=c++14", "-w", f"-I{project / 'firmware'}", f"-I{ap_types_dir()}",
           str(project / "firmware" / f"{top}.cpp"), str(project / f"{top}_test.cpp"), "-o", str(binary)]
    r = run_tool(cmd)
    if r.returncode != 0:
        tail = "\n".join(r.stderr.strip().splitlines()[-15:])
        raise WavebitsError(f"{project}: g++ failed to build the C simulation (the end of its output above)",
                            detail=tail)
    return binary


def run_csim(project: Path, binary: Path, sequence: list[tuple[int, int]]) -> list[tuple[int, dict[str, np.ndarray]]]:
    """Run ``(bits, vector)`` inferences in order; returns (reconstructions so far, layer outputs) each."""
    project = Path(project)
    run_file, out_file = project / "build" / "run.dat", project / "build" / "out.dat"
    run_file.write_text("".join(f"{b} {i}\n" for b, i in sequence))
    r = run_tool([str(binary.resolve()), str(run_file.resolve()), str(out_file.resolve())], cwd=project)
    if r.returncode != 0:
        raise WavebitsError(f"{project}: C simulation failed (exit {r.returncode}; the end of its output above)",
                            detail=r.stderr.strip()[-500:])
    results: list[tuple[int, dict[str, np.ndarray]]] = []
    for number, line in enumerate(out_file.read_text(errors="replace").splitlines(), start=1):
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
    """Outcome of a C-simulation parity check."""

    weights: str
    inferences: int = 0
    per_width: dict[int, int] = field(default_factory=dict)  # width -> inferences checked
    mismatches: int = 0  # inferences with any differing value
    switches: int = 0
    reconstructions: int = 0
    first: tuple[int, int, int, LayerMismatch] | None = None  # inference, width, vector, where

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def text(self) -> str:
        from wavebits.bank.report import table

        rows = [[b, n] for b, n in self.per_width.items()]
        out = [f"C simulation ({self.weights} weights): {self.inferences} inferences, "
               f"{self.switches} width switches, {self.reconstructions} Haar-unit reconstructions",
               table(["width", "inferences"], rows)]
        if self.first is None:
            out.append("every layer of every inference equals the golden model: 0 mismatches")
        else:
            k, b, i, m = self.first
            out.append(f"{self.mismatches} inferences differ; first: inference {k} (width {b}, vector {i}): {m}")
        return "\n".join(out)


def check_csim(project: Path, widths: list[int] | None = None, schedule: list[int] | None = None,
               progress: bool = True) -> CsimReport:
    """Every vector at every width in ``widths``, then along ``schedule``, against the golden model."""
    loaded = load_project(project, "hls")
    project, info, bank, x = loaded.path, loaded.meta, loaded.bank, loaded.inputs
    widths = list(bank.widths) if widths is None else widths
    for b in [*widths, *(schedule or [])]:
        bank.check_width(b)
    sequence = [(b, i) for b in widths for i in range(len(x))]
    if schedule:
        sequence += [(schedule[k % len(schedule)], k % len(x)) for k in range(max(len(schedule), len(x)))]
    if progress:
        print(f"building {project} with g++ ...", flush=True)
    binary = build_csim(project)
    results = run_csim(project, binary, sequence)
    golden = GoldenModel(bank)
    layers = info["layers"]
    expected = {b: golden.run(x, b, layers) for b in sorted({b for b, _ in sequence})}
    report = CsimReport(weights=info["weights"], inferences=len(sequence))
    previous = None
    for k, ((b, i), (recon, got)) in enumerate(zip(sequence, results, strict=True)):
        report.per_width[b] = report.per_width.get(b, 0) + 1
        report.switches += previous is not None and b != previous
        previous = b
        report.reconstructions = recon
        for name in layers:
            exp = expected[b][name][i]
            if name not in got or got[name].size != exp.size:
                raise WavebitsError(f"{project}: inference {k}: the C simulation gave no {exp.size} values for layer "
                                    f"{name!r}; the project's sources are damaged (regenerate it)")
            g = got[name].reshape(exp.shape)
            diff = np.argwhere(g != exp)
            if len(diff):
                idx = tuple(int(v) for v in diff[0])
                report.mismatches += 1
                if report.first is None:
                    report.first = (k, b, i, LayerMismatch(name, idx[0] if idx else 0, idx, int(exp[idx]), int(g[idx])))
                break
    return report
