"""ECP5 PLL (EHXPLLL) settings for a core clock made from a board's oscillator.

The search is Project Trellis' ``ecppll`` (simple mode): input divider, feedback divider and output
divider within the EHXPLLL's ranges (phase detector 3.125..400 MHz, VCO 400..800 MHz, output
10..400 MHz), the output nearest the request, ties to the VCO nearest 600 MHz. The output feeds
back through CLKOP, so f_out = f_in * CLKFB_DIV / CLKI_DIV. nextpnr derives the core clock's
timing constraint from these dividers and the oscillator's FREQUENCY line in the board's LPF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PFD_MHZ = (3.125, 400.0)
VCO_MHZ = (400.0, 800.0)
OUT_MHZ = (10.0, 400.0)
DEFAULT_CLOCK_MHZ = 100.0  # the core clock a generated board top level makes unless told otherwise


class PllError(ValueError):
    """No EHXPLLL setting makes the requested clock."""


@dataclass(frozen=True)
class Ecp5Pll:
    """One EHXPLLL configuration: CLKI -> CLKOP, CLKOP fed back."""

    fin_mhz: float
    clki_div: int
    clkfb_div: int
    clkop_div: int

    @property
    def fout_mhz(self) -> float:
        return self.fin_mhz * self.clkfb_div / self.clki_div

    @property
    def fvco_mhz(self) -> float:
        return self.fout_mhz * self.clkop_div

    def verilog(self, clkin: str, clkout: str, locked: str, name: str = "u_pll") -> str:
        """The EHXPLLL instance (Yosys' synth_ecp5 maps it as the primitive)."""
        fin, fout = f"{self.fin_mhz:g}", f"{self.fout_mhz:g}"
        return f"""\
    (* FREQUENCY_PIN_CLKI="{fin}" *) (* FREQUENCY_PIN_CLKOP="{fout}" *)
    EHXPLLL #(
        .PLLRST_ENA("DISABLED"), .INTFB_WAKE("DISABLED"), .STDBY_ENABLE("DISABLED"),
        .DPHASE_SOURCE("DISABLED"), .OUTDIVIDER_MUXA("DIVA"), .OUTDIVIDER_MUXB("DIVB"),
        .OUTDIVIDER_MUXC("DIVC"), .OUTDIVIDER_MUXD("DIVD"),
        .CLKI_DIV({self.clki_div}), .CLKFB_DIV({self.clkfb_div}), .FEEDBK_PATH("CLKOP"),
        .CLKOP_ENABLE("ENABLED"), .CLKOP_DIV({self.clkop_div}), .CLKOP_CPHASE({self.clkop_div - 1}), .CLKOP_FPHASE(0)
    ) {name} (
        .CLKI({clkin}), .CLKFB({clkout}), .CLKOP({clkout}), .LOCK({locked}),
        .RST(1'b0), .STDBY(1'b0), .PHASESEL0(1'b0), .PHASESEL1(1'b0), .PHASEDIR(1'b0),
        .PHASESTEP(1'b0), .PHASELOADREG(1'b0), .PLLWAKESYNC(1'b0), .ENCLKOP(1'b0)
    );
"""


def ecp5_pll(fin_mhz: float, fout_mhz: float) -> Ecp5Pll:
    """The EHXPLLL setting whose output is nearest ``fout_mhz`` from a ``fin_mhz`` oscillator."""
    if not OUT_MHZ[0] <= fout_mhz <= OUT_MHZ[1]:
        raise PllError(f"core clock {fout_mhz:g} MHz is outside the ECP5 PLL's output range "
                       f"{OUT_MHZ[0]:g}..{OUT_MHZ[1]:g} MHz")
    best: tuple[tuple[float, float], Ecp5Pll] | None = None
    for clki_div in range(1, 129):
        pfd = fin_mhz / clki_div
        if not PFD_MHZ[0] <= pfd <= PFD_MHZ[1]:
            continue
        for clkfb_div in range(1, 81):
            fout = pfd * clkfb_div
            lo, hi = math.ceil(VCO_MHZ[0] / fout), math.floor(VCO_MHZ[1] / fout)
            for clkop_div in range(max(lo, 1), min(hi, 128) + 1):
                key = (abs(fout - fout_mhz), abs(fout * clkop_div - 600.0))
                if best is None or key < best[0]:
                    best = (key, Ecp5Pll(fin_mhz, clki_div, clkfb_div, clkop_div))
    if best is None:
        raise PllError(f"no ECP5 PLL setting makes {fout_mhz:g} MHz from {fin_mhz:g} MHz")
    return best[1]
