"""Code generation from a weight bank: HLS C++ projects and Verilog.

Not built yet; the integer contract it will follow is ``wavebits.intmath`` and ``sim.golden``.
"""
