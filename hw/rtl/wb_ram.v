// Simple dual-port RAM: one synchronous write port, one synchronous (registered) read port.
// INIT names a $readmemh image; ROMs are instances whose write enable is tied low.
module wb_ram #(
    parameter W = 8,
    parameter DEPTH = 16,
    parameter AW = 4,
    parameter INIT = ""
) (
    input  wire          clk,
    input  wire          we,
    input  wire [AW-1:0] waddr,
    input  wire [W-1:0]  wdata,
    input  wire [AW-1:0] raddr,
    output reg  [W-1:0]  rdata
);
    reg [W-1:0] mem [0:DEPTH-1];
    generate
        if (INIT != "") begin : g_init
            initial $readmemh(INIT, mem);
        end
    endgenerate
    always @(posedge clk) begin
        if (we) mem[waddr] <= wdata;
        rdata <= mem[raddr];
    end
endmodule
