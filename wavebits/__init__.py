"""wavebits: one quantized network for every bit-width from 8 to 1, hot-swapped on an FPGA.

The weight bank (``wavebits.bank``) is the contract between training, the integer golden model
(``wavebits.sim``), HLS/RTL code generation (``wavebits.codegen``) and the hardware library
(``wavebits.hw``). The Python API (``wavebits.api``) is importable from here::

    import wavebits as wb
    net = wb.import_model(module, (1, 28, 28))
    result = wb.train(net, wb.from_arrays(x, y), pretrained=True)
    wb.compile_hls(result.bank, "out/hls").predict(x[:8], bits=4)

Names are loaded on first use, so ``import wavebits`` stays light (no torch, no TensorFlow).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "import_model": "wavebits.api", "train": "wavebits.api", "golden": "wavebits.api",
    "compile_hls": "wavebits.api", "compile_rtl": "wavebits.api", "CompiledModel": "wavebits.api",
    "read_bank": "wavebits.bank.io", "write_bank": "wavebits.bank.io", "Bank": "wavebits.bank.model",
    "DataSet": "wavebits.data", "load_data": "wavebits.data", "load_npz": "wavebits.data",
    "load_folder": "wavebits.data", "from_arrays": "wavebits.data", "from_torch": "wavebits.data",
    "GoldenModel": "wavebits.sim.golden", "WavebitsError": "wavebits.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'wavebits' has no attribute {name!r}")
