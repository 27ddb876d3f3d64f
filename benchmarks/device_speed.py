"""Where the time of Notebooks 1 and 2 goes on a GPU: per training step, per probe fit, per t-SNE.

For every method of :mod:`benchmarks.methods` (built from the notebooks' own code, real
SmallConvNet, the notebooks' batch size), after ``--warmup`` steps:

- **ms per step**: the GPU's clock between the starts of two steps (CUDA events);
- **host ms per step**: the host's clock between two steps while it queues them;
- **GPU-busy ms per step**: the summed duration of the kernels and copies of the profiled steps
  (``torch.profiler``), so ``ms per step`` much above it means the GPU waited for the host;
- **syncs per step**: synchronising CUDA calls reported by ``torch.cuda.set_sync_debug_mode``.

Then, on features of randomly initialised SmallConvNets on the training data: the
label-efficiency curves of Notebook 1 (five representations) and Notebook 2 (two) fitted as one
problem and one probe at a time, one probe on all labels by L-BFGS and by Newton's method
(:func:`newton_probe`); and the t-SNE of 2,000 test points
with scikit-learn (CPU, 1,000 iterations) and with ``selfsup.tsne`` on the GPU, with the
trustworthiness of both.

``--smoke`` runs the same code on the CPU with a few synthetic images and the narrow backbone of
:mod:`benchmarks.methods` (no CUDA events, profiler or sync debug mode: their fields are null),
to check the script without a GPU.

    python -m benchmarks.device_speed --data /tmp/cifar10 --out $OUT/device-speed.json
    python -m benchmarks.device_speed --smoke --out /tmp/device-speed-smoke.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

from . import methods


class _Clock:
    """A loader that records, at each batch, the host time and (on CUDA) an event on the GPU's stream."""

    def __init__(self, loader, cuda: bool):
        self.loader, self.cuda = loader, cuda
        self.host, self.events = [], []

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            self._mark()
            yield batch
        self._mark()

    def _mark(self) -> None:
        self.host.append(time.perf_counter())
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.events.append(event)


def time_method(name: str, namespace: dict, train, batch_size: int, steps: int, warmup: int, device,
                profile_steps: int = 5, narrow: bool = False) -> dict:
    """ms per step (GPU clock, host clock), GPU-busy ms per step and syncs per step of one method."""
    from selfsup import train as train_mod

    cuda = device.type == "cuda"
    method = methods.build(name, namespace, train.subset((warmup + steps) * batch_size, seed=0), batch_size,
                           narrow=narrow)
    clock = _Clock(method.loader, cuda)
    train_mod.fit(method.model, clock, method.step, 1, method.lr, device, weight_decay=method.weight_decay, desc=name)
    host = [b - a for a, b in zip(clock.host, clock.host[1:])][warmup:-1]
    row = {"batch_size": batch_size, "steps_timed": len(host),
           "host_ms_per_step": round(1000 * statistics.median(host), 3) if host else None,
           "ms_per_step": None, "gpu_busy_ms_per_step": None, "syncs_per_step": None}
    if cuda:
        torch.cuda.synchronize()
        gpu = [a.elapsed_time(b) for a, b in zip(clock.events, clock.events[1:])][warmup:-1]
        row["ms_per_step"] = round(statistics.median(gpu), 3)
        row["gpu_busy_ms_per_step"] = gpu_busy(name, namespace, train, batch_size, device, profile_steps)
        row["syncs_per_step"] = round(sync_count(name, namespace, train, batch_size, device, warmup), 2)
    return row


def sync_count(name: str, namespace: dict, train, batch_size: int, device, warmup: int, steps: int = 5) -> float:
    """Synchronising CUDA calls per step after ``warmup`` steps, by ``torch.cuda.set_sync_debug_mode``."""
    from selfsup import train as train_mod

    method = methods.build(name, namespace, train.subset((warmup + steps) * batch_size, seed=2), batch_size)
    marks = []

    class Marked:
        def __len__(self):
            return len(method.loader)

        def __iter__(self):
            for k, batch in enumerate(method.loader):
                if k == warmup:
                    torch.cuda.set_sync_debug_mode("warn")
                marks.append(len(log))
                yield batch
            torch.cuda.set_sync_debug_mode(0)
            marks.append(len(log))

    with warnings.catch_warnings(record=True) as log:
        warnings.simplefilter("always")
        train_mod.fit(method.model, Marked(), method.step, 1, method.lr, device, weight_decay=method.weight_decay,
                      desc=name)
    torch.cuda.set_sync_debug_mode(0)
    syncs = [b - a for a, b in zip(marks, marks[1:])][warmup:-1]  # the last window holds fit's final read
    return statistics.mean(syncs) if syncs else float("nan")


def gpu_busy(name: str, namespace: dict, train, batch_size: int, device, steps: int) -> float:
    """Summed kernel and copy time per step, in ms, over ``steps`` profiled steps after two warm-up steps."""
    from torch.profiler import ProfilerActivity, profile, schedule

    from selfsup import train as train_mod

    method = methods.build(name, namespace, train.subset((2 + steps) * batch_size, seed=1), batch_size)
    with profile(activities=[ProfilerActivity.CUDA], schedule=schedule(wait=0, warmup=2, active=steps)) as prof:
        class Stepped:
            def __len__(self):
                return len(method.loader)

            def __iter__(self):
                for batch in method.loader:
                    yield batch
                    prof.step()

        train_mod.fit(method.model, Stepped(), method.step, 1, method.lr, device, weight_decay=method.weight_decay,
                      desc=name)
        torch.cuda.synchronize()
    busy_us = sum(e.self_device_time_total for e in prof.key_averages() if e.self_device_time_total > 0)
    return round(busy_us / 1000 / steps, 3)


def _timed(fn, cuda: bool):
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if cuda:
        torch.cuda.synchronize()
    return out, round(time.perf_counter() - start, 3)


def probe_costs(train, test, device, per_class, draws) -> dict:
    """Label-efficiency curves of 5 and 2 representations, joint and separate; one full probe."""
    from selfsup import models, probe, runtime

    cuda = device.type == "cuda"
    feats = {}
    for seed in range(5):
        runtime.seed_everything(seed)
        net = models.SmallConvNet()
        feats[f"random init {seed}"] = (*probe.extract_features(net, train, device),
                                        *probe.extract_features(net, test, device))
    out = {}
    for notebook, names in (("01_pretext_tasks", list(feats)), ("02_simclr", list(feats)[:2])):
        chosen = {n: feats[n] for n in names}
        joint, seconds_joint = _timed(lambda: probe.label_efficiency_many(chosen, per_class, draws, device,
                                                                          joint=True), cuda)
        subsets = probe.label_subsets(chosen[names[0]][1], per_class, draws, seed=0)
        separate, seconds_separate = _timed(lambda: [probe.linear_probe(xtr[i], ytr[i], xte, yte, device)
                                                     for xtr, ytr, xte, yte in chosen.values() for _, i in subsets], cuda)
        flat = [a for name in names for accs in joint[name].values() for a in accs]
        out[notebook] = {"representations": len(names), "probes": len(flat), "joint_seconds": seconds_joint,
                         "separate_seconds": seconds_separate,
                         "largest_difference_points": round(100 * max(abs(a - b) for a, b in zip(flat, separate)), 3)}
    xtr, ytr, xte, yte = feats["random init 0"]
    accuracy, seconds = _timed(lambda: probe.linear_probe(xtr, ytr, xte, yte, device), cuda)
    out["full_probe"] = {"images": len(ytr), "lbfgs_seconds": seconds, "lbfgs_accuracy": round(accuracy, 4)}
    (accuracy, losses), seconds = _timed(lambda: newton_probe(xtr, ytr, xte, yte, device), cuda)
    out["full_probe"].update(newton_seconds=seconds, newton_accuracy=round(accuracy, 4),
                             newton_objective=[round(v, 6) for v in losses])
    return out


def newton_probe(train_feats, train_labels, test_feats, test_labels, device, C: float = 1.0,
                 iterations: int = 8) -> tuple[float, list[float]]:
    """The full linear probe by Newton's method: the alternative to L-BFGS that this script times.

    The same objective as ``selfsup.probe`` (scikit-learn's, divided by N), minimised by
    ``iterations`` full Newton steps from zero: each builds the exact Hessian, ``K^2`` blocks
    ``X^T diag(p_k (delta_kl - p_l)) X / N`` (+ the penalty), and solves one linear system. Few,
    large matrix products and one read of the loss per step, against L-BFGS's hundreds of small
    evaluations with several host syncs each.

    Returns:
        ``(test accuracy, the objective after each step)``.
    """
    from torch.nn import functional as F

    from selfsup import probe

    xtr, xte = probe.standardize(train_feats.float().to(device), test_feats.float().to(device))
    ytr, yte = train_labels.long().to(device), test_labels.long().to(device)
    n, d = xtr.shape
    k = int(max(ytr.max(), yte.max())) + 1
    x = torch.cat([xtr, torch.ones(n, 1, device=device)], 1)  # the bias as a last feature
    onehot = F.one_hot(ytr, k).float()
    theta = torch.zeros(d + 1, k, device=device)
    penalty = torch.ones(d + 1, 1, device=device)
    penalty[-1] = 0.0  # the bias is not penalised
    losses = []
    for _ in range(iterations):
        logits = x @ theta
        p = logits.softmax(1)
        losses.append(float(F.cross_entropy(logits, ytr) + (theta[:-1] ** 2).sum() / (2 * C * n)))
        grad = x.T @ (p - onehot) / n + penalty * theta / (C * n)  # [d + 1, k]
        hessian = torch.empty(k, d + 1, k, d + 1, device=device)
        for a in range(k):
            for b in range(a, k):
                w = p[:, a] * (float(a == b) - p[:, b])
                block = (x * w[:, None]).T @ x / n
                hessian[a, :, b, :] = block
                hessian[b, :, a, :] = block.T
        hessian = hessian.reshape(k * (d + 1), k * (d + 1))
        hessian += torch.diag((penalty.squeeze(1) / (C * n)).repeat(k) + 1e-6)  # + a tiny ridge: biases sum freely
        step = torch.linalg.solve(hessian, grad.T.reshape(-1))  # ordered class by class, like the blocks
        theta = theta - step.reshape(k, d + 1).T
    accuracy = ((torch.cat([xte, torch.ones(len(xte), 1, device=device)], 1) @ theta).argmax(1) == yte)
    return float(accuracy.float().mean()), losses


def tsne_costs(test, device, points: int, sklearn_iters: int = 1000) -> dict:
    """scikit-learn's t-SNE (CPU) against ``selfsup.tsne`` on ``device``, on ``points`` test features."""
    from sklearn.manifold import TSNE, trustworthiness

    from selfsup import models, probe, runtime, tsne

    cuda = device.type == "cuda"
    runtime.seed_everything(0)
    x, _ = probe.extract_features(models.SmallConvNet(), test, device)
    x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:points]]
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
    perplexity = float(min(30.0, (len(x) - 1) / 3.0))
    ref, seconds_ref = _timed(lambda: TSNE(2, perplexity=perplexity, init="pca", learning_rate="auto",
                                           max_iter=sklearn_iters, random_state=0).fit_transform(x.numpy()), False)
    ours, seconds_ours = _timed(lambda: tsne.tsne(x.to(device), perplexity=perplexity).cpu().numpy(), cuda)
    return {"points": len(x), f"sklearn_{sklearn_iters}_cpu": {"seconds": seconds_ref,
            "trustworthiness": round(float(trustworthiness(x.numpy(), ref, n_neighbors=5)), 4)},
            f"selfsup_tsne_{device.type}": {"seconds": seconds_ours,
                                            "trustworthiness": round(float(trustworthiness(x.numpy(), ours, n_neighbors=5)), 4)}}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.device_speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="folder holding cifar10_uint8.npz (real CIFAR-10)")
    parser.add_argument("--smoke", action="store_true", help="CPU, synthetic images, tiny sizes")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per method")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON")
    args = parser.parse_args(argv)
    if not args.smoke and not args.data:
        parser.error("--data is needed unless --smoke")
    os.environ["SELFSUP_MODE"] = "full"
    if args.data:
        os.environ["SELFSUP_DATA"] = str(Path(args.data).resolve())

    from selfsup import data, runtime

    from .run_reference import gpu_info

    device = torch.device("cpu") if args.smoke else runtime.get_device()
    if not args.smoke and device.type != "cuda":
        parser.error("no GPU here: use --smoke for a CPU check")
    if args.smoke:
        args.steps, args.warmup = 2, 1
        train_x, train_y = data.synthetic_cifar(400, seed=1)
        test_x, test_y = data.synthetic_cifar(200, seed=2)
        train = data.ImageTensorDataset(train_x, train_y, device)
        test = data.ImageTensorDataset(test_x, test_y, device)
        per_class, draws, points = (2, 10), 2, 100
    else:
        train, test = data.load_cifar10(True, device), data.load_cifar10(False, device)
        per_class, draws, points = (10, 100, 1000), 3, 2000
    report = {"kind": "device-speed", "schema": 1, "smoke": args.smoke, "date": dt.date.today().isoformat(),
              "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "command": "python -m benchmarks.device_speed " + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": gpu_info() if device.type == "cuda" else {"device": "cpu"}, "torch": torch.__version__,
              "methods": {}}
    spaces = {nb: methods.definitions(nb, device) for nb in set(methods.NOTEBOOK.values())}
    for name in methods.METHODS:
        ns = spaces[methods.NOTEBOOK[name]]
        batch = 8 if args.smoke else ns["BATCH_SIZE"]
        start = time.perf_counter()
        report["methods"][name] = time_method(name, ns, train, batch, args.steps, args.warmup, device,
                                              narrow=args.smoke)
        report["methods"][name]["seconds_measuring"] = round(time.perf_counter() - start, 1)
        print(name, report["methods"][name], flush=True)
    report["probes"] = probe_costs(train, test, device, per_class, draws)
    print("probes", report["probes"], flush=True)
    report["tsne"] = tsne_costs(test, device, points)
    print("tsne", report["tsne"], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
