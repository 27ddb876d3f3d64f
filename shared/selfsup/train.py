"""One training loop for every method in the course.

Each method only says how to compute its loss from a batch; :func:`fit` does the rest: device
placement, mixed precision and channels-last memory on CUDA, the optimiser and its schedule,
and a progress bar that shows the loss (off in grading mode, where stderr must stay silent).

A step never makes the host wait for the GPU: nothing in it reads a value back (no ``.item()``),
the losses stay in a tensor on the device until training ends, the optimiser is the fused AdamW
(with it, mixed precision's ``GradScaler`` needs no per-step check on the host), and the progress
bar shows a loss copied back without waiting, every :data:`SHOW_EVERY` steps. So the host can
queue the next steps while the GPU computes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import nn

from . import runtime

Step = Callable[[nn.Module, tuple], torch.Tensor]
#: Steps between two updates of the loss shown on the progress bar.
SHOW_EVERY = 50


@dataclass
class History:
    """What :func:`fit` measured: the loss of every step, the mean loss of every epoch, and
    the wall time in seconds."""

    step_losses: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def on_device(tensor: torch.Tensor, device: torch.device) -> bool:
    """Is ``tensor`` already on ``device`` (``cuda`` matches ``cuda:0``)?"""
    return tensor.device.type == device.type and (device.index is None or tensor.device.index == device.index)


def to_device(batch, device: torch.device, channels_last: bool = False):
    """Move a batch (a tensor or a tuple/list of tensors) to ``device``; what is there already stays.

    Image batches (4-D float tensors) are put in channels-last memory if asked.
    """
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device, channels_last) for b in batch)
    if isinstance(batch, torch.Tensor):
        if not on_device(batch, device):
            batch = batch.to(device, non_blocking=True)
        if channels_last and batch.dim() == 4 and batch.is_floating_point():
            batch = batch.contiguous(memory_format=torch.channels_last)
    return batch


def mixed_precision(device: torch.device) -> bool:
    """Train in float16 mixed precision (autocast and a ``GradScaler``)? On CUDA only."""
    return device.type == "cuda"


def make_optimizer(params: Iterable[nn.Parameter], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, the optimiser every method in the course uses, in its fused form.

    The fused kernel updates every parameter in one launch, keeps its step counts on the device,
    and takes ``GradScaler``'s scale and overflow flag on the device too, so a step needs no
    ``.item()`` (the default implementation reads the overflow flag on the host every step).
    """
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)


class _LossDisplay:
    """The progress bar's loss: the mean of the last steps, copied to the host without waiting.

    Every :data:`SHOW_EVERY` steps the mean goes into a (pinned, on CUDA) host buffer with a
    non-blocking copy; the bar shows the previous copy once it has landed. Reading the buffer
    through NumPy reads host memory: nothing waits for the GPU.
    """

    def __init__(self, bar, device: torch.device):
        cuda = device.type == "cuda"
        self.bar = bar
        self.host = torch.zeros(1, pin_memory=cuda)
        self.value = self.host.numpy()
        self.copied = torch.cuda.Event() if cuda else None
        self.pending = None  # the epoch of the copy in flight

    def update(self, losses: torch.Tensor, done: int, epoch: int) -> None:
        self.bar.update(1)
        if (done - 1) % SHOW_EVERY:  # steps 1, 1 + SHOW_EVERY, ...
            return
        if self.pending is not None and (self.copied is None or self.copied.query()):
            self.bar.set_postfix(epoch=self.pending, loss=f"{float(self.value[0]):.3f}")
        self.host.copy_(losses[max(0, done - SHOW_EVERY):done].mean().reshape(1), non_blocking=True)
        if self.copied is not None:
            self.copied.record()
        self.pending = epoch


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
    amp = mixed_precision(device)
    model.to(device)
    if cuda:
        torch.backends.cudnn.benchmark = True  # the fastest convolution algorithms for these fixed shapes
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model.parameters(), lr, weight_decay)
    total = max(1, num_epochs * len(loader))
    if schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total, pct_start=0.15)
    elif schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    else:
        scheduler = None
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    losses = torch.zeros(total, device=device)  # every step's loss, read back once at the end
    epoch_ends = []
    done = 0
    history = History()
    start = time.perf_counter()
    bar = _progress(total, desc)
    display = _LossDisplay(bar, device) if bar is not None else None
    model.train()
    for epoch in range(num_epochs):
        for batch in loader:
            batch = to_device(batch, device, channels_last=cuda)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
                loss = step(model, batch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None:
                scheduler.step()
            if done == len(losses):  # a loader longer than its len(): make room
                losses = torch.cat([losses, torch.zeros_like(losses)])
            losses[done] = loss.detach()
            done += 1
            if display is not None:
                display.update(losses, done, epoch + 1)
        epoch_ends.append(done)
    if bar is not None:
        bar.close()
    history.step_losses = losses[:done].cpu().tolist()  # waits for the GPU: training is over
    history.epoch_losses = [sum(history.step_losses[a:b]) / max(1, b - a)
                            for a, b in zip([0] + epoch_ends[:-1], epoch_ends)]
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
    correct, total = torch.zeros((), dtype=torch.long, device=device), 0
    try:
        for x, y in loader:
            x, y = to_device((x, y), device)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=mixed_precision(device)):
                pred = model(x).argmax(1)
            correct += (pred == y).sum()  # counted on the device; read once at the end
            total += len(y)
    finally:
        model.train(was_training)
    return correct.item() / max(1, total)
