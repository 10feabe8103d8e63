"""Quantizers for multiscale training, exact to the integer contract and switchable at run time.

They are built on Brevitas's integer quantizer, ``brevitas.core.quant.IntQuant``, which already
takes the bit-width as an argument of each call: ``WidthQuant`` supplies the width at run time
(Brevitas's quantizer injectors fix it when a layer is built) and ``RoundHalfUpSte`` the contract's
rounding, ``floor(x + 1/2)`` on Brevitas's ``floor_ste`` (Brevitas rounds half to even). Brevitas
computes the integer codes; the straight-through estimators around them (``ste``) keep the
gradients of PACT and of the weight clipping. The forward passes compute exactly what the bank and
hardware compute, in float64 where it matters:

* ``WaveletWeight``: shared float weights -> Haar components rounded to the bank's fixed point ->
  per-width scales rounded to signed powers of two -> inverse Haar -> per-width power-of-two
  step, round half up, clamp (1 bit: sign). The result is bit for bit ``w_int * step`` with
  ``w_int`` what ``reconstruct`` yields from the exported bank.
* ``PactActivation``: PACT (learned clipping level) per width, b-bit unsigned; bipolar sign at 1 bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from brevitas.core.function_wrapper import Identity
from brevitas.core.quant import IntQuant
from brevitas.function.ops import binary_sign
from brevitas.function.ops_ste import floor_ste, round_ste
from torch import nn

from wavebits.bank.builder import BankFormat, component_frac_bits
from wavebits.fixedpoint import scale_int, to_terms
from wavebits.intmath import activation_limit, weight_limit
from wavebits.wavelet import haar_forward, haar_inverse, pad_even, weight_matrix


def ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Forward ``q``, backward identity to ``x``."""
    return x + (q - x).detach()


def round_half_up(x: torch.Tensor) -> torch.Tensor:
    """The contract's rounding (``wavebits.intmath.rshift_round``) on floats, straight-through."""
    return floor_ste(x + 0.5)


class RoundHalfUpSte(nn.Module):
    """Brevitas float-to-int implementation that rounds half up (Brevitas's own rounds half to even)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return round_half_up(x)


class WidthQuant(nn.Module):
    """Brevitas ``IntQuant`` (scale, round half up, clamp to the width's range) at a run-time width."""

    def __init__(self, signed: bool, narrow_range: bool) -> None:
        super().__init__()
        self.int_quant = IntQuant(narrow_range=narrow_range, signed=signed, input_view_impl=Identity(),
                                  float_to_int_impl=RoundHalfUpSte())

    def codes(self, x: torch.Tensor, scale: torch.Tensor | float, bits: int) -> torch.Tensor:
        """Integer codes of ``x / scale`` at ``bits`` (as float tensors)."""
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        return self.int_quant.to_int(torch.as_tensor(scale, dtype=x.dtype, device=x.device), zero,
                                     torch.tensor(float(bits), dtype=x.dtype, device=x.device), x)


WEIGHT_QUANT = WidthQuant(signed=True, narrow_range=True)  # weights and components: narrow signed
ACT_QUANT = WidthQuant(signed=False, narrow_range=False)  # ReLU activations: unsigned


class WaveletWeight(nn.Module):
    """Per-width quantized weights from one shared float tensor, via the Haar components.

    ``per_width_scales``: a learnable (alpha, beta, gamma, delta) per width (else one set shared
    by all widths); ``wavelet=False`` fixes all four at 1, i.e. plain quantization of the shared
    weights (the ablation without wavelet components). ``per_width_step``: a power-of-two weight
    step per width (else one shared step exponent, shifted by the width).
    """

    def __init__(self, weight: torch.Tensor, widths: Sequence[int], fmt: BankFormat,
                 wavelet: bool = True, per_width_scales: bool = True, per_width_step: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.widths = tuple(widths)
        self.fmt = fmt
        self.wavelet = wavelet
        self.per_width_scales = per_width_scales
        self.per_width_step = per_width_step
        keys = [str(b) for b in self.widths] if per_width_scales else ["shared"]
        self.scales = nn.ParameterDict({k: nn.Parameter(torch.ones(4)) for k in keys})
        steps = [str(b) for b in self.widths] if per_width_step else ["shared"]
        self.log2_step = nn.ParameterDict({k: nn.Parameter(torch.zeros(())) for k in steps})

    def scale_values(self, bits: int) -> torch.Tensor:
        """The float (alpha, beta, gamma, delta) at ``bits``, as training holds them."""
        if not self.wavelet:
            return torch.ones(4, dtype=torch.float64, device=self.weight.device)
        return self.scales[str(bits) if self.per_width_scales else "shared"]

    def step_exponent(self, bits: int) -> torch.Tensor:
        """Learned log2 of the weight step at ``bits`` (not yet rounded)."""
        if self.per_width_step:
            return self.log2_step[str(bits)]
        # one range for all widths: the step doubles for every bit removed (same clipping level)
        return self.log2_step["shared"] + math.log2(weight_limit(8) / max(weight_limit(bits), 1))

    def step(self, bits: int) -> float:
        """The width's power-of-two step, as exported."""
        return 2.0 ** round(self.step_exponent(bits).item())

    def init_step(self, bits: int) -> None:
        """Warm-up: a step that clips at about 2.5 standard deviations (b=1: the mean magnitude)."""
        with torch.no_grad():
            w = self.reconstructed(bits)
            target = (w.abs().mean() if bits == 1 else 2.5 * w.std() / weight_limit(bits)).clamp_min(1e-8)
            value = math.log2(target.item())
            if self.per_width_step:
                self.log2_step[str(bits)].fill_(value)
            elif bits == self.widths[0]:
                self.log2_step["shared"].fill_(value - math.log2(weight_limit(8) / weight_limit(bits)))

    def components(self) -> tuple[list[torch.Tensor], int]:
        """Orthonormal Haar components rounded to the bank's fixed point (STE), and their frac bits."""
        comps = [c / 2.0 for c in haar_forward(pad_even(weight_matrix(self.weight.double())))]
        frac = component_frac_bits(max(float(c.detach().abs().max()) for c in comps), self.fmt.comp_bits)
        unit = 2.0 ** frac
        return [ste(c, WEIGHT_QUANT.codes(c.detach(), 1.0 / unit, self.fmt.comp_bits) / unit) for c in comps], frac

    def reconstructed(self, bits: int) -> torch.Tensor:
        """The width's weights before the step: IDWT of the scaled fixed-point components."""
        comps, _ = self.components()
        raw = self.scale_values(bits)
        frac = self.fmt.scale_frac_bits
        rounded = torch.tensor([scale_int(to_terms(float(v), frac, self.fmt.max_terms)) / 2.0 ** frac
                                for v in raw.detach().cpu()], dtype=torch.float64, device=raw.device)
        scales = ste(raw.double(), rounded) if self.wavelet else rounded
        m = haar_inverse(*(scales[i] * comps[i] for i in range(4))) / 2.0
        rows, cols = self.weight.shape[0], self.weight[0].numel()
        return m[:rows, :cols].reshape(self.weight.shape)

    def forward(self, bits: int | None) -> torch.Tensor:
        """Fake-quantized weights at ``bits`` (float32), or the float weights for ``None``."""
        if bits is None:
            return self.weight
        w = self.reconstructed(bits)
        e = self.step_exponent(bits)
        step = 2.0 ** round_ste(e).double()
        x = w / step
        if bits == 1:
            x = ste(x.clamp(-1, 1), binary_sign(x.detach()))
        else:
            lim = weight_limit(bits)
            x = ste(x.clamp(-lim, lim), WEIGHT_QUANT.codes(x.detach(), 1.0, bits))
        return (x * step).to(self.weight.dtype)


class PactActivation(nn.Module):
    """ReLU quantized by PACT at the active width: clip at a learned level, round half up.

    ``float_clip`` bounds the float model's ReLU (ReLU6, Hardtanh(0, t)); the widths' learned
    clipping levels start at most there.

    At 1 bit the output is bipolar (+1 where the input is >= 0, else -1), magnitude 1.
    ``per_width=False`` shares one clipping level across widths (the ablation).
    """

    def __init__(self, widths: Sequence[int], per_width: bool = True, float_clip: float | None = None) -> None:
        super().__init__()
        self.per_width = per_width
        self.float_clip = float_clip  # the source's ReLU6/Hardtanh bound, for the float model
        keys = [str(b) for b in widths] if per_width else ["shared"]
        self.clip = nn.ParameterDict({k: nn.Parameter(torch.tensor(4.0)) for k in keys})

    def level(self, bits: int) -> torch.Tensor:
        return self.clip[str(bits) if self.per_width else "shared"]

    def scale(self, bits: int) -> float:
        """The output step at ``bits`` (1.0 for bipolar)."""
        return 1.0 if bits == 1 else float(self.level(bits).detach().abs()) / activation_limit(bits)

    def init_level(self, bits: int, y: torch.Tensor) -> None:
        """Warm-up: clip at the 99.9th percentile of the positive pre-activations."""
        if bits == 1:
            return
        with torch.no_grad():
            pos = y.detach().flatten().clamp_min(0)
            level = torch.quantile(pos[:200_000].float(), 0.999).clamp_min(1e-3)
            if self.float_clip is not None:
                level = level.clamp_max(self.float_clip)
            self.level(bits).fill_(float(level))

    def forward(self, y: torch.Tensor, bits: int | None) -> torch.Tensor:
        if bits is None:
            return F.relu(y) if self.float_clip is None else y.clamp(0, self.float_clip)
        if bits == 1:
            return ste(y.clamp(-1, 1), binary_sign(y.detach()))
        alpha = self.level(bits).abs() + 1e-8
        lim = activation_limit(bits)
        clipped = torch.minimum(F.relu(y), alpha)  # PACT: gradient reaches alpha where clipped
        step = alpha / lim
        return ste(clipped, ACT_QUANT.codes(clipped.detach(), step.detach(), bits) * step)


class FineQuant(nn.Module):
    """Unclipped rounding to a fixed fine step per width (logits and residual branches, act 'none')."""

    def __init__(self, widths: Sequence[int]) -> None:
        super().__init__()
        self.register_buffer("steps", torch.ones(len(widths)))
        self.index = {b: i for i, b in enumerate(widths)}

    def scale(self, bits: int) -> float:
        return float(self.steps[self.index[bits]])

    def init_step(self, bits: int, y: torch.Tensor) -> None:
        """Warm-up: about 12 bits across the observed range."""
        with torch.no_grad():
            self.steps[self.index[bits]] = float(y.detach().abs().max().clamp_min(1e-6)) / 4096

    def forward(self, y: torch.Tensor, bits: int | None) -> torch.Tensor:
        if bits is None:
            return y
        step = self.scale(bits)
        return ste(y, round_half_up(y.detach() / step) * step)
