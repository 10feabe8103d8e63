// The wavebits accelerator core: runs a network layer by layer from a descriptor memory at a
// bit-width chosen at run time.
//
// Streams: `in` takes the input tensor one uint8 value per beat in (C, H, W) order (stored with
// the first layer's kernel rows packed into the words when PACK > 1, see input loading); `out` gives the
// output layer's values in (H, W, C) order, each tagged with the width it was computed at.
// Width register: a `cfg_valid` beat writes `cfg_bits`; a width outside the bank raises
// `cfg_error` and is ignored. An inference runs at the width that is live when its input is
// complete. WEIGHTS = 0 (banked): every width's weights are stored and a switch selects a bank.
// WEIGHTS = 1 (reconstruct): only wavelet components are stored; a write starts the Haar engine
// into the idle half of a double-buffered weight memory while inference continues on the other.
//
// Activations live in two ping-pong buffers of 8-channel words (8 byte-wide RAMs each); a tensor
// (C, H, W) is stored pixel-major, word = pixel * ceil(C/8) + c/8, byte = c % 8. Unsigned values
// are stored as they are, bipolar ones as bits (1 = +1, 0 = -1); padding reads as 0 in both.
// Weighted layers run on P MAC lanes (P output channels at once), each taking a whole channel word
// (8 input channels) per cycle: bit-serial over the weight's bit planes at width >= 2, +-x or
// XNOR-popcount at width 1. Weights are stored per unit (one kernel tap, one channel word) and
// group of P output channels: a 64P-bit row holds slot s, bit plane j, lane l at bit
// s * 8P + j * P + l (two's complement; the sign, 1 = +1, at width 1). A finished group of P accumulators is copied to shadow registers and requantized one channel per cycle while the
// lanes go on with the next group. Every memory output is registered before logic (ECP5 timing).
module wb_core #(
    parameter WEIGHTS = 0,
    parameter P = 8,
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
    parameter ACT_DEPTH = 1024, ACT_AW = 10,
    parameter WDEPTH = 1024, WAW = 10,
    parameter RQ_DEPTH = 1024, RQ_AW = 10,
    parameter LW_W = 120, LW_DEPTH = 64, LW_AW = 6,
    parameter COMP_W = 10, R_W = 32, CDEPTH = 1024, CAW = 10, EDEPTH = 1024, EAW = 10, XDEPTH = 0, XAW = 1,
    // memory images ($readmemh); empty: no image (the generated top level names them all)
    parameter DESC_FILE = "", LW_FILE = "", RQ_FILE = "",
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
    output reg  [ACT_AW-1:0]        trace_addr,
    output reg  [7:0]               trace_mask,
    output reg  [63:0]              trace_data
);
`include "wb_fields.vh"
    localparam DESC_W = NFIELDS * FIELD_W;
    localparam RQ_W = MUL_W + BIAS_W;

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
    reg         is_pool, is_out, act_none, src, row_packed;
    reg  [1:0]  mode;
    wire        xnor_layer = (cur_bits == 4'd1) && ((`F(F_FLAGS) >> 2) & 1);
    wire [3:0]  nplanes = (cur_bits == 4'd1) ? 4'd1 : cur_bits;
    // the plane loop's "last" flag at the start of each pass (one pass: pool, width 1)
    wire        j_first_last = (nplanes == 4'd1) || (`F(F_OP) != 0);

    // activation and weight memories: block outputs registered, then the selected block once more
    // (wb_ram OREG = 2), since the block RAMs lie far apart on the die
    localparam MEM_OREG = 2;

    // ---------------------------------------------------------------- activation buffers
    wire [ACT_AW-1:0] act_raddr;
    wire [63:0]       act_q [0:1];
    reg  [ACT_AW-1:0] act_waddr;
    reg  [7:0]        ld_we;              // the input loader's writes, each slot at its own address
    reg  [ACT_AW-1:0] ld_waddr [0:7];
    reg  [7:0]        act_wmask;
    reg  [63:0]       act_wdata;
    reg               act_wbuf;
    genvar gb, gs;
    generate
        for (gb = 0; gb < 2; gb = gb + 1) begin : g_buf
            for (gs = 0; gs < 8; gs = gs + 1) begin : g_slot
                wb_ram #(.W(8), .DEPTH(ACT_DEPTH), .AW(ACT_AW), .OREG(MEM_OREG)) u_act (
                    .clk(clk), .we((act_wmask[gs] || ld_we[gs]) && act_wbuf == gb),
                    .waddr(ld_we[gs] ? ld_waddr[gs] : act_waddr),
                    .wdata(act_wdata[gs*8 +: 8]), .re(1'b1), .raddr(act_raddr), .rdata(act_q[gb][gs*8 +: 8]));
            end
        end
    endgenerate

    // ---------------------------------------------------------------- weight memory
    // a row of every slot's 8 planes (64P bits, see the header); banked widths store their b planes
    wire [WAW-1:0] w_raddr;
    reg  [64*P-1:0] wrow;                 // combinational: the row read last cycle
    wire [64*P-1:0] bank_q [0:8];       // [0]: no width (never live)
    wire           recon_we;
    wire [WAW-1:0] recon_waddr;
    wire [2:0]     recon_wslot;
    wire [8*P-1:0] recon_wdata;
    wire           recon_we2;
    wire [WAW-1:0] recon_waddr2;
    wire [2:0]     recon_wslot2;
    wire [8*P-1:0] recon_wdata2;
    assign bank_q[0] = {(64*P){1'b0}};
    generate
        if (WEIGHTS == 0) begin : g_banked
            for (gb = 1; gb <= 8; gb = gb + 1) begin : g_width
                if (WIDTHS[gb]) begin : g_have
                    localparam NPL = (gb == 1) ? 1 : gb;  // planes stored per slot
                    localparam BW = 8 * NPL * P;
                    localparam [7:0] DIGIT = 48 + gb;
                    wire [BW-1:0] q;
                    wb_ram #(.W(BW), .DEPTH(WDEPTH), .AW(WAW), .OREG(MEM_OREG),
                             .INIT(WEIGHT_PREFIX == "" ? "" : {WEIGHT_PREFIX, "_b", DIGIT, ".hex"})) u_bank (
                        .clk(clk), .we(1'b0), .waddr({WAW{1'b0}}), .wdata({BW{1'b0}}), .re(1'b1), .raddr(w_raddr), .rdata(q));
                    for (gs = 0; gs < 8; gs = gs + 1) begin : g_slot
                        if (NPL < 8) begin : g_pad
                            assign bank_q[gb][gs*8*P +: 8*P] = {{((8-NPL)*P){1'b0}}, q[gs*NPL*P +: NPL*P]};
                        end else begin : g_full
                            assign bank_q[gb][gs*8*P +: 8*P] = q[gs*8*P +: 8*P];
                        end
                    end
                end else begin : g_none
                    assign bank_q[gb] = {(64*P){1'b0}};
                end
            end
            assign recon_busy = 1'b0;
            assign recon_done = 1'b0;
            always @* wrow = bank_q[cur_bits];
        end else begin : g_recon
            // per half, one memory per slot holding its 8 planes: the engine writes one column (one
            // slot of one unit, P lanes, every plane) per port and cycle
            wire [64*P-1:0] half_q [0:1];
            // the engine's two writes, registered once more per half and slot (each enable its own
            // flip-flop) before they fan out to the block RAMs across the die; the extra cycle ends
            // long before the rebuilt half goes live (done, then recon_ready, then the flip)
            reg  [WAW-1:0] buf_waddr, buf_waddr2;
            reg  [8*P-1:0] buf_wdata, buf_wdata2;
            for (gb = 0; gb < 2; gb = gb + 1) begin : g_half
                reg [7:0] buf_we, buf_we2;    // per slot
                always @(posedge clk) begin
                    buf_we <= (recon_we && active != gb) ? 8'd1 << recon_wslot : 8'd0;
                    buf_we2 <= (recon_we2 && active != gb) ? 8'd1 << recon_wslot2 : 8'd0;
                end
                for (gs = 0; gs < 8; gs = gs + 1) begin : g_slot
                    wb_ram #(.W(8*P), .DEPTH(WDEPTH), .AW(WAW), .OREG(MEM_OREG), .WP2(1)) u_buf (
                        .clk(clk), .we(buf_we[gs]), .waddr(buf_waddr), .wdata(buf_wdata),
                        .re(1'b1), .raddr(w_raddr), .rdata(half_q[gb][gs*8*P +: 8*P]),
                        .we2(buf_we2[gs]), .waddr2(buf_waddr2), .wdata2(buf_wdata2));
                end
            end
            always @(posedge clk) begin
                {buf_waddr, buf_waddr2} <= {recon_waddr, recon_waddr2};
                {buf_wdata, buf_wdata2} <= {recon_wdata, recon_wdata2};
            end
            for (gb = 1; gb <= 8; gb = gb + 1) begin : g_unused
                assign bank_q[gb] = {(64*P){1'b0}};
            end
            wb_haar_engine #(.P(P), .QB(QB), .NL(NL), .NT(NT), .COMP_W(COMP_W), .R_W(R_W), .LW_W(LW_W),
                             .LW_DEPTH(LW_DEPTH), .LW_AW(LW_AW), .CDEPTH(CDEPTH), .CAW(CAW), .EDEPTH(EDEPTH),
                             .XDEPTH(XDEPTH), .XAW(XAW),
                             .EAW(EAW), .WAW(WAW), .DESC_FILE(DESC_FILE), .LW_FILE(LW_FILE),
                             .ELEM_FILE(ELEM_FILE), .COMP_PREFIX(COMP_PREFIX), .EDGE_PREFIX(EDGE_PREFIX)) u_haar (
                .clk(clk), .rst(rst), .start(recon_start), .bits(req_bits), .widx(WIDX[({4'd0, req_bits} - 8'd1) * 8'd4 +: 4]),
                .busy(recon_busy), .done(recon_done), .we(recon_we), .waddr(recon_waddr), .wslot(recon_wslot),
                .wdata(recon_wdata), .we2(recon_we2), .waddr2(recon_waddr2), .wslot2(recon_wslot2),
                .wdata2(recon_wdata2));
            always @* wrow = half_q[active];
        end
    endgenerate
    assign switching = pending || recon_busy || recon_ready;
    assign rebuilding = recon_busy;

    // ---------------------------------------------------------------- requant memory
    reg  [RQ_AW-1:0] rq_raddr;            // the channel being issued to the requant pipeline
    wire [RQ_W-1:0]  rq_q;
    wb_ram #(.W(RQ_W), .DEPTH(RQ_DEPTH), .AW(RQ_AW), .INIT(RQ_FILE)) u_rq (
        .clk(clk), .we(1'b0), .waddr({RQ_AW{1'b0}}), .wdata({RQ_W{1'b0}}), .re(den), .raddr(rq_raddr), .rdata(rq_q));

    // ---------------------------------------------------------------- loop counters (issue stage)
    reg [23:0] oy, ox, g, gp, ky, kx, cw, crem, kxofs, krow, obase, wptr;
    reg [3:0]  j;
    reg signed [24:0] iy0, ix0, prow, pbase;
    reg        issuing;      // the layer's items are not all issued yet
    // loop bounds minus one, and the current channel word's valid slots, held in registers so that
    // the loop-end tests are plain equalities
    reg [23:0] kw_m1, kh_m1, incw_m1, groups_m1, wout_m1, hout_m1;
    reg [3:0]  planes_m1;
    reg [7:0]  vmask, vmask_first;
    // each counter's "at its last value" flag, updated with the counter; the plane loop has one
    // pass in pool layers and at width 1, so j_last holds there (j_wrap: its value as the loop
    // restarts)
    reg         j_last, cw_last, kx_last, ky_last, g_last, ox_last, oy_last;
    reg         j_wrap;
    // the next output pixel (row-major), and the input window it reads; the last one ends the layer
    task next_output_pixel;
        begin
            obase <= obase + `F(F_OUTCW);
            if (!ox_last) begin
                ox <= ox + 1; ox_last <= (ox + 1 == wout_m1); ix0 <= ix0 + $signed({1'b0, `F(F_SW)});
                pbase <= pbase + $signed({1'b0, `F(F_DOX)});
            end else begin
                ox <= 0; ox_last <= (wout_m1 == 0); ix0 <= -$signed({1'b0, `F(F_PW)});
                if (!oy_last) begin
                    oy <= oy + 1; oy_last <= (oy + 1 == hout_m1); iy0 <= iy0 + $signed({1'b0, `F(F_SH)});
                    prow <= prow + $signed({1'b0, `F(F_DOY)});
                    pbase <= prow + $signed({1'b0, `F(F_DOY)});
                end else issuing <= 1'b0;
            end
        end
    endtask
    function [7:0] slot_mask(input [23:0] channels_left);
        slot_mask = (channels_left >= 8) ? 8'hFF : ((8'd1 << channels_left) - 8'd1);
    endfunction
    // the next channel word's slots, slot_mask(crem - 8), without a subtraction (crem > 8 there)
    wire [7:0]  vmask_next = (|crem[23:4]) ? 8'hFF : ((8'd1 << crem[2:0]) - 8'd1);
    wire        grp_last = j_last && cw_last && kx_last && ky_last;   // conv: last item of a group
    wire        tap_last = kx_last && ky_last;                       // pool: last tap of a window
    wire        first_item = (j == 0) && (cw == 0) && (kx == 0) && (ky == 0);
    wire signed [24:0] iy = iy0 + $signed({1'b0, ky});
    wire signed [24:0] ix = ix0 + $signed({1'b0, kx});
    wire        pad = (iy < 0) || (iy >= $signed({1'b0, `F(F_HIN)})) || (ix < 0) || (ix >= $signed({1'b0, `F(F_WIN)}));
    wire signed [24:0] addr = pbase + $signed({1'b0, krow}) + $signed({1'b0, kxofs}) + $signed({1'b0, cw});
    assign act_raddr = i_addr;
    assign w_raddr = i_wptr;

    // MAC pipeline: issue (i: addresses registered), the memories' read stages (x_pipe; x: data
    // valid), operands (a: the row's plane selected), the lanes' LANE_LAT stages (y_pipe; its last:
    // acc_next holds the item), then the drain
    reg        i_valid, i_first, i_last, i_pad, i_src;
    reg [2:0]  i_plane;
    reg [1:0]  i_mode;
    reg        i_sign;
    reg [7:0]  i_vmask;
    reg [23:0] i_gp, i_obase, i_cw;
    // the item travels beside its memory reads: MEM_LAT stages, the activation and weight memories'
    // read latency
    localparam MEM_LAT = MEM_OREG + 1, ITEM_W = 90;
    reg  [MEM_LAT:1]  x_valids;
    reg  [ITEM_W-1:0] x_pipe [1:MEM_LAT];
    wire              x_valid = x_valids[MEM_LAT];
    wire              x_first, x_last, x_pad, x_src, x_sign;
    wire [2:0]        x_plane;
    wire [1:0]        x_mode;
    wire [7:0]        x_vmask;
    wire [23:0]       x_gp, x_obase, x_cw;
    assign {x_first, x_last, x_pad, x_src, x_plane, x_mode, x_sign, x_vmask, x_gp, x_obase, x_cw}
        = x_pipe[MEM_LAT];
    reg [ACT_AW-1:0] i_addr;
    reg [WAW-1:0] i_wptr;
    // operand stage: memory outputs registered (block RAM clock-to-out is slow on ECP5)
    reg        a_valid, a_first, a_last;
    reg [2:0]  a_plane;
    reg [1:0]  a_mode;
    reg        a_sign;
    reg [7:0]  a_vmask;
    reg [23:0] a_gp, a_obase, a_cw;
    reg [63:0] a_word;
    reg [8*P-1:0] a_wrow;                 // slot s of lane l at bit s * P + l
    // the item beside the lanes (wb_mac_lane's LAT stages); the last stage's acc_next holds it
    localparam LANE_LAT = 3, YITEM_W = 49;
    reg  [LANE_LAT:1] y_valids;
    reg  [YITEM_W-1:0] y_pipe [1:LANE_LAT];
    wire       y_valid = y_valids[LANE_LAT];
    wire       y_last;
    wire [23:0] y_gp, y_obase;
    assign {y_last, y_gp, y_obase} = y_pipe[LANE_LAT];
    // the word's valid slots summed (width 1, unsigned input: 2 * S - sumx), one lane stage late
    reg  [8:0]  sx_pair [0:3];
    reg  [10:0] sumx;

    // drain: requantize a finished group's accumulators, one channel per cycle
    reg               d_busy;
    reg  [23:0]       d_c, d_cend, d_obase, d_l;
    reg signed [ACC_W-1:0] shadow [0:P-1];
    wire signed [ACC_W-1:0] acc_next [0:P-1];
    // requant pipeline: stage 0 holds the accumulator and the requant memory's output, stages
    // 1..RQ_LAT follow wb_requant; the last one writes
    localparam RQ_LAT = 8;
    reg  [RQ_LAT:0]   t_valid;
    reg  [ACT_AW-1:0] t_addr [0:RQ_LAT];
    reg  [2:0]        t_slot [0:RQ_LAT];
    reg signed [ACC_W-1:0] r1_acc;
    wire signed [OUT_W-1:0] rq_out;
    // output FIFO (4 entries): the drain runs while at most one entry is taken, so its enable is a
    // register and out_ready fans out to nothing but the FIFO
    reg  [OUT_W+3:0] ofifo [0:3];
    reg  [1:0] o_rd, o_wr;
    reg  [2:0] o_count;
    reg        den;
    wire       o_push = den && t_valid[RQ_LAT] && is_out;
    wire       o_pop = out_valid && out_ready;
    wire [2:0] o_count_next = o_count + (o_push ? 3'd1 : 3'd0) - (o_pop ? 3'd1 : 3'd0);
    assign out_valid = o_count != 0;
    assign out_data = ofifo[o_rd][OUT_W-1:0];
    assign out_bits = ofifo[o_rd][OUT_W+3:OUT_W];
    wire drain_issue = den && d_busy && !(y_valid && !is_pool && y_last);
    wire pipe_empty = !i_valid && x_valids == 0 && !a_valid && y_valids == 0 && !d_busy && t_valid == 0;

    // a group's last item waits while the previous group is still on its way to, or in, the drain
    // (only conv layers set grp_pending)
    reg  grp_pending;
    wire can_issue = issuing && !(grp_last && grp_pending);

    // ---------------------------------------------------------------- MAC lanes
    genvar gl;
    generate
        for (gl = 0; gl < P; gl = gl + 1) begin : g_lane
            wire [7:0] wbits;
            for (gs = 0; gs < 8; gs = gs + 1) begin : g_wbit
                assign wbits[gs] = a_wrow[gs*P + gl];
            end
            wb_mac_lane #(.ACC_W(ACC_W)) u_lane (
                .clk(clk), .valid(a_valid && !is_pool), .first(a_first), .mode(a_mode), .x(a_word),
                .plane(a_plane), .sign_plane(a_sign), .wbits(wbits), .vmask(a_vmask), .sumx(sumx),
                .acc_next(acc_next[gl]));
        end
    endgenerate

    // pool: running byte-wise maximum of the window's words
    reg  [63:0] pool_max;
    wire [63:0] pool_next;
    generate
        for (gs = 0; gs < 8; gs = gs + 1) begin : g_max
            wire [7:0] v = a_word[gs*8 +: 8];
            assign pool_next[gs*8 +: 8] = (a_first || v > pool_max[gs*8 +: 8]) ? v : pool_max[gs*8 +: 8];
        end
    endgenerate

    wb_requant #(.ACC_W(ACC_W), .MUL_W(MUL_W), .BIAS_W(BIAS_W), .V_W(V_W), .OUT_W(OUT_W)) u_requant (
        .clk(clk), .en(den), .acc(r1_acc), .mul(rq_q[MUL_W-1:0]), .bias(rq_q[RQ_W-1:MUL_W]),
        .shift(lw[LW_RQSHIFT +: 6]), .act_none(act_none), .bits(cur_bits), .out(rq_out));

    // ---------------------------------------------------------------- input loading
    // PACK = 1: value (c, y, x) goes to word (y * IN_W + x) * IN_CW + c / 8, slot c % 8. PACK > 1
    // (the first layer reads at most 8 channels x taps): word y * PACK_WS + X, X = x + PACK_PW - t,
    // slot t * IN_C + c for each tap t < PACK with 0 <= X < PACK_WS, so that word X holds the
    // kernel row of the window whose first column is X - PACK_PW; slots whose column lies in the
    // padding hold stale values, which the issue stage masks (pack_mask)
    reg [23:0] in_c, in_pix, in_paddr, in_x, in_row;
    reg        in_c_last, in_pix_last, in_x_last;    // registered loop ends, as in the issue stage
    assign in_ready = (state == S_LOAD) && !rst;
    wire       in_take = in_valid && in_ready;
    integer    lt, lx;
    always @(posedge clk)
        for (lt = 0; lt < 8; lt = lt + 1) begin
            if (PACK > 1) begin
                lx = in_x + PACK_PW - lt / IN_C;
                ld_we[lt] <= in_take && lt < IN_C * PACK && in_c == lt % IN_C && lx >= 0 && lx < PACK_WS;
                ld_waddr[lt] <= in_row + lx;
            end else begin
                ld_we[lt] <= in_take && in_c[2:0] == lt;
                ld_waddr[lt] <= in_paddr + (in_c >> 3);
            end
        end
    // the packed layer's valid slots for the window at column ix0: its tap inside the input
    reg  [7:0] pack_mask;
    integer    lp;
    always @*
        for (lp = 0; lp < 8; lp = lp + 1)
            pack_mask[lp] = (ix0 + lp / IN_C >= PACK_PW) && (ix0 + lp / IN_C < IN_W + PACK_PW);

    integer l;
    always @(posedge clk) begin
        act_wmask <= 8'd0;
        trace_valid <= 1'b0;
        recon_start <= 1'b0;
        if (rst) begin
            issuing <= 1'b0; grp_pending <= 1'b0;
            state <= S_LOAD;
            cur_bits <= INIT_BITS; req_bits <= INIT_BITS;
            pending <= (WEIGHTS != 0);
            recon_start <= (WEIGHTS != 0);
            recon_ready <= 1'b0;
            active <= 1'b0;
            cfg_error <= 1'b0;
            in_c <= 0; in_pix <= 0; in_paddr <= 0; in_c_last <= (IN_C == 1); in_pix_last <= (IN_HW == 1);
            in_x <= 0; in_x_last <= (IN_W == 1); in_row <= 0;
            i_valid <= 1'b0; x_valids <= 0; a_valid <= 1'b0; y_valids <= 0;
            d_busy <= 1'b0;
            t_valid <= 0;
            o_rd <= 0; o_wr <= 0; o_count <= 0; den <= 1'b1;
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
            if (o_push) begin ofifo[o_wr] <= {cur_bits, rq_out}; o_wr <= o_wr + 1; end
            if (o_pop) o_rd <= o_rd + 1;
            o_count <= o_count_next;
            den <= o_count_next <= 3'd1;

            case (state)
                S_LOAD: if (in_valid) begin
                    act_wbuf <= 1'b0;
                    act_wdata <= {8{in_data}};
                    if (!in_pix_last) begin
                        in_pix <= in_pix + 1; in_pix_last <= (in_pix + 2 == IN_HW); in_paddr <= in_paddr + IN_CW;
                        if (!in_x_last) begin in_x <= in_x + 1; in_x_last <= (in_x + 2 == IN_W); end
                        else begin in_x <= 0; in_x_last <= (IN_W == 1); in_row <= in_row + PACK_WS; end
                    end else begin
                        in_pix <= 0; in_pix_last <= (IN_HW == 1); in_paddr <= 0;
                        in_x <= 0; in_x_last <= (IN_W == 1); in_row <= 0;
                        if (!in_c_last) begin in_c <= in_c + 1; in_c_last <= (in_c + 2 == IN_C); end
                        else begin in_c <= 0; in_c_last <= (IN_C == 1); state <= S_START; end
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
                    is_pool <= `F(F_OP) != 0;
                    is_out <= `F(F_FLAGS) & 1;
                    act_none <= (`F(F_FLAGS) >> 1) & 1;
                    src <= `F(F_SRC) & 1;
                    row_packed <= (`F(F_FLAGS) >> 3) & 1;
                    mode <= (cur_bits != 4'd1) ? 2'd0 : (xnor_layer ? 2'd2 : 2'd1);
                    issuing <= 1'b1;
                    grp_pending <= 1'b0;
                    oy <= 0; ox <= 0; g <= 0; gp <= 0; ky <= 0; kx <= 0; cw <= 0; j <= 0;
                    crem <= `F(F_CIN); vmask <= slot_mask(`F(F_CIN)); vmask_first <= slot_mask(`F(F_CIN)); kxofs <= 0; krow <= 0; obase <= 0;
                    kw_m1 <= `F(F_KW) - 1; kh_m1 <= `F(F_KH) - 1; incw_m1 <= `F(F_INCW) - 1;
                    groups_m1 <= `F(F_GROUPS) - 1; wout_m1 <= `F(F_WOUT) - 1; hout_m1 <= `F(F_HOUT) - 1;
                    planes_m1 <= nplanes - 4'd1;
                    j_last <= j_first_last; j_wrap <= j_first_last; cw_last <= (`F(F_INCW) == 1);
                    kx_last <= (`F(F_KW) == 1); ky_last <= (`F(F_KH) == 1); g_last <= (`F(F_GROUPS) == 1);
                    ox_last <= (`F(F_WOUT) == 1); oy_last <= (`F(F_HOUT) == 1);
                    wptr <= `F(F_WBASE);
                    iy0 <= -$signed({1'b0, `F(F_PH)}); ix0 <= -$signed({1'b0, `F(F_PW)});
                    prow <= $signed(`F(F_P0)); pbase <= $signed(`F(F_P0));
                    state <= S_RUN;
                end
                S_RUN: if (!issuing && pipe_empty) state <= S_NEXT;
                S_NEXT: begin
                    if (layer + 1 < NL) begin layer <= layer + 1; state <= S_DESC; end
                    else state <= S_LOAD;
                end
                default: ;
            endcase

            // ---- issue one item
            i_valid <= 1'b0;
            if (can_issue) begin
                i_valid <= 1'b1;
                i_addr <= addr[ACT_AW-1:0];   // a padding tap reads anywhere; i_pad masks it
                i_wptr <= wptr[WAW-1:0];
                i_src <= src;
                i_pad <= !is_pool && pad;
                i_first <= is_pool ? (kx == 0 && ky == 0) : first_item;
                i_last <= is_pool ? tap_last : grp_last;
                if (!is_pool && grp_last) grp_pending <= 1'b1;
                i_mode <= mode;
                i_plane <= j[2:0];
                i_sign <= (j == planes_m1);
                i_vmask <= row_packed ? vmask & pack_mask : vmask;
                i_gp <= gp;
                i_obase <= obase;
                i_cw <= cw;
                if (is_pool) begin
                    // pool order: per output pixel, per channel word, the window's taps
                    if (!kx_last) begin kx <= kx + 1; kx_last <= (kx + 1 == kw_m1); kxofs <= kxofs + `F(F_INCW); end
                    else begin
                        kx <= 0; kx_last <= (kw_m1 == 0); kxofs <= 0;
                        if (!ky_last) begin ky <= ky + 1; ky_last <= (ky + 1 == kh_m1); krow <= krow + `F(F_DKY); end
                        else begin
                            ky <= 0; ky_last <= (kh_m1 == 0); krow <= 0;
                            if (!cw_last) begin cw <= cw + 1; cw_last <= (cw + 1 == incw_m1); end
                            else begin
                                cw <= 0; cw_last <= (incw_m1 == 0);
                                next_output_pixel;
                            end
                        end
                    end
                end else begin
                    // conv order: per output pixel, per group of P channels, taps (ky, kx), channel
                    // words (one weight unit each), weight bit planes
                    if (j_last) wptr <= wptr + 1;   // next unit
                    if (!j_last) begin j <= j + 1; j_last <= (j + 1 == planes_m1); end
                    else begin
                        j <= 0; j_last <= j_wrap;
                        if (!cw_last) begin
                            cw <= cw + 1; cw_last <= (cw + 1 == incw_m1); crem <= crem - 8; vmask <= vmask_next;
                        end else begin
                            cw <= 0; cw_last <= (incw_m1 == 0); crem <= `F(F_CIN); vmask <= vmask_first;
                            if (!kx_last) begin kx <= kx + 1; kx_last <= (kx + 1 == kw_m1); kxofs <= kxofs + `F(F_INCW); end
                            else begin
                                kx <= 0; kx_last <= (kw_m1 == 0); kxofs <= 0;
                                if (!ky_last) begin ky <= ky + 1; ky_last <= (ky + 1 == kh_m1); krow <= krow + `F(F_DKY); end
                                else begin
                                    ky <= 0; ky_last <= (kh_m1 == 0); krow <= 0;
                                    if (!g_last) begin g <= g + 1; g_last <= (g + 1 == groups_m1); gp <= gp + P; end
                                    else begin
                                        g <= 0; g_last <= (groups_m1 == 0); gp <= 0;
                                        wptr <= `F(F_WBASE);
                                        next_output_pixel;
                                    end
                                end
                            end
                        end
                    end
                end
            end

            // ---- memory read stages
            x_valids <= {x_valids[MEM_LAT-1:1], i_valid};
            x_pipe[1] <= {i_first, i_last, i_pad, i_src, i_plane, i_mode, i_sign, i_vmask, i_gp, i_obase, i_cw};
            for (l = 2; l <= MEM_LAT; l = l + 1) x_pipe[l] <= x_pipe[l-1];

            // ---- operand stage
            a_valid <= x_valid; a_first <= x_first; a_last <= x_last; a_plane <= x_plane;
            a_mode <= x_mode; a_sign <= x_sign; a_vmask <= x_vmask; a_gp <= x_gp; a_obase <= x_obase; a_cw <= x_cw;
            a_word <= x_pad ? 64'd0 : act_q[x_src];
            for (l = 0; l < 8; l = l + 1) a_wrow[l*P +: P] <= wrow[l*8*P + x_plane*P +: P];
            y_valids <= {y_valids[LANE_LAT-1:1], a_valid && !is_pool};
            y_pipe[1] <= {a_last, a_gp, a_obase};
            for (l = 2; l <= LANE_LAT; l = l + 1) y_pipe[l] <= y_pipe[l-1];
            for (l = 0; l < 4; l = l + 1)
                sx_pair[l] <= (a_vmask[2*l] ? {1'b0, a_word[16*l +: 8]} : 9'd0)
                              + (a_vmask[2*l+1] ? {1'b0, a_word[16*l+8 +: 8]} : 9'd0);
            sumx <= sx_pair[0] + sx_pair[1] + sx_pair[2] + sx_pair[3];

            // ---- execute: pool writes a word per window; conv hands a finished group to the drain
            if (a_valid && is_pool) begin
                pool_max <= pool_next;
                if (a_last) begin
                    act_wbuf <= !src;
                    act_waddr <= a_obase + a_cw;
                    act_wmask <= 8'hFF;
                    act_wdata <= pool_next;
                    trace_valid <= 1'b1; trace_layer <= layer; trace_addr <= a_obase + a_cw;
                    trace_mask <= 8'hFF; trace_data <= pool_next;
                end
            end
            if (y_valid && y_last) begin
                for (l = 0; l < P; l = l + 1) shadow[l] <= acc_next[l];
                d_busy <= 1'b1;
                d_c <= y_gp; d_l <= 0; d_obase <= y_obase;
                rq_raddr <= lw[LW_RQROW +: 24] + y_gp;
                d_cend <= (y_gp + P < `F(F_COUT)) ? y_gp + P : `F(F_COUT);
            end

            // ---- drain and requant pipeline (frozen while the output register is full)
            if (den) begin
                t_valid <= {t_valid[RQ_LAT-1:0], drain_issue};
                for (l = RQ_LAT; l > 0; l = l - 1) begin
                    t_addr[l] <= t_addr[l-1];
                    t_slot[l] <= t_slot[l-1];
                end
                if (drain_issue) begin
                    rq_raddr <= rq_raddr + 1;
                    r1_acc <= shadow[d_l];
                    t_addr[0] <= d_obase + (d_c >> 3);
                    t_slot[0] <= d_c[2:0];
                    d_c <= d_c + 1; d_l <= d_l + 1;
                    if (d_c + 1 >= d_cend) begin d_busy <= 1'b0; grp_pending <= 1'b0; end
                end
                if (t_valid[RQ_LAT] && !is_out) begin  // the output layer's values go to the FIFO (o_push)
                    act_wbuf <= !src;
                    act_waddr <= t_addr[RQ_LAT];
                    act_wmask <= 8'd1 << t_slot[RQ_LAT];
                    act_wdata <= {8{rq_out[7:0]}};
                    trace_valid <= 1'b1; trace_layer <= layer; trace_addr <= t_addr[RQ_LAT];
                    trace_mask <= 8'd1 << t_slot[RQ_LAT]; trace_data <= {8{rq_out[7:0]}};
                end
            end
        end
    end
    `undef F
endmodule
