"""The few-label baseline (selfsup.scratch), the k-NN monitor (selfsup.monitor) and the geometry of a
batch of representations (selfsup.geometry), on small synthetic data and the CPU."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from selfsup import data, geometry, models, monitor, probe, runtime, scratch, train, viz

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def split():
    x_train, y_train = data.synthetic_cifar(200, seed=3)
    x_test, y_test = data.synthetic_cifar(60, seed=4)
    return data.ImageTensorDataset(x_train, y_train), data.ImageTensorDataset(x_test, y_test)


# ------------------------------------------------------------------------------ scratch
def test_baseline_trains_on_the_probes_own_subsets(monkeypatch):
    """labelled_subsets gives exactly the indices probe.label_efficiency fits its probes on."""
    labels = torch.arange(10).repeat(30)[torch.randperm(300, generator=torch.Generator().manual_seed(0))]
    seen = []

    def spy(problems, *args, **kwargs):
        seen.extend(train_feats[:, 0].long() for train_feats, *_ in problems)
        return [0.0] * len(problems)

    monkeypatch.setattr(probe, "linear_probes", spy)
    index_feature = torch.arange(300.0)[:, None].repeat(1, 2)
    probe.label_efficiency(index_feature, labels, index_feature[:5], labels[:5], per_class=(2, 5, 40), draws=3,
                           device=CPU, seed=7)
    subsets = scratch.labelled_subsets(labels, (2, 5, 40), draws=3, seed=7)
    assert list(subsets) == [2, 5]  # 40 per class is every image of the smallest class: left out
    assert [s.tolist() for k in subsets for s in subsets[k]] == [s.tolist() for s in seen]
    for k, draws in subsets.items():
        assert all(torch.bincount(labels[s], minlength=10).tolist() == [k] * 10 for s in draws)


def test_train_on_labels_sees_only_its_subset_for_the_same_number_of_steps(split, monkeypatch):
    train_set, _ = split
    calls = []
    fit = train.fit

    def counting_fit(model, loader, step, num_epochs, *args, **kwargs):
        calls.append((sum(len(y) for _, y in loader), len(loader), num_epochs))
        return fit(model, loader, step, num_epochs, *args, **kwargs)

    monkeypatch.setattr(train, "fit", counting_fit)
    subsets = scratch.labelled_subsets(train_set.labels, (2, 8), draws=1)
    for k in (2, 8):
        model = scratch.train_on_labels(train_set, subsets[k][0], steps=2, device=CPU, batch_size=32)
        assert isinstance(model, models.Classifier)
    # 20 images: one batch of 20 per epoch, so 2 epochs; 80 images: two batches of 32 (drop_last), 1 epoch
    assert calls == [(20, 1, 2), (64, 2, 1)]


def test_from_scratch_has_the_shape_of_a_label_efficiency_curve(split):
    train_set, test_set = split
    curve = scratch.from_scratch(train_set, test_set, per_class=(2, 3), draws=3, runs=2, steps=1, device=CPU)
    assert list(curve) == [2, 3] and all(len(a) == 2 and all(0 <= v <= 1 for v in a) for a in curve.values())
    again = scratch.from_scratch(train_set, test_set, per_class=(2, 3), draws=3, runs=2, steps=1, device=CPU)
    assert again == curve  # seeded: the same subsets and weights give the same accuracies
    assert scratch.describe({10: [0.2, 0.3], 100: [0.5]}) == "10 per class 25.0% (2 runs), 100 per class 50.0% (1 run)"


# ------------------------------------------------------------------------------ monitor
def test_knn_vote_is_a_majority_of_the_nearest():
    memory = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 2])
    queries = torch.tensor([[1.0, 0.05], [0.1, 1.0], [-1.0, 0.1]])
    assert monitor.knn_vote(memory, labels, queries, k=1).tolist() == [0, 1, 2]
    assert monitor.knn_vote(memory, labels, queries, k=3).tolist() == [0, 0, 0]  # two of the three nearest are 0
    assert monitor.knn_vote(memory, labels, 5 * queries, k=1).tolist() == [0, 1, 2]  # cosine: scale-free


def test_monitor_measures_before_training_and_after_every_epoch_without_changing_the_run(split):
    train_set, test_set = split

    def run(with_monitor):
        runtime.seed_everything(0)
        tiny = nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(256))
        model = models.Classifier(tiny, num_outputs=10)
        model(torch.zeros(2, 3, 32, 32))  # materialise the lazy layer before the optimiser sees it
        loader = data.DeviceLoader(train_set, 50, shuffle=True, drop_last=True, seed=0)
        knn = monitor.KNNMonitor(train_set.subset(80), test_set, CPU, k=5)
        if with_monitor:
            loader = knn.watch(loader, model.backbone)

        def step(m, batch):
            x, y = batch
            torch.rand(1)  # the step draws random numbers: the monitor must not shift them
            return nn.functional.cross_entropy(m(x), y)

        history = train.fit(model, loader, step, 3, 1e-3, CPU, desc="t")
        return history, knn.accuracies, model

    history, accuracies, model = run(True)
    plain_history, none, plain_model = run(False)
    assert len(accuracies) == 4 and none == []
    assert all(0 <= a <= 1 for a in accuracies)
    assert history.step_losses == plain_history.step_losses
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), plain_model.state_dict().values()))
    assert model.training  # the monitor restores the mode it found


# ------------------------------------------------------------------------------ geometry
def test_cosines_and_centring():
    common = torch.tensor([10.0, 0.0, 0.0])
    rows = common + torch.tensor([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])
    raw = geometry.cosine_similarities(rows)
    assert torch.allclose(raw.diagonal(), torch.ones(4))
    assert geometry.off_diagonal(raw).min() > 0.98  # one large common direction: every cosine near 1
    centred = geometry.cosine_similarities(rows, centre=True)
    assert centred[0, 1].item() == pytest.approx(-1.0) and centred[0, 2].item() == pytest.approx(0.0, abs=1e-6)
    assert geometry.mean_direction_share(rows) == pytest.approx(100 / 101)
    assert geometry.mean_direction_share(rows - common) == pytest.approx(0.0, abs=1e-7)
    assert len(geometry.off_diagonal(raw)) == 12


def test_a_random_network_outputs_share_one_direction_and_centring_removes_it():
    """The measurement behind Notebook 2's explanation, on noise images (the record uses real CIFAR-10)."""
    runtime.seed_everything(0)
    net = models.SmallConvNet().eval()
    with torch.no_grad():
        h = net(torch.randn(64, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    assert geometry.mean_direction_share(h) > 0.5
    assert geometry.off_diagonal(geometry.cosine_similarities(h)).mean() > 0.5
    assert abs(geometry.off_diagonal(geometry.cosine_similarities(h, centre=True)).mean()) < 0.05


# ------------------------------------------------------------------------------ figures
def test_new_figures_draw_without_stderr(capsys):
    viz.training_curves([math.log(7) - 0.01 * i for i in range(12)], 4, ylabel="NT-Xent", chance=math.log(7),
                        knn=[0.1, 0.2, 0.3, 0.35], knn_chance=0.1)
    viz.training_curves([1.0, 0.9], 1)
    viz.label_efficiency({"a": {10: [0.3, 0.35], 100: [0.5, 0.52]}}, {"a": 0.6}, 5000,
                         baseline={10: [0.2], 100: [0.4]})
    assert capsys.readouterr().err == ""


def test_tsne_legend_sits_beside_the_points(monkeypatch):
    """Notebook 2's t-SNE legend covered points: it now lies outside the axes."""
    figures = []
    monkeypatch.setattr(viz, "_finish", figures.append)
    feats = torch.randn(60, 8, generator=torch.Generator().manual_seed(0))
    viz.tsne_plot(feats, torch.arange(60) % 10, "t-SNE")
    fig = figures[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    legend, axes_box = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
    assert legend.x0 >= axes_box.x1, (legend, axes_box)
