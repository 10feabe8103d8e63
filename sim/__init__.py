"""Simulation: the integer golden model (numpy) every hardware output is checked against."""

from .golden import GoldenModel, LayerMismatch, first_mismatch

__all__ = ["GoldenModel", "LayerMismatch", "first_mismatch"]
