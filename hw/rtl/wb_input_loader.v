// The input loader: takes the input tensor (C, H, W) one value per `take` and writes it into the
// activation buffer's 8 slot RAMs, each slot at its own address, one cycle later (we, waddr).
// PACK = 1: value (c, y, x) goes to word (y * IN_W + x) * IN_CW + c / 8, slot c % 8. PACK > 1
// (the first layer reads at most 8 channels x taps): word y * PACK_WS + X, X = x + PACK_PW - t,
// slot t * IN_C + c for each tap t < PACK with 0 <= X < PACK_WS, so that word X holds the
// kernel row of the window whose first column is X - PACK_PW; slots whose column lies in the
// padding hold stale values, which the issue stage masks. `last`: this take is the tensor's last.
// Each tap's column X, whether it lies inside the row, and its word address are registers stepped
// with the loop (the inside test of the next column compares this one with constants), so that a
// write enable is a compare of registers rather than an add and a compare.
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
    localparam NT = PACK > 1 ? PACK : 1;             // taps
    localparam CW = $clog2(IN_W + PACK_PW + PACK + 1) + 1;
    reg signed [CW-1:0] tap_x [0:NT-1];              // X = in_x + PACK_PW - t
    reg        [NT-1:0] tap_in;                      // 0 <= X < PACK_WS
    reg  [ACT_AW-1:0]   tap_addr [0:NT-1];           // in_row + X
    genvar gs;
    generate
        for (gs = 0; gs < 8; gs = gs + 1) begin : g_slot
            if (PACK > 1 && gs < IN_C * PACK) begin : g_tap
                always @(posedge clk) begin
                    we[gs] <= take && in_c == gs % IN_C && tap_in[gs / IN_C];
                    slot_addr[gs] <= tap_addr[gs / IN_C];
                end
            end else if (PACK > 1) begin : g_unused
                always @(posedge clk) begin
                    we[gs] <= 1'b0;
                    slot_addr[gs] <= 0;
                end
            end else begin : g_word
                always @(posedge clk) begin
                    we[gs] <= take && in_c[2:0] == gs;
                    slot_addr[gs] <= in_paddr + (in_c >> 3);
                end
            end
            assign waddr[gs*ACT_AW +: ACT_AW] = slot_addr[gs];
        end
    endgenerate
    // a tap's column at the start of a row, PACK_PW - t, and the same as an address offset (modulo
    // the address width, so that the row's base plus it is the word of column 0 on)
    function signed [CW-1:0] first_x(input integer t);
        first_x = PACK_PW - t;
    endfunction
    function [ACT_AW-1:0] first_addr(input integer t);
        first_addr = PACK_PW - t;
    endfunction
    integer t;
    always @(posedge clk)
        if (rst || (take && in_x_last)) begin        // a row's start (the tensor's after its last pixel)
            for (t = 0; t < NT; t = t + 1) begin
                tap_x[t] <= first_x(t); tap_in[t] <= first_x(t) >= 0 && first_x(t) < PACK_WS;
                tap_addr[t] <= (rst || in_pix_last ? 0 : in_row + PACK_WS) + first_addr(t);
            end
        end else if (take) begin
            for (t = 0; t < NT; t = t + 1) begin
                tap_x[t] <= tap_x[t] + 1; tap_in[t] <= tap_x[t] >= -1 && tap_x[t] < PACK_WS - 1;
                tap_addr[t] <= tap_addr[t] + 1;
            end
        end
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
