"""The pretext datasets of Notebook 1, as solved: ``dataset.batch`` (what trains the network) and
``dataset[i]`` (what students look at) give exactly the same items on the same indices, and the
training loader reads only ``batch``."""

from __future__ import annotations

import random

import pytest
import torch

from benchmarks import methods
from selfsup import data

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def notebook():
    return methods.definitions("01_pretext_tasks", CPU)


@pytest.fixture(scope="module")
def split():
    images, labels = data.synthetic_cifar(40, seed=0)
    return data.ImageTensorDataset(images, labels, device=CPU)


def _item_with_label(dataset, index: int, label: int, tries: int = 2000):
    """``dataset[index]`` read until its random label is ``label``."""
    for _ in range(tries):
        x, k = dataset[index]
        if k == label:
            return x
    raise AssertionError(f"dataset[{index}] never drew label {label} in {tries} reads")


@pytest.mark.parametrize("name", ["RotationDataset", "JigsawDataset"])
def test_batch_and_items_agree_exactly_on_the_same_indices(notebook, split, name):
    dataset = notebook[name](split)
    random.seed(0)
    torch.manual_seed(0)
    indices = torch.tensor([3, 17, 3, 0, 39, 21])
    x, labels = dataset.batch(indices)
    assert x.shape == (6, 3, 32, 32) and labels.dtype == torch.int64 and labels.shape == (6,)
    for j, i in enumerate(indices.tolist()):
        assert torch.equal(x[j], _item_with_label(dataset, i, int(labels[j]))), (name, j)


def test_colorization_batch_equals_its_items(notebook, split):
    dataset = notebook["ColorizationDataset"](split)
    indices = torch.tensor([5, 0, 33, 5])
    gray, color = dataset.batch(indices)
    for j, i in enumerate(indices.tolist()):
        item_gray, item_color = dataset[i]
        assert torch.equal(gray[j], item_gray) and torch.equal(color[j], item_color)


def test_image_dataset_batch_equals_its_items(split):
    x, y = split.batch(torch.tensor([7, 1, 7]))
    assert torch.equal(x, torch.stack([split[i][0] for i in (7, 1, 7)])) and y.tolist() == [split[i][1] for i in (7, 1, 7)]


@pytest.mark.parametrize("name", ["RotationDataset", "JigsawDataset", "ColorizationDataset"])
def test_training_reads_batches_never_items(notebook, split, name, monkeypatch):
    dataset = notebook[name](split)
    monkeypatch.setattr(type(dataset), "__getitem__", lambda self, i: pytest.fail("training read an item"))
    notebook["BATCH_SIZE"] = 8
    batches = list(notebook["pretext_loader"](dataset, True))
    assert len(batches) == 5 and all(b[0].shape == (8, 3, 32, 32) for b in batches)
