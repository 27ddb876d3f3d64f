"""No training step of any method makes the host wait for the GPU (issue 16).

The steps run on the CPU in the configuration ``selfsup.train.fit`` uses on CUDA (float16
autocast, ``GradScaler``, fused AdamW), with SmallConvNet's layers at a few channels
(:class:`benchmarks.methods.NarrowConvNet`: float16 convolutions are slow on a CPU), under :class:`benchmarks.host_syncs.HostSyncCounter`, which
counts the calls that would block on CUDA: values read by the host, tensors made from Python
data, copies from host memory, data-dependent shapes. The first step may sync (optimiser state,
the scaler's first scale); every later step must not.

kornia (SimCLR's augmentation) draws its random parameters on the host by design and moves them
with non-blocking copies (``kornia.core.utils._to_device_nonblocking``), so its host-side reads
are not waits for the GPU; they are counted, reported and left out here. On a GPU,
``benchmarks/device_speed.sh`` checks the whole step with ``torch.cuda.set_sync_debug_mode``.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from benchmarks import methods
from benchmarks.host_syncs import HostSyncCounter, LoaderWindows
from selfsup import data, models, runtime, train

CPU = torch.device("cpu")
BATCH, STEPS = 16, 5
#: Callers whose host-side reads are by design not waits for the GPU (see the module docstring).
HOST_SIDE_BY_DESIGN = ("kornia",)


@pytest.fixture(scope="module")
def namespaces():
    return {nb: methods.definitions(nb, CPU) for nb in set(methods.NOTEBOOK.values())}


@pytest.fixture
def cuda_configuration(monkeypatch):
    """fit as on CUDA (mixed precision: autocast, GradScaler, fused AdamW), with its progress bar."""
    monkeypatch.setattr(train, "mixed_precision", lambda device: True, raising=False)
    monkeypatch.setattr(runtime, "show_progress", lambda: True)
    monkeypatch.setattr(train, "SHOW_EVERY", 2, raising=False)


def _split(n: int = BATCH * STEPS) -> data.ImageTensorDataset:
    images, labels = data.synthetic_cifar(n, seed=0)
    return data.ImageTensorDataset(images, labels, device=CPU)


def _counted_fit(model, loader, step, lr=1e-3, weight_decay=5e-4, epochs=1) -> HostSyncCounter:
    with HostSyncCounter() as counter:
        train.fit(model, LoaderWindows(loader, counter), step, epochs, lr, CPU, weight_decay=weight_decay)
    return counter


def _later_steps(counter: HostSyncCounter) -> list:
    return [w for w in counter.order if isinstance(w, tuple) and w[1] not in (0, "end")]


@pytest.mark.parametrize("name", methods.METHODS)
def test_no_training_step_after_the_first_syncs_the_host(name, namespaces, cuda_configuration):
    method = methods.build(name, namespaces[methods.NOTEBOOK[name]], _split(), BATCH, narrow=True)
    counter = _counted_fit(method.model, method.loader, method.step, method.lr, method.weight_decay, epochs=2)
    later = _later_steps(counter)
    assert len(later) == 2 * STEPS - 1, counter.summary()
    blocking = {w: counter.syncs(w, exclude=HOST_SIDE_BY_DESIGN) for w in later}
    assert not any(blocking.values()), [row for row in counter.summary() if row["syncs"]]


def test_the_counter_sees_a_per_step_item_and_the_unfused_optimiser(namespaces, cuda_configuration, monkeypatch):
    """The test above can fail: a loss read every step, or AdamW without fused under GradScaler."""
    method = methods.build("supervised", namespaces["01_pretext_tasks"], _split(), BATCH, narrow=True)

    def reading_step(model, batch):
        loss = method.step(model, batch)
        print(f"{loss.item():.3f}", end=" ")
        return loss

    counter = _counted_fit(method.model, method.loader, reading_step)
    assert all(counter.syncs(w) >= 1 for w in _later_steps(counter))

    monkeypatch.setattr(train, "make_optimizer", lambda params, lr, wd: torch.optim.AdamW(params, lr=lr))
    method = methods.build("supervised", namespaces["01_pretext_tasks"], _split(), BATCH, narrow=True)
    counter = _counted_fit(method.model, method.loader, method.step)
    assert all(counter.syncs(w) >= 1 for w in _later_steps(counter)), "GradScaler reads the inf flag every step"


def test_the_counter_counts_what_would_block_and_nothing_else():
    x = torch.randn(8, 3)
    with HostSyncCounter() as counter:
        counter.mark("free")
        y = (x * 2).sum(0).to(torch.float16).float()
        torch.randperm(8)[:4]
        x.to(dtype=torch.float64)
        counter.mark("item")
        y[0].item()
        counter.mark("python data")
        torch.tensor([0.5, 0.25])
        counter.mark("mask")
        x[x > 0]
        counter.mark("reads")
        x.cpu(), x.tolist(), x.numpy()
        counter.mark("move")
        x.to(CPU)
    assert counter.syncs("free") == 0
    assert counter.aten["free"] > 0
    assert [counter.syncs(w) for w in ("item", "python data", "mask", "reads", "move")] == [1, 1, 1, 3, 1]


def test_device_loader_keeps_labels_and_order_on_the_device():
    split = _split(40)
    loader = data.DeviceLoader(split, 8, shuffle=True, seed=0)
    with HostSyncCounter() as counter:
        for _ in LoaderWindows(loader, counter):
            pass
    assert all(counter.syncs(w) == 0 for w in _later_steps(counter)), counter.summary()
    first = next(iter(data.DeviceLoader(split, 8, shuffle=True, seed=3)))
    again = next(iter(data.DeviceLoader(split, 8, shuffle=True, seed=3)))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])


def test_fit_records_every_step_loss_and_epoch_means():
    torch.manual_seed(0)
    loader = data.DeviceLoader(_split(64), 16, shuffle=True)
    model = models.Classifier(models.SmallConvNet(), 10)
    history = train.fit(model, loader, lambda m, b: F.cross_entropy(m(b[0]), b[1]), 3, 1e-3, CPU)
    assert len(history.step_losses) == 12
    assert history.epoch_losses == pytest.approx([sum(history.step_losses[i:i + 4]) / 4 for i in (0, 4, 8)])
