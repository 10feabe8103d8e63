"""An independent reference: each width of a bank as a QKeras model, compiled and run by hls4ml.

Per width: ``QConv2D``/``QDense`` with the width's integer weights (``quantized_bits(b, b-1)``,
``binary`` at 1 bit), then ``BatchNormalization`` carrying the requantization exactly (scale
``mul / 2**shift``, bias ``bias / 2**shift``, mean 0, variance 1, epsilon 0), then
``QActivation`` (``quantized_relu(b, b)``, ``binary`` at 1 bit). Precisions are set per layer so
that hls4ml's fixed-point arithmetic is exact: the batchnorm computes ``x * scale + bias`` at full
precision and rounds once into its result type, and the activation's result type
``ap_ufixed<b, b, AP_RND, AP_SAT>`` rounds half up and saturates, as the integer contract does.

Measured (tests/test_hls4ml_ref.py): every output equal at every multi-bit width, and at 1 bit
for networks that pad no bipolar tensor (LeNet-5). The one difference: at 1 bit hls4ml holds
bipolar activations as +-1 integers and zero-pads them, where the contract pads -1. A conv layer
with padding fed by bipolar activations (cnn-digits' conv2) therefore differs at its borders, by
at most the number of padded taps per output (|w| = 1); the tests show its accumulators equal the
golden kernel's with 0 padding, and every earlier layer equal. Such widths are reported with
``expected_exact`` False. hls4ml's pass that merges BatchNorm with a
binary tanh into a threshold truncates that threshold (and ignores a negative scale), so it is
switched off. Residual adds and average pooling are not mapped.

TensorFlow and QKeras come with the ``tf`` extra (TensorFlow 2.15: Python 3.11 only); without them
every entry point here raises one ``WavebitsError`` naming the extra (``require_tensorflow``).
"""

from __future__ import annotations

import importlib.util
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from wavebits.bank.model import Bank
from wavebits.errors import WavebitsError
from wavebits.graph import INPUT, bipolar_at_one_bit
from wavebits.intmath import signed_bits


def _fixed(max_abs: int, frac: int, signed: bool = True, mode: str = "") -> str:
    width = max(signed_bits(max_abs), frac + 2) + 1
    extra = f",{mode}" if mode else ""
    return f"ap_fixed<{width},{width - frac}{extra}>"


TF_EXTRA = "pip install 'wavebits[tf]'; TensorFlow 2.15 installs on Python 3.11 only"


def require_tensorflow() -> None:
    """Raise a ``WavebitsError`` naming the ``tf`` extra where TensorFlow or QKeras is missing.

    Looks the packages up without importing them (importing TensorFlow takes seconds)."""
    missing = [m for m in ("tensorflow", "qkeras") if importlib.util.find_spec(m) is None]
    if missing:
        raise WavebitsError(f"the hls4ml reference needs the tf extra ({' and '.join(missing)} not installed): "
                            f"{TF_EXTRA}")


def qkeras_model(bank: Bank, bits: int):
    """The width ``bits`` of ``bank`` as a QKeras model (channels last) and its hls4ml precisions."""
    require_tensorflow()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense

    bank.check_width(bits)
    unsupported = [n.name for n in bank.nodes if n.op in ("add", "avgpool", "gap") or n.groups != 1]
    if unsupported:
        raise WavebitsError(f"bank {bank.name!r}: the hls4ml reference maps no residual add, average pooling or "
                            f"grouped convolution (layers {', '.join(unsupported)})")
    if bank.input_signed:
        raise WavebitsError(f"bank {bank.name!r}: the hls4ml reference takes unsigned (uint8) inputs only")
    shapes = bank.shapes
    bounds = bank.bounds(bits)
    c, *hw = bank.input_shape
    inp = tf.keras.Input(shape=(*hw, c) if hw else (c,), name="x")
    t = {INPUT: inp}
    precision = {"x": {"result": f"ap_ufixed<{bank.input_bits},{bank.input_bits}>"}}
    setters = []
    wq = "binary(alpha=1)" if bits == 1 else f"quantized_bits({bits},{bits - 1},alpha=1)"
    bipolar = bipolar_at_one_bit(bank.nodes)  # at 1 bit hls4ml picks these tensors' types itself
    binary = {name: bits == 1 and flag for name, flag in bipolar.items()}
    for n in bank.nodes:
        x = t[n.inputs[0]]
        src_type = precision[_last_layer(t, n.inputs[0])].get("result")
        if n.op in ("maxpool", "flatten"):
            layer = (tf.keras.layers.MaxPooling2D(n.kernel, n.stride, name=n.name) if n.op == "maxpool"
                     else tf.keras.layers.Flatten(name=n.name))
            t[n.name] = layer(x)
            # the pool's accumulator defaults to ap_fixed<16,6>: give it the input's type
            precision[n.name] = {} if binary[n.inputs[0]] else {"result": src_type, "accum": src_type}
            continue
        w = bank.weights[n.name].banks[bits].astype(np.float32)
        acc = f"ap_fixed<{bounds[n.name].acc_bits + 1},{bounds[n.name].acc_bits + 1}>"
        if n.op == "conv2d":
            if n.padding != (0, 0):
                x = tf.keras.layers.ZeroPadding2D(n.padding, name=f"{n.name}_pad")(x)
                precision[f"{n.name}_pad"] = {} if binary[n.inputs[0]] else {"result": src_type}
            layer = QConv2D(n.out_channels, n.kernel, strides=n.stride, padding="valid", use_bias=False,
                            kernel_quantizer=wq, name=n.name)
            kernel = w.transpose(2, 3, 1, 0)
        else:
            layer = QDense(n.out_channels, use_bias=False, kernel_quantizer=wq, name=n.name)
            src = shapes[_flatten_source(bank, n.inputs[0])]
            if len(src) == 3:  # our flatten is (C, H, W); Keras flattens (H, W, C)
                kernel = w.reshape(w.shape[0], *src).transpose(0, 2, 3, 1).reshape(w.shape[0], -1).T
            else:
                kernel = w.T
        y = layer(x)
        setters.append((layer, [kernel]))
        precision[n.name] = {"weight": "ap_fixed<2,2>" if bits == 1 else f"ap_fixed<{bits},{bits}>",
                             "result": acc, "accum": acc}
        precision[f"{n.name}_linear"] = {"result": acc}  # the linear activation hls4ml adds after QKeras layers
        rq = bank.requant[n.name][bits]
        unit = 2.0 ** rq.shift
        bn = tf.keras.layers.BatchNormalization(epsilon=0.0, name=f"{n.name}_rq")
        y = bn(y)
        setters.append((bn, [rq.mul / unit, rq.bias / unit, np.zeros(len(rq.mul)), np.ones(len(rq.mul))]))
        exact = _fixed(bounds[n.name].product_bound, rq.shift)
        precision[f"{n.name}_rq"] = {"scale": _fixed(int(np.abs(rq.mul).max()), rq.shift),
                                     "bias": _fixed(int(np.abs(rq.bias).max()), rq.shift), "result": exact}
        if n.act == "relu":
            y = QActivation("binary(alpha=1)" if bits == 1 else f"quantized_relu({bits},{bits})",
                            name=f"{n.name}_act")(y)
            precision[f"{n.name}_act"] = {} if bits == 1 else {"result": f"ap_ufixed<{bits},{bits},AP_RND,AP_SAT>"}
        else:
            width = signed_bits(bounds[n.name].out.max_abs) + 1
            precision[f"{n.name}_rq"]["result"] = f"ap_fixed<{width},{width},AP_RND,AP_SAT>"
        t[n.name] = y
    model = tf.keras.Model(inp, t[bank.output])
    for layer, weights in setters:
        layer.set_weights([np.asarray(v, dtype=np.float32) if layer.__class__.__name__.startswith("Q")
                           else np.asarray(v, dtype=np.float64) for v in weights])
    return model, precision


def _last_layer(t: dict, name: str) -> str:
    """The Keras layer name that produced the tensor of graph node ``name``."""
    return "x" if name == INPUT else t[name].node.layer.name


def _flatten_source(bank: Bank, name: str) -> str:
    node = bank.node(name) if name != INPUT else None
    return node.inputs[0] if node is not None and node.op == "flatten" else name


def hls4ml_model(bank: Bank, bits: int, output_dir: Path, trace: bool = False):
    """Convert and compile the width's QKeras model with hls4ml (Vivado backend, C simulation).

    ``trace`` records every layer's output (``hls_model.trace``)."""
    require_tensorflow()
    import hls4ml

    model, precision = qkeras_model(bank, bits)
    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vivado")
    config["Model"]["Strategy"] = "Latency"
    for name, prec in precision.items():
        if prec:
            config["LayerName"].setdefault(name, {})["Precision"] = dict(prec)
    for name in config["LayerName"]:
        config["LayerName"][name]["Trace"] = trace
    with _without_pass(MERGE_BN_TANH):
        hls = hls4ml.converters.convert_from_keras_model(model, hls_config=config, output_dir=str(output_dir),
                                                         backend="Vivado", io_type="io_parallel")
    hls.compile()
    return hls


# This pass folds BatchNorm + binary tanh into `acc >= -bias/scale`: a float threshold truncated to
# the accumulator's type, blind to a negative scale. BatchNorm followed by binary_tanh is exact.
# hls4ml 1.3's SkipOptimizers option does not take effect ("effectively broken" in its source), so
# the pass is switched off while converting.
MERGE_BN_TANH = "vivado:merge_batch_norm_quantized_tanh"


@contextmanager
def _without_pass(name: str):
    from hls4ml.model.optimizer import get_optimizer

    opt = get_optimizer(name)
    original = opt.match
    opt.match = lambda node: False
    try:
        yield
    finally:
        opt.match = original


def hls4ml_logits(hls_model, bank: Bank, x: np.ndarray) -> np.ndarray:
    """hls4ml's outputs for uint8 images ``x`` (N, C, H, W), as integers."""
    xk = x.transpose(0, 2, 3, 1) if x.ndim == 4 else x
    y = hls_model.predict(np.ascontiguousarray(xk.astype(np.float64)))
    return np.rint(np.asarray(y, dtype=np.float64).reshape(len(x), -1)).astype(np.int64)


def bipolar_padding_layers(bank: Bank) -> list[str]:
    """Layers where the 1-bit contract pads with -1 and hls4ml pads with 0."""
    bipolar = bipolar_at_one_bit(bank.nodes)
    return [n.name for n in bank.nodes if n.op == "conv2d" and n.padding != (0, 0) and bipolar[n.inputs[0]]]


def compare_hls4ml(bank: Bank, x: np.ndarray, widths: list[int], workdir: Path) -> list[dict]:
    """Per width: hls4ml outputs against the golden model's (exact-equal fraction, predictions).

    Runs the hls4ml and golden levels of ``wavebits.sim.levels``; ``wavebits verify --backend
    hls4ml`` gives the layer-by-layer parity report of the same run."""
    from wavebits.sim.levels import GoldenLevel, Hls4mlLevel

    level, golden = Hls4mlLevel(bank, Path(workdir)), GoldenLevel(bank)
    rows = []
    for b in widths:
        got = np.stack([inf.outputs[bank.output] for inf in level.run(x, [b])])
        want = np.stack([inf.outputs[bank.output] for inf in golden.run(x, [b])])
        rows.append({"bits": b, "exact": float((got == want).all(axis=1).mean()),
                     "agreement": float((got.argmax(1) == want.argmax(1)).mean()),
                     "max_abs_diff": int(np.abs(got - want).max()),
                     "expected_exact": level.expected_exact(b)})
    return rows
