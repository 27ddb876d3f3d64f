"""benchmarks/decode_cifar_pack.py: JPEG pack -> the uint8 layout that selfsup.data loads.

A tiny pack is built here from solid-colour images (a stand-in for the real pack, so the
pixels are known); one test decodes a slice of the real pack when it is on this machine.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks/ scripts live at the repo root

from benchmarks import decode_cifar_pack as dec  # noqa: E402

REAL_PACK = dec.DEFAULT_SOURCE


def _jpeg(rgb) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), tuple(int(c) for c in rgb)).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _colour(i: int) -> tuple[int, int, int]:
    return (20 * i % 256, 255 - 20 * i % 256, 128)


def tiny_pack(path: Path, n_train: int = 30, n_test: int = 10, classes=dec.CLASSES) -> Path:
    """Images grouped by class like the real pack; image i is a solid colour _colour(i)."""
    n = n_train + n_test
    labels = np.concatenate([np.sort(np.arange(n_train) % 10), np.sort(np.arange(n_test) % 10)]).astype(np.uint8)
    split = np.array([0] * n_train + [1] * n_test, dtype=np.uint8)
    blobs = [_jpeg(_colour(i)) for i in range(n)]
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    jpeg = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    np.savez(path, jpeg=jpeg, offsets=offsets, labels=labels, split=split, classes=np.array(classes))
    return path


def test_decodes_into_the_layout_selfsup_loads(tmp_path, monkeypatch):
    source = tiny_pack(tmp_path / "pack.npz")
    assert dec.main(["--source", str(source), "--out", str(tmp_path / "data"), "--workers", "2"]) == 0
    with np.load(tmp_path / "data" / dec.PACK_FILE) as f:
        assert f["x_train"].shape == (30, 3, 32, 32) and f["x_train"].dtype == np.uint8
        assert f["x_test"].shape == (10, 3, 32, 32)
        assert f["y_train"].shape == (30,) and list(f["classes"]) == list(dec.CLASSES)
        # pixels and labels travel together through the shuffle
        order = dec.split_order(np.load(source)["split"], "train")
        for row, i in enumerate(order):
            assert np.abs(f["x_train"][row, :, 5, 5].astype(int) - np.array(_colour(int(i)))).max() <= 3
        assert (f["y_train"] == np.load(source)["labels"][order]).all()

    monkeypatch.setenv("SELFSUP_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("SELFSUP_MODE", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    from selfsup import data

    test_set = data.load_cifar10(train=False)
    assert len(test_set) == 10 and test_set.images.shape == (10, 3, 32, 32)


def test_shuffle_is_fixed_and_mixes_classes(tmp_path):
    source = tiny_pack(tmp_path / "pack.npz")
    a = dec.decode(source, workers=1, limit=10)
    b = dec.decode(source, workers=2, limit=10, chunk_size=3)
    assert all((a[k] == b[k]).all() for k in ("x_train", "y_train", "x_test", "y_test"))
    assert len(a["x_train"]) == 10 and len(set(a["y_train"].tolist())) > 3  # not the first class only


def test_wrong_class_order_is_refused(tmp_path, capsys):
    source = tiny_pack(tmp_path / "pack.npz", classes=tuple(reversed(dec.CLASSES)))
    assert dec.main(["--source", str(source), "--out", str(tmp_path / "data")]) == 2
    assert "class order" in capsys.readouterr().err
    assert not (tmp_path / "data" / dec.PACK_FILE).exists()


@pytest.mark.skipif(not REAL_PACK.exists(), reason="the real JPEG pack is not on this machine")
def test_real_pack_slice(tmp_path):
    arrays = dec.decode(REAL_PACK, workers=2, limit=50)
    assert arrays["x_train"].shape == (50, 3, 32, 32) and arrays["x_test"].shape == (50, 3, 32, 32)
    assert len(set(arrays["y_train"].tolist())) >= 8
    mean = arrays["x_train"].mean(axis=(0, 2, 3)) / 255
    assert np.allclose(mean, (0.4914, 0.4822, 0.4465), atol=0.08)  # CIFAR-10's channel means, roughly


def test_compact_copy_is_lossless(tmp_path):
    source = tiny_pack(tmp_path / "pack.npz")
    small = dec.compact(source, tmp_path / dec.COMPACT_FILE)
    assert small.stat().st_size < source.stat().st_size
    assert dec.read_pack(small)[0] == dec.read_pack(source)[0]  # every JPEG byte rebuilt
    a, b = dec.decode(source, workers=1), dec.decode(small, workers=1)
    assert all((a[k] == b[k]).all() for k in ("x_train", "y_train", "x_test", "y_test"))
