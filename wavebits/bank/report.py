"""Human-readable summaries of a bank: layers, shapes, widths, bounds and on-chip memory."""

from __future__ import annotations

from ..wavelet import COMPONENTS
from .model import Bank


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A plain-text table with right-aligned numbers."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]

    def line(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if c.lstrip("-").replace(".", "").isdigit() else c.ljust(w)
                         for c, w in zip(r, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def memory_bits(bank: Bank) -> dict[str, int]:
    """On-chip weight memory in bits, per weight mode.

    banked: every width's integers, the sum of the widths per weight. reconstruct: the four
    components, ``comp_bits`` each per 2x2 block of the even-padded matrix. ``scale tables``: the
    per-width shift-add terms (a sign and a 5-bit shift each) and quantization shift (6 bits),
    needed by reconstruct mode only.
    """
    banked = sum(bank.widths) * bank.weight_count()
    comp = tables = 0
    for lw in bank.weights.values():
        comp += len(COMPONENTS) * lw.components["LL"].size * lw.fmt.comp_bits
        tables += len(bank.widths) * (len(COMPONENTS) * lw.fmt.max_terms * 6 + 6)
    return {"banked": banked, "reconstruct": comp, "scale tables": tables}


def inspect(bank: Bank) -> str:
    """The text ``wavebits bank inspect`` prints."""
    out = [
        f"bank {bank.name!r}: {len(bank.nodes)} layers, input {bank.input_shape} "
        f"{'int' if bank.input_signed else 'uint'}{bank.input_bits} (scale {bank.input_scale:.6g}), "
        f"{bank.classes} outputs",
        f"widths: {', '.join(str(b) for b in bank.widths)}",
        f"meta: {bank.meta}" if bank.meta else "",
        "",
    ]
    rows = []
    for n in bank.nodes:
        w = "x".join(str(s) for s in bank.weight_shape(n.name)) if n.weighted else ""
        geo = n.kind.geometry(n)
        fmt = ""
        if n.name in bank.weights:
            f = bank.weights[n.name].fmt
            fmt = f"Q{f.comp_bits}.{f.comp_frac_bits} S{f.scale_frac_bits}x{f.max_terms}"
        rows.append([n.name, n.op, ",".join(n.inputs), geo, "x".join(str(s) for s in bank.shapes[n.name]),
                     w, n.act if n.requantizes else "", fmt])
    out.append(table(["layer", "op", "inputs", "geometry", "out shape", "weights", "act", "components"], rows))
    out.append("")
    out.append("accumulator bits (signed, from fan-in x max|w| x max|x|), per width:")
    acc_rows = []
    per_width = {b: bank.bounds(b) for b in bank.widths}
    for n in bank.nodes:
        if n.requantizes and not n.kind.learns_step:
            acc_rows.append([n.name, *(per_width[b][n.name].acc_bits for b in bank.widths)])
    out.append(table(["layer", *(f"{b}b" for b in bank.widths)], acc_rows))
    out.append("")
    count = bank.weight_count()
    mem = memory_bits(bank)
    out.append(f"weights: {count}")
    out.append(table(
        ["on-chip memory", "bits", "bits/weight", "KiB"],
        [[mode, bits, f"{bits / count:.2f}", f"{bits / 8192:.1f}"] for mode, bits in mem.items()],
    ))
    total = mem["reconstruct"] + mem["scale tables"]
    out.append(f"reconstruct mode (components + scale tables) stores {mem['banked'] / total:.1f}x less "
               f"than banked ({sum(bank.widths)} bits per weight)")
    return "\n".join(line for i, line in enumerate(out) if line or i > 3)

