"""The RTL estimator beside what it estimates: its cycle model against the RTL simulation and its
resource model against nextpnr's report (or Yosys's netlist statistics with ``--yosys``).

Usage: python benchmarks/estimate_accuracy.py [--config ARCH:LANES[xPLANES][dsp]:WEIGHTS[:WIDTHS] ...] [--no-build]
                                              [--yosys] [--jobs N]
                                              [--out docs/results/estimate-accuracy.md]

Targets (issue 14): cycles within 2 % of the simulation, resources within 15 % of nextpnr. With
``--yosys`` it also prints the least-squares fit of ``wavebits.codegen.estimate.LOGIC`` to the
synthesized configurations (how the coefficients were made).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from wavebits.codegen.bitstream import synth_resources
from wavebits.codegen.estimate import absorbed_flip_flops, build_design, counted_logic, estimate, logic_features
from wavebits.codegen.rtl import write_rtl_project
from wavebits.sim.rtlsim import check_rtl

from wavebits.bank import synth_bank
from wavebits.bank.report import table
from wavebits.reports import publish, scratch

# the configurations measured; LOGIC is fitted to all but ResNet-8 with widths 8,4,2,1 on 8, 16 and 32 lanes
# (LeNet-5 at P = 8 and ResNet-8 with widths 8,4,2,1 at P = 4 to 32 are also measured against nextpnr by
# benchmarks/rtl_targets.py and benchmarks/rtl_resnet8.py)
CONFIGS = ["lenet5:8:banked", "lenet5:4:banked:8,4,2,1", "lenet5:16:banked", "cnn-digits:8:banked", "mlp:4:banked",
           "mlp:8:banked", "resnet8:4:banked:8,4,2,1", "resnet8:8:banked:4,2,1", "resnet8:8:banked:8,4,2,1",
           "resnet8:16:banked:8,4,2,1", "resnet8:32:banked:8,4,2,1", "lenet5:4:reconstruct",
           "lenet5:8:reconstruct", "lenet5:16:reconstruct", "cnn-digits:8:reconstruct", "mlp:8:reconstruct",
           "resnet8:4:reconstruct:8,4,2,1", "resnet8:8:reconstruct:4,2,1",
           # several weight bit planes per item
           "lenet5:8x2:banked", "lenet5:8x8:banked", "lenet5:4x4:banked:8,4,2,1", "resnet8:4x8:banked:8,4,2,1",
           "lenet5:8x4:reconstruct", "lenet5:8x8:reconstruct", "resnet8:4x2:reconstruct:8,4,2,1",
           # the lanes' products on multipliers
           "lenet5:8x8dsp:banked", "lenet5:8x8dsp:reconstruct", "resnet8:4x8dsp:banked:8,4,2,1"]


def engine_of(engine: str) -> tuple[int, int, str]:
    """(lanes, planes, mac) of a config's LANES[xPLANES][dsp]."""
    m = re.fullmatch(r"(\d+)(?:x(\d+))?(dsp)?", engine)
    if not m:
        raise SystemExit(f"error: --config: expected LANES[xPLANES][dsp], got {engine!r}")
    return int(m[1]), int(m[2] or 1), "dsp" if m[3] else "lut"


def parse_config(spec: str) -> tuple[str, int, int, str, str, dict]:
    """(arch, lanes, planes, mac, weights, synth_bank's widths keyword) of ARCH:ENGINE:WEIGHTS[:WIDTHS]."""
    parts = spec.split(":")
    if len(parts) not in (3, 4):
        raise SystemExit(f"error: --config: expected ARCH:LANES[xPLANES][dsp]:WEIGHTS[:WIDTHS], got {spec!r}")
    arch, engine, weights, *widths = parts
    try:
        kw = {"widths": [int(b) for b in widths[0].split(",")]} if widths else {}
    except ValueError:
        raise SystemExit(f"error: --config {spec!r}: WIDTHS must be comma-separated integers") from None
    return (arch, *engine_of(engine), weights, kw)


def measure(spec: str, config: tuple, work: Path, build: bool, yosys: bool) -> tuple[list, list, tuple | None]:
    """One configuration (``spec``, ``parse_config``'s ``config``): its cycle rows (every width, two
    inferences each: a width's figure is its inference not slowed by the switch; the rebuild after the
    switches), its resource rows and, with ``yosys``, its row of the logic fit."""
    arch, lanes, planes, mac, weights, widths = config
    bank = synth_bank(arch, seed=0, **widths)
    est = estimate(bank, weights, lanes, planes=planes, mac=mac)
    project = write_rtl_project(bank, work / spec.replace(":", "_").replace(",", ""), weights, lanes,
                                planes=planes, mac=mac)
    sim = check_rtl(project, [max(bank.widths), *bank.widths], 2)
    assert sim.ok, sim.text()
    crows, rrows, fit_row = [], [], None
    for b, cycles in sorted(sim.cycles_per_width().items(), reverse=True):
        model = est.cycles[b]["total"]
        crows.append([spec, b, cycles, model, f"{100 * (model - cycles) / cycles:+.2f}"])
    if est.rebuild_cycles:  # reconstruct: the Haar engine's rebuild after a width switch
        rebuild = max(s.rebuild for s in sim.switches)
        crows.append([spec, "rebuild", rebuild, est.rebuild_cycles,
                      f"{100 * (est.rebuild_cycles - rebuild) / rebuild:+.2f}"])
    if not build:
        return crows, rrows, fit_row
    if yosys:
        measured = synth_resources(project)
        design = build_design(bank, weights, lanes, images=False, planes=planes, mac=mac)
        measured["ff"] -= absorbed_flip_flops(design)
        lut, ff = counted_logic(design)
        fit_row = (weights, logic_features(design), measured["lut4"] - lut, measured["ff"] - ff)
        source = "yosys"
    else:
        from wavebits.codegen.bitstream import build_bitstream

        rep = build_bitstream(project)
        measured = {"lut4": rep.utilization["LUT4"][0], "ff": rep.utilization["flip-flops"][0],
                    "dsp": rep.utilization.get("DSP (18x18)", (0, 0))[0],
                    "bram": rep.utilization.get("block RAM (18 kbit)", (0, 0))[0]}
        source = f"nextpnr (Fmax {rep.fmax_mhz:.1f} MHz)"
    for k, v in measured.items():
        model = getattr(est.resources, k)
        err = f"{100 * (model - v) / v:+.1f}" if v else ("0" if model == 0 else "inf")
        rrows.append([spec, k, v, model, err, source])
    return crows, rrows, fit_row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", nargs="+", default=CONFIGS,
                    help="ARCH:LANES[xPLANES][dsp]:WEIGHTS[:WIDTHS] (synthesized banks, seed 0; one plane per item "
                         "unless PLANES, in LUTs unless dsp; every width unless WIDTHS: 8,4,2,1)")
    ap.add_argument("--no-build", action="store_true", help="Cycles only: no synthesis.")
    ap.add_argument("--yosys", action="store_true", help="Compare with Yosys's statistics instead of nextpnr "
                    "(minutes faster), and print the logic model's least-squares fit.")
    ap.add_argument("--jobs", type=int, default=1, help="Configurations measured at once (each synthesis "
                    "takes one core and up to 3 GB).")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.jobs < 1:
        raise SystemExit(f"error: --jobs: expected a positive count, got {args.jobs}")
    configs = {spec: parse_config(spec) for spec in args.config}
    crows, rrows, fit_rows = [], [], []
    t0 = time.time()
    with scratch("wb-estimate-") as work, ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(measure, spec, configs[spec], work, not args.no_build, args.yosys)
                   for spec in args.config]
        for spec, fut in zip(args.config, futures, strict=True):
            c, r, f = fut.result()
            crows += c
            rrows += r
            fit_rows += [f] if f else []
            print(spec, "done", flush=True)
        lines = ["# RTL estimator against simulation and synthesis", "",
                 "Reproduce: `python benchmarks/estimate_accuracy.py " + " ".join(
                     (["--no-build"] if args.no_build else []) + (["--yosys"] if args.yosys else []))
                 + (f" --config {' '.join(args.config)}" if args.config != CONFIGS else "") + "`"
                 + f" ({time.time() - t0:.0f} s, {args.jobs} at once). Banks: `synth_bank(ARCH, seed=0)`, every width"
                 " unless the config names them.", "",
                 "## Cycles per inference, and per rebuild in reconstruct mode (target: within 2 %)", "",
                 "Two inferences per width after a switch to it; a width's figure is the one the switch did not "
                 "slow (a rebuild longer than the inference in flight delays the first).", "",
                 table(["config", "width", "RTL simulation", "model", "error %"], crows), ""]
        if rrows:
            lines += ["## Resources (target: within 15 %)", "",
                      table(["config", "resource", "measured", "model", "error %", "measured by"], rrows), ""]
        if fit_rows:
            lines += ["## Logic model fit (least squares over the configurations above)", ""]
            for mode in ("banked", "reconstruct"):
                rows = [r for r in fit_rows if r[0] == mode]
                if len(rows) >= 2:
                    x = np.array([r[1] for r in rows], dtype=float)
                    for name, col in (("lut4", 2), ("ff", 3)):
                        coef, *_ = np.linalg.lstsq(x, np.array([r[col] for r in rows], dtype=float), rcond=None)
                        lines.append(f"- {mode} {name}: {json.dumps([round(c, 2) for c in coef])}")
            lines.append("")
        publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
