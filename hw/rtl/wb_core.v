// The wavebits accelerator core: runs a network layer by layer from a descriptor memory at a
// bit-width chosen at run time.
//
// Streams: `in` takes the input tensor one byte per beat (uint8, or int8 in two's complement) in
// (C, H, W) order (stored with the first layer's kernel rows packed into the words when PACK > 1,
// see input loading); `out` gives the output layer's values in (H, W, C) order, each tagged with the
// width it was computed at.
// Width register: a `cfg_valid` beat writes `cfg_bits`; a width outside the bank raises
// `cfg_error` and is ignored. An inference runs at the width that is live when its input is
// complete. WEIGHTS = 0 (banked): every width's weights are stored and a switch selects a bank.
// WEIGHTS = 1 (reconstruct): only wavelet components are stored; a write starts the Haar engine
// into the idle half of a double-buffered weight memory while inference continues on the other.
//
// Activations live in NBUF (<= 4) buffers of 8-slot words (8 byte-wide RAMs each), buffer n as deep
// as the largest tensor it holds (ACT_DEPTHn words); each layer names the buffers it reads (SRC, and
// SRC2 for an add) and writes (DST), chosen by codegen from the tensors' lifetimes (a residual
// block's skip tensor stays in its buffer while the branch runs). A tensor
// (C, H, W) of NB bytes per value is stored pixel-major: word = pixel * ceil(C * NB / 8) +
// (c * NB) / 8, first byte at slot (c * NB) % 8, little endian. Unsigned values are stored as they
// are, int8 and wider signed ones (act none: a residual branch) in two's complement, bipolar ones as
// bits (1 = +1, 0 = -1); padding reads as 0 in all of them (-1 bipolar).
// Weighted layers run on P MAC lanes (P output channels at once), each taking a whole channel word
// (8 input channels) per cycle: bit-serial over the weight's bit planes at width >= 2, PLANES planes
// per cycle (a width-b unit takes ceil(b / PLANES) items), +-x or XNOR-popcount at width 1; with
// MUL = 1 (PLANES = 8) each slot's whole weight times its value on a multiplier, a unit an item.
// Weights are stored per unit (one kernel tap, one channel word) and
// group of P output channels: a 64P-bit row holds slot s, bit plane j, lane l at bit
// s * 8P + j * P + l (two's complement; the sign, 1 = +1, at width 1). A finished group of P
// accumulators is handed to the drain and requantized two channels per cycle (one in the output
// layer) while the lanes go on with the next group. Every memory output is registered before logic (ECP5 timing).
// A grouped convolution runs a lane group once per convolution group its channels meet (a pass),
// only the lanes of that group enabled; a pass reads its group's input channels as words rotated
// to start at the group's first byte (each slot RAM at its own address: the next word for the
// slots before the rotation), so every lane group shares one weight layout, the group's channels
// from slot 0. A depthwise convolution gives each lane one slot: lane l (channel
// gp + l) takes slot (gp + l) % 8 of the word its channel lies in, with the weight stored in slot 0
// of a unit (one unit per kernel tap), so the P lanes read ceil(P / 8) words per tap. A window sum
// (average and global average pooling) runs the same way with unit weights, then the requant
// multiplies by 1/n. An add reads one value of each input per cycle (two buffers at once) and
// requantizes x_a * mul + x_b * mul2 + bias (TWO = 1: the requant unit's second product).
// Parts: wb_input_loader (the input stream into buffer 0), wb_issue (the loop nest: one item per
// cycle, its addresses), wb_weight_store (the weight memory and its row select), wb_mac_array (the
// P lanes), wb_drain (requant memories, wb_requant's pipeline, the output FIFO); this module holds
// the width register, the layer sequencing, the activation buffers, the operand stage and the max
// pool. Address widths follow from the memory depths ($clog2).
module wb_core #(
    parameter WEIGHTS = 0,
    parameter P = 8,
    parameter PLANES = 1,                // weight bit planes per item and lane: 1, 2, 4 or 8
    parameter MUL = 0,                   // 1 (PLANES = 8): the lanes' products on multipliers (wb_mac_lane)
    parameter QB = 2,
    parameter NL = 8,
    parameter NT = 3,
    parameter [8:1] WIDTHS = 8'hFF,      // bit b set: width b is in the bank
    parameter [31:0] WIDX = 32'h01234567,// nibble b-1: index of width b in the bank's tables
    parameter [3:0] INIT_BITS = 4'd8,
    parameter IN_C = 1, IN_HW = 64, IN_CW = 1, IN_W = 8,
    // PACK > 1: the first layer's kernel rows (PACK taps) are packed into the input's channel words
    parameter PACK = 1, PACK_PW = 0, PACK_WS = 8,
    parameter ACC_W = 32, MUL_W = 25, BIAS_W = 40, V_W = 64, OUT_W = 32,
    parameter NBUF = 2,
    parameter ACT_DEPTH0 = 1024, ACT_DEPTH1 = 1024, ACT_DEPTH2 = 1, ACT_DEPTH3 = 1,  // words per buffer
    parameter WDEPTH = 1024, WBLK = 2048,  // banked: the weight memories' blocks (wb_ram BLK)
    parameter RQ_DEPTH = 1024, RQ_BLK = 512, TWO = 0, RQ2_DEPTH = 1, RQ_OREG = 1,   // requant rows: channel pairs
    parameter POOL_NB = 4,               // bytes per value of the widest max pool input (0: no max pool)
    parameter MASK_LAT = 3,              // cycles the lanes' valid-slot fields lead the operand stage (<= MEM_LAT)
    parameter LW_W = 144, LW_DEPTH = 64,
    parameter COMP_W = 10, R_W = 32, CDEPTH = 1024, EDEPTH = 1024, XDEPTH = 0,
    // memory images ($readmemh); empty: no image (the generated top level names them all)
    parameter DESC_FILE = "", LW_FILE = "", RQ_FILE = "", RQ2_FILE = "",
    parameter WEIGHT_PREFIX = "", ELEM_FILE = "", COMP_PREFIX = "", EDGE_PREFIX = ""
) (
    input  wire                     clk,
    input  wire                     rst,
    input  wire                     cfg_valid,
    input  wire [3:0]               cfg_bits,
    output reg                      cfg_error,
    output wire [3:0]               live_bits,   // width of the next inference
    output wire                     switching,   // a width change is not yet live
    output wire                     rebuilding,  // the Haar engine is writing the idle weight half
    input  wire                     in_valid,
    input  wire [7:0]               in_data,
    output wire                     in_ready,
    output wire                     out_valid,
    output wire signed [OUT_W-1:0]  out_data,
    output wire [3:0]               out_bits,
    input  wire                     out_ready,
    output reg                      trace_valid, // every activation write, for parity checks
    output reg  [7:0]               trace_layer,
    output reg  [23:0]              trace_addr,
    output reg  [7:0]               trace_mask,
    output reg  [63:0]              trace_data
);
`include "wb_fields.vh"
    localparam ACT_DEPTH01 = ACT_DEPTH0 > ACT_DEPTH1 ? ACT_DEPTH0 : ACT_DEPTH1;
    localparam ACT_DEPTH23 = ACT_DEPTH2 > ACT_DEPTH3 ? ACT_DEPTH2 : ACT_DEPTH3;
    localparam ACT_DEPTH = ACT_DEPTH01 > ACT_DEPTH23 ? ACT_DEPTH01 : ACT_DEPTH23;
    // address bits of a memory of `depth` words (at least one)
    function integer addr_bits(input integer depth);
        addr_bits = depth > 1 ? $clog2(depth) : 1;
    endfunction
    localparam ACT_AW = addr_bits(ACT_DEPTH);
    localparam WAW = addr_bits(WDEPTH);
    localparam LW_AW = addr_bits(LW_DEPTH);
    localparam CAW = addr_bits(CDEPTH);
    localparam EAW = addr_bits(EDEPTH);
    localparam XAW = addr_bits(XDEPTH);
    localparam DESC_W = NFIELDS * FIELD_W;

    // ---------------------------------------------------------------- width register
    reg  [3:0] cur_bits, req_bits;
    reg        pending;
    wire [3:0] cur_widx = WIDX[({4'd0, cur_bits} - 8'd1) * 8'd4 +: 4];
    wire       cfg_ok = (cfg_bits >= 4'd1) && (cfg_bits <= 4'd8) && WIDTHS[cfg_bits];
    wire       cfg_take = cfg_valid && cfg_ok;
    assign live_bits = cur_bits;
    wire       recon_busy, recon_done;
    reg        active;                    // weight buffer half read by inference (reconstruct)
    reg        recon_start, recon_ready;

    // ---------------------------------------------------------------- sequencing
    localparam S_LOAD = 4'd0, S_START = 4'd1, S_DESC = 4'd2, S_LW = 4'd3, S_LWA = 4'd4, S_LWB = 4'd5,
               S_SETUP = 4'd6, S_RUN = 4'd7, S_NEXT = 4'd8;
    reg [3:0] state;
    reg [7:0] layer;
    wire [DESC_W-1:0] desc_q;
    reg  [DESC_W-1:0] d;
    wire [LW_W-1:0] lw_q;
    reg  [LW_W-1:0] lw;
    wb_ram #(.W(DESC_W), .DEPTH(NL), .AW(8), .INIT(DESC_FILE)) u_desc (
        .clk(clk), .we(1'b0), .waddr(8'd0), .wdata({DESC_W{1'b0}}), .re(1'b1), .raddr(layer), .rdata(desc_q));
    reg  [LW_AW-1:0] lw_raddr;
    wb_ram #(.W(LW_W), .DEPTH(LW_DEPTH), .AW(LW_AW), .INIT(LW_FILE)) u_lw (
        .clk(clk), .we(1'b0), .waddr({LW_AW{1'b0}}), .wdata({LW_W{1'b0}}), .re(1'b1), .raddr(lw_raddr), .rdata(lw_q));
    `define F(f) d[(f)*FIELD_W +: FIELD_W]
    // the layer's decoded descriptor flags, registered at setup
    reg         is_pool, is_out, act_none, row_packed;
    reg         is_add, is_conv;              // add; conv path (conv, linear and window sums)
    reg         in_sgn, dw, unitw, bip2;      // FLAGS bits 4, 5, 6, and 7 at width 1
    reg         in2_sgn;                      // FLAGS bit 8
    reg         bip1;                         // FLAGS bit 2 at width 1
    reg  [1:0]  nbo, nba, nbb;                // log2 bytes per value: output, input, second input
    reg  [1:0]  src, src2, dst;
    reg  [1:0]  mode;
    wire        xnor_layer = (cur_bits == 4'd1) && ((`F(F_FLAGS) >> 2) & 1);
    wire [23:0] fl = `F(F_FLAGS);

    // activation and weight memories: block outputs registered, then the selected block once more
    // (wb_ram OREG = 2), since the block RAMs lie far apart on the die
    localparam MEM_OREG = 2;

    // ---------------------------------------------------------------- activation buffers
    wire [ACT_AW-1:0] i_addr, i_addr2;    // the issued item's address, and an add's second input's
    wire [ACT_AW-1:0] i_addr1;            // the issued item's address + 1
    wire [2:0]        i_rot;              // grouped: the first slot of the pass's group's channels
    wire [63:0]       act_q [0:3];
    reg  [ACT_AW-1:0] act_waddr;
    wire [7:0]        ld_we;              // the input loader's writes, each slot at its own address
    wire [8*ACT_AW-1:0] ld_waddr;
    reg  [7:0]        act_wmask;
    reg  [63:0]       act_wdata;
    reg  [1:0]        act_wbuf;
    genvar gb, gs;
    generate
        for (gb = 0; gb < 4; gb = gb + 1) begin : g_buf
            if (gb < NBUF) begin : g_have
                localparam DEPTH = gb == 0 ? ACT_DEPTH0 : gb == 1 ? ACT_DEPTH1 : gb == 2 ? ACT_DEPTH2 : ACT_DEPTH3;
                for (gs = 0; gs < 8; gs = gs + 1) begin : g_slot
                    // each slot RAM's read address, registered beside it (the weight row's select
                    // stage takes the same cycle, WSEL_LAT = 1): an add's second input is read at its
                    // own address; a grouped pass reads the next word in the slots before its rotation
                    reg  [ACT_AW-1:0] ra;
                    always @(posedge clk) ra <= (is_add && src2 == gb) ? i_addr2 : (gs < i_rot) ? i_addr1 : i_addr;
                    // writes registered beside each block RAM (WREG): they reach blocks across the die
                    wb_ram #(.W(8), .DEPTH(DEPTH), .AW(ACT_AW), .OREG(MEM_OREG), .WREG(1)) u_act (
                        .clk(clk), .we((act_wmask[gs] || ld_we[gs]) && act_wbuf == gb),
                        .waddr(ld_we[gs] ? ld_waddr[gs*ACT_AW +: ACT_AW] : act_waddr),
                        .wdata(act_wdata[gs*8 +: 8]), .re(1'b1), .raddr(ra), .rdata(act_q[gb][gs*8 +: 8]));
                end
            end else begin : g_none
                assign act_q[gb] = 64'd0;
            end
        end
    endgenerate

    // ---------------------------------------------------------------- weight memory
    // its row select (width or half) is registered (WSEL_LAT = 1) without a cycle more per item: the
    // memory is addressed from the issued item's row (i_wptr), WSEL_LAT cycles before the activation
    // memories (from copies of its addresses, below), so the row still meets the item at the operand
    // stage
    localparam WSEL_LAT = 1;
    wire [WAW-1:0] w_raddr;
    wire [64*P-1:0] wrow;                 // the row for the item at the operand stage's input
    wire           recon_we;
    wire [WAW-1:0] recon_waddr;
    wire [2:0]     recon_wslot;
    wire [8*P-1:0] recon_wdata;
    wire           recon_we2;
    wire [WAW-1:0] recon_waddr2;
    wire [2:0]     recon_wslot2;
    wire [8*P-1:0] recon_wdata2;
    wb_weight_store #(.WEIGHTS(WEIGHTS), .P(P), .WIDTHS(WIDTHS), .WDEPTH(WDEPTH), .WBLK(WBLK), .WAW(WAW),
                      .MEM_OREG(MEM_OREG), .SEL_LAT(WSEL_LAT), .WEIGHT_PREFIX(WEIGHT_PREFIX)) u_weights (
        .clk(clk), .raddr(w_raddr), .bits(cur_bits), .active(active),
        .we(recon_we), .waddr(recon_waddr), .wslot(recon_wslot), .wdata(recon_wdata),
        .we2(recon_we2), .waddr2(recon_waddr2), .wslot2(recon_wslot2), .wdata2(recon_wdata2), .row(wrow));
    generate
        if (WEIGHTS == 0) begin : g_banked
            assign {recon_we, recon_waddr, recon_wslot, recon_wdata} = {(1+WAW+3+8*P){1'b0}};
            assign {recon_we2, recon_waddr2, recon_wslot2, recon_wdata2} = {(1+WAW+3+8*P){1'b0}};
            assign recon_busy = 1'b0;
            assign recon_done = 1'b0;
        end else begin : g_recon
            wb_haar_engine #(.P(P), .QB(QB), .NL(NL), .NT(NT), .COMP_W(COMP_W), .R_W(R_W), .LW_W(LW_W),
                             .LW_DEPTH(LW_DEPTH), .LW_AW(LW_AW), .CDEPTH(CDEPTH), .CAW(CAW), .EDEPTH(EDEPTH),
                             .XDEPTH(XDEPTH), .XAW(XAW),
                             .EAW(EAW), .WAW(WAW), .DESC_FILE(DESC_FILE), .LW_FILE(LW_FILE),
                             .ELEM_FILE(ELEM_FILE), .COMP_PREFIX(COMP_PREFIX), .EDGE_PREFIX(EDGE_PREFIX)) u_haar (
                .clk(clk), .rst(rst), .start(recon_start), .bits(req_bits), .widx(WIDX[({4'd0, req_bits} - 8'd1) * 8'd4 +: 4]),
                .busy(recon_busy), .done(recon_done), .we(recon_we), .waddr(recon_waddr), .wslot(recon_wslot),
                .wdata(recon_wdata), .we2(recon_we2), .waddr2(recon_waddr2), .wslot2(recon_wslot2),
                .wdata2(recon_wdata2));
        end
    endgenerate
    assign switching = pending || recon_busy || recon_ready;
    assign rebuilding = recon_busy;

    // ---------------------------------------------------------------- issue stage
    wire              issuing;
    wire              i_valid, i_first, i_last, i_pad;
    wire [WAW-1:0]    i_wptr;
    wire [2:0]        i_offa, i_offb, i_plane;
    wire [PLANES-1:0] i_pmask, i_psign;
    wire [1:0]        i_kb, i_mode;
    wire [6:0]        i_lo, i_hi;
    wire [7:0]        i_vmask;
    wire [23:0]       i_gp, i_obase, i_cw;
    wire              drain_last;         // the drain takes a group's last channel
    wire              den;                // the drain moves (wb_drain: the output FIFO has room)
    wb_issue #(.P(P), .ACT_AW(ACT_AW), .WAW(WAW), .DESC_W(DESC_W), .IN_C(IN_C), .IN_W(IN_W), .PACK_PW(PACK_PW),
               .PLANES(PLANES)) u_issue (
        .clk(clk), .rst(rst), .setup(state == S_SETUP), .d(d), .bits(cur_bits), .is_pool(is_pool), .is_add(is_add),
        .is_conv(is_conv), .dw(dw), .unitw(unitw), .row_packed(row_packed), .is_out(is_out), .nbo(nbo), .nba(nba), .nbb(nbb),
        .mode(mode), .den(den), .drain_last(drain_last), .issuing(issuing),
        .i_valid(i_valid), .i_first(i_first), .i_last(i_last), .i_pad(i_pad), .i_addr(i_addr), .i_addr2(i_addr2),
        .i_addr1(i_addr1), .i_rot(i_rot), .i_wptr(i_wptr), .i_offa(i_offa), .i_offb(i_offb), .i_plane(i_plane),
        .i_kb(i_kb), .i_lo(i_lo), .i_hi(i_hi), .i_mode(i_mode), .i_pmask(i_pmask), .i_psign(i_psign),
        .i_vmask(i_vmask), .i_gp(i_gp), .i_obase(i_obase), .i_cw(i_cw));
    // the weight memory is addressed from the issued item's row; the activation memories from their
    // slots' copies of its addresses (above), a cycle (WSEL_LAT) later
    assign w_raddr = i_wptr;

    // MAC pipeline: issue (i: addresses registered), the memories' read stages (x_pipe; x: data
    // valid), operands (a: the row's plane selected), the lanes' LANE_LAT stages (y_pipe; its last:
    // acc_next holds the item), then the drain
    // the item travels beside its memory reads: MEM_LAT stages, the activation addresses' copy
    // (WSEL_LAT) and the memories' read latency
    localparam MEM_LAT = WSEL_LAT + MEM_OREG + 1, ITEM_W = 113 + 2 * PLANES, LANE_ITEM_W = 2 * 7 + 8 + 2 * 24;
    reg  [MEM_LAT:1]  x_valids;
    reg  [ITEM_W-1:0] x_pipe [1:MEM_LAT];
    wire              x_valid = x_valids[MEM_LAT];
    wire              x_first, x_last, x_pad;
    wire [PLANES-1:0] x_pmask, x_psign;
    wire [2:0]        x_offa, x_offb;
    wire [2:0]        x_plane;
    wire [1:0]        x_kb;
    wire [2:0]        x_rot;
    wire [1:0]        x_mode;
    wire [23:0]       x_gp, x_obase, x_cw;
    assign {x_first, x_last, x_pad, x_plane, x_kb, x_rot, x_mode, x_pmask, x_psign, x_obase, x_offa, x_offb}
        = x_pipe[MEM_LAT][ITEM_W-1:LANE_ITEM_W];
    assign {x_gp, x_cw} = x_pipe[MEM_LAT][0 +: 2 * 24];
    // the item's low LANE_ITEM_W bits: what the lanes' valid slots are worked out from, MASK_LAT
    // cycles before the operand stage's edge (wb_mac_array copies them across the die first)
    wire [6:0]        v_lo, v_hi;
    wire [7:0]        v_vmask;
    wire [23:0]       v_gp, v_cw;
    assign {v_lo, v_hi, v_vmask, v_gp, v_cw} = x_pipe[MEM_LAT+1-MASK_LAT][LANE_ITEM_W-1:0];
    // operand stage: memory outputs registered (block RAM clock-to-out is slow on ECP5)
    reg        a_valid, a_first, a_last;
    reg [2:0]  a_plane;
    reg [1:0]  a_kb;
    reg [1:0]  a_mode;
    reg [PLANES-1:0] a_pmask, a_psign;
    reg [23:0] a_gp, a_obase, a_cw;
    reg [63:0] a_word, a_word2;
    reg [2:0]  a_offa, a_offb;
    reg [8*P*PLANES-1:0] a_wrow;          // the item's plane q, slot s of lane l at bit (q * 8 + s) * P + l
    // the item beside the lanes (wb_mac_lane's LAT stages); the last stage's acc_next holds it
    localparam LANE_LAT = 3 + (PLANES > 1 ? 1 : 0) + $clog2(PLANES), YITEM_W = 49;   // wb_mac_lane LAT
    reg  [LANE_LAT:1] y_valids;
    reg  [YITEM_W-1:0] y_pipe [1:LANE_LAT];
    wire       y_valid = y_valids[LANE_LAT];
    wire       y_last;
    wire [23:0] y_gp, y_obase;
    assign {y_last, y_gp, y_obase} = y_pipe[LANE_LAT];

    // drain: a finished group's accumulators and an add's values, requantized one per cycle (wb_drain)
    wire        drain_busy, drain_wr;
    wire [ACT_AW-1:0] drain_waddr;
    wire [7:0]  drain_wmask;
    wire [63:0] drain_wdata;
    reg         pool_wr;                  // a window's maximum is written
    reg  [23:0] pool_waddr;
    wire pipe_empty = !i_valid && x_valids == 0 && !a_valid && !pool_wr && y_valids == 0 && !drain_busy;

    // ---------------------------------------------------------------- MAC lanes
    wire [P*ACC_W-1:0] acc_flat;
    wb_mac_array #(.P(P), .ACC_W(ACC_W), .PLANES(PLANES), .MUL(MUL), .MASK_LAT(MASK_LAT)) u_lanes (
        .clk(clk), .valid(a_valid && is_conv), .first(a_first), .mode(a_mode), .word(a_word), .xsigned(in_sgn),
        .nbl(nba), .kb(a_kb), .plane(a_plane), .pmask(a_pmask), .psign(a_psign), .wrow(a_wrow), .vmask(v_vmask),
        .gp(v_gp[2:0]), .cw(v_cw[4:0]), .lo(v_lo), .hi(v_hi), .unitw(unitw), .dw(dw), .acc_next(acc_flat));

    // pool: running maximum of the window's words, value by value (bytes, or the 2- and 4-byte signed
    // values of a wide input); the compares a network's max pools cannot meet (POOL_NB) are not built
    reg  [63:0] pool_max;
    wire [63:0] pool_next;
    wire [7:0]  gt1;
    wire [3:0]  gt2;
    wire [1:0]  gt4;
    wire        pooling = POOL_NB != 0 && is_pool;
    generate
        for (gs = 0; gs < 8; gs = gs + 1) begin : g_max
            wire [7:0] v = a_word[gs*8 +: 8];
            wire [7:0] m = pool_max[gs*8 +: 8];
            assign gt1[gs] = in_sgn ? $signed(v) > $signed(m) : v > m;   // int8 inputs compare signed
            if (gs < 4) begin : g_16
                assign gt2[gs] = POOL_NB >= 2 && $signed(a_word[gs*16 +: 16]) > $signed(pool_max[gs*16 +: 16]);
            end
            if (gs < 2) begin : g_32
                assign gt4[gs] = POOL_NB >= 4 && $signed(a_word[gs*32 +: 32]) > $signed(pool_max[gs*32 +: 32]);
            end
            wire take = a_first || (nba == 2'd0 ? gt1[gs] : nba == 2'd1 ? gt2[gs/2] : gt4[gs/4]);
            assign pool_next[gs*8 +: 8] = take ? v : m;
        end
    endgenerate

    wb_drain #(.P(P), .ACC_W(ACC_W), .MUL_W(MUL_W), .BIAS_W(BIAS_W), .V_W(V_W), .OUT_W(OUT_W), .TWO(TWO),
               .ACT_AW(ACT_AW), .RQ_DEPTH(RQ_DEPTH), .RQ_BLK(RQ_BLK), .RQ2_DEPTH(RQ2_DEPTH), .RQ_OREG(RQ_OREG), .RQ_FILE(RQ_FILE), .RQ2_FILE(RQ2_FILE)) u_drain (
        .clk(clk), .rst(rst), .rq_row(lw[LW_RQROW +: 24]), .rq2_row(lw[LW_RQ2ROW +: 24]), .rq_shift(lw[LW_RQSHIFT +: 6]),
        .act_none(act_none), .is_out(is_out), .nbo(nbo), .cout(`F(F_COUT)), .bits(cur_bits),
        .group_valid(y_valid && y_last), .group_acc(acc_flat), .group_gp(y_gp), .group_obase(y_obase),
        .add_ahead(x_valid && is_add), .add_ahead_c(x_gp), .add_valid(a_valid && is_add), .add_word(a_word),
        .add_word2(a_word2), .add_off(a_offa), .add_off2(a_offb), .nba(nba), .nbb(nbb), .sgn(in_sgn), .sgn2(in2_sgn),
        .bip(bip1), .bip2(bip2), .add_addr(a_obase[ACT_AW-1:0]), .add_slot(a_cw[2:0]),
        .den(den), .last(drain_last), .busy(drain_busy),
        .wr_valid(drain_wr), .wr_addr(drain_waddr), .wr_mask(drain_wmask), .wr_data(drain_wdata),
        .out_valid(out_valid), .out_data(out_data), .out_bits(out_bits), .out_ready(out_ready));

    // ---------------------------------------------------------------- input loading
    // state == S_LOAD as a register of its own (set with the state; low in a reset and the cycle after
    // it), so that the loader's take, which enables its counters across the die, is one gate after
    // flip-flops
    reg        loading;
    assign in_ready = loading;
    wire       in_last;                   // the input tensor's last value is taken
    wb_input_loader #(.IN_C(IN_C), .IN_HW(IN_HW), .IN_CW(IN_CW), .IN_W(IN_W), .PACK(PACK), .PACK_PW(PACK_PW),
                      .PACK_WS(PACK_WS), .ACT_AW(ACT_AW)) u_loader (
        .clk(clk), .rst(rst), .take(in_valid && in_ready), .last(in_last), .we(ld_we), .waddr(ld_waddr));

    integer l;
    always @(posedge clk) begin
        act_wmask <= 8'd0;
        trace_valid <= 1'b0;
        recon_start <= 1'b0;
        if (rst) begin
            state <= S_LOAD;
            loading <= 1'b0;
            cur_bits <= INIT_BITS; req_bits <= INIT_BITS;
            pending <= (WEIGHTS != 0);
            recon_start <= (WEIGHTS != 0);
            recon_ready <= 1'b0;
            active <= 1'b0;
            cfg_error <= 1'b0;
            x_valids <= 0; a_valid <= 1'b0; pool_wr <= 1'b0; y_valids <= 0;
        end else begin
            // width register
            if (cfg_valid) begin
                if (cfg_take) begin
                    req_bits <= cfg_bits;
                    pending <= 1'b1;
                    recon_start <= (WEIGHTS != 0);
                    recon_ready <= 1'b0;
                end else
                    cfg_error <= 1'b1;
            end
            if (recon_done && !cfg_take) recon_ready <= 1'b1;
            case (state)
                S_LOAD: begin
                    loading <= !(in_valid && in_last);
                    if (in_valid) begin
                        act_wbuf <= 2'd0;
                        act_wdata <= {8{in_data}};
                        if (in_last) state <= S_START;
                    end
                end
                S_START: begin
                    // the width goes live between inferences: at once (banked) or once rebuilt
                    if (WEIGHTS == 0) begin
                        if (pending) begin cur_bits <= req_bits; pending <= cfg_take; end
                        layer <= 8'd0;
                        state <= S_DESC;
                    end else if (!recon_busy && !recon_start && !recon_done) begin
                        if (recon_ready) begin
                            active <= !active; cur_bits <= req_bits; pending <= cfg_take; recon_ready <= 1'b0;
                        end
                        layer <= 8'd0;
                        state <= S_DESC;
                    end
                end
                S_DESC: state <= S_LW;            // descriptor read in flight
                S_LW: begin d <= desc_q; state <= S_LWA; end
                S_LWA: begin lw_raddr <= `F(F_LWBASE) + cur_widx; state <= S_LWB; end
                S_LWB: state <= S_SETUP;          // per-width record read in flight
                S_SETUP: begin
                    lw <= lw_q;
                    is_pool <= `F(F_OP) == 1;
                    is_add <= `F(F_OP) == 3;
                    is_conv <= `F(F_OP) == 0 || `F(F_OP) == 2;
                    is_out <= fl[0];
                    act_none <= fl[1];
                    row_packed <= fl[3];
                    in_sgn <= fl[4]; dw <= fl[5]; unitw <= fl[6]; in2_sgn <= fl[8];
                    bip1 <= fl[2] && cur_bits == 4'd1; bip2 <= fl[7] && cur_bits == 4'd1;
                    nbo <= fl[10:9]; nba <= fl[12:11]; nbb <= fl[14:13];
                    src <= `F(F_SRC); src2 <= `F(F_SRC2); dst <= `F(F_DST);
                    mode <= (cur_bits != 4'd1) ? 2'd0 : (xnor_layer ? 2'd2 : 2'd1);
                    state <= S_RUN;
                end
                S_RUN: if (!issuing && pipe_empty) state <= S_NEXT;
                S_NEXT: begin
                    if (layer + 1 < NL) begin layer <= layer + 1; state <= S_DESC; end
                    else begin state <= S_LOAD; loading <= 1'b1; end
                end
                default: ;
            endcase


            // ---- memory read stages
            x_valids <= {x_valids[MEM_LAT-1:1], i_valid};
            x_pipe[1] <= {i_first, i_last, i_pad, i_plane, i_kb, i_rot, i_mode, i_pmask, i_psign, i_obase, i_offa, i_offb,
                          i_lo, i_hi, i_vmask, i_gp, i_cw};
            for (l = 2; l <= MEM_LAT; l = l + 1) x_pipe[l] <= x_pipe[l-1];

            // ---- operand stage
            a_valid <= x_valid; a_first <= x_first; a_last <= x_last; a_plane <= x_plane; a_kb <= x_kb;
            a_mode <= x_mode; a_pmask <= x_pmask; a_psign <= x_psign; a_gp <= x_gp; a_obase <= x_obase; a_cw <= x_cw;
            // grouped: the slots from the group's first byte on come first (the words were read so)
            a_word <= x_pad ? 64'd0 : ({act_q[src], act_q[src]} >> {x_rot, 3'b000});
            a_word2 <= act_q[src2];
            a_offa <= x_offa; a_offb <= x_offb;
            // plane x_plane + q: x_plane is a multiple of PLANES, so q fills its low bits
            for (l = 0; l < 8 * PLANES; l = l + 1)
                a_wrow[l*P +: P] <= wrow[(l % 8)*8*P + ((x_plane >> $clog2(PLANES) << $clog2(PLANES)) + l / 8)*P +: P];
            y_valids <= {y_valids[LANE_LAT-1:1], a_valid && is_conv};
            y_pipe[1] <= {a_last, a_gp, a_obase};
            for (l = 2; l <= LANE_LAT; l = l + 1) y_pipe[l] <= y_pipe[l-1];

            // ---- execute: pool writes a word per window (the cycle after its last tap: the
            // compares and the write data's route get a cycle each); conv hands a finished group to
            // the drain
            if (a_valid && pooling) pool_max <= pool_next;
            pool_wr <= a_valid && pooling && a_last;
            pool_waddr <= a_obase + a_cw;
            if (pool_wr) begin
                act_wbuf <= dst;
                act_waddr <= pool_waddr[ACT_AW-1:0];
                act_wmask <= 8'hFF;
                act_wdata <= pool_max;
                trace_valid <= 1'b1; trace_layer <= layer; trace_addr <= pool_waddr;
                trace_mask <= 8'hFF; trace_data <= pool_max;
            end
            if (drain_wr) begin
                act_wbuf <= dst;
                act_waddr <= drain_waddr;
                act_wmask <= drain_wmask;
                act_wdata <= drain_wdata;
                trace_valid <= 1'b1; trace_layer <= layer; trace_addr <= drain_waddr;
                trace_mask <= drain_wmask; trace_data <= drain_wdata;
            end
        end
    end
    `undef F
endmodule
