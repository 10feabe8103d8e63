// One shift-add Haar butterfly (wavebits/reconstruct.py in hardware form), latency 2.
// Each component is scaled by up to NT signed power-of-two terms (shift-add, no multiplier), the
// 2x2 inverse butterfly combines the four, the column of parity `par` is kept (rows 2i and 2i+1),
// and both weights are quantized: width >= 2 by a rounding shift and a clamp, width 1 by the sign.
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
    reg signed [R_W-1:0] scaled [0:3];
    integer k, t;
    reg signed [R_W-1:0] c, s;
    reg [TERM_W-1:0] term;
    always @(posedge clk) begin
        for (k = 0; k < 4; k = k + 1) begin
            c = {{(R_W-COMP_W){comps[k*COMP_W+COMP_W-1]}}, comps[k*COMP_W +: COMP_W]};
            s = 0;
            for (t = 0; t < NT; t = t + 1) begin
                term = terms[(k*NT+t)*TERM_W +: TERM_W];
                if (term[6])
                    s = term[5] ? s - (c <<< term[4:0]) : s + (c <<< term[4:0]);
            end
            scaled[k] <= s;
        end
    end
    // butterfly: (a+b+c+d, a-b+c-d, a+b-c-d, a-b-c+d) = positions (0,0), (0,1), (1,0), (1,1)
    wire signed [R_W-1:0] s1 = scaled[0] + scaled[1];
    wire signed [R_W-1:0] d1 = scaled[0] - scaled[1];
    wire signed [R_W-1:0] s2 = scaled[2] + scaled[3];
    wire signed [R_W-1:0] d2 = scaled[2] - scaled[3];
    wire signed [R_W-1:0] top = par ? d1 + d2 : s1 + s2;
    wire signed [R_W-1:0] bot = par ? d1 - d2 : s1 - s2;
    function signed [7:0] quantize(input signed [R_W-1:0] r, input [5:0] sh, input [3:0] b);
        reg signed [R_W:0] q;
        reg signed [R_W:0] lim;
        reg signed [R_W:0] half;
        begin
            half = (sh == 0) ? 0 : ({{R_W{1'b0}}, 1'b1} <<< (sh - 1));
            q = ($signed({r[R_W-1], r}) + half) >>> sh;
            lim = ({{R_W{1'b0}}, 1'b1} <<< (b - 1)) - 1;
            if (b == 4'd1)
                quantize = (r >= 0) ? 8'sd1 : -8'sd1;
            else if (q > lim)
                quantize = lim[7:0];
            else if (q < -lim)
                quantize = -lim[7:0];
            else
                quantize = q[7:0];
        end
    endfunction
    always @(posedge clk) begin
        w_top <= quantize(top, wshift, bits);
        w_bot <= quantize(bot, wshift, bits);
    end
endmodule
