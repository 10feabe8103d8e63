"""FINN as an execution level: each width of a bank through FINN's flow, executed by FINN.

``FinnLevel`` needs only the bank (``codegen/finn_ref.py`` builds each width's QONNX graph from the
bank's integers), so ``wavebits verify BANK --backend finn`` works on any bank. It gives every
weighted and pooling layer and the output layer, in the golden model's layout. A width FINN
cannot express is skipped in the report with the step that cannot and why (``Inference.skipped``);
FINN itself is installed beside wavebits (README, "FINN users").
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wavebits.bank.model import Bank

from .golden import GoldenModel
from .levels import _Lazy, run_by_width
from .parity import Inference

log = logging.getLogger(__name__)


class FinnLevel(_Lazy):
    """FINN's Python execution of its hardware-layer graph, per width (``codegen/finn_ref.py``)."""

    name = "finn"
    weights = "banked"
    _transient = ("_flows",)

    def __init__(self, bank: Bank, workdir: Path) -> None:
        self.bank = bank
        self.workdir = Path(workdir)
        self.layers = tuple(n.name for n in bank.nodes if n.weighted or n.op == "maxpool")
        self._flows: dict[int, Any] | None = {}

    def prepare(self) -> None:
        """Check that FINN can be imported (each process runs FINN's transformations itself)."""
        from wavebits.codegen.finn_env import finn_session

        finn_session(self.workdir)

    def unsupported(self, bits: int) -> str | None:
        """Why FINN cannot express width ``bits`` of the bank (the step and the reason), or None."""
        from wavebits.codegen.finn_ref import FinnUnsupported, expressible

        try:
            expressible(self.bank, bits)
        except FinnUnsupported as e:
            return f"{e.step}: {e.reason}"
        return None

    def expected_exact(self, bits: int) -> bool:
        return self.unsupported(bits) is None

    def _flow(self, bits: int) -> Any:
        from wavebits.codegen.finn_ref import finn_flow

        if self._flows is None:
            self._flows = {}
        if bits not in self._flows:
            log.info("finn: width %d through FINN's transformations", bits)
            self._flows[bits] = finn_flow(self.bank, bits, self.workdir / f"w{bits}-{os.getpid()}")
        return self._flows[bits]

    def run(self, x: np.ndarray, schedule: Sequence[int]) -> list[Inference]:
        return run_by_width(self.bank, GoldenModel(self.bank).check_input(x), schedule, self._run_width)

    def _run_width(self, bits: int, x: np.ndarray) -> list[Inference]:
        from wavebits.codegen.finn_ref import FinnUnsupported, run_finn

        try:
            values = run_finn(self.bank, self._flow(bits), x)
        except FinnUnsupported as e:
            log.warning("%s", e)
            return [Inference(bits, {}, skipped=f"{e.step}: {e.reason}") for _ in range(len(x))]
        return [Inference(bits, {name: values[name][j] for name in self.layers}) for j in range(len(x))]
