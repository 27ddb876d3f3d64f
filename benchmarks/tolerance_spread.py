"""How far correct implementations stray from the answers the judges compare them with, next to
each tolerance: a tolerance is justified when it sits well above the spread of correct answers
(and, by the catalogue tests, below the error of every wrong one).

For each float comparison with an answer computed by the grader, this measures the largest
deviation of the instructor's solution and of every correct catalogue variant, over many probe
seeds, on exactly the outputs the judge sees (``run``, schema, replay), and records it with the
tolerance and their ratio.

Usage::

    python -m benchmarks.tolerance_spread --seeds 100 [--label NAME]

writes ``benchmarks/results/<date>-tolerance-spread-<label>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys

import torch
from selfsup.checks import mae_dinov2 as spec
from selfsup.checks import simclr
from selfsup.checks._core import outputs_of

from autograder import judges
from autograder.judges import mae_dinov2 as mae_ref
from autograder.judges import simclr as simclr_ref
from benchmarks.judge_sweep import RESULTS, ROOT, implementations


def _outputs(test: str, obj, seed: int) -> tuple[dict, dict]:
    ex = judges.exercise(test)
    inputs = ex.inputs(seed)
    return judges.replay_outputs(ex, outputs_of(ex, obj, ex.shared_inputs(inputs)), inputs), inputs


def _nt_xent(obj, seed):
    out, inp = _outputs("test_nt_xent_loss", obj, seed)
    loss = max(abs(v - simclr_ref.reference_nt_xent(z1, z2, t).item()) / max(1.0, abs(v))
               for (z1, z2, t), v in zip(inp["cases"], out["cases"].tolist(), strict=True))
    z1, z2 = (z.clone().requires_grad_() for z in inp["grad"])
    ref = torch.autograd.grad(simclr_ref.reference_nt_xent(z1, z2, 0.2), (z1, z2))
    grad = max((out[k] - r.float()).abs().max().item() for k, r in zip(("grad_1", "grad_2"), ref, strict=True))
    return {"loss (relative)": loss, "gradients (absolute)": grad}


def _features(obj, seed):
    out, inp = _outputs("test_mae_features", obj, seed)
    model = spec.mae_stand_in(inp["size"], spec.MAE_PATCH, seed=inp["model_seed"])
    ref = mae_ref.reference_mae_features(model, inp["images"], pool=False)
    return {"tokens": (out["tokens"] - ref).abs().max().item(), "pooled": (out["pooled"] - ref.mean(1)).abs().max().item()}


def _attention(obj, seed):
    out, inp = _outputs("test_cls_attention_maps", obj, seed)
    return {"maps": max((out[f"maps_{i}"] - mae_ref.reference_cls_attention_maps(model, images)).abs().max().item()
                        for i, (model, images) in enumerate(spec.attention_models(inp)))}


def _pca(obj, seed):
    out, inp = _outputs("test_pca_rgb", obj, seed)
    worst = 0.0
    for i, feats in enumerate(inp["cases"]):
        rgb, fg = out[f"rgb_{i}"], out[f"fg_{i}"]
        ref = mae_ref.reference_pca_rgb(feats)[0]
        for c in range(3):
            a, b = rgb[fg][:, c], ref[fg][:, c]
            worst = max(worst, min((a - b).abs().max().item(), (a - (1 - b)).abs().max().item()))
    return {"rgb (up to each component's sign)": worst}


def _model(obj, seed):
    out, inp = _outputs("test_simclr_model", obj, seed)
    backbone, head = simclr.model_parts("conv", inp["conv_seed"])
    backbone.eval(), head.eval()
    with torch.no_grad():
        h = backbone(inp["probe"])
        z = head(h)
    return {"h, z": max((out["h"] - h).abs().max().item(), (out["z"] - z).abs().max().item())}


#: ``test: (measure, {quantity: (tolerance, where it is defined)})``.
MEASURES = {
    "test_nt_xent_loss": (_nt_xent, {"loss (relative)": (simclr_ref.LOSS_RTOL, "autograder/judges/simclr.py LOSS_RTOL"),
                                     "gradients (absolute)": (simclr_ref.GRAD_ATOL,
                                                              "autograder/judges/simclr.py GRAD_ATOL")}),
    "test_mae_features": (_features, {"tokens": (1e-4, "autograder/judges/mae_dinov2.py features_judge"),
                                      "pooled": (1e-4, "autograder/judges/mae_dinov2.py features_judge")}),
    "test_cls_attention_maps": (_attention, {"maps": (spec.ATOL, "selfsup/checks/mae_dinov2.py ATOL")}),
    "test_pca_rgb": (_pca, {"rgb (up to each component's sign)": (2e-3, "autograder/judges/mae_dinov2.py _rgb_close")}),
    "test_simclr_model": (_model, {"h, z": (1e-5, "selfsup/checks/simclr.py model_judge")}),
}
ASSIGNMENT = {"test_nt_xent_loss": "02_simclr", "test_simclr_model": "02_simclr", "test_mae_features": "03_mae_dinov2",
              "test_cls_attention_maps": "03_mae_dinov2", "test_pca_rgb": "03_mae_dinov2"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--first-seed", type=int, default=200_000)
    parser.add_argument("--label", default=platform.node() or "host")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    impls = {a: implementations(a) for a in set(ASSIGNMENT.values())}
    results = {}
    for test, (measure, tolerances) in MEASURES.items():
        worst = dict.fromkeys(tolerances, 0.0)
        labels = []
        for label, obj in impls[ASSIGNMENT[test]][test]:
            labels.append(label)
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                for key, value in measure(obj, seed).items():
                    worst[key] = max(worst[key], value)
        for key, (tolerance, where) in tolerances.items():
            results.setdefault(test, {})[key] = {
                "largest deviation of a correct implementation": worst[key], "tolerance": tolerance,
                "defined in": where, "tolerance / deviation": round(tolerance / worst[key], 1) if worst[key] else None,
                "implementations": labels}
            print(f"{test:24s} {key:36s} worst {worst[key]:.2e}  tolerance {tolerance:.0e}", flush=True)
    record = {"date": dt.date.today().isoformat(), "host": platform.node(), "torch": torch.__version__,
              "command": " ".join(["python -m benchmarks.tolerance_spread", *(argv or sys.argv[1:])]),
              "seeds": {"first": args.first_seed, "count": args.seeds}, "results": results}
    path = RESULTS / f"{record['date']}-tolerance-spread-{args.label}.json"
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"recorded in {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
