"""selfsup.models, selfsup.train and selfsup.augment."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from selfsup import augment, data, models, train


def test_small_conv_net_is_the_seed_backbone():
    net = models.SmallConvNet()
    assert models.count_parameters(net) == 618_240
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 256)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 32), (32, 64), (64, 128)]
    assert models.Classifier(net, 4)(torch.randn(2, 3, 32, 32)).shape == (2, 4)


def test_fit_reduces_the_loss_and_records_history():
    torch.manual_seed(0)
    images, labels = data.synthetic_cifar(128, seed=0)
    loader = data.DeviceLoader(data.ImageTensorDataset(images, labels), 32, shuffle=True)
    model = models.Classifier(models.SmallConvNet(), 10)

    def step(m, batch):
        x, y = batch
        return F.cross_entropy(m(x), y)

    history = train.fit(model, loader, step, num_epochs=4, lr=3e-3, device=torch.device("cpu"))
    assert len(history.step_losses) == 16 and len(history.epoch_losses) == 4
    assert history.epoch_losses[-1] < history.epoch_losses[0]
    assert history.seconds > 0
    assert 0.0 <= train.accuracy(model, loader, torch.device("cpu")) <= 1.0


def test_fit_refuses_an_unknown_schedule():
    import pytest

    with pytest.raises(ValueError, match="schedule"):
        train.fit(torch.nn.Linear(1, 1), [], lambda m, b: None, 1, 1e-3, torch.device("cpu"), schedule="step")


def test_augmentations_draw_per_sample():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(64, 3, 1, 1)
    flipped = augment.random_flip(x)
    n_flipped = sum(torch.equal(f, x[0].flip(-1)) for f in flipped)
    assert 10 < n_flipped < 54, "each image is flipped independently (about half)"
    crops = augment.random_crop(torch.randn(1, 3, 8, 8).repeat(64, 1, 1, 1), padding=2)
    assert crops.shape == (64, 3, 8, 8)
    assert len({tuple(c.flatten()[:5].tolist()) for c in crops}) > 5, "different offsets per image"


def test_random_crop_with_zero_shift_is_identity():
    x = torch.randn(4, 3, 8, 8)
    g = torch.Generator().manual_seed(0)
    out = augment.random_crop(x, padding=0, generator=g)
    assert torch.equal(out, x)
