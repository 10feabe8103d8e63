// Simulation only: a behavioural stand-in for the ECP5 MULT18X18D primitive as the build leaves the
// MAC lanes' multipliers (codegen/netlist.py, absorb_dsp_registers): an 18 x 18 product, signed per
// operand by SIGNEDA/SIGNEDB, with the input registers (REG_INPUTA_CLK, REG_INPUTB_CLK) and the output
// register (REG_OUTPUT_CLK) each either "NONE" or clocked by CLK0, enabled by CE0 and reset
// synchronously by RST0 (Yosys's mapping and that pass use nothing else). Yosys ships no model of the
// primitive; synthesis uses the real one and never this file.
module MULT18X18D #(
    parameter REG_INPUTA_CLK = "NONE", parameter REG_INPUTA_CE = "CE0", parameter REG_INPUTA_RST = "RST0",
    parameter REG_INPUTB_CLK = "NONE", parameter REG_INPUTB_CE = "CE0", parameter REG_INPUTB_RST = "RST0",
    parameter REG_OUTPUT_CLK = "NONE", parameter REG_OUTPUT_CE = "CE0", parameter REG_OUTPUT_RST = "RST0",
    parameter GSR = "ENABLED"
) (
    input  wire A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15, A16, A17,
    input  wire B0, B1, B2, B3, B4, B5, B6, B7, B8, B9, B10, B11, B12, B13, B14, B15, B16, B17,
    input  wire SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
    input  wire CLK0, CE0, RST0,
    output wire P0, P1, P2, P3, P4, P5, P6, P7, P8, P9, P10, P11, P12, P13, P14, P15, P16, P17,
    output wire P18, P19, P20, P21, P22, P23, P24, P25, P26, P27, P28, P29, P30, P31, P32, P33, P34, P35
);
    wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
    wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
    reg  [17:0] a_r = 0, b_r = 0;
    reg         sa_r = 0, sb_r = 0;
    reg  [35:0] p_r = 0;
    wire [17:0] a_in = REG_INPUTA_CLK == "NONE" ? a : a_r;
    wire [17:0] b_in = REG_INPUTB_CLK == "NONE" ? b : b_r;
    wire        sa = REG_INPUTA_CLK == "NONE" ? SIGNEDA : sa_r;
    wire        sb = REG_INPUTB_CLK == "NONE" ? SIGNEDB : sb_r;
    wire [35:0] prod = $signed({sa & a_in[17], a_in}) * $signed({sb & b_in[17], b_in});
    always @(posedge CLK0)
        if (RST0) begin
            a_r <= 0; b_r <= 0; sa_r <= 0; sb_r <= 0; p_r <= 0;
        end else if (CE0) begin
            a_r <= a; b_r <= b; sa_r <= SIGNEDA; sb_r <= SIGNEDB; p_r <= prod;
        end
    assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18,
            P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} =
        REG_OUTPUT_CLK == "NONE" ? prod : p_r;
endmodule
