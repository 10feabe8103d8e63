// The P MAC lanes (P output channels at once) and the routing of their operands: every lane takes
// the item's activation word; lane l takes bit (q * 8 + s) * P + l of the weight row (its weight bit
// for slot s in the item's plane q of PLANES) and its own valid slots. Depthwise layers (dw) and
// window sums (unitw) give each lane one slot:
// the lane's channel gp + l lies in word rel / 8 of the group's words (the channel-word loop), from
// slot rel % 8, rel = (gp * NB) % 8 + l * NB (NB = 1 << nbl bytes per value); its weight is slot
// 0's. A wide input's word holds 8 / NB channels: the channel in slots [i * NB, (i + 1) * NB) takes
// weight slot i. Lanes outside [lo, hi) (another convolution group's) add nothing. Each lane's
// valid slots come from the item's vmask, gp, cw, lo and hi, which arrive MASK_LAT cycles before
// the item enters the lanes: they are copied through MASK_LAT - 1 registers (shared by the lanes, so
// that the route across the die from the core's item pipeline has cycles of its own), then each lane
// works out its slots into a register beside it (the same edge as the core's operand registers).
// Lane l's accumulator including the item shows on
// acc_next[l * ACC_W +: ACC_W] wb_mac_lane's LAT cycles after the item is presented.
module wb_mac_array #(
    parameter P = 8,
    parameter ACC_W = 32,
    parameter PLANES = 1,                   // weight bit planes per item (wb_mac_lane)
    parameter MUL = 0,                      // 1: each lane's products on multipliers (wb_mac_lane)
    parameter MASK_LAT = 1                  // cycles the valid slots' fields arrive ahead of the item
) (
    input  wire                 clk,
    input  wire                 valid,
    input  wire                 first,
    input  wire [1:0]           mode,
    input  wire [63:0]          word,
    input  wire                 xsigned,
    input  wire [1:0]           nbl,        // log2 bytes per value
    input  wire [1:0]           kb,
    input  wire [2:0]           plane,
    input  wire [PLANES-1:0]    pmask,
    input  wire [PLANES-1:0]    psign,
    input  wire [8*P*PLANES-1:0] wrow,      // plane q, slot s of lane l at bit (q * 8 + s) * P + l
    // the item MASK_LAT cycles ahead of the operand stage's edge
    input  wire [7:0]           vmask,      // the word's valid slots (not depthwise)
    input  wire [2:0]           gp,         // the lane group's first channel (its low 3 bits)
    input  wire [4:0]           cw,         // the channel word within the group's words (depthwise: < 16)
    input  wire [6:0]           lo,
    input  wire [6:0]           hi,
    input  wire                 unitw,
    input  wire                 dw,
    output wire [P*ACC_W-1:0]   acc_next
);
    // the fields the lanes' valid slots are worked out from, MASK_LAT - 1 cycles later (a depthwise
    // layer's lane group spans at most 32 lanes of 4 bytes: 16 words)
    localparam FIELDS_W = 8 + 3 + 5 + 7 + 7;
    wire [FIELDS_W-1:0] fields = {vmask, gp, cw, lo, hi};
    wire [FIELDS_W-1:0] fields_d;
    genvar gl, gs, gq;
    generate
        if (MASK_LAT > 1) begin : g_copy
            reg [FIELDS_W-1:0] stage [1:MASK_LAT-1];
            integer k;
            always @(posedge clk) begin
                stage[1] <= fields;
                for (k = 2; k < MASK_LAT; k = k + 1) stage[k] <= stage[k-1];
            end
            assign fields_d = stage[MASK_LAT-1];
        end else begin : g_now
            assign fields_d = fields;
        end
    endgenerate
    wire [7:0] m_vmask;
    wire [2:0] m_gp;
    wire [4:0] m_cw;
    wire [6:0] m_lo, m_hi;
    assign {m_vmask, m_gp, m_cw, m_lo, m_hi} = fields_d;
    generate
        for (gl = 0; gl < P; gl = gl + 1) begin : g_lane
            wire [8*PLANES-1:0] wbits;
            reg  [7:0] lmask;
            for (gq = 0; gq < PLANES; gq = gq + 1) begin : g_plane
                wire [7:0] wslots, wwide;
                for (gs = 0; gs < 8; gs = gs + 1) begin : g_wbit
                    assign wslots[gs] = wrow[(gq*8+gs)*P + gl];
                    assign wwide[gs] = wslots[gs >> nbl];
                end
                assign wbits[8*gq +: 8] = unitw ? 8'hFF : dw ? {8{wslots[0]}} : wwide;
            end
            wire [7:0] gbyte = {5'd0, m_gp} << nbl;
            wire [7:0] rel = {5'd0, gbyte[2:0]} + (gl << nbl);
            wire       en = gl >= m_lo && gl < m_hi;
            always @(posedge clk)
                lmask <= !en ? 8'd0 : !dw ? m_vmask
                         : (m_cw == rel[7:3]) ? ((8'd2 << ((8'd1 << nbl) - 8'd1)) - 8'd1) << rel[2:0] : 8'd0;
            wb_mac_lane #(.ACC_W(ACC_W), .PLANES(PLANES), .MUL(MUL)) u_lane (
                .clk(clk), .valid(valid), .first(first), .mode(mode), .x(word), .xsigned(xsigned),
                .nbl(nbl), .kb(kb), .plane(plane), .pmask(pmask), .psign(psign), .wbits(wbits), .vmask(lmask),
                .acc_next(acc_next[gl*ACC_W +: ACC_W]));
        end
    endgenerate
endmodule
