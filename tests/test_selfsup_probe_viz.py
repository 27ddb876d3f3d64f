"""selfsup.probe (against scikit-learn) and selfsup.viz (smoke, nothing on stderr)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from selfsup import data, models, probe, viz


def _blobs(n, d=20, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, d, generator=g) * 2
    y = torch.arange(n) % classes
    return centers[y] * torch.rand(n, 1, generator=g) * 5 + torch.randn(n, d, generator=g) * 3, y


def test_linear_probe_matches_scikit_learn():
    xtr, ytr = _blobs(600)
    xte, yte = _blobs(300, seed=1)
    acc = probe.linear_probe(xtr, ytr, xte, yte, torch.device("cpu"))
    str_, ste = probe.standardize(xtr, xte)
    ref = LogisticRegression(C=1.0, max_iter=5000).fit(str_.numpy(), ytr.numpy())
    assert abs(acc - ref.score(ste.numpy(), yte.numpy())) <= 0.01
    w, b = probe.fit_logistic_regression(str_, ytr, 4)
    ours = (ste @ w + b).argmax(1).numpy()
    assert (ours == ref.predict(ste.numpy())).mean() > 0.98


def test_extract_features_has_no_side_effects():
    images, labels = data.synthetic_cifar(40, seed=0)
    ds = data.ImageTensorDataset(images, labels)
    net = models.SmallConvNet().train()
    bn = next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    feats, ys = probe.extract_features(net, ds, torch.device("cpu"), batch_size=16)
    assert feats.shape == (40, 256) and torch.equal(ys, labels)
    assert net.training and torch.equal(bn.running_mean, before)
    again, _ = probe.extract_features(net, ds, torch.device("cpu"), batch_size=7)
    assert torch.allclose(feats, again, atol=1e-5), "eval mode: batch size does not matter"


def test_viz_draws_without_stderr(capsys):
    feats, labels = _blobs(60, classes=10)
    viz.tsne_grid({"a": (feats, labels), "b": (feats * 2, labels)})
    viz.show_images(torch.randn(5, 3, 8, 8), ["x"] * 5)
    viz.loss_curves({"m": [3.0, 2.0, 1.0]})
    viz.bar_chart({"random init": 0.5, "rotation": 0.6})
    text = viz.summary_table({"rotation": 0.612}, reference={"rotation": 0.65, "jigsaw": 0.6}, reference_label="ref")
    assert "| rotation | 61.2% | 65.0% |" in text and "| jigsaw | - | 60.0% |" in text
    assert capsys.readouterr().err == ""
    assert np.isfinite(viz.tsne_embed(feats)).all()


def test_label_efficiency_draws_balanced_subsets_and_improves_with_labels():
    x, y = _blobs(1200, classes=4, seed=2)  # one set of class centres, split
    xtr, ytr, xte, yte = x[:800], y[:800], x[800:], y[800:]
    curves = probe.label_efficiency(xtr, ytr, xte, yte, per_class=(2, 20, 500), draws=3, device=torch.device("cpu"))
    assert sorted(curves) == [2, 20]  # 500 is not below the 200 images of a class: that is "all labels"
    assert all(len(accs) == 3 and all(0 <= a <= 1 for a in accs) for accs in curves.values())
    assert np.mean(curves[20]) > np.mean(curves[2])
    assert curves == probe.label_efficiency(xtr, ytr, xte, yte, per_class=(2, 20, 500), draws=3,
                                            device=torch.device("cpu"))  # the same subsets for the same seed


def test_label_efficiency_plot_draws_without_stderr(capsys):
    viz.label_efficiency({"a": {10: [0.3, 0.35], 100: [0.5, 0.52]}, "b": {10: [0.2, 0.4], 100: [0.6, 0.6]}},
                         {"a": 0.7, "b": 0.8}, per_class_all=5000)
    assert capsys.readouterr().err == ""


def test_one_joint_fit_finds_every_separate_fit():
    """The sum of independent objectives has the same optimum: weights and accuracies as separate fits."""
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(n, 6, generator=g) for n in (30, 30, 80)]
    ys = [torch.randint(0, 3, (len(x),), generator=g) for x in xs]
    for x, y in zip(xs, ys):
        x[:, :3] += 2 * torch.nn.functional.one_hot(y, 3)
    joint = probe.fit_logistic_regressions(xs, ys, 3)
    for (w, b), x, y in zip(joint, xs, ys):
        w1, b1 = probe.fit_logistic_regression(x, y, 3)
        # equal up to where L-BFGS stops (a bias shared by every class changes nothing: compare centred biases)
        assert torch.allclose(w, w1, atol=5e-3) and torch.allclose(b - b.mean(), b1 - b1.mean(), atol=5e-3)
    problems = [(x, y, xs[2], ys[2]) for x, y in zip(xs, ys)]
    assert probe.linear_probes(problems, torch.device("cpu"), joint=True) == pytest.approx(
        [probe.linear_probe(*p, torch.device("cpu")) for p in problems], abs=1e-3)


def test_label_efficiency_of_many_representations_is_each_ones_curve():
    x, y = _blobs(1200, classes=4, seed=2)
    xtr, ytr, xte, yte = x[:800], y[:800], x[800:], y[800:]
    other = (xtr * 0.5 + 1.0, ytr, xte * 0.5 + 1.0, yte)
    many = probe.label_efficiency_many({"a": (xtr, ytr, xte, yte), "b": other}, per_class=(2, 20), draws=2,
                                       device=torch.device("cpu"), joint=True)
    for name, feats in (("a", (xtr, ytr, xte, yte)), ("b", other)):
        alone = probe.label_efficiency(*feats, per_class=(2, 20), draws=2, device=torch.device("cpu"))
        assert many[name].keys() == alone.keys()
        assert all(many[name][k] == pytest.approx(alone[k], abs=2e-3) for k in alone)
