"""Weight banks: the file every stage of the flow reads (schema, reader/writer, builder)."""

from .builder import BankFormat, BatchNorm, FloatLayer, build_bank
from .io import read_bank, write_bank
from .model import Bank, LayerWeights, Requant
from .synth import synth_bank

__all__ = [
    "Bank", "BankFormat", "BatchNorm", "FloatLayer", "LayerWeights", "Requant",
    "build_bank", "read_bank", "synth_bank", "write_bank",
]
