// The reconstruction engine: on `start` it rebuilds every weighted layer's integer weights at
// width `bits` from the stored wavelet components, P weights per cycle (P/2 butterflies), and
// writes them into the idle half of the weight buffer. Inference reads the other half meanwhile.
//
// Components are records {HH, HL, LH, LL} of one row pair and one column pair, stored per layer in
// column-pair-major order in Q = P/2 interleaved banks, so any Q consecutive row pairs are read in
// one cycle. An element map gives, per fan-in element of a layer, its column pair (times the row
// pairs: the record offset), its column parity and its 1-bit position (unit, slot).
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
    parameter WAW = 12,
    parameter DESC_FILE = "",
    parameter LW_FILE = "",
    parameter ELEM_FILE = "",
    parameter COMP_PREFIX = ""
) (
    input  wire             clk,
    input  wire             rst,
    input  wire             start,
    input  wire [3:0]       bits,
    input  wire [3:0]       widx,
    output reg              busy,
    output reg              done,       // one-cycle pulse when every weight is written
    output reg              we,
    output reg  [WAW-1:0]   waddr,
    output reg  [7:0]       wmask,      // sub-memories written (bit planes, or the 1-bit slot)
    output reg  [8*P-1:0]   wdata       // sub-memory j takes wdata[j*P +: P]
);
`include "wb_fields.vh"
    localparam Q = P / 2;
    localparam DESC_W = NFIELDS * FIELD_W;

    // descriptor and per-width record of the layer being rebuilt
    reg  [7:0] layer;
    wire [DESC_W-1:0] desc;
    wire [LW_W-1:0] lw;
    reg  [LW_AW-1:0] lw_raddr;
    wb_ram #(.W(DESC_W), .DEPTH(NL), .AW(8), .INIT(DESC_FILE)) u_desc (
        .clk(clk), .we(1'b0), .waddr(8'd0), .wdata({DESC_W{1'b0}}), .re(1'b1), .raddr(layer), .rdata(desc));
    wb_ram #(.W(LW_W), .DEPTH(LW_DEPTH), .AW(LW_AW), .INIT(LW_FILE)) u_lw (
        .clk(clk), .we(1'b0), .waddr({LW_AW{1'b0}}), .wdata({LW_W{1'b0}}), .re(1'b1), .raddr(lw_raddr), .rdata(lw));
    `define D(f) desc[(f)*FIELD_W +: FIELD_W]

    reg [23:0] groups, fanin, ebase, rows2, wbase1, units1;
    reg [23:0] cbase;
    reg [4*NT*TERM_W-1:0] terms;
    reg [5:0] wshift;

    localparam E_IDLE = 3'd0, E_DESC = 3'd1, E_LW = 3'd2, E_LW2 = 3'd3, E_RUN = 3'd4, E_TAIL = 3'd5;
    reg [2:0] state;
    reg [23:0] g, e, gq, gu, wp;
    reg        eL, gL;                 // e and g at their last values (registered loop ends)

    // p0: element map address; p1: its data; b: record address; c_pipe: component reads; p2: the
    // registered components into the butterfly lanes (memory outputs registered before logic: ECP5)
    wire [EAW-1:0] elem_raddr = ebase + e;
    wire [52+24-1:0] elem;            // {slot1[2:0], unit1[23:0], par, jrow[23:0]} (padded)
    wb_ram #(.W(76), .DEPTH(EDEPTH), .AW(EAW), .OREG(1), .INIT(ELEM_FILE)) u_elem (
        .clk(clk), .we(1'b0), .waddr({EAW{1'b0}}), .wdata(76'd0), .re(1'b1), .raddr(elem_raddr), .rdata(elem));

    localparam LANE_LAT = 7;           // wb_haar_lane
    localparam COMP_OREG = 1;          // component banks: read latency COMP_OREG + 1, then comp_r
    localparam CREAD_LAT = COMP_OREG + 2;
    reg        p0_valid, p1_valid, b_valid;
    reg [23:0] p0_cg, p0_wp, p0_base1, p0_nrows;
    reg [23:0] p1_cg, p1_wp, p1_base1, p1_nrows;
    // stage b: the record address, and what the lanes and the write need, carried beside the
    // component reads for CREAD_LAT stages (c_pipe); p2: the last of them, into the lanes
    reg [23:0] b_rb;
    reg        b_par;
    reg [WAW-1:0] b_waddr;
    reg [7:0]  b_mask;
    reg [Q-1:0] b_lanes;
    reg [4*NT*TERM_W-1:0] b_terms;
    reg [5:0]  b_wshift;
    localparam CITEM_W = QB + Q + 1 + WAW + 8 + 4*NT*TERM_W + 6;
    reg [CREAD_LAT:1] c_valids;
    reg [CITEM_W-1:0] c_pipe [1:CREAD_LAT];
    wire       p2_valid = c_valids[CREAD_LAT];
    wire [QB-1:0] p2_rot;
    wire [Q-1:0] p2_lanes;
    wire       p2_par;
    wire [WAW-1:0] p2_waddr;
    wire [7:0] p2_mask;
    wire [4*NT*TERM_W-1:0] p2_terms;
    wire [5:0] p2_wshift;
    assign {p2_rot, p2_lanes, p2_par, p2_waddr, p2_mask, p2_terms, p2_wshift} = c_pipe[CREAD_LAT];
    reg [4*COMP_W-1:0] comp_r [0:Q-1];
    reg [LANE_LAT:1] q_valid;          // items inside the lanes
    reg [WAW-1:0] q_waddr [1:LANE_LAT];
    reg [7:0]     q_mask [1:LANE_LAT];
    reg [3:0]  run_bits;
    wire       one_bit = run_bits == 4'd1;

    wire [23:0] jrow = elem[23:0];
    wire        epar = elem[24];
    wire [23:0] unit1 = elem[48:25];
    wire [2:0]  slot1 = elem[51:49];

    // component banks
    wire [4*COMP_W-1:0] bank_data [0:Q-1];
    genvar m;
    generate
        for (m = 0; m < Q; m = m + 1) begin : g_bank
            localparam [7:0] DIGIT = (m < 10) ? 48 + m : 87 + m;  // bank number as one hex digit
            wire [CAW-1:0] ra = b_rb[CAW+QB-1:QB] + ((m < b_rb[QB-1:0]) ? 1'b1 : 1'b0);
            wb_ram #(.W(4*COMP_W), .DEPTH(CDEPTH), .AW(CAW), .OREG(COMP_OREG),
                     .INIT(COMP_PREFIX == "" ? "" : {COMP_PREFIX, "_", DIGIT, ".hex"})) u_comp (
                .clk(clk), .we(1'b0), .waddr({CAW{1'b0}}), .wdata({(4*COMP_W){1'b0}}), .re(1'b1), .raddr(ra),
                .rdata(bank_data[m]));
        end
    endgenerate

    wire signed [7:0] w_top [0:Q-1];
    wire signed [7:0] w_bot [0:Q-1];
    genvar k;
    generate
        for (k = 0; k < Q; k = k + 1) begin : g_lane
            wire [QB-1:0] src = p2_rot + k;
            wire [4*COMP_W-1:0] comps = p2_lanes[k] ? comp_r[src] : {(4*COMP_W){1'b0}};
            wb_haar_lane #(.COMP_W(COMP_W), .NT(NT), .R_W(R_W), .TERM_W(TERM_W)) u_lane (
                .clk(clk), .comps(comps), .terms(p2_terms), .par(p2_par), .wshift(p2_wshift), .bits(run_bits),
                .w_top(w_top[k]), .w_bot(w_bot[k]));
        end
    endgenerate

    // the next layer's descriptor, or the tail once the last layer is issued
    task next_layer;
        if (layer + 1 < NL) begin layer <= layer + 1; state <= E_DESC; end
        else state <= E_TAIL;
    endtask
    integer l, j;
    always @(posedge clk) begin
        done <= 1'b0;
        if (rst || start) begin
            state <= start ? E_DESC : E_IDLE;
            busy <= start;
            layer <= 8'd0;
            p0_valid <= 1'b0; p1_valid <= 1'b0; b_valid <= 1'b0; c_valids <= 0; q_valid <= 0; we <= 1'b0;
            run_bits <= bits;
        end else begin
            // p0 -> p1: the element map's output register
            {p1_valid, p1_cg, p1_wp, p1_base1, p1_nrows} <= {p0_valid, p0_cg, p0_wp, p0_base1, p0_nrows};
            // p1 -> b: element map data in, record address out
            b_valid <= p1_valid;
            b_rb <= p1_cg + jrow;
            for (l = 0; l < Q; l = l + 1)
                b_lanes[l] <= (l < p1_nrows);
            b_par <= epar;
            b_waddr <= one_bit ? (p1_base1 + unit1) : p1_wp;
            b_mask <= one_bit ? (8'd1 << slot1) : 8'hFF;
            b_terms <= terms;
            b_wshift <= wshift;
            // b -> p2: the component banks' reads, then comp_r
            c_valids <= {c_valids[CREAD_LAT-1:1], b_valid};
            c_pipe[1] <= {b_rb[QB-1:0], b_lanes, b_par, b_waddr, b_mask, b_terms, b_wshift};
            for (l = 2; l <= CREAD_LAT; l = l + 1) c_pipe[l] <= c_pipe[l-1];
            for (l = 0; l < Q; l = l + 1) comp_r[l] <= bank_data[l];
            // p2: components into the lanes; their outputs follow LANE_LAT cycles later
            q_valid <= {q_valid[LANE_LAT-1:1], p2_valid};
            q_waddr[1] <= p2_waddr;
            q_mask[1] <= p2_mask;
            for (l = 2; l <= LANE_LAT; l = l + 1) begin
                q_waddr[l] <= q_waddr[l-1];
                q_mask[l] <= q_mask[l-1];
            end
            // write P weights
            we <= q_valid[LANE_LAT];
            waddr <= q_waddr[LANE_LAT];
            wmask <= q_mask[LANE_LAT];
            for (l = 0; l < Q; l = l + 1)
                for (j = 0; j < 8; j = j + 1) begin
                    if (one_bit) begin
                        wdata[j*P + 2*l] <= ~w_top[l][7];
                        wdata[j*P + 2*l + 1] <= ~w_bot[l][7];
                    end else begin
                        wdata[j*P + 2*l] <= w_top[l][j];
                        wdata[j*P + 2*l + 1] <= w_bot[l][j];
                    end
                end

            p0_valid <= 1'b0;
            case (state)
                E_DESC: state <= E_LW;                    // descriptor read in flight
                E_LW: begin
                    lw_raddr <= `D(F_LWBASE) + widx;
                    groups <= `D(F_GROUPS); fanin <= `D(F_FANIN); ebase <= `D(F_EBASE);
                    rows2 <= `D(F_ROWS2); wbase1 <= `D(F_WBASE1); units1 <= `D(F_UNITS1);
                    cbase <= `D(F_CBASE);
                    g <= 0; e <= 0; gq <= 0; gu <= 0; wp <= `D(F_WBASE);
                    eL <= `D(F_FANIN) == 1; gL <= `D(F_GROUPS) == 1;
                    if (`D(F_OP) == 0) state <= E_LW2;
                    else next_layer;
                end
                E_LW2: state <= E_RUN;                    // per-width record read in flight
                E_RUN: begin
                    terms <= lw[LW_TERMS +: 4*NT*TERM_W];
                    wshift <= lw[LW_WSHIFT +: 6];
                    p0_valid <= 1'b1;
                    p0_cg <= cbase + gq;
                    p0_wp <= wp;
                    p0_base1 <= wbase1 + gu;
                    p0_nrows <= rows2 - gq;
                    wp <= wp + 1;
                    if (!eL) begin e <= e + 1; eL <= (e + 2 == fanin); end
                    else begin
                        e <= 0; eL <= (fanin == 1);
                        if (!gL) begin g <= g + 1; gL <= (g + 2 == groups); gq <= gq + Q; gu <= gu + units1; end
                        else next_layer;
                    end
                end
                E_TAIL: if (!p0_valid && !p1_valid && !b_valid && c_valids == 0 && q_valid == 0 && !we) begin
                    busy <= 1'b0; done <= 1'b1; state <= E_IDLE;
                end
                default: ;
            endcase
        end
    end
    `undef D
endmodule
