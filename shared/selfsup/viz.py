"""Figures and tables: image grids, t-SNE of representations, loss curves, the summary table
and bar chart that close each notebook.

Every number shown by :func:`summary_table` and :func:`bar_chart` comes from a ``results``
dictionary that the notebook fills as it runs; nothing here knows any accuracy.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

from . import runtime
from .data import CLASSES, denormalize


def _plt():
    import matplotlib

    if runtime.is_grading():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(fig) -> None:
    """Show a finished figure once, then free it (figures are not returned, so a cell that ends
    with a plotting call does not display the figure a second time)."""
    plt = _plt()
    plt.show()
    plt.close(fig)


def to_image(x: torch.Tensor) -> np.ndarray:
    """A normalised ``[3, H, W]`` tensor as an ``[H, W, 3]`` array in [0, 1] for ``imshow``."""
    return denormalize(x.detach().cpu()).clamp(0, 1).permute(1, 2, 0).numpy()


def show_images(images: torch.Tensor | Sequence[torch.Tensor], titles: Sequence[str] | None = None,
                ncols: int = 8, size: float = 1.6, suptitle: str | None = None):
    """Show normalised images ``[B, 3, H, W]`` in a grid, each with an optional title."""
    plt = _plt()
    n = len(images)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(to_image(images[i]))
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    _finish(fig)


#: scikit-learn t-SNE iterations on a CPU: 500 embeds the notebooks' 2,000 points as faithfully as
#: 1,000 (trustworthiness 0.9555 against 0.9591, in 62% of the time: benchmarks/tsne_cost.py).
TSNE_ITERATIONS = 500


def tsne_embed(features: torch.Tensor, seed: int = 0, device: torch.device | None = None) -> np.ndarray:
    """2-D t-SNE of ``[N, D]`` features (standardised first).

    On a GPU (``device``, by default the notebook's) the exact t-SNE of :mod:`selfsup.tsne`
    runs there; on a CPU, scikit-learn's Barnes-Hut t-SNE with :data:`TSNE_ITERATIONS`
    iterations (250 in grading mode). Both use scikit-learn's schedule and PCA initialisation.
    """
    x = features.float()
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
    perplexity = float(min(30.0, (len(x) - 1) / 3.0))
    device = device or runtime.get_device()
    if device.type == "cuda":
        from . import tsne

        return tsne.tsne(x.to(device), perplexity=perplexity).cpu().numpy()
    from sklearn.manifold import TSNE

    embedding = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                     max_iter=TSNE_ITERATIONS if not runtime.is_grading() else 250, random_state=seed)
    return embedding.fit_transform(x.numpy())


def tsne_plot(features: torch.Tensor, labels: torch.Tensor, title: str, ax=None, classes=CLASSES):
    """Scatter the t-SNE embedding of ``features`` ``[N, D]``, coloured by ``labels`` ``[N]``."""
    plt = _plt()
    emb = tsne_embed(features)
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(6.2, 5))
    labels = torch.as_tensor(labels).numpy()
    cmap = plt.get_cmap("tab10")
    for c in np.unique(labels):
        sel = labels == c
        ax.scatter(emb[sel, 0], emb[sel, 1], s=4, color=cmap(int(c) % 10), label=classes[int(c)])
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    if own:  # the legend goes beside the points, never over them
        ax.legend(markerscale=3, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
        fig.tight_layout()
        _finish(fig)


def tsne_grid(embeddings: Mapping[str, tuple[torch.Tensor, torch.Tensor]], ncols: int = 3):
    """One t-SNE panel per method: ``{name: (features [N, D], labels [N])}``."""
    plt = _plt()
    n = len(embeddings)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.5 * ncols, 4.5 * nrows), squeeze=False)
    for ax, (name, (feats, labels)) in zip(axes.flat, embeddings.items()):
        tsne_plot(feats, labels, name, ax=ax)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=10, markerscale=3, fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    _finish(fig)


def loss_curves(histories: Mapping[str, Sequence[float]], ylabel: str = "loss", xlabel: str = "epoch"):
    """Plot one curve per name: ``{name: [loss per epoch]}``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, values in histories.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    _finish(fig)


def training_curves(step_losses: Sequence[float], steps_per_epoch: int, ylabel: str = "loss",
                    chance: float | None = None, chance_label: str = "chance",
                    knn: Sequence[float] | None = None, knn_chance: float | None = None):
    """The loss of every step with the mean of every epoch, and (optionally) a k-NN monitor beside it.

    Args:
        step_losses: the loss of every training step (``History.step_losses``).
        steps_per_epoch: steps in one epoch, to place the epoch means.
        ylabel: what the loss is.
        chance: a reference level of the loss, drawn dashed (e.g. ``log(2N - 1)`` for NT-Xent).
        chance_label: its legend entry.
        knn: k-NN accuracies in [0, 1]: before training, then after every epoch
            (:class:`selfsup.monitor.KNNMonitor`); drawn in a second panel.
        knn_chance: the k-NN accuracy of guessing, drawn dotted in that panel.
    """
    plt = _plt()
    fig, axes = plt.subplots(1, 2 if knn else 1, figsize=(11 if knn else 6, 3.6), squeeze=False)
    ax = axes[0][0]
    steps = np.arange(1, len(step_losses) + 1)
    ax.plot(steps, step_losses, linewidth=0.6, alpha=0.6, label="every step")
    epochs = len(step_losses) // max(1, steps_per_epoch)
    if epochs:
        means = [float(np.mean(step_losses[e * steps_per_epoch:(e + 1) * steps_per_epoch])) for e in range(epochs)]
        ax.plot([(e + 1) * steps_per_epoch for e in range(epochs)], means, marker="o", label="mean of each epoch")
    if chance is not None:
        ax.axhline(chance, color="gray", linestyle="--", label=chance_label)
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    if knn:
        ax = axes[0][1]
        ax.plot(range(len(knn)), [100 * a for a in knn], marker="o", color="tab:green", label="k-NN accuracy")
        if knn_chance is not None:
            ax.axhline(100 * knn_chance, color="gray", linestyle=":", label="chance")
        ax.set_xlabel("epochs trained (0: before training)")
        ax.set_ylabel("k-NN accuracy (%)")
        ax.set_xticks(range(len(knn)))
        ax.legend(fontsize=8)
    fig.tight_layout()
    _finish(fig)


def summary_table(results: Mapping[str, float], reference: Mapping[str, float] | None = None,
                  reference_label: str = "reference run") -> str:
    """A Markdown table of linear-probe accuracies from this run (and, optionally, a reference
    run), displayed in the notebook and returned as text.

    Args:
        results: ``{method: accuracy in [0, 1]}`` measured by this notebook.
        reference: the same for a recorded run, shown in a second column.
        reference_label: the reference column's header (say where it comes from).
    """
    header = "| method | linear probe (this run) |"
    rule = "|---|---|"
    if reference is not None:
        header += f" {reference_label} |"
        rule += "---|"
    rows = [header, rule]
    names = list(results) + [k for k in (reference or {}) if k not in results]
    for name in names:
        row = f"| {name} | {_pct(results.get(name))} |"
        if reference is not None:
            row += f" {_pct(reference.get(name))} |"
        rows.append(row)
    text = "\n".join(rows)
    try:
        from IPython.display import Markdown, display

        display(Markdown(text))
    except ImportError:  # pragma: no cover - IPython is always there in a notebook
        print(text)
    return text


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def bar_chart(results: Mapping[str, float], title: str = "Linear-probe accuracy", ylabel: str = "test accuracy (%)"):
    """Bar chart of ``{method: accuracy in [0, 1]}``, each bar labelled with its value."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.3 * len(results) + 2, 3.8))
    names = list(results)
    values = [100 * results[k] for k in names]
    bars = ax.bar(names, values, color=plt.get_cmap("tab10")(np.arange(len(names)) % 10))
    for bar, v in zip(bars, values):
        ax.text(bar.get_x() + bar.get_width() / 2, v + 0.5, f"{v:.1f}", ha="center", fontsize=9)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(0, max(values + [10]) * 1.15)
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    fig.tight_layout()
    _finish(fig)


def label_efficiency(curves: Mapping[str, Mapping[int, Sequence[float]]], full: Mapping[str, float],
                     per_class_all: int, title: str = "Linear probe with few labels (CIFAR-10 test)",
                     baseline: Mapping[int, Sequence[float]] | None = None,
                     baseline_label: str = "trained from scratch on the same labels"):
    """Test accuracy against labelled training images per class, one line per method.

    Args:
        curves: ``{method: {images per class: [accuracy of each random draw]}}``
            (:func:`selfsup.probe.label_efficiency`).
        full: ``{method: accuracy with every label}``, drawn at ``per_class_all``.
        per_class_all: training images per class of the whole split (the last point).
        title: the figure's title.
        baseline: the same shape for a network trained from scratch on those labels
            (:func:`selfsup.scratch.from_scratch`), drawn as a dashed black line: what the curves
            have to beat.
        baseline_label: its legend entry.

    Each line is the mean over the draws; the band spans the lowest to the highest draw.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    colours = plt.get_cmap("tab10")
    for n, method in enumerate(curves):
        budgets = sorted(curves[method])
        low = [100 * min(curves[method][k]) for k in budgets]
        high = [100 * max(curves[method][k]) for k in budgets]
        mean = [100 * float(np.mean(curves[method][k])) for k in budgets]
        if method in full:
            budgets, low, high, mean = (budgets + [per_class_all], low + [100 * full[method]],
                                        high + [100 * full[method]], mean + [100 * full[method]])
        ax.plot(budgets, mean, marker="o", color=colours(n % 10), label=method)
        ax.fill_between(budgets, low, high, color=colours(n % 10), alpha=0.2, linewidth=0)
    if baseline:
        budgets = sorted(baseline)
        ax.plot(budgets, [100 * float(np.mean(baseline[k])) for k in budgets], color="black", linestyle="--",
                marker="s", label=baseline_label)
        ax.fill_between(budgets, [100 * min(baseline[k]) for k in budgets], [100 * max(baseline[k]) for k in budgets],
                        color="black", alpha=0.1, linewidth=0)
    ticks = sorted({k for c in curves.values() for k in c} | {per_class_all})
    ax.set_xscale("log")
    ax.set_xticks(ticks, [f"all ({k:,})" if k == per_class_all else f"{k:,}" for k in ticks])
    ax.minorticks_off()
    ax.set_xlabel("labelled training images per class")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _finish(fig)
