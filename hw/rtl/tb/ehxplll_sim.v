// Simulation only: a behavioural stand-in for the ECP5 EHXPLLL primitive, so that Verilator can run
// the generated board top level (board/<board>.v) as it is. CLKOP is CLKI (the test bench's clock
// is the core clock; frequencies mean nothing in simulation) and LOCK rises after LOCK_CYCLES
// cycles of CLKI, so the board's hold-in-reset-until-locked path runs too. Parameters and ports
// are those the generated instance names; synthesis uses the real primitive and never this file.
module EHXPLLL #(
    parameter PLLRST_ENA = "DISABLED", parameter INTFB_WAKE = "DISABLED", parameter STDBY_ENABLE = "DISABLED",
    parameter DPHASE_SOURCE = "DISABLED", parameter OUTDIVIDER_MUXA = "DIVA", parameter OUTDIVIDER_MUXB = "DIVB",
    parameter OUTDIVIDER_MUXC = "DIVC", parameter OUTDIVIDER_MUXD = "DIVD",
    parameter integer CLKI_DIV = 1, parameter integer CLKFB_DIV = 1, parameter FEEDBK_PATH = "CLKOP",
    parameter CLKOP_ENABLE = "ENABLED", parameter integer CLKOP_DIV = 1, parameter integer CLKOP_CPHASE = 0,
    parameter integer CLKOP_FPHASE = 0,
    parameter integer LOCK_CYCLES = 16
) (
    input  wire CLKI,
    input  wire CLKFB,
    input  wire RST,
    input  wire STDBY,
    input  wire PHASESEL0,
    input  wire PHASESEL1,
    input  wire PHASEDIR,
    input  wire PHASESTEP,
    input  wire PHASELOADREG,
    input  wire PLLWAKESYNC,
    input  wire ENCLKOP,
    output wire CLKOP,
    output reg  LOCK
);
    reg [7:0] count = 8'd0;
    initial LOCK = 1'b0;
    assign CLKOP = CLKI;
    always @(posedge CLKI) begin
        if (RST) begin count <= 8'd0; LOCK <= 1'b0; end
        else if (count != LOCK_CYCLES[7:0]) count <= count + 8'd1;
        else LOCK <= 1'b1;
    end
endmodule
