// One MAC lane (one output channel) over a word of 8 activation slots (8 input channels) per item:
//   mode 0, width b >= 2: one weight bit plane, S = sum of the slots whose weight bit is set,
//           added as (S << plane), subtracted on the sign plane (two's complement): bit-serial
//           over the weight, parallel over the word;
//   mode 1, width 1, input not bipolar (the network input, a window sum's unsigned input): +x or -x
//           per slot by the bipolar weight bit;
//   mode 2, width 1, bipolar input: 2 * popcount(XNOR & valid) - popcount(valid).
// Slot values are unsigned bytes, or two's complement when `xsigned` (an int8 network input); they
// enter the sums sign-extended to 9 bits. A wide input (NB = 1 << nbl bytes per value, act none: two's
// complement) is taken a byte per item: item byte `kb` sums the slots s with s % NB == kb (unsigned,
// the top byte signed) and adds them shifted by 8 * kb, modulo 2**ACC_W like every partial sum. Bipolar values are stored as bits (1 = +1, 0 = -1); `vmask`
// marks the word's valid slots (the core gives each lane its own: a depthwise lane takes one slot).
// LAT = 3 stages: pair sums and popcounts, the word sum, the addend; `acc_next`, the accumulator
// including the addend, shows an item LAT cycles after it is presented.
module wb_mac_lane #(
    parameter ACC_W = 32
) (
    input  wire                     clk,
    input  wire                     valid,
    input  wire                     first,
    input  wire [1:0]               mode,
    input  wire [63:0]              x,          // slot s: x[8s +: 8]
    input  wire                     xsigned,
    input  wire [1:0]               nbl,        // log2 bytes per value
    input  wire [1:0]               kb,         // the byte this item takes
    input  wire [2:0]               plane,
    input  wire                     sign_plane,
    input  wire [7:0]               wbits,      // slot s: this lane's weight bit
    input  wire [7:0]               vmask,
    output wire signed [ACC_W-1:0]  acc_next
);
    localparam AD_W = 20;                       // 8 * 255 << 7, signed
    localparam EXT_W = ACC_W > AD_W ? ACC_W : AD_W;
    // xsigned and nbl hold for a whole layer (set before its first item is issued): each lane keeps
    // its own copy, so that the core's one register does not drive every lane's first stage
    reg        xsigned_l;
    reg  [1:0] nbl_l;
    always @(posedge clk) begin xsigned_l <= xsigned; nbl_l <= nbl; end
    wire [7:0] kmask = nbl_l == 2'd0 ? 8'hFF : nbl_l == 2'd1 ? (kb[0] ? 8'hAA : 8'h55) : 8'h11 << kb;
    wire [7:0] valid_s = vmask & kmask;
    wire       top = nbl_l == 2'd0 || (nbl_l == 2'd1 && kb[0]) || kb == 2'd3;   // the value's top byte: signed
    wire [7:0] match = ~(wbits ^ {x[56], x[48], x[40], x[32], x[24], x[16], x[8], x[0]}) & valid_s;
    // a slot's term: +x where the weight bit is set, -x where it is clear at width 1 (mode 1), else 0
    function signed [9:0] term(input [7:0] v, input w, input ok, input neg, input sgn);
        reg signed [9:0] xv;
        begin
            xv = sgn ? {{2{v[7]}}, v} : {2'b00, v};
            term = !ok ? 10'sd0 : w ? xv : neg ? -xv : 10'sd0;
        end
    endfunction
    wire       neg = mode == 2'd1;
    reg  signed [10:0] pair [0:3];
    reg  [3:0]  popcount, nvalid;
    reg  signed [11:0] sum2;
    reg  signed [5:0] pop2;
    reg  signed [AD_W-1:0] addend_r;
    reg  signed [ACC_W-1:0] acc;
    reg  [2:0]  plane1, plane2;
    reg  [1:0]  kb1, kb2, kb_r;
    reg  [1:0]  mode1, mode2;
    reg         sign1, sign2, valid1, valid2, valid_r, first1, first2, first_r;
    integer k;
    always @(posedge clk) begin
        for (k = 0; k < 4; k = k + 1)
            pair[k] <= term(x[16*k +: 8], wbits[2*k], valid_s[2*k], neg, xsigned_l && top)
                       + term(x[16*k+8 +: 8], wbits[2*k+1], valid_s[2*k+1], neg, xsigned_l && top);
        popcount <= match[0] + match[1] + match[2] + match[3] + match[4] + match[5] + match[6] + match[7];
        nvalid <= valid_s[0] + valid_s[1] + valid_s[2] + valid_s[3] + valid_s[4] + valid_s[5] + valid_s[6]
                  + valid_s[7];
        {plane1, kb1, mode1, sign1, valid1, first1} <= {plane, kb, mode, sign_plane, valid, first};

        sum2 <= pair[0] + pair[1] + pair[2] + pair[3];
        pop2 <= $signed({1'b0, popcount, 1'b0}) - $signed({2'b0, nvalid});
        {plane2, kb2, mode2, sign2, valid2, first2} <= {plane1, kb1, mode1, sign1, valid1, first1};

        case (mode2)
            2'd0: addend_r <= sign2 ? -($signed(sum2) <<< plane2) : ($signed(sum2) <<< plane2);
            2'd1: addend_r <= sum2;
            default: addend_r <= pop2;
        endcase
        valid_r <= valid2;
        first_r <= first2;
        kb_r <= kb2;
        if (valid_r) acc <= acc_next;
    end
    wire signed [EXT_W-1:0] addend_ext = addend_r;  // sign-extended
    wire [ACC_W-1:0] addend_acc = addend_ext[ACC_W-1:0] << {kb_r, 3'b000};
    // modulo 2**ACC_W: a partial sum may leave the accumulator's range, the layer's result does not
    assign acc_next = (first_r ? {ACC_W{1'b0}} : acc) + addend_acc;
endmodule
