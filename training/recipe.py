"""The training recipe: which parameters are per width and how the narrow widths learn (no torch here,
so that a config is checked before the training stack loads)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    """Which parameters are per width (the paper's ablation ladder E2..E6 switches them on), and how
    the narrow widths learn.

    ``distill``: in-place distillation, a step at a narrower width also learns the widest trained
    width's outputs on the same batch (soft labels; the reconstruction itself for an autoencoder).
    ``loss_weights``: a weight per width (in the config's width order) multiplying each step's loss.
    ``widths_per_step``: widths trained on each batch. 1 (the paper's Algorithm 1): one width drawn
    with the configured probabilities. k > 1: the sandwich rule of slimmable networks, the widest
    and the narrowest trained width and k - 2 others drawn without replacement, their losses
    averaged into one update; k of at least the number of widths trains every width on every batch.
    Each step then costs about k single-width steps.
    """

    per_width_act: bool = True
    per_width_bn: bool = True
    per_width_weight_quant: bool = True
    wavelet: bool = True
    distill: bool = False
    loss_weights: tuple[float, ...] | None = None
    widths_per_step: int = 1


DEFAULT_RECIPE = Recipe()
"""The paper's recipe: everything per width, one width drawn per batch, no distillation."""
