"""selfsup.data: normalisation, synthetic stand-in, datasets, the device loader, the npz cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selfsup import data


def test_normalize_round_trip_and_uint8():
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    n = data.normalize(x)
    assert n.dtype == torch.float32
    assert torch.allclose(data.denormalize(n), x.float() / 255, atol=1e-6)
    assert torch.allclose(data.normalize(x[0]), n[0])


def test_synthetic_cifar_is_deterministic_balanced_and_class_structured():
    x1, y1 = data.synthetic_cifar(200, seed=1)
    x2, y2 = data.synthetic_cifar(200, seed=1)
    assert x1.dtype == torch.uint8 and x1.shape == (200, 3, 32, 32)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert torch.bincount(y1).tolist() == [20] * 10
    # class structure: images are closer to their class mean than to other class means (mostly)
    f = x1.float().flatten(1)
    means = torch.stack([f[y1 == c].mean(0) for c in range(10)])
    assert (torch.cdist(f, means).argmin(1) == y1).float().mean() > 0.5


def test_load_cifar10_in_grading_mode_is_synthetic_and_small():
    train, test = data.load_cifar10(True), data.load_cifar10(False)
    assert len(train) == data.GRADING_TRAIN_SIZE and len(test) == data.GRADING_TEST_SIZE
    x, y = train[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and isinstance(y, int)


def test_load_cifar10_reads_the_npz_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SELFSUP_MODE", "full")
    monkeypatch.setenv("SELFSUP_DATA", str(tmp_path))
    rng = np.random.default_rng(0)
    arrays = {f"x_{s}": rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8) for s, n in (("train", 6), ("test", 4))}
    arrays.update(y_train=np.arange(6) % 10, y_test=np.arange(4) % 10)
    np.savez(tmp_path / "cifar10_uint8.npz", **arrays)
    test = data.load_cifar10(False)
    assert len(test) == 4 and torch.equal(test.images, torch.from_numpy(arrays["x_test"]))


def test_dataset_validates_its_input():
    with pytest.raises(ValueError, match="uint8"):
        data.ImageTensorDataset(torch.rand(2, 3, 4, 4), torch.zeros(2))
    with pytest.raises(ValueError, match="labels"):
        data.ImageTensorDataset(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(3))


def test_device_loader_covers_the_split_once_per_epoch():
    images, labels = data.synthetic_cifar(50, seed=0)
    ds = data.ImageTensorDataset(images, labels)
    loader = data.DeviceLoader(ds, batch_size=16, shuffle=True, seed=0)
    assert len(loader) == 4
    seen = torch.cat([y for _, y in loader])
    assert sorted(seen.tolist()) == sorted(labels.tolist())
    first = [y.tolist() for _, y in loader]
    second = [y.tolist() for _, y in loader]
    assert first != second, "a new permutation every epoch"
    x, y = next(iter(data.DeviceLoader(ds, 8)))
    assert torch.allclose(x, torch.stack([ds[i][0] for i in range(8)])) and y.tolist() == labels[:8].tolist()
    assert len(data.DeviceLoader(ds, 16, drop_last=True)) == 3


def test_subset_is_random_and_repeatable():
    images, labels = data.synthetic_cifar(50, seed=0)
    ds = data.ImageTensorDataset(images, labels)
    a, b = ds.subset(10, seed=1), ds.subset(10, seed=1)
    assert len(a) == 10 and torch.equal(a.images, b.images)
    assert ds.subset(100) is ds
