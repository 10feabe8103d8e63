"""Simulation and verification: the integer golden model (numpy) every hardware output is checked
against, the execution levels behind one interface (``levels``), the parity checker (``parity``)
and sharding (``shard``)."""

from .golden import GoldenModel, LayerMismatch, first_mismatch

__all__ = ["GoldenModel", "LayerMismatch", "first_mismatch"]
