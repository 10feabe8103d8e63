// The drain: requantizes a finished group of P accumulators while the lanes go on with the next
// group, two channels per cycle (an even one and the next, on two wb_requant units, written into
// one activation word) but in the output layer, whose output FIFO takes one value per cycle, and an
// add's values one per cycle as they reach the operand stage; writes each result into the
// activation buffer (wr_*) or, in the output layer, into the output FIFO. It holds the requant
// memories (a row per channel pair and width: mul and bias of the even channel in the low half;
// an add's second multiplier, a row per channel), the shadow registers, the requant pipelines
// (RQ_LAT stages, frozen while the FIFO is full) and the 4-entry output FIFO, whose `den` (drain
// enable) also holds the issue stage.
module wb_drain #(
    parameter P = 8,
    parameter ACC_W = 32, MUL_W = 25, BIAS_W = 40, V_W = 64, OUT_W = 32,
    parameter TWO = 0,                    // an add's second product (requant2 memory)
    parameter ACT_AW = 10,
    parameter RQ_DEPTH = 1024, RQ_AW = RQ_DEPTH > 1 ? $clog2(RQ_DEPTH) : 1,
    parameter RQ2_DEPTH = 1, RQ2_AW = RQ2_DEPTH > 1 ? $clog2(RQ2_DEPTH) : 1,
    // 0 or 1; 1: the requant memories' block outputs are registered (wb_ram OREG), so that the block
    // RAM's clock-to-out and the route from its corner of the die get a cycle of their own
    parameter RQ_OREG = 1,
    parameter RQ_BLK = 512,               // the requant memory's blocks (wb_ram BLK): one block RAM deep
    parameter RQ_FILE = "", RQ2_FILE = ""
) (
    input  wire                     clk,
    input  wire                     rst,
    // the layer (its per-width record and descriptor flags), the live width
    input  wire [23:0]              rq_row,     // the layer's first requant row (channel pair) at this width
    input  wire [23:0]              rq2_row,
    input  wire [5:0]               rq_shift,
    input  wire                     act_none,
    input  wire                     is_out,
    input  wire [1:0]               nbo,        // log2 bytes per output value
    input  wire [23:0]              cout,
    input  wire [3:0]               bits,
    // a finished group from the lanes (its first channel, its first output word)
    input  wire                     group_valid,
    input  wire [P*ACC_W-1:0]       group_acc,
    input  wire [23:0]              group_gp,
    input  wire [23:0]              group_obase,
    // an add: its channel a cycle ahead (the requant rows are read then), then its two values
    input  wire                     add_ahead,
    input  wire [23:0]              add_ahead_c,
    input  wire                     add_valid,
    input  wire [63:0]              add_word,
    input  wire [63:0]              add_word2,
    input  wire [2:0]               add_off,
    input  wire [2:0]               add_off2,
    input  wire [1:0]               nba,
    input  wire [1:0]               nbb,
    input  wire                     sgn,
    input  wire                     sgn2,
    input  wire                     bip,
    input  wire                     bip2,
    input  wire [ACT_AW-1:0]        add_addr,
    input  wire [2:0]               add_slot,
    // control
    output reg                      den,        // the pipeline moves (the output FIFO has room)
    output wire                     last,       // this cycle drains a group's last channel(s)
    output wire                     busy,
    // the activation write (combinational from the pipeline's last stage)
    output wire                     wr_valid,
    output wire [ACT_AW-1:0]        wr_addr,
    output wire [7:0]               wr_mask,
    output wire [63:0]              wr_data,
    // the output stream
    output wire                     out_valid,
    output wire signed [OUT_W-1:0]  out_data,
    output wire [3:0]               out_bits,
    input  wire                     out_ready
);
    localparam RQ_W = MUL_W + BIAS_W;
    localparam RQ_LAT = RQ_OREG + 8;      // the memory's extra stage, then wb_requant's LATENCY

    localparam REM_W = $clog2(P + 1);
    reg               d_busy;
    reg  [23:0]       d_c, d_obase, d_l;
    reg  [REM_W-1:0]  d_rem;              // the group's channels not yet taken (a count, not an end to
                                          // add to: the last-channel test is a small compare)
    reg signed [ACC_W-1:0] shadow [0:P-1];
    wire [1:0]        step = is_out ? 2'd1 : 2'd2;   // channels per cycle

    reg  [RQ_AW-1:0]  rq_raddr;           // the pair of the channel being issued to the requant pipeline
    wire [2*RQ_W-1:0] rq_q;
    wb_ram #(.W(2 * RQ_W), .DEPTH(RQ_DEPTH), .AW(RQ_AW), .OREG(RQ_OREG), .BLK(RQ_BLK), .INIT(RQ_FILE)) u_rq (
        .clk(clk), .we(1'b0), .waddr({RQ_AW{1'b0}}), .wdata({2*RQ_W{1'b0}}), .re(den), .raddr(rq_raddr),
        .rdata(rq_q));
    reg  [RQ2_AW-1:0] rq2_raddr;
    wire [MUL_W-1:0]  rq2_q;
    generate
        if (TWO != 0) begin : g_rq2
            wb_ram #(.W(MUL_W), .DEPTH(RQ2_DEPTH), .AW(RQ2_AW), .OREG(RQ_OREG), .INIT(RQ2_FILE)) u_rq2 (
                .clk(clk), .we(1'b0), .waddr({RQ2_AW{1'b0}}), .wdata({MUL_W{1'b0}}), .re(den), .raddr(rq2_raddr),
                .rdata(rq2_q));
        end else begin : g_no_rq2
            assign rq2_q = {MUL_W{1'b0}};
        end
    endgenerate

    // stage 0 holds the accumulators (r0) while the requant memory reads; with RQ_OREG they wait a
    // stage more (r1) for the memory's output register; then wb_requant; the last stage writes.
    // Unit a takes the channel issued (its half of the row: `odd`), unit b the pair's odd channel
    // (t_two: there is one).
    reg  [RQ_LAT:0]   t_valid, t_two;
    reg  [ACT_AW-1:0] t_addr [0:RQ_LAT];
    reg  [2:0]        t_slot [0:RQ_LAT];
    reg signed [ACC_W-1:0] r0_acc, r0_acc2, r0_accb, r1_acc, r1_acc2, r1_accb;
    reg               r0_odd, r1_odd;
    reg               add_odd;            // the add's channel a cycle ahead is odd
    wire              odd = RQ_OREG ? r1_odd : r0_odd;
    wire [RQ_W-1:0]   rq_a = odd ? rq_q[2*RQ_W-1:RQ_W] : rq_q[RQ_W-1:0];
    wire signed [OUT_W-1:0] rq_out, rq_outb;
    wb_requant #(.ACC_W(ACC_W), .MUL_W(MUL_W), .BIAS_W(BIAS_W), .V_W(V_W), .OUT_W(OUT_W), .TWO(TWO)) u_requant (
        .clk(clk), .en(den), .acc(RQ_OREG ? r1_acc : r0_acc), .mul(rq_a[MUL_W-1:0]),
        .acc2(RQ_OREG ? r1_acc2 : r0_acc2), .mul2(rq2_q), .bias(rq_a[RQ_W-1:MUL_W]),
        .shift(rq_shift), .act_none(act_none), .bits(bits), .out(rq_out));
    wb_requant #(.ACC_W(ACC_W), .MUL_W(MUL_W), .BIAS_W(BIAS_W), .V_W(V_W), .OUT_W(OUT_W), .TWO(0)) u_requant_b (
        .clk(clk), .en(den), .acc(RQ_OREG ? r1_accb : r0_accb), .mul(rq_q[RQ_W +: MUL_W]),
        .acc2({ACC_W{1'b0}}), .mul2({MUL_W{1'b0}}), .bias(rq_q[2*RQ_W-1:RQ_W+MUL_W]),
        .shift(rq_shift), .act_none(act_none), .bits(bits), .out(rq_outb));

    // output FIFO (4 entries): the drain runs while at most one entry is taken, so its enable is a
    // register and out_ready fans out to nothing but the FIFO
    reg  [OUT_W+3:0] ofifo [0:3];
    reg  [1:0] o_rd, o_wr;
    reg  [2:0] o_count;
    wire       o_push = den && t_valid[RQ_LAT] && is_out;
    wire       o_pop = out_valid && out_ready;
    wire [2:0] o_count_next = o_count + (o_push ? 3'd1 : 3'd0) - (o_pop ? 3'd1 : 3'd0);
    assign out_valid = o_count != 0;
    assign out_data = ofifo[o_rd][OUT_W-1:0];
    assign out_bits = ofifo[o_rd][OUT_W+3:OUT_W];

    // a group may arrive in the cycle the previous group's last channel is taken (wb_issue's drain
    // wait): that channel still reads its shadow register, and the group's state then wins
    wire issue = den && d_busy;
    wire d_final = d_rem <= step;
    assign last = issue && d_final;
    assign busy = d_busy || t_valid != 0;

    // the values written: 1 << nbo bytes from slot t_slot, the odd channel's next to them (an even
    // channel's pair lies in its word); wider values are act none, so signed
    function [63:0] spread(input signed [OUT_W-1:0] v);
        reg signed [63:0] e;
        begin
            e = v;
            spread = nbo == 2'd0 ? {8{e[7:0]}} : nbo == 2'd1 ? {4{e[15:0]}} : {2{e[31:0]}};
        end
    endfunction
    wire [7:0]  value_mask = nbo == 2'd0 ? 8'h01 : nbo == 2'd1 ? 8'h03 : 8'h0F;
    wire [7:0]  mask_a = value_mask << t_slot[RQ_LAT];
    wire [7:0]  mask_b = t_two[RQ_LAT] ? mask_a << (4'd1 << nbo) : 8'h00;
    wire [63:0] data_a = spread(rq_out), data_b = spread(rq_outb);
    genvar gb;
    generate
        for (gb = 0; gb < 8; gb = gb + 1) begin : g_wbyte
            assign wr_data[gb*8 +: 8] = mask_b[gb] ? data_b[gb*8 +: 8] : data_a[gb*8 +: 8];
        end
    endgenerate
    // the write (the output layer's values go to the FIFO): den && t_valid[RQ_LAT] && !is_out, as a
    // register decided a cycle ahead, so that the activation buffers' enables, far across the die,
    // start from a flip-flop (is_out holds while anything is in the drain)
    reg wr_q;
    assign wr_valid = wr_q;
    assign wr_addr = t_addr[RQ_LAT];
    assign wr_mask = mask_a | mask_b;

    // a value of an add's input: 1 << nbl bytes from slot `off` (sign-extended where wider than a byte
    // or `sg`); bipolar (width 1) values are bits
    function signed [ACC_W-1:0] unpack(input [63:0] w, input [2:0] off, input [1:0] nbl, input sg, input bp);
        reg [63:0] v, e;
        begin
            v = w >> {off, 3'b000};
            case (nbl)
                2'd0: e = bp ? (v[0] ? 64'd1 : {64{1'b1}}) : sg ? {{56{v[7]}}, v[7:0]} : {56'd0, v[7:0]};
                2'd1: e = {{48{v[15]}}, v[15:0]};
                default: e = {{32{v[31]}}, v[31:0]};
            endcase
            unpack = e[ACC_W-1:0];
        end
    endfunction

    integer l;
    always @(posedge clk) begin
        if (rst) begin
            d_busy <= 1'b0;
            t_valid <= 0; t_two <= 0;
            o_rd <= 0; o_wr <= 0; o_count <= 0; den <= 1'b1; wr_q <= 1'b0;
        end else begin
            wr_q <= (o_count_next <= 3'd1) && (den ? t_valid[RQ_LAT-1] : t_valid[RQ_LAT]) && !is_out;
            if (o_push) begin ofifo[o_wr] <= {bits, rq_out}; o_wr <= o_wr + 1; end
            if (o_pop) o_rd <= o_rd + 1;
            o_count <= o_count_next;
            den <= o_count_next <= 3'd1;

            // an add's requant rows are read as its values reach the operand stage
            if (add_ahead) begin
                rq_raddr <= rq_row + (add_ahead_c >> 1);
                add_odd <= add_ahead_c[0];
                rq2_raddr <= rq2_row + add_ahead_c;
            end
            if (den) begin
                t_valid <= {t_valid[RQ_LAT-1:0], issue || add_valid};
                t_two <= {t_two[RQ_LAT-1:0], issue && !is_out && d_rem > 1};
                r1_acc <= r0_acc; r1_acc2 <= r0_acc2; r1_accb <= r0_accb; r1_odd <= r0_odd;
                for (l = RQ_LAT; l > 0; l = l - 1) begin
                    t_addr[l] <= t_addr[l-1];
                    t_slot[l] <= t_slot[l-1];
                end
                if (issue) begin
                    // one channel at a time (the output layer) moves to the next row after an odd one
                    if (!is_out || d_c[0]) rq_raddr <= rq_raddr + 1;
                    r0_acc <= shadow[d_l];
                    r0_accb <= shadow[d_l | 1];
                    r0_acc2 <= 0;
                    r0_odd <= d_c[0];
                    t_addr[0] <= d_obase + ((d_c << nbo) >> 3);
                    t_slot[0] <= (d_c << nbo) & 7;
                    d_c <= d_c + step; d_l <= d_l + step; d_rem <= d_rem - step;
                    if (d_final) d_busy <= 1'b0;
                end
                if (add_valid) begin
                    r0_acc <= unpack(add_word, add_off, nba, sgn, bip);
                    r0_acc2 <= unpack(add_word2, add_off2, nbb, sgn2, bip2);
                    r0_odd <= add_odd;
                    t_addr[0] <= add_addr;
                    t_slot[0] <= add_slot;
                end
            end
            if (group_valid) begin
                for (l = 0; l < P; l = l + 1) shadow[l] <= group_acc[l*ACC_W +: ACC_W];
                d_busy <= 1'b1;
                d_c <= group_gp; d_l <= 0; d_obase <= group_obase;
                rq_raddr <= rq_row + (group_gp >> 1);
                d_rem <= (group_gp + P < cout) ? P : cout - group_gp;
            end
        end
    end
endmodule
