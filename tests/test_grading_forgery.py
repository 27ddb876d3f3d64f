"""Forged results: exercise cells that leave the exercise blank (the release's ``raise
NotImplementedError``) and instead forge what the re-check's child sends back. None of them
gains a point.

Each submission forges one exercise by one technique that reaches into the child's own
process, where every object can be replaced:

* ``object.__setattr__`` on the frozen :class:`~selfsup.checks.Exercise` (its ``run``);
* a fake ``selfsup.checks.pretext`` in ``sys.modules``;
* a patched ``selfsup.checks._core.outputs_of``;
* the child's request handler found with ``gc`` and replaced by one that writes its own ``ok``
  reply and ``.npz`` on the request socket;
* ``model_run.__code__`` swapped;
* ``loss_run``'s output dictionary rewritten as it returns (a profile hook on the stack).

The forged outputs are those that the grader of commit c1cc5a4 accepted: empty arrays where a
judge zipped or broadcast over them, and the values the child reported about itself
(``registered``, ``grads``, ``shapes``, ``extra``). Run against that grader, every submission
below got full points for its blank exercise; now each fails as malformed (the reply is not what
the exercise returns on the inputs sent) or, for the networks, because no recorded program came
back for the grader to replay.
"""

from __future__ import annotations

import grading_corpus as corpus
import pytest

from autograder.grading import recheck as recheck_mod
from autograder.grading.isolation import choose
from autograder.grading.limits import Limits
from autograder.grading.scoring import combine

pytestmark = pytest.mark.integration

LIMITS = Limits(recheck_timeout=30, memory_mb=3000)

#: Outputs that satisfy the judges of commit c1cc5a4 without solving the exercise, built from the
#: inputs the child receives.
FORGE = '''
def _forged(test, inp):
    import math
    import torch
    from selfsup import data
    if test in ("test_rotation_dataset", "test_jigsaw_dataset"):
        return {"length": len(inp["images"]), "x": torch.zeros(0), "labels": [],
                "many": [i % inp["labels"] for i in range(inp["draws"])], "repeated": [i % 2 for i in range(30)],
                "base_after": inp["images"].clone()}
    if test == "test_colorization_net":
        g = torch.Generator().manual_seed(0)
        extreme = torch.zeros(8, 3, 32, 32)
        extreme[:, :, :16] = 1.0
        return {"registered": [], "y": data.normalize(torch.full((8, 3, 32, 32), 0.5)), "grads": [1.0],
                "extreme": data.normalize(extreme), "first": data.normalize(torch.rand(1, 3, 32, 32, generator=g)),
                "second": data.normalize(torch.rand(1, 3, 32, 32, generator=g))}
    if test == "test_projection_head":
        return {"z": torch.zeros(8, 128), "shapes": [[256, 256], [256, 128]], "a": torch.ones(16, 128),
                "b": torch.ones(16, 128), "ab": torch.zeros(16, 128), "zero": torch.zeros(16, 128),
                "together": torch.zeros(5, 128), "alone": torch.zeros(5, 128), "z_train": -torch.ones(64, 128),
                "grads": [True], "extra": 0, "small_z": torch.zeros(4, 16)}
    if test == "test_simclr_model":
        from selfsup.checks.simclr import model_parts
        out = {"registered": [], "toy_grads": [1.0], "keeps_backbone": True, "named": True, "trains": True}
        backbone, head = model_parts("toy", inp["toy_seed"])
        with torch.no_grad():
            out["h_toy"] = backbone(inp["x_toy"])
            out["z_toy"] = head(out["h_toy"])
        backbone, head = model_parts("conv", inp["conv_seed"])
        backbone.eval(), head.eval()
        with torch.no_grad():
            out["h"] = backbone(inp["x"])
            out["z"] = head(out["h"])
        return out
    if test == "test_nt_xent_loss":
        n = 4
        temperatures = (0.07, 0.1, 0.2, 0.3, 0.5, 1.0)
        one_hot = [math.log(1 + (2 * n - 2) * math.exp(-1.0 / t)) for t in temperatures]
        z1, z2 = (z.clone().requires_grad_() for z in inp["grad"])
        z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
        sim = (z @ z.T / 0.2).fill_diagonal_(float("-inf"))
        m = len(z1)
        loss = torch.nn.functional.cross_entropy(sim, torch.cat([torch.arange(m, 2 * m), torch.arange(m)]))
        g1, g2 = torch.autograd.grad(loss, (z1, z2))
        return {"identical": math.log(2 * n - 1), "one_hot": one_hot, "random": 1.0, "random_x5": 1.0,
                "cases": [], "swapped": [], "scaled": [], "big": 1.0, "big_unit": 1.0, "float32": 1.0,
                "float16": 1.0, "autocast": 1.0, "meta": 0, "after_1": inp["grad"][0].clone(),
                "after_2": inp["grad"][1].clone(), "requires_grad": True, "grad_1": g1, "grad_2": g2}
    raise KeyError(test)
'''

SET_RUN = FORGE + '''
import selfsup.checks.pretext as _pretext
for _e in _pretext.EXERCISES:
    if _e.test == "test_rotation_dataset":
        object.__setattr__(_e, "run", lambda obj, inp, _t=_e.test: _forged(_t, inp))
'''

FAKE_MODULE = FORGE + '''
import dataclasses, sys, types
import selfsup.checks.pretext as _real
_fake = types.ModuleType("selfsup.checks.pretext")
_fake.__dict__.update(_real.__dict__)
_fake.EXERCISES = [dataclasses.replace(e, run=lambda obj, inp, _t=e.test: _forged(_t, inp))
                   if e.test == "test_jigsaw_dataset" else e for e in _real.EXERCISES]
sys.modules["selfsup.checks.pretext"] = _fake
'''

PATCH_OUTPUTS_OF = FORGE + '''
import selfsup.checks._core as _core
_original = _core.outputs_of
def _outputs_of(exercise, obj, inputs):
    if exercise.test == "test_colorization_net":
        return _core.plain(_forged(exercise.test, inputs))
    return _original(exercise, obj, inputs)
_core.outputs_of = _outputs_of
'''

RAW_REPLY = FORGE + '''
import gc, io, json, pickle
import numpy as np
from selfsup.checks._core import plain

def _frame(sock, payload):
    sock.sendall(len(payload).to_bytes(8, "big") + payload)

def _read(sock):
    size = int.from_bytes(sock.recv(8, 0x100), "big")
    data = b""
    while len(data) < size:
        data += sock.recv(size - len(data))
    return data

for _obj in gc.get_objects():
    if type(_obj).__name__ == "_Child" and hasattr(_obj, "probe"):
        _honest = _obj.probe
        def _probe(request, stream, _honest=_honest):
            if request.get("exercise") != "test_projection_head":
                return _honest(request, stream)
            inputs = pickle.loads(_read(stream))
            buffer = io.BytesIO()
            np.savez(buffer, **{k: v.numpy() for k, v in plain(_forged(request["exercise"], inputs)).items()})
            _frame(stream, json.dumps({"ok": True}).encode())
            _frame(stream, buffer.getvalue())
            stream.close()
        _obj.probe = _probe
'''

SWAP_CODE = FORGE + '''
import selfsup.checks.simclr as _simclr
def _model_run(cls, inp):
    return _forged("test_simclr_model", inp)
_simclr.model_run.__code__ = _model_run.__code__
_simclr.model_run.__globals__["_forged"] = _forged
'''

PROFILE_HOOK = FORGE + '''
import sys
def _hook(frame, event, arg):
    if event == "return" and frame.f_code.co_name == "loss_run" and isinstance(arg, dict):
        forged = _forged("test_nt_xent_loss", frame.f_locals["inp"])
        arg.clear()
        arg.update(forged)
sys.setprofile(_hook)

def nt_xent_loss(z1, z2, temperature=0.5):
    return (z1.sum() + z2.sum()) * 0.0 + 1.0
'''

#: ``(notebook, exercise cell, the forged test cell, technique)``; the exercise stays the release's stub.
FORGERIES = [
    ("01_pretext_tasks", "rotation_dataset", "test_rotation_dataset", SET_RUN),
    ("01_pretext_tasks", "jigsaw_dataset", "test_jigsaw_dataset", FAKE_MODULE),
    ("01_pretext_tasks", "colorization_net", "test_colorization_net", PATCH_OUTPUTS_OF),
    ("02_simclr", "projection_head", "test_projection_head", RAW_REPLY),
    ("02_simclr", "simclr_model", "test_simclr_model", SWAP_CODE),
    ("02_simclr", "nt_xent_loss", "test_nt_xent_loss", PROFILE_HOOK),
]


def _stub(name: str, cell: str) -> str:
    release = corpus.release(name)
    return release.cells[corpus.cell_index(release, cell)].source


@pytest.fixture(scope="module")
def isolation():
    return choose()


@pytest.mark.parametrize("name, cell, test, technique", FORGERIES, ids=[f[1] for f in FORGERIES])
def test_a_forged_reply_earns_nothing(name, cell, test, technique, isolation):
    solved = corpus.correct(slim_it=False, name=name)
    forged = corpus.fill(solved, {cell: _stub(name, cell) + "\n\n" + technique})
    outcomes = recheck_mod.recheck(name, forged, corpus.release(name), 77, LIMITS, isolation, replay=(test,))
    assert outcomes[test].status == "fail", outcomes[test]
    # The forger's notebook test passed (it forged that too): the replay's evidence makes it a tampering flag.
    exercises, flags = combine({test: 2.0}, {test: outcomes[test]}, {test: "pass"}, {test: 2.0})
    assert exercises[test]["points"] == 0.0
    assert [f["kind"] for f in flags] == ["tampering"], flags
