// The contract's rounding, rshift_round in wavebits/intmath.py: (v + 2**(shift-1)) >>> shift,
// that is division by 2**shift rounding half up (shift 0 leaves v). Two stages: add the half, then
// shift; `neg` (v < 0) comes out with the result. Used by requantization and weight quantization.
// EARLY = 1: `shift` comes a cycle before its `v` (with en high in both cycles), so the half is
// decoded and registered a cycle ahead and the first stage is the adder alone.
module wb_rshift_round #(
    parameter W = 32,
    parameter EARLY = 0
) (
    input  wire                clk,
    input  wire                en,
    input  wire signed [W-1:0] v,
    input  wire [5:0]          shift,
    output reg  signed [W:0]   q,
    output reg                 neg
);
    wire signed [W:0] half_of_shift = (shift == 6'd0) ? {(W+1){1'b0}} : ({{W{1'b0}}, 1'b1} <<< (shift - 6'd1));
    reg  signed [W:0] half_r;
    reg  [5:0] shift_r;
    always @(posedge clk)
        if (en) begin half_r <= half_of_shift; shift_r <= shift; end
    wire signed [W:0] half = EARLY ? half_r : half_of_shift;
    wire [5:0] shift0 = EARLY ? shift_r : shift;    // the shift of this cycle's v
    reg signed [W:0] h;
    reg [5:0] shift1;
    reg neg1;
    always @(posedge clk) begin
        if (en) begin
            h <= $signed({v[W-1], v}) + half;
            shift1 <= shift0;
            neg1 <= v < 0;
            q <= h >>> shift1;
            neg <= neg1;
        end
    end
endmodule
