// Board top level: the accelerator behind a UART (the ULX3S's FTDI port, 115200 8N1).
// Host to board: 'W' <bits> writes the width register; 'I' <n input bytes> streams one input.
// Board to host: each output value as OUT_BYTES little-endian bytes, then one byte with its width.
// LEDs show the live width and whether a switch is in progress. The board's generated top level
// makes clk with its PLL; the design stays in reset until the PLL locks, and 8 cycles more.
module wb_board_uart #(
    parameter CLKS_PER_BIT = 868,
    parameter OUT_W = 32,
    parameter OUT_BYTES = 4
) (
    input  wire       clk,
    input  wire       clk_locked,
    input  wire       ftdi_txd,   // host -> FPGA
    output wire       ftdi_rxd,   // FPGA -> host
    output wire [7:0] led
);
    reg [1:0] locked_s = 2'd0;   // the PLL's LOCK, synchronized
    reg [3:0] por = 4'd0;
    wire rst = !por[3];
    always @(posedge clk) begin
        locked_s <= {locked_s[0], clk_locked};
        if (!locked_s[1]) por <= 4'd0;
        else if (!por[3]) por <= por + 1;
    end

    wire       rx_valid;
    wire [7:0] rx_data;
    wb_uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_rx (.clk(clk), .rx(ftdi_txd), .valid(rx_valid), .data(rx_data));

    localparam C_IDLE = 2'd0, C_WIDTH = 2'd1, C_INPUT = 2'd2;
    reg [1:0] cmd;
    reg       cfg_valid, in_valid;
    reg [3:0] cfg_bits;
    reg [7:0] in_data;
    wire      in_ready, out_valid, cfg_error, switching, rebuilding;
    wire [OUT_W-1:0] out_data;
    wire [3:0] out_bits, live_bits;
    wire       out_ready;
    always @(posedge clk) begin
        cfg_valid <= 1'b0;
        if (in_valid && in_ready) in_valid <= 1'b0;
        if (rst) begin cmd <= C_IDLE; in_valid <= 1'b0; end
        else if (rx_valid) begin
            case (cmd)
                C_IDLE: cmd <= (rx_data == "W") ? C_WIDTH : (rx_data == "I") ? C_INPUT : C_IDLE;
                C_WIDTH: begin cfg_valid <= 1'b1; cfg_bits <= rx_data[3:0]; cmd <= C_IDLE; end
                default: begin in_valid <= 1'b1; in_data <= rx_data; cmd <= C_IDLE; end
            endcase
        end
    end

    wavebits_top u_core (
        .clk(clk), .rst(rst), .cfg_valid(cfg_valid), .cfg_bits(cfg_bits), .cfg_error(cfg_error),
        .live_bits(live_bits), .switching(switching), .rebuilding(rebuilding),
        .in_valid(in_valid), .in_data(in_data), .in_ready(in_ready),
        .out_valid(out_valid), .out_data(out_data), .out_bits(out_bits), .out_ready(out_ready),
        .trace_valid(), .trace_layer(), .trace_addr(), .trace_mask(), .trace_data());

    // serialize each output value: OUT_BYTES bytes (sign-extended, little endian), then its width
    reg  [8*OUT_BYTES-1:0] value;
    reg  [3:0] value_bits;
    reg  [4:0] idx;             // next byte to send; OUT_BYTES + 1 when idle
    reg        tx_go;
    wire       tx_ready;
    assign out_ready = (idx == OUT_BYTES + 1) && !rst;
    wire [7:0] tx_byte = (idx < OUT_BYTES) ? value[idx*8 +: 8] : {4'd0, value_bits};
    always @(posedge clk) begin
        tx_go <= 1'b0;
        if (rst) idx <= OUT_BYTES + 1;
        else if (out_valid && out_ready) begin
            value <= {{(8*OUT_BYTES-OUT_W){out_data[OUT_W-1]}}, out_data};
            value_bits <= out_bits;
            idx <= 0;
        end else if (idx <= OUT_BYTES && tx_ready && !tx_go) begin
            tx_go <= 1'b1;
        end else if (tx_go) idx <= idx + 1;
    end
    wb_uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_tx (.clk(clk), .valid(tx_go), .data(tx_byte), .ready(tx_ready),
                                                     .tx(ftdi_rxd));
    // the LEDs through two registers of their own: the route to the pads runs between registers, in
    // two cycles, rather than pulling the width register the core reads out to the pads
    reg [7:0] led_s1, led_s2;
    always @(posedge clk) begin
        led_s1 <= {cfg_error, rebuilding, switching, 1'b0, live_bits};
        led_s2 <= led_s1;
    end
    assign led = led_s2;
endmodule
