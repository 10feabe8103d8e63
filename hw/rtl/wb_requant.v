// Integer requantization (the contract in wavebits/intmath.py), pipelined, latency LATENCY = 6:
//   v = acc * mul + bias;  act none: rshift_round(v, shift);
//   relu, bits >= 2: clamp(rshift_round(v, shift), 0, 2**bits - 1);  relu, bits == 1: v >= 0.
// rshift_round rounds half up: (v + 2**(shift-1)) >>> shift.
module wb_requant #(
    parameter ACC_W = 32,
    parameter MUL_W = 25,
    parameter BIAS_W = 40,
    parameter V_W = 64,
    parameter OUT_W = 32
) (
    input  wire                     clk,
    input  wire                     en,
    input  wire signed [ACC_W-1:0]  acc,
    input  wire signed [MUL_W-1:0]  mul,
    input  wire signed [BIAS_W-1:0] bias,
    input  wire [5:0]               shift,
    input  wire                     act_none,
    input  wire [3:0]               bits,
    output reg  signed [OUT_W-1:0]  out
);
    reg signed [ACC_W-1:0] acc_r;
    reg signed [MUL_W-1:0] mul_r;
    reg signed [BIAS_W-1:0] bias_r, bias_d;
    reg signed [V_W-1:0] prod, v;
    reg signed [V_W:0] vh, rounded;
    reg v_neg, neg5;
    reg signed [V_W:0] top;
    wire signed [V_W:0] half = (shift == 6'd0) ? {(V_W+1){1'b0}} : ({{V_W{1'b0}}, 1'b1} <<< (shift - 6'd1));

    always @(posedge clk) begin
        if (en) begin
            acc_r <= acc;
            mul_r <= mul;
            bias_r <= bias;
            prod <= acc_r * mul_r;
            bias_d <= bias_r;
            v <= prod + bias_d;
            vh <= $signed({v[V_W-1], v}) + half;
            v_neg <= v < 0;
            rounded <= vh >>> shift;
            neg5 <= v_neg;
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
