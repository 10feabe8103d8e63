"""RTL accelerator targets for a LeNet-5 bank: cycles per width, switch latency, memory, Fmax.

Usage: python benchmarks/rtl_targets.py [--bank FILE] [--lanes N] [--planes N] [--mac lut|dsp] [--vectors 2]
                                        [--seed 1] [--no-bitstream] [--out docs/results/rtl-lenet5.md]

Generates the RTL project in both weight modes with the lane count `codegen rtl --fit ulx3s-85f`
picks for --planes weight bit planes per item and --mac (or --lanes), simulates it with Verilator along every
width and the switch schedule 8,4,1,8,2 (switches in mid-stream, then from idle), builds the
ULX3S-85F bitstream, and prints one table of every target
(issue 14) beside the measured value, the estimator beside nextpnr, the paper's 1.2 s CPU switch and
a partial-reconfiguration estimate (about 1 ms for a small region at 400-800 MB/s).
Cycle counts are exact; times are at the core clock the bitstream runs at (its PLL output, 100 MHz).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from wavebits.codegen.estimate import CAPACITY, estimate, fit
from wavebits.codegen.rtl import MAC_CHOICES, MAC_WORDS, build_design, default_planes, write_rtl_project
from wavebits.sim.rtlsim import check_rtl

from wavebits.bank import read_bank, synth_bank
from wavebits.bank.report import table
from wavebits.graph import fan_in
from wavebits.reports import command_line, publish, scratch

SCHEDULE = [8, 4, 1, 8, 2]
PAPER_CPU_SWITCH_S = 1.2
PARTIAL_RECONFIG_S = 1e-3
CYCLES_TARGET = 5000  # per inference at 8 bits
# the engine before channel-word lanes (docs/results/rtl-lenet5.md at commit 68d8ab6): P = 8, 100 MHz
BEFORE = {"cycles": 458_638, "lut4": {"banked": 6059, "reconstruct": 15806}}


def excess_at_one_bit(model: dict[int, dict[str, int]], simulated: dict[int, int]) -> list[str]:
    """Where the 1-bit cycles exceed 1/8 of the 8-bit ones, per layer of the cycle model (``model``:
    width -> layer -> cycles), beside the simulation's totals (``simulated``: width -> cycles)."""
    if 1 not in model or 8 not in model:
        return []
    rows = [[layer, f"{c8:,}", f"{model[1][layer]:,}", f"{c8 / 8:,.1f}", f"{model[1][layer] - c8 / 8:+,.1f}"]
            for layer, c8 in model[8].items()]
    return ["## Cycles above 1/8 at 1 bit, per layer", "",
            f"The cycle model (the simulation's totals: {simulated[8]:,} at 8 bits, {simulated[1]:,} at 1 bit). "
            "Layers whose work is the same at every width (the input load, max pools) and each layer's setup "
            "and pipeline drain stay whole at 1 bit.", "",
            table(["layer", "8 bit", "1 bit", "1/8 of 8 bit", "1 bit - 1/8"], rows), ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bank", type=Path, default=None, help="A LeNet-5 bank (default: synthesized, seed 0).")
    ap.add_argument("--lanes", type=int, default=None, help="Lanes in both modes (default: --fit ulx3s-85f's).")
    ap.add_argument("--planes", type=int, default=None,
                    help="Weight bit planes per item in both modes (default: 1, 8 with --mac dsp).")
    ap.add_argument("--mac", choices=MAC_CHOICES, default="lut",
                    help="The lanes' products in LUTs or on multipliers, in both modes.")
    ap.add_argument("--vectors", type=int, default=2, help="Inferences per schedule segment.")
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placement seed.")
    ap.add_argument("--no-bitstream", action="store_true", help="Skip synthesis and place-and-route.")
    ap.add_argument("--out", type=Path, default=None, help="Also write the tables as markdown here.")
    args = ap.parse_args()
    bank = read_bank(args.bank) if args.bank else synth_bank("lenet5", seed=0)
    widths = list(bank.widths)
    plan = widths + SCHEDULE
    space = {**({"lanes": (args.lanes,)} if args.lanes else {}), "planes": (args.planes or default_planes(args.mac),),
             "macs": (args.mac,)}
    chosen = {mode: fit(bank, mode, **space) for mode in ("banked", "reconstruct")}
    lanes = {mode: e.lanes for mode, e in chosen.items()}
    planes = {mode: e.planes for mode, e in chosen.items()}
    on = MAC_WORDS[args.mac]
    engine = {mode: f"{lanes[mode]} x {planes[mode]}" + (" dsp" if args.mac == "dsp" else "") for mode in lanes}
    lines: list[str] = [f"# RTL targets: {bank.name}, P = {lanes['banked']} lanes x {planes['banked']} planes{on} "
                        f"banked, {lanes['reconstruct']} x {planes['reconstruct']} reconstruct"
                        + ("" if args.lanes else " (--fit ulx3s-85f)"), "",
                        f"Reproduce: `{command_line(Path(__file__).resolve().parents[1])}` (banks: "
                        + (f"`{args.bank.name}`" if args.bank else '`synth_bank("lenet5", seed=0)`')
                        + f"; nextpnr seed {args.seed}).", ""]
    with scratch("wb-rtl-") as work:
        reports, idle, meta_bits, clock_mhz, builds = {}, {}, {}, 0.0, {}
        for mode in ("banked", "reconstruct"):
            project = write_rtl_project(bank, work / mode, mode, lanes[mode], planes=planes[mode], mac=args.mac)
            reports[mode] = check_rtl(project, plan, args.vectors)
            idle[mode] = check_rtl(project, SCHEDULE, args.vectors, switch_mode="idle")
            meta = json.loads((project / "project.json").read_text())
            meta_bits[mode], clock_mhz = meta["memory_bits"], meta["clock_mhz"]
            for r in (reports[mode], idle[mode]):
                assert r.ok, r.text()
        fmax: dict[str, float] = {}
        if not args.no_bitstream:
            from wavebits.codegen.bitstream import build_bitstream

            for mode in ("reconstruct", "banked"):
                build = build_bitstream(work / mode, seed=args.seed)
                fmax[mode], builds[mode] = build.fmax_mhz, build
                lines += [f"## Bitstream ({mode} mode)", "", "```", build.text(), "```", ""]

        weights = bank.weight_count()
        cyc = {mode: reports[mode].cycles_per_width() for mode in reports}
        macs = sum(math.prod(bank.shapes[n.name]) * fan_in(n, bank.shapes[n.inputs[0]]) for n in bank.nodes
                   if n.weighted)
        dsp_bound = macs / CAPACITY["ulx3s-85f"].dsp
        rows = []
        for mode in ("banked", "reconstruct"):
            c8 = cyc[mode][8]
            rows.append([f"{mode}, P={lanes[mode]} x {planes[mode]} planes{on}: cycles/inference at 8 bit",
                         f"<= {CYCLES_TARGET:,}",
                         f"{c8:,} ({BEFORE['cycles'] / c8:.1f}x fewer than before)",
                         "yes" if c8 <= CYCLES_TARGET else f"NO ({c8 / CYCLES_TARGET:.1f}x over)"])
            rows.append([f"{mode}: fraction of the DSP-bound limit ({macs:,} MACs / 156 DSPs)", "-",
                         f"{dsp_bound / c8:.3f}", "-"])
        cyc = cyc["banked"]
        for b in widths:
            limit = cyc[8] / 8 if b == 1 else (b / 8 + 0.1) * cyc[8]
            rows.append([f"cycles/inference at {b} bit", f"<= {limit:,.0f}" + (" (1/8)" if b == 1 else f" ({b}/8+0.1)"),
                         f"{cyc[b]:,} ({cyc[b] / cyc[8]:.3f})", "yes" if cyc[b] <= limit else "NO"])
        banked_sw = max(s.latency - s.depth for s in idle["banked"].switches)
        rows.append(["banked switch (idle): latency - pipeline depth", "<= 4 cycles", f"{banked_sw} cycles",
                     "yes" if banked_sw <= 4 else "NO"])
        rebuild = max(s.rebuild for s in reports["reconstruct"].switches)
        p = lanes["reconstruct"]
        rate = weights / (rebuild * p)
        model = chosen["reconstruct"].rebuild_cycles
        # every item writes two columns of P lanes: the slots beyond the weights are the lanes of
        # groups narrower than P and the padded columns of odd column counts
        idle_slots = 2 * p * sum(build_design(bank, "reconstruct", p, images=False).rebuild_items) - weights
        rows.append([f"reconstruct switch: weights rebuilt per lane and cycle ({weights:,} in {rebuild:,} cycles; "
                     f"model {model:,})", ">= 2", f"{rate:.2f}", "yes" if rate >= 2 else
                     f"NO ({(weights + idle_slots) / (rebuild * p):.2f} with the {idle_slots:,} idle slots)"])
        hidden = max(s.extra for s in reports["reconstruct"].switches)
        rows.append(["reconstruct switch in mid-stream: extra cycles", "hidden (hot)", f"{hidden}",
                     "yes" if hidden == 0 else "partly"])
        comp_bits = meta_bits["reconstruct"]["components"] / weights
        rows.append(["reconstruct: stored component bits / weight", "<= 10", f"{comp_bits:.3f}",
                     "yes" if comp_bits <= 10 else "NO"])
        bank_bits = sum(v for k, v in meta_bits["banked"].items() if k.startswith("bank ")) / weights
        rows.append(["banked: stored weight bits / weight", "36 (sum of widths)", f"{bank_bits:.2f}", "-"])
        for mode, mhz in fmax.items():
            rows.append([f"Fmax on ECP5-85F, {mode}", ">= 100 MHz", f"{mhz:.1f} MHz", "yes" if mhz >= 100 else "NO"])
        lines += ["## Targets", "", table(["target", "goal", "measured", "met"], rows), ""]
        lines += excess_at_one_bit(chosen["banked"].cycles, cyc)
        if builds:
            perf, model = [], []
            for mode, build in builds.items():
                used = {k: v[0] for k, v in build.utilization.items()}
                ips = clock_mhz * 1e6 / reports[mode].cycles_per_width()[8]
                before = clock_mhz * 1e6 / BEFORE["cycles"] / BEFORE["lut4"][mode] * 1000
                perf.append([mode, engine[mode], f"{ips:,.0f}", used.get("LUT4", 0),
                             used.get("flip-flops", 0),
                             used.get("DSP (18x18)", 0), used.get("block RAM (18 kbit)", 0),
                             f"{ips / used['LUT4'] * 1000:.1f}", f"{before:.1f}"])
                est = estimate(bank, mode, lanes[mode], planes=planes[mode], mac=args.mac).resources
                for key, name in (("lut4", "LUT4"), ("ff", "flip-flops"), ("dsp", "DSP (18x18)"),
                                  ("bram", "block RAM (18 kbit)")):
                    got = used.get(name, 0)
                    model.append([mode, key, got, getattr(est, key),
                                  f"{100 * (getattr(est, key) - got) / got:+.1f}" if got else "-"])
            lines += ["## Throughput and resources at 8 bits", "",
                      table(["mode", "P x planes", "inferences/s", "LUT4", "FF", "DSP", "BRAM", "inf/s per 1k LUT",
                             "before (P=8)"], perf), "",
                      "## Estimator beside nextpnr (`wavebits estimate`; target: within 15 %)", "",
                      table(["mode", "resource", "nextpnr", "estimate", "error %"], model), ""]
        lines += ["## Switch time beside the alternatives", ""]
        mhz = clock_mhz  # the core clock the bitstream runs at (its PLL's output)
        sw = [["wavebits banked (idle switch overhead)", f"{banked_sw} cycles", f"{banked_sw / mhz:.3f} us", ""],
              ["wavebits reconstruct (rebuild)", f"{rebuild:,} cycles", f"{rebuild / mhz:.1f} us",
               f"{PAPER_CPU_SWITCH_S / (rebuild / (mhz * 1e6)):,.0f}x faster than the paper's CPU"],
              ["paper: ResNet-50 rebuilt on a CPU", "-", f"{PAPER_CPU_SWITCH_S * 1e6:,.0f} us", ""],
              ["partial reconfiguration (small region)", "-", f"~{PARTIAL_RECONFIG_S * 1e6:,.0f} us", ""]]
        lines += [table(["switch", "cycles", f"time at {mhz:g} MHz", "note"], sw), ""]
        lines += ["## Memory (bits)", "", table(["mode", "memory", "bits", "per weight"],
                                               [[m, k, f"{v:,}", f"{v / weights:.2f}"]
                                                for m in meta_bits for k, v in meta_bits[m].items()]), ""]
        lines += ["## Simulations", "", "```", reports["banked"].text(), "", reports["reconstruct"].text(), "",
                  idle["banked"].text(), "", idle["reconstruct"].text(), "```", ""]
        publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
