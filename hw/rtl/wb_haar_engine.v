// The reconstruction engine: on `start` it rebuilds every weighted layer's integer weights at
// width `bits` from the stored wavelet components, 2P weights per cycle (P/2 butterflies, each
// forming its whole 2x2 block), and writes them into the idle half of the weight buffer through
// two write ports. Inference reads the other half meanwhile. A column is written where the core
// reads it: its unit (kernel tap and channel word) and slot (channel in the word), every plane.
//
// Components are records {HH, HL, LH, LL} of one row pair and one column pair, stored per layer in
// column-pair-major order in Q = P/2 interleaved banks, so any Q consecutive row pairs are read in
// one cycle. An element map gives, per column pair of a layer, where each of its two columns is
// written (the second may be padding: v1 = 0): its weight row (unit) and slot. When a
// layer's column count is odd, its last column pair is half padding, where LH = LL and HH = HL:
// such a pair may be stored as {HL, LL} edge records in Q edge banks instead (the map's edge bit).
//
// The layers follow each other without a gap: while one layer's column pairs issue, the descriptor
// of the next weighted layer is looked up (skipping the others) and held on the descriptor memory's
// output; its first column pair issues in the cycle after the last one of the layer before. The
// per-width record is read as the layer starts and taken by its first item on the way to the banks.
module wb_haar_engine #(
    parameter P = 8,
    parameter QB = 2,                 // log2(P / 2)
    parameter NL = 8,
    parameter NT = 3,
    parameter COMP_W = 10,
    parameter R_W = 32,
    parameter LW_W = 120,
    parameter LW_DEPTH = 64,
    parameter LW_AW = 6,
    parameter CDEPTH = 1024,          // records per bank
    parameter CAW = 10,
    parameter EDEPTH = 1024,
    parameter EAW = 10,
    parameter XDEPTH = 0,             // edge records per bank (0: none)
    parameter XAW = 1,
    parameter WAW = 12,
    parameter DESC_FILE = "",
    parameter LW_FILE = "",
    parameter ELEM_FILE = "",
    parameter COMP_PREFIX = "",
    parameter EDGE_PREFIX = ""
) (
    input  wire             clk,
    input  wire             rst,
    input  wire             start,
    input  wire [3:0]       bits,
    input  wire [3:0]       widx,
    output reg              busy,
    output reg              done,       // one-cycle pulse when every weight is written
    output reg              we,         // port 1: the pair's first column
    output reg  [WAW-1:0]   waddr,
    output reg  [2:0]       wslot,      // the column's slot
    output reg  [8*P-1:0]   wdata,      // bit plane j at wdata[j*P +: P]
    output reg              we2,        // port 2: its second column, unless padding
    output reg  [WAW-1:0]   waddr2,
    output reg  [2:0]       wslot2,
    output reg  [8*P-1:0]   wdata2
);
`include "wb_fields.vh"
    localparam Q = P / 2;
    localparam DESC_W = NFIELDS * FIELD_W;

    // the descriptor of the next weighted layer (looked up ahead) and the per-width record of the
    // layer whose first item is on its way to the banks
    reg  [7:0] layer;
    wire [DESC_W-1:0] desc;
    wire [LW_W-1:0] lw;
    reg  [LW_AW-1:0] lw_raddr;
    wb_ram #(.W(DESC_W), .DEPTH(NL), .AW(8), .INIT(DESC_FILE)) u_desc (
        .clk(clk), .we(1'b0), .waddr(8'd0), .wdata({DESC_W{1'b0}}), .re(1'b1), .raddr(layer), .rdata(desc));
    wb_ram #(.W(LW_W), .DEPTH(LW_DEPTH), .AW(LW_AW), .INIT(LW_FILE)) u_lw (
        .clk(clk), .we(1'b0), .waddr({LW_AW{1'b0}}), .wdata({LW_W{1'b0}}), .re(1'b1), .raddr(lw_raddr), .rdata(lw));
    `define D(f) desc[(f)*FIELD_W +: FIELD_W]

    reg [23:0] groups, ebase, rows2, cols2, units;

    // E_WAIT: the next layer's descriptor is not found yet; E_TAIL: every item issued
    localparam E_IDLE = 2'd0, E_WAIT = 2'd1, E_RUN = 2'd2, E_TAIL = 2'd3;
    reg [1:0] state;
    // the look-up of `layer`'s descriptor: D_READ (read in flight), D_CHECK (is it weighted?), D_FOUND
    // (held until the engine loads it), D_END (no weighted layer left)
    localparam D_READ = 2'd0, D_CHECK = 2'd1, D_FOUND = 2'd2, D_END = 2'd3;
    reg [1:0] dstate;
    reg [3:0] run_widx;
    // loop over groups g of P rows (gq = g * Q row pairs) and column pairs jc; the record address
    // cgj = CBASE + jc * rows2 + gq (cgq at jc = 0), the edge record address xq = XBASE + gq, and the
    // group's first unit gu
    reg [23:0] g, jc, gq, cgq, cgj, xq, gu;
    reg        jL, gL;                 // jc and g at their last values (registered loop ends)
    reg        first;                  // the item issuing now is its layer's first
    // the found layer's loops are loaded: at a start from idle (the look-up rests on the first
    // weighted layer), while waiting, or in place of the next item after the last one of a layer
    wire       layer_end = state == E_RUN && jL && gL;
    wire       load = !rst && dstate == D_FOUND && (start ? state == E_IDLE : state == E_WAIT || layer_end);

    // p0: element map address; p1: its data; b: record address; c_pipe: component reads; p2: the
    // registered components into the butterfly lanes (memory outputs registered before logic: ECP5)
    wire [EAW-1:0] elem_raddr = ebase + jc;
    wire [ELEM_W-1:0] elem;   // fields ELEM_* of wb_fields.vh
    wb_ram #(.W(ELEM_W), .DEPTH(EDEPTH), .AW(EAW), .OREG(1), .INIT(ELEM_FILE)) u_elem (
        .clk(clk), .we(1'b0), .waddr({EAW{1'b0}}), .wdata({ELEM_W{1'b0}}), .re(1'b1), .raddr(elem_raddr), .rdata(elem));
    wire [ELEM_UNIT0_W-1:0] unit0 = elem[ELEM_UNIT0 +: ELEM_UNIT0_W];
    wire [ELEM_SLOT0_W-1:0] slot0 = elem[ELEM_SLOT0 +: ELEM_SLOT0_W];
    wire [ELEM_V1_W-1:0]    v1 = elem[ELEM_V1 +: ELEM_V1_W];
    wire [ELEM_UNIT1_W-1:0] unit1 = elem[ELEM_UNIT1 +: ELEM_UNIT1_W];
    wire [ELEM_SLOT1_W-1:0] slot1 = elem[ELEM_SLOT1 +: ELEM_SLOT1_W];
    wire [ELEM_EDGE_PAIR_W-1:0] edge_pair = elem[ELEM_EDGE_PAIR +: ELEM_EDGE_PAIR_W];

    localparam LANE_LAT = 7;           // wb_haar_lane
    localparam COMP_OREG = 2;          // component banks (spread over the die): read latency COMP_OREG + 1, then comp_r
    localparam CREAD_LAT = COMP_OREG + 2;
    reg        p0_valid, p1_valid, b_valid;
    reg        p0_first, p1_first;
    reg [23:0] p0_cg, p0_xb, p0_gu, p0_nrows;
    reg [23:0] p1_cg, p1_xb, p1_gu, p1_nrows;
    // stage b: the record address, and what the lanes and the writes need, carried beside the
    // component reads for CREAD_LAT stages (c_pipe); p2: the last of them, into the lanes
    reg [QB-1:0] b_rot;                // the first record's bank
    reg [23:0] b_ra [0:Q-1];           // bank m's record address (the first record / Q, + 1 below b_rot)
    reg        b_edge, b_v1;
    reg [WAW-1:0] b_waddr, b_waddr2;
    reg [2:0]  b_slot, b_slot2;
    reg [Q-1:0] b_lanes;
    reg [4*NT*TERM_W-1:0] b_terms;
    reg [5:0]  b_wshift;
    localparam WITEM_W = 1 + 2 * (WAW + 3);                   // {v1, waddr2, slot2, waddr, slot}
    localparam CITEM_W = QB + Q + 1 + WITEM_W + 4*NT*TERM_W + 6;
    reg [CREAD_LAT:1] c_valids;
    reg [CITEM_W-1:0] c_pipe [1:CREAD_LAT];
    wire       p2_valid = c_valids[CREAD_LAT];
    wire [WITEM_W-1:0] p2_writes;
    wire [4*NT*TERM_W-1:0] p2_terms;
    wire [5:0] p2_wshift;
    assign {p2_writes, p2_terms, p2_wshift} = c_pipe[CREAD_LAT][CITEM_W-QB-Q-2:0];
    // the item whose component reads arrive now: its records are rotated onto the lanes and
    // registered (g_lane comp_r), lanes past the layer's last row pair get zeros
    wire [QB-1:0] c_rot;
    wire [Q-1:0] c_lanes;
    wire       c_edge;
    assign {c_rot, c_lanes, c_edge} = c_pipe[CREAD_LAT-1][CITEM_W-1 -: QB+Q+1];
    reg [LANE_LAT:1] q_valid;          // items inside the lanes
    reg [WITEM_W-1:0] q_writes [1:LANE_LAT];
    reg [3:0]  run_bits;
    wire       one_bit = run_bits == 4'd1;

    // component banks, and the edge banks ({HL, LL} records of half-padded column pairs)
    wire [4*COMP_W-1:0] bank_data [0:Q-1];
    wire [2*COMP_W-1:0] edge_data [0:Q-1];
    genvar m;
    generate
        for (m = 0; m < Q; m = m + 1) begin : g_bank
            localparam [7:0] DIGIT = (m < 10) ? 48 + m : 87 + m;  // bank number as one hex digit
            wire [23:0] ra = b_ra[m];
            wb_ram #(.W(4*COMP_W), .DEPTH(CDEPTH), .AW(CAW), .OREG(COMP_OREG),
                     .INIT(COMP_PREFIX == "" ? "" : {COMP_PREFIX, "_", DIGIT, ".hex"})) u_comp (
                .clk(clk), .we(1'b0), .waddr({CAW{1'b0}}), .wdata({(4*COMP_W){1'b0}}), .re(1'b1), .raddr(ra[CAW-1:0]),
                .rdata(bank_data[m]));
            if (XDEPTH > 0) begin : g_edge
                wb_ram #(.W(2*COMP_W), .DEPTH(XDEPTH), .AW(XAW), .OREG(COMP_OREG),
                         .INIT(EDGE_PREFIX == "" ? "" : {EDGE_PREFIX, "_", DIGIT, ".hex"})) u_edge (
                    .clk(clk), .we(1'b0), .waddr({XAW{1'b0}}), .wdata({(2*COMP_W){1'b0}}), .re(1'b1),
                    .raddr(ra[XAW-1:0]), .rdata(edge_data[m]));
            end else begin : g_no_edge
                assign edge_data[m] = {(2*COMP_W){1'b0}};
            end
        end
    endgenerate

    wire [31:0] w_blk [0:Q-1];         // per lane: byte 2c + r is row 2k + r of the pair's column c
    genvar k;
    generate
        for (k = 0; k < Q; k = k + 1) begin : g_lane
            wire [QB-1:0] src = c_rot + k;
            wire [2*COMP_W-1:0] x = edge_data[src];
            reg  [4*COMP_W-1:0] comp_r;
            always @(posedge clk)
                comp_r <= !c_lanes[k] ? {(4*COMP_W){1'b0}}
                           : c_edge ? {x[COMP_W +: COMP_W], x, x[0 +: COMP_W]} : bank_data[src];
            wb_haar_lane #(.COMP_W(COMP_W), .NT(NT), .R_W(R_W), .TERM_W(TERM_W)) u_lane (
                .clk(clk), .comps(comp_r), .terms(p2_terms), .wshift(p2_wshift), .bits(run_bits), .w(w_blk[k]));
        end
    endgenerate

    // the look-up moves on to the layer after `layer`
    task next_desc;
        if (layer + 1 < NL) begin layer <= layer + 1; dstate <= D_READ; end
        else dstate <= D_END;
    endtask
    // the write ports' data: column c of every lane's block, bit plane j of row r at bit j * P + r
    // (P weights), and at one bit the signs (1 = +1) in every plane
    wire [16*P-1:0] col_w, col_sign;
    genvar c, j;
    generate
        for (c = 0; c < 2; c = c + 1) begin : g_col
            for (k = 0; k < Q; k = k + 1) begin : g_row
                for (j = 0; j < 8; j = j + 1) begin : g_plane
                    assign col_w[8*P*c + j*P + 2*k] = w_blk[k][16*c + j];
                    assign col_w[8*P*c + j*P + 2*k + 1] = w_blk[k][16*c + 8 + j];
                    assign col_sign[8*P*c + j*P + 2*k] = ~w_blk[k][16*c + 7];
                    assign col_sign[8*P*c + j*P + 2*k + 1] = ~w_blk[k][16*c + 15];
                end
            end
        end
    endgenerate
    integer l;
    // control: the state, the valid bits and the write enables, reset by rst and restarted by start
    always @(posedge clk) begin
        done <= 1'b0;
        if (rst || start) begin
            state <= !start ? E_IDLE : load ? E_RUN : E_WAIT;
            busy <= start;
            if (load) next_desc;
            else begin layer <= 8'd0; dstate <= D_READ; end
            p0_valid <= 1'b0; p1_valid <= 1'b0; b_valid <= 1'b0; c_valids <= 0; q_valid <= 0;
            we <= 1'b0; we2 <= 1'b0;
            run_bits <= bits;
            run_widx <= widx;
        end else begin
            p1_valid <= p0_valid;
            b_valid <= p1_valid;
            c_valids <= {c_valids[CREAD_LAT-1:1], b_valid};
            q_valid <= {q_valid[LANE_LAT-1:1], p2_valid};
            we <= q_valid[LANE_LAT];
            we2 <= q_valid[LANE_LAT] && q_writes[LANE_LAT][WITEM_W-1];
            p0_valid <= state == E_RUN;
            case (dstate)
                D_READ: dstate <= D_CHECK;
                D_CHECK: if (`D(F_OP) == 0) dstate <= D_FOUND; else next_desc;
                D_FOUND: if (load) next_desc;
                default: ;
            endcase
            case (state)
                E_WAIT, E_RUN: if (load) state <= E_RUN;
                               else if (state == E_WAIT || layer_end) state <= dstate == D_END ? E_TAIL : E_WAIT;
                // the last write is on the ports now (we): done follows it
                E_TAIL: if (!p0_valid && !p1_valid && !b_valid && c_valids == 0 && q_valid == 0) begin
                    busy <= 1'b0; done <= 1'b1; state <= E_IDLE;
                    layer <= 8'd0; dstate <= D_READ;      // the look-up rests on the first weighted layer
                end
                default: ;
            endcase
        end
    end

    wire [23:0] rb = edge_pair ? p1_xb : p1_cg;   // the item's first record
    // data: the loops and the pipeline's payload, which only the valid bits above qualify (no reset:
    // a load sets the loops up for every layer)
    always @(posedge clk) begin
        // p0 -> p1: the element map's output register
        {p1_first, p1_cg, p1_xb, p1_gu, p1_nrows} <= {p0_first, p0_cg, p0_xb, p0_gu, p0_nrows};
        // p1 -> b: element map data in, record address and write addresses out
        b_rot <= rb[QB-1:0];
        for (l = 0; l < Q; l = l + 1)    // registered here, not added in front of the banks' address pins
            b_ra[l] <= rb[23:QB] + ((l < rb[QB-1:0]) ? 1'b1 : 1'b0);
        b_edge <= edge_pair;
        for (l = 0; l < Q; l = l + 1)
            b_lanes[l] <= (l < p1_nrows);
        b_v1 <= v1;
        b_waddr <= p1_gu + unit0;
        b_waddr2 <= p1_gu + unit1;
        b_slot <= slot0;
        b_slot2 <= slot1;
        if (p1_first) begin           // the layer's record, read as it started, is on lw by now
            b_terms <= lw[LW_TERMS +: 4*NT*TERM_W];
            b_wshift <= lw[LW_WSHIFT +: 6];
        end
        // b -> p2: the component banks' reads, then comp_r (g_lane)
        c_pipe[1] <= {b_rot, b_lanes, b_edge, b_v1, b_waddr2, b_slot2, b_waddr, b_slot, b_terms, b_wshift};
        for (l = 2; l <= CREAD_LAT; l = l + 1) c_pipe[l] <= c_pipe[l-1];
        // p2: components into the lanes; their outputs follow LANE_LAT cycles later
        q_writes[1] <= p2_writes;
        for (l = 2; l <= LANE_LAT; l = l + 1) q_writes[l] <= q_writes[l-1];
        // write the pair's two columns, P weights each
        {waddr2, wslot2, waddr, wslot} <= q_writes[LANE_LAT][WITEM_W-2:0];
        wdata <= one_bit ? col_sign[0 +: 8*P] : col_w[0 +: 8*P];
        wdata2 <= one_bit ? col_sign[8*P +: 8*P] : col_w[8*P +: 8*P];
        // p0: the item issuing now
        p0_first <= first && state == E_RUN;
        p0_cg <= cgj;
        p0_xb <= xq;
        p0_gu <= gu;
        p0_nrows <= rows2 - gq;
        first <= load || (first && state != E_RUN);
        if (load) begin
            lw_raddr <= `D(F_LWBASE) + (start ? widx : run_widx);
            groups <= `D(F_GROUPS); ebase <= `D(F_EBASE);
            rows2 <= `D(F_ROWS2); cols2 <= `D(F_COLS2); units <= `D(F_FANIN);
            g <= 0; jc <= 0; gq <= 0; cgq <= `D(F_CBASE); cgj <= `D(F_CBASE); xq <= `D(F_XBASE);
            gu <= `D(F_WBASE);
            jL <= `D(F_COLS2) == 1; gL <= `D(F_GROUPS) == 1;
        end else if (state == E_RUN) begin
            if (!jL) begin jc <= jc + 1; jL <= (jc + 2 == cols2); cgj <= cgj + rows2; end
            else begin
                jc <= 0; jL <= (cols2 == 1);
                g <= g + 1; gL <= (g + 2 == groups); gq <= gq + Q;
                cgq <= cgq + Q; cgj <= cgq + Q; xq <= xq + Q; gu <= gu + units;
            end
        end
    end
    `undef D
endmodule
