"""Execution levels behind one interface (FINN's exec modes): golden, csim, rtl, hls4ml, qonnx, finn, finn-rtl,
board.

Every level answers ``run(x, schedule)``: input ``x[k]`` at width ``schedule[k % len(schedule)]``,
in order, giving one ``Inference`` per input with every layer's integers it can see (and cycles
where it counts them). ``wavebits.sim.parity.check`` compares any of them with the golden model.

=========  ============================================  ==========================  ======
level      runs                                          layers                      cycles
=========  ============================================  ==========================  ======
golden     the integer golden model (numpy)              every layer and the input   no
csim       the generated HLS C++ compiled with g++       every layer and the input   no
rtl        the generated Verilog in Verilator            every layer                 yes
hls4ml     each width as QKeras, converted by hls4ml     the output layer only       no
qonnx      each width exported by Brevitas, run by qonnx  the predicted class only   no
finn       each width through FINN's flow, run by FINN   weighted, pooling, output   no
finn-rtl   FINN's RTL layers stitched, in Verilator      the output layer only       yes
board      an RTL project's bitstream on a board (UART)  the output layer only       no
=========  ============================================  ==========================  ======

``finn`` and ``finn-rtl`` live in ``finn_level.py`` (they need finn-plus: README, "FINN users"), ``board`` in
``board.py`` (it needs pyserial and a serial port; ``boardsim.py`` simulates one).

Levels are picklable (compiled models and caches are rebuilt in the process that runs them), so
``wavebits.sim.shard`` can send them to worker processes or Ray tasks; ``prepare()`` builds what
every worker shares (the C simulation and Verilator binaries) once, before they start.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from wavebits.bank.io import read_bank
from wavebits.bank.model import Bank
from wavebits.errors import WavebitsError
from wavebits.graph import INPUT, bipolar_at_one_bit

from .golden import GoldenModel
from .parity import PREDICTION, Inference, widths_for

log = logging.getLogger(__name__)

LEVEL_NAMES = ("golden", "csim", "rtl", "hls4ml", "qonnx", "finn", "finn-rtl", "board")


def _by_width(widths: list[int]) -> dict[int, np.ndarray]:
    """Indices of the inferences at each width, in order of first appearance."""
    out: dict[int, list[int]] = {}
    for k, b in enumerate(widths):
        out.setdefault(b, []).append(k)
    return {b: np.array(ks) for b, ks in out.items()}


def run_by_width(bank: Bank, x: np.ndarray, schedule: Sequence[int],
                 run_width: Callable[[int, np.ndarray], list[Inference]]) -> list[Inference]:
    """``x`` along ``schedule``, one width at a time: ``run_width(bits, inputs)`` answers for the
    inputs at that width, in order; the inferences come back in schedule order. For levels whose
    answer does not depend on the widths run before (a model per width, no hardware state)."""
    widths = widths_for(len(x), schedule)
    out: list[Inference | None] = [None] * len(x)
    for b, ks in _by_width(widths).items():
        bank.check_width(b)
        for k, inf in zip(ks, run_width(b, x[ks]), strict=True):
            out[k] = inf
    return [inf for inf in out if inf is not None]


class _Lazy:
    """Pickles without the attributes named in ``_transient`` (rebuilt on first use)."""

    _transient: tuple[str, ...] = ()

    def __getstate__(self) -> dict[str, Any]:
        return {k: (None if k in self._transient else v) for k, v in self.__dict__.items()}


class GoldenLevel(_Lazy):
    """The integer golden model: every layer, in either weight mode."""

    name = "golden"
    _transient = ("_model",)

    def __init__(self, bank: Bank, weight_mode: str = "banked") -> None:
        self.bank = bank
        self.weights = weight_mode
        self.layers = (INPUT, *(n.name for n in bank.nodes))
        self._model: GoldenModel | None = GoldenModel(bank, weight_mode)

    def prepare(self) -> None:
        """Nothing to build."""

    def expected_exact(self, bits: int) -> bool:
        return True

    def run(self, x: np.ndarray, schedule: Sequence[int]) -> list[Inference]:
        if self._model is None:
            self._model = GoldenModel(self.bank, self.weights)
        return run_by_width(self.bank, np.asarray(x), schedule, self._run_width)

    def _run_width(self, bits: int, x: np.ndarray) -> list[Inference]:
        values = self._model.run(x, bits, "all")
        return [Inference(bits, {name: values[name][j] for name in self.layers}) for j in range(len(x))]


def _flat_to_shapes(bank: Bank, flat: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    shapes = {INPUT: bank.input_shape, **bank.shapes}
    return {name: v.reshape(shapes[name]) for name, v in flat.items()}


class CsimLevel(_Lazy):
    """C simulation of a generated HLS project (g++ against the ap_types headers), every layer.

    The given inputs are written into the project's build folder and run by the compiled test
    bench in one process, in schedule order, so a reconstruct-mode project rebuilds its weights on
    every width change as it would in hardware.
    """

    name = "csim"

    def __init__(self, project: Path) -> None:
        from wavebits.codegen.project import read_project

        self.project = Path(project)
        self.meta = read_project(self.project, "hls")
        self.bank = read_bank(self.project / "bank.wbank")
        self.weights = self.meta["weights"]
        self.layers = tuple(self.meta["layers"])
        self.reconstructions = 0  # Haar-unit reconstructions of the runs in this process

    def prepare(self) -> None:
        """Compile the test bench (once for every worker)."""
        from .csim import build_csim

        build_csim(self.project)

    def expected_exact(self, bits: int) -> bool:
        return True

    def run(self, x: np.ndarray, schedule: Sequence[int]) -> list[Inference]:
        from .csim import build_csim, run_csim

        x = GoldenModel(self.bank).check_input(x)
        widths = widths_for(len(x), schedule)
        for b in set(widths):
            self.bank.check_width(b)
        results = run_csim(self.project, build_csim(self.project), list(zip(widths, range(len(x)), strict=True)),
                           inputs=x)
        self.reconstructions += results[-1][0] if results else 0
        return [Inference(b, _flat_to_shapes(self.bank, got)) for b, (_, got) in zip(widths, results, strict=True)]


class RtlLevel(_Lazy):
    """Cycle-accurate Verilator simulation of a generated RTL project, every layer and cycles.

    The inputs stream through the test bench in one run; the width is written in mid-stream
    (``switch_mode`` stream) or once the core is idle (idle) wherever the schedule changes it.
    """

    name = "rtl"
    _transient = ("last",)

    def __init__(self, project: Path, switch_mode: str = "stream", backpressure: bool | str = False,
                 vcd: Path | None = None) -> None:
        from wavebits.codegen.project import read_project

        self.project = Path(project)
        self.meta = read_project(self.project, "rtl")
        self.bank = read_bank(self.project / "bank.wbank")
        self.weights = self.meta["weights"]
        self.layers = tuple(layer["name"] for layer in self.meta["layers"])
        self.switch_mode, self.backpressure, self.vcd = switch_mode, backpressure, vcd
        self.last = None  # the last run's RtlRun (timing, events)

    def prepare(self) -> None:
        """Verilate and compile the test bench (once for every worker)."""
        from .rtlsim import build_rtlsim

        build_rtlsim(self.project, vcd=self.vcd is not None)

    def expected_exact(self, bits: int) -> bool:
        return True

    def cost(self, bits: int) -> float:
        """Relative simulation time of an inference at ``bits``: the MAC lanes are bit-serial, so its
        cycles grow with the width (what ``wavebits.sim.shard`` balances its shards by)."""
        return float(bits)

    def run(self, x: np.ndarray, schedule: Sequence[int]) -> list[Inference]:
        widths = widths_for(len(x), schedule)
        segments: list[tuple[int, int]] = []
        for b in widths:
            if segments and segments[-1][0] == b:
                segments[-1] = (b, segments[-1][1] + 1)
            else:
                segments.append((b, 1))
        return self.run_segments(x, segments)

    def run_segments(self, x: np.ndarray, segments: list[tuple[int, int]]) -> list[Inference]:
        """Run ``x`` as segments of (width, inferences), one width write each (even if equal)."""
        from .rtlsim import _hardware_outputs, simulate

        x = GoldenModel(self.bank).check_input(x)
        if sum(n for _, n in segments) != len(x):
            raise ValueError(f"segments hold {sum(n for _, n in segments)} inferences for {len(x)} inputs")
        for b, _ in segments:
            self.bank.check_width(b)
        run = simulate(self.project, self.meta, x, segments, self.vcd, self.switch_mode, self.backpressure)
        if run.events.cfg_error:
            raise WavebitsError(f"{self.project}: the core raised cfg_error (a width write it refused)")
        self.last = run
        bipolar = bipolar_at_one_bit(self.bank.nodes)
        out = []
        for inf in run.inferences:
            got = _hardware_outputs(self.meta, self.bank, inf, run.events, bipolar)
            out.append(Inference(inf.bits, {k: v[0] for k, v in got.items()},
                                 cycles=inf.cycles if inf.end >= 0 else None,
                                 tag=run.events.tags.get(inf.index, inf.bits)))
        return out


@contextmanager
def quiet_tensorflow() -> Iterator[None]:
    """Keep TensorFlow's, Keras's and hls4ml's warnings out of the user's way (logged at DEBUG)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in ("tensorflow", "absl", "h5py", "qkeras"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class Hls4mlLevel(_Lazy):
    """hls4ml's C simulation of each width as a QKeras model: the output layer only.

    Exact at every multi-bit width; at 1 bit only for banks whose bipolar tensors need no padding
    (``codegen/hls4ml_ref.py`` explains and bounds the difference), so ``expected_exact`` says so.
    """

    name = "hls4ml"
    weights = "banked"
    _transient = ("_models",)

    def __init__(self, bank: Bank, workdir: Path) -> None:
        from wavebits.codegen.hls4ml_ref import require_tensorflow

        require_tensorflow()  # before any work is sharded: one clear error naming the tf extra
        self.bank = bank
        self.workdir = Path(workdir)
        self.layers = (bank.output,)
        self._models: dict[int, Any] | None = {}

    def prepare(self) -> None:
        """Each process converts and compiles its own models (they cannot be pickled)."""

    def expected_exact(self, bits: int) -> bool:
        from wavebits.codegen.hls4ml_ref import bipolar_padding_layers

        return bits > 1 or not bipolar_padding_layers(self.bank)

    def _model(self, bits: int) -> Any:
        from wavebits.codegen.hls4ml_ref import hls4ml_model

        if self._models is None:
            self._models = {}
        if bits not in self._models:
            log.info("hls4ml: converting and compiling width %d", bits)
            with quiet_tensorflow():
                self._models[bits] = hls4ml_model(self.bank, bits, self.workdir / f"w{bits}-{os.getpid()}")
        return self._models[bits]

    def run(self, x: np.ndarray, schedule: Sequence[int]) -> list[Inference]:
        return run_by_width(self.bank, GoldenModel(self.bank).check_input(x), schedule, self._run_width)

    def _run_width(self, bits: int, x: np.ndarray) -> list[Inference]:
        from wavebits.codegen.hls4ml_ref import hls4ml_logits

        model = self._model(bits)
        with quiet_tensorflow():
            logits = hls4ml_logits(model, self.bank, x)
        return [Inference(bits, {self.bank.output: row}) for row in logits]


class QonnxLevel(_Lazy):
    """Each width of a trained model exported by Brevitas as QONNX and executed by qonnx.

    Needs the trained ``MultiScaleNet`` (a bank alone does not hold the float model Brevitas
    exports). qonnx runs BatchNorm in float32 and rounds half to even, so it gives the predicted
    class only and is never expected to be exact (``training/qonnx_export.py``).
    """

    name = "qonnx"
    weights = "banked"
    layers = (PREDICTION,)

    def __init__(self, model: Any, bank: Bank, workdir: Path, batch: int = 128) -> None:
        self.model, self.bank, self.workdir, self.batch = model, bank, Path(workdir), batch

    def prepare(self) -> None:
        """Each process exports its own files."""

    def expected_exact(self, bits: int) -> bool:
        return False

    def run(self, x: np.ndarray, schedule: Sequence[int]) -> list[Inference]:
        return run_by_width(self.bank, GoldenModel(self.bank).check_input(x), schedule, self._run_width)

    def _run_width(self, bits: int, x: np.ndarray) -> list[Inference]:
        from wavebits.training.qonnx_export import export_width, run_qonnx

        path = self.workdir / f"{self.bank.name}-w{bits}-{os.getpid()}.onnx"
        if not path.is_file():
            export_width(self.model, self.bank, bits, path, batch=min(self.batch, len(x)))
        pred = run_qonnx(path, x).argmax(axis=1)
        return [Inference(bits, {PREDICTION: np.asarray(int(p))}) for p in pred]
