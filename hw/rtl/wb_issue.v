// The issue stage: the layer's loop nest and address generator. `setup` (the descriptor `d` and the
// decoded flags valid) starts a layer; the loop nest then writes one item per cycle into a
// two-entry queue while it has room, and the queue's head issues while the lanes may take it: its
// activation addresses (i_addr, and i_addr2 for an add's second input; a grouped pass reads the next
// word, i_addr1, in the slots before i_rot), its weight row (i_wptr: a register the weight memory's
// address pins can pull across the die without pulling the loop logic along) and what the datapath
// needs beside them. A conv group's last item must reach the drain's shadow registers after the
// drain has taken the previous group's last channel. Outside the output layer, once the requant
// pipeline runs (den), it runs to the layer's end (only the output layer fills the output FIFO),
// and the MAC pipeline never stalls: the last item then waits the cycles the drain takes the
// previous group's channels in (two a cycle: drain_wait), so that its group reaches the drain no
// earlier than the cycle the drain takes the previous group's last channels. Otherwise it waits
// until the previous group is through (`drain_last`: the drain takes its last channel). An add
// issues while the requant pipeline runs.
module wb_issue #(
    parameter P = 8,
    parameter ACT_AW = 10,
    parameter WAW = 10,
    parameter DESC_W = 888,                      // NFIELDS * FIELD_W (wb_fields.vh)
    parameter IN_C = 1, IN_W = 8, PACK_PW = 0,  // the packed first layer's input (wb_core)
    parameter PLANES = 1                         // weight bit planes per item (wb_mac_lane)
) (
    input  wire                     clk,
    input  wire                     rst,
    input  wire                     setup,
    input  wire [DESC_W-1:0]        d,           // the layer's descriptor
    input  wire [3:0]               bits,        // the live width
    input  wire                     is_pool, is_add, is_conv, dw, unitw, row_packed,
    input  wire                     is_out,      // the output layer (its drain may stall on the output FIFO)
    input  wire [1:0]               nbo, nba, nbb,
    input  wire [1:0]               mode,
    input  wire                     den,
    input  wire                     drain_last,
    output wire                     issuing,     // the layer's items are not all issued yet
    output reg                      i_valid, i_first, i_last, i_pad,
    output reg  [ACT_AW-1:0]        i_addr, i_addr2,
    output reg  [ACT_AW-1:0]        i_addr1,     // the issued item's address + 1
    output reg  [2:0]               i_rot,       // grouped: the first slot of the pass's group's channels
    output reg  [WAW-1:0]           i_wptr,
    output reg  [2:0]               i_offa, i_offb,  // add: the values' first slots in their words
    output reg  [2:0]               i_plane,     // the item's first weight bit plane
    output reg  [PLANES-1:0]        i_pmask,     // plane i_plane + q is one of the width's planes
    output reg  [PLANES-1:0]        i_psign,     // ... the sign plane
    output reg  [1:0]               i_kb,        // the byte of a wide input's values this pass takes
    output reg  [6:0]               i_lo, i_hi,  // the lanes enabled
    output reg  [1:0]               i_mode,
    output reg  [7:0]               i_vmask,
    output reg  [23:0]              i_gp, i_obase, i_cw
);
`include "wb_fields.vh"
    `define F(f) d[(f)*FIELD_W +: FIELD_W]
    wire [23:0] fl = `F(F_FLAGS);
    localparam LQ = $clog2(PLANES);
    wire [3:0]  nplanes = (bits == 4'd1) ? 4'd1 : bits;
    wire [3:0]  nsteps = (nplanes + PLANES - 1) >> LQ;   // items per unit and byte: PLANES planes each
    // passes per unit: weight plane steps (one for window sums and at width 1), times the bytes per
    // value of a wide (act none) input, whose bytes are taken one per pass; one in max pools (whole
    // values compared) and adds (an item per channel)
    wire [5:0]  passes = (`F(F_OP) == 1 || `F(F_OP) == 3) ? 6'd1
                         : ((`F(F_OP) == 0) ? {2'd0, nsteps} : 6'd1) << fl[12:11];
    wire        j_first_last = passes == 6'd1;
    reg [23:0] oy, ox, g, gp, ky, kx, cw, crem, kxofs, krow, obase;
    reg [23:0] wptr;                      // the weight row of the item about to issue
    reg [23:0] gwo;                       // depthwise: the lane group's first input word
    // grouped: the pass's convolution group, by its first output channel, its end (cg_base + COUTG)
    // and first input byte; the lane group's first weight unit; whether this pass is the lane
    // group's first
    reg [23:0] cg_base, cg_end, cg_inb, wbase_g;
    reg        pass_first, grouped;
    // grouped: another pass follows this one while the lane group's channels go on past its group
    // (cg_end < gp + P, cg_end < COUT), held in a register beside cg_base and gp so that no adder
    // lies before the queue; its value at the layer's first pass (mp_first)
    reg        more_pass, mp_first;
    reg [23:0] ac, ba, bb, bo, pb2;         // add: channel, byte positions in a, b, out; b's pixel base
    reg        ac_last;
    reg [5:0]  j;
    // the output pixel's input base word, and the bases the next pixel and row take (each sum kept in
    // a register, so that the pixel step is a select)
    reg signed [24:0] iy0, ix0, pbase, pbase_next, prow_next;
    // loop bounds minus two and whether they are one, and the current channel word's valid slots,
    // held in registers so that the loop-end tests are plain equalities of registers (a counter's
    // next value is its last when the counter equals its bound minus two)
    reg [23:0] kw_m2, kh_m2, incw_m2, groups_m2, wout_m2, hout_m2, cout_m2;
    reg        kw_one, kh_one, incw_one, groups_one, wout_one, cout_one;
    reg [5:0]  planes_m2;
    reg [3:0]  lastplane;
    reg [7:0]  vmask, vmask_first;
    // each counter's "at its last value" flag, updated with the counter; the plane loop has one
    // pass in pool layers and at width 1, so j_last holds there (j_wrap: its value as the loop
    // restarts)
    reg         j_last, cw_last, kx_last, ky_last, g_last, ox_last, oy_last;
    reg         j_wrap;
    // the units (rounds of the plane loop) left in the output pixel, counting this one (the
    // descriptor's PXU at its first), and whether this is its last: the pixel steps on a flag of
    // its own rather than behind every loop's end flag
    reg  [23:0] u_left;
    reg         u_last, pxu_one;
    reg         px_end;                             // j_last && u_last: the item is its pixel's last
    // j_last and u_last after a push
    wire        j_last_nx = j_last ? j_wrap : (j == planes_m2);
    wire        u_last_nx = j_last ? (u_last ? pxu_one : u_left == 24'd2) : u_last;
    // the next output pixel (row-major), and the input window it reads; the last one ends the layer
    task next_output_pixel;
        begin
            obase <= obase + `F(F_OUTCW);
            if (!ox_last) begin
                ox <= ox + 1; ox_last <= (ox == wout_m2); ix0 <= ix0 + $signed({1'b0, `F(F_SW)});
                pbase <= pbase_next; pbase_next <= pbase_next + $signed({1'b0, `F(F_DOX)});
            end else begin
                ox <= 0; ox_last <= wout_one; ix0 <= -$signed({1'b0, `F(F_PW)});
                if (!oy_last) begin
                    oy <= oy + 1; oy_last <= (oy == hout_m2); iy0 <= iy0 + $signed({1'b0, `F(F_SH)});
                    pbase <= prow_next; pbase_next <= prow_next + $signed({1'b0, `F(F_DOX)});
                    prow_next <= prow_next + $signed({1'b0, `F(F_DOY)});
                end
            end
        end
    endtask
    // the next tap of the window (kx, then ky); after the last, the first again
    task next_tap;
        begin
            if (!kx_last) begin kx <= kx + 1; kx_last <= (kx == kw_m2); kxofs <= kxofs + `F(F_INCW); end
            else begin
                kx <= 0; kx_last <= kw_one; kxofs <= 0;
                if (!ky_last) begin ky <= ky + 1; ky_last <= (ky == kh_m2); krow <= krow + `F(F_DKY); end
                else begin ky <= 0; ky_last <= kh_one; krow <= 0; end
            end
        end
    endtask
    function [7:0] slot_mask(input [23:0] channels_left);
        slot_mask = (channels_left >= 8) ? 8'hFF : ((8'd1 << channels_left) - 8'd1);
    endfunction
    // the next channel word's slots, slot_mask(crem - 8), without a subtraction (crem > 8 there)
    wire [7:0]  vmask_next = (|crem[23:4]) ? 8'hFF : ((8'd1 << crem[2:0]) - 8'd1);
    wire [23:0] coutg = `F(F_COUTG);
    wire [23:0] cg_next_end = cg_end + coutg;            // the next convolution group's end
    // at the next lane group (gp + P): its first pass's group, the group of its first channel
    wire        cg_moves = cg_end <= gp + P;
    wire        mp_layer = fl[15] && coutg < P && coutg < `F(F_COUT);     // more_pass at a layer's first pass
    wire [23:0] cg_gp_end = cg_moves ? cg_next_end : cg_end;
    wire        pass_end = j_last && cw_last && kx_last && ky_last;
    wire        grp_last = pass_end && !more_pass;                   // conv: last item of a group
    wire        tap_last = kx_last && ky_last;                       // last tap of a window
    wire        first_item = (j == 0) && (cw == 0) && (kx == 0) && (ky == 0) && pass_first;
    // the pass's lanes: lo <= l < hi (all of them but in grouped layers)
    wire signed [25:0] lo_s = $signed({2'b0, cg_base}) - $signed({2'b0, gp});
    wire signed [25:0] hi_s = $signed({2'b0, cg_end}) - $signed({2'b0, gp});
    wire [6:0]  lane_lo = !grouped ? 7'd0 : lo_s < 0 ? 7'd0 : lo_s[6:0];
    wire [6:0]  lane_hi = !grouped || hi_s > P ? P : hi_s[6:0];
    wire signed [24:0] iy = iy0 + $signed({1'b0, ky});
    wire signed [24:0] ix = ix0 + $signed({1'b0, kx});
    wire        pad = (iy < 0) || (iy >= $signed({1'b0, `F(F_HIN)})) || (ix < 0) || (ix >= $signed({1'b0, `F(F_WIN)}));
    wire signed [24:0] addr = is_add ? pbase + $signed({1'b0, ba >> 3})
                              : pbase + $signed({1'b0, krow}) + $signed({1'b0, kxofs})
                                + $signed({1'b0, dw ? gwo : cg_inb >> 3})
                                + $signed({1'b0, cw});
    // the packed layer's valid slots for the window at column ix0: its tap inside the input
    reg  [7:0] pack_mask;
    integer    lp;
    always @*
        for (lp = 0; lp < 8; lp = lp + 1)
            pack_mask[lp] = (ix0 + lp / IN_C >= PACK_PW) && (ix0 + lp / IN_C < IN_W + PACK_PW);
    reg  grp_pending;                    // a group's last item issued, its drain not through
    reg  grp_timed;                      // ... issued while the drain could not stall: drain_wait holds
    reg  [7:0] drain_wait;               // cycles until the next group's last item may issue
    reg        drain_done;               // drain_wait == 0
    // the lane group's channels minus one: P - 1 but in the layer's last lane group (lastg_m1, set
    // up with the layer); the drain takes them in (c + 1) / 2 cycles
    reg  [7:0]  lastg_m1;
    wire drain_free = grp_timed ? drain_done : !grp_pending;

    // the issue queue: the loop nest writes its items (push) while the queue has room, and its head
    // issues (pop) unless it is a group's last item that the drain is not ready for or an add's
    // while the requant pipeline stands. Two entries keep one item per cycle flowing, and the
    // decision to issue then stands on the head's registered flags instead of the loop's state.
    localparam QW = 2 * ACT_AW + WAW + 2 * PLANES + 115;
    reg              looping;            // the loop nest has items left
    // the loop nest writes an item (looping, and the queue has room): every loop counter's enable,
    // a register of its own set from looping's and the queue's next state
    reg              push;
    reg  [QW-1:0]    entry0, entry1;     // flip-flops (an array of two would map to LUT RAM)
    reg              q_rd, q_wr;
    reg  [1:0]       q_count;
    wire [PLANES-1:0] n_pmask, n_psign;
    wire [2:0]       n_plane = (j >> nba) << LQ;     // the item's first weight bit plane
    wire [23:0]      n_addr2 = pb2 + (bb >> 3);
    genvar gq;
    generate
        for (gq = 0; gq < PLANES; gq = gq + 1) begin : g_pq
            assign n_pmask[gq] = gq == 0 || (`F(F_OP) == 0 && n_plane + gq <= lastplane);
            assign n_psign[gq] = n_plane + gq == lastplane && !unitw;
        end
    endgenerate
    wire [QW-1:0] item = {
        addr[ACT_AW-1:0],                 // a padding tap reads anywhere; i_pad masks it
        n_addr2[ACT_AW-1:0], wptr[WAW-1:0], is_conv && pad,
        is_pool ? (kx == 0 && ky == 0) : first_item, is_pool ? tap_last : grp_last, mode, n_plane,
        n_pmask, n_psign, j[1:0] & {nba == 2'd2, nba != 2'd0}, grouped ? cg_inb[2:0] : 3'd0,
        lane_lo, lane_hi, row_packed ? vmask & pack_mask : vmask, is_add ? ac : gp,
        is_add ? obase + (bo >> 3) : obase, is_add ? {21'd0, bo[2:0]} : cw, ba[2:0], bb[2:0],
        is_conv && grp_last, g_last};
    wire [QW-1:0] head = q_rd ? entry1 : entry0;
    wire [ACT_AW-1:0] head_addr = head[QW-1 -: ACT_AW];
    wire          head_grp_last = head[1], head_g_last = head[0];
    wire          pop = q_count != 0 && !(head_grp_last && !drain_free) && !(is_add && !den);
    wire [1:0]    q_next = q_count + {1'b0, push} - {1'b0, pop};
    wire          layer_end = push && px_end && ox_last && oy_last;   // the layer's last item
    wire          looping_nx = setup || (looping && !layer_end);
    wire [7:0]    grp_ch_m1 = head_g_last ? lastg_m1 : P - 1;
    assign issuing = looping || q_count != 0;

    always @(posedge clk) begin
        if (rst) begin
            looping <= 1'b0; push <= 1'b0; grp_pending <= 1'b0; grp_timed <= 1'b0; drain_wait <= 0; drain_done <= 1'b1;
            i_valid <= 1'b0; q_rd <= 1'b0; q_wr <= 1'b0; q_count <= 2'd0;
        end else begin
            if (setup) begin
                grp_pending <= 1'b0; grp_timed <= 1'b0;
                oy <= 0; ox <= 0; g <= 0; gp <= 0; ky <= 0; kx <= 0; cw <= 0; j <= 0; lastg_m1 <= (`F(F_COUT) - 1) & (P - 1);
                crem <= `F(F_CIN); vmask <= slot_mask(`F(F_CIN)); vmask_first <= slot_mask(`F(F_CIN)); kxofs <= 0; krow <= 0; obase <= 0;
                kw_m2 <= `F(F_KW) - 2; kh_m2 <= `F(F_KH) - 2; incw_m2 <= `F(F_CWN) - 2;
                kw_one <= `F(F_KW) == 1; kh_one <= `F(F_KH) == 1; incw_one <= `F(F_CWN) == 1;
                gwo <= 0; cg_base <= 0; cg_end <= coutg; cg_inb <= 0; wbase_g <= `F(F_WBASE); pass_first <= 1'b1;
                grouped <= fl[15];
                more_pass <= mp_layer;
                mp_first <= mp_layer;
                ac <= 0; ba <= 0; bb <= 0; bo <= 0; pb2 <= 0; cout_m2 <= `F(F_COUT) - 2; cout_one <= `F(F_COUT) == 1;
                ac_last <= (`F(F_COUT) == 1);
                groups_m2 <= `F(F_GROUPS) - 2; wout_m2 <= `F(F_WOUT) - 2; hout_m2 <= `F(F_HOUT) - 2;
                groups_one <= `F(F_GROUPS) == 1; wout_one <= `F(F_WOUT) == 1;
                planes_m2 <= passes - 6'd2; lastplane <= nplanes - 4'd1;
                j_last <= j_first_last; j_wrap <= j_first_last; cw_last <= (`F(F_CWN) == 1);
                u_left <= `F(F_PXU); u_last <= `F(F_PXU) == 1; pxu_one <= `F(F_PXU) == 1;
                px_end <= j_first_last && `F(F_PXU) == 1;
                kx_last <= (`F(F_KW) == 1); ky_last <= (`F(F_KH) == 1); g_last <= (`F(F_GROUPS) == 1);
                ox_last <= (`F(F_WOUT) == 1); oy_last <= (`F(F_HOUT) == 1);
                wptr <= `F(F_WBASE);
                iy0 <= -$signed({1'b0, `F(F_PH)}); ix0 <= -$signed({1'b0, `F(F_PW)});
                pbase <= $signed(`F(F_P0)); pbase_next <= $signed(`F(F_P0)) + $signed({1'b0, `F(F_DOX)});
                prow_next <= $signed(`F(F_P0)) + $signed({1'b0, `F(F_DOY)});
            end
            // ---- the queue: its head issues; the loop nest writes the next item
            i_valid <= pop;
            i_addr1 <= head_addr + 1'b1;
            {i_addr, i_addr2, i_wptr, i_pad, i_first, i_last, i_mode, i_plane, i_pmask, i_psign, i_kb,
             i_rot, i_lo, i_hi, i_vmask, i_gp, i_obase, i_cw, i_offa, i_offb} <= head[QW-1:2];
            if (drain_wait != 0) drain_wait <= drain_wait - 1;
            drain_done <= (drain_wait <= 8'd1);
            if (pop && head_grp_last) begin
                grp_pending <= 1'b1;
                grp_timed <= den && !is_out;
                drain_wait <= grp_ch_m1 >> 1;
                drain_done <= grp_ch_m1 <= 8'd1;
            end
            if (pop) q_rd <= !q_rd;
            q_count <= q_next;
            looping <= looping_nx;
            push <= looping_nx && !q_next[1];
            if (push) begin
                if (q_wr) entry1 <= item; else entry0 <= item;
                q_wr <= !q_wr;
                if (j_last) u_left <= u_last ? `F(F_PXU) : u_left - 1;
                j_last <= j_last_nx;              // holds in pools and adds (one pass: j_wrap)
                u_last <= u_last_nx;
                px_end <= j_last_nx && u_last_nx;
                if (is_add) begin
                    // add order: per output pixel, per channel (one value of each input per item)
                    if (!ac_last) begin
                        ac <= ac + 1; ac_last <= (ac == cout_m2);
                        ba <= ba + (24'd1 << nba); bb <= bb + (24'd1 << nbb); bo <= bo + (24'd1 << nbo);
                    end else begin
                        ac <= 0; ac_last <= cout_one; ba <= 0; bb <= 0; bo <= 0;
                    end
                end else if (is_pool) begin
                    // pool order: per output pixel, per channel word, the window's taps
                    next_tap;
                    if (tap_last) begin
                        if (!cw_last) begin cw <= cw + 1; cw_last <= (cw == incw_m2); end
                        else begin cw <= 0; cw_last <= incw_one; end
                    end
                end else begin
                    // conv order: per output pixel, per group of P channels, taps (ky, kx), channel
                    // words (one weight unit each), weight bit planes
                    if (j_last && (cw_last || !dw)) wptr <= wptr + 1;   // next unit (depthwise: one per tap)
                    if (!j_last) j <= j + 1;
                    else begin
                        j <= 0;
                        if (!cw_last) begin
                            cw <= cw + 1; cw_last <= (cw == incw_m2); crem <= crem - 8; vmask <= vmask_next;
                        end else begin
                            cw <= 0; cw_last <= incw_one; crem <= `F(F_CIN); vmask <= vmask_first;
                            next_tap;
                            if (tap_last) begin
                                if (more_pass) begin
                                    // the lane group's next convolution group: the same weights
                                    wptr <= wbase_g; pass_first <= 1'b0;
                                    cg_base <= cg_end; cg_end <= cg_next_end; cg_inb <= cg_inb + `F(F_CINB);
                                    more_pass <= cg_next_end < gp + P && cg_next_end < `F(F_COUT);
                                end else if (!g_last) begin
                                    g <= g + 1; g_last <= (g == groups_m2); gp <= gp + P;
                                    wbase_g <= wptr + 1; pass_first <= 1'b1;
                                    // the next lane group's input words: depthwise, where its
                                    // channels lie; grouped, the group of its first channel
                                    if (dw) gwo <= ((gp + P) << nba) >> 3;
                                    if (grouped && cg_moves) begin
                                        cg_base <= cg_end; cg_end <= cg_next_end; cg_inb <= cg_inb + `F(F_CINB);
                                    end
                                    more_pass <= grouped && cg_gp_end < gp + 2 * P && cg_gp_end < `F(F_COUT);
                                end
                            end
                        end
                    end
                end
                if (px_end) begin
                    // the pixel's last item: the next output pixel, its first lane group (conv), the
                    // second input's next pixel (add)
                    next_output_pixel;
                    g <= 0; g_last <= groups_one; gp <= 0;
                    gwo <= 0; cg_base <= 0; cg_end <= coutg; cg_inb <= 0; pass_first <= 1'b1;
                    more_pass <= mp_first;
                    wptr <= `F(F_WBASE); wbase_g <= `F(F_WBASE);
                    pb2 <= pb2 + `F(F_INCW2);
                end
            end

            if (drain_last) grp_pending <= 1'b0;
        end
    end
    `undef F
endmodule
