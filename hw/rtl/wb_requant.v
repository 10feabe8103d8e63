// Integer requantization (the contract in wavebits/intmath.py), pipelined, LATENCY = 8:
//   v = acc * mul + acc2 * mul2 + bias (the second product: a residual add's second input; only
//   with TWO = 1, else acc2 and mul2 are ignored);  act none: rshift_round(v, shift);
//   relu, bits >= 2: clamp(rshift_round(v, shift), 0, 2**bits - 1);  relu, bits == 1: v >= 0.
// rshift_round rounds half up: (v + 2**(shift-1)) >>> shift.
// The products come from wb_mul_split (four registered 18x18 partial products each); the bias
// travels beside them. ACC_W and MUL_W must be 18..35.
module wb_requant #(
    parameter ACC_W = 32,
    parameter MUL_W = 25,
    parameter BIAS_W = 40,
    parameter V_W = 64,
    parameter OUT_W = 32,
    parameter TWO = 0
) (
    input  wire                     clk,
    input  wire                     en,
    input  wire signed [ACC_W-1:0]  acc,
    input  wire signed [MUL_W-1:0]  mul,
    input  wire signed [ACC_W-1:0]  acc2,
    input  wire signed [MUL_W-1:0]  mul2,
    input  wire signed [BIAS_W-1:0] bias,
    input  wire [5:0]               shift,
    input  wire                     act_none,
    input  wire [3:0]               bits,
    output reg  signed [OUT_W-1:0]  out
);
    reg signed [BIAS_W-1:0] bias1, bias2, bias3, bias4;
    wire signed [V_W-1:0] prod, prod2;        // acc * mul, acc2 * mul2 (wb_mul_split: 4 stages)
    reg signed [V_W-1:0] v;
    reg signed [V_W:0] top;
    wire signed [V_W:0] rounded;
    wire neg5;
    wb_mul_split #(.ACC_W(ACC_W), .MUL_W(MUL_W), .V_W(V_W)) u_prod (
        .clk(clk), .en(en), .a(acc), .m(mul), .prod(prod));
    generate
        if (TWO != 0) begin : g_two
            wb_mul_split #(.ACC_W(ACC_W), .MUL_W(MUL_W), .V_W(V_W)) u_prod2 (
                .clk(clk), .en(en), .a(acc2), .m(mul2), .prod(prod2));
        end else begin : g_one
            assign prod2 = {V_W{1'b0}};
        end
    endgenerate
    wb_rshift_round #(.W(V_W)) u_round (.clk(clk), .en(en), .v(v), .shift(shift), .q(rounded), .neg(neg5));
    always @(posedge clk) begin
        if (en) begin
            {bias1, bias2, bias3, bias4} <= {bias, bias1, bias2, bias3};
            v <= prod + prod2 + bias4;
            top <= ({{V_W{1'b0}}, 1'b1} <<< bits) - 1;
            if (act_none)
                out <= rounded[OUT_W-1:0];
            else if (bits == 4'd1)
                out <= neg5 ? 0 : 1;
            else if (rounded < 0)
                out <= 0;
            else if (rounded > top)
                out <= top[OUT_W-1:0];
            else
                out <= rounded[OUT_W-1:0];
        end
    end
endmodule
