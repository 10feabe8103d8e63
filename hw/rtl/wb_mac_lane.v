// One MAC lane (one output channel) over a word of 8 activation slots (8 input channels) per item:
//   mode 0, width b >= 2: PLANES weight bit planes from `plane` on (those in `pmask`), S_q = sum of
//           the slots whose bit in plane plane + q is set, added as the sum of (S_q << (plane + q)),
//           S_q subtracted on the sign plane (`psign`, two's complement): bit-serial over the
//           weight's planes, PLANES at a time, parallel over the word;
//   mode 1, width 1, input not bipolar (the network input, a window sum's unsigned input): +x or -x
//           per slot by the bipolar weight bit (plane 0 alone: pmask = 1, plane = 0);
//   mode 2, width 1, bipolar input: 2 * popcount(XNOR & valid) - popcount(valid) (plane 0's bits).
// Slot values are unsigned bytes, or two's complement when `xsigned` (an int8 network input); they
// enter the sums sign-extended to 9 bits. A wide input (NB = 1 << nbl bytes per value, act none: two's
// complement) is taken a byte per item: item byte `kb` sums the slots s with s % NB == kb (unsigned,
// the top byte signed) and adds them shifted by 8 * kb, modulo 2**ACC_W like every partial sum.
// Bipolar values are stored as bits (1 = +1, 0 = -1); `vmask` marks the word's valid slots (the core
// gives each lane its own: a depthwise lane takes one slot).
// LAT = 3 + log2(PLANES) stages, one more when PLANES > 1: the operands (only then registered), pair
// sums and popcounts, the word sums, log2(PLANES) levels adding the planes' sums pairwise, the
// addend; `acc_next`, the accumulator including the addend, shows an item LAT cycles after it is
// presented.
// MUL = 1 (PLANES = 8 only): each slot's whole weight, +-sum of its planes' powers of two (+-1 at
// width 1), times its value on a multiplier (a DSP), instead of the planes' word sums in LUTs; the
// same LAT: the operands, the weights, the weights and values again beside the multiplier, the
// products, the products' pair sums, their sum, the addend. The ECP5's multipliers sit in a few rows
// of the die: the second operand registers are fed by registers alone, and a build moves them and
// the product register into the multiplier's own input and output registers (codegen/netlist.py,
// absorb_dsp_registers), so that the path through a multiplier is inside it.
module wb_mac_lane #(
    parameter ACC_W = 32,
    parameter PLANES = 1,                       // weight bit planes per item: 1, 2, 4 or 8
    parameter MUL = 0                           // 1: the slots' products on multipliers (PLANES = 8)
) (
    input  wire                     clk,
    input  wire                     valid,
    input  wire                     first,
    input  wire [1:0]               mode,
    input  wire [63:0]              x,          // slot s: x[8s +: 8]
    input  wire                     xsigned,
    input  wire [1:0]               nbl,        // log2 bytes per value
    input  wire [1:0]               kb,         // the byte this item takes
    input  wire [2:0]               plane,      // the first plane (a multiple of PLANES)
    input  wire [PLANES-1:0]        pmask,      // plane + q is one of the width's planes
    input  wire [PLANES-1:0]        psign,      // plane + q is the sign plane
    input  wire [8*PLANES-1:0]      wbits,      // slot s, plane plane + q: this lane's weight bit q * 8 + s
    input  wire [7:0]               vmask,
    output wire signed [ACC_W-1:0]  acc_next
);
    localparam LQ = $clog2(PLANES);
    localparam AD_W = 20;                       // 8 * 255 * (2**8 - 1), signed
    localparam EXT_W = ACC_W > AD_W ? ACC_W : AD_W;
    // the plane sums' tree: level v holds PLANES >> v sums of 2**v planes each, 12 + 2**v bits wide,
    // node i at TREE_OFS(v) + i * tree_w(v)
    function integer tree_w(input integer v);
        tree_w = 12 + (1 << v);
    endfunction
    function integer tree_ofs(input integer v);
        integer k;
        begin
            tree_ofs = 0;
            for (k = 0; k < v; k = k + 1) tree_ofs = tree_ofs + (PLANES >> k) * tree_w(k);
        end
    endfunction
    localparam TREE_W = tree_ofs(LQ + 1);
    // xsigned and nbl hold for a whole layer (set before its first item is issued): each lane keeps
    // its own copy, so that the core's one register does not drive every lane's first stage
    reg        xsigned_l;
    reg  [1:0] nbl_l;
    always @(posedge clk) begin xsigned_l <= xsigned; nbl_l <= nbl; end
    // the operands: each slot's value sign-extended (xv) and negated (nxv), which of them each plane's
    // slot adds (pos, neg: from the lane's weight bits, the plane mask and sign, the mode), the XNOR
    // matches and valid slots, and the item beside them; registered when PLANES > 1 (IN_REG), so that
    // a pair sum is one look-up after registers (the lanes' identical registers merge: their fan-out
    // is the word's, not a shared negation's)
    localparam IN_REG = PLANES > 1 ? 1 : 0;
    localparam OPS_W = 80 + 80 + 16 * PLANES + 8 + 8 + 2 + 3 + 2 + 1 + 1;
    wire [7:0] kmask = nbl_l == 2'd0 ? 8'hFF : nbl_l == 2'd1 ? (kb[0] ? 8'hAA : 8'h55) : 8'h11 << kb;
    wire       top = nbl_l == 2'd0 || (nbl_l == 2'd1 && kb[0]) || kb == 2'd3;   // the value's top byte: signed
    wire [7:0] valid_in = vmask & kmask;
    wire [79:0] xv_in, nxv_in;
    wire [8*PLANES-1:0] pos_in, neg_in;
    genvar gs, gq;
    generate
        for (gs = 0; gs < 8; gs = gs + 1) begin : g_slot
            wire [7:0] v = x[8*gs +: 8];
            assign xv_in[10*gs +: 10] = xsigned_l && top ? {{2{v[7]}}, v} : {2'b00, v};
            assign nxv_in[10*gs +: 10] = -xv_in[10*gs +: 10];
            for (gq = 0; gq < PLANES; gq = gq + 1) begin : g_plane
                // +x where the weight bit is set (-x on the sign plane), -x where it is clear at width 1
                wire w = wbits[8*gq+gs];
                wire ok = valid_in[gs] && pmask[gq];
                assign pos_in[8*gq+gs] = ok && (mode == 2'd1 ? w : mode == 2'd0 && w && !psign[gq]);
                assign neg_in[8*gq+gs] = ok && (mode == 2'd1 ? !w : mode == 2'd0 && w && psign[gq]);
            end
        end
    endgenerate
    wire [7:0] match_in = ~(wbits[7:0] ^ {x[56], x[48], x[40], x[32], x[24], x[16], x[8], x[0]}) & valid_in;
    wire [OPS_W-1:0] ops_in = {xv_in, nxv_in, pos_in, neg_in, match_in, valid_in, mode, plane, kb, valid, first};
    wire [79:0] xv0, nxv0;
    wire [8*PLANES-1:0] pos0, neg0;
    wire [7:0]  match, valid_s;
    wire [1:0]  mode0, kb0;
    wire [2:0]  plane0;
    wire        valid0, first0;
    generate
        if (IN_REG) begin : g_in_reg
            reg [OPS_W-1:0] ops;
            always @(posedge clk) ops <= ops_in;
            assign {xv0, nxv0, pos0, neg0, match, valid_s, mode0, plane0, kb0, valid0, first0} = ops;
        end else begin : g_in_wire
            assign {xv0, nxv0, pos0, neg0, match, valid_s, mode0, plane0, kb0, valid0, first0} = ops_in;
        end
    endgenerate
    // a slot's term: its value, its negation, or 0
    function signed [9:0] term(input [9:0] xv, input [9:0] nxv, input pos, input neg);
        term = pos ? xv : neg ? nxv : 10'sd0;
    endfunction
    reg  [3:0]  popcount, nvalid;
    wire signed [tree_w(LQ)-1:0] word_sum;      // the item's sum over slots and planes, LAT - 1 stages on
    reg  signed [AD_W-1:0] addend_r;
    reg  signed [ACC_W-1:0] acc;
    // the item's fields beside the stages (index: the stage it enters)
    reg  [2:0]  plane_p [1:LQ+2];
    reg  [1:0]  kb_p [1:LQ+3];
    reg  [1:0]  mode_p [1:LQ+2];
    reg  signed [5:0] pop_p [2:LQ+2];
    reg  [LQ+3:1] valid_p, first_p;
    integer k, q, v;
    genvar gv, gn;
    generate
        if (MUL != 0) begin : g_mul
            // each slot's weight: its set planes' powers of two, the sign plane's subtracted (pos0 and
            // neg0 already hold the mode and the valid slots), times its value
            localparam PW = 19;                 // a 9-bit weight times a 10-bit value
            wire [PW*8-1:0] prods;
            for (gs = 0; gs < 8; gs = gs + 1) begin : g_prod
                wire [7:0] wp, wn;
                for (gq = 0; gq < 8; gq = gq + 1) begin : g_bit
                    assign wp[gq] = pos0[8*gq+gs];
                    assign wn[gq] = neg0[8*gq+gs];
                end
                reg signed [8:0]  w, w_m;
                reg signed [9:0]  xv, xv_m;
                reg signed [PW-1:0] prod;
                always @(posedge clk) begin
                    w <= $signed({1'b0, wp}) - $signed({1'b0, wn});
                    xv <= xv0[10*gs +: 10];
                    w_m <= w;
                    xv_m <= xv;
                    prod <= w_m * xv_m;
                end
                assign prods[PW*gs +: PW] = prod;
            end
            reg signed [19:0] pair2 [0:3];
            reg signed [19:0] sum;
            always @(posedge clk) begin
                for (k = 0; k < 4; k = k + 1)
                    pair2[k] <= $signed(prods[2*PW*k +: PW]) + $signed(prods[(2*k+1)*PW +: PW]);
                sum <= (pair2[0] + pair2[1]) + (pair2[2] + pair2[3]);
            end
            assign word_sum = sum;
        end else begin : g_planes
            reg  signed [10:0] pair [0:4*PLANES-1];     // plane q's pair k at 4q + k
            wire [TREE_W-1:0] tree;
            always @(posedge clk)
                for (q = 0; q < PLANES; q = q + 1)
                    for (k = 0; k < 4; k = k + 1)
                        pair[4*q+k] <= term(xv0[20*k +: 10], nxv0[20*k +: 10], pos0[8*q+2*k], neg0[8*q+2*k])
                                       + term(xv0[20*k+10 +: 10], nxv0[20*k+10 +: 10], pos0[8*q+2*k+1], neg0[8*q+2*k+1]);
            // the word sums (tree level 0), then each level: node n = node 2n + (node 2n + 1 << 2**(v - 1))
            for (gv = 0; gv <= LQ; gv = gv + 1) begin : g_level
                localparam W = tree_w(gv), OFS = tree_ofs(gv);
                localparam WP = gv > 0 ? tree_w(gv - 1) : 1, OFSP = gv > 0 ? tree_ofs(gv - 1) : 0;   // level v - 1
                for (gn = 0; gn < (PLANES >> gv); gn = gn + 1) begin : g_node
                    reg signed [W-1:0] node;
                    if (gv == 0) begin : g_word
                        always @(posedge clk) node <= pair[4*gn] + pair[4*gn+1] + pair[4*gn+2] + pair[4*gn+3];
                    end else begin : g_sum
                        always @(posedge clk)
                            node <= $signed(tree[OFSP + 2 * gn * WP +: WP])
                                    + ($signed(tree[OFSP + (2 * gn + 1) * WP +: WP]) <<< (1 << (gv - 1)));
                    end
                    assign tree[OFS + gn * W +: W] = node;
                end
            end
            assign word_sum = tree[tree_ofs(LQ) +: tree_w(LQ)];
        end
    endgenerate
    always @(posedge clk) begin
        popcount <= match[0] + match[1] + match[2] + match[3] + match[4] + match[5] + match[6] + match[7];
        nvalid <= valid_s[0] + valid_s[1] + valid_s[2] + valid_s[3] + valid_s[4] + valid_s[5] + valid_s[6]
                  + valid_s[7];
        pop_p[2] <= $signed({1'b0, popcount, 1'b0}) - $signed({2'b0, nvalid});
        {plane_p[1], kb_p[1], mode_p[1], valid_p[1], first_p[1]} <= {plane0, kb0, mode0, valid0, first0};
        for (v = 2; v <= LQ + 2; v = v + 1)
            {plane_p[v], kb_p[v], mode_p[v], valid_p[v], first_p[v]}
                <= {plane_p[v-1], kb_p[v-1], mode_p[v-1], valid_p[v-1], first_p[v-1]};
        for (v = 3; v <= LQ + 2; v = v + 1) pop_p[v] <= pop_p[v-1];

        // mode 1 has plane 0 alone (the tree's top is its word sum) and plane = 0
        if (mode_p[LQ+2] == 2'd2) addend_r <= pop_p[LQ+2];
        else addend_r <= word_sum <<< plane_p[LQ+2];
        valid_p[LQ+3] <= valid_p[LQ+2];
        first_p[LQ+3] <= first_p[LQ+2];
        kb_p[LQ+3] <= kb_p[LQ+2];
        if (valid_p[LQ+3]) acc <= acc_next;
    end
    wire signed [EXT_W-1:0] addend_ext = addend_r;  // sign-extended
    wire [ACC_W-1:0] addend_acc = addend_ext[ACC_W-1:0] << {kb_p[LQ+3], 3'b000};
    // modulo 2**ACC_W: a partial sum may leave the accumulator's range, the layer's result does not
    assign acc_next = (first_p[LQ+3] ? {ACC_W{1'b0}} : acc) + addend_acc;
endmodule
