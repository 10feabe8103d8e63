"""Training configuration: a TOML file over per-data-set defaults (``training/configs/*.toml``)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from wavebits.archs import ARCHS
from wavebits.errors import WavebitsError

from .model import Recipe

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = "digits"
    data_dir: str | None = None
    arch: str = "cnn-digits"
    widths: tuple[int, ...] = (8, 7, 6, 5, 4, 3, 2, 1)
    seed: int = 0
    batch_size: int = 64
    float_epochs: int = 30
    float_lr: float = 0.005
    warmup_batches: int = 10
    epochs: int = 40
    lr: float = 0.002
    probabilities: tuple[float, ...] | None = None
    mul_bits: int = 24  # significant bits of the exported requant multipliers
    limit_train: int | None = None
    limit_test: int | None = None
    recipe: Recipe = field(default_factory=Recipe)

    def sampling(self) -> list[float]:
        """Normalized probability of drawing each width per step."""
        p = list(self.probabilities) if self.probabilities else [1.0] * len(self.widths)
        total = sum(p)
        return [v / total for v in p]


def _err(path: Path | str, key: str, problem: str) -> WavebitsError:
    return WavebitsError(f"{path}: {key}: {problem}")


def load_config(path: str | Path | None = None, dataset: str | None = None, **overrides: Any) -> TrainConfig:
    """Read a config file (or the defaults of ``dataset``), then apply ``overrides``."""
    if path is None:
        path = CONFIG_DIR / f"{dataset or 'digits'}.toml"
    path = Path(path)
    if not path.is_file():
        raise WavebitsError(f"{path}: no such config file")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise WavebitsError(f"{path}: not valid TOML ({e})") from None
    known = {"data": {"name", "dir"}, "model": {"arch", "widths"}, "recipe": {f.name for f in fields(Recipe)},
             "train": {f.name for f in fields(TrainConfig)} - {"dataset", "data_dir", "arch", "widths", "recipe"}}
    values: dict[str, Any] = {}
    for section, table in raw.items():
        if section not in known or not isinstance(table, dict):
            raise _err(path, section, f"unknown section (known: {', '.join(known)})")
        for key, value in table.items():
            if key not in known[section]:
                raise _err(path, f"{section}.{key}", "unknown key")
            values[(section, key)] = value
    kw: dict[str, Any] = {}
    if ("data", "name") in values:
        kw["dataset"] = values[("data", "name")]
    if ("data", "dir") in values:
        d = Path(values[("data", "dir")])
        kw["data_dir"] = str(d if d.is_absolute() or d.exists() else (path.parent / d))
    if ("model", "arch") in values:
        kw["arch"] = values[("model", "arch")]
    if ("model", "widths") in values:
        kw["widths"] = tuple(values[("model", "widths")])
    recipe = {k: v for (s, k), v in values.items() if s == "recipe"}
    if recipe:
        kw["recipe"] = Recipe(**recipe)
    for (s, k), v in values.items():
        if s == "train":
            kw[k] = tuple(v) if isinstance(v, list) else v
    cfg = replace(TrainConfig(), **kw)
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    if cfg.arch not in ARCHS:
        raise _err(path, "model.arch", f"unknown architecture {cfg.arch!r} (known: {', '.join(ARCHS)})")
    if not cfg.widths or any(not 1 <= b <= 8 for b in cfg.widths) or len(set(cfg.widths)) != len(cfg.widths):
        raise _err(path, "model.widths", f"expected distinct widths in 1..8, got {list(cfg.widths)}")
    if cfg.probabilities is not None and (len(cfg.probabilities) != len(cfg.widths)
                                          or min(cfg.probabilities) < 0 or sum(cfg.probabilities) <= 0):
        raise _err(path, "train.probabilities", f"expected {len(cfg.widths)} non-negative weights, "
                   f"got {list(cfg.probabilities)}")
    if not 8 <= cfg.mul_bits <= 40:
        raise _err(path, "train.mul_bits", f"expected 8..40, got {cfg.mul_bits}")
    return cfg
