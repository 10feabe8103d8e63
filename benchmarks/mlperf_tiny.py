"""The MLPerf Tiny networks (examples/) through the whole flow, one table.

Per network: parameters, on-chip weight bits per weight in both weight modes, golden-model
inferences/s, C-simulation parity (every width, then a switch schedule) and test quality. ResNet-8
trains on the CIFAR-10 JPEGs in ../shared/data when present; the others (speech commands, visual
wake words and ToyADMOS are not available here) train on seeded synthetic data, which the table
says. Training is short: the table shows the flow, not converged accuracy.

Usage:
    python benchmarks/mlperf_tiny.py [--epochs 2] [--cifar ../shared/data/cifar10-jpg/CIFAR-10-images.tar.gz]
                                     [--limit-train 5000] [--out docs/results]

Writes ``<out>/mlperf-tiny.md`` and ``<out>/mlperf-tiny.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

from catalog import NETWORKS, module, synthetic  # noqa: E402
from wavebits.training.run import deterministic  # noqa: E402

import wavebits as wb  # noqa: E402
from wavebits.bank.report import memory_bits, table  # noqa: E402

DEFAULT_CIFAR = ROOT.parent / "shared" / "data" / "cifar10-jpg" / "CIFAR-10-images.tar.gz"
SCHEDULE = [8, 1, 4, 2, 8, 3, 6, 1]
WIDTHS = (8, 7, 6, 5, 4, 3, 2, 1)


def golden_rate(bank, x: np.ndarray, bits: int, repeats: int = 3) -> float:
    """Golden-model inferences per second at ``bits`` (best of ``repeats``)."""
    model = wb.golden(bank)
    model.logits(x[:2], bits)  # weights and bounds cached
    best = min(_timed(lambda: model.logits(x, bits)) for _ in range(repeats))
    return len(x) / best


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=2, help="multiscale epochs per network")
    ap.add_argument("--float-epochs", type=int, default=3, help="float epochs before them")
    ap.add_argument("--cifar", type=Path, default=DEFAULT_CIFAR, help="CIFAR-10 JPEG folder or .tar.gz")
    ap.add_argument("--limit-train", type=int, default=5000, help="CIFAR-10 training images")
    ap.add_argument("--limit-test", type=int, default=1000, help="CIFAR-10 test images")
    ap.add_argument("--synthetic", type=int, default=400, help="samples of each synthetic data set")
    ap.add_argument("--vectors", type=int, default=4, help="C-simulation inputs per width")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    args = ap.parse_args()
    deterministic()
    rows, records = [], []
    t_all = time.perf_counter()
    for example in NETWORKS:
        file, shape, signed, weights = example.file, example.shape, example.signed, example.weights
        t0 = time.perf_counter()
        net = module(example)
        params = sum(p.numel() for p in net.parameters())
        real = file == "resnet8" and args.cifar.exists()
        if real:
            data = wb.load_data("cifar10", args.cifar, limit_train=args.limit_train, limit_test=args.limit_test)
            result = wb.train(net, data, widths=WIDTHS, epochs=args.epochs, float_epochs=args.float_epochs,
                              batch_size=64)
        else:
            data = synthetic(example, n=args.synthetic, test=max(args.synthetic // 5, 8))
            result = wb.train(net, data, widths=WIDTHS, epochs=args.epochs, float_epochs=args.float_epochs,
                              batch_size=32)
        bank = result.bank
        mem = memory_bits(bank)
        count = bank.weight_count()
        rate = golden_rate(bank, data.x_test[:64], 8)
        with TemporaryDirectory() as tmp:
            hls = wb.compile_hls(bank, Path(tmp) / "hls", weights=weights)
            x = data.x_test[:args.vectors]
            xs = np.concatenate([x] * len(WIDTHS) + [data.x_test[:len(SCHEDULE)]])
            report = hls.check(xs, [b for b in WIDTHS for _ in x] + SCHEDULE)
        quality = {p.bits: p.golden_accuracy for p in result.parity}
        task = result.task
        record = {
            "network": file, "parameters": params, "weights": count, "input": list(shape),
            "input_type": "int8" if signed else "uint8",
            "data": data.describe() if real else f"synthetic ({data.describe()})",
            "bits_per_weight": {"banked": mem["banked"] / count, "reconstruct": mem["reconstruct"] / count},
            "golden_per_s_8bit": rate, "csim_inferences": report.inferences,
            "csim_mismatches": report.mismatched_inferences, "csim_values_compared": report.values_compared,
            "csim_weights": weights, "parity_ok": all(p.ok for p in result.parity), "metric": task.metric,
            "quality": quality, "float": result.history.float_accuracy, "seconds": time.perf_counter() - t0,
        }
        records.append(record)
        q = " / ".join(task.format(quality[b]) for b in (8, 4, 2, 1))
        equal = report.inferences - report.mismatched_inferences
        rows.append([file, f"{params:,}", f"{mem['banked'] / count:.2f}", f"{mem['reconstruct'] / count:.2f}",
                     f"{rate:,.0f}", f"{equal}/{report.inferences} ({weights})",
                     "ok" if record["parity_ok"] else "VIOLATED", f"{task.metric}: {q}",
                     "CIFAR-10 JPEG" if real else "synthetic", f"{record['seconds'] / 60:.1f}"])
        print(table(["network", "params", "banked b/w", "recon b/w", "golden/s", "C-sim equal", "golden=fq",
                     "quality 8/4/2/1 bit", "data", "min"], rows[-1:]), flush=True)
    elapsed = time.perf_counter() - t_all
    headers = ["network", "params", "banked bits/weight", "reconstruct bits/weight", "golden inferences/s (8 bit)",
               "C-sim inferences equal", "golden = fake-quant", "test quality 8/4/2/1 bit", "data", "minutes"]
    lines = [
        "# MLPerf Tiny networks through wavebits",
        "",
        f"Each network (examples/) imported through torch.fx, trained for every width 8..1 ({args.epochs} multiscale "
        f"epochs; short: this shows the flow, not converged accuracy), exported to a bank, checked golden against "
        f"fake-quant, then compiled to HLS C++ and simulated with g++ at every width ({args.vectors} inputs each) and "
        f"along the switch schedule {','.join(map(str, SCHEDULE))}, every layer compared with the golden model. "
        f"{elapsed / 60:.1f} min on 2 CPU cores.",
        "",
        "Reproduce: `python benchmarks/mlperf_tiny.py --epochs "
        f"{args.epochs} --float-epochs {args.float_epochs} --limit-train {args.limit_train} "
        f"--limit-test {args.limit_test} --synthetic {args.synthetic} --vectors {args.vectors}`",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
        "Data: ResNet-8 trains on the CIFAR-10 JPEGs (a subset; lossy JPEG) when ../shared/data has them; DS-CNN "
        "(speech commands MFCCs), MobileNetV1 0.25 (visual wake words) and the autoencoder (ToyADMOS features) train "
        "on seeded synthetic class prototypes plus noise, because those data sets are not available here: their "
        "quality figures only show that training runs. The autoencoder's quality is the reconstruction MSE.",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mlperf-tiny.md").write_text("\n".join(lines) + "\n")
    (args.out / "mlperf-tiny.json").write_text(json.dumps({"schema": "wavebits-mlperf-tiny", "schema_version": 1,
                                                            "networks": records}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
