# %% [markdown]
# # Notebook 1 - Pretext tasks for self-supervised learning
#
# Labels are expensive; images are not. *Self-supervised learning* (SSL) invents a task whose
# labels come for free from the image itself - a **pretext task** - and hopes that a network
# which solves it has learned features that are useful for the tasks we care about.
#
# In this notebook you implement three classic pretext tasks on CIFAR-10 and measure how good
# their features are:
#
# | pretext task | paper | the network must predict |
# |---|---|---|
# | Rotation | Gidaris, Singh & Komodakis, *Unsupervised Representation Learning by Predicting Image Rotations*, ICLR 2018 | by how much (0, 90, 180, 270 degrees) an image was rotated |
# | Jigsaw | Noroozi & Favaro, *Unsupervised Learning of Visual Representations by Solving Jigsaw Puzzles*, ECCV 2016 | which permutation shuffled the image's tiles |
# | Colorization | Zhang, Isola & Efros, *Colorful Image Colorization*, ECCV 2016 | the colours of a grayscale image |
#
# **Learning goals.** After this notebook you can
# 1. turn an unlabeled dataset into a labeled pretext dataset (three times);
# 2. evaluate a representation with a **linear probe** and a **t-SNE** plot;
# 3. measure how many labels each representation needs (a **label-efficiency** curve);
# 4. explain why some pretext tasks give better features than others, with evidence from your run.
#
# Every method uses the same backbone, `SmallConvNet` (3 conv blocks, a 256-d output, 618,240
# parameters), so differences come from the task and not the architecture. We bracket the
# pretext tasks with two baselines: a **randomly initialised** backbone (the floor) and a
# **supervised** backbone trained with labels (the ceiling).
#
# **Running time.** The notebook trains four networks, so use a GPU runtime (*Runtime > Change
# runtime type > T4 GPU*); the progress bars show the time left. When the autograder runs it, the
# notebook switches to *grading mode*: a few hundred synthetic images, one epoch, CPU only - so
# numbers printed there mean nothing; only the checks count.

# %% [markdown]
# ## Setup
#
# The first code cell below (written by the course build, the same in every notebook) installs the
# helper package on Colab, seeds everything and defines `SEED` and `DEVICE`, which the other cells
# use: run it first, also after a restart. The constants of the cell after it are the only knobs.
# `runtime.setting(name, full=..., grading=...)` picks the value for the current mode (you can
# override any of them with an environment variable `SELFSUP_<NAME>`).

# %%
import itertools
import random
import time

import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from selfsup import augment, checks, data, models, probe, reference, runtime, scratch, train, viz

NUM_EPOCHS = runtime.setting("NUM_EPOCHS", full=10, grading=1)
BATCH_SIZE = runtime.setting("BATCH_SIZE", full=256, grading=100)
LR = runtime.setting("LR", full=2e-3, grading=2e-3)
TSNE_POINTS = runtime.setting("TSNE_POINTS", full=2000, grading=100)
# Part 6: labelled training images per class, and random draws of them per budget.
LABELS_PER_CLASS = runtime.setting("LABELS_PER_CLASS", full=(10, 100, 1000), grading=(2, 10))
LABEL_DRAWS = runtime.setting("LABEL_DRAWS", full=3, grading=2)
# Part 6's baseline: optimiser steps of each network trained from scratch, and draws it is trained on.
SCRATCH_STEPS = runtime.setting("SCRATCH_STEPS", full=500, grading=2)
SCRATCH_RUNS = runtime.setting("SCRATCH_RUNS", full=1, grading=1)
# Exercise 1.5: the probe's regularisation strengths to choose from.
PROBE_CS = (0.01, 0.1, 1.0, 10.0)

results = {}        # method -> linear-probe test accuracy, filled as the notebook runs
pretext_scores = {}  # method -> accuracy (or loss) on the pretext task itself
embeddings = {}     # method -> (features, labels) of test images, for the t-SNE plots
features = {}       # method -> (train features, train labels, test features, test labels), for Part 6

# %% [markdown]
# ## Part 0 - Data
#
# The whole split sits on `DEVICE` (the GPU on Colab) as one uint8 tensor. There are two ways to
# read it, and every dataset in this notebook, the pretext datasets you write included, offers both:
#
# * `dataset[i]` gives one item, `(x, y)`: a normalised float tensor `[3, 32, 32]` and the class
#   index. This is the view to look at and plot.
# * `dataset.batch(indices)` gives a whole batch, `(x [B, 3, 32, 32], y [B])`, with a few tensor
#   operations on the GPU. `data.DeviceLoader` draws a random order on the GPU each epoch and cuts it
#   into batches of indices, so training never runs Python per image.

# %%
train_set = data.load_cifar10(train=True)
test_set = data.load_cifar10(train=False)
train_gpu, test_gpu = train_set.to(DEVICE), test_set.to(DEVICE)
print(f"train: {len(train_set)} images, test: {len(test_set)} images, kept on {DEVICE}")

x, y = train_set[0]
print("one item:", tuple(x.shape), x.dtype, "label", y, f"({data.CLASSES[y]})")
viz.show_images([train_set[i][0] for i in range(16)], [data.CLASSES[train_set[i][1]] for i in range(16)])

# %% [markdown]
# Every method is evaluated the same way, by two functions of the helper package:
#
# * `probe.extract_features(backbone, dataset, DEVICE)` runs the frozen backbone in eval mode
#   (BatchNorm uses its running statistics and is not updated) and returns `[N, 256]` features.
# * `probe.linear_probe(...)` standardises the features and fits a multinomial logistic
#   regression on the training features; it returns accuracy on the test features.
#
# A linear probe asks: *is the class information linearly readable from the representation?*

# %%
def evaluate(name, backbone):
    """Linear-probe accuracy of a backbone; keeps its features for the t-SNE plots and Part 6."""
    train_feats, train_labels = probe.extract_features(backbone, train_gpu, DEVICE)
    test_feats, test_labels = probe.extract_features(backbone, test_gpu, DEVICE)
    features[name] = (train_feats, train_labels, test_feats, test_labels)
    results[name] = probe.linear_probe(train_feats, train_labels, test_feats, test_labels, DEVICE)
    keep = torch.randperm(len(test_labels), generator=torch.Generator().manual_seed(0))[:TSNE_POINTS]
    embeddings[name] = (test_feats[keep], test_labels[keep])
    print(f"{name}: linear-probe accuracy {100 * results[name]:.1f}%")


def classification_step(model, batch):
    """Cross-entropy of a classifier on an (inputs, targets) batch: used by every classification task."""
    x, y = batch
    return F.cross_entropy(model(x), y)


def pretext_loader(dataset, shuffle):
    """Batches of a pretext dataset, cut on the device by ``dataset.batch`` (no per-image Python)."""
    return data.DeviceLoader(dataset, BATCH_SIZE, shuffle=shuffle, drop_last=shuffle, seed=SEED)


# %% [markdown]
# ## Part 1 - Baselines
#
# ### 1.1 Random initialisation (the floor)
#
# How good are features from a network that has learned nothing? Much better than chance (10%):
# random convolutions followed by ReLU and pooling already compute a rich set of local colour and
# edge statistics, and a linear classifier on 256 of them goes a long way. The cell prints, next to
# your number, what the course's recorded reference run measured with seed 0 on all of
# CIFAR-10, a JPEG copy (pixels differ slightly from torchvision's), when the helper package holds
# a record. A separate CPU check of the probe itself fitted
# scikit-learn's `LogisticRegression` on the same random-init features and agreed with our probe
# to 0.02 points (51.94% and 51.96%; `benchmarks/probe_agreement.py`,
# `benchmarks/results/2026-11-28-probe-agreement-cpu.json`). Every method below has to beat the
# random-init number, not 10%.

# %%
runtime.seed_everything(SEED)
random_backbone = models.SmallConvNet()
print(f"SmallConvNet: {models.count_parameters(random_backbone):,} parameters")
evaluate("random init", random_backbone)
recorded = reference.load_reference()
if recorded is not None and "random init" in recorded["methods"]:
    print(f"recorded reference run ({recorded['source']}): "
          f"{100 * recorded['methods']['random init']['probe_acc']:.1f}%")

# %% [markdown]
# ### 1.2 Supervised training (the ceiling)
#
# The same backbone plus a linear head, trained with labels for `NUM_EPOCHS` epochs. Batches come
# from the GPU-resident loader and are augmented on the GPU with a random crop and a horizontal
# flip drawn independently for every image (`augment.crop_and_flip`). We then throw the head
# away and probe the backbone exactly like the others.

# %%
def supervised_step(model, batch):
    x, y = batch
    return F.cross_entropy(model(augment.crop_and_flip(x)), y)


runtime.seed_everything(SEED)
supervised = models.Classifier(models.SmallConvNet(), num_outputs=10)
history = train.fit(supervised, data.DeviceLoader(train_gpu, BATCH_SIZE, shuffle=True, drop_last=True),
                    supervised_step, NUM_EPOCHS, LR, DEVICE, desc="supervised")
pretext_scores["supervised"] = train.accuracy(supervised, data.DeviceLoader(test_gpu, 512), DEVICE)
print(f"trained in {history.seconds:.0f} s; classifier test accuracy {100 * pretext_scores['supervised']:.1f}%")
evaluate("supervised", supervised.backbone)
viz.loss_curves({"supervised": history.epoch_losses}, ylabel="cross-entropy")

# %% [markdown]
# ## Part 2 - Rotation prediction (Gidaris et al., 2018)
#
# Rotate every image by a random multiple of 90 degrees and ask the network which one it was.
# To answer, it has to know what an upright car, bird or horse looks like - where the sky is,
# which way heads point - so the labels that come for free force it to learn about objects.
#
# ### Exercise 1.1 - `RotationDataset` (3 pts)
#
# Wrap a base dataset so that item `i` is a rotated copy of base image `i` and its rotation label.
# Use `torch.rot90(x, k, dims=(-2, -1))`, which rotates **counter-clockwise** by `k * 90` degrees.
#
# **One image, then a batch.** You write each pretext dataset twice. First `__getitem__`, one image
# at a time: the clearest way to say what the task is, and the view you will plot. Then `batch`,
# the same thing for a whole batch of indices at once, with tensor operations only: this is what
# trains the network. Why both? Building a batch of 256 items one image at a time costs the CPU
# milliseconds of Python per batch, and Colab gives you 2 CPU cores: that alone is slower than the
# GPU's whole training step, so the GPU would wait. A batched version is a handful of operations
# on the GPU, whatever the batch size. The checks test both methods against the same definition
# (2 points for `__getitem__`, 1 for `batch`), and the training below reads only `batch`, so the
# network learns from your code.
#
# <details><summary><b>A fuller hint</b> (open it when the docstring's hint is not enough)</summary>
#
# * `random.randrange(n)` returns an int from `0` to `n - 1`, each equally likely.
# * Read the base item as a pair and ignore its class label: the rotation is the only label here.
# * `dims=(-2, -1)` names the plane of height and width, whatever comes before them.
# * Return a tuple `(image, label)` with the label a plain Python int, so that the DataLoader
#   stacks the labels into one int64 tensor.
#
# </details>

# %% solution="rotation_dataset"
class RotationDataset(Dataset):
    """Rotation pretext task: (image rotated by k * 90 degrees, k).

    Args:
        base: a dataset whose items are ``(x, y)``; ``x`` is a float tensor ``[3, H, W]`` and
            ``y`` (the class label) is ignored. ``base.batch(indices)`` gives the batch
            ``(x [B, 3, H, W], y [B])`` of those items.

    Returns (per item):
        ``(x_rot, label)``: ``x_rot`` float tensor ``[3, H, W]`` equal to
        ``torch.rot90(x, label, dims=(-2, -1))`` (up to rounding to 8-bit pixels), and ``label``
        an int drawn uniformly from {0, 1, 2, 3} each time the item is read.

    Hint:
        Draw the label first, uniformly among the four rotations, with Python's ``random`` module
        (the DataLoader seeds it in every worker), then turn the image by that many quarter turns.
    """

    def __init__(self, base):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, index):
        ### BEGIN SOLUTION
        x, _ = self.base[index]
        label = random.randrange(4)
        return torch.rot90(x, label, dims=(-2, -1)), label
        ### END SOLUTION

    def batch(self, indices):
        """The items ``indices`` at once, computed on the images' device: what training reads.

        Args:
            indices: int64 tensor ``[B]`` of indices into ``base``.

        Returns:
            ``(x_rot, labels)``: float ``[B, 3, H, W]`` and int64 ``[B]``, on the device of the
            images. ``x_rot[j]`` is base image ``indices[j]`` rotated by ``labels[j] * 90`` degrees
            counter-clockwise; every label is drawn uniformly from {0, 1, 2, 3} for every image and
            every call, like ``dataset[indices[j]]``.

        Hint:
            Draw all B labels in one call on the images' device. ``torch.rot90`` turns the whole
            batch by one angle, so compute the four rotations of the batch and pick, for each
            image, the one its label names.
        """
        ### BEGIN SOLUTION
        x, _ = self.base.batch(indices)
        labels = torch.randint(4, (len(x),), device=x.device)
        rotations = torch.stack([torch.rot90(x, k, dims=(-2, -1)) for k in range(4)])  # [4, B, 3, H, W]
        return rotations[labels, torch.arange(len(x), device=x.device)], labels
        ### END SOLUTION


# %% tests="test_rotation_dataset" points=2
checks.pretext.check_rotation_dataset(RotationDataset)
### BEGIN HIDDEN TESTS
checks.pretext.check_rotation_dataset(RotationDataset, strict=True)
### END HIDDEN TESTS

# %% tests="test_rotation_batch" points=1
checks.pretext.check_rotation_batch(RotationDataset)
### BEGIN HIDDEN TESTS
checks.pretext.check_rotation_batch(RotationDataset, strict=True)
### END HIDDEN TESTS

# %% [markdown]
# Here are a few training images after your rotation, titled with their labels: the first row
# one at a time (`__getitem__`), the second row as one batch (`batch`), the images training sees.

# %%
rotation_train = RotationDataset(train_gpu)
samples = [rotation_train[i] for i in range(8)]
batch_x, batch_k = rotation_train.batch(torch.arange(8, device=DEVICE))
viz.show_images([s[0] for s in samples] + list(batch_x),
                [f"k={s[1]} ({90 * s[1]} deg)" for s in samples] + [f"batch: k={k}" for k in batch_k.tolist()])

# %% [markdown]
# Now train a backbone with a 4-way head on the rotation task, report how well it predicts
# rotations of *test* images, and probe its features.

# %%
runtime.seed_everything(SEED)
rotation_model = models.Classifier(models.SmallConvNet(), num_outputs=4)
history = train.fit(rotation_model, pretext_loader(rotation_train, shuffle=True), classification_step,
                    NUM_EPOCHS, LR, DEVICE, desc="rotation")
pretext_scores["rotation"] = train.accuracy(rotation_model, pretext_loader(RotationDataset(test_gpu), False), DEVICE)
print(f"trained in {history.seconds:.0f} s; rotation accuracy on test images {100 * pretext_scores['rotation']:.1f}% (chance 25%)")
evaluate("rotation", rotation_model.backbone)

# %% [markdown]
# ## Part 3 - Jigsaw puzzles (Noroozi & Favaro, 2016)
#
# Cut the image into a 2x2 grid of tiles, shuffle them with one of the 4! = 24 permutations and
# ask the network which permutation it was. The original paper cuts 3x3 tiles from larger images
# and embeds each tile separately with a siamese network. Of the 9! = 362,880 orderings of 9
# tiles its main experiments use a set of 1,000, chosen greedily so that any two differ in as
# many positions as possible (a large Hamming distance); an ablation varies the size of the set
# and the distances within it (the permutation file released with the authors' code holds a set
# of 100). On 32x32 images we keep the idea and shrink it: 2x2 tiles of 16x16 pixels, all 24
# permutations, and our usual backbone on the whole shuffled image.
#
# ### Exercise 1.2 - `JigsawDataset` (3 pts)
#
# Tiles are numbered row by row: **0 = top-left, 1 = top-right, 2 = bottom-left, 3 = bottom-right**.
# For the permutation `perm = PERMUTATIONS[k]`, **output position `p` holds input tile `perm[p]`**
# (a *gather*). For example `perm = (1, 0, 2, 3)` swaps the two top tiles. As for rotations, write
# `__getitem__` for one image first, then `batch` for many (2 + 1 points).
#
# <details><summary><b>A fuller hint</b> (open it when the docstring's hint is not enough)</summary>
#
# * With `h = H // 2` and `w = W // 2`, the tile in row `r` and column `c` is the slice of rows
#   `r * h` to `(r + 1) * h` and of columns `c * w` to `(c + 1) * w`; tile number `2 * r + c`.
# * A list comprehension over `perm` picks the input tiles for output positions 0, 1, 2, 3.
# * `torch.cat` joins along an existing dimension: `dim=2` (width) puts tiles side by side,
#   `dim=1` (height) stacks rows. Check the output against `x` for the identity permutation.
#
# </details>

# %%
PERMUTATIONS = list(itertools.permutations(range(4)))
print(len(PERMUTATIONS), "permutations, e.g.", PERMUTATIONS[:3])


# %% solution="jigsaw_dataset"
class JigsawDataset(Dataset):
    """2x2 jigsaw pretext task: (tiles shuffled by PERMUTATIONS[k], k).

    Args:
        base: a dataset whose items are ``(x, y)``; ``x`` is a float tensor ``[3, H, W]`` with
            even ``H`` and ``W``; ``y`` is ignored. ``base.batch(indices)`` gives the batch
            ``(x [B, 3, H, W], y [B])`` of those items.

    Returns (per item):
        ``(x_shuffled, perm_index)``: ``x_shuffled`` float tensor ``[3, H, W]`` whose tile at
        position ``p`` is input tile ``PERMUTATIONS[perm_index][p]`` (up to rounding to 8-bit
        pixels), and ``perm_index`` an int drawn uniformly from 0-23 each time the item is read.

    Hint:
        Cut ``x`` into its four tiles in row-major order, gather them in the order the permutation
        names, then glue them back: two tiles side by side per row, two rows on top of each other.
    """

    def __init__(self, base):
        self.base = base
        # The permutations as a [24, 4] tensor, made once on the images' device: a tensor built from
        # a Python list is a copy from the CPU, which on a GPU would make every batch wait.
        self.permutations = torch.tensor(PERMUTATIONS, device=data.device_of(base))

    def __len__(self):
        return len(self.base)

    def __getitem__(self, index):
        ### BEGIN SOLUTION
        x, _ = self.base[index]
        perm_index = random.randrange(len(PERMUTATIONS))
        _, height, width = x.shape
        tiles = [x[:, r * height // 2:(r + 1) * height // 2, c * width // 2:(c + 1) * width // 2]
                 for r in (0, 1) for c in (0, 1)]
        out = [tiles[i] for i in PERMUTATIONS[perm_index]]
        top, bottom = torch.cat(out[:2], dim=2), torch.cat(out[2:], dim=2)
        return torch.cat([top, bottom], dim=1), perm_index
        ### END SOLUTION

    def batch(self, indices):
        """The items ``indices`` at once, computed on the images' device: what training reads.

        Args:
            indices: int64 tensor ``[B]`` of indices into ``base``.

        Returns:
            ``(x_shuffled, perm_indices)``: float ``[B, 3, H, W]`` and int64 ``[B]``, on the device
            of the images. Tile ``p`` of ``x_shuffled[j]`` is tile ``PERMUTATIONS[perm_indices[j]][p]``
            of base image ``indices[j]``; every ``perm_indices[j]`` is drawn uniformly from 0-23 for
            every image and every call.

        Hint:
            Cut the batch into its 4 tiles as in ``__getitem__`` (each ``[B, 3, H/2, W/2]``) and stack
            them along a new dimension 1. ``self.permutations[perm_indices]`` is ``[B, 4]``: for each
            output position, advanced indexing with it and ``torch.arange(B)`` picks every image's tile.
        """
        ### BEGIN SOLUTION
        x, _ = self.base.batch(indices)
        n, _, height, width = x.shape
        perm_indices = torch.randint(len(PERMUTATIONS), (n,), device=x.device)
        tiles = torch.stack([x[:, :, r * height // 2:(r + 1) * height // 2, c * width // 2:(c + 1) * width // 2]
                             for r in (0, 1) for c in (0, 1)], dim=1)  # [B, 4, 3, H/2, W/2]
        sources = self.permutations[perm_indices]  # [B, 4]: output position p holds input tile sources[:, p]
        images = torch.arange(n, device=x.device)
        out = [tiles[images, sources[:, p]] for p in range(4)]
        top, bottom = torch.cat(out[:2], dim=3), torch.cat(out[2:], dim=3)
        return torch.cat([top, bottom], dim=2), perm_indices
        ### END SOLUTION


# %% tests="test_jigsaw_dataset" points=2
checks.pretext.check_jigsaw_dataset(JigsawDataset)
### BEGIN HIDDEN TESTS
checks.pretext.check_jigsaw_dataset(JigsawDataset, strict=True)
### END HIDDEN TESTS

# %% tests="test_jigsaw_batch" points=1
checks.pretext.check_jigsaw_batch(JigsawDataset)
### BEGIN HIDDEN TESTS
checks.pretext.check_jigsaw_batch(JigsawDataset, strict=True)
### END HIDDEN TESTS

# %%
jigsaw_train = JigsawDataset(train_gpu)
samples = [jigsaw_train[i] for i in range(8)]
viz.show_images([s[0] for s in samples], [str(PERMUTATIONS[s[1]]) for s in samples])

# %%
runtime.seed_everything(SEED)
jigsaw_model = models.Classifier(models.SmallConvNet(), num_outputs=len(PERMUTATIONS))
history = train.fit(jigsaw_model, pretext_loader(jigsaw_train, shuffle=True), classification_step,
                    NUM_EPOCHS, LR, DEVICE, desc="jigsaw")
pretext_scores["jigsaw"] = train.accuracy(jigsaw_model, pretext_loader(JigsawDataset(test_gpu), False), DEVICE)
print(f"trained in {history.seconds:.0f} s; permutation accuracy on test images {100 * pretext_scores['jigsaw']:.1f}% (chance 4.2%)")
evaluate("jigsaw", jigsaw_model.backbone)

# %% [markdown]
# ## Part 4 - Colorization (Zhang et al., 2016)
#
# Give the network a grayscale image and ask for the colours. Zhang et al. predict a distribution
# over quantised colours in Lab space with a class-rebalanced loss, because plain regression
# averages the plausible colours of an object into brown-gray. We use the simple version - mean
# squared error on RGB - and you will see exactly that averaging in the predictions.
#
# ### Exercise 1.3 - `ColorizationDataset` (2 pts)
#
# The input is the ITU-R BT.601 luma `0.299 R + 0.587 G + 0.114 B`, computed on pixel values (undo
# the normalisation first with `data.denormalize`), repeated over 3 channels so the backbone's first
# layer is unchanged, and normalised again with `data.normalize` - the same normalisation as the
# colour target. Then the same for a batch (1 + 1 points).
#
# <details><summary><b>A fuller hint</b> (open it when the docstring's hint is not enough)</summary>
#
# * Unpacking a `[3, H, W]` tensor (`r, g, b = pixels`) gives three `[H, W]` channels.
# * The luma is then one `[H, W]` tensor; `unsqueeze(0)` makes it `[1, H, W]`, and `expand` or
#   `repeat` along the first dimension makes three copies of it.
# * `data.normalize` applies each channel's own mean and standard deviation, so the three
#   normalised gray channels are *not* equal to each other, and that is right.
#
# </details>

# %% solution="colorization_dataset"
class ColorizationDataset(Dataset):
    """Colorization pretext task: (grayscale input, colour target).

    Args:
        base: a dataset whose items are ``(x, y)``; ``x`` is a normalised float tensor
            ``[3, H, W]``; ``y`` is ignored. ``base.batch(indices)`` gives the batch
            ``(x [B, 3, H, W], y [B])`` of those items.

    Returns (per item):
        ``(gray, color)``, both float tensors ``[3, H, W]``: ``color`` is ``x`` unchanged and
        ``gray`` is ``normalize(luma repeated 3 times)``, where ``luma = 0.299 R + 0.587 G + 0.114 B``
        of ``denormalize(x)``. The checks accept a difference of up to 2 grey levels of 8-bit
        pixels (a round trip through uint8 or PIL), nothing more.

    Hint:
        Work in pixel units: undo the normalisation, take the weighted sum of the three channels,
        repeat it into three identical channels and normalise that; the target is ``x`` itself.
    """

    def __init__(self, base):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, index):
        ### BEGIN SOLUTION
        x, _ = self.base[index]
        r, g, b = data.denormalize(x)
        luma = 0.299 * r + 0.587 * g + 0.114 * b
        gray = data.normalize(luma.expand(3, -1, -1))
        return gray, x
        ### END SOLUTION

    def batch(self, indices):
        """The items ``indices`` at once, computed on the images' device: what training reads.

        Args:
            indices: int64 tensor ``[B]`` of indices into ``base``.

        Returns:
            ``(gray, color)``, both float ``[B, 3, H, W]`` on the device of the images: item ``j``
            is ``dataset[indices[j]]``.

        Hint:
            The channels are now dimension 1, not 0: ``.unbind(1)`` splits them.
        """
        ### BEGIN SOLUTION
        x, _ = self.base.batch(indices)
        r, g, b = data.denormalize(x).unbind(1)
        luma = 0.299 * r + 0.587 * g + 0.114 * b  # [B, H, W]
        gray = data.normalize(luma.unsqueeze(1).expand(-1, 3, -1, -1))
        return gray, x
        ### END SOLUTION


# %% tests="test_colorization_dataset" points=1
checks.pretext.check_colorization_dataset(ColorizationDataset)
### BEGIN HIDDEN TESTS
checks.pretext.check_colorization_dataset(ColorizationDataset, strict=True)
### END HIDDEN TESTS

# %% tests="test_colorization_batch" points=1
checks.pretext.check_colorization_batch(ColorizationDataset)
### BEGIN HIDDEN TESTS
checks.pretext.check_colorization_batch(ColorizationDataset, strict=True)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 1.4 - `ColorizationNet` (2 pts)
#
# The backbone squeezes an image into a 256-d vector; a small decoder must turn that vector back
# into a `[3, 32, 32]` colour image. Targets are normalised pixels, so each channel `c` lies in
# `[(0 - mean_c) / std_c, (1 - mean_c) / std_c]`. Make the output range match exactly: end with a
# sigmoid (pixels in [0, 1]) and map it with `data.normalize`. Then every output is a valid colour
# and the loss never asks for the impossible.
#
# <details><summary><b>A fuller hint</b> (open it when the docstring's hint is not enough)</summary>
#
# * Start from a 4x4 grid: 4 -> 8 -> 16 -> 32 takes three doublings. With, say, 128 channels the
#   linear layer needs `128 * 4 * 4` outputs, and `.view(-1, 128, 4, 4)` makes them a grid.
# * A `ConvTranspose2d` with `kernel_size=4, stride=2, padding=1` maps `H` to exactly `2 H`.
#   Halve the channels as the maps grow and end with 3; a `BatchNorm2d` and a `ReLU` after each
#   of them but the last help training.
# * `torch.sigmoid`, then `data.normalize`, on the decoder's `[B, 3, 32, 32]` output.
#
# </details>

# %% solution="colorization_net"
class ColorizationNet(torch.nn.Module):
    """Backbone + small decoder: grayscale image -> colour image.

    Args:
        backbone: maps ``[B, 3, 32, 32]`` to ``[B, 256]``; keep it as ``self.backbone`` and train
            it through the decoder (no ``detach``).

    Shape:
        ``[B, 3, 32, 32]`` (normalised gray) -> ``[B, 3, 32, 32]`` (normalised colour), every
        value inside the normalised pixel range of its channel.

    Hint:
        A linear layer turns the 256-d vector into a small stack of feature maps; transposed
        convolutions, each doubling height and width, grow it to 32x32 with 3 channels; a sigmoid
        puts every value in [0, 1], and the normalisation maps that to the target's units.
    """

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        ### BEGIN SOLUTION
        self.fc = torch.nn.Linear(256, 128 * 4 * 4)
        self.decoder = torch.nn.Sequential(
            torch.nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1), torch.nn.BatchNorm2d(64), torch.nn.ReLU(),
            torch.nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
            torch.nn.ConvTranspose2d(32, 3, 4, stride=2, padding=1),
        )
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        grid = self.fc(self.backbone(x)).view(-1, 128, 4, 4)  # the representation as a 4x4 map of 128 channels
        return data.normalize(torch.sigmoid(self.decoder(grid)))
        ### END SOLUTION


# %% tests="test_colorization_net" points=2
checks.pretext.check_colorization_net(ColorizationNet)
### BEGIN HIDDEN TESTS
checks.pretext.check_colorization_net(ColorizationNet, strict=True)
### END HIDDEN TESTS

# %%
def colorization_step(model, batch):
    gray, color = batch
    return F.mse_loss(model(gray), color)


runtime.seed_everything(SEED)
colorization_model = ColorizationNet(models.SmallConvNet())
colorization_train = ColorizationDataset(train_gpu)
history = train.fit(colorization_model, pretext_loader(colorization_train, shuffle=True), colorization_step,
                    NUM_EPOCHS, LR, DEVICE, desc="colorization")
colorization_model.eval()
squared_error, pixels, examples = torch.zeros((), device=DEVICE), 0, None
with torch.no_grad():
    for gray, color in pretext_loader(ColorizationDataset(test_gpu), False):  # the whole test split
        prediction = colorization_model(gray).float()
        squared_error += F.mse_loss(prediction, color, reduction="sum")  # summed on the device, read once
        pixels += color.numel()
        if examples is None:  # the first 8 test images, for the figure
            examples = torch.cat([gray[:8], prediction[:8], color[:8]]).cpu()
pretext_scores["colorization"] = squared_error.item() / pixels
print(f"trained in {history.seconds:.0f} s; MSE on the {len(test_set):,} test images "
      f"{pretext_scores['colorization']:.3f} (normalised units)")
viz.show_images(examples, ["gray"] * 8 + ["predicted"] * 8 + ["true"] * 8)
evaluate("colorization", colorization_model.backbone)

# %% [markdown]
# ## Part 5 - Comparison
#
# Everything below is computed from this run: the `results` dictionary was filled by `evaluate`.
# Next to it stands the course's recorded reference run (all of CIFAR-10 on a GPU, generated from
# `benchmarks/results/`), when one has been recorded. It ran on CIFAR-10, a JPEG copy (pixels
# differ slightly from torchvision's), so expect small differences from your run on torchvision's.

# %%
recorded = reference.load_reference()
if recorded is None:
    print("No reference run has been recorded for this course yet; the table shows your run only.")
    viz.summary_table(results)
else:
    ours = {m: r["probe_acc"] for m, r in recorded["methods"].items() if r["notebook"] == "01_pretext_tasks"}
    viz.summary_table(results, reference=ours, reference_label=f"reference run, {recorded['source']}")
viz.bar_chart(results, title="Linear probe on frozen SmallConvNet features (CIFAR-10 test)")
print("pretext-task scores:", {k: round(v, 3) for k, v in pretext_scores.items()})

# %% [markdown]
# The t-SNE plots project the 256-d test features to 2-D. Clusters that follow the colours (the
# true classes) mean the representation groups images by class without ever seeing a label.
# (On a GPU the t-SNE runs there, as the exact algorithm in `selfsup.tsne`; on a CPU it is
# scikit-learn's. Both follow the same schedule, and on these features they keep neighbours
# equally well.)

# %%
viz.tsne_grid(embeddings)

# %% [markdown]
# ## Part 6 - Label efficiency: how many labels does each representation need?
#
# Self-supervision exists because labels are expensive. So the question that matters is not only
# how good a representation is with all 50,000 labels, but how good it is with **few**: a
# representation that needs 10 labelled images per class to reach what another reaches with
# 1,000 saves 99% of the labelling. We re-use the features extracted above (nothing is trained
# again) and fit the same linear probe on `LABELS_PER_CLASS` randomly chosen labelled training
# images per class, `LABEL_DRAWS` times with different random images, for every method. Each line
# is the mean over the draws, the band the range from the worst to the best draw, and the last
# point the probe on all labels from Part 5.
#
# **Cost.** On a GPU the probes of all methods are fitted together, as one problem: the sum of their
# losses, which has exactly their separate solutions because no two probes share a parameter,
# minimised by one L-BFGS run. There these small fits cost what L-BFGS's loss evaluations cost (a
# few kernel launches and a wait for the result each), not what the images cost, and one joint fit
# needs far fewer evaluations: measured by the course on features of a random-init backbone
# (`benchmarks/label_efficiency_cost.py`, `benchmarks/results/2026-12-03-label-efficiency-cost-cpu.json`;
# CIFAR-10, a JPEG copy (pixels differ slightly from torchvision's); 2 CPU cores), the nine probes
# of one method took 292 evaluations together against 1,623 one at a time (and 246 for one probe
# on all 50,000 labels), with every accuracy within 0.06 points of its separate fit. On a CPU the
# time goes into arithmetic instead, which the joint fit does more of (it was about twice as slow
# there), so on a CPU each probe is fitted on its own. The cell prints how long it took in your run.
#
# **The baseline these curves must beat.** Few labels are worth something on their own: train the
# same `SmallConvNet`, with a linear head, from scratch on the same `k` labelled images per class
# (the same random draws as the probes use), with the crop-and-flip augmentation of the
# supervised model of Part 1, for `SCRATCH_STEPS` optimiser steps at every budget
# (`selfsup.scratch`). A representation helps with `k` labels only where its probe lies above this
# network's test accuracy, the dashed black line of the figure. To keep the cost down it is
# trained on the first `SCRATCH_RUNS` of the draws only. UvA's SimCLR tutorial and the Keras SimCLR
# example make the same comparison. The next cell trains it and prints how long that took.

# %%
started = time.perf_counter()
from_scratch = scratch.from_scratch(train_gpu, test_gpu, per_class=LABELS_PER_CLASS, draws=LABEL_DRAWS,
                                    runs=SCRATCH_RUNS, steps=SCRATCH_STEPS, device=DEVICE, seed=SEED)
print(f"trained from scratch in {time.perf_counter() - started:.0f} s: {scratch.describe(from_scratch)}")


# %%
started = time.perf_counter()
curves = probe.label_efficiency_many(features, per_class=LABELS_PER_CLASS, draws=LABEL_DRAWS, device=DEVICE,
                                     seed=SEED)  # on a GPU: every probe of every curve, one fit
print(f"{sum(len(v) for c in curves.values() for v in c.values())} probes in {time.perf_counter() - started:.0f} s")
per_class_all = len(train_set) // len(data.CLASSES)
viz.label_efficiency(curves, results, per_class_all, title="Linear probe with few labels (CIFAR-10 test)",
                     baseline=from_scratch)
for name, curve in curves.items():
    print(f"{name:>13}: " + ", ".join(f"{k} per class {100 * sum(a) / len(a):.1f}%" for k, a in curve.items()))

# %% [markdown]
# ### Exercise 1.5 - `cross_validate` (2 pts): choosing without the test set
#
# Every probe above uses the same regularisation, `C = 1`. With 10 labelled images per class, is
# that a good choice? You may not look at the test set to decide: a setting chosen on the test
# set makes its test accuracy an optimistic estimate. The honest tool is **cross-validation** on
# the labelled images you have: split them into `folds` parts, and for every part fit on the
# others and score on it; the candidate with the best mean score wins.
#
# The decisions are yours, and the check tests each of them: how to split (with 10 images per
# class, a careless split can leave a class out of a fold entirely), which folds each candidate is
# scored on, and how to turn the scores into a choice. `score(train_index, val_index, candidate)`
# does the fitting and scoring for you; your function only decides what to ask it.
#
# <details><summary><b>A fuller hint</b> (open it when the docstring's hint is not enough)</summary>
#
# * Give every image a fold number: for each class, shuffle its members (a `torch.Generator`
#   seeded with `seed`) and number them `0, 1, ..., folds - 1, 0, 1, ...` in turn.
# * Make those numbers once, before looping over the candidates, so that every candidate meets the
#   same splits.
# * For fold `f`, the validation indices are where the fold number is `f` (`torch.nonzero`), the
#   training indices everything else.
# * Average each candidate's `folds` scores; `max` over the candidates' positions with their mean
#   as the key finds the first best.
#
# </details>

# %% solution="cross_validate"
def cross_validate(labels, candidates, score, folds=5, seed=0):
    """Choose one of ``candidates`` by stratified k-fold cross-validation on labelled images only.

    Args:
        labels: int64 ``[N]``, the classes of the labelled images: all you may use to choose.
        candidates: the settings to choose from, e.g. ``[0.01, 0.1, 1.0, 10.0]`` for ``C``.
        score: ``score(train_index, val_index, candidate) -> float``, which fits with ``candidate``
            on the images ``train_index`` and returns the accuracy on the images ``val_index``
            (both int64 ``[*]`` tensors of indices into ``labels``).
        folds: the number of folds, from 2 to the size of the smallest class.
        seed: of the random assignment of images to folds.

    Returns:
        ``(best, mean_scores)``: the candidate (the value, not its position) with the highest mean
        validation score, the first of them on a tie, and the list of mean scores in the order of
        ``candidates``. Every image is validated exactly once; in each call of ``score`` the training
        images are all the others; every candidate is scored on the same folds; each class is dealt
        out over the folds as evenly as possible (its counts per fold differ by at most one).

    Hint:
        Assign each image a fold, class by class so that every fold holds every class, once for all
        candidates; then each candidate's mean over the folds of the validation scores decides.
    """
    ### BEGIN SOLUTION
    g = torch.Generator().manual_seed(seed)
    fold_of = torch.empty(len(labels), dtype=torch.long)
    for c in labels.unique():
        members = torch.nonzero(labels == c).flatten()
        fold_of[members[torch.randperm(len(members), generator=g)]] = torch.arange(len(members)) % folds
    means = []
    for candidate in candidates:
        scores = [score(torch.nonzero(fold_of != f).flatten(), torch.nonzero(fold_of == f).flatten(), candidate)
                  for f in range(folds)]
        means.append(sum(scores) / folds)
    best = max(range(len(candidates)), key=lambda i: means[i])
    return candidates[best], means
    ### END SOLUTION


# %% tests="test_cross_validate" points=2
checks.pretext.check_cross_validate(cross_validate)
### BEGIN HIDDEN TESTS
checks.pretext.check_cross_validate(cross_validate, strict=True)
### END HIDDEN TESTS

# %% [markdown]
# Now use it. For the rotation backbone, take the labelled images of one draw at the smallest
# budget of Part 6, choose the probe's `C` among `PROBE_CS` by 5-fold cross-validation on them,
# and only then look at the test set: the probe with the chosen `C` against the probe with `C = 1`.

# %%
train_feats, train_labels, test_feats, test_labels = features["rotation"]
budget = min(LABELS_PER_CLASS)
index = scratch.labelled_subsets(train_labels, (budget,), draws=1, seed=SEED)[budget][0]
x_few, y_few = train_feats[index], train_labels[index]


def probe_score(train_index, val_index, C):
    """Validation accuracy of the probe with regularisation C, fitted on train_index of the few labelled images."""
    return probe.linear_probe(x_few[train_index], y_few[train_index], x_few[val_index], y_few[val_index], DEVICE, C=C)


best_C, mean_scores = cross_validate(y_few, list(PROBE_CS), probe_score, folds=min(5, budget), seed=SEED)
print(f"{budget} labelled images per class; mean validation accuracy per C: "
      + ", ".join(f"C={c}: {100 * m:.1f}%" for c, m in zip(PROBE_CS, mean_scores)) + f"; chosen C={best_C}")
for C in sorted({1.0, best_C}):
    print(f"test accuracy with C={C}: {100 * probe.linear_probe(x_few, y_few, test_feats, test_labels, DEVICE, C=C):.1f}%")

# %% [markdown]
# ## Part 7 - Questions (written, graded by hand)
#
# Answer in a few sentences each, using the numbers and plots from **your** run.
#
# ### Question 1 (2 pts)
# A randomly initialised backbone reaches far more than the 10% of chance under the linear probe.
# Why? What does this say about how to read the other numbers in the table?

# %% [markdown] answer="q_random_init" points=2
# ### BEGIN SOLUTION
# Random convolutions + ReLU + pooling already compute many local colour, texture and edge
# statistics; a linear classifier over 256 of them (fitted on 50,000 labelled examples) can
# separate classes that differ in colour and texture (ships and planes on blue, frogs on green).
# So the random-init number is the real floor: a pretext task has only helped by the amount it
# adds on top of it, not by its distance from 10%.
# ### END SOLUTION

# %% [markdown]
# ### Question 2 (2 pts)
# Which of the three pretext tasks gave the best linear probe in your run? Take rotation
# prediction: what must a network know about an image to tell its rotation, and for which CIFAR-10
# classes or images is the task ambiguous?

# %% [markdown] answer="q_rotation" points=2
# ### BEGIN SOLUTION
# (The ranking is the student's own; a good answer quotes the three probe accuracies of the table
# and says whether their differences are larger than the spread of the label-efficiency draws.)
# To tell "upright" from "upside down" the network must locate and recognise object parts that have
# a canonical orientation (heads, legs, wheels on the ground, sky above), which is class-relevant
# semantic information. The task is ambiguous for images without a canonical orientation: objects
# seen from above, centred symmetric shapes, some frogs or ships on uniform backgrounds; there the
# network can only guess from low-level cues such as lighting from above.
# ### END SOLUTION

# %% [markdown]
# ### Question 3 (2 pts)
# How could a network solve the 2x2 jigsaw without understanding objects at all? Name one such
# shortcut and one way to remove it.

# %% [markdown] answer="q_jigsaw" points=2
# ### BEGIN SOLUTION
# It can match low-level continuity across tile borders: edges, lines and colour gradients that must
# continue from one tile into its neighbour, or chromatic aberration and vignetting that reveal a
# tile's absolute position. Noroozi & Favaro leave a random gap between tiles and jitter each tile's
# position and colour, so borders no longer line up and low-level statistics stop giving the answer.
# ### END SOLUTION

# %% [markdown]
# ### Question 4 (2 pts)
# Look at the predicted colours. Why does MSE regression produce desaturated, brownish images, and
# what does that imply for the features the backbone needs to learn?

# %% [markdown] answer="q_colorization" points=2
# ### BEGIN SOLUTION
# Under MSE the best prediction is the conditional mean of the plausible colours; when an object can
# be red, blue or green the mean is gray-brown, so predictions are desaturated. The loss is then
# dominated by easy, low-level regularities (sky is blue, grass is green, brightness of each pixel)
# that need little object knowledge, so the backbone is not pushed to learn semantics; Zhang et al.
# predict a distribution over colours with class rebalancing for this reason.
# ### END SOLUTION

# %% [markdown]
# ### Question 5 (2 pts)
# Read the label-efficiency figure of Part 6. With 10 labelled images per class, which
# representation is best, and does the ranking of the methods stay the same up to all labels? At
# which label budget does each pretext task start to pay off against the random-init floor, and how
# many labels does the supervised backbone, itself trained with all 50,000 labels, have over them?
# Where does each curve stand against the network trained from scratch on the same labels (the
# dashed line)?

# %% [markdown] answer="q_label_efficiency" points=2
# ### BEGIN SOLUTION
# A good answer reads the numbers of the student's own run: the accuracy of every method at 10,
# 100 and 1,000 labels per class and with all labels, and whether the bands overlap. It quotes the
# dashed line too: a frozen representation is only worth its pretraining at the budgets where its
# probe lies above the network trained from scratch on the same labels. A pretext task
# "pays off" at the smallest budget where its band lies above the random-init band; where the bands
# overlap, the run cannot tell the two apart. If the ranking changes between budgets, the method
# that wins with few labels is the one whose features already separate the classes along a few
# directions, which is what a probe fitted on 100 images can find; with 50,000 labels the probe can
# also use weaker directions. The supervised backbone is not a fair competitor: its features were
# shaped by every label of the training set, so its curve shows what a representation can reach,
# not what self-supervision gives for free.
# ### END SOLUTION
