"""Transformations of a Yosys JSON netlist between synthesis and place and route.

``absorb_bram_output_registers`` moves the flip-flops that register an ECP5 block RAM's read data
into the block RAM's own output register (``REGMODE_A/B = OUTREG``). Yosys maps an inferred memory's
read register into the DP16KD but never its output register, so the slow clock-to-out of an
unregistered DP16KD (about 5.6 ns) plus the route to a fabric register would otherwise set Fmax.
With OUTREG the cycle counts are the same and the data leaves the block RAM from a register.

In the 36-bit pseudo dual port configuration (``DATA_WIDTH_B = 36``, Yosys's ``$__PDPW16KD_``) port B
reads the whole word, half on ``DOA`` and half on ``DOB``, and both halves leave from output registers
in port B's clock domain (Lattice's PDPW16KD has one ``REGMODE`` and one read-side ``OCER``; its
DP16KD form sets ``REGMODE_A`` and ``REGMODE_B`` alike). Yosys ties ``OCEA`` to 0 there, so such a block
RAM is converted as one read port: the registers of both halves clocked by ``CLKB``, both ``REGMODE``
set and ``OCEA`` given ``OCEB``'s enable. A ROM's port A has no clock there (``CLKA`` tied off, ``CEA`` = 0);
it is given ``CLKB`` so that the ``DOA`` half's register is clocked whichever clock the silicon takes
for it (with ``CEA`` = 0 the port still never writes).

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


def _tied(bits: list[Bit]) -> bool:
    """Whether a one-bit connection is a constant rather than a net."""
    return bits[0] in ("0", "1", "x")


def _data_ports(ram: dict, halves: tuple[str, ...]) -> list[tuple[str, list[Bit]]]:
    """``ram``'s read data pins (DOA*, DOB*) on the ``halves`` sides, with their connections."""
    return [(port, bits) for port, bits in ram["connections"].items() if port.startswith("DO") and port[2] in halves]


def _pseudo_dual_port(ram: dict) -> bool:
    """Whether ``ram`` reads 36-bit words through port B (DOA and DOB both carry its read data)."""
    width = str(ram["parameters"].get("DATA_WIDTH_B", "18"))
    return int(width, 2 if len(width) == 32 else 10) == 36


def _absorbable(ram: dict, ctl: str, halves: tuple[str, ...], cells: dict, sinks: dict, ports: set,
                scope: str) -> tuple[list[tuple[str, str]], list[Bit]] | None:
    """(DO port, flip-flop) pairs for the read port of ``ram`` that side ``ctl`` clocks and whose data
    leaves on the ``halves`` sides' DO pins, and the flip-flops' one clock enable (the output
    register's OCE); None when it does not match."""
    conn, params = ram["connections"], ram["parameters"]
    if (any(params.get(f"REGMODE_{h}", "NOREG") != "NOREG" for h in halves)
            or params.get("GSR", "DISABLED") != "DISABLED"):
        return None
    if conn.get(f"RST{ctl}", ["0"]) != ["0"] or conn.get(f"OCE{ctl}", ["1"]) != ["1"]:
        return None
    clk = conn.get(f"CLK{ctl}")
    if any(c != clk and not _tied(c) for c in (conn.get(f"CLK{h}", ["0"]) for h in halves)):
        return None
    pairs, enables = [], set()
    for port, bits in _data_ports(ram, halves):
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
    return pairs, [enables.pop()]


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
        read_ports = [("B", ("A", "B"))] if _pseudo_dual_port(ram) else [("A", ("A",)), ("B", ("B",))]
        for ctl, halves in read_ports:
            match = _absorbable(ram, ctl, halves, cells, sinks, ports, scope)
            if match is None:
                skipped += int(any(sinks.get(bits[0]) for _, bits in _data_ports(ram, halves)))
                continue
            pairs, enable = match
            for half in halves:
                ram["parameters"][f"REGMODE_{half}"] = "OUTREG"
                ram["connections"][f"OCE{half}"] = enable
                if _tied(ram["connections"].get(f"CLK{half}", ["0"])):
                    ram["connections"][f"CLK{half}"] = ram["connections"][f"CLK{ctl}"]
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
