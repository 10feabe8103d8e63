"""Data sets from every source: built-in sets, .npz files, image folders, arrays, torch data sets."""

import gzip
import io
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import SHARED_DATA

from wavebits.data import (
    MAX_BYTES,
    DataSet,
    from_arrays,
    from_torch,
    holdout_split,
    load_data,
    load_dataset,
    load_folder,
    load_npz,
    load_split,
    read_idx,
)
from wavebits.errors import DataError


def fails(fn, *fragments):
    """Call ``fn``, expect one DataError line that contains every fragment; return the message."""
    with pytest.raises(DataError) as e:
        fn()
    msg = str(e.value)
    assert "\n" not in msg, msg
    for f in fragments:
        assert str(f) in msg, f"{f!r} not in {msg!r}"
    return msg


def npz(tmp_path, name="d.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def ramp(n, *shape, dtype=np.uint8):
    """``n`` samples whose first element is the sample's index (mod 256), so rows can be told apart."""
    x = np.random.default_rng(1).integers(0, 100, (n, *shape)).astype(dtype)
    x.reshape(n, -1)[:, 0] = np.arange(n) % (256 if dtype == np.uint8 else 128)
    return x


def ids(x):
    return x.reshape(len(x), -1)[:, 0].astype(int)


# ---------------------------------------------------------------- the module


def test_import_pulls_in_numpy_only():
    code = ("import sys, wavebits.data; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'tensorflow', 'PIL', 'sklearn')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_dataset_checks_its_invariants():
    x, y = np.zeros((4, 1, 2, 2), np.uint8), np.arange(4, dtype=np.int64) % 2
    ds = DataSet(x, y, x, y, 1 / 255, False, "t", 2)
    assert ds.input_shape == (1, 2, 2) and ds.input_bits == 8 and ds.labeled
    assert "4 train / 4 test" in ds.describe() and "scale 1/255" in ds.describe()
    fails(lambda: DataSet(x, y, x, y, 1 / 255, True, "t", 2), "t: x_train", "int8")
    fails(lambda: DataSet(x, y, x[:, :, :1], y, 1 / 255, False, "t", 2), "t: x_test", "shape")
    fails(lambda: DataSet(x, y, x, y, 1 / 255, False, "t", 1), "t: classes")
    fails(lambda: DataSet(x, y.astype(np.int32), x, y, 1 / 255, False, "t", 2), "t: y_train", "int64")
    fails(lambda: DataSet(x, y, x, y, float("nan"), False, "t", 2), "t: scale")


# ---------------------------------------------------------------- .npz files: shapes and layouts


def test_npz_nchw_with_test_set(tmp_path):
    x, xt = ramp(10, 3, 4, 5), ramp(6, 3, 4, 5)
    p = npz(tmp_path, x=x, y=np.arange(10, dtype=np.uint8) % 4, x_test=xt, y_test=np.full(6, 6, np.int32))
    ds = load_npz(p)
    assert ds.x_train.shape == (10, 3, 4, 5) and ds.x_train.dtype == np.uint8 and not ds.signed
    assert (ds.x_train == x).all() and (ds.x_test == xt).all()
    assert ds.y_train.dtype == ds.y_test.dtype == np.int64 and ds.classes == 7
    assert ds.scale == 1 / 255 and ds.input_shape == (3, 4, 5) and ds.name == "d" and ds.note == ""


def test_npz_nhwc_detected_and_transposed(tmp_path):
    x = ramp(8, 5, 6, 3)
    ds = load_npz(npz(tmp_path, x=x, y=np.zeros(8, np.int64), x_test=x[:2], y_test=np.ones(2, np.int64)))
    assert ds.x_train.shape == (8, 3, 5, 6) and (ds.x_train == x.transpose(0, 3, 1, 2)).all()
    assert ds.x_test.shape == (2, 3, 5, 6) and "NHWC" in ds.note and ds.x_train.flags.c_contiguous


def test_npz_layout_key_decides(tmp_path):
    x = ramp(4, 3, 4, 3)  # ambiguous: axis 1 and the last axis both look like channels
    y = np.arange(4)
    assert load_npz(npz(tmp_path, x=x, y=y, x_test=x, y_test=y)).x_train.shape == (4, 3, 4, 3)
    ds = load_npz(npz(tmp_path, x=x, y=y, x_test=x, y_test=y, layout="NHWC"))
    assert ds.x_train.shape == (4, 3, 3, 4) and (ds.x_train == x.transpose(0, 3, 1, 2)).all()
    ds = load_npz(npz(tmp_path, x=ramp(4, 8, 8, 3), y=y, x_test=ramp(4, 8, 8, 3), y_test=y, layout="NCHW"))
    assert ds.x_train.shape == (4, 8, 8, 3)


def test_npz_flat_and_three_d_inputs(tmp_path):
    y = np.arange(5)
    flat = load_npz(npz(tmp_path, x=ramp(5, 13), y=y, x_test=ramp(2, 13), y_test=y[:2]))
    assert flat.x_train.shape == (5, 13) and flat.input_shape == (13,)
    gray = load_npz(npz(tmp_path, x=ramp(5, 7, 9), y=y, x_test=ramp(2, 7, 9), y_test=y[:2]))
    assert gray.x_train.shape == (5, 1, 7, 9) and gray.x_test.shape == (2, 1, 7, 9)


def test_npz_int8_signed_with_scale(tmp_path):
    x = np.random.default_rng(0).integers(-128, 128, (20, 40), dtype=np.int8)
    ds = load_npz(npz(tmp_path, x=x, y=np.arange(20) % 3, scale=np.float32(0.03125)))
    assert ds.signed and ds.x_train.dtype == ds.x_test.dtype == np.int8 and ds.scale == 0.03125
    assert isinstance(ds.scale, float) and ds.input_bits == 8
    assert load_npz(npz(tmp_path, x=x, y=np.arange(20) % 3)).scale == 1 / 128
    assert load_npz(npz(tmp_path, x=x.view(np.uint8), y=np.arange(20) % 3, scale=2)).scale == 2.0


def test_npz_holdout_split_is_seeded(tmp_path):
    p = npz(tmp_path, x=ramp(200, 6), y=np.arange(200) % 10)
    a, b, c = load_npz(p), load_npz(p), load_npz(p, seed=1)
    assert a.note == f"no x_test in {p}: seeded 20 % hold-out split (seed 0), 40 test / 160 train"
    assert (a.x_test == b.x_test).all() and (a.y_train == b.y_train).all()
    assert not np.array_equal(ids(a.x_test), ids(c.x_test)) and "(seed 1)" in c.note
    assert sorted(ids(a.x_train).tolist() + ids(a.x_test).tolist()) == list(range(200))
    assert (a.y_train == ids(a.x_train) % 10).all() and (np.diff(ids(a.x_train)) > 0).all()
    d = load_npz(p, test_fraction=0.25)
    assert len(d.x_test) == 50 and "25 % hold-out" in d.note
    train, test = holdout_split(3, 0.01)
    assert len(test) == 1 and len(train) == 2
    fails(lambda: holdout_split(1), "at least 2 samples")


def test_npz_limits_keep_a_seeded_subset(tmp_path):
    p = npz(tmp_path, x=ramp(100, 4), y=np.arange(100) % 5, x_test=ramp(30, 4), y_test=np.arange(30) % 5)
    a, b = load_npz(p, limit_train=10, limit_test=7), load_npz(p, limit_train=10, limit_test=7)
    assert len(a.x_train) == 10 and len(a.x_test) == 7 and (a.x_train == b.x_train).all()
    assert (np.diff(ids(a.x_train)) > 0).all() and ids(a.x_train).max() > 10
    fails(lambda: load_npz(p, limit_train=0), str(p), "limit_train")


def test_npz_without_labels_for_reconstruction(tmp_path):
    x = ramp(50, 16)
    ds = load_npz(npz(tmp_path, x=x), labels=False)
    assert ds.classes == 0 and not ds.labeled and ds.y_train.dtype == np.int64
    assert (ds.y_train == 0).all() and len(ds.y_train) == 40 and len(ds.y_test) == 10
    ds = load_npz(npz(tmp_path, x=x, x_test=x[:5], y=np.arange(50)), labels=False)
    assert len(ds.x_test) == 5 and (ds.y_train == 0).all() and ds.classes == 0
    assert load_data("npz", tmp_path / "d.npz", labels=False).classes == 0
    fails(lambda: load_npz(npz(tmp_path, x=x)), "d.npz: y: missing", "labels=False")
    fails(lambda: load_data("mnist", tmp_path, labels=False), "'mnist'", "labels=False")


# ---------------------------------------------------------------- .npz files: every malformed case


GOOD = {"x": np.zeros((4, 3), np.uint8), "y": np.arange(4)}


@pytest.mark.parametrize(("arrays", "key", "fragment"), [
    ({"y": GOOD["y"]}, "x", "missing"),
    ({"x": GOOD["x"]}, "y", "missing"),
    ({**GOOD, "x": np.zeros((4, 3), np.float32)}, "x", "float32 data"),
    ({**GOOD, "x": np.zeros((4, 3), np.int16)}, "x", "int16 data: expected uint8 or int8"),
    ({**GOOD, "x": np.zeros((4, 3), bool)}, "x", "bool data"),
    ({**GOOD, "y": np.zeros(4, np.float64)}, "y", "float64 labels"),
    ({**GOOD, "y": np.array([0, 1, -1, 2])}, "y", "negative label -1"),
    ({**GOOD, "y": np.array([0, 1, 70000, 2])}, "y", "label 70000"),
    ({**GOOD, "y": np.arange(5)}, "y", "5 labels for 4 samples"),
    ({**GOOD, "y": np.zeros((4, 2), np.int64)}, "y", "shape (4, 2)"),
    ({**GOOD, "x_test": GOOD["x"]}, "y_test", "missing (x_test is given"),
    ({**GOOD, "y_test": GOOD["y"]}, "x_test", "missing (y_test is given"),
    ({**GOOD, "x_test": np.zeros((2, 4), np.uint8), "y_test": np.arange(2)}, "x_test", "samples of shape (4,)"),
    ({**GOOD, "x_test": np.zeros((2, 3), np.int8), "y_test": np.arange(2)}, "x_test", "int8, x is uint8"),
    ({**GOOD, "x_test": GOOD["x"], "y_test": np.arange(3)}, "y_test", "3 labels for 4 samples in x_test"),
    ({"x": np.zeros((0, 3), np.uint8), "y": np.zeros(0, np.int64)}, "x", "empty"),
    ({**GOOD, "x_test": np.zeros((0, 3), np.uint8), "y_test": np.zeros(0, np.int64)}, "x_test", "empty"),
    ({"x": np.zeros(4, np.uint8), "y": GOOD["y"]}, "x", "shape (4,)"),
    ({"x": np.zeros((4, 1, 1, 1, 1), np.uint8), "y": GOOD["y"]}, "x", "shape (4, 1, 1, 1, 1)"),
    ({"x": np.zeros((1, 3), np.uint8), "y": np.zeros(1, np.int64)}, "x", "too few for a hold-out split"),
    ({**GOOD, "scale": np.float64("nan")}, "scale", "positive finite"),
    ({**GOOD, "scale": -0.5}, "scale", "positive finite"),
    ({**GOOD, "scale": 0.0}, "scale", "positive finite"),
    ({**GOOD, "scale": np.array([0.1, 0.2])}, "scale", "shape (2,)"),
    ({**GOOD, "scale": "big"}, "scale", "expected a number"),
    ({"x": np.zeros((4, 2, 2, 2), np.uint8), "y": GOOD["y"], "layout": "NWHC"}, "layout", "unknown layout 'NWHC'"),
    ({**GOOD, "layout": np.array(["NCHW", "NHWC"])}, "layout", "expected a string"),
])
def test_npz_errors_name_file_and_key(tmp_path, arrays, key, fragment):
    p = npz(tmp_path, "bad.npz", **arrays)
    fails(lambda: load_npz(p), f"{p}: {key}: ", fragment)


def test_npz_object_arrays_are_never_unpickled(tmp_path):
    p = tmp_path / "pickle.npz"
    np.savez(p, x=np.array([{"a": 1}, None], dtype=object), y=np.arange(2))
    fails(lambda: load_npz(p), f"{p}: x: ", "object array")
    np.savez(p, x=GOOD["x"], y=np.array([1, "a"], dtype=object))
    fails(lambda: load_npz(p), f"{p}: y: ", "object array")


def test_npz_unknown_keys_are_named(tmp_path):
    p = npz(tmp_path, "extra.npz", **GOOD, labels=np.arange(4), mean=np.zeros(3))
    msg = fails(lambda: load_npz(p), str(p), "unknown keys", "'labels'", "'mean'", "known: x, y")
    assert "x_test" in msg


def test_npz_not_a_zip_and_corrupt_zip(tmp_path):
    p = tmp_path / "junk.npz"
    p.write_text("hello, not a zip\n")
    fails(lambda: load_npz(p), str(p), "not a .npz file", "not a zip archive")
    np.save(tmp_path / "arr.npy", GOOD["x"])
    (tmp_path / "arr.npy").rename(p)
    fails(lambda: load_npz(p), str(p), "a .npy array")
    p.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    fails(lambda: load_npz(p), str(p), "not a readable .npz file")
    good = npz(tmp_path, "good.npz", **GOOD).read_bytes()
    p.write_bytes(good[: len(good) // 2])
    fails(lambda: load_npz(p), str(p), "not a readable .npz file")
    fails(lambda: load_npz(tmp_path / "missing.npz"), "missing.npz", "no such file")


def _zip_member(path, key, payload, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compress) as zf:
        zf.writestr(key + ".npy", payload)
        if key != "y":
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.arange(4))
            zf.writestr("y.npy", buf.getvalue())


def test_npz_truncated_member_and_declared_sizes(tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.zeros((100, 10), np.uint8))
    p = tmp_path / "trunc.npz"
    _zip_member(p, "x", buf.getvalue()[:-37])
    fails(lambda: load_npz(p), f"{p}: x: ", "declares shape (100, 10)", "member holds 963 bytes")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (1 << 33, 4)})
    _zip_member(p, "x", header.getvalue() + b"\0" * 64)
    fails(lambda: load_npz(p), f"{p}: x: ", f"over the {MAX_BYTES >> 30} GiB limit")
    _zip_member(p, "x", b"\x93NUMPY\x09\x00garbage")
    fails(lambda: load_npz(p), f"{p}: x: ", "unsupported .npy format version 9.0")
    _zip_member(p, "x", b"\x93NUMPY\x01\x00\x07\x00garbage")
    fails(lambda: load_npz(p), f"{p}: x: ", "not a readable .npy member")


def test_npz_forged_member_size_is_refused_before_reading(tmp_path):
    p = tmp_path / "forged.npz"
    raw = bytearray(npz(tmp_path, "forged.npz", x=np.zeros((4, 1000), np.uint8), y=np.arange(4)).read_bytes())
    big = struct.pack("<I", 4128 + (1 << 30))  # x.npy: 128-byte header + 4000 bytes, claimed 1 GiB larger
    local, central = raw.find(b"PK\x03\x04"), raw.find(b"PK\x01\x02")  # x.npy comes first in both
    raw[local + 22:local + 26] = raw[central + 24:central + 28] = big
    p.write_bytes(bytes(raw))
    fails(lambda: load_npz(p), f"{p}: x: ", "corrupt zip directory")


def test_npz_corrupt_compressed_member(tmp_path):
    p = tmp_path / "crc.npz"
    np.savez_compressed(p, x=np.random.default_rng(0).integers(0, 256, (200, 100), dtype=np.uint8), y=np.arange(200))
    with zipfile.ZipFile(p) as zf:
        info = zf.getinfo("x.npy")
    raw = bytearray(p.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start + info.compress_size // 2, start + info.compress_size // 2 + 8):
        raw[i] ^= 0x5A
    p.write_bytes(bytes(raw))
    fails(lambda: load_npz(p), f"{p}: x: ", "corrupt")


# ---------------------------------------------------------------- image folders


def png(path, arr):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def make_folder(root, classes=("cat", "dog"), n=3, size=(6, 5), test=True, gray=False):
    rng = np.random.default_rng(0)
    shape = size if gray else (*size, 3)
    for split in ("train", "test") if test else ("train",):
        for c in classes:
            for i in range(n if split == "train" else 1):
                png(root / split / c / f"{i}.png", rng.integers(0, 256, shape, dtype=np.uint8))
    return root


def test_folder_rgb_with_test_split(tmp_path):
    root = make_folder(tmp_path / "imgs", classes=("dog", "cat", "bird"))
    (root / "train" / "cat" / ".DS_Store").write_bytes(b"junk")
    (root / "train" / ".cache").mkdir()
    (root / "train" / "README").write_text("not a class")
    ds = load_folder(root)
    assert ds.class_names == ("bird", "cat", "dog") and ds.classes == 3 and ds.name == "imgs"
    assert ds.x_train.shape == (9, 3, 6, 5) and ds.x_test.shape == (3, 3, 6, 5) and ds.x_train.dtype == np.uint8
    assert ds.y_train.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] and ds.y_test.tolist() == [0, 1, 2]
    assert ds.scale == 1 / 255 and not ds.signed and ds.note == ""
    from PIL import Image

    first = np.asarray(Image.open(root / "train" / "bird" / "0.png"))
    assert (ds.x_train[0] == first.transpose(2, 0, 1)).all()
    assert (load_data("folder", root).x_test == ds.x_test).all()


def test_folder_grayscale_and_holdout(tmp_path):
    root = make_folder(tmp_path / "g", n=10, test=False, gray=True)
    ds, again = load_folder(root, seed=3), load_folder(root, seed=3)
    assert ds.x_train.shape == (16, 1, 6, 5) and ds.x_test.shape == (4, 1, 6, 5)
    assert ds.note == f"no x_test in {root}: seeded 20 % hold-out split (seed 3), 4 test / 16 train"
    assert (ds.x_test == again.x_test).all() and (ds.y_train == again.y_train).all()
    small = load_folder(root, limit_train=5, limit_test=2)
    assert len(small.x_train) == 5 and len(small.x_test) == 2


def test_folder_errors_name_the_file(tmp_path):
    root = make_folder(tmp_path / "a")
    bad = root / "train" / "dog" / "9.png"
    bad.write_text("not an image")
    fails(lambda: load_folder(root), str(bad), "not a readable image")
    png(bad, np.zeros((7, 5, 3), np.uint8))
    fails(lambda: load_folder(root), str(bad), "5x7 image, expected 5x6")
    png(bad, np.zeros((6, 5), np.uint8))
    fails(lambda: load_folder(root), str(bad), "grayscale image (mode L), expected colour")
    png(bad, np.zeros((6, 5), np.uint16) + 300)
    fails(lambda: load_folder(root), str(bad), "expected 8-bit")
    bad.unlink()
    extra = root / "test" / "horse"
    png(extra / "0.png", np.zeros((6, 5, 3), np.uint8))
    fails(lambda: load_folder(root), str(extra), "class 'horse' not in")
    (extra / "0.png").unlink()
    fails(lambda: load_folder(root), str(extra), "class 'horse' not in")  # even when empty
    extra.rmdir()
    assert len(load_folder(root).x_test) == 2
    empty = root / "train" / "emu"
    empty.mkdir()
    fails(lambda: load_folder(root), str(empty), "no images")
    fails(lambda: load_folder(tmp_path / "none"), "none", "no such folder")
    (tmp_path / "b" / "train").mkdir(parents=True)
    fails(lambda: load_folder(tmp_path / "b"), str(tmp_path / "b" / "train"), "no class folders")
    fails(lambda: load_folder(tmp_path), str(tmp_path), "no train/ folder")


def test_folder_test_set_must_hold_images(tmp_path):
    root = make_folder(tmp_path / "a", test=False)
    (root / "test" / "cat").mkdir(parents=True)
    fails(lambda: load_folder(root), str(root / "test"), "no images")


# ---------------------------------------------------------------- from Python


def test_from_arrays_integers_and_floats():
    x = ramp(30, 2, 3, 5)
    ds = from_arrays(x, np.arange(30) % 3)
    assert ds.x_train.shape == (24, 2, 3, 5) and ds.name == "arrays" and "no x_test in arrays" in ds.note
    s = 0.5
    xf = np.array([[0.0, 0.24, 0.25, 0.74, 0.75, 1.0, 127.0, 200.0]])
    q = from_arrays(np.repeat(xf, 2, 0), [0, 1], xf, [1], scale=s)
    assert q.x_test.dtype == np.uint8 and q.x_test[0].tolist() == [0, 0, 1, 1, 2, 2, 254, 255]
    assert q.scale == 0.5 and "round half up" in q.note and "3 of 24 values clipped to 0..255" in q.note
    neg = from_arrays(np.array([[-1.25, -0.75, 0.25, 100.0]] * 4), np.arange(4), scale=s)
    assert neg.signed and neg.x_train.dtype == np.int8 and neg.x_train[0].tolist() == [-2, -1, 1, 127]
    assert "2 of 6 values clipped" in from_arrays(np.array([[-1.0, 70.0]] * 2), [0, 1], scale=0.5,
                                                  x_test=np.array([[0.0, 1.0]]), y_test=[0]).note
    signed_by_test = from_arrays(np.ones((2, 2)), [0, 1], -np.ones((1, 2)), [0], scale=1.0)
    assert signed_by_test.x_train.dtype == signed_by_test.x_test.dtype == np.int8


def test_from_arrays_errors():
    fails(lambda: from_arrays(np.zeros((4, 2)), np.arange(4)), "arrays: scale: ", "float x needs a scale")
    fails(lambda: from_arrays(np.full((4, 2), np.nan), np.arange(4), scale=1.0), "arrays: x: ", "NaN")
    fails(lambda: from_arrays(np.zeros((4, 2), np.int64), np.arange(4), name="mfcc"), "mfcc: x: ", "int64")
    fails(lambda: from_arrays(np.zeros((4, 2), np.uint8)), "arrays: y: ", "missing")
    fails(lambda: from_arrays(np.zeros((4, 2), np.uint8), np.arange(4), scale=-1), "arrays: scale: ")
    fails(lambda: from_arrays(np.zeros((4, 2), np.uint8), np.arange(4), test_fraction=1.5), "test_fraction")
    fails(lambda: from_arrays(np.zeros((4, 2, 2, 2), np.uint8), np.arange(4), layout="HWC"), "arrays: layout: ")
    assert from_arrays(np.zeros((4, 2), np.uint8), labels=False).classes == 0


def test_from_torch():
    torch = pytest.importorskip("torch")
    from torch.utils.data import TensorDataset

    x = torch.randint(0, 256, (20, 1, 4, 4), dtype=torch.uint8)
    y = torch.arange(20) % 4
    ds = from_torch(TensorDataset(x, y), TensorDataset(x[:5], y[:5]))
    assert (ds.x_train == x.numpy()).all() and ds.y_train.tolist() == y.tolist() and ds.classes == 4
    assert ds.x_test.shape == (5, 1, 4, 4) and ds.name == "torch"
    f = from_torch(TensorDataset(x.float() / 255, y), scale=1 / 255)
    assert f.x_train.dtype == np.uint8 and "hold-out" in f.note
    assert (np.sort(np.concatenate([f.x_train, f.x_test]), 0) == np.sort(x.numpy(), 0)).all()
    s = from_torch(TensorDataset(torch.randint(-128, 128, (10, 12), dtype=torch.int8)), labels=False,
                   scale=0.1)
    assert s.signed and s.classes == 0 and s.scale == 0.1
    items = [(torch.zeros(3, dtype=torch.uint8), 0), (torch.zeros(4, dtype=torch.uint8), 1)]
    fails(lambda: from_torch(items), "torch (train): item 1 input", "item 0 is uint8 (3,)")
    fails(lambda: from_torch([(torch.zeros(3, dtype=torch.uint8), 0.5)] * 2), "item 0 label", "integer")
    fails(lambda: from_torch([]), "torch (train): x: empty")
    fails(lambda: from_torch([torch.zeros(3, dtype=torch.uint8)] * 2), "item 0", "(input, label) pair")


# ---------------------------------------------------------------- idx files and named sets


def idx_gz(magic, dims, payload):
    return gzip.compress(struct.pack(">II", magic, dims[0]) + b"".join(struct.pack(">I", d) for d in dims[1:])
                         + payload)


def write_mnist(root, n=6, images=None):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        img = images if images is not None else idx_gz(0x803, (n, 4, 4), rng.integers(0, 256, n * 16).astype(
            np.uint8).tobytes())
        (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(img)
        (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(idx_gz(0x801, (n,), bytes(range(n))))
    return root


def test_idx_set_from_small_files(tmp_path):
    root = write_mnist(tmp_path / "m")
    ds = load_data("fashion-mnist", root, limit_train=4)
    assert ds.x_train.shape == (4, 1, 4, 4) and ds.x_test.shape == (6, 1, 4, 4) and ds.classes == 6
    assert ds.y_train.tolist() == [0, 1, 2, 3] and ds.scale == 1 / 255
    x, y = load_split("mnist", "train", root, 4)
    assert (x == ds.x_train).all() and (y == ds.y_train).all()


def test_idx_corrupt_streams_are_one_line(tmp_path):
    good = idx_gz(0x803, (100, 28, 28), bytes(range(256)) * 306 + bytes(64))
    p = tmp_path / "img.gz"
    assert len(read_idx(p.write_bytes(good) and p)) == 100
    for bad in (good[: len(good) // 2], good[:50] + b"\xff" * 40 + good[90:], good[:-8] + bytes(8), good + b"junk"):
        p.write_bytes(bad)
        fails(lambda: read_idx(p), str(p), "not a readable gzip file")
    p.write_bytes(gzip.compress(b"\0\0\x08"))
    fails(lambda: read_idx(p), str(p), "too short for an idx header")
    p.write_bytes(idx_gz(0x803, (0, 28, 28), b""))
    fails(lambda: read_idx(p), str(p), "empty")
    p.write_bytes(idx_gz(0x803, (2, 2, 2), bytes(9)))
    fails(lambda: read_idx(p), str(p), "header says 8 bytes of data, file has 9")
    p.write_bytes(idx_gz(0x803, (1 << 20, 1 << 10, 1 << 10), b""))
    fails(lambda: read_idx(p), str(p), "over the 4 GiB limit")


def test_idx_set_errors_name_the_file(tmp_path):
    root = write_mnist(tmp_path / "m", images=idx_gz(0x801, (6,), bytes(6)))
    fails(lambda: load_data("mnist", root), "train-images-idx3-ubyte.gz", "holds labels")
    root = write_mnist(tmp_path / "n")
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(idx_gz(0x801, (5,), bytes(5)))
    fails(lambda: load_data("mnist", root), str(root), "6 images but 5 labels")
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b truncated")
    fails(lambda: load_data("mnist", root), "t10k-labels-idx1-ubyte.gz", "not a readable gzip")
    fails(lambda: load_data("mnist"), "'mnist' needs --data-dir")
    fails(lambda: load_data("imagenet", root), "unknown data set 'imagenet'", "npz, folder")


def test_digits():
    ds = load_data("digits")
    x, y = load_dataset("digits")
    assert (ds.x_test == x).all() and (ds.y_test == y).all() and ds.classes == 10
    assert len(ds.x_train) == 1438 and "359 test / 1438 train" in ds.note
    assert len(load_data("digits", limit_train=100).x_train) == 100


def test_training_wrapper(tmp_path):
    from wavebits.training.data import load

    x, y = load("digits", "test", limit=10)
    assert x.shape == (10, 1, 8, 8) and y.dtype == np.int64
    p = npz(tmp_path, x=ramp(30, 5), y=np.arange(30) % 2)
    xt, _ = load("npz", "test", p)
    assert (xt == load_npz(p).x_test).all()
    assert len(load("npz", "train", p, 7)[0]) == 7


def test_fashion_mnist_config():
    from wavebits.training.config import load_config

    cfg = load_config(None, "fashion-mnist")
    assert cfg.dataset == "fashion-mnist" and cfg.arch == "lenet5" and cfg.data_dir.endswith("fashion-mnist")


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_shared_idx_sets(name):
    root = SHARED_DATA / name
    if not (root / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"{name} not present in {root}")
    ds = load_data(name, root)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.classes == 10 and ds.x_train.flags.writeable


def test_shared_cifar10():
    p = SHARED_DATA / "cifar10-jpg" / "CIFAR-10-images.tar.gz"
    if not p.is_file():
        pytest.skip(f"CIFAR-10 not present at {p}")
    ds = load_data("cifar10", p, limit_train=50, limit_test=20)
    assert ds.x_train.shape == (50, 3, 32, 32) and ds.x_test.shape == (20, 3, 32, 32)
    assert ds.classes == 10 and ds.class_names[0] == "airplane"
