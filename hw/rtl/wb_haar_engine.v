// The reconstruction engine: on `start` it rebuilds every weighted layer's integer weights at
// width `bits` from the stored wavelet components, up to 4P weights per cycle: two butterfly arrays
// of P/2 butterflies each, every butterfly forming a whole 2x2 block of one column pair, write up to
// four columns per cycle into the idle half of the weight buffer. Inference reads the other half
// meanwhile. A column is written where the core reads it: its unit (kernel tap and channel word) and
// slot (channel in the word), every plane.
//
// A layer is rebuilt in steps per group of P rows; each step gives each array one column pair or
// none. The generator's schedule (codegen/rtl.py) pairs them so that the arrays' first columns lie
// in different slots, and their second columns too: a slot's first write port takes the first
// column meant for it, its second port the second (wb_weight_store). Per array, components are
// records {HH, HL, LH, LL} of one row pair and one column pair, stored per layer step-major (from
// the descriptor's CBASE, CBASE1) in Q = P/2 interleaved banks, so any Q consecutive row pairs are
// read in one cycle. An element map per array gives, per step, whether the array has a pair (v0) and
// where each of its two columns is written (the second may be padding: v1 = 0): its weight row
// (unit) and slot. When a layer's column count is odd, its last column pair is half padding, where
// LH = LL and HH = HL: array 0 may take such a pair as its layer's last step from {HL, LL} edge
// records in Q edge banks (the map's edge bit).
//
// The layers follow each other without a gap: while one layer's steps issue, the descriptor of the
// next weighted layer is looked up (skipping the others) and held on the descriptor memory's output;
// its first step issues in the cycle after the last one of the layer before. The per-width record is
// read as the layer starts and taken by its first item on the way to the banks.
module wb_haar_engine #(
    parameter P = 8,
    parameter QB = 2,                 // log2(P / 2)
    parameter NL = 8,
    parameter NT = 3,
    parameter [5*NT-1:0] SHIFT_LO = 0,           // the scale terms' shift ranges (wb_haar_lane)
    parameter [3*NT-1:0] SHIFT_SB = {NT{3'd5}},
    parameter COMP_W = 10,
    parameter R_W = 32,
    parameter LW_W = 120,
    parameter LW_DEPTH = 64,
    parameter LW_AW = 6,
    parameter CDEPTH = 1024,          // array 0's records per bank
    parameter CDEPTH1 = 1024,         // array 1's
    parameter CAW = 10,               // address bits of the deeper of the two
    parameter EDEPTH = 1024,          // element-map entries (steps), per array
    parameter EAW = 10,
    parameter XDEPTH = 0,             // edge records per bank (0: none)
    parameter XAW = 1,
    parameter WAW = 12,
    parameter DESC_FILE = "",
    parameter LW_FILE = "",
    parameter ELEM_PREFIX = "",       // array a's element map: ELEM_PREFIX<a>.hex
    parameter COMP_PREFIX = "",       // array a's bank m: COMP_PREFIX<a>_<m>.hex
    parameter EDGE_PREFIX = ""
) (
    input  wire               clk,
    input  wire               rst,
    input  wire               start,
    input  wire [3:0]         bits,
    input  wire [3:0]         widx,
    output reg                busy,
    output reg                done,     // one-cycle pulse when every weight is written
    // array a's pair: its first column at we[a], waddr[a*WAW +: WAW], wslot[3*a +: 3] (the column's
    // slot), wdata[8*P*a +: 8*P] (bit plane j at j*P +: P); its second column, unless padding, at
    // we2, waddr2, wslot2, wdata2
    output wire [1:0]         we,
    output wire [2*WAW-1:0]   waddr,
    output wire [5:0]         wslot,
    output wire [16*P-1:0]    wdata,
    output wire [1:0]         we2,
    output wire [2*WAW-1:0]   waddr2,
    output wire [5:0]         wslot2,
    output wire [16*P-1:0]    wdata2
);
`include "wb_fields.vh"
    localparam Q = P / 2;
    localparam NA = 2;                 // butterfly arrays
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

    reg [23:0] groups, ebase, rows2, steps, units;

    // E_WAIT: the next layer's descriptor is not found yet; E_TAIL: every item issued
    localparam E_IDLE = 2'd0, E_WAIT = 2'd1, E_RUN = 2'd2, E_TAIL = 2'd3;
    reg [1:0] state;
    // the look-up of `layer`'s descriptor: D_READ (read in flight), D_CHECK (is it weighted?), D_FOUND
    // (held until the engine loads it), D_END (no weighted layer left)
    localparam D_READ = 2'd0, D_CHECK = 2'd1, D_FOUND = 2'd2, D_END = 2'd3;
    reg [1:0] dstate;
    reg [3:0] run_widx;
    // loop over groups g of P rows (gq = g * Q row pairs) and steps jc; per array the record address
    // cgj = CBASE + jc * rows2 + gq (cgq at jc = 0); the edge record address xq = XBASE + gq, and the
    // group's first unit gu
    reg [23:0] g, jc, gq, xq, gu;
    reg [23:0] cgq [0:NA-1];
    reg [23:0] cgj [0:NA-1];
    reg        jL, gL;                 // jc and g at their last values (registered loop ends)
    reg        first;                  // the item issuing now is its layer's first
    // the found layer's loops are loaded: at a start from idle (the look-up rests on the first
    // weighted layer), while waiting, or in place of the next item after the last one of a layer
    wire       layer_end = state == E_RUN && jL && gL;
    wire       load = !rst && dstate == D_FOUND && (start ? state == E_IDLE : state == E_WAIT || layer_end);

    // p0: element map address; p1: its data; b: record address; c: component reads; p2: the
    // registered components into the butterfly lanes (memory outputs registered before logic: ECP5)
    wire [EAW-1:0] elem_raddr = ebase + jc;
    localparam LANE_LAT = 7;           // wb_haar_lane
    localparam COMP_OREG = 2;          // component banks (spread over the die): read latency COMP_OREG + 1, then comp_r
    localparam CREAD_LAT = COMP_OREG + 2;
    reg        p0_valid, p1_valid, b_valid;
    reg        p0_first, p1_first;
    reg [23:0] p0_xb, p0_gu, p0_nrows;
    reg [23:0] p1_xb, p1_gu, p1_nrows;
    reg [23:0] p0_cg [0:NA-1];
    reg [23:0] p1_cg [0:NA-1];
    // stage b, what the arrays share: the lanes holding rows of the layer, its terms and shift,
    // carried beside the component reads for CREAD_LAT stages (c_pipe); p2: the last of them
    reg [Q-1:0] b_lanes;
    reg [4*NT*TERM_W-1:0] b_terms;
    reg [5:0]  b_wshift;
    localparam SITEM_W = Q + 4*NT*TERM_W + 6;
    localparam WITEM_W = 2 + 2 * (WAW + 3);                   // {v0, v1, waddr2, slot2, waddr, slot}
    reg [CREAD_LAT:1] c_valids;
    reg [SITEM_W-1:0] c_pipe [1:CREAD_LAT];
    wire       p2_valid = c_valids[CREAD_LAT];
    wire [4*NT*TERM_W-1:0] p2_terms;
    wire [5:0] p2_wshift;
    assign {p2_terms, p2_wshift} = c_pipe[CREAD_LAT][SITEM_W-Q-1:0];
    // lanes past the layer's last row pair get zeros (the item whose component reads arrive now)
    wire [Q-1:0] c_lanes = c_pipe[CREAD_LAT-1][SITEM_W-1 -: Q];
    reg [LANE_LAT:1] q_valid;          // items inside the lanes
    reg [3:0]  run_bits;
    wire       one_bit = run_bits == 4'd1;

    genvar a, m, k, c, j;
    generate
        for (a = 0; a < NA; a = a + 1) begin : g_arr
            localparam [7:0] ADIGIT = 48 + a;
            localparam ADEPTH = (a == 0) ? CDEPTH : CDEPTH1;
            integer l, s;                  // loop indices of the two processes below
            // the element map: this array's pair of the step
            wire [ELEM_W-1:0] elem;   // fields ELEM_* of wb_fields.vh
            wb_ram #(.W(ELEM_W), .DEPTH(EDEPTH), .AW(EAW), .OREG(1),
                     .INIT(ELEM_PREFIX == "" ? "" : {ELEM_PREFIX, ADIGIT, ".hex"})) u_elem (
                .clk(clk), .we(1'b0), .waddr({EAW{1'b0}}), .wdata({ELEM_W{1'b0}}), .re(1'b1), .raddr(elem_raddr),
                .rdata(elem));
            wire [23:0] wa0 = p1_gu + elem[ELEM_UNIT0 +: ELEM_UNIT0_W];
            wire [23:0] wa1 = p1_gu + elem[ELEM_UNIT1 +: ELEM_UNIT1_W];
            wire        edge_pair = a == 0 && elem[ELEM_EDGE_PAIR];
            wire [23:0] rb = edge_pair ? p1_xb : p1_cg[a];   // the item's first record
            // stage b: the record address (registered here, not added in front of the banks' address
            // pins), the first record's bank, and the writes
            reg [QB-1:0] b_rot;
            reg [23:0] b_ra [0:Q-1];
            reg        b_edge;
            reg [WITEM_W-1:0] b_writes;
            always @(posedge clk) begin
                b_rot <= rb[QB-1:0];
                for (l = 0; l < Q; l = l + 1)
                    b_ra[l] <= rb[23:QB] + ((l < rb[QB-1:0]) ? 1'b1 : 1'b0);
                b_edge <= edge_pair;
                b_writes <= {elem[ELEM_V0], elem[ELEM_V1], wa1[WAW-1:0], elem[ELEM_SLOT1 +: 3],
                             wa0[WAW-1:0], elem[ELEM_SLOT0 +: 3]};
            end
            localparam AITEM_W = QB + 1 + WITEM_W;
            reg [AITEM_W-1:0] a_pipe [1:CREAD_LAT];
            wire [QB-1:0] c_rot;
            wire       c_edge;
            assign {c_rot, c_edge} = a_pipe[CREAD_LAT-1][AITEM_W-1 -: QB+1];
            reg [WITEM_W-1:0] q_writes [1:LANE_LAT];

            // component banks, and the edge banks ({HL, LL} records of half-padded column pairs)
            wire [4*COMP_W-1:0] bank_data [0:Q-1];
            wire [2*COMP_W-1:0] edge_data [0:Q-1];
            for (m = 0; m < Q; m = m + 1) begin : g_bank
                localparam [7:0] DIGIT = (m < 10) ? 48 + m : 87 + m;  // bank number as one hex digit
                wire [23:0] ra = b_ra[m];
                wb_ram #(.W(4*COMP_W), .DEPTH(ADEPTH), .AW(CAW), .OREG(COMP_OREG),
                         .INIT(COMP_PREFIX == "" ? "" : {COMP_PREFIX, ADIGIT, "_", DIGIT, ".hex"})) u_comp (
                    .clk(clk), .we(1'b0), .waddr({CAW{1'b0}}), .wdata({(4*COMP_W){1'b0}}), .re(1'b1),
                    .raddr(ra[CAW-1:0]), .rdata(bank_data[m]));
                if (XDEPTH > 0 && a == 0) begin : g_edge
                    wb_ram #(.W(2*COMP_W), .DEPTH(XDEPTH), .AW(XAW), .OREG(COMP_OREG),
                             .INIT(EDGE_PREFIX == "" ? "" : {EDGE_PREFIX, "_", DIGIT, ".hex"})) u_edge (
                        .clk(clk), .we(1'b0), .waddr({XAW{1'b0}}), .wdata({(2*COMP_W){1'b0}}), .re(1'b1),
                        .raddr(ra[XAW-1:0]), .rdata(edge_data[m]));
                end else begin : g_no_edge
                    assign edge_data[m] = {(2*COMP_W){1'b0}};
                end
            end

            // the butterflies: records rotated onto the lanes and registered (comp_r)
            wire [31:0] w_blk [0:Q-1];     // per lane: byte 2c + r is row 2k + r of the pair's column c
            for (k = 0; k < Q; k = k + 1) begin : g_lane
                wire [QB-1:0] src = c_rot + k;
                wire [2*COMP_W-1:0] x = edge_data[src];
                reg  [4*COMP_W-1:0] comp_r;
                always @(posedge clk)
                    comp_r <= !c_lanes[k] ? {(4*COMP_W){1'b0}}
                               : c_edge ? {x[COMP_W +: COMP_W], x, x[0 +: COMP_W]} : bank_data[src];
                wb_haar_lane #(.COMP_W(COMP_W), .NT(NT), .R_W(R_W), .TERM_W(TERM_W), .SHIFT_LO(SHIFT_LO),
                               .SHIFT_SB(SHIFT_SB)) u_lane (
                    .clk(clk), .comps(comp_r), .terms(p2_terms), .wshift(p2_wshift), .bits(run_bits), .w(w_blk[k]));
            end

            // the write ports' data: column c of every lane's block, bit plane j of row r at bit j * P + r
            // (P weights), and at one bit the signs (1 = +1) in every plane
            wire [16*P-1:0] col_w, col_sign;
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

            reg              wr_we, wr_we2;
            reg [WAW-1:0]    wr_addr, wr_addr2;
            reg [2:0]        wr_slot, wr_slot2;
            reg [8*P-1:0]    wr_data, wr_data2;
            always @(posedge clk) begin
                if (rst || start) begin
                    wr_we <= 1'b0; wr_we2 <= 1'b0;
                end else begin
                    wr_we <= q_valid[LANE_LAT] && q_writes[LANE_LAT][WITEM_W-1];
                    wr_we2 <= q_valid[LANE_LAT] && q_writes[LANE_LAT][WITEM_W-2];
                end
                // b -> p2: the component banks' reads, then comp_r (g_lane)
                a_pipe[1] <= {b_rot, b_edge, b_writes};
                for (s = 2; s <= CREAD_LAT; s = s + 1) a_pipe[s] <= a_pipe[s-1];
                // p2: components into the lanes; their outputs follow LANE_LAT cycles later
                q_writes[1] <= a_pipe[CREAD_LAT][WITEM_W-1:0];
                for (s = 2; s <= LANE_LAT; s = s + 1) q_writes[s] <= q_writes[s-1];
                // write the pair's two columns, P weights each
                {wr_addr2, wr_slot2, wr_addr, wr_slot} <= q_writes[LANE_LAT][WITEM_W-3:0];
                wr_data <= one_bit ? col_sign[0 +: 8*P] : col_w[0 +: 8*P];
                wr_data2 <= one_bit ? col_sign[8*P +: 8*P] : col_w[8*P +: 8*P];
            end
            assign we[a] = wr_we;
            assign we2[a] = wr_we2;
            assign waddr[a*WAW +: WAW] = wr_addr;
            assign waddr2[a*WAW +: WAW] = wr_addr2;
            assign wslot[3*a +: 3] = wr_slot;
            assign wslot2[3*a +: 3] = wr_slot2;
            assign wdata[8*P*a +: 8*P] = wr_data;
            assign wdata2[8*P*a +: 8*P] = wr_data2;
        end
    endgenerate

    // the look-up moves on to the layer after `layer`
    task next_desc;
        if (layer + 1 < NL) begin layer <= layer + 1; dstate <= D_READ; end
        else dstate <= D_END;
    endtask
    integer l, n;
    // control: the state and the valid bits, reset by rst and restarted by start
    always @(posedge clk) begin
        done <= 1'b0;
        if (rst || start) begin
            state <= !start ? E_IDLE : load ? E_RUN : E_WAIT;
            busy <= start;
            if (load) next_desc;
            else begin layer <= 8'd0; dstate <= D_READ; end
            p0_valid <= 1'b0; p1_valid <= 1'b0; b_valid <= 1'b0; c_valids <= 0; q_valid <= 0;
            run_bits <= bits;
            run_widx <= widx;
        end else begin
            p1_valid <= p0_valid;
            b_valid <= p1_valid;
            c_valids <= {c_valids[CREAD_LAT-1:1], b_valid};
            q_valid <= {q_valid[LANE_LAT-1:1], p2_valid};
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
                // the last writes are on the ports now: done follows them
                E_TAIL: if (!p0_valid && !p1_valid && !b_valid && c_valids == 0 && q_valid == 0) begin
                    busy <= 1'b0; done <= 1'b1; state <= E_IDLE;
                    layer <= 8'd0; dstate <= D_READ;      // the look-up rests on the first weighted layer
                end
                default: ;
            endcase
        end
    end

    // data: the loops and the pipeline's payload, which only the valid bits above qualify (no reset:
    // a load sets the loops up for every layer)
    always @(posedge clk) begin
        // p0 -> p1: the element map's output register
        {p1_first, p1_xb, p1_gu, p1_nrows} <= {p0_first, p0_xb, p0_gu, p0_nrows};
        for (n = 0; n < NA; n = n + 1) p1_cg[n] <= p0_cg[n];
        // p1 -> b: the lanes holding rows, and the layer's record
        for (l = 0; l < Q; l = l + 1)
            b_lanes[l] <= (l < p1_nrows);
        if (p1_first) begin           // the layer's record, read as it started, is on lw by now
            b_terms <= lw[LW_TERMS +: 4*NT*TERM_W];
            b_wshift <= lw[LW_WSHIFT +: 6];
        end
        c_pipe[1] <= {b_lanes, b_terms, b_wshift};
        for (l = 2; l <= CREAD_LAT; l = l + 1) c_pipe[l] <= c_pipe[l-1];
        // p0: the item issuing now
        p0_first <= first && state == E_RUN;
        for (n = 0; n < NA; n = n + 1) p0_cg[n] <= cgj[n];
        p0_xb <= xq;
        p0_gu <= gu;
        p0_nrows <= rows2 - gq;
        first <= load || (first && state != E_RUN);
        if (load) begin
            lw_raddr <= `D(F_LWBASE) + (start ? widx : run_widx);
            groups <= `D(F_GROUPS); ebase <= `D(F_EBASE);
            rows2 <= `D(F_ROWS2); steps <= `D(F_STEPS); units <= `D(F_FANIN);
            g <= 0; jc <= 0; gq <= 0; xq <= `D(F_XBASE);
            cgq[0] <= `D(F_CBASE); cgj[0] <= `D(F_CBASE);
            cgq[1] <= `D(F_CBASE1); cgj[1] <= `D(F_CBASE1);
            gu <= `D(F_WBASE);
            jL <= `D(F_STEPS) == 1; gL <= `D(F_GROUPS) == 1;
        end else if (state == E_RUN) begin
            if (!jL) begin
                jc <= jc + 1; jL <= (jc + 2 == steps);
                for (n = 0; n < NA; n = n + 1) cgj[n] <= cgj[n] + rows2;
            end else begin
                jc <= 0; jL <= (steps == 1);
                g <= g + 1; gL <= (g + 2 == groups); gq <= gq + Q;
                for (n = 0; n < NA; n = n + 1) begin
                    cgq[n] <= cgq[n] + Q; cgj[n] <= cgq[n] + Q;
                end
                xq <= xq + Q; gu <= gu + units;
            end
        end
    end
    `undef D
endmodule
