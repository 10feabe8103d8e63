"""Code generation from a weight bank: HLS C++ projects and Verilog, and the ECP5 bitstream build.

Every generated design follows the integer contract of ``wavebits.intmath`` and ``sim.golden``.
"""
