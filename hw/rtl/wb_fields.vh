// Layer descriptor layout: FIELD_W-bit fields, in this order (codegen/rtl.py DESC_FIELDS mirrors it).
localparam FIELD_W = 24;
localparam F_OP = 0;        // 0 conv/linear, 1 maxpool, 2 window sum (avgpool, gap), 3 add
// FLAGS: bit0 output layer, bit1 act none, bit2 input bipolar at 1 bit, bit3 packed kernel rows,
// bit4 input signed, bit5 one slot per lane (depthwise, window sum), bit6 unit weights (window sum),
// bit7 second input bipolar at 1 bit, bit8 second input signed, bits 9-10 / 11-12 / 13-14: log2 of
// the bytes per value of the output / input / second input, bit15 grouped (not depthwise)
localparam F_FLAGS = 1;
localparam F_CIN = 2;       // channels the channel-word loop covers (a group's when grouped)
localparam F_HIN = 3;
localparam F_WIN = 4;
localparam F_INCW = 5;      // input words per pixel (8 byte slots per word)
localparam F_COUT = 6;
localparam F_HOUT = 7;
localparam F_WOUT = 8;
localparam F_OUTCW = 9;     // output words per pixel
localparam F_KH = 10;
localparam F_KW = 11;
localparam F_SH = 12;
localparam F_SW = 13;
localparam F_PH = 14;
localparam F_PW = 15;
localparam F_GROUPS = 16;   // ceil(COUT / P)
localparam F_FANIN = 17;    // weight entries per group, serial path
localparam F_UNITS1 = 18;   // weight entries per group at 1 bit
localparam F_WBASE = 19;    // first entry, widths >= 2
localparam F_WBASE1 = 20;   // first entry, 1 bit
localparam F_LWBASE = 21;   // first per-width parameter record
localparam F_DKY = 22;      // address step per kernel row: WIN * INCW
localparam F_DOX = 23;      // per output column: SW * INCW
localparam F_DOY = 24;      // per output row: SH * WIN * INCW
localparam F_P0 = 25;       // signed address of the first window's top-left tap
localparam F_SRC = 26;      // activation buffer read (the first input)
localparam F_CBASE = 27;    // first component record (reconstruct)
localparam F_EBASE = 28;    // first element-map entry, one per column pair (reconstruct)
localparam F_ROWS2 = 29;    // row pairs of the padded weight matrix
localparam F_COLS2 = 30;    // its column pairs
localparam F_XBASE = 31;    // first edge record (reconstruct, odd column count)
localparam F_DST = 32;      // activation buffer written
localparam F_SRC2 = 33;     // add: the second input's buffer
localparam F_INCW2 = 34;    // add: the second input's words per pixel
localparam F_CWN = 35;      // conv: channel words per kernel tap (the channel-word loop)
localparam F_COUTG = 36;    // grouped conv: output channels per convolution group
localparam F_CINB = 37;     // grouped conv: input bytes per convolution group
localparam NFIELDS = 38;
// Per (layer, width) record: requant row, requant shift, weight shift, scale terms.
localparam LW_RQROW = 0;    // 24 bits
localparam LW_RQSHIFT = 24; // 6 bits
localparam LW_WSHIFT = 30;  // 6 bits
localparam LW_TERMS = 36;   // 4 components x NT terms x {valid, sign, shift[4:0]}
localparam TERM_W = 7;
localparam LW_RQ2ROW = 120; // 24 bits: add, the second input's multiplier row (requant2 memory)
