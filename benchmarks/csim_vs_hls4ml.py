"""C simulation of the generated HLS project against hls4ml, for a LeNet-5 bank at every width.

Usage: python benchmarks/csim_vs_hls4ml.py [--vectors 64] [--bits all] [--seed 0]

wavebits builds ONE project (g++) that serves every width; hls4ml compiles one model per width.
Prints build/compile times and inferences per second, with the ratios, and whether outputs match.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from wavebits.codegen.hls import write_hls_project
from wavebits.codegen.hls4ml_ref import hls4ml_logits, hls4ml_model
from wavebits.sim.csim import build_csim, run_csim
from wavebits.sim.golden import GoldenModel

from wavebits.bank import synth_bank
from wavebits.bank.report import table
from wavebits.reports import scratch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vectors", type=int, default=64)
    ap.add_argument("--bits", default="all")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    bank = synth_bank("lenet5", seed=args.seed)
    widths = list(bank.widths) if args.bits == "all" else [int(b) for b in args.bits.split(",")]
    x = np.random.default_rng(args.seed).integers(0, 256, (args.vectors, 1, 28, 28)).astype(np.uint8)
    with scratch("wb-bench-") as work:
        project = write_hls_project(bank, work / "hls", "banked", vectors=x)
        t0 = time.perf_counter()
        binary = build_csim(project)
        build_s = time.perf_counter() - t0
        golden = GoldenModel(bank)
        rows = []
        for b in widths:
            t0 = time.perf_counter()
            results = run_csim(project, binary, [(b, i) for i in range(len(x))])
            csim_s = time.perf_counter() - t0
            csim_out = np.stack([r[1][bank.output] for r in results])
            t0 = time.perf_counter()
            hls = hls4ml_model(bank, b, work / f"hls4ml-w{b}")
            compile_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            ref = hls4ml_logits(hls, bank, x)
            predict_s = time.perf_counter() - t0
            want = golden.logits(x, b)
            rows.append([b, f"{build_s if b == widths[0] else 0:.1f}", f"{compile_s:.1f}",
                         f"{len(x) / csim_s:.0f}", f"{len(x) / predict_s:.0f}", f"{predict_s / csim_s:.2f}",
                         "yes" if (csim_out == want).all() else "NO", "yes" if (ref == want).all() else "NO"])
            print(f"width {b} done", flush=True)
        print(f"LeNet-5 bank (seed {args.seed}), {len(x)} vectors; csim builds once for all widths "
              f"({build_s:.1f} s), hls4ml compiles once per width")
        print(table(["width", "csim build s", "hls4ml compile s", "csim inf/s", "hls4ml inf/s",
                     "csim/hls4ml speed", "csim == golden", "hls4ml == golden"], rows))
        total_hls4ml = sum(float(r[2]) for r in rows)
        print(f"build for {len(widths)} widths: wavebits {build_s:.1f} s (one build) vs hls4ml "
              f"{total_hls4ml:.1f} s ({total_hls4ml / build_s:.1f}x)")


if __name__ == "__main__":
    main()
