// Integer requantization (the contract in wavebits/intmath.py), pipelined, LATENCY = 8:
//   v = acc * mul + acc2 * mul2 + bias (the second product: a residual add's second input; only
//   with TWO = 1, else acc2 and mul2 are ignored);  act none: rshift_round(v, shift);
//   relu, bits >= 2: clamp(rshift_round(v, shift), 0, 2**bits - 1);  relu, bits == 1: v >= 0.
// rshift_round rounds half up: (v + 2**(shift-1)) >>> shift.
// The product is formed from four 18x18 partial products (one DSP each, registered) so that no
// stage holds a whole wide multiplier. ACC_W and MUL_W must be 18..35.
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
    localparam AH = ACC_W - 17, MH = MUL_W - 17;
    reg signed [ACC_W-1:0] acc_r;
    reg signed [MUL_W-1:0] mul_r;
    reg signed [BIAS_W-1:0] bias1, bias2, bias3, bias4;
    // acc = a_hi * 2**17 + a_lo and mul = m_hi * 2**17 + m_lo, a_lo and m_lo unsigned
    wire signed [17:0] a_lo = {1'b0, acc_r[16:0]};
    wire signed [17:0] m_lo = {1'b0, mul_r[16:0]};
    wire signed [AH-1:0] a_hi = acc_r[ACC_W-1:17];
    wire signed [MH-1:0] m_hi = mul_r[MUL_W-1:17];
    reg signed [35:0] p_ll;
    reg signed [AH+17:0] p_hl;
    reg signed [MH+17:0] p_lh;
    reg signed [AH+MH-1:0] p_hh;
    reg signed [V_W-1:0] mid, base, prod, v;
    wire signed [V_W-1:0] prod2;              // acc2 * mul2, formed beside the first product
    reg signed [V_W:0] top;
    wire signed [V_W:0] rounded;
    wire neg5;
    generate
        if (TWO != 0) begin : g_two
            // the same split product, stage for stage
            reg signed [ACC_W-1:0] acc2_r;
            reg signed [MUL_W-1:0] mul2_r;
            wire signed [17:0] a2_lo = {1'b0, acc2_r[16:0]};
            wire signed [17:0] m2_lo = {1'b0, mul2_r[16:0]};
            wire signed [AH-1:0] a2_hi = acc2_r[ACC_W-1:17];
            wire signed [MH-1:0] m2_hi = mul2_r[MUL_W-1:17];
            reg signed [35:0] q_ll;
            reg signed [AH+17:0] q_hl;
            reg signed [MH+17:0] q_lh;
            reg signed [AH+MH-1:0] q_hh;
            reg signed [V_W-1:0] mid2, base2, prod2_r;
            always @(posedge clk)
                if (en) begin
                    acc2_r <= acc2;
                    mul2_r <= mul2;
                    q_ll <= a2_lo * m2_lo;
                    q_hl <= a2_hi * m2_lo;
                    q_lh <= a2_lo * m2_hi;
                    q_hh <= a2_hi * m2_hi;
                    mid2 <= q_hl + q_lh;
                    base2 <= (q_hh <<< 34) + $signed({1'b0, q_ll[33:0]});
                    prod2_r <= base2 + (mid2 <<< 17);
                end
            assign prod2 = prod2_r;
        end else begin : g_one
            assign prod2 = {V_W{1'b0}};
        end
    endgenerate
    wb_rshift_round #(.W(V_W)) u_round (.clk(clk), .en(en), .v(v), .shift(shift), .q(rounded), .neg(neg5));
    always @(posedge clk) begin
        if (en) begin
            acc_r <= acc;
            mul_r <= mul;
            bias1 <= bias;
            p_ll <= a_lo * m_lo;
            p_hl <= a_hi * m_lo;
            p_lh <= a_lo * m_hi;
            p_hh <= a_hi * m_hi;
            bias2 <= bias1;
            mid <= p_hl + p_lh;
            base <= (p_hh <<< 34) + $signed({1'b0, p_ll[33:0]});   // disjoint bits: a concatenation
            bias3 <= bias2;
            prod <= base + (mid <<< 17);
            bias4 <= bias3;
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
