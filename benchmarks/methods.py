"""The five training methods of Notebooks 1 and 2, built the way the notebooks build them.

Measurements (``step_cost.py``, ``device_speed.py``) and the host-sync test need each method's
model, loader and step as a notebook trains it, and nothing else. :func:`definitions` executes
the top-level imports, UPPERCASE constants, functions and classes of a source notebook, with
the reference solutions filled in, in a fresh namespace (no training cell runs); :func:`build`
assembles one method from them. Because everything comes from the notebook's own code, the same
script measures an older checkout (``--source`` of another tree) the way that tree trained.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
#: Every method that trains a network, and the notebook that defines it.
NOTEBOOK = {"supervised": "01_pretext_tasks", "rotation": "01_pretext_tasks", "jigsaw": "01_pretext_tasks",
            "colorization": "01_pretext_tasks", "simclr": "02_simclr"}
METHODS = tuple(NOTEBOOK)
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"


def _kept(node: ast.stmt) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, ast.Assign):
        return all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets)
    return False


def definitions(notebook: str, device: torch.device, source_dir: Path = ROOT / "source", seed: int = 0) -> dict:
    """The namespace of a source notebook's definitions (solutions filled in), without running it.

    Args:
        notebook: e.g. ``"01_pretext_tasks"``.
        device: bound to ``DEVICE``, as the build's setup cell does.
        source_dir: the folder of the jupytext sources (another checkout's, to measure it).
        seed: bound to ``SEED``.

    Returns:
        ``{name: object}`` after executing the imports, UPPERCASE constants, functions and classes.
    """
    text = (Path(source_dir) / f"{notebook}.py").read_text()
    lines = [line for line in text.splitlines() if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION)]
    tree = ast.parse("\n".join(lines))
    module = ast.Module(body=[node for node in tree.body if _kept(node)], type_ignores=[])
    namespace = {"SEED": seed, "DEVICE": device, "__name__": f"notebook_{notebook}"}
    exec(compile(module, f"{notebook}.py", "exec"), namespace)  # noqa: S102 - the course's own source
    return namespace


class NarrowConvNet(nn.Module):
    """SmallConvNet's layers at 1/8 to 1/16 of its widths (4, 8, 8 channels), still 256-d out.

    The same sequence of operations per step, with negligible arithmetic: on a CPU its step
    time is the host's share of a step (Python, dispatch, data handling), not the convolutions'.
    """

    def __init__(self, feature_dim: int = 256):
        super().__init__()
        from selfsup.models import conv_block

        self.features = nn.Sequential(conv_block(3, 4, pool=False), conv_block(4, 8, pool=True),
                                      conv_block(8, 8, pool=True), nn.AdaptiveAvgPool2d(4))
        self.fc = nn.Linear(8 * 4 * 4, feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


@dataclass
class Method:
    """One method ready for ``selfsup.train.fit``."""

    name: str
    model: nn.Module
    loader: object
    step: object
    lr: float
    weight_decay: float


def build(name: str, namespace: dict, train, batch_size: int, narrow: bool = False) -> Method:
    """Model, loader and step of method ``name``, as its notebook trains it.

    Args:
        name: one of :data:`METHODS`.
        namespace: :func:`definitions` of the method's notebook.
        train: the training split, an ``ImageTensorDataset`` on the training device.
        batch_size: images per step.
        narrow: use :class:`NarrowConvNet` as the backbone (host cost only), else SmallConvNet.
    """
    from selfsup import data, models

    ns = namespace
    ns["BATCH_SIZE"] = batch_size
    seed = ns["SEED"]
    torch.manual_seed(seed)
    backbone = NarrowConvNet() if narrow else models.SmallConvNet()
    lr, weight_decay = ns["LR"], ns.get("WEIGHT_DECAY", 5e-4)
    if name == "supervised":
        return Method(name, models.Classifier(backbone, 10),
                      data.DeviceLoader(train, batch_size, shuffle=True, drop_last=True), ns["supervised_step"],
                      lr, weight_decay)
    if name == "simclr":
        step = functools.partial(ns["simclr_step"], augment=ns["simclr_augment"](), temperature=ns["TEMPERATURE"])
        return Method(name, ns["SimCLRModel"](backbone, ns["ProjectionHead"]()),
                      data.DeviceLoader(train, batch_size, shuffle=True, drop_last=True, seed=seed), step, lr,
                      weight_decay)
    cls = {"rotation": "RotationDataset", "jigsaw": "JigsawDataset", "colorization": "ColorizationDataset"}[name]
    loader = ns["pretext_loader"](ns[cls](train), True)
    if name == "colorization":
        return Method(name, ns["ColorizationNet"](backbone), loader, ns["colorization_step"], lr, weight_decay)
    outputs = 4 if name == "rotation" else len(ns["PERMUTATIONS"])
    return Method(name, models.Classifier(backbone, outputs), loader, ns["classification_step"], lr, weight_decay)
