"""FINN as an independent reference: each width of a bank as QONNX, through FINN's transformations,
executed by FINN.

The QONNX graph of width b is built from the bank alone (no trained torch model needed): each
weighted layer is a ``MatMul``/``Conv`` on the width's integer weights through a QONNX ``Quant``
of scale 1 (``BipolarQuant`` at 1 bit), and each ReLU requantization is a ``MultiThreshold``,
FINN's own form of a quantized activation, whose integer thresholds are derived exactly from the
bank's ``(mul, bias, shift)`` (``thresholds``). The input carries its datatype annotation (UINT8 or
INT8). FINN then runs ConvertQONNXtoFINN, Streamline, the lowering of convolutions, the conversion
to its hardware layers (MVAU, pooling, sliding window) and CreateDataflowPartition, and executes the
result with ``finn.core.onnx_exec.execute_onnx`` (its Python execution of the hardware layers).

The output layer (act ``none``) cannot be a FINN hardware layer: its unclipped logits have a finer
step than the accumulator (thresholds would number the logits' range, ~10^5 per channel), and
FINN's ChannelwiseOp computes in float32, inexact above 2^24. So the output layer's MVAU gives its
accumulators, and its requantization ``(acc * mul + bias) >> shift`` (round half up) is appended to
FINN's parent graph, outside the dataflow partition where FINN leaves host-side nodes, in float64
(exact below 2^53; checked against the bank's bounds).

At 1 bit FINN turns bipolar products into XNOR-popcount and streams bipolar activations as bits
(0 for -1), so its sliding window's zero padding is the contract's -1 padding of bipolar tensors.

What FINN cannot express is refused with ``FinnUnsupported``, which names the step and the reason.
"""

from __future__ import annotations

import io
import logging
import warnings
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wavebits.bank.model import Bank, Requant
from wavebits.errors import WavebitsError
from wavebits.graph import INPUT

from .finn_env import finn_session

log = logging.getLogger(__name__)

FLOAT32_EXACT = 1 << 24
"""FINN executes its graphs in float32: integers are exact up to here."""
FLOAT64_EXACT = 1 << 53

FINN_OPS = ("linear", "conv2d", "maxpool", "flatten")
"""Layer kinds this reference hands to FINN."""


class FinnUnsupported(WavebitsError):
    """What FINN cannot express for a width of a bank, with the step that cannot and why."""

    def __init__(self, bits: int, step: str, reason: str) -> None:
        self.bits, self.step, self.reason = bits, step, reason
        super().__init__(f"FINN, width {bits}, {step}: {reason}")


def _ceil_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return -((-a) // b)


def thresholds(rq: Requant, bits: int, acc_bound: int) -> tuple[np.ndarray, np.ndarray]:
    """FINN-style thresholds of a ReLU requantization, exact for every accumulator in the bound.

    For ``mul > 0`` the output ``clip(rshift_round(acc * mul + bias, shift), 0, 2^b - 1)`` is at
    least k exactly when ``acc >= ceil((k * 2^shift - 2^(shift-1) - bias) / mul)``; at 1 bit the
    bipolar output is +1 exactly when ``acc >= ceil(-bias / mul)``. A channel with ``mul < 0``
    falls with its accumulator: its weights are negated (``flip``) so that it rises. A channel with
    ``mul == 0`` is constant: its thresholds lie outside the accumulator's bound. Thresholds are
    clipped to ``[-acc_bound - 1, acc_bound + 1]``, which changes no output.

    Returns ``(T, flip)``: T is (channels, 2^b - 1) (one column at 1 bit), int64, rising per row.
    """
    mul, bias = rq.mul.astype(np.int64), rq.bias.astype(np.int64)
    flip = mul < 0
    m = np.abs(mul)[:, None]
    if bits == 1:
        ks = np.zeros(1, np.int64)
        num = -bias[:, None] + 0 * ks[None, :]
    else:
        ks = np.arange(1, (1 << bits), dtype=np.int64)
        half = (1 << (rq.shift - 1)) if rq.shift else 0
        num = (ks[None, :] << rq.shift) - half - bias[:, None]
    safe = np.where(m == 0, 1, m)
    t = np.where(m == 0, np.where(num <= 0, -acc_bound - 1, acc_bound + 1), _ceil_div(num, safe))
    return np.clip(t, -acc_bound - 1, acc_bound + 1), flip


@dataclass
class FinnWidth:
    """One width of a bank after FINN's flow: the partitioned model and where each layer lies."""

    bits: int
    parent: Any  # qonnx ModelWrapper: the host graph around the StreamingDataflowPartition
    partition: Any  # the dataflow partition: FINN hardware layers only
    layer_tensors: dict[str, tuple[str, str]]  # layer -> (graph "parent"/"partition", tensor name)
    layouts: dict[str, tuple[int, ...]]  # layer -> transpose from FINN's layout to the golden model's
    hw_nodes: list[str] = field(default_factory=list)  # op types of the partition, in order
    binary: set[str] = field(default_factory=set)  # layers FINN streams as bits 0/1 for bipolar -1/+1
    qonnx: Path | None = None


def expressible(bank: Bank, bits: int) -> None:
    """Raise ``FinnUnsupported`` where this reference cannot hand the width to FINN."""
    bank.check_width(bits)
    bounds = bank.bounds(bits)
    for n in bank.nodes:
        if n.op not in FINN_OPS:
            raise FinnUnsupported(bits, "export", f"layer {n.name!r} ({n.op}): no FINN mapping here "
                                  f"(handled: {', '.join(FINN_OPS)})")
    for k, n in enumerate(bank.nodes):
        if n.weighted and n.op == "conv2d" and n.groups != 1:
            raise FinnUnsupported(bits, "export", f"layer {n.name!r}: grouped convolution (groups={n.groups})")
        if n.weighted and n.act == "none" and k != len(bank.nodes) - 1:
            raise FinnUnsupported(bits, "export", f"layer {n.name!r}: act none inside the network (its unclipped "
                                  "integer requantization is no FINN layer; only the output layer's runs on the host)")
        if n.op == "maxpool" and any(n.padding):
            raise FinnUnsupported(bits, "export", f"layer {n.name!r}: padded max pooling")
        if n.weighted:
            lb = bounds[n.name]
            if lb.acc_bound >= FLOAT32_EXACT:
                raise FinnUnsupported(bits, "execute", f"layer {n.name!r}: accumulators up to {lb.acc_bound} "
                                      "exceed float32's exact integers (2^24), in which FINN executes")
            if n.act == "none" and lb.product_bound >= FLOAT64_EXACT:
                raise FinnUnsupported(bits, "execute", f"layer {n.name!r}: acc * mul + bias up to "
                                      f"{lb.product_bound} exceeds float64's exact integers (2^53)")


def width_qonnx(bank: Bank, bits: int) -> Any:
    """Width ``bits`` of ``bank`` as a QONNX graph (a qonnx ``ModelWrapper``), batch 1."""
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.util.basic import qonnx_make_model

    expressible(bank, bits)
    bounds = bank.bounds(bits)
    shapes = {INPUT: bank.input_shape, **bank.shapes}
    nodes, inits, vinfo = [], [], []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(helper.make_tensor(name, TensorProto.FLOAT, value.shape, value.astype(np.float32).ravel()))
        return name

    def tensor(name: str, shape: tuple[int, ...]) -> str:
        vinfo.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, *shape]))
        return name

    last = bank.nodes[-1]
    for n in bank.nodes:
        src = n.inputs[0]
        if n.op == "flatten":
            nodes.append(helper.make_node("Reshape", [src, const(f"{n.name}_shape", np.array([1, -1]))], [n.name]))
            inits[-1] = helper.make_tensor(f"{n.name}_shape", TensorProto.INT64, [2], [1, -1])
        elif n.op == "maxpool":
            nodes.append(helper.make_node("MaxPool", [src], [n.name], kernel_shape=list(n.kernel),
                                          strides=list(n.stride), pads=[0, 0, 0, 0]))
        else:
            w = bank.weights[n.name].banks[bits].astype(np.int64)
            rq = bank.requant[n.name][bits]
            if n.act == "relu":
                t, flip = thresholds(rq, bits, bounds[n.name].acc_bound)
                w = np.where(flip.reshape((-1,) + (1,) * (w.ndim - 1)), -w, w)
            w_f = const(f"{n.name}_w_int", w.T if n.op == "linear" else w)
            if bits == 1:
                nodes.append(helper.make_node("BipolarQuant", [w_f, const(f"{n.name}_w_scale", np.array(1.0))],
                                              [f"{n.name}_w"], domain="qonnx.custom_op.general"))
            else:
                nodes.append(helper.make_node(
                    "Quant", [w_f, const(f"{n.name}_w_scale", np.array(1.0)), const(f"{n.name}_w_zero", np.array(0.0)),
                              const(f"{n.name}_w_bits", np.array(float(bits)))],
                    [f"{n.name}_w"], domain="qonnx.custom_op.general", signed=1, narrow=1, rounding_mode="ROUND"))
            acc = f"{n.name}_acc"
            if n.op == "linear":
                nodes.append(helper.make_node("MatMul", [src, f"{n.name}_w"], [acc]))
            else:
                ph, pw = n.padding
                nodes.append(helper.make_node("Conv", [src, f"{n.name}_w"], [acc], kernel_shape=list(n.kernel),
                                              strides=list(n.stride), pads=[ph, pw, ph, pw], group=1,
                                              dilations=[1, 1]))
            tensor(acc, shapes[n.name])
            if n.act == "relu":
                attrs: dict[str, Any] = {"out_dtype": "BIPOLAR", "out_scale": 2.0, "out_bias": -1.0} if bits == 1 \
                    else {"out_dtype": f"UINT{bits}"}
                nodes.append(helper.make_node("MultiThreshold", [acc, const(f"{n.name}_thres", t)], [n.name],
                                              domain="qonnx.custom_op.general", **attrs))
            elif n is not last:
                raise AssertionError("expressible() admits act none only on the output layer")
        if n is not last or n.act == "relu":
            tensor(n.name, shapes[n.name])
    out_name = f"{last.name}_acc" if last.weighted and last.act == "none" else last.name
    inp = helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, *bank.input_shape])
    out = helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [1, *shapes[last.name]])
    vinfo = [v for v in vinfo if v.name != out_name]
    graph = helper.make_graph(nodes, f"{bank.name}_w{bits}", [inp], [out], initializer=inits, value_info=vinfo)
    model = ModelWrapper(qonnx_make_model(graph, producer_name="wavebits"))
    model.set_tensor_datatype(INPUT, DataType[f"{'INT' if bank.input_signed else 'UINT'}{bank.input_bits}"])
    return model.transform(InferShapes())


def export_qonnx(bank: Bank, bits: int, path: Path) -> Path:
    """Write width ``bits`` of ``bank`` as a QONNX file (executable by qonnx and by FINN)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width_qonnx(bank, bits).save(str(path))
    return path


def _step(bits: int, step: str, model: Any, transforms: list[Any]) -> Any:
    """Apply FINN/qonnx transformations as one named step; a failure names the step."""
    printed = io.StringIO()
    try:
        with warnings.catch_warnings(), redirect_stdout(printed):
            warnings.simplefilter("ignore")  # layout guesses FINN states for every 4-D tensor
            for t in transforms:
                model = model.transform(t)
    except Exception as e:  # FINN raises bare Exceptions and AssertionErrors
        raise FinnUnsupported(bits, step, f"{type(e).__name__}: {e}") from e
    finally:
        if printed.getvalue().strip():
            log.debug("FINN, %s at %d bits: %s", step, bits, printed.getvalue().strip())
    return model


def finn_flow(bank: Bank, bits: int, build_dir: Path, standalone_thresholds: bool = False) -> FinnWidth:
    """Width ``bits`` of ``bank`` through FINN: QONNX -> FINN -> streamlined -> HW layers -> partition.

    With ``standalone_thresholds`` each ``MultiThreshold`` becomes a ``Thresholding`` layer of its own
    instead of being absorbed into the MVAU before it (what FINN's RTL MVAU needs).
    """
    expressible(bank, bits)
    finn_session(build_dir)
    from finn.transformation.fpgadataflow import convert_to_hw_layers as to_hw
    from finn.transformation.fpgadataflow.create_dataflow_partition import CreateDataflowPartition
    from finn.transformation.move_reshape import RemoveCNVtoFCFlatten
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from finn.transformation.streamline import Streamline
    from finn.transformation.streamline.absorb import AbsorbConsecutiveTransposes, AbsorbTransposeIntoMultiThreshold
    from finn.transformation.streamline.reorder import MakeMaxPoolNHWC
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.bipolar_to_xnor import ConvertBipolarMatMulToXnorPopcount
    from qonnx.transformation.general import GiveUniqueNodeNames, RemoveUnusedTensors
    from qonnx.transformation.infer_data_layouts import InferDataLayouts
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul

    build_dir = Path(build_dir)
    qonnx = export_qonnx(bank, bits, build_dir / f"{bank.name}-w{bits}.qonnx.onnx")
    from qonnx.core.modelwrapper import ModelWrapper

    model = ModelWrapper(str(qonnx))
    model = _step(bits, "ConvertQONNXtoFINN", model, [InferShapes(), InferDataTypes(), ConvertQONNXtoFINN()])
    model = _step(bits, "Streamline", model, [
        Streamline(), LowerConvsToMatMul(), MakeMaxPoolNHWC(), AbsorbTransposeIntoMultiThreshold(),
        ConvertBipolarMatMulToXnorPopcount(), Streamline(), InferDataLayouts(), RemoveUnusedTensors()])
    model = _step(bits, "convert to HW layers", model, [
        *([to_hw.InferThresholdingLayer()] if standalone_thresholds else []),
        to_hw.InferBinaryMatrixVectorActivation(), to_hw.InferQuantizedMatrixVectorActivation(),
        to_hw.InferPool(), to_hw.InferConvInpGen(), RemoveCNVtoFCFlatten(), AbsorbConsecutiveTransposes(),
        InferDataLayouts(), GiveUniqueNodeNames()])
    model.save(str(build_dir / f"{bank.name}-w{bits}.hw.onnx"))
    parent = _step(bits, "CreateDataflowPartition", model,
                   [CreateDataflowPartition(partition_model_dir=str(build_dir / f"{bank.name}-w{bits}-partition"))])
    sdp = [n for n in parent.graph.node if n.op_type == "StreamingDataflowPartition"]
    if len(sdp) != 1:
        raise FinnUnsupported(bits, "CreateDataflowPartition", f"expected one dataflow partition, got {len(sdp)}")
    partition = ModelWrapper(getCustomOp(sdp[0]).get_nodeattr("model"))
    host = [n.op_type for n in parent.graph.node if n.op_type not in HOST_OPS]
    if host:
        raise FinnUnsupported(bits, "convert to HW layers", f"nodes left outside FINN's hardware layers: "
                              f"{', '.join(host)}")
    fw = FinnWidth(bits, parent, partition, {}, {}, [n.op_type for n in partition.graph.node], qonnx=qonnx)
    _map_layers(bank, fw)
    _append_output_requant(bank, fw)
    return fw


HOST_OPS = ("StreamingDataflowPartition", "Reshape", "Transpose", "Mul", "Add")
"""What FINN may leave outside its dataflow partition: layout changes, and the integer ``2 * popcount - N``
after an XNOR output layer (exact in float32)."""

HW_COMPUTE = ("MVAU", "Pool", "StreamingMaxPool")
"""FINN hardware layers that compute a layer of the bank (the rest move data: sliding windows)."""


def _map_layers(bank: Bank, fw: FinnWidth) -> None:
    """Find each weighted and pooling layer's output among the partition's tensors, in graph order."""
    computing = [n for n in fw.partition.graph.node if n.op_type in HW_COMPUTE]
    layers = [n for n in bank.nodes if n.weighted or n.op == "maxpool"]
    if [n.op_type == "MVAU" for n in computing] != [n.weighted for n in layers]:
        raise FinnUnsupported(fw.bits, "convert to HW layers", "FINN's hardware layers "
                              f"({', '.join(n.op_type for n in computing)}) do not match the network's layers "
                              f"({', '.join(n.name for n in layers)})")
    for hw, n in zip(computing, layers, strict=True):
        after = fw.partition.find_consumer(hw.output[0])
        out = after.output[0] if after is not None and after.op_type == "Thresholding" else hw.output[0]
        fw.layer_tensors[n.name] = ("partition", out)
        if fw.partition.get_tensor_datatype(out).name == "BINARY":
            fw.binary.add(n.name)  # ConvertBipolarMatMulToXnorPopcount re-encodes bipolar activations
        if len(bank.shapes[n.name]) == 3:
            fw.layouts[n.name] = (0, 3, 1, 2)  # FINN streams NHWC; the golden model is NCHW


def _append_output_requant(bank: Bank, fw: FinnWidth) -> None:
    """The output layer's requantization on the host side of FINN's parent graph, in float64."""
    from onnx import TensorProto, helper

    last = bank.nodes[-1]
    if not (last.weighted and last.act == "none"):
        return
    rq = bank.requant[last.name][fw.bits]
    g = fw.parent.graph
    acc = g.output[0].name
    shape = [d.dim_value for d in g.output[0].type.tensor_type.shape.dim]
    half = (1 << (rq.shift - 1)) if rq.shift else 0
    consts = {"mul": rq.mul.astype(np.float64), "bias": (rq.bias + half).astype(np.float64),
              "scale": np.array(2.0 ** -rq.shift)}
    for k, v in consts.items():
        g.initializer.append(helper.make_tensor(f"{last.name}_rq_{k}", TensorProto.DOUBLE, v.shape, v.ravel()))
        g.value_info.append(helper.make_tensor_value_info(f"{last.name}_rq_{k}", TensorProto.DOUBLE, v.shape))
    steps = [("Cast", [acc], {"to": TensorProto.DOUBLE}), ("Mul", [f"{last.name}_rq_mul"], {}),
             ("Add", [f"{last.name}_rq_bias"], {}), ("Mul", [f"{last.name}_rq_scale"], {}), ("Floor", [], {})]
    src = acc
    for i, (op, extra, attrs) in enumerate(steps):
        dst = last.name if i == len(steps) - 1 else f"{last.name}_rq{i}"
        g.node.append(helper.make_node(op, [src, *extra] if op != "Cast" else [src], [dst], **attrs))
        if dst != last.name:
            g.value_info.append(helper.make_tensor_value_info(dst, TensorProto.DOUBLE, shape))
        src = dst
    g.value_info.append(helper.make_tensor_value_info(acc, TensorProto.FLOAT, shape))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info(last.name, TensorProto.DOUBLE, shape))
    fw.layer_tensors[last.name] = ("parent", last.name)


def run_finn(bank: Bank, fw: FinnWidth, x: np.ndarray) -> dict[str, np.ndarray]:
    """Execute FINN's partitioned model on inputs ``x`` (one at a time: FINN's graphs have batch 1).

    Returns every mapped layer's integers, batch first, in the golden model's layout.
    """
    out: dict[str, list[np.ndarray]] = {name: [] for name in fw.layer_tensors}
    for xi in np.asarray(x):
        ctx, inner = finn_contexts(fw, xi)
        for name, (where, tensor) in fw.layer_tensors.items():
            v = (ctx if where == "parent" else inner)[tensor]
            if name in fw.layouts:
                v = v.transpose(fw.layouts[name])
            if name in fw.binary:
                v = 2 * v - 1
            out[name].append(v.reshape((1, *bank.shapes[name])))
    result = {}
    for name, vs in out.items():
        v = np.concatenate(vs)
        if not np.array_equal(v, np.round(v)):
            raise FinnUnsupported(fw.bits, "execute", f"layer {name!r}: FINN gave non-integer values")
        result[name] = v.astype(np.int64)
    return result


def finn_contexts(fw: FinnWidth, xi: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """FINN's execution of one input ``xi``: every tensor of the parent graph and of the partition."""
    from finn.core.onnx_exec import execute_onnx

    try:
        ctx = execute_onnx(fw.parent, {fw.parent.graph.input[0].name: xi[None].astype(np.float32)},
                           return_full_exec_context=True)
        inner = execute_onnx(fw.partition, {fw.partition.graph.input[0].name: ctx[_partition_input(fw)]},
                             return_full_exec_context=True)
    except Exception as e:
        raise FinnUnsupported(fw.bits, "execute", f"{type(e).__name__}: {e}") from e
    return ctx, inner


def _partition_input(fw: FinnWidth) -> str:
    sdp = next(n for n in fw.parent.graph.node if n.op_type == "StreamingDataflowPartition")
    return sdp.input[0]
