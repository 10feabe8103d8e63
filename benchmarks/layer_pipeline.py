"""Layers one after another, or a layer pipeline? The numbers behind wb_core's schedule (issue 14).

Usage: python benchmarks/layer_pipeline.py [--network lenet5 resnet8:8,4,2,1 ...] [--out docs/results/layer-pipeline.md]

``wb_core`` runs the layers one after another on one set of P lanes, one weight memory per width
and activation buffers that the layers share. A layer pipeline (FINN's dataflow) gives every layer
its own lanes, weight memories, requant memory and drain, and streams activations through line
buffers; a new inference starts every *interval*: the slowest layer's cycles. Both are sized here
with the estimator's own parts (the cycle model ``layer_cycles``, the block-RAM mapping
``memory_blocks``, the fitted logic ``fitted_logic``) for banked weights on the ECP5-85F. The pipeline gets
4 lanes per layer to start with, then its slowest layer's lanes double while its estimate stays
within the headroom ``--fit`` keeps (``estimate.HEADROOM``).

The pipeline's block RAMs are counted optimistically: a line buffer of kh + sh rows for a window
(the whole tensor for a linear layer, and for an add's skip input, which waits for its branch), no
FIFOs between the engines. Its logic counts the fitted constant once per engine (that constant
also holds the input loader and the width register, which a pipeline needs once), so the LUT
column is an upper bound; block RAM decides.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from wavebits.codegen.estimate import (
    CAPACITY,
    Memory,
    Resources,
    features,
    fit,
    fitted_logic,
    has_window,
    input_cycles,
    layer_cycles,
    memory_blocks,
    over_headroom,
    product_dsps,
)
from wavebits.codegen.rtl import LANE_CHOICES, HwLayer, RtlDesign, build_design, hardware_layers

from wavebits.bank import synth_bank
from wavebits.bank.model import Bank
from wavebits.bank.report import table
from wavebits.reports import command_line, publish

BOARD = "ulx3s-85f"
NETWORKS = ["lenet5", "resnet8:8,4,2,1"]
ON_LANES = ("conv", "avgpool")  # the layer kinds that run on lanes (a pool and an add have none)


@dataclass
class Pipeline:
    """A layer pipeline: lanes per layer (0: the layer has none), its resources and interval."""

    lanes: dict[str, int]
    resources: Resources
    interval: dict[int, int]  # cycles between inferences, per width

    def fits(self) -> bool:
        return not over_headroom(self.resources, CAPACITY[BOARD])


def line_buffer_words(hw: HwLayer, whole: bool) -> int:
    """Words a layer's input needs in a pipeline: kh + sh rows of a window's input, the whole tensor
    for a linear layer (its kernel covers it) or where ``whole``."""
    rows = hw.hin if whole or hw.kh >= hw.hin else min(hw.hin, hw.kh + hw.sh)
    return rows * hw.win * hw.incw


def pipeline_memories(bank: Bank, layers: list[HwLayer], lanes: dict[str, int], rq_width: int) -> list[Memory]:
    """Every layer's own weight memories (one per width), requant memory and input line buffer."""
    skip = {hw.inputs[1] for hw in layers if hw.op == "add" and len(hw.inputs) > 1}
    out = []
    for hw in layers:
        p = lanes[hw.name]
        if hw.op == "conv":
            groups = -(-hw.cout // p)
            out += [Memory(f"{hw.name} weights {b}-bit", 8 * b * p, groups * hw.units) for b in bank.widths]
        if hw.op != "pool":
            out.append(Memory(f"{hw.name} requant", rq_width, hw.cout * len(bank.widths), oreg=1))
        whole = any(t in skip for t in hw.inputs)
        out.append(Memory(f"{hw.name} input", 8, line_buffer_words(hw, whole), count=8))
    return out


def requant_width(design: RtlDesign) -> int:
    """Bits of a requant memory row (multiplier and bias) of ``design``."""
    return int(design.params["MUL_W"]) + int(design.params["BIAS_W"])


def size_pipeline(bank: Bank, design: RtlDesign) -> Pipeline:
    """Lanes per layer: 4 each, then the slowest layer's doubled while the estimate fits; requant
    widths and multipliers as in ``design`` (the bank's banked design)."""
    layers = hardware_layers(bank)
    widest = max(bank.widths)
    lanes = {hw.name: (LANE_CHOICES[0] if hw.op in ON_LANES else 0) for hw in layers}

    def sized(lanes: dict[str, int]) -> Pipeline:
        mems = pipeline_memories(bank, layers, lanes, requant_width(design))
        per_layer = [fitted_logic("banked", features("banked", lanes[hw.name], len(bank.widths), hw.op == "add",
                                                        windowed=has_window([hw])))
                     for hw in layers]
        dsp = sum((1 + (hw.op == "add")) * product_dsps(design) for hw in layers if hw.op != "pool")
        res = Resources(lut4=round(sum(lut for lut, _ in per_layer)), ff=round(sum(ff for _, ff in per_layer)),
                        dsp=dsp, bram=sum(memory_blocks(m) for m in mems))
        interval = {b: max([input_cycles(bank)] + [layer_cycles(hw, b, max(lanes[hw.name], LANE_CHOICES[0]))
                                                   for hw in layers]) for b in bank.widths}
        return Pipeline(dict(lanes), res, interval)

    best = sized(lanes)
    while best.fits():
        slow = max((hw for hw in layers if hw.op in ON_LANES),
                   key=lambda hw: layer_cycles(hw, widest, lanes[hw.name]))
        if lanes[slow.name] == LANE_CHOICES[-1]:
            break
        trial = dict(lanes, **{slow.name: lanes[slow.name] * 2})
        candidate = sized(trial)
        if not candidate.fits():
            break
        lanes, best = trial, candidate
    return best


def compare(spec: str) -> list[str]:
    arch, *widths = spec.split(":")
    bank = synth_bank(arch, seed=0, **({"widths": [int(b) for b in widths[0].split(",")]} if widths else {}))
    seq = fit(bank, "banked", BOARD)
    design = build_design(bank, "banked", seq.lanes, images=False)
    pipe = size_pipeline(bank, design)
    lowest, widest = min(bank.widths), max(bank.widths)
    cap = CAPACITY[BOARD]

    def res(r: Resources) -> list[str]:
        return [f"{r.lut4:,}", f"{r.bram} ({100 * r.bram / cap.bram:.0f} %)"]

    rows = [["layers one after another (wb_core, --fit)", f"P={seq.lanes}", *res(seq.resources),
             f"{seq.cycles[widest]['total']:,}", f"{seq.cycles[lowest]['total']:,}", "yes" if seq.fits else "no"],
            ["layer pipeline", " ".join(f"{k}:{v}" for k, v in pipe.lanes.items() if v), *res(pipe.resources),
             f"{pipe.interval[widest]:,}", f"{pipe.interval[lowest]:,}", "yes" if pipe.fits() else "no"]]
    minimal = {k: (LANE_CHOICES[0] if v else 0) for k, v in pipe.lanes.items()}
    mems = pipeline_memories(bank, hardware_layers(bank), minimal, requant_width(design))
    weights = sum(memory_blocks(m) for m in mems if " weights " in m.name)
    seq_weights = sum(m["bram"] for m in seq.memories if m["name"].startswith("weights"))
    per_layer = [[hw.name, f"{layer_cycles(hw, widest, seq.lanes):,}"] for hw in hardware_layers(bank)]
    return [f"## {bank.name}, widths {','.join(map(str, bank.widths))}", "",
            table(["schedule", "lanes", "LUT4 (estimate)", "block RAM", f"cycles/inference at {widest} bit",
                   f"at {lowest} bit", "fits (--fit's headroom)"], rows), "",
            f"Weights alone: {weights} block RAMs as one memory per layer and width at 4 lanes each, "
            f"{seq_weights} as wb_core's one memory per width at P={seq.lanes}. The pipeline's interval is its "
            f"slowest layer; one after another, the layers take (cycles at {widest} bit, P={seq.lanes}):", "",
            table(["layer", "cycles"], per_layer), ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--network", nargs="+", default=NETWORKS, help="ARCH[:WIDTHS] (synthesized banks, seed 0)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    lines = ["# Layers one after another, or a layer pipeline?", "",
             f"Reproduce: `{command_line(Path(__file__).resolve().parents[1])}` (estimates only: nothing is "
             "built; banked weights, ECP5-85F).", ""]
    for spec in args.network:
        lines += compare(spec)
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
