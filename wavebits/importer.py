"""Import a plain float PyTorch module into a wavebits graph with ``torch.fx``.

``import_module(module, input_shape)`` traces the module symbolically, runs the traced graph once
on zeros (batch 2, eval mode) to learn every tensor's shape, and maps it onto ``wavebits.graph``
nodes:

* ``Conv2d``/``Linear`` [-> ``BatchNorm``] [-> ``ReLU``/``ReLU6``/``Hardtanh(0, t)``] is one weighted
  node named after the conv/linear; the BN's running statistics and the activation's clip are kept
  in ``ImportedNetwork.layers``;
* ``+`` of two equal-shaped tensors [-> ReLU] is an ``add`` node;
* ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d(1)``/``mean((2, 3))`` (``gap``) and flattening
  (``Flatten``, ``torch.flatten``, ``view``/``reshape`` to (batch, -1)) map one to one;
* ``Identity``, dropout, and a ReLU on a tensor that is already non-negative are dropped.

Anything else raises ``UnsupportedLayerError`` naming the layer, e.g.
``features.3 (GELU): unsupported layer (supported: ...)``.

``load_model_source("file.py:function")`` builds a module from a user's file and
``load_weights(module, path)`` fills it from a saved state dict.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import operator
import re
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from .bank.builder import BatchNorm
from .errors import WavebitsError
from .graph import INPUT, GraphError, Node, infer_shapes

SUPPORTED = ("Conv2d, Linear, BatchNorm1d, BatchNorm2d, ReLU, ReLU6, Hardtanh(0, t), MaxPool2d, AvgPool2d, "
             "AdaptiveAvgPool2d(1), Flatten, view/flatten, add, Identity, Dropout")

_TRACE_BATCH = 2  # a batch of 2 shows a view that hard-codes the batch size


class UnsupportedLayerError(WavebitsError):
    """A layer or function call that has no wavebits equivalent; the message names it."""


class ImportTraceError(WavebitsError):
    """A ``forward`` that ``torch.fx`` cannot trace (data-dependent control flow and the like)."""


@dataclass
class ImportedLayer:
    """Float parameters of one weighted node (numpy float64).

    ``weight`` is (Cout, Cin/groups, kh, kw) for conv2d and (Cout, Cin) for linear; ``bn`` the fused
    BatchNorm's running statistics; ``clip`` the upper bound of a fused ReLU6/Hardtanh(0, t) (None
    for a plain ReLU or no activation).
    """

    weight: np.ndarray
    bias: np.ndarray | None
    bn: BatchNorm | None
    clip: float | None


@dataclass
class ImportedNetwork:
    """A module's wavebits graph and float parameters.

    ``nodes`` are in topological order and the last one is the network output; ``layers`` holds
    the parameters of every weighted node by name; ``clips`` the clip of every node (weighted or
    add) whose fused activation was a ReLU6/Hardtanh(0, t).
    """

    nodes: list[Node]
    input_shape: tuple[int, ...]
    layers: dict[str, ImportedLayer]
    source: str
    clips: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- tracing


_DROPOUT = nn.modules.dropout._DropoutNd  # Dropout, Dropout1d/2d/3d, AlphaDropout, ...
_LEAF_TYPES: tuple[type[nn.Module], ...] = (
    nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.Hardtanh, nn.MaxPool2d, nn.AvgPool2d,
    nn.AdaptiveAvgPool2d, nn.Flatten, nn.Identity, _DROPOUT,
)


def _torch_forward(cls: type[nn.Module]) -> bool:
    """Whether ``cls.forward`` is torch's own (a subclass that only changes ``__init__`` keeps it)."""
    owner = next(c for c in cls.__mro__ if "forward" in c.__dict__)
    return owner.__module__.startswith("torch.nn.")


class _Tracer(fx.Tracer):
    """fx tracer that keeps supported layers (and subclasses that do not override forward) as leaves."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, _LEAF_TYPES) and _torch_forward(type(m)):
            return True
        return super().is_leaf_module(m, module_qualified_name)


def _user_location(exc: BaseException) -> str | None:
    """``file:line`` of the last traceback frame outside torch and this module."""
    torch_dir = str(Path(torch.__file__).resolve().parent)
    here = str(Path(__file__).resolve())
    where = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = str(Path(frame.filename).resolve())
        if path.startswith(torch_dir) or path == here or frame.filename.startswith("<"):
            continue
        where = f"{frame.filename}:{frame.lineno}"
    return where


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _trace(module: nn.Module) -> fx.GraphModule:
    cls = type(module).__name__
    tracer = _Tracer()
    try:
        graph = tracer.trace(module)
    except Exception as e:
        where = _user_location(e)
        at = f" at {where}" if where else ""
        raise ImportTraceError(f"{cls}: torch.fx cannot trace forward(){at}: {_first_line(e)}") from None
    return fx.GraphModule(tracer.root, graph, cls)


class _Recorder(fx.Interpreter):
    """Runs the traced graph and keeps every node's tensor shape (or non-tensor value)."""

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm, garbage_collect_values=True)
        self.shapes: dict[fx.Node, tuple[int, ...]] = {}
        self.others: dict[fx.Node, Any] = {}
        self.failed: fx.Node | None = None

    def run_node(self, n: fx.Node) -> Any:
        try:
            value = super().run_node(n)
        except Exception:
            self.failed = n
            raise
        if isinstance(value, torch.Tensor):
            self.shapes[n] = tuple(value.shape)
        else:
            self.others[n] = value
        return value


class _Modes:
    """Puts a module in eval mode for a with-block and restores every submodule's mode."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.modes = {m: m.training for m in module.modules()}

    def __enter__(self) -> None:
        self.module.eval()

    def __exit__(self, *exc: object) -> None:
        for m, mode in self.modes.items():
            m.training = mode


def _zeros(module: nn.Module, shape: tuple[int, ...]) -> torch.Tensor:
    p = next((t for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()), None)
    return torch.zeros(shape, dtype=p.dtype if p is not None else torch.float32,
                       device=p.device if p is not None else "cpu")


# --------------------------------------------------------------------------- classification


@dataclass
class _Op:
    """What one fx node is, in wavebits terms (``kind``), with the fields the node needs."""

    kind: str  # input output meta skip conv2d linear bn act maxpool avgpool gap mean flatten reshape add
    label: str  # for messages: "features.3 (GELU)", "add_1 (operator.add)"
    base: str  # node name before sanitizing
    src: tuple[fx.Node, ...] = ()
    module: nn.Module | None = None
    clip: float | None = None
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dims: tuple[int, int] = (1, -1)  # flatten: start_dim, end_dim


def _func_name(fn: Any) -> str:
    mod = getattr(fn, "__module__", None) or ""
    mod = {"_operator": "operator", "torch._C._nn": "torch.nn.functional", "builtins": ""}.get(mod, mod)
    name = getattr(fn, "__name__", None) or repr(fn)
    return f"{mod}.{name}" if mod else name


def _label(n: fx.Node, gm: fx.GraphModule) -> str:
    if n.op == "call_module":
        return f"{n.target} ({type(gm.get_submodule(str(n.target))).__name__})"
    if n.op == "call_method":
        return f"{n.name} (Tensor.{n.target})"
    if n.op == "call_function":
        return f"{n.name} ({_func_name(n.target)})"
    return f"{n.name} ({n.op} {n.target})"


def _unsupported(label: str, why: str | None = None) -> UnsupportedLayerError:
    if why is None:
        return UnsupportedLayerError(f"{label}: unsupported layer (supported: {SUPPORTED})")
    return UnsupportedLayerError(f"{label}: {why}")


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    t = tuple(v)
    return (int(t[0]), int(t[0])) if len(t) == 1 else (int(t[0]), int(t[1]))


# signatures the fx call arguments are bound against (torch's own are not all introspectable)
_SIG = {
    "max_pool2d": inspect.signature(lambda input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                                    return_indices=False: None),
    "avg_pool2d": inspect.signature(lambda input, kernel_size, stride=None, padding=0, ceil_mode=False,
                                    count_include_pad=True, divisor_override=None: None),
    "adaptive": inspect.signature(lambda input, output_size: None),
    "flatten": inspect.signature(lambda input, start_dim=0, end_dim=-1: None),
    "mean": inspect.signature(lambda input, dim=None, keepdim=False, *, dtype=None: None),
    "add": inspect.signature(lambda input, other, *, alpha=1: None),
    "relu": inspect.signature(lambda input, inplace=False: None),
    "hardtanh": inspect.signature(lambda input, min_val=-1.0, max_val=1.0, inplace=False: None),
    "any": inspect.signature(lambda input, *args, **kwargs: None),
}


def _bind(sig: str, n: fx.Node, label: str) -> dict[str, Any]:
    """The call's arguments by name, defaults filled in."""
    try:
        bound = _SIG[sig].bind(*n.args, **n.kwargs)
    except TypeError as e:
        raise _unsupported(label, f"unexpected arguments ({e})") from None
    bound.apply_defaults()
    return dict(bound.arguments)


_RELU_FUNCS = {F.relu, torch.relu, torch.relu_, F.relu_}
_RELU6_FUNCS = {F.relu6}
_HARDTANH_FUNCS = {F.hardtanh, F.hardtanh_}
_ADD_FUNCS = {operator.add, operator.iadd, torch.add}
_DROPOUT_FUNCS = {F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout}


def _is_meta_value(v: Any) -> bool:
    """Shape-like values (``x.size(0)``, ``x.shape[0]``): they only feed view arguments."""
    if isinstance(v, bool | int | float):
        return True
    return isinstance(v, torch.Size | tuple | list) and all(isinstance(e, int) for e in v)


def _pool_op(kind: str, label: str, base: str, src: fx.Node, kernel: Any, stride: Any, padding: Any,
             ceil_mode: bool, dilation: Any = 1) -> _Op:
    if _pair(padding) != (0, 0):
        raise _unsupported(label, f"padding {padding} is not supported (pooling takes no padding)")
    if _pair(dilation) != (1, 1):
        raise _unsupported(label, f"dilation {dilation} is not supported (only 1)")
    if ceil_mode:
        raise _unsupported(label, "ceil_mode=True is not supported")
    k = _pair(kernel)
    s = k if stride is None or (isinstance(stride, list | tuple) and len(stride) == 0) else _pair(stride)
    return _Op(kind, label, base, (src,), kernel=k, stride=s)


def _act_clip(label: str, min_val: float, max_val: float) -> float:
    if min_val != 0 or max_val <= 0:
        raise _unsupported(label, f"Hardtanh({min_val}, {max_val}) is not supported (only Hardtanh(0, t), t > 0)")
    return float(max_val)


def _classify_module(n: fx.Node, m: nn.Module, label: str) -> _Op:
    base = str(n.target)
    x = n.args[0] if n.args else next(iter(n.kwargs.values()), None)
    if not isinstance(x, fx.Node):
        raise _unsupported(label, "is called without a tensor input")
    src = (x,)
    if isinstance(m, nn.Conv2d):
        if _pair(m.dilation) != (1, 1):
            raise _unsupported(label, f"dilation {tuple(m.dilation)} is not supported (only 1)")
        if m.padding_mode != "zeros":
            raise _unsupported(label, f"padding_mode={m.padding_mode!r} is not supported (only 'zeros')")
        return _Op("conv2d", label, base, src, m, padding=_conv_padding(m, label))
    if isinstance(m, nn.Linear):
        return _Op("linear", label, base, src, m)
    if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
        return _Op("bn", label, base, src, m)
    if isinstance(m, nn.Hardtanh):  # ReLU6 too
        return _Op("act", label, base, src, m, clip=_act_clip(label, m.min_val, m.max_val))
    if isinstance(m, nn.ReLU):
        return _Op("act", label, base, src, m)
    if isinstance(m, nn.MaxPool2d):
        if m.return_indices:
            raise _unsupported(label, "return_indices=True is not supported")
        return _pool_op("maxpool", label, base, x, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.dilation)
    if isinstance(m, nn.AvgPool2d):
        if m.divisor_override is not None:
            raise _unsupported(label, "divisor_override is not supported")
        return _pool_op("avgpool", label, base, x, m.kernel_size, m.stride, m.padding, m.ceil_mode)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        if _pair(m.output_size) != (1, 1):
            raise _unsupported(label, f"output size {m.output_size} is not supported (only 1: global pooling)")
        return _Op("gap", label, base, src, m)
    if isinstance(m, nn.Flatten):
        return _Op("flatten", label, base, src, m, dims=(m.start_dim, m.end_dim))
    if isinstance(m, nn.Identity | _DROPOUT):
        return _Op("skip", label, base, src, m)
    raise _unsupported(label)


def _classify_call(n: fx.Node, label: str) -> _Op:
    """Classify a call_function / call_method node that produces a tensor."""
    fn, base = n.target, n.name
    method = n.op == "call_method"
    if (method and fn in ("relu", "relu_")) or (not method and fn in _RELU_FUNCS):
        return _Op("act", label, base, (_bind("relu", n, label)["input"],))
    if not method and fn in _RELU6_FUNCS:
        return _Op("act", label, base, (_bind("relu", n, label)["input"],), clip=6.0)
    if not method and fn in _HARDTANH_FUNCS:
        a = _bind("hardtanh", n, label)
        return _Op("act", label, base, (a["input"],), clip=_act_clip(label, a["min_val"], a["max_val"]))
    if (method and fn in ("add", "add_")) or (not method and fn in _ADD_FUNCS):
        a = _bind("add", n, label)
        if a["alpha"] != 1:
            raise _unsupported(label, f"add with alpha={a['alpha']} is not supported")
        return _Op("add", label, base, (a["input"], a["other"]))
    if not method and fn is F.max_pool2d:
        a = _bind("max_pool2d", n, label)
        if a["return_indices"]:
            raise _unsupported(label, "return_indices=True is not supported")
        return _pool_op("maxpool", label, base, a["input"], a["kernel_size"], a["stride"], a["padding"],
                        a["ceil_mode"], a["dilation"])
    if not method and fn is F.avg_pool2d:
        a = _bind("avg_pool2d", n, label)
        if a["divisor_override"] is not None:
            raise _unsupported(label, "divisor_override is not supported")
        return _pool_op("avgpool", label, base, a["input"], a["kernel_size"], a["stride"], a["padding"],
                        a["ceil_mode"])
    if not method and fn is F.adaptive_avg_pool2d:
        a = _bind("adaptive", n, label)
        if _pair(a["output_size"]) != (1, 1):
            raise _unsupported(label, f"output size {a['output_size']} is not supported (only 1: global pooling)")
        return _Op("gap", label, base, (a["input"],))
    if (method and fn == "mean") or (not method and fn is torch.mean):
        a = _bind("mean", n, label)
        dims = a["dim"]
        dims = (dims,) if isinstance(dims, int) else tuple(dims) if dims is not None else ()
        if sorted(d % 4 for d in dims) != [2, 3]:
            raise _unsupported(label, f"mean over dims {a['dim']} is not supported (only (2, 3): global pooling)")
        return _Op("mean", label, base, (a["input"],))
    if (method and fn == "flatten") or (not method and fn is torch.flatten):
        a = _bind("flatten", n, label)
        return _Op("flatten", label, base, (a["input"],), dims=(a["start_dim"], a["end_dim"]))
    if method and fn in ("view", "reshape"):
        return _Op("reshape", label, base, (_bind("any", n, label)["input"],))
    if (method and fn == "contiguous") or (not method and fn in _DROPOUT_FUNCS):
        return _Op("skip", label, base, (_bind("any", n, label)["input"],))
    raise _unsupported(label)


def _classify_modules(gm: fx.GraphModule) -> dict[fx.Node, _Op]:
    """Every module call, classified before anything runs (so that bad settings fail first)."""
    return {n: _classify_module(n, gm.get_submodule(str(n.target)), _label(n, gm))
            for n in gm.graph.nodes if n.op == "call_module"}


def _classify(n: fx.Node, gm: fx.GraphModule, rec: _Recorder, modules: dict[fx.Node, _Op]) -> _Op:
    if n in modules:
        return modules[n]
    label = _label(n, gm)
    if n.op == "placeholder":
        return _Op("input", label, INPUT)
    if n.op == "output":
        return _Op("output", label, "output")
    if n.op == "get_attr":
        return _Op("meta", label, n.name)
    if n not in rec.shapes:
        if _is_meta_value(rec.others.get(n)):
            return _Op("meta", label, n.name)
        raise _unsupported(label, f"returns {type(rec.others.get(n)).__name__}, not a tensor: "
                           f"unsupported layer (supported: {SUPPORTED})")
    return _classify_call(n, label)


# --------------------------------------------------------------------------- graph building


class _Builder:
    """Walks the classified fx graph in order and emits wavebits nodes."""

    def __init__(self, gm: fx.GraphModule, rec: _Recorder, modules: dict[fx.Node, _Op],
                 input_shape: tuple[int, ...]) -> None:
        self.gm, self.rec = gm, rec
        self.ops = {n: _classify(n, gm, rec, modules) for n in gm.graph.nodes}
        self.alias: dict[fx.Node, str] = {}
        self.nonneg: dict[str, float | None] = {INPUT: None}  # upper bound of a ReLU'd tensor (inf: ReLU)
        self.shape: dict[str, tuple[int, ...]] = {INPUT: input_shape}
        self.names: set[str] = {INPUT}
        self.nodes: list[Node] = []
        self.layers: dict[str, ImportedLayer] = {}
        self.clips: dict[str, float] = {}
        self.consumed: set[fx.Node] = set()
        self.weighted_modules: dict[int, str] = {}

    # helpers -----------------------------------------------------------------

    def users(self, n: fx.Node) -> list[fx.Node]:
        """Tensor consumers of ``n``, looking through dropped layers and ignoring shape queries."""
        out: list[fx.Node] = []
        for u in n.users:
            kind = self.ops[u].kind
            if kind == "skip":
                out += self.users(u)
            elif kind != "meta":
                out.append(u)
        return out

    def fused_next(self, n: fx.Node, kind: str) -> fx.Node | None:
        """The single consumer of ``n`` if it is of ``kind`` and reads ``n`` as its tensor input."""
        us = self.users(n)
        if len(us) == 1 and self.ops[us[0]].kind == kind and us[0] not in self.consumed:
            src = self.ops[us[0]].src[0]
            if self.resolve(src) is n:
                return us[0]
        return None

    def resolve(self, n: fx.Node) -> fx.Node:
        while self.ops[n].kind == "skip":
            n = self.ops[n].src[0]  # type: ignore[assignment]
        return n

    def src(self, op: _Op, i: int = 0) -> str:
        s = op.src[i]
        if isinstance(s, fx.Node):
            s = self.resolve(s)
        if not isinstance(s, fx.Node) or s not in self.alias:
            what = s.name if isinstance(s, fx.Node) else repr(s)
            raise _unsupported(op.label, f"input {what} is not a tensor computed by a supported layer")
        return self.alias[s]

    def unique(self, base: str) -> str:
        name = re.sub(r"[^A-Za-z0-9_]", "_", base)
        if not name or name[0].isdigit():
            name = f"n_{name}"
        cand, k = name, 1
        while cand in self.names:
            cand, k = f"{name}_{k}", k + 1
        self.names.add(cand)
        return cand

    def emit(self, node: Node, shape: tuple[int, ...], nonneg: float | None, *fx_nodes: fx.Node) -> None:
        self.nodes.append(node)
        self.shape[node.name] = shape
        self.nonneg[node.name] = nonneg
        for f in fx_nodes:
            self.alias[f] = node.name

    def per_sample(self, n: fx.Node, label: str) -> tuple[int, ...]:
        shape = self.rec.shapes[n]
        if not shape or shape[0] != _TRACE_BATCH:
            raise _unsupported(label, f"changes the batch dimension (output {shape} for a batch of {_TRACE_BATCH})")
        return shape[1:]

    def claim(self, op: _Op) -> None:
        """A module with parameters may be called once (weight sharing has no wavebits form)."""
        key = id(op.module)
        if key in self.weighted_modules:
            raise _unsupported(op.label, "is called more than once; shared weights are not supported")
        self.weighted_modules[key] = op.label

    # ops ---------------------------------------------------------------------

    def build(self) -> None:
        for n in self.gm.graph.nodes:
            op = self.ops[n]
            if n in self.consumed or op.kind in ("meta", "skip"):
                continue
            if op.kind == "input":
                self.alias[n] = INPUT
            elif op.kind == "output":
                continue
            else:
                getattr(self, f"_{op.kind}")(n, op)

    def _fuse_act(self, tail: fx.Node) -> tuple[list[fx.Node], str, float | None]:
        """The activation that follows ``tail`` alone: (fused fx nodes, act, clip)."""
        act = self.fused_next(tail, "act")
        if act is None:
            return [], "none", None
        self.consumed.add(act)
        return [act], "relu", self.ops[act].clip

    def _weighted(self, n: fx.Node, op: _Op) -> None:
        self.claim(op)
        m = op.module
        src = self.src(op)
        in_shape = self.shape[src]
        out_shape = self.per_sample(n, op.label)
        name = self.unique(op.base)
        chain = [n]
        bn_params = None
        bn_node = self.fused_next(n, "bn")
        if bn_node is not None:
            bn_op = self.ops[bn_node]
            self.claim(bn_op)
            bn_params = _batchnorm(bn_op, int(out_shape[0]))
            self.consumed.add(bn_node)
            chain.append(bn_node)
        acts, act, clip = self._fuse_act(chain[-1])
        chain += acts
        weight = m.weight.detach().cpu().double().numpy()  # type: ignore[union-attr]
        bias = m.bias.detach().cpu().double().numpy() if m.bias is not None else None  # type: ignore[union-attr]
        if op.kind == "conv2d":
            assert isinstance(m, nn.Conv2d)
            if len(in_shape) != 3:
                raise _unsupported(op.label, f"needs a (C, H, W) input, got {in_shape}")
            node = Node(name, "conv2d", (src,), out_channels=m.out_channels, kernel=_pair(m.kernel_size),
                        stride=_pair(m.stride), padding=op.padding, act=act, groups=m.groups)
        else:
            assert isinstance(m, nn.Linear)
            if len(in_shape) != 1:
                raise _unsupported(op.label, f"needs a flat input, got {in_shape} (flatten first)")
            node = Node(name, "linear", (src,), out_channels=m.out_features, act=act)
        self.layers[name] = ImportedLayer(weight=weight, bias=bias, bn=bn_params, clip=clip)
        if clip is not None:
            self.clips[name] = clip
        nonneg = (math.inf if clip is None else clip) if act == "relu" else None
        self.emit(node, out_shape, nonneg, *chain)

    _conv2d = _weighted
    _linear = _weighted

    def _bn(self, n: fx.Node, op: _Op) -> None:
        raise _unsupported(op.label, "BatchNorm must directly follow a Conv2d or Linear whose output feeds "
                           "nothing else")

    def _act(self, n: fx.Node, op: _Op) -> None:
        src = self.src(op)
        bound = self.nonneg[src]
        if bound is not None and (op.clip is None or bound <= op.clip):
            self.alias[n] = src  # already non-negative (and within the clip): a no-op
            return
        raise _unsupported(op.label, "an activation must directly follow a Conv2d, Linear (optionally through "
                           "BatchNorm) or add whose output feeds nothing else")

    def _pool(self, n: fx.Node, op: _Op, kind: str) -> None:
        src = self.src(op)
        if len(self.shape[src]) != 3:
            raise _unsupported(op.label, f"needs a (C, H, W) input, got {self.shape[src]}")
        bound = self.nonneg[src]
        name = self.unique(op.base)
        if kind == "maxpool":
            node = Node(name, "maxpool", (src,), kernel=op.kernel, stride=op.stride)
        else:
            act = "relu" if bound is not None else "none"
            node = (Node(name, "avgpool", (src,), kernel=op.kernel, stride=op.stride, act=act) if kind == "avgpool"
                    else Node(name, "gap", (src,), act=act))
        out = self.per_sample(n, op.label)
        if kind == "gap" and len(out) == 1:  # mean((2, 3)) without keepdim: global pooling, then flat
            self.emit(node, (out[0], 1, 1), bound)
            self.emit(Node(self.unique(f"{op.base}_flat"), "flatten", (name,)), out, bound, n)
        else:
            self.emit(node, out, bound, n)

    def _maxpool(self, n: fx.Node, op: _Op) -> None:
        self._pool(n, op, "maxpool")

    def _avgpool(self, n: fx.Node, op: _Op) -> None:
        self._pool(n, op, "avgpool")

    def _gap(self, n: fx.Node, op: _Op) -> None:
        self._pool(n, op, "gap")

    def _mean(self, n: fx.Node, op: _Op) -> None:
        self._pool(n, op, "gap")

    def _flatten(self, n: fx.Node, op: _Op) -> None:
        src = self.src(op)
        in_shape = self.shape[src]
        start, end = op.dims
        ndim = len(in_shape) + 1
        if start % ndim != 1 or end % ndim != ndim - 1:
            raise _unsupported(op.label, f"flattens dims {start}..{end}; only flattening from dim 1 to the end "
                               "is supported")
        self._flat(n, op, src)

    def _reshape(self, n: fx.Node, op: _Op) -> None:
        src = self.src(op)
        in_shape, out = self.shape[src], self.per_sample(n, op.label)
        if out != (math.prod(in_shape),):
            raise _unsupported(op.label, f"reshapes {in_shape} to {out}; only flattening to (batch, -1) is "
                               "supported")
        self._flat(n, op, src)

    def _flat(self, n: fx.Node, op: _Op, src: str) -> None:
        out = self.per_sample(n, op.label)
        if len(self.shape[src]) == 1:
            self.alias[n] = src  # already flat
            return
        self.emit(Node(self.unique(op.base), "flatten", (src,)), out, self.nonneg[src], n)

    def _add(self, n: fx.Node, op: _Op) -> None:
        for s in op.src:
            if not isinstance(s, fx.Node) or s not in self.rec.shapes:
                raise _unsupported(op.label, f"adds {s!r}, not a tensor: only the add of two tensors is supported")
        a, b = self.src(op, 0), self.src(op, 1)
        if self.shape[a] != self.shape[b]:
            raise _unsupported(op.label, f"adds tensors of shapes {self.shape[a]} and {self.shape[b]}; "
                               "only equal shapes are supported")
        acts, act, clip = self._fuse_act(n)
        name = self.unique(op.base)
        if clip is not None:
            self.clips[name] = clip
        nonneg = (math.inf if clip is None else clip) if act == "relu" else None
        self.emit(Node(name, "add", (a, b), act=act), self.per_sample(n, op.label), nonneg, n, *acts)


def _conv_padding(m: nn.Conv2d, label: str) -> tuple[int, int]:
    if m.padding == "valid":
        return (0, 0)
    if m.padding == "same":
        kh, kw = _pair(m.kernel_size)
        if kh % 2 == 0 or kw % 2 == 0:
            raise _unsupported(label, f"padding='same' with the even kernel {(kh, kw)} pads unevenly; "
                               "only symmetric padding is supported")
        return (kh // 2, kw // 2)
    return _pair(m.padding)  # type: ignore[arg-type]


def _batchnorm(op: _Op, channels: int) -> BatchNorm:
    m = op.module
    assert isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d)
    if m.running_mean is None or m.running_var is None:
        raise _unsupported(op.label, "has no running statistics (track_running_stats=False is not supported)")
    if m.num_features != channels:
        raise _unsupported(op.label, f"has {m.num_features} features for {channels} channels")

    def arr(t: torch.Tensor | None, fill: float) -> np.ndarray:
        if t is None:
            return np.full(channels, fill)
        return t.detach().cpu().double().numpy().copy()

    return BatchNorm(gamma=arr(m.weight, 1.0), beta=arr(m.bias, 0.0), mean=arr(m.running_mean, 0.0),
                     var=arr(m.running_var, 1.0), eps=float(m.eps))


def _prune(nodes: list[Node], output: str) -> list[Node]:
    """The nodes the output depends on (dead branches of forward() are dropped)."""
    live = {output}
    for node in reversed(nodes):
        if node.name in live:
            live.update(node.inputs)
    return [node for node in nodes if node.name in live]


# --------------------------------------------------------------------------- public API


def import_module(module: nn.Module, input_shape: tuple[int, ...]) -> ImportedNetwork:
    """Trace a float module with ``torch.fx`` and return its wavebits graph and float parameters.

    ``input_shape`` is one sample's shape: (C, H, W) for images or (features,). The module is run
    in eval mode (BatchNorm uses its running statistics); its training mode is restored.
    Raises ``UnsupportedLayerError`` naming the first layer with no wavebits form,
    ``ImportTraceError`` for a forward that fx cannot trace, and ``WavebitsError`` otherwise.
    """
    source = type(module).__name__
    shape = tuple(int(s) for s in input_shape)
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise WavebitsError(f"{source}: input shape {tuple(input_shape)} must be (C, H, W) or (features,)")
    gm = _trace(module)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if not placeholders or any(p.users or not p.args for p in placeholders[1:]):  # unused defaults are fine
        names = ", ".join(n.name for n in placeholders)
        raise WavebitsError(f"{source}: forward() takes {len(placeholders)} inputs ({names}); a network takes "
                            "one tensor")
    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    result = out_node.args[0]
    if not isinstance(result, fx.Node):
        raise WavebitsError(f"{source}: forward() returns a {type(result).__name__}; a network returns one tensor")

    modules = _classify_modules(gm)
    rec = _Recorder(gm)
    with _Modes(module), torch.no_grad():
        try:
            rec.run(_zeros(module, (_TRACE_BATCH, *shape)))
        except Exception as e:
            where = _label(rec.failed, gm) if rec.failed is not None else "forward()"
            raise WavebitsError(f"{source}: {where} fails on an input of shape {shape}: {_first_line(e)}") from None
        try:
            direct = module(_zeros(module, (1, *shape)))
        except Exception as e:
            raise WavebitsError(f"{source}: forward() fails on an input of shape {shape}: {_first_line(e)}") from None
    if result not in rec.shapes:
        raise WavebitsError(f"{source}: forward() returns a {type(rec.others.get(result)).__name__}; a network "
                            "returns one tensor")

    b = _Builder(gm, rec, modules, shape)
    b.build()
    out = b.alias.get(b.resolve(result))
    if out is None or out == INPUT:
        raise WavebitsError(f"{source}: forward() has no layers: it returns its input")
    nodes = _prune(b.nodes, out)
    names = {node.name for node in nodes}

    try:
        shapes = infer_shapes(nodes, shape)
    except GraphError as e:
        raise WavebitsError(f"{source}: the imported graph is inconsistent: {e}") from None
    for node in nodes:
        if shapes[node.name] != b.shape[node.name]:
            raise WavebitsError(f"{source}: {node.name}: the graph gives shape {shapes[node.name]} where torch "
                                f"gives {b.shape[node.name]}")
    if not isinstance(direct, torch.Tensor) or tuple(direct.shape[1:]) != shapes[out]:
        got = tuple(direct.shape[1:]) if isinstance(direct, torch.Tensor) else type(direct).__name__
        raise WavebitsError(f"{source}: forward() gives {got} per sample but the traced graph gives "
                            f"{shapes[out]} (does forward() branch on the mode or the input?)")
    return ImportedNetwork(nodes=nodes, input_shape=shape,
                           layers={k: v for k, v in b.layers.items() if k in names}, source=source,
                           clips={k: v for k, v in b.clips.items() if k in names})


def load_model_source(spec: str) -> nn.Module:
    """Build the module a ``"path/to/file.py:function"`` spec names (the function is called without arguments)."""
    path_text, sep, func = spec.rpartition(":")
    if not sep or not path_text.endswith(".py") or not func.isidentifier():
        raise WavebitsError(f"{spec!r}: expected FILE.py:FUNCTION, e.g. examples/resnet8.py:resnet8")
    path = Path(path_text)
    if not path.is_file():
        raise WavebitsError(f"{path}: no such file")
    mod_name = f"wavebits_user_model_{re.sub(r'[^A-Za-z0-9_]', '_', path.stem)}"
    loader_spec = importlib.util.spec_from_file_location(mod_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise WavebitsError(f"{path}: cannot be loaded as a Python module")
    mod = importlib.util.module_from_spec(loader_spec)
    sys.modules[mod_name] = mod  # dataclasses and pickling look classes up here
    try:
        loader_spec.loader.exec_module(mod)
    except Exception as e:
        del sys.modules[mod_name]
        raise WavebitsError(f"{path}: import failed: {type(e).__name__}: {_first_line(e)}") from None
    fn = getattr(mod, func, None)
    if fn is None:
        raise WavebitsError(f"{path}: no function {func!r}")
    if not callable(fn):
        raise WavebitsError(f"{path}: {func!r} is a {type(fn).__name__}, not a function")
    try:
        model = fn()
    except Exception as e:
        raise WavebitsError(f"{path}:{func}() failed: {type(e).__name__}: {_first_line(e)}") from None
    if not isinstance(model, nn.Module):
        raise WavebitsError(f"{path}:{func}() returned a {type(model).__name__}, expected a torch.nn.Module")
    return model


def load_weights(module: nn.Module, path: str | Path) -> nn.Module:
    """Load float weights saved with ``torch.save`` into ``module`` (returned).

    The file holds a state dict, or a dict with it under ``"state_dict"`` or ``"model"``; a
    ``module.`` prefix (DataParallel) is stripped. Missing ``num_batches_tracked`` counters are
    allowed; any other missing, unexpected or mis-shaped key is a ``WavebitsError`` naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise WavebitsError(f"{path}: no such file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WavebitsError(f"{path}: cannot read weights: {type(e).__name__}: {_first_line(e)}") from None
    if isinstance(data, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(data.get(key), Mapping):
                data = data[key]
                break
    if not isinstance(data, Mapping) or not data:
        raise WavebitsError(f"{path}: expected a state dict (or a dict with 'state_dict' or 'model'), "
                            f"got {type(data).__name__}")
    state = dict(data)
    own = module.state_dict()
    if all(k.startswith("module.") for k in state) and not any(k.startswith("module.") for k in own):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    for k, v in state.items():
        if k not in own:
            raise WavebitsError(f"{path}: unexpected key {k!r} ({_count(set(state) - set(own))} in all)")
        if not isinstance(v, torch.Tensor):
            raise WavebitsError(f"{path}: {k!r} is a {type(v).__name__}, not a tensor")
        if tuple(v.shape) != tuple(own[k].shape):
            raise WavebitsError(f"{path}: {k!r} has shape {tuple(v.shape)}, the model expects {tuple(own[k].shape)}")
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise WavebitsError(f"{path}: missing key {missing[0]!r} ({_count(missing)} in all)")
    module.load_state_dict(state, strict=False)
    return module


def _count(keys: Any) -> str:
    n = len(keys)
    return f"{n} key" if n == 1 else f"{n} keys"
