// Simple dual-port RAM: one synchronous write port, one synchronous read port.
// OREG = 0: read latency 1. OREG = 1: read latency 2, for memories that feed logic. The memory is
// then built of BLK-deep blocks (the last one only as deep as what is left), each followed by its
// own register (the block RAM's output register after codegen/netlist.py), and the block is
// selected after those registers, so neither the slow ECP5 block-RAM clock-to-out nor the long
// routes of a depth cascade share a cycle with logic. OREG = 2: read latency 3, the selected block
// registered once more, for memories spread over the die whose data travels far. `re` = 0 holds the
// read data (a stalled pipeline).
// INIT names a $readmemh image; with OREG >= 1 block k reads INIT.k (codegen/rtl.py splits them).
// ROMs are instances whose write enable is tied low. The core never uses the data of a read of the
// address written in the same cycle (ping-pong activations, double-buffered weights), so the
// memories carry no_rw_check: Yosys adds no collision bypass after the block RAM.
// WREG = 1 (OREG >= 1) registers the write port beside each block: its enable decoded for the block,
// its address and data, so that a block far from the writers is reached from flip-flops; a write
// then lands a cycle later (the core reads nothing it wrote in the cycle before).
// WP2 = 1 adds a second write port (we2, waddr2, wdata2) that takes the read port's address while
// it writes (a true dual-port block RAM): for a memory that is written twice per cycle while no one
// reads it, such as the idle half of the reconstruct weight buffer. WP2 = 0 leaves them unused.
// The two writes never meet at one address, so they sit in separate processes: Yosys then adds no
// priority logic between them.
module wb_ram #(
    parameter W = 8,
    parameter DEPTH = 16,
    parameter AW = 4,
    parameter OREG = 0,
    parameter BLK = 2048,
    parameter WREG = 0,
    parameter WP2 = 0,
    parameter INIT = ""
) (
    input  wire          clk,
    input  wire          we,
    input  wire [AW-1:0] waddr,
    input  wire [W-1:0]  wdata,
    input  wire          re,
    input  wire [AW-1:0] raddr,
    output wire [W-1:0]  rdata,
    input  wire          we2,
    input  wire [AW-1:0] waddr2,
    input  wire [W-1:0]  wdata2
);
    wire          wr2 = (WP2 != 0) && we2;
    wire [AW-1:0] addr_a = wr2 ? waddr2 : raddr;   // the read port's address, or the second write's
    generate
        if (OREG == 0) begin : g_flat
            (* no_rw_check *) reg [W-1:0] mem [0:DEPTH-1];
            reg [W-1:0] q;
            if (INIT != "") begin : g_init
                initial $readmemh(INIT, mem);
            end
            always @(posedge clk)
                if (we) mem[waddr] <= wdata;
            always @(posedge clk) begin
                if (wr2) mem[addr_a] <= wdata2;
                if (re) q <= mem[addr_a];
            end
            assign rdata = q;
        end else begin : g_blocks
            localparam NB = (DEPTH + BLK - 1) / BLK;
            wire [W-1:0] q2 [0:NB-1];
            reg  [AW-1:0] sel1, sel2;
            always @(posedge clk)
                if (re) begin sel1 <= raddr; sel2 <= sel1; end
            genvar b;
            for (b = 0; b < NB; b = b + 1) begin : g_block
                localparam [7:0] DIGIT = (b < 10) ? 48 + b : 87 + b;
                localparam BD = (b == NB - 1) ? DEPTH - b * BLK : BLK;  // the last block holds the rest
                (* no_rw_check *) reg [W-1:0] mem [0:BD-1];
                reg [W-1:0] q, q_r;
                if (INIT != "") begin : g_init
                    initial $readmemh({INIT, ".", DIGIT}, mem);
                end
                // the write port's write into this block, and the same a cycle later (WREG)
                wire          we_now = we && (waddr / BLK) == b;
                wire [AW-1:0] wa_now = waddr % BLK;
                reg           we_r = 1'b0;
                reg  [AW-1:0] wa_r;
                reg  [W-1:0]  wd_r;
                always @(posedge clk) begin we_r <= we_now; wa_r <= wa_now; wd_r <= wdata; end
                wire          we_b = WREG != 0 ? we_r : we_now;
                wire [AW-1:0] wa_b = WREG != 0 ? wa_r : wa_now;
                wire [W-1:0]  wd_b = WREG != 0 ? wd_r : wdata;
                always @(posedge clk)
                    if (we_b) mem[wa_b] <= wd_b;
                always @(posedge clk) begin
                    if (wr2 && (waddr2 / BLK) == b) mem[addr_a % BLK] <= wdata2;
                    if (re) begin
                        q <= mem[addr_a % BLK];
                        q_r <= q;
                    end
                end
                assign q2[b] = q_r;
            end
            if (OREG == 1) begin : g_sel
                assign rdata = q2[sel2 / BLK];
            end else begin : g_sel_reg
                reg [W-1:0] q3;
                always @(posedge clk)
                    if (re) q3 <= q2[sel2 / BLK];
                assign rdata = q3;
            end
        end
    endgenerate
endmodule
