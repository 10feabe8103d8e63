"""Multiscale quantization-aware training with Brevitas, exporting weight banks.

Not built yet: banks come from ``wavebits bank synth`` (or ``wavebits.bank.build_bank`` given
float parameters) until training lands.
"""
