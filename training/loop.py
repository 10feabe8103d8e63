"""Dynamic quantization training (the paper's Algorithm 1) on a ``MultiScaleNet``.

1. float training of the shared weights (skipped when ``float_epochs`` is 0);
2. warm-up: per width, weight steps from the reconstructed weights, activation clipping levels
   from the activations (layer by layer, upstream already quantized) and BatchNorm statistics;
3. dynamic training: every step draws a width with the configured probabilities and trains the
   shared and that width's parameters;
4. BatchNorm statistics re-estimated per width on the final weights.

Batches come from a ``torch.utils.data`` DataLoader (``workers`` processes) in a seeded order; the
width of each step from a generator seeded alike on every process. Under ``torchrun`` every rank
trains its shard of each batch in DistributedDataParallel; warm-up, BatchNorm re-estimation and the
final evaluation run on rank 0 over the whole training set, and their result is broadcast.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from wavebits.bank.builder import BankFormat
from wavebits.data import DataSet

from .config import TrainConfig
from .data import ArraySet, ShardedBatchSampler, TrainData, as_train_data, loader
from .dist import Runtime, average_gradients, broadcast_object, broadcast_state, current, wrap
from .model import MultiScaleNet
from .quant import FineQuant, PactActivation
from .task import Task, task_for

if TYPE_CHECKING:
    from wavebits.graph import Node
    from wavebits.importer import ImportedNetwork


@dataclass
class History:
    """Float and per-width quality on the test set (accuracy, or MSE for reconstruction)."""

    float_accuracy: float = 0.0
    accuracy: dict[int, float] = field(default_factory=dict)


def to_input(x: np.ndarray | torch.Tensor, scale: float = 1.0 / 255.0, dtype: torch.dtype = torch.float32,
             device: torch.device | str | None = None) -> torch.Tensor:
    """Integer inputs to the model's input: the integers times the bank's input scale (in float64 first)."""
    t = torch.from_numpy(np.asarray(x)) if isinstance(x, np.ndarray) else x
    return (t.to(device).double() * scale).to(dtype)


def batches(n: int, size: int, rng: np.random.Generator | None = None):
    """Index arrays of ``size`` over ``range(n)`` (a permutation by ``rng``, else in order)."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for i in range(0, n, size):
        yield order[i:i + size]


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def outputs(model: MultiScaleNet, x: np.ndarray, bits: int | None, batch: int = 512) -> np.ndarray:
    """The fake-quantized model's outputs at ``bits`` (float64 numpy), computed on the model's device."""
    model.eval().set_width(bits)
    p = next(model.parameters())
    out = [model(to_input(x[i:i + batch], model.input_scale, p.dtype, p.device)).double().cpu().numpy()
           for i in range(0, len(x), batch)]
    return np.concatenate(out)


@torch.no_grad()
def evaluate(model: MultiScaleNet, x: np.ndarray, y: np.ndarray, bits: int | None, batch: int = 512,
             task: Task | None = None) -> float:
    """Top-1 accuracy (or MSE for reconstruction) of the fake-quantized model at ``bits``."""
    task = task or task_for(True)
    return task.score(outputs(model, x, bits, batch), x.astype(np.float64) * model.input_scale, y)


@torch.no_grad()
def predict(model: MultiScaleNet, x: np.ndarray, bits: int | None, batch: int = 512) -> np.ndarray:
    """Class predictions of the fake-quantized model at ``bits``."""
    return outputs(model, x, bits, batch).argmax(1)


def _bn_modules(model: MultiScaleNet, bits: int | None):
    return [bn for layer in model.layers.values() if (bn := layer.batchnorm(bits)) is not None]


def _dataset(data: Dataset | np.ndarray) -> Dataset:
    return ArraySet(data, np.zeros(len(data), np.int64)) if isinstance(data, np.ndarray) else data


@torch.no_grad()
def calibrate_bn(model: MultiScaleNet, data: Dataset | np.ndarray, bits: int, n_batches: int, batch: int,
                 workers: int = 0) -> None:
    """Re-estimate the width's BatchNorm statistics (cumulative average over ``n_batches`` of ``data``).

    ``data`` is a data set of ``(x, label)`` items or an array of inputs; the batches are the first
    ``n_batches`` of a permutation seeded by ``bits``.
    """
    data = _dataset(data)
    model.train().set_width(bits)
    bns = _bn_modules(model, bits)
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    chosen = [idx.tolist() for idx in itertools.islice(batches(len(data), batch, np.random.default_rng(bits)),
                                                       n_batches)]
    device = _device(model)
    for xb, _ in loader(data, chosen, workers, device.type == "cuda"):
        model(to_input(xb, model.input_scale, device=device))
    for bn, m in zip(bns, saved, strict=True):
        bn.momentum = m


def _sample(data: Dataset, indices: np.ndarray) -> torch.Tensor:
    """The inputs of ``indices`` as one batch."""
    return next(iter(loader(data, [indices.tolist()])))[0]


@torch.no_grad()
def warm_up(model: MultiScaleNet, data: Dataset | np.ndarray, cfg: TrainConfig) -> None:
    """Initialize each width's weight steps, BN and activation ranges from the float model."""
    data = _dataset(data)
    device = _device(model)
    pick = np.random.default_rng(cfg.seed).permutation(len(data))[: max(cfg.batch_size * 4, 256)]
    sample = to_input(_sample(data, pick), model.input_scale, device=device)
    trained = widths_trained(cfg)
    for bits in cfg.widths:
        for layer in model.layers.values():
            layer.weight.init_step(bits)
        if bits != trained[0] and (bits not in trained or not cfg.recipe.per_width_bn):
            continue  # parameters shared by every width are fitted once, at the first trained width
        for layer in model.layers.values():
            bn, ref = layer.batchnorm(bits), layer.batchnorm(None)
            if bn is not None:
                bn.weight.copy_(ref.weight)
                bn.bias.copy_(ref.bias)
        calibrate_bn(model, data, bits, cfg.warmup_batches, cfg.batch_size, cfg.workers)
        # activation ranges layer by layer, so each sees its quantized inputs
        model.eval().set_width(bits)
        for name in [n.name for n in model.nodes if n.weighted or n.kind.learns_step]:
            pre = _pre_activation(model, sample, name, bits)
            act = model.quantizer(name)
            if isinstance(act, PactActivation):
                act.init_level(bits, pre)
            elif isinstance(act, FineQuant):
                act.init_step(bits, pre)
        calibrate_bn(model, data, bits, cfg.warmup_batches, cfg.batch_size, cfg.workers)
    for module in model.modules():
        if isinstance(module, FineQuant):
            for bits in set(cfg.widths) - set(trained):
                module.steps[module.index[bits]] = module.steps[module.index[trained[0]]]


def _pre_activation(model: MultiScaleNet, x: torch.Tensor, name: str, bits: int) -> torch.Tensor:
    node = next(n for n in model.nodes if n.name == name)
    srcs = model(x, outputs=list(node.inputs))
    if not node.weighted:  # a learned-step sum of its inputs
        return sum(srcs[s] for s in node.inputs)
    return model.layers[name].pre_activation(srcs[node.inputs[0]], bits, model.bipolar[node.inputs[0]])


def _epochs(model: MultiScaleNet, data: TrainData, epochs: int, lr: float, cfg: TrainConfig, draw, phase: int,
            desc: str, task: Task, rt: Runtime, eval_widths: tuple[int | None, ...] = ()) -> None:
    """``epochs`` of Adam with a cosine schedule; ``draw(rng)`` gives each step's widths (None: float).

    ``phase`` seeds the batch order and the width draws (the same on every rank).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    sampler = ShardedBatchSampler(len(data.train), cfg.batch_size, (cfg.seed, phase), rt.rank, rt.world)
    total = max(1, epochs * len(sampler))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    widths = np.random.default_rng([cfg.seed, phase])  # width draws: identical on every rank
    net = wrap(model, rt)
    batches_ = loader(data.train, sampler, cfg.workers, rt.device.type == "cuda")
    bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=not rt.main)
    for epoch in bar:
        sampler.set_epoch(epoch)
        sizes = [len(b) for b in sampler.global_batches()]
        running = 0.0
        steps = 0
        for size, (xb, yb) in zip(sizes, batches_, strict=True):
            steps += 1
            step = draw(widths)
            xb = to_input(xb, model.input_scale, device=rt.device)
            # this shard's share of the batch mean: the average over ranks is then the batch's mean
            share = len(xb) * rt.world / size
            opt.zero_grad()
            if len(step) == 1:
                loss = _loss(model.train().set_width(step[0]), net, xb, yb.to(rt.device), step[0], task, cfg)
            else:
                loss = _sandwich_loss(model, xb, yb.to(rt.device), step, task, cfg)
            (loss * share).backward()
            if len(step) > 1:  # several forward passes fed this update: DDP's reducer expects one
                average_gradients(model, rt)
            opt.step()
            sched.step()
            running += loss.item() * share
        info = {"loss": f"{running / max(steps, 1):.3f}"}
        if rt.main and len(data.x_test) and eval_widths:  # the bar shows the metric on (up to) 1000 test samples
            for b in eval_widths:
                value = evaluate(model, data.x_test[:1000], data.y_test[:1000], b, task=task)
                info[f"{'fp' if b is None else b}b"] = task.format(value)
        bar.set_postfix(info)


def step_widths(cfg: TrainConfig) -> Callable[[np.random.Generator], list[int]]:
    """The multiscale steps' width draw: ``recipe.widths_per_step`` widths per batch (see ``Recipe``)."""
    widths = list(cfg.widths)
    probs = cfg.sampling()
    trained = widths_trained(cfg)
    k = cfg.recipe.widths_per_step
    if k == 1:
        return lambda rng: [widths[rng.choice(len(widths), p=probs)]]
    ends = sorted({max(trained), min(trained)}, reverse=True)
    rest = [b for b in trained if b not in ends]
    p = np.array([probs[widths.index(b)] for b in rest])
    p = p / p.sum() if len(rest) else p
    n = min(k - len(ends), len(rest))

    def draw(rng: np.random.Generator) -> list[int]:
        picked = rng.choice(len(rest), n, replace=False, p=p) if n else []
        return sorted([*ends, *(rest[i] for i in picked)], reverse=True)
    return draw


def _loss(model: MultiScaleNet, net: nn.Module, x: torch.Tensor, y: torch.Tensor, bits: int | None, task: Task,
          cfg: TrainConfig) -> torch.Tensor:
    """One step's loss at ``bits`` (``net``: the model, or its DDP wrapper), with the recipe's
    in-place distillation from the widest trained width and its per-width loss weight."""
    teacher = None
    widest = max(widths_trained(cfg))
    if cfg.recipe.distill and bits is not None and bits != widest:
        with torch.no_grad():  # the teacher sees the same batch, in training mode, without gradients
            teacher = model.set_width(widest)(x)
        model.set_width(bits)
    return _width_loss(net(x), x, y, bits, task, cfg, teacher)


def _width_loss(out: torch.Tensor, x: torch.Tensor, y: torch.Tensor, bits: int | None, task: Task,
                cfg: TrainConfig, teacher: torch.Tensor | None) -> torch.Tensor:
    """The loss of outputs ``out`` at ``bits``: the task's, averaged with the distillation loss
    against ``teacher`` when there is one, times the width's loss weight."""
    loss = task.loss(out, x, y)
    if teacher is not None:
        loss = (loss + task.distill_loss(out, teacher)) / 2
    if cfg.recipe.loss_weights is not None and bits is not None:
        loss = loss * cfg.recipe.loss_weights[cfg.widths.index(bits)]
    return loss


def _sandwich_loss(model: MultiScaleNet, x: torch.Tensor, y: torch.Tensor, step: list[int], task: Task,
                   cfg: TrainConfig) -> torch.Tensor:
    """The mean loss of one batch at each of ``step``'s widths. The widest comes first: with
    ``distill`` its outputs, detached, teach the others without a forward pass of their own."""
    widest = max(widths_trained(cfg))
    losses = []
    teacher = None
    for bits in step:
        out = model.train().set_width(bits)(x)
        losses.append(_width_loss(out, x, y, bits, task, cfg, teacher if bits != widest else None))
        if bits == widest and cfg.recipe.distill:
            teacher = out.detach()
    return torch.stack(losses).mean()


DEEP = 8  # weighted layers beyond which requant rounding differences compound


def default_mul_bits(nodes: list[Node]) -> int:
    """Significant bits of the requant multipliers when the config leaves them open.

    24 bits keep golden and fake-quant on the same predictions for shallow networks; fine-step
    residual branches and deep stacks (MobileNet: 28 layers) compound the multipliers' 2**-24
    rounding into flipped near-ties, so they get 32 (measured: MobileNetV1 0.25 at 7 bits, 1 of 32
    predictions differs with 24 bits, none with 32).
    """
    deep = sum(n.weighted for n in nodes) > DEEP
    return 32 if deep or any(n.kind.learns_step for n in nodes) else 24


def build_model(cfg: TrainConfig, network: ImportedNetwork, data: DataSet | TrainData,
                pretrained: bool) -> MultiScaleNet:
    """The multiscale model of ``network`` for ``data``; ``pretrained`` seeds it with the module's weights."""
    mul_bits = cfg.mul_bits or default_mul_bits(network.nodes)
    return MultiScaleNet(network.nodes, network.input_shape, cfg.widths, cfg.recipe, BankFormat(mul_bits=mul_bits),
                         seed=cfg.seed, input_scale=data.scale, input_signed=data.signed,
                         init=network.layers, pretrained=pretrained)


def train(cfg: TrainConfig, data: DataSet | TrainData, network: ImportedNetwork, pretrained: bool = False,
          float_model_state: dict | None = None, rt: Runtime | None = None) -> tuple[MultiScaleNet, History]:
    """Train a multiscale model of ``network`` per ``cfg`` on ``data``.

    ``pretrained``: the network's own weights seed the model and no float training is run.
    ``float_model_state`` (from ``float_state``) also replaces the float training stage.
    ``rt``: the device and processes (default: ``cfg.device`` and the current process group).
    The model comes back on the CPU, identical on every rank; the history is rank 0's.
    """
    rt = rt or current(cfg.device, cfg.threads)
    torch.manual_seed(cfg.seed)
    data = as_train_data(data)
    xt, yt = data.x_test, data.y_test
    task = task_for(data.labeled)
    model = build_model(cfg, network, data, pretrained).to(rt.device)
    history = History()
    if float_model_state is not None:
        model.load_state_dict(float_model_state, strict=False)
    elif cfg.float_epochs and not pretrained:
        _epochs(model, data, cfg.float_epochs, cfg.float_lr, cfg, lambda _: [None], 0, "float", task, rt, (None,))
    if rt.main:
        history.float_accuracy = evaluate(model, xt, yt, None, task=task)
        warm_up(model, data.train, cfg)
    broadcast_state(model, rt)
    widths = list(cfg.widths)
    show = tuple(b for b in (widths[0], widths[len(widths) // 2], widths[-1]))
    _epochs(model, data, cfg.epochs, cfg.lr, cfg, step_widths(cfg), 1, "multiscale", task, rt, show)
    if rt.main:
        for b in cfg.widths:
            if cfg.recipe.per_width_bn and b in widths_trained(cfg):
                calibrate_bn(model, data.train, b, max(cfg.warmup_batches, 20), cfg.batch_size, cfg.workers)
        for b in cfg.widths:
            history.accuracy[b] = evaluate(model, xt, yt, b, task=task)
    broadcast_state(model, rt)
    history = broadcast_object(history, rt)
    model.cpu().eval()
    return model, history


def widths_trained(cfg: TrainConfig) -> list[int]:
    """Widths drawn with non-zero probability."""
    return [b for b, p in zip(cfg.widths, cfg.sampling(), strict=True) if p > 0]


def float_state(model: MultiScaleNet) -> dict[str, torch.Tensor]:
    """The float model's parameters (shared weights and float BN), to start other recipes from."""
    return {k: v.clone() for k, v in model.state_dict().items()
            if k.endswith("weight.weight") or ".bn.fp." in k or (k.endswith(".bias") and ".bn." not in k)}

