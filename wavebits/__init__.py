"""wavebits: one quantized network for every bit-width from 8 to 1, hot-swapped on an FPGA.

The weight bank (``wavebits.bank``) is the contract between training, the integer golden model
(``wavebits.sim``), HLS/RTL code generation (``wavebits.codegen``) and the hardware library
(``wavebits.hw``).
"""

__version__ = "0.1.0"
