// One shift-add Haar butterfly (wavebits/reconstruct.py in hardware form), pipelined, LATENCY = 7.
// Each component is scaled by up to NT signed power-of-two terms (shift-add, no multiplier), the
// 2x2 inverse butterfly combines the four, the column of parity `par` is kept (rows 2i and 2i+1),
// and both weights are quantized: width >= 2 by a rounding shift and a clamp, width 1 by the sign.
// All inputs are sampled together; the outputs follow LATENCY cycles later.
module wb_haar_lane #(
    parameter COMP_W = 10,
    parameter NT = 3,
    parameter R_W = 32,
    parameter TERM_W = 7
) (
    input  wire                      clk,
    input  wire [4*COMP_W-1:0]       comps,   // {HH, HL, LH, LL}
    input  wire [4*NT*TERM_W-1:0]    terms,   // per component, per term: {valid, sign, shift[4:0]}
    input  wire                      par,
    input  wire [5:0]                wshift,
    input  wire [3:0]                bits,
    output reg  signed [7:0]         w_top,   // row 2i
    output reg  signed [7:0]         w_bot    // row 2i + 1
);
    // stage 1: every term shifted (its sign kept aside); stage 2: per-component signed sums
    reg signed [R_W-1:0] term_v [0:4*NT-1];
    reg [4*NT-1:0] term_neg;
    reg signed [R_W-1:0] scaled [0:3];
    reg [5:0] sh1, sh2, sh3;
    reg [3:0] b1, b2, b3, b4, b5, b6;
    reg signed [R_W:0] lim, nlim;          // the width's largest weight, 2**(b-1) - 1, and its negative
    reg par1, par2;
    integer k, t;
    reg signed [R_W-1:0] c, s;
    reg [TERM_W-1:0] term;
    always @(posedge clk) begin
        for (k = 0; k < 4; k = k + 1) begin
            c = {{(R_W-COMP_W){comps[k*COMP_W+COMP_W-1]}}, comps[k*COMP_W +: COMP_W]};
            for (t = 0; t < NT; t = t + 1) begin
                term = terms[(k*NT+t)*TERM_W +: TERM_W];
                term_v[k*NT+t] <= !term[6] ? {R_W{1'b0}} : (c <<< term[4:0]);
                term_neg[k*NT+t] <= term[5];
            end
        end
        for (k = 0; k < 4; k = k + 1) begin
            s = 0;
            for (t = 0; t < NT; t = t + 1) s = term_neg[k*NT+t] ? s - term_v[k*NT+t] : s + term_v[k*NT+t];
            scaled[k] <= s;
        end
        {sh1, b1, par1} <= {wshift, bits, par};
        {sh2, b2, par2} <= {sh1, b1, par1};
        {sh3, b3} <= {sh2, b2};
        b4 <= b3;
        b5 <= b4;
        b6 <= b5;
        lim <= ({{R_W{1'b0}}, 1'b1} <<< (b3 - 1)) - 1;
        nlim <= 1 - ({{R_W{1'b0}}, 1'b1} <<< (b3 - 1));
    end
    // stage 3: butterfly (a+b+c+d, a-b+c-d, a+b-c-d, a-b-c+d) = positions (0,0), (0,1), (1,0), (1,1)
    wire signed [R_W-1:0] s1 = scaled[0] + scaled[1];
    wire signed [R_W-1:0] d1 = scaled[0] - scaled[1];
    wire signed [R_W-1:0] s2 = scaled[2] + scaled[3];
    wire signed [R_W-1:0] d2 = scaled[2] - scaled[3];
    reg signed [R_W-1:0] top, bot;
    // stage 4: add half an output step; stage 5: shift; stages 6-7: clamp (or the sign at one bit)
    wire signed [R_W:0] top_q, bot_q;
    wire top_neg5, bot_neg5;
    wb_rshift_round #(.W(R_W)) u_round_top (.clk(clk), .en(1'b1), .v(top), .shift(sh3), .q(top_q), .neg(top_neg5));
    wb_rshift_round #(.W(R_W)) u_round_bot (.clk(clk), .en(1'b1), .v(bot), .shift(sh3), .q(bot_q), .neg(bot_neg5));
    // stage 6: the comparisons with the range; stage 7: the selection
    reg top_hi, top_lo, bot_hi, bot_lo, top_neg6, bot_neg6;
    reg signed [7:0] top_q8, bot_q8;
    function signed [7:0] clamp(input signed [7:0] q, input hi, input lo, input neg, input signed [R_W:0] lim,
                                input signed [R_W:0] nlim, input [3:0] b);
        begin
            if (b == 4'd1)
                clamp = neg ? -8'sd1 : 8'sd1;
            else if (hi)
                clamp = lim[7:0];
            else if (lo)
                clamp = nlim[7:0];
            else
                clamp = q;
        end
    endfunction
    always @(posedge clk) begin
        top <= par2 ? d1 + d2 : s1 + s2;
        bot <= par2 ? d1 - d2 : s1 - s2;
        top_hi <= top_q > lim; top_lo <= top_q < nlim; top_q8 <= top_q[7:0]; top_neg6 <= top_neg5;
        bot_hi <= bot_q > lim; bot_lo <= bot_q < nlim; bot_q8 <= bot_q[7:0]; bot_neg6 <= bot_neg5;
        w_top <= clamp(top_q8, top_hi, top_lo, top_neg6, lim, nlim, b6);
        w_bot <= clamp(bot_q8, bot_hi, bot_lo, bot_neg6, lim, nlim, b6);
    end
endmodule
