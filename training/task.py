"""What a network is trained for: classification (labels) or reconstruction (an autoencoder).

A task owns its loss, its quality metric, and what "the golden model agrees with the
fake-quantized model" means for it: equal predicted classes, or equal output integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Task:
    """``classify`` (cross-entropy, top-1 accuracy) or ``reconstruct`` (MSE to the input)."""

    name: str

    @property
    def metric(self) -> str:
        return "accuracy %" if self.name == "classify" else "MSE"

    @property
    def higher_is_better(self) -> bool:
        return self.name == "classify"

    def loss(self, out: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.name == "classify":
            return F.cross_entropy(out, y)
        return F.mse_loss(out, x.reshape(out.shape))

    def distill_loss(self, out: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """Loss of ``out`` against a teacher's outputs: cross-entropy to its softmax, or MSE."""
        if self.name == "classify":
            return -(F.softmax(teacher, dim=1) * F.log_softmax(out, dim=1)).sum(dim=1).mean()
        return F.mse_loss(out, teacher)

    def score(self, out: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
        """Accuracy (fraction) of logits ``out``, or mean squared error of reconstructions ``out``."""
        if self.name == "classify":
            return float((out.argmax(axis=1) == y).mean())
        return float(np.mean((out - x.reshape(out.shape)) ** 2))

    def agreement(self, a: np.ndarray, b: np.ndarray) -> float:
        """Fraction of equal predictions (classify) or equal output integers (reconstruct)."""
        if self.name == "classify":
            return float((a.argmax(axis=1) == b.argmax(axis=1)).mean())
        return float((a == b).mean())

    def within_contract(self, agreement: float, golden: float, fake_quant: float) -> bool:
        """>= 99.9 % agreement and the metric within 0.1 point (classify) or 0.1 % (reconstruct)."""
        if self.name == "classify":
            return agreement >= 0.999 and abs(golden - fake_quant) <= 0.001
        return agreement >= 0.999 and abs(golden - fake_quant) <= 1e-3 * max(fake_quant, 1e-12)

    def format(self, value: float) -> str:
        return f"{100 * value:.2f}" if self.name == "classify" else f"{value:.5g}"


CLASSIFY = Task("classify")
RECONSTRUCT = Task("reconstruct")


def task_for(labeled: bool) -> Task:
    """Classification for labelled data, reconstruction for data without labels."""
    return CLASSIFY if labeled else RECONSTRUCT
