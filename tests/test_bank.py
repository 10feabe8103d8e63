import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from wavebits.bank import BankFormat, FloatLayer, build_bank, read_bank, synth_bank, write_bank
from wavebits.bank.io import _zip_bytes
from wavebits.errors import BankError, BuildError, WidthError
from wavebits.graph import Node


def _rewrite(src: Path, dst: Path, edit_header=None, edit_arrays=None) -> Path:
    with zipfile.ZipFile(src) as zf:
        header = json.loads(zf.read("header.json"))
        arrays = {n[:-4]: np.lib.format.read_array(io.BytesIO(zf.read(n)))
                  for n in zf.namelist() if n.endswith(".npy")}
    if edit_header:
        edit_header(header)
    if edit_arrays:
        edit_arrays(arrays)
    dst.write_bytes(_zip_bytes(header, arrays))
    return dst


def test_round_trip_preserves_everything(bank_file, digits_bank):
    b = read_bank(bank_file)
    assert b.widths == digits_bank.widths == (8, 7, 6, 5, 4, 3, 2, 1)
    assert [n for n in b.nodes] == digits_bank.nodes
    for name, lw in digits_bank.weights.items():
        for w in b.widths:
            assert (b.weights[name].banks[w] == lw.banks[w]).all()
            assert b.weights[name].scales[w] == lw.scales[w]
    for name, per in digits_bank.requant.items():
        for w in b.widths:
            assert (b.requant[name][w].mul == per[w].mul).all()
            assert b.requant[name][w].shift == per[w].shift


@pytest.mark.parametrize("arch", ["mlp", "cnn-digits", "lenet5"])
def test_same_seed_gives_identical_bytes(tmp_path, arch):
    a, b = tmp_path / "a.wbank", tmp_path / "b.wbank"
    write_bank(synth_bank(arch, seed=7), a)
    write_bank(synth_bank(arch, seed=7), b)
    assert a.read_bytes() == b.read_bytes()
    write_bank(synth_bank(arch, seed=8), b)
    assert a.read_bytes() != b.read_bytes()


def test_banks_equal_reconstruction_of_components(digits_bank):
    for name, lw in digits_bank.weights.items():
        for w in digits_bank.widths:
            assert (lw.reconstruct(w, digits_bank.weight_shape(name)) == lw.banks[w]).all()


def test_one_bit_weights_are_bipolar_and_others_in_range(digits_bank):
    for lw in digits_bank.weights.values():
        assert set(np.unique(lw.banks[1]).tolist()) <= {-1, 1}
        assert np.abs(lw.banks[2]).max() <= 1 and np.abs(lw.banks[8]).max() <= 127


# ---------------------------------------------------------------- bad banks: file and field named


def _expect(path: Path, *fragments: str) -> None:
    with pytest.raises(BankError) as e:
        read_bank(path)
    msg = str(e.value)
    assert str(path) in msg and "\n" not in msg
    for f in fragments:
        assert f in msg, msg


def test_missing_file(tmp_path):
    _expect(tmp_path / "nope.wbank", "no such file")


def test_truncated_bank(tmp_path, bank_file):
    bad = tmp_path / "trunc.wbank"
    bad.write_bytes(bank_file.read_bytes()[: len(bank_file.read_bytes()) // 2])
    _expect(bad, "file", "truncated or corrupted")


def test_corrupted_byte_is_caught_by_crc(tmp_path, bank_file):
    data = bytearray(bank_file.read_bytes())
    with zipfile.ZipFile(bank_file) as zf:
        info = zf.getinfo("conv2/w4.npy")
    data[info.header_offset + 30 + len(info.filename) + 5] ^= 0xFF
    bad = tmp_path / "flip.wbank"
    bad.write_bytes(bytes(data))
    with pytest.raises(BankError) as e:
        read_bank(bad)
    assert str(bad) in str(e.value)


def test_not_a_bank(tmp_path):
    p = tmp_path / "text.wbank"
    p.write_text("hello")
    _expect(p, "not a readable bank")


def test_wrong_version(tmp_path, bank_file):
    p = _rewrite(bank_file, tmp_path / "v.wbank", lambda h: h.update(version=99))
    _expect(p, "version", "unsupported schema version 99")


def test_missing_field(tmp_path, bank_file):
    p = _rewrite(bank_file, tmp_path / "m.wbank", lambda h: h["layers"][0].pop("kernel"))
    _expect(p, "layers[0] 'conv1'.kernel", "missing")


def test_wrong_dtype(tmp_path, bank_file):
    def edit(a):
        a["conv1/w8"] = a["conv1/w8"].astype(np.int32)

    p = _rewrite(bank_file, tmp_path / "d.wbank", edit_arrays=edit)
    _expect(p, "conv1/w8", "expected dtype int8, got int32")


def test_array_shape_mismatch(tmp_path, bank_file):
    def edit(a):
        a["fc/rq4/bias"] = a["fc/rq4/bias"][:5]

    p = _rewrite(bank_file, tmp_path / "s.wbank", edit_arrays=edit)
    _expect(p, "fc/rq4/bias", "expected shape (10,), got (5,)")


def test_graph_shape_mismatch(tmp_path, bank_file):
    p = _rewrite(bank_file, tmp_path / "g.wbank", lambda h: h["layers"][0].update(out_channels=9))
    _expect(p, "out_shape", "shape mismatch")


def test_unsupported_layer(tmp_path, bank_file):
    p = _rewrite(bank_file, tmp_path / "u.wbank", lambda h: h["layers"][1].update(op="lstm"))
    _expect(p, "layers[1] 'pool1'.op", "unsupported layer kind 'lstm'")


def test_bank_that_does_not_match_its_components(tmp_path, bank_file):
    def edit(a):
        a["conv2/w6"] = a["conv2/w6"].copy()
        a["conv2/w6"][3, 2, 1, 1] = -a["conv2/w6"][3, 2, 1, 1] + 1

    p = _rewrite(bank_file, tmp_path / "r.wbank", edit_arrays=edit)
    _expect(p, "conv2/w6", "differs from the reconstruction", "(3, 2, 1, 1)")


def test_one_bit_weight_not_bipolar(tmp_path, bank_file):
    def edit(a):
        a["fc/w1"] = a["fc/w1"].copy()
        a["fc/w1"][0, 0] = 0

    p = _rewrite(bank_file, tmp_path / "b.wbank", edit_arrays=edit)
    _expect(p, "fc/w1", "is not +1/-1")


def test_bad_scale_terms(tmp_path, bank_file):
    p = _rewrite(bank_file, tmp_path / "t.wbank",
                 lambda h: h["layers"][0]["weights"]["widths"]["3"]["scales"].update(LH=[[2, 1]]))
    _expect(p, "widths.3.scales.LH", "terms")


def test_width_not_in_bank(digits_bank):
    narrow = synth_bank("mlp", seed=0, widths=(8, 4))
    with pytest.raises(WidthError, match="no width 3"):
        narrow.check_width(3)


# ---------------------------------------------------------------- the writer


def test_invalid_bank_is_never_written_and_old_file_survives(tmp_path, digits_bank, bank_file):
    target = tmp_path / "keep.wbank"
    target.write_bytes(bank_file.read_bytes())
    broken = synth_bank("cnn-digits", seed=0)
    broken.weights["conv1"].banks[8] = broken.weights["conv1"].banks[8] * 0 + 5
    with pytest.raises(BankError):
        write_bank(broken, target)
    assert target.read_bytes() == bank_file.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wbank"]  # no temporary left behind


def test_header_is_plain_json(bank_file):
    with zipfile.ZipFile(bank_file) as zf:
        header = json.loads(zf.read("header.json"))
    assert header["format"] == "wavebits-bank" and header["version"] == 2
    assert all(n.endswith(".npy") or n == "header.json" for n in zf.namelist())


# ---------------------------------------------------------------- the builder


def _tiny_model(weight):
    nodes = [Node("flatten", "flatten", ("input",)), Node("fc", "linear", ("flatten",), out_channels=2, act="none")]
    layer = FloatLayer(weight=weight, comp_scales={8: (1, 1, 1, 1)}, step={8: 2.0 ** -6},
                       act_scale={8: 0.01})
    return nodes, layer


def test_builder_rejects_nan_and_inf():
    for bad in (np.nan, np.inf):
        w = np.ones((2, 4))
        w[1, 2] = bad
        nodes, layer = _tiny_model(w)
        with pytest.raises(BuildError, match=r"layer 'fc': weight: .* at index \(1, 2\) is not finite"):
            build_bank("t", nodes, (1, 2, 2), 2, [8], 1 / 255, {"fc": layer})


def test_builder_rejects_step_that_is_no_power_of_two():
    nodes, layer = _tiny_model(np.ones((2, 4)))
    layer.step[8] = 0.3
    with pytest.raises(BuildError, match=r"step\[8\].*not a positive power of two"):
        build_bank("t", nodes, (1, 2, 2), 2, [8], 1 / 255, {"fc": layer})


def test_builder_rejects_requant_terms_beyond_62_bits():
    """A bias that a multiplier's shift pushes past 2**62 is refused by name, not wrapped around."""
    nodes, layer = _tiny_model(np.ones((2, 4)))
    layer.bias = np.array([0.0, 1e30])
    with pytest.raises(BuildError, match=r"layer 'fc'.*bias 1e\+32 at channel 1 needs more than 62 bits"):
        build_bank("t", nodes, (1, 2, 2), 2, [8], 1 / 255, {"fc": layer})


def test_builder_rejects_weight_shape_mismatch():
    nodes, layer = _tiny_model(np.ones((3, 4)))
    with pytest.raises(BuildError, match="weight shape"):
        build_bank("t", nodes, (1, 2, 2), 2, [8], 1 / 255, {"fc": layer})


def test_builder_quantizes_a_known_layer():
    """Weights on the quantizer's grid come back exactly (unit scales, step 2**-6)."""
    rng = np.random.default_rng(0)
    w_int = rng.integers(-100, 101, (2, 4))
    nodes, layer = _tiny_model(w_int * 2.0 ** -6)
    b = build_bank("t", nodes, (1, 2, 2), 2, [8], 1 / 255, {"fc": layer}, fmt=BankFormat(comp_bits=16))
    assert (b.weights["fc"].banks[8] == w_int).all()
