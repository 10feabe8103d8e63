// The weight memory and its row select: a row of every slot's 8 bit planes (64P bits: slot s, plane
// j, lane l at bit s * 8P + j * P + l), read at `raddr` and shown on `row` LAT = MEM_OREG + 1 +
// SEL_LAT cycles later.
// WEIGHTS = 0 (banked): one memory per width in WIDTHS storing its b planes (one at width 1); `bits`
// selects the bank. WEIGHTS = 1 (reconstruct): two halves of one memory per slot holding its 8
// planes; `active` selects the half inference reads while the Haar engine writes the other, one
// column (one slot of one unit, P lanes, every plane) per port and cycle (we/waddr/wslot/wdata and
// the second port).
// The select (of the width's bank, or the half) gets SEL_LAT register stages of its own: the banks
// lie far apart on the die, and the select's output fans out to the plane select of every lane.
module wb_weight_store #(
    parameter WEIGHTS = 0,
    parameter P = 8,
    parameter [8:1] WIDTHS = 8'hFF,
    parameter WDEPTH = 1024,
    parameter WBLK = 2048,               // banked: the memories' blocks (wb_ram BLK), one block RAM deep
    parameter WAW = 10,
    parameter MEM_OREG = 2,              // wb_ram's OREG for every block
    parameter SEL_LAT = 1,
    parameter WEIGHT_PREFIX = ""         // banked: WEIGHT_PREFIX_b<width>.hex
) (
    input  wire             clk,
    input  wire [WAW-1:0]   raddr,
    input  wire [3:0]       bits,        // banked: the live width (steady while rows are read)
    input  wire             active,      // reconstruct: the half inference reads
    input  wire             we,
    input  wire [WAW-1:0]   waddr,
    input  wire [2:0]       wslot,
    input  wire [8*P-1:0]   wdata,
    input  wire             we2,
    input  wire [WAW-1:0]   waddr2,
    input  wire [2:0]       wslot2,
    input  wire [8*P-1:0]   wdata2,
    output wire [64*P-1:0]  row
);
    localparam ROW_W = 64 * P;
    reg  [ROW_W-1:0] sel;                // combinational: the selected memory's row
    // the select's own copy of `bits` (one-hot) and `active`, registered: both change only between
    // inferences, cycles before the next row is read, and a local register keeps the core's copy
    // (which Yosys shares with the board's width LEDs) out of the row's path
    reg  [8:0] width_on;
    reg        half_on;
    always @(posedge clk) begin
        width_on <= 9'd1 << bits;
        half_on <= active;
    end
    genvar gb, gs;
    generate
        if (WEIGHTS == 0) begin : g_banked
            wire [ROW_W-1:0] bank_q [1:8];
            for (gb = 1; gb <= 8; gb = gb + 1) begin : g_width
                if (WIDTHS[gb]) begin : g_have
                    localparam NPL = (gb == 1) ? 1 : gb;  // planes stored per slot
                    localparam BW = 8 * NPL * P;
                    localparam [7:0] DIGIT = 48 + gb;
                    wire [BW-1:0] q;
                    wb_ram #(.W(BW), .DEPTH(WDEPTH), .AW(WAW), .OREG(MEM_OREG), .BLK(WBLK),
                             .INIT(WEIGHT_PREFIX == "" ? "" : {WEIGHT_PREFIX, "_b", DIGIT, ".hex"})) u_bank (
                        .clk(clk), .we(1'b0), .waddr({WAW{1'b0}}), .wdata({BW{1'b0}}), .re(1'b1), .raddr(raddr),
                        .rdata(q));
                    for (gs = 0; gs < 8; gs = gs + 1) begin : g_slot
                        if (NPL < 8) begin : g_pad
                            assign bank_q[gb][gs*8*P +: 8*P] = {{((8-NPL)*P){1'b0}}, q[gs*NPL*P +: NPL*P]};
                        end else begin : g_full
                            assign bank_q[gb][gs*8*P +: 8*P] = q[gs*8*P +: 8*P];
                        end
                    end
                end else begin : g_none
                    assign bank_q[gb] = {ROW_W{1'b0}};
                end
            end
            integer k;
            always @* begin
                sel = {ROW_W{1'b0}};
                for (k = 1; k <= 8; k = k + 1) sel = sel | (bank_q[k] & {ROW_W{width_on[k]}});
            end
        end else begin : g_recon
            wire [ROW_W-1:0] half_q [0:1];
            // the engine's two writes, registered once more per half and slot (each enable its own
            // flip-flop) before they fan out to the block RAMs across the die; the extra cycle ends
            // long before the rebuilt half goes live (done, then recon_ready, then the flip)
            reg  [WAW-1:0] buf_waddr, buf_waddr2;
            reg  [8*P-1:0] buf_wdata, buf_wdata2;
            for (gb = 0; gb < 2; gb = gb + 1) begin : g_half
                reg [7:0] buf_we, buf_we2;    // per slot
                always @(posedge clk) begin
                    buf_we <= (we && active != gb) ? 8'd1 << wslot : 8'd0;
                    buf_we2 <= (we2 && active != gb) ? 8'd1 << wslot2 : 8'd0;
                end
                for (gs = 0; gs < 8; gs = gs + 1) begin : g_slot
                    wb_ram #(.W(8*P), .DEPTH(WDEPTH), .AW(WAW), .OREG(MEM_OREG), .WP2(1)) u_buf (
                        .clk(clk), .we(buf_we[gs]), .waddr(buf_waddr), .wdata(buf_wdata),
                        .re(1'b1), .raddr(raddr), .rdata(half_q[gb][gs*8*P +: 8*P]),
                        .we2(buf_we2[gs]), .waddr2(buf_waddr2), .wdata2(buf_wdata2));
                end
            end
            always @(posedge clk) begin
                {buf_waddr, buf_waddr2} <= {waddr, waddr2};
                {buf_wdata, buf_wdata2} <= {wdata, wdata2};
            end
            always @* sel = half_q[half_on];
        end
    endgenerate

    // the select's register stages
    generate
        if (SEL_LAT == 0) begin : g_comb
            assign row = sel;
        end else begin : g_reg
            reg [ROW_W-1:0] stage [1:SEL_LAT];
            integer k;
            always @(posedge clk) begin
                stage[1] <= sel;
                for (k = 2; k <= SEL_LAT; k = k + 1) stage[k] <= stage[k-1];
            end
            assign row = stage[SEL_LAT];
        end
    endgenerate
endmodule
