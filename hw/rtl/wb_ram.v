// Simple dual-port RAM: one synchronous write port, one synchronous read port.
// Read latency 1, or 2 with OREG = 1 (an output register, which the ECP5 block RAM has: slow
// block RAM clock-to-out then never meets logic). `re` = 0 holds the read data (a stalled pipeline).
// INIT names a $readmemh image; ROMs are instances whose write enable is tied low.
module wb_ram #(
    parameter W = 8,
    parameter DEPTH = 16,
    parameter AW = 4,
    parameter OREG = 0,
    parameter INIT = ""
) (
    input  wire          clk,
    input  wire          we,
    input  wire [AW-1:0] waddr,
    input  wire [W-1:0]  wdata,
    input  wire          re,
    input  wire [AW-1:0] raddr,
    output wire [W-1:0]  rdata
);
    reg [W-1:0] mem [0:DEPTH-1];
    reg [W-1:0] q, q2;
    generate
        if (INIT != "") begin : g_init
            initial $readmemh(INIT, mem);
        end
    endgenerate
    always @(posedge clk) begin
        if (we) mem[waddr] <= wdata;
        if (re) begin
            q <= mem[raddr];
            q2 <= q;
        end
    end
    assign rdata = OREG ? q2 : q;
endmodule
