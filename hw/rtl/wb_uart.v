// 8N1 UART receiver and transmitter; CLKS_PER_BIT = clock / baud.
module wb_uart_rx #(parameter CLKS_PER_BIT = 217) (
    input  wire       clk,
    input  wire       rx,
    output reg        valid,
    output reg  [7:0] data
);
    reg [15:0] count;
    reg [3:0]  bitn;
    reg        busy;
    reg [1:0]  sync;
    always @(posedge clk) begin
        sync <= {sync[0], rx};
        valid <= 1'b0;
        if (!busy) begin
            if (!sync[1]) begin busy <= 1'b1; count <= CLKS_PER_BIT / 2; bitn <= 4'd0; end
        end else if (count != 0) count <= count - 1;
        else begin
            count <= CLKS_PER_BIT - 1;
            if (bitn == 4'd0) begin
                if (sync[1]) busy <= 1'b0;   // false start bit
                bitn <= 4'd1;
            end else if (bitn <= 4'd8) begin
                data <= {sync[1], data[7:1]};
                bitn <= bitn + 1;
            end else begin
                busy <= 1'b0;
                valid <= sync[1];             // stop bit
            end
        end
    end
endmodule

module wb_uart_tx #(parameter CLKS_PER_BIT = 217) (
    input  wire       clk,
    input  wire       valid,
    input  wire [7:0] data,
    output wire       ready,
    output reg        tx
);
    reg [15:0] count;
    reg [3:0]  bitn;
    reg [9:0]  shifter;
    reg        busy;
    assign ready = !busy;
    initial begin tx = 1'b1; busy = 1'b0; end
    always @(posedge clk) begin
        if (!busy) begin
            tx <= 1'b1;
            if (valid) begin busy <= 1'b1; shifter <= {1'b1, data, 1'b0}; count <= 0; bitn <= 0; end
        end else if (count != 0) count <= count - 1;
        else begin
            count <= CLKS_PER_BIT - 1;
            tx <= shifter[0];
            shifter <= {1'b1, shifter[9:1]};
            if (bitn == 4'd10) busy <= 1'b0;
            bitn <= bitn + 1;
        end
    end
endmodule
