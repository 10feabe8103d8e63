"""The paper's comparison on our data: one multiscale model vs dedicated per-width models, the
8-bit model evaluated at every width, and the ablation ladder E1..E6 (DESIGN.md section 1).

Usage:
    python benchmarks/ablations.py --data digits
    python benchmarks/ablations.py --data mnist --data-dir ../shared/data/mnist [--epochs 10]
    python benchmarks/ablations.py --data digits --switches

All models start from one float model trained once. Writes ``<out>/<data>-ablations.md`` (a
markdown table of accuracy per width) and ``<out>/<data>-ablations.png`` (accuracy against width).
``--switches`` trains instead the default recipe (E6) beside each recipe switch for the low widths
(in-place distillation, per-width loss weights), each switch alone, into ``<out>/<data>-switches.md``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from wavebits.training.config import load_config
from wavebits.training.loop import float_state
from wavebits.training.loop import train as train_network
from wavebits.training.model import Recipe
from wavebits.training.run import deterministic, load_network, load_training_data

from wavebits.reports import command_line

ROOT = Path(__file__).resolve().parents[1]

SHARED = Recipe(per_width_act=False, per_width_bn=False, per_width_weight_quant=False, wavelet=False)
LADDER = [
    ("E1 8-bit model at every width", SHARED, "8-bit only"),
    ("E2 dynamic training, single scale", SHARED, None),
    ("E3 + per-width activation quantizers", replace(SHARED, per_width_act=True), None),
    ("E4 + per-width BN", replace(SHARED, per_width_act=True, per_width_bn=True), None),
    ("E5 + per-width weight quantizers", Recipe(wavelet=False), None),
    ("E6 + wavelet components (one model)", Recipe(), None),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="digits", choices=["digits", "mnist", "fashion-mnist"])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--epochs", type=int, default=None, help="multiscale epochs per model (default: config)")
    ap.add_argument("--float-epochs", type=int, default=None,
                    help="float pre-training epochs of the one float model (default: config)")
    ap.add_argument("--switches", action="store_true",
                    help="the recipe switches for low widths against the default recipe, not the ladder")
    ap.add_argument("--seeds", default=None,
                    help="with --switches: comma-separated training seeds; the table shows their mean")
    ap.add_argument("--only", default=None,
                    help="with --switches: comma-separated switches to train besides e6 ("
                         + ", ".join(key for key, _, _ in switches([8])) + ")")
    ap.add_argument("--dedicated", default=None,
                    help="with --switches: comma-separated widths to train a dedicated model for, from the same "
                         "float model and with the same epochs; the table then gives each model's gap to them")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: the machine's cores)")
    ap.add_argument("--out", type=Path, default=Path("docs/results"))
    args = ap.parse_args()
    deterministic(threads=args.threads)
    cfg = load_config(None, args.data, data_dir=args.data_dir, epochs=args.epochs, float_epochs=args.float_epochs,
                      threads=args.threads)
    data = load_training_data(cfg)
    network, _ = load_network(cfg, data.input_shape)
    widths = list(cfg.widths)
    t0 = time.perf_counter()

    def train(run, data, float_model_state=None):
        return train_network(run, data, network, float_model_state=float_model_state)

    def dedicated_accuracy(run, b: int, start) -> float:
        """Accuracy of a model trained at width ``b`` alone, from the float model ``start``."""
        _, h = train(replace(run, widths=(b,), probabilities=None, float_epochs=0), data, float_model_state=start)
        return h.accuracy[b]

    if args.switches:
        seeds = [int(v) for v in args.seeds.split(",")] if args.seeds else [cfg.seed]
        runs: dict[str, list[dict[int, float]]] = {}
        minutes: dict[str, float] = {}
        known = [key for key, _, _ in switches(widths)]
        chosen = ["e6", *args.only.split(",")] if args.only else known
        if unknown := set(chosen) - set(known):
            ap.error(f"--only: unknown switch {sorted(unknown)[0]!r} (known: {', '.join(known)})")
        for seed in seeds:  # per seed: its float model, then every switch from it
            run = replace(cfg, seed=seed)
            base, hist = train(replace(run, epochs=0), data)
            start = float_state(base)
            runs.setdefault("float model", []).append(dict.fromkeys(widths, hist.float_accuracy))
            for key, label, recipe in switches(widths):
                if key not in chosen:
                    continue
                t = time.perf_counter()
                _, h = train(replace(run, recipe=recipe, float_epochs=0), data, float_model_state=start)
                minutes[label] = minutes.get(label, 0.0) + (time.perf_counter() - t) / 60 / len(seeds)
                runs.setdefault(label, []).append(h.accuracy)
                print(f"seed {seed} {label}: " + " ".join(f"{b}:{100 * a:.2f}" for b, a in h.accuracy.items()),
                      flush=True)
            if args.dedicated:
                t = time.perf_counter()
                dedicated = dict.fromkeys(widths, float("nan"))
                for b in (int(v) for v in args.dedicated.split(",")):
                    dedicated[b] = dedicated_accuracy(run, b, start)
                    print(f"seed {seed} dedicated {b}-bit: {100 * dedicated[b]:.2f}", flush=True)
                minutes[DEDICATED] = minutes.get(DEDICATED, 0.0) + (time.perf_counter() - t) / 60 / len(seeds)
                runs.setdefault(DEDICATED, []).append(dedicated)
        results = {label: {b: float(np.mean([r[b] for r in rs])) for b in widths} for label, rs in runs.items()}
        write_switches(args.out, cfg, results, minutes, widths, time.perf_counter() - t0, len(data.x_test), seeds)
        return
    base, hist = train(replace(cfg, epochs=0), data)  # the float model every run starts from
    start = float_state(base)
    results: dict[str, dict[int, float]] = {"float model": dict.fromkeys(widths, hist.float_accuracy)}
    for label, recipe, mode in LADDER:
        probs = tuple(1.0 if b == 8 else 0.0 for b in widths) if mode else cfg.probabilities
        run = replace(cfg, recipe=recipe, probabilities=probs, float_epochs=0)
        _, h = train(run, data, float_model_state=start)
        results[label] = h.accuracy
        print(f"{label}: " + " ".join(f"{b}:{100 * a:.2f}" for b, a in h.accuracy.items()), flush=True)
    dedicated = {}
    for b in widths:
        dedicated[b] = dedicated_accuracy(cfg, b, start)
        print(f"dedicated {b}-bit: {100 * dedicated[b]:.2f}", flush=True)
    results[DEDICATED] = dedicated
    elapsed = time.perf_counter() - t0
    write_report(args.out, cfg, results, widths, elapsed, len(data.x_test))


def switches(widths: list[int]) -> list[tuple[str, str, Recipe]]:
    """(key for ``--only``, label, recipe): the default recipe (E6), then each switch for the low
    widths alone, then the sandwich rule and every width per batch, with distillation."""
    low = tuple(2.0 if b <= 2 else 1.0 for b in widths)
    n = len(widths)
    return [
        ("e6", "E6 default recipe", Recipe()),
        ("distill", "+ in-place distillation from the widest width", Recipe(distill=True)),
        ("weights", "+ loss weight 2 at widths <= 2", Recipe(loss_weights=low)),
        ("sandwich", "+ sandwich: widest, narrowest and 2 drawn widths per batch", Recipe(widths_per_step=4)),
        ("sandwich-distill", "+ sandwich and distillation", Recipe(widths_per_step=4, distill=True)),
        ("all", f"+ all {n} widths per batch", Recipe(widths_per_step=n)),
        ("all-distill", f"+ all {n} widths per batch and distillation", Recipe(widths_per_step=n, distill=True)),
    ]


DEDICATED = "dedicated per-width models"


def _cell(v: float, fmt: str) -> str:
    return "-" if np.isnan(v) else format(v, fmt)


def write_switches(out: Path, cfg, results: dict[str, dict[int, float]], minutes: dict[str, float],
                   widths: list[int], elapsed: float, n_test: int, seeds: list[int]) -> None:
    """``<out>/<data>-switches.md``: accuracy per width of each switch (mean over ``seeds``), its
    training minutes (dedicated models: all of them together), its difference to E6 and, with
    ``dedicated``, every one-model row's difference to the dedicated models."""
    out.mkdir(parents=True, exist_ok=True)
    base = results["E6 default recipe"]
    lines = [
        f"# {cfg.dataset}: recipe switches for low widths ({cfg.arch})",
        "",
        f"Test accuracy (%) on {n_test} test images, mean over seeds {', '.join(map(str, seeds))} (each seed: "
        f"a float model of {cfg.float_epochs} epochs, then {cfg.epochs} multiscale epochs per model from it), "
        f"batch {cfg.batch_size}; {elapsed / 60:.1f} min in all.",
        f"Reproduce: `{command_line(ROOT)}`",
        "",
        "| model | " + " | ".join(f"{b} bit" for b in widths) + " | mean | train min |",
        "|---|" + "---|" * (len(widths) + 2),
    ]
    for label, acc in results.items():
        lines.append(f"| {label} | " + " | ".join(_cell(100 * acc[b], ".2f") for b in widths)
                     + f" | {_cell(100 * float(np.mean(list(acc.values()))), '.2f')} | "
                     + (f"{minutes[label]:.1f}" if label in minutes else "") + " |")
    lines += ["", "| switch minus E6 (points) | " + " | ".join(f"{b} bit" for b in widths) + " | mean |",
              "|---|" + "---|" * (len(widths) + 1)]
    for label, acc in results.items():
        if label.startswith("+"):
            diff = [100 * (acc[b] - base[b]) for b in widths]
            lines.append(f"| {label} | " + " | ".join(f"{d:+.2f}" for d in diff) + f" | {sum(diff) / len(diff):+.2f} |")
    if DEDICATED in results:
        ded = results[DEDICATED]
        lines += ["", "| one model minus dedicated (points) | " + " | ".join(f"{b} bit" for b in widths) + " |",
                  "|---|" + "---|" * len(widths)]
        for label, acc in results.items():
            if label.startswith(("E6", "+")):
                lines.append(f"| {label} | " + " | ".join(_cell(100 * (acc[b] - ded[b]), "+.2f") for b in widths)
                             + " |")
    (out / f"{cfg.dataset}-switches.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def write_report(out: Path, cfg, results: dict[str, dict[int, float]], widths: list[int], elapsed: float,
                 n_test: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    one, ded, e1 = results[LADDER[-1][0]], results[DEDICATED], results[LADDER[0][0]]
    lines = [
        f"# {cfg.dataset}: one model for all widths vs dedicated models ({cfg.arch})",
        "",
        f"Test accuracy (%) on {n_test} test images. Float model ({cfg.float_epochs} epochs), then {cfg.epochs} "
        f"multiscale epochs per "
        f"model, batch {cfg.batch_size}, seed {cfg.seed}; {elapsed / 60:.1f} min in all.",
        f"Reproduce: `{command_line(ROOT)}`",
        "",
        "| model | " + " | ".join(f"{b} bit" for b in widths) + " |",
        "|---|" + "---|" * len(widths),
    ]
    for label, acc in results.items():
        lines.append(f"| {label} | " + " | ".join(f"{100 * acc[b]:.2f}" for b in widths) + " |")
    lines += ["", "| one model minus dedicated (points) | " + " | ".join(
        f"{100 * (one[b] - ded[b]):+.2f}" for b in widths) + " |", "|---|" + "---|" * len(widths)]
    if 2 in widths:
        lines += ["", f"One model at 2 bits beats the 8-bit model evaluated at 2 bits by "
                      f"{100 * (one[2] - e1[2]):+.2f} points."]
    (out / f"{cfg.dataset}-ablations.md").write_text("\n".join(lines) + "\n")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, acc in results.items():
        style = "--" if label.startswith(("E", "float")) and not label.startswith("E6") else "-"
        ax.plot(widths, [100 * acc[b] for b in widths], style, marker="o", label=label)
    ax.set_xlabel("bit-width")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{cfg.dataset} ({cfg.arch}): accuracy against width")
    ax.invert_xaxis()
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / f"{cfg.dataset}-ablations.png", dpi=120)
    print("\n".join(lines))


if __name__ == "__main__":
    np.set_printoptions(precision=2)
    main()
