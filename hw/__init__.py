"""The hardware library generated code builds on (HLS headers, RTL modules).

Not built yet; it will mirror ``wavebits.intmath``, ``wavebits.wavelet`` and
``wavebits.fixedpoint`` once per hardware language.
"""
