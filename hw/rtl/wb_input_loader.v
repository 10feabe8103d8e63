// The input loader: takes the input tensor (C, H, W) one value per `take` and writes it into the
// activation buffer's 8 slot RAMs, each slot at its own address, one cycle later (we, waddr).
// PACK = 1: value (c, y, x) goes to word (y * IN_W + x) * IN_CW + c / 8, slot c % 8. PACK > 1
// (the first layer reads at most 8 channels x taps): word y * PACK_WS + X, X = x + PACK_PW - t,
// slot t * IN_C + c for each tap t < PACK with 0 <= X < PACK_WS, so that word X holds the
// kernel row of the window whose first column is X - PACK_PW; slots whose column lies in the
// padding hold stale values, which the issue stage masks. `last`: this take is the tensor's last.
module wb_input_loader #(
    parameter IN_C = 1, IN_HW = 64, IN_CW = 1, IN_W = 8,
    parameter PACK = 1, PACK_PW = 0, PACK_WS = 8,
    parameter ACT_AW = 10
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire                 take,
    output wire                 last,
    output reg  [7:0]           we,
    output wire [8*ACT_AW-1:0]  waddr        // slot s: waddr[s * ACT_AW +: ACT_AW]
);
    reg [23:0] in_c, in_pix, in_paddr, in_x, in_row;
    reg        in_c_last, in_pix_last, in_x_last;    // registered loop ends, as in the issue stage
    reg [ACT_AW-1:0] slot_addr [0:7];
    assign last = take && in_c_last && in_pix_last;
    integer    lt, lx;
    always @(posedge clk)
        for (lt = 0; lt < 8; lt = lt + 1) begin
            if (PACK > 1) begin
                lx = in_x + PACK_PW - lt / IN_C;
                we[lt] <= take && lt < IN_C * PACK && in_c == lt % IN_C && lx >= 0 && lx < PACK_WS;
                slot_addr[lt] <= in_row + lx;
            end else begin
                we[lt] <= take && in_c[2:0] == lt;
                slot_addr[lt] <= in_paddr + (in_c >> 3);
            end
        end
    genvar gs;
    generate
        for (gs = 0; gs < 8; gs = gs + 1) begin : g_slot
            assign waddr[gs*ACT_AW +: ACT_AW] = slot_addr[gs];
        end
    endgenerate
    always @(posedge clk)
        if (rst) begin
            in_c <= 0; in_pix <= 0; in_paddr <= 0; in_c_last <= (IN_C == 1); in_pix_last <= (IN_HW == 1);
            in_x <= 0; in_x_last <= (IN_W == 1); in_row <= 0;
        end else if (take) begin
            if (!in_pix_last) begin
                in_pix <= in_pix + 1; in_pix_last <= (in_pix + 2 == IN_HW); in_paddr <= in_paddr + IN_CW;
                if (!in_x_last) begin in_x <= in_x + 1; in_x_last <= (in_x + 2 == IN_W); end
                else begin in_x <= 0; in_x_last <= (IN_W == 1); in_row <= in_row + PACK_WS; end
            end else begin
                in_pix <= 0; in_pix_last <= (IN_HW == 1); in_paddr <= 0;
                in_x <= 0; in_x_last <= (IN_W == 1); in_row <= 0;
                if (!in_c_last) begin in_c <= in_c + 1; in_c_last <= (in_c + 2 == IN_C); end
                else begin in_c <= 0; in_c_last <= (IN_C == 1); end
            end
        end
endmodule
