"""The integer golden model: inference of a bank at any width, exactly per the integer contract.

Every hardware output (C simulation, RTL simulation, references) is compared with this model,
integer for integer. It computes any layer's output on request and checks, as it goes, that no
accumulator or requantization product leaves the bound its width was derived from.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from tqdm import tqdm

from wavebits.bank.model import Bank
from wavebits.errors import DataError
from wavebits.graph import INPUT, Domain, LayerBounds, Node

from .parity import LayerMismatch, first_mismatch  # re-exported: they moved to .parity

WEIGHT_MODES = ("banked", "reconstruct")

__all__ = ["WEIGHT_MODES", "BoundViolation", "GoldenModel", "LayerMismatch", "first_mismatch"]


class BoundViolation(AssertionError):
    """An intermediate value outside its derived bound: a bug, never a user error."""


class GoldenModel:
    """Integer inference of ``bank``.

    ``weight_mode`` ``banked`` reads each width's stored integer weights; ``reconstruct`` rebuilds
    them from the wavelet components with the hardware-form shift-add Haar unit. Both must agree
    (the bank loader checks it), and the hardware offers the same two modes.
    """

    def __init__(self, bank: Bank, weight_mode: str = "banked") -> None:
        if weight_mode not in WEIGHT_MODES:
            raise ValueError(f"weight_mode must be one of {WEIGHT_MODES}, got {weight_mode!r}")
        self.bank = bank
        self.weight_mode = weight_mode
        self._weights: dict[int, dict[str, np.ndarray]] = {}
        self._bounds: dict[int, dict[str, LayerBounds]] = {}

    def weights(self, bits: int) -> dict[str, np.ndarray]:
        """Integer weights of every weighted layer at ``bits``."""
        self.bank.check_width(bits)
        if bits not in self._weights:
            if self.weight_mode == "banked":
                self._weights[bits] = {n: lw.banks[bits] for n, lw in self.bank.weights.items()}
            else:
                self._weights[bits] = {
                    n: lw.reconstruct(bits, self.bank.weight_shape(n)) for n, lw in self.bank.weights.items()
                }
        return self._weights[bits]

    def bounds(self, bits: int) -> dict[str, LayerBounds]:
        if bits not in self._bounds:
            self._bounds[bits] = self.bank.bounds(bits)
        return self._bounds[bits]

    def check_input(self, x: np.ndarray) -> np.ndarray:
        """Validate a batch of inputs against the bank's input shape and bit-width."""
        x = np.asarray(x)
        want = (x.shape[0], *self.bank.input_shape) if x.ndim >= 1 else None
        if x.ndim != len(self.bank.input_shape) + 1 or x.shape != want:
            raise DataError(f"input batch has shape {x.shape}, the bank expects (N, "
                            f"{', '.join(str(s) for s in self.bank.input_shape)})")
        kind = f"{'int' if self.bank.input_signed else 'uint'}{self.bank.input_bits}"
        if not np.issubdtype(x.dtype, np.integer):
            raise DataError(f"input must be integers ({kind}), got dtype {x.dtype}")
        lo, hi = self.bank.input_range
        if x.size and (x.min() < lo or x.max() > hi):
            raise DataError(f"input values must lie in {lo}..{hi} ({kind}), got {int(x.min())}..{int(x.max())}")
        return x.astype(np.int64)

    def run(self, x: np.ndarray, bits: int, outputs: Iterable[str] | str | None = None) -> dict[str, np.ndarray]:
        """Run a batch at ``bits``; returns the requested layers' outputs (default: the last).

        ``outputs="all"`` returns every layer (and ``"input"``).
        """
        weights = self.weights(bits)
        bounds = self.bounds(bits)
        values = {INPUT: self.check_input(x)}
        for node in self.bank.nodes:
            values[node.name] = self._execute(node, values, bits, weights, bounds)
        if outputs is None:
            outputs = [self.bank.output]
        elif outputs == "all":
            outputs = list(values)
        missing = [o for o in outputs if o not in values]
        if missing:
            raise KeyError(f"no layer named {missing[0]!r}")
        return {o: values[o] for o in outputs}

    def logits(self, x: np.ndarray, bits: int) -> np.ndarray:
        return self.run(x, bits)[self.bank.output]

    def predict(self, x: np.ndarray, bits: int, batch: int = 256, progress: bool = False) -> np.ndarray:
        """Class predictions (argmax of the integer logits; ties go to the lowest class)."""
        chunks = range(0, len(x), batch)
        it = tqdm(chunks, desc=f"golden {bits}-bit", unit="batch", leave=False) if progress else chunks
        return np.concatenate([self.logits(x[i:i + batch], bits).argmax(axis=1) for i in it])

    def _execute(self, node: Node, values: dict[str, np.ndarray], bits: int,
                 weights: dict[str, np.ndarray], bounds: dict[str, LayerBounds]) -> np.ndarray:
        kind, lb = node.kind, bounds[node.name]
        xs = [values[s] for s in node.inputs]
        acc = kind.accumulate(node, xs, bounds[node.inputs[0]].out, bits, weights.get(node.name), lb.acc_bound)
        if not kind.requantizes:
            return acc
        rq = self.bank.requant[node.name][bits]
        _check(node, "accumulator", acc, lb.acc_bound)
        v = kind.scaled(node, xs, acc, rq)
        _check(node, "scaled value", v, lb.product_bound)
        out = kind.requant_out(node, v, rq, bits)
        _check(node, "output", out, lb.out.max_abs)
        return out


def accumulate(node: Node, values: dict[str, np.ndarray], src: Domain, bits: int,
               w: np.ndarray | None, acc_bound: int) -> np.ndarray:
    """A node's exact accumulators (its output for ops that do not requantize).

    ``src`` is the domain of the node's first input (its padding value and whether it is
    bipolar); ``acc_bound`` bounds the accumulators and picks the exact summation path.
    """
    return node.kind.accumulate(node, [values[s] for s in node.inputs], src, bits, w, acc_bound)


def _check(node: Node, what: str, v: np.ndarray, bound: int) -> None:
    if v.size and int(np.abs(v).max()) > bound:
        raise BoundViolation(f"layer {node.name!r}: {what} reaches {int(np.abs(v).max())}, "
                             f"beyond its derived bound {bound}")
