"""Multiscale quantization-aware training: one network for every width, exported to a bank.

``MultiScaleNet`` runs a bank graph at a run-time width; ``train`` follows the paper's dynamic
training (float model, warm-up, sampled widths); ``export_bank`` goes through the same builder as
every other bank, and ``verify`` checks the golden model against the fake-quantized model.
"""

from .config import TrainConfig, load_config
from .export import export_bank, verify
from .model import MultiScaleNet, Recipe

__all__ = ["MultiScaleNet", "Recipe", "TrainConfig", "export_bank", "load_config", "verify"]
