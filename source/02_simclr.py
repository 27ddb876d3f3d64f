# %% [markdown]
# # Notebook 2 - SimCLR: contrastive learning
#
# The pretext tasks of Notebook 1 invent a label and hope that predicting it teaches something
# useful. **Contrastive learning** asks for the useful thing directly: two random *views* of the
# same image (two crops, two colourings) should have similar representations, and views of
# different images should not. Nothing in the loss mentions rotations, tiles or colours; the
# augmentations alone say what the representation must ignore.
#
# We implement **SimCLR** (Chen, Kornblith, Norouzi & Hinton, *A Simple Framework for Contrastive
# Learning of Visual Representations*, ICML 2020):
#
# 1. take a batch of N images and augment each one twice, giving 2N views;
# 2. encode every view with the backbone (`h`, 256-d) and a small projection head (`z`, 128-d);
# 3. for every view, the other view of the same image is its **positive**; the other 2N - 2 views
#    in the batch are **negatives**. The **NT-Xent** loss is a softmax cross-entropy that picks the
#    positive out of the 2N - 1 candidates by cosine similarity;
# 4. after training, throw the head away and use `h`.
#
# **Learning goals.** After this notebook you can
# 1. build an augmentation pipeline that runs on whole batches on the GPU, with an independent
#    random draw per image;
# 2. implement the NT-Xent loss so that it is exact, symmetric and numerically stable;
# 3. read a contrastive representation: similarity matrices, positive/negative histograms, the
#    ranking of positives, a linear probe and t-SNE;
# 4. measure how many labels the representation needs (a label-efficiency curve);
# 5. compare SimCLR with the pretext tasks of Notebook 1, with numbers from recorded runs.
#
# The backbone is the same `SmallConvNet` as in Notebook 1, so differences come from the method.
#
# **Running time.** Use a GPU (*Runtime > Change runtime type > T4 GPU* on Colab): the data and
# the augmentations never leave it, so training is not held back by Colab's 2 CPU cores. The
# notebook prints the training time of your run. When the autograder runs it, the notebook switches
# to *grading mode*: a few hundred synthetic images, one epoch, CPU only - so numbers printed there
# mean nothing; only the checks count.

# %% [markdown]
# ## Setup
#
# The first code cell below (written by the course build, the same in every notebook) installs the
# helper package on Colab, seeds everything and defines `SEED` and `DEVICE`, which the other cells
# use: run it first, also after a restart. The constants of the cell after it are the only knobs.
# `runtime.setting(name, full=..., grading=...)` picks the value for the current mode (you can
# override any of them with an environment variable `SELFSUP_<NAME>`). The training recipe
# (learning rate, temperature, schedule) is explained in Part 4.

# %%
import functools
import math
import time

import kornia.augmentation as K
import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.nn import functional as F

from selfsup import checks, data, geometry, models, monitor, probe, reference, runtime, scratch, train, viz

NUM_EPOCHS = runtime.setting("NUM_EPOCHS", full=10, grading=1)
BATCH_SIZE = runtime.setting("BATCH_SIZE", full=256, grading=64)
# SimCLR trains on all 50,000 training images; grading mode uses a few of the synthetic ones.
TRAIN_IMAGES = runtime.setting("TRAIN_IMAGES", full=50000, grading=128)
LR = runtime.setting("LR", full=3e-3, grading=3e-3)
WEIGHT_DECAY = runtime.setting("WEIGHT_DECAY", full=5e-4, grading=5e-4)
TEMPERATURE = runtime.setting("TEMPERATURE", full=0.2, grading=0.2)
TSNE_POINTS = runtime.setting("TSNE_POINTS", full=2000, grading=100)
PROBE_ITERATIONS = runtime.setting("PROBE_ITERATIONS", full=500, grading=100)  # L-BFGS steps of the probe
# The bonus temperature ablation: a shorter run per temperature (all four together train fewer steps
# than Part 4), on a subset in grading mode. The sweep includes the TEMPERATURE of Part 4.
ABLATION_EPOCHS = runtime.setting("ABLATION_EPOCHS", full=2, grading=1)
ABLATION_IMAGES = runtime.setting("ABLATION_IMAGES", full=50000, grading=64)
ABLATION_TEMPERATURES = tuple(sorted({0.05, 0.1, 0.2, 0.3, 0.5, 1.0, TEMPERATURE}))
# Part 6: labelled training images per class, and random draws of them per budget.
LABELS_PER_CLASS = runtime.setting("LABELS_PER_CLASS", full=(10, 100, 1000), grading=(2, 10))
LABEL_DRAWS = runtime.setting("LABEL_DRAWS", full=3, grading=2)
# Part 6's baseline: optimiser steps of each network trained from scratch, and draws it is trained on.
SCRATCH_STEPS = runtime.setting("SCRATCH_STEPS", full=500, grading=2)
SCRATCH_RUNS = runtime.setting("SCRATCH_RUNS", full=1, grading=1)
# Part 4's k-NN monitor: labelled training images that vote, and held-out test images it classifies.
KNN_MEMORY = runtime.setting("KNN_MEMORY", full=10000, grading=128)
KNN_QUERIES = runtime.setting("KNN_QUERIES", full=2000, grading=100)

results = {}   # method -> linear-probe test accuracy, filled as the notebook runs
features = {}  # method -> (train features, train labels, test features, test labels), for Part 6

# %% [markdown]
# ## Part 0 - Data
#
# The whole split sits on `DEVICE` as one uint8 tensor, and `data.DeviceLoader` cuts batches by
# index: no per-image Python runs during training. The seed version of this practical augmented
# every image with PIL in a CPU `DataLoader`; on a 2-core machine like Colab's, the course measured
# that augmentation alone at 91.6 s per epoch with `num_workers=0` and 102.5 s with 2 workers, while
# the GPU would wait (`benchmarks/results/2026-11-28-simclr-speed-cpu.json`: 2 cores of a shared
# machine that other jobs were loading, so an idle machine may be faster). Here the augmentations
# also run on the GPU, on whole batches.
#
# Batches are `(x, y)`: normalised float images `[B, 3, 32, 32]` and labels `[B]`. SimCLR never
# looks at `y`; only the linear probe does.

# %%
train_set = data.load_cifar10(train=True)
test_set = data.load_cifar10(train=False)
train_gpu, test_gpu = train_set.to(DEVICE), test_set.to(DEVICE)
print(f"train: {len(train_set)} images, test: {len(test_set)} images, kept on {DEVICE}")
viz.show_images([train_set[i][0] for i in range(8)], [data.CLASSES[train_set[i][1]] for i in range(8)])

# %% [markdown]
# ## Part 1 - Two views of every image
#
# Section 3 of the SimCLR paper studies the augmentations: no single one is enough, their
# *composition* is what makes the prediction task useful, and one pair stands out, **random
# resized crops** (the views see different parts of the object at different scales) with **colour
# distortion** (without it, two crops of one image can be matched by their colour histogram alone,
# a shortcut that teaches nothing). It also finds that contrastive learning benefits from stronger
# colour distortion than supervised training does.
#
# ### Exercise 2.1 - `simclr_augment` (3 pts)
#
# Build the augmentation with [`kornia.augmentation`](https://kornia.readthedocs.io/en/latest/augmentation.module.html),
# imported as `K`. Its transforms work on batched tensors on any device and draw their random
# parameters **per image**. (`torchvision.transforms.v2` applied to a batched tensor draws **one**
# set of parameters for the whole batch: every image gets the same crop, which is useless here.)
#
# In this order:
# 1. `K.RandomResizedCrop((32, 32), scale=(0.2, 1.0), cropping_mode="resample")`;
# 2. `K.RandomHorizontalFlip()`;
# 3. `K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8)` (brightness, contrast, saturation, hue);
# 4. `K.RandomGrayscale(p=0.2)`.
#
# Our images are **normalised** (`data.normalize`), but kornia's colour operations expect pixels in
# [0, 1]: convert with `data.denormalize` before the transforms and back with `data.normalize` after.
#
# **Why `cropping_mode="resample"`.** By default (`"slice"`) kornia crops and resizes the images one
# at a time, in a Python loop: for the 512 views of a training step that is about 3,900 small
# operations, each one launched by the CPU (counted by the course with
# `benchmarks/host_syncs.py`). On a GPU the CPU cannot launch them as fast as the GPU runs them, so
# the GPU waits. With `"resample"` every crop of the batch is one affine warp of the whole batch (the
# same bilinear resize), and the whole augmentation is about 630 operations. Both draw a crop per
# image; on a CPU the per-image loop happens to be cheaper, which is why it is kornia's default.
#
# <details><summary><b>A fuller hint</b> (open it when the docstring's hint is not enough)</summary>
#
# * `nn.Sequential(a, b, c, d)` applies four modules in order; kornia's transforms are modules.
# * Build the chain in `simclr_augment` itself, outside the function you return, so that every
#   call of `augment` reuses it; a nested `def` or a `lambda` can use it.
# * Rounding can put a denormalised pixel a hair outside [0, 1]: `clamp(0, 1)` before the colour
#   operations keeps them in their domain.
#
# </details>

# %% solution="simclr_augment"
def simclr_augment():
    """Build SimCLR's augmentation for batches of normalised CIFAR images.

    Returns:
        A callable ``augment`` (an ``nn.Module`` or a function): ``augment(x)`` maps normalised
        images ``x`` ``[B, 3, H, W]`` (any device) to a random view of each, normalised,
        ``[B, 3, 32, 32]`` on the same device. Every call, and every image within a call, gets
        its own random crop, flip, colour jitter and grayscale. ``x`` is not modified.

    Hint:
        Chain the four kornia transforms in one module, built once (cropping by resampling); the
        callable you return moves a batch to pixel units, applies the chain and moves the result
        back to normalised units.
    """
    ### BEGIN SOLUTION
    ops = nn.Sequential(
        K.RandomResizedCrop((32, 32), scale=(0.2, 1.0), cropping_mode="resample"),
        K.RandomHorizontalFlip(),
        K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8),
        K.RandomGrayscale(p=0.2),
    )

    def augment(x):
        return data.normalize(ops(data.denormalize(x).clamp(0, 1)))

    return augment
    ### END SOLUTION


# %% tests="test_simclr_augment" points=3
checks.simclr.check_simclr_augment(simclr_augment)
### BEGIN HIDDEN TESTS
checks.simclr.check_simclr_augment(simclr_augment, strict=True)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2.2 - `two_views` (1 pt)
#
# Return two independently augmented views of a batch. Calling `augment` once on the doubled batch
# `torch.cat([x, x])` and splitting the result is just as correct (the parameters are drawn per
# image) and faster on a GPU, because every kornia operation then runs once instead of twice.
#
# <details><summary><b>A fuller hint</b> (open it when the docstring's hint is not enough)</summary>
#
# * A batch of `2B` images, the first `B` and the last `B` being copies of `x`, gives its views in
#   the same order: rows `i` and `B + i` are two views of image `i`.
# * `Tensor.chunk(2)` (or slicing at `B`) splits a tensor into two halves along its first dim.
# * Don't assume the views have the shape of `x`: an augmentation may crop or resize.
#
# </details>

# %% solution="two_views"
def two_views(x, augment):
    """Two random views of every image of a batch.

    Args:
        x: a batch of normalised images ``[B, 3, H, W]``.
        augment: a random augmentation, ``augment(batch) -> views`` (per-image randomness).

    Returns:
        ``(view1, view2)``: two tensors, each an output of ``augment`` on ``x`` (``[B, 3, 32, 32]``
        for ``simclr_augment``), drawn independently so that ``view1[i]`` and ``view2[i]`` are two
        different views of image ``i``.

    Hint:
        Each view is ``augment`` applied to the batch; because the random draw is per image, one
        call on a batch that holds every image twice gives both views at once.
    """
    ### BEGIN SOLUTION
    view1, view2 = augment(torch.cat([x, x])).chunk(2)
    return view1, view2
    ### END SOLUTION


# %% tests="test_two_views" points=1
checks.simclr.check_two_views(two_views)
### BEGIN HIDDEN TESTS
checks.simclr.check_two_views(two_views, strict=True)
### END HIDDEN TESTS

# %% [markdown]
# Here are eight test images (top row) and two views of each. Some views are tight crops, some are
# mirrored, most have shifted colours and about one in five is gray. The network has to map both
# views of a column close together.

# %%
x, _ = test_gpu.batch(torch.arange(8))
view1, view2 = two_views(x, simclr_augment())
viz.show_images(torch.cat([x, view1, view2]).cpu(), ["original"] * 8 + ["view 1"] * 8 + ["view 2"] * 8)

# %% [markdown]
# ## Part 2 - Backbone and projection head
#
# SimCLR computes the loss on `z = g(h)`, where `h = f(x)` is the backbone's representation and `g`
# a small MLP, the **projection head**. The paper found that the linear probe on `h` is much better
# than on `z`: the loss makes `z` invariant to the augmentations (colour, orientation, position),
# and the head is where that information can be thrown away without the backbone losing it.
#
# ### Exercise 2.3 - `ProjectionHead` (2 pts)
#
# A 2-layer MLP, 256 -> 256 -> 128, with a ReLU in between (a BatchNorm1d before the ReLU is
# allowed and usually helps). The output must **not** end with a ReLU: `z` has to be free to point
# in any direction, or two unrelated images could never have a negative cosine similarity.
#
# <details><summary><b>A fuller hint</b> (open it when the docstring's hint is not enough)</summary>
#
# * `nn.Sequential` keeps its layers in order and registers their parameters with the module, so
#   the optimiser sees them; store it as an attribute.
# * A `BatchNorm1d(hidden_dim)` goes between the first linear layer and the ReLU, if you use one.
# * Use the arguments, not fixed numbers: the check also builds `ProjectionHead(64, 32, 16)`.
#
# </details>

# %% solution="projection_head"
class ProjectionHead(nn.Module):
    """SimCLR's projection head ``g``: Linear -> (BatchNorm1d) -> ReLU -> Linear.

    Args:
        in_dim: size of the representation ``h``.
        hidden_dim: width of the hidden layer.
        out_dim: size of the projection ``z``.

    Shape:
        ``[B, in_dim] -> [B, out_dim]``.

    Hint:
        Two linear maps, the first ``in_dim -> hidden_dim``, the second ``hidden_dim -> out_dim``,
        with a nonlinearity between them and nothing after the second; build them in
        ``__init__`` from the three sizes, apply them in ``forward``.
    """

    def __init__(self, in_dim=256, hidden_dim=256, out_dim=128):
        super().__init__()
        ### BEGIN SOLUTION
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )
        ### END SOLUTION

    def forward(self, h):
        ### BEGIN SOLUTION
        return self.net(h)
        ### END SOLUTION


# %% tests="test_projection_head" points=2
checks.simclr.check_projection_head(ProjectionHead)
### BEGIN HIDDEN TESTS
checks.simclr.check_projection_head(ProjectionHead, strict=True)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2.4 - `SimCLRModel` (2 pts)
#
# Put the two together. The forward pass returns both `h` (what we keep) and `z` (what the loss
# sees). The loss on `z` must train the backbone, so no `detach` anywhere.
#
# <details><summary><b>A fuller hint</b> (open it when the docstring's hint is not enough)</summary>
#
# * Assigning a module to `self.<name>` in `__init__` registers its parameters with the model;
#   the notebook later reads `model.backbone`, so use that name (and `head`).
# * Return a tuple, representation first: `(h, z)`.
#
# </details>

# %% solution="simclr_model"
class SimCLRModel(nn.Module):
    """Backbone ``f`` and projection head ``g``; the head is discarded after training.

    Args:
        backbone: maps images ``[B, 3, H, W]`` to representations ``[B, 256]``; keep it as
            ``self.backbone``.
        head: maps ``[B, 256]`` to projections ``[B, 128]``; keep it as ``self.head``.

    Shape:
        ``x`` ``[B, 3, H, W]`` -> ``(h, z)`` with ``h = backbone(x)`` ``[B, 256]`` and
        ``z = head(h)`` ``[B, 128]``.

    Hint:
        Keep both parts as attributes; in ``forward`` compute ``h`` once and feed that same tensor
        to the head.
    """

    def __init__(self, backbone, head):
        super().__init__()
        ### BEGIN SOLUTION
        self.backbone = backbone
        self.head = head
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        h = self.backbone(x)
        return h, self.head(h)
        ### END SOLUTION


# %% tests="test_simclr_model" points=2
checks.simclr.check_simclr_model(SimCLRModel)
### BEGIN HIDDEN TESTS
checks.simclr.check_simclr_model(SimCLRModel, strict=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Part 3 - The NT-Xent loss
#
# Stack the projections of both views, `z = cat([z1, z2])` (`[2N, D]`), so that the positive of
# row `i` is row `i + N` and the positive of row `i + N` is row `i`. With `s_ij` the cosine
# similarity of rows `i` and `j` and temperature `t`, the loss of anchor `i` with positive `p(i)` is
#
# $$\ell_i = -\log \frac{\exp(s_{i,p(i)} / t)}{\sum_{k \ne i} \exp(s_{ik} / t)},$$
#
# a softmax cross-entropy over the 2N - 1 other rows (the anchor itself is excluded, not set to
# zero), and NT-Xent is the **mean** of `l_i` over all 2N anchors. This is exactly
# `F.cross_entropy` on the `[2N, 2N]` matrix of logits `s / t` whose diagonal is `-inf`, with
# targets `p(i)`.
#
# Two numbers to check by hand (N = 4, t = 0.5): if all 2N embeddings are identical, every candidate
# is equally likely and the loss is `log(2N - 1) = log 7 = 1.9459`; if `z1 = z2 =` one-hot rows,
# the positive has cosine 1 and the negatives 0, and the loss is `log(1 + 6 exp(-2)) = 0.5944`.
#
# ### Exercise 2.5 - `nt_xent_loop` (2 pts)
#
# First write the loss the way the formula reads: a Python `for` loop over the 2N anchors, each
# anchor's `l_i` computed from its own similarities to the other rows, then the mean. It is slow,
# but every line is one symbol of the formula, which makes it the version to trust. In Exercise
# 2.6 you vectorise it, and the cell after that runs your two versions on the same batch: they must
# agree. Which rows are an anchor's candidates, which one is its positive, how to take the log of
# a sum of exponentials without overflow: those decisions are yours, and the checks test each.
#
# <details><summary><b>A fuller hint</b> (open it when the docstring's hint is not enough)</summary>
#
# * Stack `z1` and `z2` into `z` (`[2N, D]`) and normalise every row once, before the loop.
# * For anchor `i`, the positive is row `(i + N) % (2N)`; the candidates are all rows but `i`
#   (a list of indices, or a boolean mask with row `i` switched off).
# * `torch.logsumexp(logits, dim=0)` is the stable `log(sum(exp(logits)))`. Then
#   `l_i = logsumexp(candidates' cosines / t) - positive's cosine / t`.
# * Collect the `2N` values with `torch.stack` and take the mean: the result must stay a tensor,
#   so that gradients flow.
#
# </details>

# %% solution="nt_xent_loop"
def nt_xent_loop(z1, z2, temperature):
    """NT-Xent computed one anchor at a time: the formula of Part 3, literally.

    Args:
        z1: projections of the first views, ``[N, D]``, N >= 1.
        z2: projections of the second views, ``[N, D]``; ``z2[i]`` is the positive of ``z1[i]``.
        temperature: ``t > 0``; the cosine similarities are divided by it.

    Returns:
        A scalar tensor: the mean of ``l_i`` over the 2N anchors, each ``l_i`` computed in its own
        iteration of a Python loop. It equals ``nt_xent_loss(z1, z2, temperature)``.

    Hint:
        Normalise the stacked rows once; for each anchor find its positive and its candidates
        (every other row), and its loss is a log-sum-exp over the candidates minus the positive.
    """
    ### BEGIN SOLUTION
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    n2 = z.shape[0]
    losses = []
    for i in range(n2):
        others = torch.arange(n2, device=z.device) != i
        positive = (i + n2 // 2) % n2
        logits = z[others] @ z[i] / temperature
        losses.append(torch.logsumexp(logits, dim=0) - z[positive] @ z[i] / temperature)
    return torch.stack(losses).mean()
    ### END SOLUTION


# %% tests="test_nt_xent_loop" points=2
checks.simclr.check_nt_xent_loop(nt_xent_loop)
### BEGIN HIDDEN TESTS
checks.simclr.check_nt_xent_loop(nt_xent_loop, strict=True)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2.6 - `nt_xent_loss` (4 pts)
#
# Now the same loss without a Python loop: one matrix product gives all `(2N)^2` similarities at
# once, and what your loop did anchor by anchor (leave the anchor out, pick its positive) becomes
# a mask and a vector of targets.
#
# **Mixed precision.** On a GPU, `train.fit` runs every training step inside
# `torch.autocast(dtype=torch.float16)`: the model's matrix products run in float16 and `z`
# arrives in float16. Half precision can hurt a contrastive loss in two ways.
#
# * **Resolution.** Just below 1, float16 has steps of 2^-11, about 0.0005: cosines of 0.9998 and
#   1.0 become the same number. That is not a corner case: a randomly initialised network gives
#   almost every pair of views a cosine near 1 (Part 5.2 shows it and says why), so similarities
#   computed in float16 blur exactly the differences the loss has to learn from.
# * **Overflow.** float16 ends at 65,504 and `exp(1 / 0.05)` alone is about 4.9e8: a loss that
#   takes `exp` of the logits itself, on float16 tensors, returns inf or NaN. (Under autocast on a
#   GPU, PyTorch already runs `exp`, `logsumexp`, `softmax` and the losses such as `F.cross_entropy`
#   in float32: see the lists in `torch/include/ATen/autocast_mode.h`. So this bites float16
#   inputs outside autocast.)
#
# Casting with `.float()` is **not** enough inside autocast: autocast decides the precision of each
# operation, and a matrix product of two float32 tensors still runs in half precision. To compute
# the similarities in float32, turn autocast off around them, as `simclr_step` below does for the
# augmentation: `with torch.autocast(device_type=z1.device.type, enabled=False):`, then `.float()`.
# The checks run your loss on float16 inputs and inside float16 autocast: it must stay finite, and
# on a batch whose negatives all have cosine 0.9998 and whose positives have cosine 1 (at
# temperature 0.01) it must match the float32 loss to 0.1%; in half precision it is off by about 1%.
#
# Create every new tensor on the inputs' device (`device=z1.device`).
#
# <details><summary><b>A fuller hint</b> (open it when the docstring's hint is not enough)</summary>
#
# * Leave autocast with a `with torch.autocast(device_type=z1.device.type, enabled=False):` block
#   around the whole computation, and cast the stacked rows with `.float()` inside it.
# * `F.normalize(..., dim=1)` makes every row unit length; a matrix times its own transpose then
#   holds every cosine.
# * `masked_fill` with a boolean identity matrix (`torch.eye(..., dtype=torch.bool)`) and
#   `float("-inf")` removes the self-similarities: `exp(-inf) = 0` in the softmax.
# * Row `i < N` has its positive in column `i + N`, row `i + N` in column `i`: two `torch.arange`
#   ranges joined with `torch.cat` give all `2N` targets. `F.cross_entropy` takes the mean.
#
# </details>

# %% solution="nt_xent_loss"
def nt_xent_loss(z1, z2, temperature):
    """NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR.

    Args:
        z1: projections of the first views, ``[N, D]`` (any float dtype, any device), N >= 1.
        z2: projections of the second views, ``[N, D]``; ``z2[i]`` is the positive of ``z1[i]``.
        temperature: ``t > 0``; the cosine similarities are divided by it.

    Returns:
        A scalar tensor (float32): the mean of the loss over the 2N anchors. It does not depend on
        the norms of the rows of ``z1`` and ``z2`` (they are L2-normalised inside) and it is
        symmetric: ``nt_xent_loss(z1, z2, t) == nt_xent_loss(z2, z1, t)``. Called inside
        ``torch.autocast`` or on float16 inputs it computes the similarities in float32: it stays
        finite and within 0.1% (relative) of the float32 loss, also when every cosine is near 1.

    Hint:
        Stack both views into one ``[2N, D]`` matrix of unit rows in float32 (with autocast off);
        all pairwise cosines divided by ``t`` are a ``[2N, 2N]`` matrix of logits; exclude each
        row's own entry, and the loss is a cross-entropy whose targets are the positives' columns.
    """
    ### BEGIN SOLUTION
    n = z1.shape[0]
    with torch.autocast(device_type=z1.device.type, enabled=False):  # similarities in float32
        z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
        logits = z @ z.T / temperature
        self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
        logits = logits.masked_fill(self_mask, float("-inf"))
        targets = torch.cat([torch.arange(n, 2 * n, device=z.device), torch.arange(0, n, device=z.device)])
        return F.cross_entropy(logits, targets)
    ### END SOLUTION


# %% tests="test_nt_xent_loss" points=4
checks.simclr.check_nt_xent_loss(nt_xent_loss)
### BEGIN HIDDEN TESTS
checks.simclr.check_nt_xent_loss(nt_xent_loss, strict=True)
### END HIDDEN TESTS

# %% [markdown]
# Your two versions side by side, on one batch of 64 pairs: they must agree (if they do not, one of
# them is wrong, and its check says which), and the cell prints how much faster the vectorised
# one is on this machine.

# %%
comparison = checks.simclr.compare_nt_xent(nt_xent_loop, nt_xent_loss)

# %% [markdown]
# ## Part 4 - Training
#
# One training step: two views of the batch (augmented in float32, outside mixed precision), one
# forward pass of the 2N views through backbone and head, and the loss. The augmentation is an
# argument of the step, built by `train_simclr` from your `simclr_augment`. `train.fit` does the rest
# (AdamW, schedule, mixed precision on CUDA, progress bar), as in Notebook 1.
#
# **The recipe.** The budget is fixed: `NUM_EPOCHS = 10` epochs, batch 256 and the `SmallConvNet`
# backbone. The seed version of this practical used Adam at `3e-4` and temperature 0.3.
# Ten epochs at batch 256 are only about 1,950 optimiser steps, so we change:
#
# * **the schedule**: one-cycle (a short warm-up, then cosine decay to zero) with a peak learning
#   rate of `3e-3`, ten times higher. The warm-up keeps the first steps, when BatchNorm statistics
#   and the similarities are still random, from diverging; the decay lets the last epochs settle;
# * **the temperature**: 0.2 instead of 0.3. A lower temperature sharpens the softmax, so the
#   gradient concentrates on the negatives most similar to the anchor, the hardest of the 510 in
#   the batch. Some of those are false negatives (other images of the same class), so a very low
#   temperature could also push apart what should stay together; whether it does within this
#   budget is a question for a measurement, not for this paragraph. The bonus Part 8 sweeps the
#   temperature and says what the course's recorded runs show so far;
# * **the crop scale**: crops of 20-100% of the image rather than the paper's 8-100% (made for
#   224-pixel ImageNet images): a 32x32 image has little to spare;
# * **a BatchNorm in the projection head**, as in SimCLR v2.
#
# The course's goal for this recipe is a linear probe of 72% or more on CIFAR-10 within the
# 10-epoch budget (the targets are in the README's results table, which marks whether the
# recorded reference run met them). The table in Part 7 shows what your run reached and, next to it, what the
# course's recorded reference run measured.

# %%
def simclr_step(model, batch, augment, temperature):
    """NT-Xent of a SimCLRModel on two views of an (images, labels) batch; the labels are unused."""
    x, _ = batch
    with torch.autocast(device_type=x.device.type, enabled=False):
        view1, view2 = two_views(x, augment)
    _, z = model(torch.cat([view1, view2]))
    z1, z2 = z.chunk(2)
    return nt_xent_loss(z1, z2, temperature)


def train_simclr(num_epochs, temperature, dataset, desc, knn=None):
    """A fresh SmallConvNet + ProjectionHead trained with SimCLR; returns (model, history).

    With ``knn`` (a ``monitor.KNNMonitor``), the backbone's k-NN accuracy is also measured before
    training and after every epoch, into ``knn.accuracies``.
    """
    runtime.seed_everything(SEED)
    model = SimCLRModel(models.SmallConvNet(), ProjectionHead())
    loader = data.DeviceLoader(dataset, BATCH_SIZE, shuffle=True, drop_last=True, seed=SEED)
    if knn is not None:
        loader = knn.watch(loader, model.backbone)
    step = functools.partial(simclr_step, augment=simclr_augment(), temperature=temperature)
    history = train.fit(model, loader, step, num_epochs, LR, DEVICE, weight_decay=WEIGHT_DECAY, desc=desc)
    return model, history


knn = monitor.KNNMonitor(train_gpu.subset(KNN_MEMORY, seed=SEED), test_gpu.subset(KNN_QUERIES, seed=SEED), DEVICE)
simclr, history = train_simclr(NUM_EPOCHS, TEMPERATURE, train_gpu.subset(TRAIN_IMAGES, seed=SEED), desc="SimCLR",
                               knn=knn)
chance_loss = math.log(2 * BATCH_SIZE - 1)
print(f"epochs: {NUM_EPOCHS}, training time {history.seconds:.1f} s ({history.seconds / NUM_EPOCHS:.1f} s per epoch); "
      f"loss of the first step {history.step_losses[0]:.3f}, of the last epoch {history.epoch_losses[-1]:.3f}; "
      f"log(2N - 1) = {chance_loss:.3f}")
print("k-NN accuracy (before training, then after each epoch): " + ", ".join(f"{100 * a:.1f}%" for a in knn.accuracies))
viz.training_curves(history.step_losses, len(history.step_losses) // NUM_EPOCHS, ylabel="NT-Xent",
                    chance=chance_loss, chance_label="log(2N - 1): all candidates equally similar",
                    knn=knn.accuracies, knn_chance=1 / len(data.CLASSES))

# %% [markdown]
# On the left, the thin line is the loss of every step and the dots the mean of each epoch; the
# dashed line is `log(2N - 1)`, the loss of a network that finds all 2N - 1 candidates equally
# similar. Compare the first step with it (both are printed above): a random network is not that
# network. It already tells some views apart (Part 5.3 measures how often it ranks the positive
# first), so the loss can start below the dashed line. The loss then falls as the network learns
# to pick the positive out of the batch. It never reaches zero: some negatives are other images
# of the same kind, and the augmentations are strong enough to make some pairs genuinely hard.
#
# On the right is the **k-NN monitor**, what self-supervised libraries watch during training: after
# every epoch (and once before the first), the features `h` of `KNN_MEMORY` labelled training
# images vote, 20 nearest by cosine similarity, for the class of `KNN_QUERIES` test images
# (`selfsup.monitor`). Labels are used only to measure, never to train. Chance is 10%. The
# monitor costs two passes of feature extraction per epoch and draws no random numbers, so the
# training run is the same with or without it.
#
# ## Part 5 - What did it learn?
#
# ### 5.1 Linear probe and t-SNE
#
# We probe the backbone output `h` exactly like in Notebook 1 and compare with a randomly
# initialised backbone, computed here with the same seed and probe.

# %%
def probe_accuracy(backbone, train_data):
    """Linear-probe test accuracy of a frozen backbone (probe fitted on ``train_data``), and the features."""
    train_feats, train_labels = probe.extract_features(backbone, train_data, DEVICE)
    test_feats, test_labels = probe.extract_features(backbone, test_gpu, DEVICE)
    accuracy = probe.linear_probe(train_feats, train_labels, test_feats, test_labels, DEVICE,
                                  max_iter=PROBE_ITERATIONS)
    return accuracy, (train_feats, train_labels, test_feats, test_labels)


def evaluate(name, backbone):
    """Record the linear-probe accuracy of a backbone in ``results``; keep its features for Part 6."""
    results[name], features[name] = probe_accuracy(backbone, train_gpu)
    print(f"{name}: linear-probe accuracy {100 * results[name]:.1f}%")


runtime.seed_everything(SEED)
random_model = SimCLRModel(models.SmallConvNet(), ProjectionHead()).to(DEVICE)
evaluate("random init", random_model.backbone)
evaluate("SimCLR", simclr.backbone)
_, _, test_feats, test_labels = features["SimCLR"]
keep = torch.randperm(len(test_labels), generator=torch.Generator().manual_seed(0))[:TSNE_POINTS]
viz.tsne_plot(test_feats[keep], test_labels[keep], "SimCLR features h (CIFAR-10 test)")

# %% [markdown]
# ### 5.2 Similarities of views
#
# Take 16 test images, two views each, and compute the 32 x 32 matrix of cosine similarities of
# their projections `z`, ordered `[view 1 of images 0-15, view 2 of images 0-15]`. The black lines
# separate the two views' blocks; the circles mark the positives, the two off-diagonal lines
# `(i, i + 16)` and `(i + 16, i)`, which light up for a good model. The random-init model is on
# the left for comparison. The bottom row shows the same projections **centred**: the mean of the
# 32 projections is subtracted from each before the cosine is taken.

# %%
@torch.no_grad()
def view_projections(model, x, augment):
    """Projections ``z`` ``[2B, 128]`` (CPU) of two views of every image of ``x``: ``[view 1 of all, view 2 of all]``."""
    model.eval()
    view1, view2 = two_views(x, augment)
    _, z = model(torch.cat([view1, view2]))
    return z.float().cpu()


runtime.seed_everything(SEED)
x, _ = test_gpu.batch(torch.arange(16))
n = len(x)
rows = torch.arange(2 * n)  # view i's positive is view (i + n) mod 2n
fig, axes = plt.subplots(2, 2, figsize=(10, 9))
for col, (name, model) in enumerate([("random init", random_model), ("SimCLR", simclr)]):
    z = view_projections(model, x, simclr_augment())
    for row, centre in enumerate((False, True)):
        ax = axes[row, col]
        image = ax.imshow(geometry.cosine_similarities(z, centre=centre), vmin=-1, vmax=1, cmap="RdBu_r")
        ax.axhline(n - 0.5, color="black", linewidth=1)
        ax.axvline(n - 0.5, color="black", linewidth=1)
        ax.scatter((rows + n) % (2 * n), rows, s=40, facecolors="none", edgecolors="black", linewidths=0.8,
                   label="positive pairs")
        ax.set_title(f"{name}: cosine similarity of {'centred ' if centre else ''}z", fontsize=10)
        ax.set_xlabel("view 1 | view 2")
        ax.set_ylabel("view 1 | view 2")
    print(f"{name}: {100 * geometry.mean_direction_share(z):.0f}% of the energy of z lies along the mean projection")
axes[0, 0].legend(loc="upper right", fontsize=7)
fig.colorbar(image, ax=axes, shrink=0.6)
plt.show()

# %% [markdown]
# **Why is the random-init matrix almost solid red?** Every one of its cosines is close to 1: the
# outputs of the random network share one large common direction, and each output is that
# direction plus a small part that depends on the image. The line printed above measures it, as
# the share of the projections' energy that lies along their mean (about `1 / 32` for 32 random
# directions, 100% if they were all the same vector). It comes from the architecture, not from
# the images. Three of its parts add something that is the same for every input: each ReLU
# outputs only non-negative values and each max-pooling keeps the larger of four, so their outputs
# have a positive mean in every channel; and every convolution and linear layer adds its bias.
# Meanwhile PyTorch's default initialisation (weights and biases uniform in `+-1 / sqrt(fan_in)`)
# makes every layer's weights shrink what passes through them to about a third of its second
# moment, while the biases and the rectifying layers add a fresh common part each time; after the
# seven layers of backbone and head the common part dominates. (In eval mode a BatchNorm that has
# never trained uses its initial statistics, mean 0 and variance 1, and changes nothing.) The
# course measured this on CPU with the same seed and the same 512 test images as Part 5.3
# (`benchmarks/random_init_geometry.py`, `benchmarks/results/2026-12-03-random-init-geometry-cpu.json`):
# the mean cosine of the random-init projections is 0.984 and 98.3% of their energy lies along
# their mean. On Gaussian-noise images instead of CIFAR-10 the mean cosine is 0.997, so the images
# are not the cause. With any one of the three parts left in and the other two taken out (ReLU ->
# identity, max-pooling -> average pooling, biases -> 0) it stays between 0.96 and 0.99 on noise
# images; with all three taken out it falls to zero (-0.0002; 0.016 on the CIFAR-10 views). In
# training mode, where BatchNorm normalises with the batch's own statistics, it is 0.34: the
# first training steps do not see this collapse.
#
# Yet the same random backbone probes at about 52% (Part 5.1) and ranks the positive first far
# above chance (Part 5.3). The linear probe **standardises** every feature first, subtracting its
# mean over the training images, so the common direction never reaches the classifier; a cosine
# similarity does not centre, so it sees little else. Centring (the bottom row) removes the shared
# part: the random-init cosines spread out around 0 and the positives begin to show. What
# centring does not change much is the order of the candidates: in the record above the random
# network ranks the positive first for 7.3% of the views, and 8.0% after centring. The trained
# network needs no centring: SimCLR's loss itself pushes the views of different images apart,
# which spreads the projections over the sphere.
#
# ### 5.3 Positives against negatives
#
# Over a larger batch of test images, the histogram of positive similarities (the two views of one
# image) should move to the right of the negative similarities (views of different images). The
# **ranking accuracy** asks, for each of the 2N views, whether its positive is the most similar of
# the 2N - 1 other views: exactly the decision that NT-Xent trains. Chance is `1 / (2N - 1)`.
# The histograms are densities (each has area 1), each panel on its own vertical scale: compare
# where the two histograms of a panel lie, not the heights across panels. The bottom row is the
# same, centred.

# %%
def positives_and_negatives(similarities):
    """Split a ``[2N, 2N]`` similarity matrix into positive pairs ``[2N]`` and negative pairs."""
    n2 = similarities.shape[0]
    positive = (torch.arange(n2) + n2 // 2) % n2
    is_positive = torch.zeros(n2, n2, dtype=torch.bool)
    is_positive[torch.arange(n2), positive] = True
    is_negative = ~is_positive & ~torch.eye(n2, dtype=torch.bool)
    return similarities[is_positive], similarities[is_negative]


def ranking_accuracy(similarities):
    """Fraction of the 2N views whose positive is their most similar other view."""
    n2 = similarities.shape[0]
    others = similarities.clone().fill_diagonal_(float("-inf"))
    return (others.argmax(1) == (torch.arange(n2) + n2 // 2) % n2).float().mean().item()


runtime.seed_everything(SEED)
n_pairs = min(512, len(test_gpu))
x, _ = test_gpu.batch(torch.arange(n_pairs))
ranking = {}  # method -> ranking accuracy of the positive (not centred)
fig, axes = plt.subplots(2, 2, figsize=(11, 6.5))
for col, (name, model) in enumerate([("random init", random_model), ("SimCLR", simclr)]):
    z = view_projections(model, x, simclr_augment())
    for row, centre in enumerate((False, True)):
        ax = axes[row, col]
        similarities = geometry.cosine_similarities(z, centre=centre)
        positives, negatives = positives_and_negatives(similarities)
        accuracy = ranking_accuracy(similarities)
        if not centre:
            ranking[name] = accuracy
        ax.hist(negatives.numpy(), bins=60, range=(-1, 1), density=True, alpha=0.6, label="negatives")
        ax.hist(positives.numpy(), bins=60, range=(-1, 1), density=True, alpha=0.6, label="positives")
        ax.set_title(f"{name}{', centred' if centre else ''}: ranking accuracy {100 * accuracy:.1f}%", fontsize=10)
        ax.set_xlabel(f"cosine similarity of {'centred ' if centre else ''}z")
        ax.set_ylabel("density")
axes[0, 0].legend()
fig.tight_layout()
plt.show()
print(f"{n_pairs} images, {2 * n_pairs} views; chance ranking accuracy {100 / (2 * n_pairs - 1):.2f}%")

# %% [markdown]
# ## Part 6 - Label efficiency: how many labels does SimCLR need?
#
# The point of self-supervision is a representation that needs few labels. We re-use the features
# of Part 5 (nothing is trained again) and fit the same linear probe on `LABELS_PER_CLASS`
# randomly chosen labelled training images per class, `LABEL_DRAWS` times with different images,
# for both backbones. Each line is the mean over the draws, the band the range from the worst to
# the best draw, and the last point the probe on all labels. The figure has the same style as in
# Notebook 1, so you can put the two side by side.
#
# **Cost.** As in Notebook 1, on a GPU the probes of both curves are fitted together as one problem
# (one L-BFGS run; the same solutions as separate fits, with far fewer loss evaluations, which is
# what a GPU spends its time on here). The cell prints how long it took in your run.
#
# **The baseline these curves must beat.** Few labels are worth something on their own: train the
# same `SmallConvNet`, with a linear head, from scratch on the same `k` labelled images per class
# (the same random draws as the probes use), with the crop-and-flip augmentation of the
# supervised model of Notebook 1, for `SCRATCH_STEPS` optimiser steps at every budget
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
                                     seed=SEED, max_iter=PROBE_ITERATIONS)  # on a GPU: every probe, one fit
print(f"{sum(len(v) for c in curves.values() for v in c.values())} probes in {time.perf_counter() - started:.0f} s")
per_class_all = len(train_set) // len(data.CLASSES)
viz.label_efficiency(curves, results, per_class_all, title="Linear probe with few labels (CIFAR-10 test)",
                     baseline=from_scratch)
for name, curve in curves.items():
    print(f"{name:>11}: " + ", ".join(f"{k} per class {100 * sum(a) / len(a):.1f}%" for k, a in curve.items()))

# %% [markdown]
# ## Part 7 - Comparison with Notebook 1
#
# The first column comes from this run. The second is the course's **recorded reference run** of
# Notebooks 1 and 2 (labelled with its date, hardware, seeds and data: CIFAR-10, a JPEG copy
# (pixels differ slightly from torchvision's)), loaded from the helper package rather than typed
# in, so that the table never disagrees with a real run. Bars marked "(ref.)" come from
# that reference run, the others from yours.

# %%
recorded = reference.load_reference()
if recorded is None:
    print("No reference run of Notebooks 1 and 2 has been recorded yet: the table shows this run only.")
    viz.summary_table(results)
    chart = dict(results)
else:
    recorded_acc = {name: entry["probe_acc"] for name, entry in recorded["methods"].items()
                    if entry.get("notebook") in ("01_pretext_tasks", "02_simclr")}
    viz.summary_table(results, reference=recorded_acc, reference_label=f"reference run ({recorded['source']})")
    chart = dict(results)
    chart.update({f"{name} (ref.)": acc for name, acc in recorded_acc.items() if name not in results})
viz.bar_chart(chart, title="Linear probe on frozen SmallConvNet features (CIFAR-10 test)" + (
    "" if recorded is None else "\n(ref.): the reference run, on CIFAR-10, a JPEG copy "
                                "(pixels differ slightly from torchvision's)"))
print("ranking accuracy of the positive:", {k: f"{100 * v:.1f}%" for k, v in ranking.items()})

# %% [markdown]
# ## Part 8 - Bonus (not graded): the temperature
#
# **Cost, up front:** four short trainings of `ABLATION_EPOCHS` = 2 epochs each, 8 epochs of steps
# in all: less than the 10 epochs of Part 4. The cell first prints how long its training should take
# at the pace your Part 4 ran; skip it if you are short of time.
#
# The temperature decides how peaked the softmax over candidates is. We train a fresh model for
# `ABLATION_EPOCHS` epochs at each temperature of `ABLATION_TEMPERATURES` (0.05 to 1.0, including
# the `TEMPERATURE` of Part 4, the dashed line), every one from the same seed `SEED`, and probe it (on a GPU the probes of all
# temperatures are fitted together, as one problem). Before you look at the plot, guess: which temperature wins, and is the curve flat or sharply
# peaked? Then read the answer off **your** plot.
#
# **What the course has recorded so far.** Its reference run (2026-11-30, one NVIDIA H200, seed 0
# only, 3 epochs per temperature on all 50,000 images of CIFAR-10, a JPEG copy (pixels differ
# slightly from torchvision's);
# `benchmarks/results/2026-11-30-nvidia-h200.json`) swept four temperatures, 0.1, 0.2, 0.5 and 1.0,
# and measured 64.4%, 63.7%, 62.9% and 61.8%: the probe fell at every step up, and the best point
# was the lowest temperature tried. That sweep cannot say whether a still lower temperature hurts,
# and 0.05 and 0.3 have not been recorded by the course yet: your run is the first measurement of
# them you will see. With one seed, nothing recorded says how much these numbers move from one
# training seed to the next.
#
# The error bars are one standard error of each accuracy, `sqrt(p (1 - p) / n)` for a probe
# scored on `n` test images: the noise of measuring on a finite test set. Two points whose bars
# overlap are not shown to differ: the run has not resolved their difference, which may still be
# real. The bars also leave out the noise of training (another seed gives another network), so
# even two points whose bars do not overlap may differ by chance. Is the temperature of Part 4 the
# best of the short runs, beyond that noise? If not, what would you change, and what does that
# say about tuning on short runs?

# %%
ablation_set = train_gpu.subset(ABLATION_IMAGES, seed=SEED)
steps = len(ABLATION_TEMPERATURES) * ABLATION_EPOCHS * (len(ablation_set) // BATCH_SIZE)
print(f"{len(ABLATION_TEMPERATURES)} runs of {ABLATION_EPOCHS} epochs: {steps} training steps, "
      f"{steps / len(history.step_losses):.0%} of Part 4's; at Part 4's pace about "
      f"{steps * history.seconds / len(history.step_losses):.0f} s of training, plus the features and one probe fit")
ablation_features = {}
for temperature in ABLATION_TEMPERATURES:
    model, _ = train_simclr(ABLATION_EPOCHS, temperature, ablation_set, desc=f"t={temperature}")
    ablation_features[temperature] = (*probe.extract_features(model.backbone, ablation_set, DEVICE),
                                      *probe.extract_features(model.backbone, test_gpu, DEVICE))
accuracies = probe.linear_probes(list(ablation_features.values()), DEVICE, max_iter=PROBE_ITERATIONS)
ablation = dict(zip(ablation_features, accuracies))
for temperature, accuracy in ablation.items():
    print(f"temperature {temperature}: linear probe {100 * accuracy:.1f}%")

accuracy = torch.tensor(list(ablation.values()))
error = (accuracy * (1 - accuracy) / len(test_gpu)).sqrt()
fig, ax = plt.subplots(figsize=(6, 3.8))
ax.errorbar(list(ablation), 100 * accuracy, yerr=100 * error, marker="o", capsize=3,
            label=f"probe +- 1 standard error ({len(test_gpu):,} test images), seed {SEED}")
ax.axvline(TEMPERATURE, color="gray", linestyle="--", label=f"TEMPERATURE of Part 4 ({TEMPERATURE})")
# The random-init probe of Part 5 sets the scale: the y axis starts at it, not at the lowest point.
ax.axhline(100 * results["random init"], color="black", linestyle=":", label="random init (Part 5)")
ax.set_ylim(min(100 * results["random init"], 100 * accuracy.min().item()) - 2, 100 * accuracy.max().item() + 3)
ax.set_xscale("log")
ax.set_xticks(list(ablation), [str(t) for t in ablation])
ax.minorticks_off()
ax.set_xlabel("temperature")
ax.set_ylabel("linear-probe test accuracy (%)")
ax.set_title(f"SimCLR temperature ablation (epochs per run: {ABLATION_EPOCHS})")
ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)  # below the axes, off the points
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Part 9 - Questions (written, graded by hand)
#
# Answer in a few sentences each, using the numbers and plots from **your** run.
#
# ### Question 1 (2 pts)
# We train with the loss on `z` but probe `h` and throw the head away. Why would `h` be the better
# representation for classification? Name a kind of information that the loss pushes out of `z`.

# %% [markdown] answer="q_projection_head" points=2
# ### BEGIN SOLUTION
# The loss asks z to be identical for two views, so z becomes invariant to everything the
# augmentations change: colour and saturation, brightness, left-right orientation, position and
# scale of the crop. Some of that is useful for classification (colour separates frogs from ships,
# orientation and scale describe the object). The head is a non-linear map that can discard this
# information on its own, so the backbone does not have to: h keeps it and the linear probe can use
# it. Chen et al. report a linear probe on h well above one on z for this reason.
# ### END SOLUTION

# %% [markdown]
# ### Question 2 (2 pts)
# Suppose we removed the colour jitter and the grayscale and kept only crops and flips. How could
# the network make the NT-Xent loss small without learning what is in the images?

# %% [markdown] answer="q_colour_shortcut" points=2
# ### BEGIN SOLUTION
# Two crops of the same image share its colour distribution (the same sky, the same background,
# the same overall hue and brightness), while different images almost never do. The network can then
# pick out the positive among the 2N - 1 candidates by comparing colour histograms, a low-level
# statistic that is easy to compute and says little about the object. Colour jitter and grayscale
# make the two views differ in colour, so this shortcut stops working and the network has to match
# shapes and parts instead.
# ### END SOLUTION

# %% [markdown]
# ### Question 3 (2 pts)
# Look at the histograms and ranking accuracies of Part 5.3. Why can the ranking accuracy be far
# from 100% even for a representation that is good for classification? Think about which negatives
# are in the batch.

# %% [markdown] answer="q_false_negatives" points=2
# ### BEGIN SOLUTION
# With 10 classes, about a tenth of the 2N - 2 negatives of each view are other images of the same
# class ("false negatives"). A representation that groups classes together, which is what the
# linear probe rewards, puts them close to the anchor, sometimes closer than a heavily cropped or
# recoloured positive. Ranking accuracy asks to recognise this exact image among hundreds of
# similar ones, a harder and different task than recognising its class; the overlap of the positive
# and negative histograms shows how often a negative beats the positive.
# ### END SOLUTION

# %% [markdown]
# ### Question 4 (2 pts)
# Read the label-efficiency figure of Part 6 next to the one of Notebook 1 (or the recorded
# reference). With 10 and with 100 labelled images per class, how far is SimCLR above the
# random-init backbone, and how does that gap compare with the gap when every label is used? At
# which label budget, if any, does SimCLR beat each pretext task of Notebook 1 in your runs, and the
# network trained from scratch on the same labels (the dashed line)?

# %% [markdown] answer="q_label_efficiency" points=2
# ### BEGIN SOLUTION
# A good answer quotes the accuracies of the student's runs at each budget and compares the gaps
# (SimCLR minus random init) at 10, 100 and all labels, saying whether the bands of the draws
# overlap. If the gap is larger with few labels than with all of them, SimCLR's features are
# useful precisely where labels are scarce: a linear probe fitted on 100 images can only exploit
# directions that already separate the classes, and contrastive learning makes views of similar
# images close in those few directions. The comparison with Notebook 1 must be made at equal label
# budgets and equal training budgets (10 epochs, the same backbone); a method that wins with all
# labels need not win with 10.
# ### END SOLUTION

# %% [markdown]
# ### Question 5 (2 pts)
# Look at the two panels of the training figure in Part 4. What does the k-NN curve tell you that
# the loss curve alone cannot? Describe one situation in which the loss keeps falling while the
# features stop getting better, and say which curve you would use to compare two temperatures,
# and why.

# %% [markdown] answer="q_knn_monitor" points=2
# ### BEGIN SOLUTION
# The loss measures how well the network solves its own task, picking this view's partner out of
# the batch, not whether its features group images by class; the k-NN accuracy on held-out images
# measures the latter directly, without training anything. The loss can keep falling because the
# network finds cues that identify an image but not its class: colour statistics if the colour
# augmentation were weak, exact textures, or by memorising the training images, while the k-NN
# curve flattens. Its value also depends on the temperature and the batch size (its scale is
# log(2N - 1), and dividing by a smaller temperature changes every logit), so losses of runs at two
# temperatures cannot be compared with each other; k-NN accuracies can. A good answer quotes the
# student's curves (e.g. the epoch after which the k-NN accuracy stops rising while the loss still
# falls) and notes that choosing settings on the test slice used for monitoring would make it part
# of the training decisions: a separate validation slice is the clean choice.
# ### END SOLUTION
