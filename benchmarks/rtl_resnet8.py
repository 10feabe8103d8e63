"""ResNet-8 (MLPerf Tiny) on the ECP5-85F: cycles per width in the RTL simulation, the bitstream's
resources and Fmax, the estimator beside nextpnr.

Usage: python benchmarks/rtl_resnet8.py [--bank FILE] [--widths 8,4,2,1] [--lanes N] [--planes N] [--seed 1]
                                        [--no-bitstream] [--out docs/results/rtl-resnet8.md]

Synthesizes a ResNet-8 bank (seed 0) with the given widths unless --bank names one, estimates both
weight modes against the board, generates the banked project with the lane count `codegen rtl --fit
ulx3s-85f` picks for --planes weight bit planes per item (or --lanes), simulates one inference at
every width and one along the switch schedule 8,1,4,2 (bit-exact against the golden model layer by
layer, or the script fails), and builds the bitstream. Cycle counts are exact; times are at the core
clock (the project's PLL output).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from wavebits.codegen.estimate import CAPACITY, DoesNotFit, Estimate, Resources, estimate, fit
from wavebits.codegen.rtl import write_rtl_project
from wavebits.sim.rtlsim import check_rtl

from wavebits.bank import read_bank, synth_bank
from wavebits.bank.report import table
from wavebits.reports import command_line, publish, scratch

BOARD = "ulx3s-85f"
SCHEDULE = [8, 1, 4, 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bank", type=Path, default=None, help="A ResNet-8 bank (default: synthesized, seed 0).")
    ap.add_argument("--widths", default="8,4,2,1", help="Widths of the synthesized bank.")
    ap.add_argument("--lanes", type=int, default=None, help="Lanes (default: --fit ulx3s-85f's).")
    ap.add_argument("--planes", type=int, default=1, help="Weight bit planes per item.")
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placement seed.")
    ap.add_argument("--no-bitstream", action="store_true", help="Skip synthesis and place-and-route.")
    ap.add_argument("--out", type=Path, default=None, help="Also write the tables as markdown here.")
    args = ap.parse_args()
    widths = tuple(int(w) for w in args.widths.split(","))
    bank = read_bank(args.bank) if args.bank else synth_bank("resnet8", seed=0, widths=widths)
    fitted: dict[str, Estimate | DoesNotFit] = {}
    for mode in ("banked", "reconstruct"):
        try:
            fitted[mode] = fit(bank, mode, BOARD, planes=(args.planes,))
        except DoesNotFit as e:
            fitted[mode] = e
    if not args.lanes and isinstance(fitted["banked"], DoesNotFit):
        raise SystemExit(f"error: {fitted['banked']}")
    lanes = args.lanes or fitted["banked"].lanes
    planes = args.planes
    source = f"`{args.bank.name}`" if args.bank else f'`synth_bank("resnet8", seed=0, widths={widths})`'
    lines = [f"# RTL: {bank.name} on the {BOARD.upper()}, banked weights, P = {lanes} lanes x {planes} planes"
             + ("" if args.lanes else " (--fit)"), "",
             f"Reproduce: `{command_line(Path(__file__).resolve().parents[1])}` (bank: {source}; "
             f"nextpnr seed {args.seed}).", ""]

    fits = []
    for mode, chosen in fitted.items():
        if isinstance(chosen, DoesNotFit):
            fits.append([mode, "-", f"does not fit: {chosen}", _resources(chosen.estimate.resources)
                         + f" (P={chosen.estimate.lanes})"])
        else:
            fits.append([mode, f"{chosen.lanes} x {chosen.planes}", "fits", _resources(chosen.resources)])
    lines += ["## Does it fit? (`wavebits estimate`, --fit's headroom)", "",
              table(["weights", "--fit lanes x planes", "verdict", "estimate"], fits), ""]

    with scratch("wb-resnet8-") as work:
        project = write_rtl_project(bank, work / "banked", "banked", lanes, planes=planes)
        every = check_rtl(project, list(bank.widths), 1)
        switches = check_rtl(project, SCHEDULE, 1)
        for r in (every, switches):
            assert r.ok, r.text()
        cyc = every.cycles_per_width()
        est = estimate(bank, "banked", lanes, planes=planes)
        mhz = json.loads((project / "project.json").read_text())["clock_mhz"]  # the PLL's core clock
        rows = [[b, f"{cyc[b]:,}", f"{cyc[b] / cyc[max(cyc)]:.3f}", f"{cyc[b] / mhz:,.1f}",
                 f"{mhz * 1e6 / cyc[b]:,.0f}", f"{est.cycles[b]['total']:,}",
                 f"{100 * (est.cycles[b]['total'] - cyc[b]) / cyc[b]:+.1f}"] for b in sorted(cyc, reverse=True)]
        lines += ["## Cycles per inference (Verilator, bit-exact at every layer)", "",
                  table(["width", "cycles", "vs widest", f"us at {mhz:g} MHz", "inferences/s", "cycle model",
                         "model error %"], rows), ""]
        if not args.no_bitstream:
            from wavebits.codegen.bitstream import build_bitstream

            build = build_bitstream(project, seed=args.seed)
            used = {k: v[0] for k, v in build.utilization.items()}
            model = []
            for key, name in (("lut4", "LUT4"), ("ff", "flip-flops"), ("dsp", "DSP (18x18)"),
                              ("bram", "block RAM (18 kbit)")):
                got, want = used.get(name, 0), getattr(est.resources, key)
                model.append([key, got, want, getattr(CAPACITY[BOARD], key),
                              f"{100 * (want - got) / got:+.1f}" if got else "-"])
            lines += ["## Bitstream", "", "```", build.text(), "```", "",
                      f"Fmax {build.fmax_mhz:.1f} MHz against the {mhz:g} MHz core clock: "
                      + ("met." if build.fmax_mhz >= mhz else f"NOT met ({build.fmax_mhz / mhz:.3f} of it)."), "",
                      "## Estimator beside nextpnr", "",
                      table(["resource", "nextpnr", "estimate", "available", "error %"], model), ""]
        lines += ["## Simulations", "", "```", every.text(), "", switches.text(), "```", ""]
        publish("\n".join(lines), args.out)


def _resources(r: Resources) -> str:
    return f"LUT4 {r.lut4:,}, FF {r.ff:,}, DSP {r.dsp}, BRAM {r.bram}"


if __name__ == "__main__":
    main()
