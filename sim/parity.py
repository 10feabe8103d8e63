"""One checker for every execution level: run inputs along a width schedule, compare every layer.

A *level* (``wavebits.sim.levels``) answers one question: run these inputs along this width
schedule and give every layer's integers (and cycles where it counts them). ``check`` asks it and a
reference (the golden model) the same question and compares every layer of every inference,
integer for integer; a ``ParityReport`` holds the counts and the first difference. Reports
serialize to JSON (``ParityReport.to_dict``; the schema is in ``docs/reports.md``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from wavebits.reports import SCHEMA_VERSION

if TYPE_CHECKING:
    from wavebits.bank.model import Bank

    from .shard import Executor

PREDICTION = "prediction"
"""Pseudo-layer: the predicted class (argmax of the output layer, ties to the lowest class), for
levels that give no exact integers (qonnx runs float BatchNorm)."""

WIDTH_TAG = "(output width tag)"
"""Pseudo-layer of a mismatch where the hardware tagged its outputs with another width."""


@dataclass(frozen=True)
class LayerMismatch:
    """The first difference between two runs, in graph order."""

    layer: str
    channel: int
    index: tuple[int, ...]
    expected: int
    got: int

    def __str__(self) -> str:
        return (f"layer {self.layer!r}, channel {self.channel}, index {self.index}: "
                f"expected {self.expected}, got {self.got}")


def first_mismatch(
    expected: dict[str, np.ndarray], got: dict[str, np.ndarray], order: Iterable[str]
) -> LayerMismatch | None:
    """The first differing value over layers in ``order`` (index includes the batch axis)."""
    for name in order:
        if name not in expected or name not in got:
            continue
        a, b = np.asarray(expected[name]), np.asarray(got[name])
        if a.shape != b.shape:
            return LayerMismatch(name, -1, (), int(np.prod(a.shape)), int(np.prod(b.shape)))
        diff = np.argwhere(a != b)
        if len(diff):
            idx = tuple(int(i) for i in diff[0])
            return LayerMismatch(name, idx[1] if len(idx) > 1 else 0, idx, int(a[idx]), int(b[idx]))
    return None


@dataclass
class Inference:
    """One inference as a level ran it.

    ``outputs`` maps layer name -> that layer's integers for this one input (the golden model's
    layout, no batch axis); ``cycles`` is set by levels that count clock cycles; ``tag`` is the
    width the hardware says its outputs were computed at, where it says so; ``skipped`` says why a
    level that cannot express a width (FINN) gave nothing: the inference is counted, not compared.
    """

    bits: int
    outputs: dict[str, np.ndarray]
    cycles: int | None = None
    tag: int | None = None
    skipped: str | None = None  # why the level could not run this width (no outputs then)


@runtime_checkable
class Level(Protocol):
    """An execution level: golden, csim, rtl, hls4ml, qonnx.

    ``name`` names it in reports; ``layers`` lists the layers its inferences carry, in graph order
    (``(PREDICTION,)`` for a level that only classifies); ``weights`` is its weight mode.
    """

    name: str
    layers: tuple[str, ...]
    weights: str
    bank: Bank

    def prepare(self) -> None:
        """Build what every worker running this level shares (compiled simulators), once."""
        ...

    def run(self, x: np.ndarray, schedule: Sequence[int]) -> list[Inference]:
        """Run input ``x[k]`` at width ``schedule[k % len(schedule)]`` for every k, in order."""
        ...

    def expected_exact(self, bits: int) -> bool:
        """Whether this level claims to equal the golden model at ``bits``."""
        ...


def widths_for(n: int, schedule: Sequence[int]) -> list[int]:
    """The width of each of ``n`` inferences: ``schedule`` repeated."""
    if not schedule:
        raise ValueError("empty width schedule")
    return [int(schedule[k % len(schedule)]) for k in range(n)]


def plan(n_vectors: int, bits: Sequence[int], schedule: Sequence[int]) -> tuple[list[int], list[int]]:
    """Which vector runs at which width: every vector at every width in ``bits``, then ``schedule``.

    The schedule part runs ``max(len(schedule), n_vectors)`` inferences, vector ``k % n_vectors`` at
    ``schedule[k % len(schedule)]`` (a width switch between consecutive inferences). Returns the
    vector index and the width of every inference.
    """
    vectors = [i for _ in bits for i in range(n_vectors)]
    widths = [int(b) for b in bits for _ in range(n_vectors)]
    if schedule:
        count = max(len(schedule), n_vectors)
        vectors += [k % n_vectors for k in range(count)]
        widths += widths_for(count, schedule)
    return vectors, widths


def switching_order(widths: Sequence[int]) -> list[int]:
    """Widths ordered so that consecutive ones differ most: widest, narrowest, next widest, ..."""
    ws = sorted(set(widths), reverse=True)
    out = []
    while ws:
        out.append(ws.pop(0))
        if ws:
            out.append(ws.pop())
    return out


def random_schedule(widths: Sequence[int], n: int, seed: int = 0) -> list[int]:
    """``n`` widths drawn at random (seeded), each other than the one before: ``n - 1`` switches."""
    rng = np.random.default_rng(seed)
    out: list[int] = []
    for _ in range(n):
        choices = [b for b in widths if not out or b != out[-1]]
        out.append(int(choices[rng.integers(len(choices))]))
    return out


@dataclass
class Mismatch:
    """Where a level first differs from the reference."""

    level: str
    inference: int
    bits: int
    layer: str
    channel: int
    index: tuple[int, ...]  # within the layer's tensor, no batch axis
    expected: int
    got: int

    def __str__(self) -> str:
        return (f"{self.level}: inference {self.inference} (width {self.bits}), layer {self.layer!r}, "
                f"channel {self.channel}, index {self.index}: expected {self.expected}, got {self.got}")

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "inference": self.inference, "bits": self.bits, "layer": self.layer,
                "channel": self.channel, "index": list(self.index), "expected": self.expected, "got": self.got}


@dataclass
class WidthCount:
    """Inferences at one width, and how many of them differ."""

    inferences: int = 0
    mismatched: int = 0
    expected_exact: bool = True
    skipped: str | None = None  # the level could not run this width: why


@dataclass
class ParityReport:
    """A level against a reference over every layer of every inference."""

    level: str
    reference: str
    weights: str
    layers: list[str]
    schedule: list[int]  # the width of every inference, in order
    per_width: dict[int, WidthCount] = field(default_factory=dict)
    mismatched_inferences: int = 0
    values_compared: int = 0
    values_differing: int = 0
    first: Mismatch | None = None
    cycles: dict[int, int] = field(default_factory=dict)  # width -> minimum cycles per inference
    wall_s: float = 0.0
    workers: int = 1
    executor: str = "serial"

    @property
    def inferences(self) -> int:
        return len(self.schedule)

    @property
    def switches(self) -> int:
        return sum(a != b for a, b in zip(self.schedule, self.schedule[1:], strict=False))

    @property
    def ok(self) -> bool:
        """Something was compared, and no width the level claims exact differs."""
        return self.values_compared > 0 and not any(c.mismatched for c in self.per_width.values() if c.expected_exact)

    def text(self) -> str:
        """A table per width and the verdict, as the CLI prints it."""
        from wavebits.bank.report import table

        rows = [[b, c.inferences, c.mismatched, "yes" if c.expected_exact else "no",
                 self.cycles.get(b, "")] for b, c in sorted(self.per_width.items(), reverse=True)]
        only = "" if len(self.layers) > 1 else f" (this level gives only {self.layers[0]!r})"
        out = [f"{self.level} ({self.weights} weights) against {self.reference}: {self.inferences} inferences, "
               f"{self.switches} width switches, layers compared: {len(self.layers)}{only}",
               table(["width", "inferences", "differ", "expected exact", "cycles/inference"], rows)]
        if self.first is None:
            out.append(f"every compared layer of every inference equals {self.reference}: 0 mismatches")
        else:
            verdict = "FAIL" if not self.ok else "within what this level is expected to reach"
            out.append(f"{self.mismatched_inferences} inferences differ ({self.values_differing} of "
                       f"{self.values_compared} values; {verdict}); first: {self.first}")
        out += [f"width {b} skipped: {c.skipped}" for b, c in sorted(self.per_width.items(), reverse=True)
                if c.skipped]
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``docs/reports.md``); only ``timing`` differs between equal runs."""
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "parity",
            "level": self.level,
            "reference": self.reference,
            "weights": self.weights,
            "ok": self.ok,
            "layers": list(self.layers),
            "inferences": self.inferences,
            "switches": self.switches,
            "per_width": [{"bits": b, "inferences": c.inferences, "mismatched": c.mismatched,
                           "expected_exact": c.expected_exact, "skipped": c.skipped}
                          for b, c in sorted(self.per_width.items(), reverse=True)],
            "mismatched_inferences": self.mismatched_inferences,
            "values_compared": self.values_compared,
            "values_differing": self.values_differing,
            "first_mismatch": None if self.first is None else self.first.to_dict(),
            "timing": {"wall_s": round(self.wall_s, 3), "workers": self.workers, "executor": self.executor,
                       "cycles_per_width": {str(b): c for b, c in sorted(self.cycles.items(), reverse=True)}},
        }


def _value(inf: Inference, layer: str, output: str) -> np.ndarray | None:
    if layer == PREDICTION and PREDICTION not in inf.outputs and output in inf.outputs:
        return np.asarray(int(np.asarray(inf.outputs[output]).reshape(-1).argmax()))
    return inf.outputs.get(layer)


def compare(level: Level, reference: Level, got: list[Inference], want: list[Inference], output: str,
            reference_name: str | None = None, offset: int = 0) -> ParityReport:
    """Compare two runs of the same inputs and schedule layer by layer (``output``: the last layer).

    Inferences are numbered from ``offset`` in the report (a block of a longer run)."""
    if len(got) != len(want):
        raise ValueError(f"{level.name} ran {len(got)} inferences, {reference.name} {len(want)}")
    layers = [name for name in level.layers if name == PREDICTION or name in reference.layers]
    report = ParityReport(level.name, reference_name or reference.name, level.weights, layers,
                          [w.bits for w in want])
    for k, (g, w) in enumerate(zip(got, want, strict=True), start=offset):
        count = report.per_width.setdefault(w.bits, WidthCount(expected_exact=level.expected_exact(w.bits)))
        count.inferences += 1
        if g.skipped is not None:
            count.skipped = g.skipped
            continue
        if g.cycles is not None:
            report.cycles[w.bits] = min(report.cycles.get(w.bits, g.cycles), g.cycles)
        where: Mismatch | None = None
        if g.tag is not None and g.tag != w.bits:
            where = Mismatch(level.name, k, w.bits, WIDTH_TAG, -1, (), w.bits, g.tag)
        for name in layers:
            a, b = _value(w, name, output), _value(g, name, output)
            if a is None or b is None:
                raise ValueError(f"layer {name!r} missing from inference {k} of "
                                 f"{reference.name if a is None else level.name}")
            report.values_compared += a.size
            if a.shape != b.shape:
                report.values_differing += a.size
                where = where or Mismatch(level.name, k, w.bits, name, -1, (), a.size, b.size)
                continue
            differ = a != b
            report.values_differing += int(differ.sum())
            if where is None and differ.any():
                m = first_mismatch({name: a[None]}, {name: b[None]}, [name])
                assert m is not None
                idx = m.index[1:]
                where = Mismatch(level.name, k, w.bits, name, idx[0] if idx else 0, idx, m.expected, m.got)
        if where is not None:
            report.mismatched_inferences += 1
            count.mismatched += 1
            report.first = report.first or where
    return report


def merge(parts: Sequence[ParityReport]) -> ParityReport:
    """One report from reports of consecutive blocks of one run, in order."""
    first = parts[0]
    out = ParityReport(first.level, first.reference, first.weights, list(first.layers), [])
    for part in parts:
        out.schedule += part.schedule
        for b, c in part.per_width.items():
            mine = out.per_width.setdefault(b, WidthCount(expected_exact=c.expected_exact))
            mine.inferences += c.inferences
            mine.mismatched += c.mismatched
            mine.skipped = mine.skipped or c.skipped
        out.mismatched_inferences += part.mismatched_inferences
        out.values_compared += part.values_compared
        out.values_differing += part.values_differing
        out.first = out.first or part.first
        for b, c in part.cycles.items():
            out.cycles[b] = min(out.cycles.get(b, c), c)
    return out


BLOCK = 256
"""Inferences run and compared at a time: bounds memory (every layer of every inference is held
only for one block) for sweeps of any length."""


def check_range(level: Level, reference: Level, x: np.ndarray, widths: Sequence[int], offset: int = 0,
                block: int = BLOCK) -> ParityReport:
    """Run and compare inferences ``offset ..`` in blocks of ``block``; what one shard does."""
    output = level.bank.output
    parts = []
    for i in range(0, len(x), block):
        xb, wb = x[i:i + block], list(widths[i:i + block])
        parts.append(compare(level, reference, level.run(xb, wb), reference.run(xb, wb), output,
                             offset=offset + i))
    return merge(parts)


def check(level: Level, x: np.ndarray, schedule: Sequence[int], reference: Level | None = None,
          executor: Executor | None = None, block: int = BLOCK) -> ParityReport:
    """Run ``x`` along ``schedule`` on ``level`` and on ``reference`` (default: the golden model of
    the level's bank, banked weights) and compare every layer of every inference.

    Inferences run in blocks of ``block`` (a hardware level starts each block from reset);
    ``executor`` (``wavebits.sim.shard``: processes or Ray) shards them, each shard comparing its
    own inferences, so only counts travel back. The report equals the serial one but for ``timing``.
    """
    from .levels import GoldenLevel
    from .shard import SerialExecutor

    bank = level.bank
    reference = reference if reference is not None else GoldenLevel(bank)
    executor = executor or SerialExecutor()
    widths = widths_for(len(x), schedule)
    for b in set(widths):
        bank.check_width(b)
    if not len(x):
        raise ValueError("no inputs to check")
    t0 = time.perf_counter()
    report = merge(executor.map_shards(check_range, level, reference, np.asarray(x), widths, block))
    report.wall_s = time.perf_counter() - t0
    report.workers, report.executor = executor.workers, executor.name
    return report
