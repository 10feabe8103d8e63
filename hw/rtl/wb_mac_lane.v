// One MAC lane (one output channel). Per item it adds one of:
//   mode 0, width b >= 2: one weight bit plane times an unsigned activation, (x << plane),
//           subtracted on the sign plane (two's complement) -- bit-serial over the weight;
//   mode 1, width 1, unsigned input (the network input): +x or -x by the bipolar weight bit;
//   mode 2, width 1, bipolar input: 8 activations at once, 2 * popcount(XNOR & valid) - popcount(valid).
// Bipolar values are stored as bits (1 = +1, 0 = -1). Three stages: operands (shift, popcounts),
// the addend, then the accumulator; `acc_next`, the accumulator including the addend, shows an item
// two cycles after it is presented (wb_core's y0 and y stages).
module wb_mac_lane #(
    parameter ACC_W = 32
) (
    input  wire                     clk,
    input  wire                     valid,
    input  wire                     first,
    input  wire [1:0]               mode,
    input  wire [7:0]               x,
    input  wire [2:0]               plane,
    input  wire                     sign_plane,
    input  wire                     wbit,
    input  wire [7:0]               xbits,
    input  wire [7:0]               wbits,
    input  wire [7:0]               vmask,
    output reg  signed [ACC_W-1:0]  acc,
    output wire signed [ACC_W-1:0]  acc_next
);
    wire [7:0] match = ~(xbits ^ wbits) & vmask;
    reg [3:0] popcount, nvalid;
    reg signed [16:0] shifted, xs, addend_r;
    reg wbit1, sign1, valid1, first1, valid_r, first_r;
    reg [1:0] mode1;
    always @(posedge clk) begin
        popcount <= match[0] + match[1] + match[2] + match[3] + match[4] + match[5] + match[6] + match[7];
        nvalid <= vmask[0] + vmask[1] + vmask[2] + vmask[3] + vmask[4] + vmask[5] + vmask[6] + vmask[7];
        shifted <= $signed({9'd0, x} << plane);
        xs <= $signed({9'd0, x});
        {wbit1, sign1, mode1, valid1, first1} <= {wbit, sign_plane, mode, valid, first};
        case (mode1)
            2'd0: addend_r <= wbit1 ? (sign1 ? -shifted : shifted) : 17'sd0;
            2'd1: addend_r <= wbit1 ? xs : -xs;
            default: addend_r <= $signed({12'd0, popcount, 1'b0}) - $signed({13'd0, nvalid});
        endcase
        valid_r <= valid1;
        first_r <= first1;
        if (valid_r) acc <= acc_next;
    end
    assign acc_next = (first_r ? {ACC_W{1'b0}} : acc) + {{(ACC_W-17){addend_r[16]}}, addend_r};
endmodule
