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

``absorb_dsp_registers`` does the same for the MAC lanes' multipliers: Yosys maps ``prod <= w_m *
xv_m`` to an unregistered MULT18X18D between fabric flip-flops, and never uses the DSP's own input and
output registers (Yosys 0.70 cannot synthesize a MULT18X18D instance with any register parameter set).
The path through the multiplier is then a route to the DSP, the multiplier and a route back in one
cycle, and the DSPs sit in a few rows of the die. A multiplier whose every used A and B pin is driven
by a flip-flop and whose every used P pin drives exactly one flip-flop, all in ``scope`` (by default
the lanes' multiplier stage, ``g_mul.``), one clock, one clock enable, no reset and no GSR, takes those
registers as its REG_INPUTA/B and REG_OUTPUT (clock CLK0, enable CE0): the same cycles, each stage
inside the DSP or a route from a fabric register. An input flip-flop that also feeds anything else
stays (the DSP then registers its D itself).
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


def _plain_ff(ff: dict, scope: str, name: str) -> tuple[Bit, Bit] | None:
    """(clock, clock enable) of a flip-flop in ``scope`` with no reset, no GSR and a zero initial value,
    which a block RAM's or DSP's own register can stand in for; None otherwise."""
    p, conn = ff["parameters"], ff["connections"]
    if (ff["type"] != "TRELLIS_FF" or scope not in name or p.get("CLKMUX", "CLK") != "CLK"
            or p.get("GSR", "DISABLED") != "DISABLED" or conn.get("LSR", ["0"]) != ["0"]
            or p.get("REGSET", "RESET") != "RESET"):
        return None
    cemux = str(p.get("CEMUX", "1")).strip()
    if cemux not in ("1", "CE"):
        return None
    return conn["CLK"][0], conn["CE"][0] if cemux == "CE" else "1"


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
        domain = ff_port == "DI" and _plain_ff(cells[ff_name], scope, ff_name)
        if not domain or [domain[0]] != clk:
            return None
        enables.add(domain[1])
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


@dataclass
class DspAbsorbReport:
    multipliers: int  # MULT18X18Ds now using their input and output registers
    flip_flops: int   # fabric flip-flops removed
    skipped: int      # multipliers in scope whose registers did not match the pattern


def _drivers(cells: dict) -> dict[Bit, tuple[str, str]]:
    return {b: (name, port) for name, cell in cells.items() for port, bits in cell["connections"].items()
            if cell["port_directions"].get(port) == "output" for b in bits}


def _dsp_registers(dsp: dict, cells: dict, drivers: dict, sinks: dict, ports: set, scope: str):
    """For a MULT18X18D whose inputs and used outputs are plain registers: ({A/B pin: the register's D},
    {P pin: the register}, clock, enable); None otherwise."""
    params, conn = dsp["parameters"], dsp["connections"]
    if any(str(v).strip() not in ("", "NONE") for k, v in params.items() if k.startswith("REG_")):
        return None
    if any(not _tied(conn.get(c, ["0"])) for c in ("CLK0", "CE0", "RST0")):
        return None
    inputs, outputs, domains = {}, {}, set()
    for pin, bits in conn.items():
        if pin[0] in "AB" and pin[1:].isdigit() and not _tied(bits):
            name, port = drivers.get(bits[0], ("", ""))
            domain = port == "Q" and name in cells and _plain_ff(cells[name], scope, name)
            if not domain:
                return None
            domains.add(domain)
            inputs[pin] = cells[name]["connections"]["DI"]
        elif pin[0] == "P" and pin[1:].isdigit() and not _tied(bits):
            users = sinks.get(bits[0], [])
            if not users and bits[0] not in ports:
                continue
            if len(users) != 1 or bits[0] in ports or users[0][1] != "DI":
                return None
            domain = _plain_ff(cells[users[0][0]], scope, users[0][0])
            if not domain:
                return None
            domains.add(domain)
            outputs[pin] = users[0][0]
    if not inputs or not outputs or len(domains) != 1:
        return None
    clk, enable = domains.pop()
    return inputs, outputs, clk, enable


def absorb_dsp_registers(netlist: dict, top: str, scope: str = "g_mul.") -> DspAbsorbReport:
    """Rewrite ``netlist`` (Yosys JSON, module ``top``) in place; see the module docstring."""
    module = netlist["modules"][top]
    cells = module["cells"]
    sinks, drivers = _sinks(cells), _drivers(cells)
    ports = {b for p in module.get("ports", {}).values() if p["direction"] == "output" for b in p["bits"]}
    converted = skipped = removed = 0
    fed: set[str] = set()   # input flip-flops a converted multiplier no longer reads
    for name in sorted(cells):
        dsp = cells.get(name)
        if dsp is None or dsp["type"] != "MULT18X18D" or not any(
                scope in drivers.get(bits[0], ("",))[0] for pin, bits in dsp["connections"].items() if pin[0] in "AB"):
            continue
        match = _dsp_registers(dsp, cells, drivers, sinks, ports, scope)
        if match is None:
            skipped += 1
            continue
        inputs, outputs, clk, enable = match
        for pin, d in inputs.items():
            fed.add(drivers[dsp["connections"][pin][0]][0])
            dsp["connections"][pin] = d
        for pin, ff in outputs.items():
            dsp["connections"][pin] = cells[ff]["connections"]["Q"]
            del cells[ff]
            removed += 1
        for stage in ("INPUTA", "INPUTB", "OUTPUT"):
            dsp["parameters"].update({f"REG_{stage}_CLK": "CLK0", f"REG_{stage}_CE": "CE0", f"REG_{stage}_RST": "RST0"})
        dsp["parameters"]["GSR"] = "DISABLED"
        dsp["connections"].update({"CLK0": [clk], "CE0": [enable], "RST0": ["0"]})
        dsp["port_directions"].update({"CLK0": "input", "CE0": "input", "RST0": "input"})
        converted += 1
    read = _sinks(cells)
    for ff in sorted(fed):
        q = cells[ff]["connections"]["Q"][0]
        if q not in read and q not in ports:
            del cells[ff]
            removed += 1
    return DspAbsorbReport(converted, removed, skipped)


def absorb_in_file(path: Path, top: str) -> tuple[AbsorbReport, DspAbsorbReport]:
    """``absorb_bram_output_registers`` and ``absorb_dsp_registers`` on a JSON file, rewritten atomically."""
    path = Path(path)
    netlist = json.loads(path.read_text())
    reports = absorb_bram_output_registers(netlist, top), absorb_dsp_registers(netlist, top)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(netlist))
    tmp.replace(path)
    return reports
