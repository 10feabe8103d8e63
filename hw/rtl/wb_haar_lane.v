// One shift-add Haar butterfly (wavebits/reconstruct.py in hardware form), pipelined, LATENCY = 7.
// Each component is scaled by up to NT signed power-of-two terms (shift-add, no multiplier), the
// 2x2 inverse butterfly combines the four into the whole block (rows 2i, 2i+1 of columns 2j,
// 2j+1), and all four weights are quantized: width >= 2 by a rounding shift and a clamp, width 1
// by the sign. All inputs are sampled together; the outputs follow LATENCY cycles later.
module wb_haar_lane #(
    parameter COMP_W = 10,
    parameter NT = 3,
    parameter R_W = 32,
    parameter TERM_W = 7
) (
    input  wire                      clk,
    input  wire [4*COMP_W-1:0]       comps,   // {HH, HL, LH, LL}
    input  wire [4*NT*TERM_W-1:0]    terms,   // per component, per term: {valid, sign, shift[4:0]}
    input  wire [5:0]                wshift,
    input  wire [3:0]                bits,
    output wire [31:0]               w        // byte 2c + r: row 2i + r of column 2j + c (signed)
);
    // stage 1: every term shifted and signed; stage 2: per-component sums
    reg signed [R_W-1:0] term_v [0:4*NT-1];
    reg signed [R_W-1:0] scaled [0:3];
    reg [5:0] sh1, sh2;                    // the shift beside the item: sh2 enters the rounding a cycle early
    reg [3:0] b1, b2, b3, b4, b5, b6;
    reg signed [R_W:0] lim, nlim;          // the width's largest weight, 2**(b-1) - 1, and its negative
    reg signed [7:0] lim8, nlim8;          // the same a stage later, for the clamp
    // 2**(b-1) - 1 as a table of the width's 4 bits (a look-up, not a shift and two carry chains)
    function signed [R_W:0] width_max(input [3:0] b);
        case (b)
            4'd2: width_max = 1;
            4'd3: width_max = 3;
            4'd4: width_max = 7;
            4'd5: width_max = 15;
            4'd6: width_max = 31;
            4'd7: width_max = 63;
            4'd8: width_max = 127;
            default: width_max = 0;      // width 1 (and no width)
        endcase
    endfunction
    integer k, t;
    reg signed [R_W-1:0] c, v, s;
    reg [TERM_W-1:0] term;
    always @(posedge clk) begin
        for (k = 0; k < 4; k = k + 1) begin
            c = {{(R_W-COMP_W){comps[k*COMP_W+COMP_W-1]}}, comps[k*COMP_W +: COMP_W]};
            for (t = 0; t < NT; t = t + 1) begin
                term = terms[(k*NT+t)*TERM_W +: TERM_W];
                v = c <<< term[4:0];
                term_v[k*NT+t] <= !term[6] ? {R_W{1'b0}} : term[5] ? -v : v;
            end
        end
        for (k = 0; k < 4; k = k + 1) begin
            s = 0;
            for (t = 0; t < NT; t = t + 1) s = s + term_v[k*NT+t];
            scaled[k] <= s;
        end
        {sh1, b1} <= {wshift, bits};
        {sh2, b2} <= {sh1, b1};
        b3 <= b2;
        b4 <= b3;
        b5 <= b4;
        b6 <= b5;
        lim <= width_max(b4);
        nlim <= -width_max(b4);
        lim8 <= lim[7:0];
        nlim8 <= nlim[7:0];
    end
    // stage 3: butterfly (a+b+c+d, a-b+c-d, a+b-c-d, a-b-c+d) = positions (0,0), (0,1), (1,0), (1,1)
    wire signed [R_W-1:0] s1 = scaled[0] + scaled[1];
    wire signed [R_W-1:0] d1 = scaled[0] - scaled[1];
    wire signed [R_W-1:0] s2 = scaled[2] + scaled[3];
    wire signed [R_W-1:0] d2 = scaled[2] - scaled[3];
    reg signed [R_W-1:0] blk [0:3];            // index 2c + r
    always @(posedge clk) begin
        blk[0] <= s1 + s2;
        blk[1] <= s1 - s2;
        blk[2] <= d1 + d2;
        blk[3] <= d1 - d2;
    end
    // stage 4: add half an output step; stage 5: shift; stage 6: the comparisons with the range;
    // stage 7: the clamp (or the sign at one bit)
    genvar n;
    generate
        for (n = 0; n < 4; n = n + 1) begin : g_quant
            wire signed [R_W:0] q;
            wire neg5;
            reg hi, lo, neg6;
            reg signed [7:0] q8, wq;
            wb_rshift_round #(.W(R_W), .EARLY(1)) u_round (.clk(clk), .en(1'b1), .v(blk[n]), .shift(sh2), .q(q),
                                                         .neg(neg5));
            always @(posedge clk) begin
                hi <= q > lim; lo <= q < nlim; q8 <= q[7:0]; neg6 <= neg5;
                if (b6 == 4'd1) wq <= neg6 ? -8'sd1 : 8'sd1;
                else if (hi) wq <= lim8;
                else if (lo) wq <= nlim8;
                else wq <= q8;
            end
            assign w[8*n +: 8] = wq;
        end
    endgenerate
endmodule
