// A signed ACC_W x MUL_W product (both 18..35 bits) from four 18x18 partial products, one DSP each,
// registered, so that no stage holds a whole wide multiplier. LATENCY = 4: operands, partial
// products, their sums, the product.
module wb_mul_split #(
    parameter ACC_W = 32,
    parameter MUL_W = 25,
    parameter V_W = 64
) (
    input  wire                     clk,
    input  wire                     en,
    input  wire signed [ACC_W-1:0]  a,
    input  wire signed [MUL_W-1:0]  m,
    output reg  signed [V_W-1:0]    prod
);
    localparam AH = ACC_W - 17, MH = MUL_W - 17;
    reg signed [ACC_W-1:0] a_r;
    reg signed [MUL_W-1:0] m_r;
    // a = a_hi * 2**17 + a_lo and m = m_hi * 2**17 + m_lo, a_lo and m_lo unsigned
    wire signed [17:0] a_lo = {1'b0, a_r[16:0]};
    wire signed [17:0] m_lo = {1'b0, m_r[16:0]};
    wire signed [AH-1:0] a_hi = a_r[ACC_W-1:17];
    wire signed [MH-1:0] m_hi = m_r[MUL_W-1:17];
    reg signed [35:0] p_ll;
    reg signed [AH+17:0] p_hl;
    reg signed [MH+17:0] p_lh;
    reg signed [AH+MH-1:0] p_hh;
    reg signed [V_W-1:0] mid, base;
    always @(posedge clk)
        if (en) begin
            a_r <= a;
            m_r <= m;
            p_ll <= a_lo * m_lo;
            p_hl <= a_hi * m_lo;
            p_lh <= a_lo * m_hi;
            p_hh <= a_hi * m_hi;
            mid <= p_hl + p_lh;
            base <= (p_hh <<< 34) + $signed({1'b0, p_ll[33:0]});   // disjoint bits: a concatenation
            prod <= base + (mid <<< 17);
        end
endmodule
