"""Serial against sharded verification: the same check on 1 process, N processes and a local Ray.

Usage: python benchmarks/verify_scale.py [--workers 2] [--limit N] [--no-ray] [--out docs/results/verify-scale.md]

Three checks of a synthesized LeNet-5 bank (seed 0) against the golden model, every layer of
every inference: the golden model in reconstruct mode on the MNIST test images (from
../shared/data/mnist; seeded random images where it is absent) at all 8 widths; the C simulation
(banked) on 64 inputs at every width; a short RTL simulation (cnn-digits bank, reconstruct, 8
lanes) on 32 inputs switching widths. Each runs serially, over ``--workers`` processes and over a local Ray instance
with as many CPUs; the reports must be identical but for their timing, which the script checks.
Builds (g++, Verilator) are made before the timed runs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from wavebits.codegen.hls import write_hls_project
from wavebits.codegen.rtl import write_rtl_project
from wavebits.sim.levels import CsimLevel, GoldenLevel, RtlLevel
from wavebits.sim.parity import ParityReport, check, plan, switching_order
from wavebits.sim.shard import ProcessExecutor, RayExecutor, SerialExecutor

from wavebits.bank import synth_bank
from wavebits.bank.report import table

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def _same(a: ParityReport, b: ParityReport) -> bool:
    da, db = a.to_dict(), b.to_dict()
    da.pop("timing")
    db.pop("timing")
    return da == db


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None, help="Use only the first N MNIST test images.")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs/results/verify-scale.md")
    args = ap.parse_args()
    load = os.getloadavg()[0]

    lenet = synth_bank("lenet5", seed=0)
    if (MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        from wavebits.data import load_dataset

        images = load_dataset("mnist", "test", MNIST)[0]
        source = "MNIST test images"
    else:
        images = np.random.default_rng(0).integers(0, 256, (10000, 1, 28, 28))
        source = "seeded random images (no ../shared/data/mnist)"
    images = images[:args.limit] if args.limit else images
    digits = synth_bank("cnn-digits", seed=0)
    work = Path(tempfile.mkdtemp(prefix="wb-verify-scale-"))
    hls = CsimLevel(write_hls_project(lenet, work / "hls", "banked"))
    rtl = RtlLevel(write_rtl_project(digits, work / "rtl", "reconstruct", 8))
    x64 = np.random.default_rng(1).integers(0, 256, (64, 1, 28, 28))
    x32 = np.random.default_rng(2).integers(0, 256, (32, 1, 8, 8))
    cases = [
        (f"golden (reconstruct) vs golden, LeNet-5, {len(images)} {source} x 8 widths",
         GoldenLevel(lenet, "reconstruct"), images, None),
        ("C simulation, LeNet-5 banked, 64 inputs x 8 widths", hls, x64, None),
        ("RTL (Verilator), cnn-digits reconstruct P=8, 32 inputs, schedule " + ",".join(map(str, switching_order(
            digits.widths))), rtl, x32, switching_order(digits.widths)),
    ]
    executors = [("serial", SerialExecutor()), (f"{args.workers} processes", ProcessExecutor(args.workers))]
    if not args.no_ray:
        import ray

        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        executors.append((f"Ray, {args.workers} CPUs", RayExecutor(workers=args.workers)))
    for _, level, _, _ in cases:
        level.prepare()
    rows = []
    for title, level, x, schedule in cases:
        if schedule is None:
            vectors, widths = plan(len(x), list(level.bank.widths), [])
        else:
            vectors, widths = list(range(len(x))), schedule
        xs = x[vectors]
        reports: list[ParityReport] = []
        serial = 0.0
        for name, ex in executors:
            t0 = time.perf_counter()
            reports.append(check(level, xs, widths, executor=ex))
            wall = time.perf_counter() - t0
            print(f"{title}: {name} {wall:.1f} s, ok={reports[-1].ok}", flush=True)
            serial = serial if name != "serial" else wall
            rows.append([title if name == "serial" else "", reports[-1].inferences if name == "serial" else "",
                         name, f"{wall:.1f}", f"{serial / wall:.2f}",
                         "yes" if _same(reports[0], reports[-1]) else "NO"])
    text = table(["check", "inferences", "executor", "wall s", "speedup", "report == serial"], rows)
    print(text)
    cmd = "python benchmarks/verify_scale.py" + (f" --workers {args.workers}" if args.workers != 2 else "") + (
        f" --limit {args.limit}" if args.limit else "")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        f"# Verification: serial against sharded\n\nReproduce: `{cmd}` ({len(os.sched_getaffinity(0))} "
        f"CPUs visible, load average {load:.1f} at the start: the machine was shared with other jobs, so the "
        "timings are indicative).\n"
        "Each row runs `wavebits.sim.parity.check` (the level and the golden reference, every layer of every "
        "inference); `report == serial` compares the JSON reports without their `timing`. The RTL run is short: "
        "starting worker processes costs more than it saves there.\n\n"
        f"```\n{text}\n```\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
