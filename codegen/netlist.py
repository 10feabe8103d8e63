"""Transformations of a Yosys JSON netlist between synthesis and place and route.

``absorb_bram_output_registers`` moves the flip-flops that register an ECP5 block RAM's read data
into the block RAM's own output register (``REGMODE_A/B = OUTREG``). Yosys maps an inferred memory's
read register into the DP16KD but never its output register, so the slow clock-to-out of an
unregistered DP16KD (about 5.6 ns) plus the route to a fabric register would otherwise set Fmax.
With OUTREG the cycle counts are the same and the data leaves the block RAM from a register.

A port is converted only where the netlist is exactly that pipeline: every used ``DO`` bit of the
port drives one sink, the data input of a ``TRELLIS_FF`` clocked by the port's clock, with no reset,
no GSR and one clock enable shared by all of them (which becomes ``OCE``), and every such
flip-flop lies in ``scope``: by default wb_ram's registered block outputs (``g_blocks``). A register
that belongs to logic, such as the requant unit's multiplier operands, stays in the fabric, where
placement can put it halfway along a long route. Anything else is left as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

Bit = int | str  # a net number, or a constant "0" / "1" / "x"


@dataclass
class AbsorbReport:
    ports: int       # block-RAM read ports now using OUTREG
    flip_flops: int  # fabric flip-flops removed
    skipped: int     # read ports with used outputs that did not match the pattern


def _sinks(cells: dict) -> dict[Bit, list[tuple[str, str]]]:
    out: dict[Bit, list[tuple[str, str]]] = {}
    for name, cell in cells.items():
        for port, bits in cell["connections"].items():
            if cell["port_directions"].get(port) == "input":
                for b in bits:
                    out.setdefault(b, []).append((name, port))
    return out


def _absorbable(ram: dict, side: str, cells: dict, sinks: dict, ports: set, scope: str) -> list[tuple[str, str]] | None:
    """(DO port, flip-flop) pairs for one read port of ``ram``, or None when it does not match."""
    conn, params = ram["connections"], ram["parameters"]
    if params.get(f"REGMODE_{side}", "NOREG") != "NOREG" or params.get("GSR", "DISABLED") != "DISABLED":
        return None
    if conn.get(f"RST{side}", ["0"]) != ["0"] or conn.get(f"OCE{side}", ["1"]) != ["1"]:
        return None
    clk = conn.get(f"CLK{side}")
    pairs, enables = [], set()
    for port, bits in conn.items():
        if not port.startswith(f"DO{side}"):
            continue
        users = sinks.get(bits[0], [])
        if not users and bits[0] not in ports:
            continue
        if len(users) != 1 or bits[0] in ports:
            return None
        ff_name, ff_port = users[0]
        ff = cells[ff_name]
        p = ff["parameters"]
        if (ff["type"] != "TRELLIS_FF" or ff_port != "DI" or scope not in ff_name or ff["connections"].get("CLK") != clk
                or p.get("CLKMUX", "CLK") != "CLK" or p.get("GSR", "DISABLED") != "DISABLED"
                or ff["connections"].get("LSR", ["0"]) != ["0"] or p.get("REGSET", "RESET") != "RESET"):
            return None
        cemux = str(p.get("CEMUX", "1")).strip()
        if cemux == "1":
            enables.add("1")
        elif cemux == "CE":
            enables.add(ff["connections"]["CE"][0])
        else:
            return None
        pairs.append((port, ff_name))
    if not pairs or len(enables) != 1:
        return None
    return pairs


def absorb_bram_output_registers(netlist: dict, top: str, scope: str = ".g_blocks.") -> AbsorbReport:
    """Rewrite ``netlist`` (Yosys JSON, module ``top``) in place; see the module docstring."""
    module = netlist["modules"][top]
    cells = module["cells"]
    sinks = _sinks(cells)
    ports = {b for p in module.get("ports", {}).values() if p["direction"] == "output" for b in p["bits"]}
    converted = removed = skipped = 0
    for name in sorted(cells):
        ram = cells.get(name)
        if ram is None or ram["type"] != "DP16KD":
            continue
        for side in ("A", "B"):
            pairs = _absorbable(ram, side, cells, sinks, ports, scope)
            if pairs is None:
                used = any(sinks.get(bits[0]) for port, bits in ram["connections"].items()
                           if port.startswith(f"DO{side}"))
                skipped += int(used)
                continue
            ff0 = cells[pairs[0][1]]
            ram["parameters"][f"REGMODE_{side}"] = "OUTREG"
            ram["connections"][f"OCE{side}"] = (["1"] if str(ff0["parameters"].get("CEMUX", "1")).strip() == "1"
                                                else ff0["connections"]["CE"])
            for port, ff_name in pairs:
                ram["connections"][port] = cells[ff_name]["connections"]["Q"]
                del cells[ff_name]
            converted += 1
            removed += len(pairs)
    return AbsorbReport(converted, removed, skipped)


def absorb_in_file(path: Path, top: str) -> AbsorbReport:
    """``absorb_bram_output_registers`` on a JSON file, rewritten atomically."""
    path = Path(path)
    netlist = json.loads(path.read_text())
    report = absorb_bram_output_registers(netlist, top)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(netlist))
    tmp.replace(path)
    return report
