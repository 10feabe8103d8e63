"""Training configuration: a TOML file over per-data-set defaults (``training/configs/*.toml``).

Every value is type-checked and range-checked when the file is read, before any data is loaded
or any training step runs; an error names the file and the ``section.key``.

Sections and keys::

    [data]    name (digits, mnist, fashion-mnist, cifar10, npz, folder), dir (folder or file),
              stream (folder only: read the train images from their files as training goes, not all first)
    [model]   arch (a built-in network) or source ("file.py:function" returning an nn.Module),
              weights (a .pt state dict: the shared float weights start from it, no float training),
              widths (distinct widths in 1..8)
    [recipe]  per_width_act, per_width_bn, per_width_weight_quant, wavelet, distill (booleans),
              loss_weights (one non-negative weight per width), widths_per_step (widths trained
              on each batch: 1 draws one; more adds the widest and the narrowest, then drawn ones)
    [train]   seed, batch_size, float_epochs, float_lr, warmup_batches, epochs, lr, probabilities,
              mul_bits, limit_train, limit_test, task (classify, or reconstruct for an autoencoder),
              device (cpu or cuda; default cuda when available), threads (CPU threads per process;
              default the machine's cores over its training processes), workers (DataLoader worker
              processes, default 0: batches are read in the training process)

``epochs`` counts the multiscale epochs (passes over the data; each batch trains
``recipe.widths_per_step`` widths); ``float_epochs`` the float
pre-training before them, skipped when the network comes with weights.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from wavebits.archs import ARCHS
from wavebits.data import DATASETS
from wavebits.errors import WavebitsError

from .recipe import Recipe

DEVICES = ("cpu", "cuda")

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``epochs`` counts multiscale epochs (passes over the data); ``float_epochs`` the
    float pre-training before them (skipped when weights are given)."""

    dataset: str = "digits"
    data_dir: str | None = None
    arch: str = "cnn-digits"
    source: str | None = None  # "file.py:function" of a user's nn.Module (instead of arch)
    weights: str | None = None  # a state dict for the module: start from it, no float training
    widths: tuple[int, ...] = (8, 7, 6, 5, 4, 3, 2, 1)
    seed: int = 0
    batch_size: int = 64
    float_epochs: int = 30
    float_lr: float = 0.005
    warmup_batches: int = 10
    epochs: int = 40
    lr: float = 0.002
    probabilities: tuple[float, ...] | None = None
    mul_bits: int | None = None  # significant bits of the requant multipliers (None: loop.default_mul_bits)
    limit_train: int | None = None
    limit_test: int | None = None
    task: str = "classify"  # or "reconstruct": an autoencoder, trained to give back its (unlabelled) input
    stream: bool = False  # folder data: the train split is read image by image as training goes
    device: str | None = None  # cpu or cuda; None: cuda when available, else cpu
    threads: int | None = None  # CPU threads per process; None: the machine's cores over its processes
    workers: int = 0  # DataLoader worker processes
    recipe: Recipe = field(default_factory=Recipe)

    def sampling(self) -> list[float]:
        """Normalized probability of drawing each width per step."""
        p = list(self.probabilities) if self.probabilities else [1.0] * len(self.widths)
        total = sum(p)
        return [v / total for v in p]

    @property
    def model_name(self) -> str:
        """The built-in architecture's name, or the source's function name."""
        return self.source.rpartition(":")[2] if self.source else self.arch


def _err(path: Path | str, key: str, problem: str) -> WavebitsError:
    return WavebitsError(f"{path}: {key}: {problem}")


def _int(lo: int, hi: int | None = None):
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
            return f"expected an integer in {lo}..{hi if hi is not None else ''}, got {v!r}"
        return None
    return check


def _positive_float(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
        return f"expected a positive number, got {v!r}"
    return None


def _string(v: Any) -> str | None:
    return None if isinstance(v, str) and v and "\n" not in v else f"expected a non-empty string, got {v!r}"


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"expected true or false, got {v!r}"


def _widths(v: Any) -> str | None:
    ok = isinstance(v, list | tuple) and v and all(isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= 8
                                                   for b in v) and len(set(v)) == len(v)
    return None if ok else f"expected distinct widths in 1..8, got {v!r}"


def _weights_list(v: Any) -> str | None:
    ok = isinstance(v, list | tuple) and v and all(
        not isinstance(p, bool) and isinstance(p, int | float) and math.isfinite(p) and p >= 0 for p in v) \
        and sum(v) > 0
    return None if ok else f"expected a list of non-negative numbers, got {v!r}"


# (section, key) -> (TrainConfig field, check)
KEYS: dict[tuple[str, str], tuple[str, Any]] = {
    ("data", "name"): ("dataset", lambda v: None if v in DATASETS else f"expected one of {', '.join(DATASETS)}, "
                                                                      f"got {v!r}"),
    ("data", "dir"): ("data_dir", _string),
    ("data", "stream"): ("stream", _bool),
    ("model", "arch"): ("arch", lambda v: None if v in ARCHS else f"unknown architecture {v!r} "
                                                                  f"(known: {', '.join(ARCHS)})"),
    ("model", "source"): ("source", lambda v: None if isinstance(v, str) and ".py:" in v
                          else f"expected \"file.py:function\", got {v!r}"),
    ("model", "weights"): ("weights", _string),
    ("model", "widths"): ("widths", _widths),
    ("train", "seed"): ("seed", _int(0, 2**32 - 1)),
    ("train", "batch_size"): ("batch_size", _int(1, 1 << 16)),
    ("train", "float_epochs"): ("float_epochs", _int(0, 100_000)),
    ("train", "float_lr"): ("float_lr", _positive_float),
    ("train", "warmup_batches"): ("warmup_batches", _int(1, 1 << 20)),
    ("train", "epochs"): ("epochs", _int(0, 100_000)),
    ("train", "lr"): ("lr", _positive_float),
    ("train", "probabilities"): ("probabilities", _weights_list),
    ("train", "mul_bits"): ("mul_bits", _int(8, 40)),
    ("train", "limit_train"): ("limit_train", _int(1)),
    ("train", "limit_test"): ("limit_test", _int(1)),
    ("train", "task"): ("task", lambda v: None if v in ("classify", "reconstruct")
                        else f"expected 'classify' or 'reconstruct', got {v!r}"),
    ("train", "device"): ("device", lambda v: None if v in DEVICES else f"expected one of {', '.join(DEVICES)}, "
                                                                        f"got {v!r}"),
    ("train", "threads"): ("threads", _int(1, 4096)),
    ("train", "workers"): ("workers", _int(0, 1024)),
    **{("recipe", f.name): (f.name, _bool) for f in fields(Recipe) if f.type == "bool"},
    ("recipe", "loss_weights"): ("loss_weights", _weights_list),
    ("recipe", "widths_per_step"): ("widths_per_step", _int(1, 8)),
}
PATH_KEYS = {("data", "dir"), ("model", "source"), ("model", "weights")}


def _resolve(base: Path, value: str, key: tuple[str, str]) -> str:
    """A path in a config is relative to the config file (unless it exists as given)."""
    if key == ("model", "source"):
        file, _, func = value.rpartition(":")
        return f"{_resolve(base, file, ('model', 'weights'))}:{func}"
    p = Path(value)
    return str(p if p.is_absolute() or p.exists() else base / p)


def load_config(path: str | Path | None = None, dataset: str | None = None, **overrides: Any) -> TrainConfig:
    """Read a config file (or the defaults of ``dataset``), then apply ``overrides`` (None: keep)."""
    if path is None:
        path = CONFIG_DIR / f"{dataset or 'digits'}.toml"
        if dataset in ("npz", "folder"):  # the user's own data: the digits defaults, the user's files
            path = CONFIG_DIR / "custom.toml"
    path = Path(path)
    if not path.is_file():
        raise WavebitsError(f"{path}: no such config file")
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise WavebitsError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise WavebitsError(f"{path}: not valid TOML ({e})") from None
    sections = sorted({s for s, _ in KEYS})
    kw: dict[str, Any] = {}
    recipe: dict[str, Any] = {}
    for section, table in raw.items():
        if section not in sections or not isinstance(table, dict):
            raise _err(path, section, f"unknown section (known: {', '.join(sections)})")
        for key, value in table.items():
            if (section, key) not in KEYS:
                raise _err(path, f"{section}.{key}", "unknown key")
            name, check = KEYS[(section, key)]
            problem = check(value)
            if problem:
                raise _err(path, f"{section}.{key}", problem)
            if (section, key) in PATH_KEYS:
                value = _resolve(path.parent, value, (section, key))
            if section == "recipe":
                recipe[name] = tuple(value) if isinstance(value, list) else value
            else:
                kw[name] = tuple(value) if isinstance(value, list) else value
    if "source" in kw and "arch" in kw:
        raise _err(path, "model", "give either arch (a built-in network) or source, not both")
    cfg = replace(TrainConfig(), **kw, recipe=Recipe(**recipe))
    if dataset is not None:
        cfg = replace(cfg, dataset=dataset)
    given = {k: v for k, v in overrides.items() if v is not None}
    if "widths" in given and tuple(given["widths"]) != cfg.widths and "probabilities" not in given:
        given["probabilities"] = None  # the config's per-width weights were for its own widths
        if "recipe" not in given:
            given["recipe"] = replace(cfg.recipe, loss_weights=None)
    cfg = replace(cfg, **given)
    where = {"dataset": "data.name", "source": "model.source", "widths": "model.widths"}
    for key, (name, check) in KEYS.items():
        value = getattr(cfg, name) if key[0] != "recipe" else getattr(cfg.recipe, name)
        if value is None:
            continue
        problem = check(list(value) if isinstance(value, tuple) else value)
        if problem:
            raise _err(path if name not in overrides else "option", where.get(name, f"{key[0]}.{key[1]}"), problem)
    if cfg.probabilities is not None and len(cfg.probabilities) != len(cfg.widths):
        raise _err(path, "train.probabilities", f"expected {len(cfg.widths)} weights (one per width), "
                   f"got {list(cfg.probabilities)}")
    if cfg.recipe.loss_weights is not None and len(cfg.recipe.loss_weights) != len(cfg.widths):
        raise _err(path, "recipe.loss_weights", f"expected {len(cfg.widths)} weights (one per width), "
                   f"got {list(cfg.recipe.loss_weights)}")
    if cfg.stream and cfg.dataset != "folder":
        raise _err(path if overrides.get("stream") is None else "option", "data.stream",
                   f"streaming reads image folders (data.name = \"folder\"), not {cfg.dataset!r}")
    if cfg.dataset in ("npz", "folder", "mnist", "fashion-mnist", "cifar10") and not cfg.data_dir:
        raise _err(path, "data.dir", f"data set {cfg.dataset!r} needs a file or folder (--data-dir)")
    for name, file in (("source", (cfg.source or "").rpartition(":")[0]), ("weights", cfg.weights)):
        if file and not Path(file).is_file():  # before any data is loaded
            raise _err(path if name not in given else "option", f"model.{name}", f"{file}: no such file")
    return cfg
