"""Verification at scale: LeNet-5 on the MNIST test set through the golden model, the C simulation
and the RTL, serially against sharded over N processes and over a local Ray instance.

Usage: python benchmarks/verify_scale.py [--bank lenet5-mnist.wbank] [--workers 2] [--images 10000]
       [--csim-images 10000] [--rtl-images 1000] [--rtl-weights banked] [--compare golden=N,csim=N,rtl=N]
       [--checks golden,csim,rtl] [--no-ray] [--out docs/results/verify-scale.md]

Three checks, every layer of every inference against the golden model (banked weights):

golden  the golden model in reconstruct mode (weights rebuilt from the wavelet components) against
        the banked one, ``--images`` MNIST test images at each of the 8 widths;
csim    the generated HLS C++ (banked) compiled with g++, ``--csim-images`` images at each width;
rtl     the generated Verilog (``--rtl-weights``, default banked; 8 lanes) in Verilator,
        ``--rtl-images`` images at each width, then each of them once more along a seeded random
        schedule (``random:K``: every inference at a width other than the one before it, so every
        inference is a width switch).

Each runs serially, over ``--workers`` processes and over a local Ray instance with as many CPUs;
the reports must equal the serial one but for their timing. ``--compare CHECK=N`` compares the
executors on the first N images only and runs the full count once, with the executor that was
fastest on those N (for a check too long to run three times). The bank is ``--bank`` (a trained
one: ``wavebits train``) or else a synthesized LeNet-5 (seed 0). Builds (g++, Verilator) are made
once, before the timed runs, and shared by every worker. Exit 1 if any check differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from wavebits.sim.levels import CsimLevel, GoldenLevel, RtlLevel
from wavebits.sim.parity import Level, ParityReport, check, plan, random_schedule
from wavebits.sim.shard import Executor, ProcessExecutor, RayExecutor, SerialExecutor

from wavebits.bank.model import Bank
from wavebits.bank.report import table
from wavebits.reports import scratch

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"
CHECKS = ("golden", "csim", "rtl")
RTL_LANES = 8
TRAIN = ("wavebits train --config training/configs/mnist.toml --data-dir ../shared/data/mnist --float-epochs 1 "
         "--epochs 1 --limit-train 20000 --limit-test 2000 -o lenet5-mnist.wbank")
"""How the trained bank is made: a short run (the config's 3 + 6 epochs on all 60,000 images take about two
hours on the shared 2-core machine the results come from; this one took 21 min)."""


@dataclass
class Case:
    """One check: a level, how many images it runs in full, and on how many the executors are compared."""

    key: str
    level: Level
    images: int
    compare: int
    random_switches: bool = False

    def inputs(self, x: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, list[int]]:
        """The first ``n`` images at every width, then (``random_switches``) each once more along a
        seeded random schedule."""
        widths = list(self.level.bank.widths)
        schedule = random_schedule(widths, n, seed) if self.random_switches else []
        vectors, plan_widths = plan(n, widths, schedule)
        return x[vectors], plan_widths

    def title(self, n: int) -> str:
        """What the check runs on ``n`` images, for the table."""
        lv = self.level
        what = {"golden": "golden (reconstruct) vs golden (banked)",
                "csim": f"C simulation ({lv.weights}) vs golden",
                "rtl": f"RTL, Verilator ({lv.weights}, P={RTL_LANES}) vs golden"}[self.key]
        more = f" + {n} on random:{n}" if self.random_switches else ""
        return f"{what}: {n} images x {len(lv.bank.widths)} widths{more}"


@dataclass
class Row:
    """One timed run of one check on one executor."""

    check: str
    key: str
    images: int
    executor: str
    wall_s: float
    report: ParityReport
    load: float  # 1-minute load average when the run started
    serial: Row | None = None  # the serial run of the same inferences (itself for the serial row), if any

    @property
    def speedup(self) -> float | None:
        return None if self.serial is None else self.serial.wall_s / self.wall_s

    @property
    def same(self) -> bool | None:
        return None if self.serial is None else same_report(self.serial.report, self.report)


def same_report(a: ParityReport, b: ParityReport) -> bool:
    """Whether two reports are equal but for their timing."""
    da, db = a.to_dict(), b.to_dict()
    da.pop("timing")
    db.pop("timing")
    return da == db


def parity_line(report: ParityReport) -> str:
    """One line: 0 mismatches, or the first one with every detail."""
    if report.first is None:
        return f"0 mismatches ({report.values_compared:,} values)"
    m = report.first
    return (f"{report.mismatched_inferences} inferences differ; first: level {m.level}, inference {m.inference}, "
            f"width {m.bits}, layer {m.layer!r}, channel {m.channel}, index {m.index}: expected {m.expected}, "
            f"got {m.got}")


def load_bank(path: Path | None) -> tuple[Bank, str]:
    """The bank to verify and a description of it."""
    from wavebits.bank.io import read_bank

    if path is not None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        return read_bank(path), f"trained LeNet-5 bank {path.name} (sha256 {digest}...)"
    from wavebits.bank import synth_bank

    return synth_bank("lenet5", seed=0), "synthesized LeNet-5 bank (synth_bank('lenet5', seed=0), untrained)"


def load_images(n: int) -> tuple[np.ndarray, np.ndarray | None, str]:
    """The first ``n`` MNIST test images and labels (seeded random images where MNIST is absent)."""
    if (MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        from wavebits.data import load_dataset

        x, y = load_dataset("mnist", "test", MNIST)
        return np.asarray(x)[:n], np.asarray(y)[:n], "MNIST test images"
    x = np.random.default_rng(0).integers(0, 256, (n, 1, 28, 28))
    return x, None, f"seeded random images (no {MNIST})"


def accuracy_line(bank: Bank, x: np.ndarray, y: np.ndarray | None) -> str:
    """The golden model's accuracy at every width (where there are labels): is the bank a real one."""
    if y is None:
        return "no labels: accuracy not measured"
    from wavebits.sim.golden import GoldenModel

    model = GoldenModel(bank)
    acc = [f"{b}: {100 * np.mean(model.predict(x, b) == y):.2f}" for b in bank.widths]
    return f"golden accuracy (%) on {len(x)} images by width: " + ", ".join(acc)


def build_levels(bank: Bank, keys: Sequence[str], work: Path, rtl_weights: str
                 ) -> tuple[dict[str, Level], dict[str, float]]:
    """The levels of ``keys``, their projects generated in ``work`` and built (seconds per build)."""
    from wavebits.codegen.hls import write_hls_project
    from wavebits.codegen.rtl import write_rtl_project

    makers: dict[str, Callable[[], Level]] = {
        "golden": lambda: GoldenLevel(bank, "reconstruct"),
        "csim": lambda: CsimLevel(write_hls_project(bank, work / "hls", "banked")),
        "rtl": lambda: RtlLevel(write_rtl_project(bank, work / "rtl", rtl_weights, RTL_LANES)),
    }
    levels, seconds = {}, {}
    for key in keys:
        t0 = time.perf_counter()
        levels[key] = makers[key]()
        levels[key].prepare()
        seconds[key] = time.perf_counter() - t0
        print(f"built {key}: {seconds[key]:.1f} s", flush=True)
    return levels, seconds


def make_executors(workers: int, ray: bool) -> list[tuple[str, Executor]]:
    """Serial, ``workers`` processes and (``ray``) a local Ray instance with ``workers`` CPUs."""
    executors: list[tuple[str, Executor]] = [("serial", SerialExecutor()),
                                             (f"{workers} processes", ProcessExecutor(workers))]
    if ray:
        import ray as ray_module

        ray_module.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        executors.append((f"Ray, {workers} CPUs", RayExecutor(workers=workers)))
    return executors


def timed(case: Case, x: np.ndarray, n: int, name: str, executor: Executor) -> Row:
    """Run ``case`` on the first ``n`` images with ``executor``; print and return the row."""
    xs, widths = case.inputs(x, n)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    report = check(case.level, xs, widths, executor=executor)
    row = Row(case.title(n), case.key, n, name, time.perf_counter() - t0, report, load)
    print(f"{row.check} [{len(xs)} inferences, {report.switches} switches]: {name} {row.wall_s:.1f} s "
          f"(load {load:.1f}): {parity_line(report)}", flush=True)
    return row


def run_case(case: Case, x: np.ndarray, executors: list[tuple[str, Executor]]) -> list[Row]:
    """Every executor on ``case.compare`` images; then, where that is less than ``case.images``, the
    full count once on the fastest parallel executor."""
    rows: list[Row] = []
    for name, executor in executors:
        row = timed(case, x, case.compare, name, executor)
        row.serial = rows[0] if rows else row
        rows.append(row)
    if case.images > case.compare:
        fastest = min(rows[1:] or rows, key=lambda r: r.wall_s).executor
        rows.append(timed(case, x, case.images, fastest, dict(executors)[fastest]))
    return rows


def cell(value: float | bool | None, fmt: str = "{:.2f}") -> str:
    """A table cell: ``-`` where there is no serial run to compare with."""
    if value is None:
        return "- (no serial run)"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return fmt.format(value)


def row_json(row: Row) -> dict[str, Any]:
    """A row as JSON: its timing, its verdicts and the full parity report."""
    return {"check": row.key, "title": row.check, "images": row.images, "inferences": row.report.inferences,
            "switches": row.report.switches, "executor": row.executor, "wall_s": round(row.wall_s, 2),
            "load_at_start": round(row.load, 2),
            "speedup": None if row.speedup is None else round(row.speedup, 3), "same_as_serial": row.same,
            "parity": parity_line(row.report), "report": row.report.to_dict()}


def merge_results(path: Path, run: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The results file's runs and rows, with this run's checks replaced (``--checks rtl`` reruns only
    the RTL rows and keeps the others)."""
    old = json.loads(path.read_text()) if path.is_file() else {"runs": [], "rows": []}
    mine = set(run["checks"])
    kept = [r for r in old.get("rows", []) if r["check"] not in mine]
    runs = [r for r in old.get("runs", []) if set(r["checks"]) - mine]
    for r in runs:
        r["checks"] = [c for c in r["checks"] if c not in mine]
    order = {c: i for i, c in enumerate(CHECKS)}
    return {"runs": [*runs, run], "rows": sorted([*kept, *rows], key=lambda r: order[r["check"]])}


def run_line(run: dict[str, Any]) -> str:
    """How one run was made: its command, bank, inputs, machine load and builds."""
    loads = [", ".join(map(str, run[k])) for k in ("load_start", "load_end")]
    builds = ", ".join(f"{k} {v:.0f} s" for k, v in run["builds_s"].items())
    return (f"- {', '.join(run['checks'])}: `{run['command']}` ({run['date']}; {run['bank']}; {run['inputs']}; "
            f"{run['cpus']} CPUs visible, niceness {run.get('nice', 0)}, load average (1, 5, 15 min) {loads[0]} "
            f"at the start and {loads[1]} at the end; builds, made once before the timed runs and shared by every "
            f"worker: {builds}; {run['total_s'] / 60:.1f} min in all)")


def markdown(results: dict[str, Any]) -> str:
    """The results page: how each run was made, and one table of every row."""
    runs = "\n".join(map(run_line, results["runs"]))
    accuracy = "".join(f"\n{r['accuracy']}." for r in results["runs"] if r.get("accuracy"))
    rows = results["rows"]
    body = table(["check", "inferences", "executor", "wall s", "speedup", "report == serial", "parity"],
                 [["" if k and r["title"] == rows[k - 1]["title"] else r["title"], r["inferences"], r["executor"],
                   f"{r['wall_s']:.1f}", cell(r["speedup"]), cell(r["same_as_serial"]), r["parity"]]
                  for k, r in enumerate(rows)])
    return (f"# Verification at scale: serial against sharded\n\n"
            f"The trained bank: `{TRAIN}` (1 float and 1 multiscale epoch on 20,000 images, 21 min here; the "
            "config's 3 + 6 epochs on 60,000 would take about two hours on this shared machine)."
            f"{accuracy}\n\nRuns (the machine was shared with other jobs, so the timings are indicative: a speedup "
            "measures the share of the CPUs N processes won against one as much as the sharding):\n\n"
            f"{runs}\n\n"
            "Each row runs `wavebits.sim.parity.check` (the level and the golden reference, every layer of every "
            "inference); `report == serial` compares the JSON reports without their `timing`; `speedup` is the serial "
            "row's wall time over this row's. A row with no serial run is the full count, run once on the executor "
            "that was fastest on the smaller count above it (`--compare`). The JSON beside this file holds every "
            "row's full report.\n\n"
            f"```\n{body}\n```\n")


def parse_compare(text: str) -> dict[str, int]:
    """``--compare golden=N,rtl=M``: the images the executors are compared on, per check."""
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, _, n = item.partition("=")
        if key not in CHECKS or not n.isdigit() or int(n) < 1:
            raise argparse.ArgumentTypeError(f"expected CHECK=N with CHECK in {','.join(CHECKS)}, got {item!r}")
        out[key] = int(n)
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bank", type=Path, default=None, help=f"A trained LeNet-5 bank (`{TRAIN}`); default: "
                    "a synthesized one.")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--images", type=int, default=10000, help="MNIST test images of the golden check.")
    ap.add_argument("--csim-images", type=int, default=10000)
    ap.add_argument("--rtl-images", type=int, default=1000)
    ap.add_argument("--rtl-weights", choices=["banked", "reconstruct"], default="banked")
    ap.add_argument("--compare", type=parse_compare, default={},
                    help="CHECK=N,...: compare the executors on N images only, then run the full count once.")
    ap.add_argument("--checks", default=",".join(CHECKS), help="Which checks, comma-separated (the results "
                    "file keeps the rows of the others).")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "docs/results/verify-scale.md")
    args = ap.parse_args(argv)
    given = {c for c in args.checks.split(",") if c}
    if not given or given - set(CHECKS):
        ap.error(f"--checks: known checks are {','.join(CHECKS)}")
    args.checks = [c for c in CHECKS if c in given]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python benchmarks/verify_scale.py " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv))
    load_start, t_start = os.getloadavg(), time.perf_counter()
    bank, bank_text = load_bank(args.bank)
    full = {"golden": args.images, "csim": args.csim_images, "rtl": args.rtl_images}
    x, y, source = load_images(max(full[k] for k in args.checks))
    accuracy = accuracy_line(bank, x[:args.images], y if y is None else y[:args.images]) if "golden" in args.checks \
        else None
    rows: list[Row] = []
    with scratch("wb-verify-scale-") as work:
        levels, builds = build_levels(bank, args.checks, work, args.rtl_weights)
        executors = make_executors(args.workers, not args.no_ray)
        for key in args.checks:
            case = Case(key, levels[key], full[key], min(full[key], args.compare.get(key, full[key])), key == "rtl")
            rows += run_case(case, x, executors)
    run = {"checks": args.checks, "command": command, "date": time.strftime("%Y-%m-%d %H:%M"), "bank": bank_text,
           "inputs": source, "accuracy": accuracy, "cpus": len(os.sched_getaffinity(0)), "nice": os.nice(0),
           "load_start": [round(v, 1) for v in load_start], "load_end": [round(v, 1) for v in os.getloadavg()],
           "builds_s": {k: round(v, 1) for k, v in builds.items()}, "total_s": round(time.perf_counter() - t_start, 1)}
    results = merge_results(args.out.with_suffix(".json"), run, [row_json(r) for r in rows])
    text = markdown(results)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    args.out.write_text(text)
    print(f"wrote {args.out} and {args.out.with_suffix('.json').name}")
    return 0 if all(r.report.ok and r.same is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
