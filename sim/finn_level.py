"""FINN as an execution level: each width of a bank through FINN's flow, executed by FINN.

``FinnLevel`` needs only the bank (``codegen/finn_ref.py`` builds each width's QONNX graph from the
bank's integers), so ``wavebits verify BANK --backend finn`` works on any bank. It gives every
weighted and pooling layer and the output layer, in the golden model's layout. A width FINN
cannot express is skipped in the report with the step that cannot and why (``Inference.skipped``);
FINN itself is installed beside wavebits (README, "FINN users").

``FinnRtlLevel`` (``--backend finn-rtl``) runs FINN's RTL layers instead, stitched by wavebits and
simulated by Verilator (``codegen/finn_rtl.py``): the output layer, and cycles.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from wavebits.bank.model import Bank

from .golden import GoldenModel
from .levels import _Lazy, run_by_width
from .parity import Inference

if TYPE_CHECKING:
    from wavebits.codegen.finn_ref import FinnUnsupported
    from wavebits.codegen.finn_rtl import Folding

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


class FinnRtlLevel(FinnLevel):
    """FINN's RTL layers for each width, stitched by wavebits and simulated by Verilator
    (``codegen/finn_rtl.py``): the output layer, and the cycles of the first inference of each width
    (its latency: FINN's layers are a pipeline, the rest overlap).

    Widths where FINN has no RTL for some layer (1 bit: XNOR MVAUs; max pooling) are skipped in the
    report with the layer named.
    """

    name = "finn-rtl"

    def __init__(self, bank: Bank, workdir: Path, folding: Folding | None = None) -> None:
        super().__init__(bank, workdir)
        self.layers = (bank.nodes[-1].name,)
        self.folding = folding

    def _refusal(self, bits: int) -> FinnUnsupported | None:
        from wavebits.codegen.finn_ref import FinnUnsupported, expressible
        from wavebits.codegen.finn_rtl import refuse_1bit

        if bits == 1:
            return refuse_1bit(self.bank)
        try:
            expressible(self.bank, bits)
        except FinnUnsupported as e:
            return e
        return None

    def unsupported(self, bits: int) -> str | None:
        """Why FINN has no RTL for width ``bits``, where that is known before building, or None."""
        e = self._refusal(bits)
        return None if e is None else f"{e.step}: {e.reason}"

    def _flow(self, bits: int) -> Any:
        from wavebits.codegen.finn_rtl import finn_rtl_build, verilate_segments, whole

        if self._flows is None:
            self._flows = {}
        if bits not in self._flows:
            log.info("finn-rtl: width %d through FINN's transformations, HDL generation and Verilator", bits)
            fr = finn_rtl_build(self.bank, bits, self.workdir / f"rtl-w{bits}-{os.getpid()}", self.folding,
                                verilate=False)
            whole(fr)
            verilate_segments(fr)
            self._flows[bits] = fr
        return self._flows[bits]

    def _run_width(self, bits: int, x: np.ndarray) -> list[Inference]:
        from wavebits.codegen.finn_ref import FinnUnsupported
        from wavebits.codegen.finn_rtl import simulate

        try:
            refusal = self._refusal(bits)
            if refusal is not None:
                raise refusal
            run = simulate(self.bank, self._flow(bits), x)
        except FinnUnsupported as e:
            log.warning("%s", e)
            return [Inference(bits, {}, skipped=f"{e.step}: {e.reason}") for _ in range(len(x))]
        return [Inference(bits, {name: run.layers[name][j] for name in self.layers},
                          cycles=run.segments[0].latency if j == 0 else None) for j in range(len(x))]
