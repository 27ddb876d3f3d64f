"""One training loop for every method in the course.

Each method only says how to compute its loss from a batch; :func:`fit` does the rest: device
placement, mixed precision and channels-last memory on CUDA, the optimiser and its schedule,
and a progress bar that shows the loss (off in grading mode, where stderr must stay silent).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import nn

from . import runtime

Step = Callable[[nn.Module, tuple], torch.Tensor]


@dataclass
class History:
    """What :func:`fit` measured: the loss of every step, the mean loss of every epoch, and
    the wall time in seconds."""

    step_losses: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def to_device(batch, device: torch.device, channels_last: bool = False):
    """Move a batch (a tensor or a tuple/list of tensors) to ``device``.

    Image batches (4-D float tensors) are put in channels-last memory if asked.
    """
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device, channels_last) for b in batch)
    if isinstance(batch, torch.Tensor):
        batch = batch.to(device, non_blocking=True)
        if channels_last and batch.dim() == 4 and batch.is_floating_point():
            batch = batch.contiguous(memory_format=torch.channels_last)
    return batch


def make_optimizer(params: Iterable[nn.Parameter], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW: the optimiser every method in the course uses."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def fit(model: nn.Module, loader, step: Step, num_epochs: int, lr: float, device: torch.device,
        weight_decay: float = 5e-4, schedule: str = "onecycle", desc: str = "train") -> History:
    """Train ``model`` for ``num_epochs`` passes over ``loader``.

    Args:
        model: the module to train (moved to ``device``; channels-last on CUDA).
        loader: any iterable of batches, e.g. a DataLoader or a :class:`~selfsup.data.DeviceLoader`.
        step: ``step(model, batch) -> loss``, the method's loss on one batch already on ``device``.
        num_epochs: passes over ``loader``.
        lr: peak learning rate.
        device: where to train.
        weight_decay: AdamW's decoupled weight decay.
        schedule: ``"onecycle"`` (warm-up then cosine decay, the default), ``"cosine"`` or
            ``"constant"``.
        desc: label of the progress bar.

    Returns:
        A :class:`History`.
    """
    if schedule not in ("onecycle", "cosine", "constant"):
        raise ValueError(f"unknown schedule {schedule!r}")
    cuda = device.type == "cuda"
    model.to(device)
    if cuda:
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model.parameters(), lr, weight_decay)
    total = max(1, num_epochs * len(loader))
    if schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total, pct_start=0.15)
    elif schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    else:
        scheduler = None
    scaler = torch.amp.GradScaler("cuda", enabled=cuda)
    history = History()
    start = time.perf_counter()
    bar = _progress(total, desc)
    model.train()
    for epoch in range(num_epochs):
        running = []
        for batch in loader:
            batch = to_device(batch, device, channels_last=cuda)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=cuda):
                loss = step(model, batch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None:
                scheduler.step()
            running.append(loss.detach())
            if bar is not None:
                bar.update(1)
                if len(running) % 10 == 1:
                    bar.set_postfix(epoch=epoch + 1, loss=f"{running[-1].item():.3f}")
        losses = torch.stack(running).float().cpu().tolist() if running else []
        history.step_losses.extend(losses)
        history.epoch_losses.append(sum(losses) / max(1, len(losses)))
    if bar is not None:
        bar.close()
    if cuda:
        torch.cuda.synchronize()
    history.seconds = time.perf_counter() - start
    return history


def _progress(total: int, desc: str):
    if not runtime.show_progress():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=True)


@torch.no_grad()
def accuracy(model: nn.Module, loader, device: torch.device) -> float:
    """Top-1 accuracy of ``model`` (logits ``[B, K]``) over a loader of ``(x, y)`` batches, in eval mode."""
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        for x, y in loader:
            x, y = to_device((x, y), device)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=device.type == "cuda"):
                pred = model(x).argmax(1)
            correct += (pred == y).sum().item()
            total += len(y)
    finally:
        model.train(was_training)
    return correct / max(1, total)
