"""Multiscale quantization-aware training: one network for every width, exported to a bank.

``MultiScaleNet`` runs a bank graph at a run-time width; ``train`` follows the paper's dynamic
training (float model, warm-up, sampled widths); ``export_bank`` goes through the same builder as
every other bank, and ``verify`` checks the golden model against the fake-quantized model.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"MultiScaleNet": ".model", "Recipe": ".recipe", "TrainConfig": ".config", "load_config": ".config",
            "export_bank": ".export", "verify": ".export"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Load on first use, so that checking a config or a command line does not wait for torch."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
