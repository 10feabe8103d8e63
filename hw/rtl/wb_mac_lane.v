// One MAC lane (one output channel). Per cycle it adds one of:
//   mode 0, width b >= 2: one weight bit plane times an unsigned activation, (x << plane),
//           subtracted on the sign plane (two's complement) -- bit-serial over the weight;
//   mode 1, width 1, unsigned input (the network input): +x or -x by the bipolar weight bit;
//   mode 2, width 1, bipolar input: 8 activations at once, 2 * popcount(XNOR & valid) - popcount(valid).
// Bipolar values are stored as bits (1 = +1, 0 = -1). Two stages: the addend is registered, then
// accumulated; `acc_next` is the accumulator including the registered addend.
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
    wire [3:0] popcount = match[0] + match[1] + match[2] + match[3] + match[4] + match[5] + match[6] + match[7];
    wire [3:0] nvalid = vmask[0] + vmask[1] + vmask[2] + vmask[3] + vmask[4] + vmask[5] + vmask[6] + vmask[7];
    wire signed [16:0] shifted = $signed({9'd0, x} << plane);
    reg signed [16:0] addend, addend_r;
    reg               valid_r, first_r;
    always @* begin
        case (mode)
            2'd0: addend = wbit ? (sign_plane ? -shifted : shifted) : 17'sd0;
            2'd1: addend = wbit ? $signed({9'd0, x}) : -$signed({9'd0, x});
            default: addend = $signed({12'd0, popcount, 1'b0}) - $signed({13'd0, nvalid});
        endcase
    end
    assign acc_next = (first_r ? {ACC_W{1'b0}} : acc) + {{(ACC_W-17){addend_r[16]}}, addend_r};
    always @(posedge clk) begin
        valid_r <= valid;
        first_r <= first;
        addend_r <= addend;
        if (valid_r) acc <= acc_next;
    end
endmodule
