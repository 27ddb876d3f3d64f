"""Recorded forward passes (``selfsup.checks._trace``): a network's ATen program replays exactly,
on new inputs, with gradients where the network has them and none where it stopped them; and a
program that is malformed, or names an operator it may not use, is refused before it runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from selfsup.checks import CheckFailed
from selfsup.checks._trace import Trace, record
from selfsup.models import SmallConvNet


class Decoder(nn.Module):
    def __init__(self, backbone, detach=False, no_grad=False):
        super().__init__()
        self.backbone, self.detach, self.no_grad = backbone, detach, no_grad
        self.fc = nn.Linear(256, 3 * 8 * 8)

    def forward(self, x):
        if self.no_grad:
            with torch.no_grad():
                h = self.backbone(x)
        else:
            h = self.backbone(x)
        if self.detach:
            h = h.detach()
        out = self.fc(h).view(-1, 3, 8, 8)
        return torch.sigmoid(nn.functional.interpolate(out, size=(32, 32)))


def _net(**kwargs):
    torch.manual_seed(0)
    return Decoder(SmallConvNet(), **kwargs).eval()


def _roundtrip(program: Trace) -> Trace:
    return Trace.from_arrays(program.to_arrays("p"), "p", "Test")


def _backbone_grads(net, program, x):
    leaves = [leaf.clone().requires_grad_(leaf.is_floating_point()) for leaf in program.leaves]
    (y,) = program.run(x, leaves=leaves)
    if not y.requires_grad:
        return []
    grads = torch.autograd.grad(y.sum(), [l for l in leaves if l.requires_grad], allow_unused=True)
    by_id = dict(zip([id(l) for l in leaves if l.requires_grad], grads))
    found = []
    for p in net.backbone.parameters():
        i = next(i for i, leaf in enumerate(program.leaves) if leaf.shape == p.shape and torch.equal(leaf, p.detach()))
        found.append(by_id.get(id(leaves[i])))
    return found


def test_a_recorded_network_replays_exactly_on_new_inputs():
    net = _net()
    x, other = torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)
    program, y = record(net, x)
    program = _roundtrip(program)
    with torch.no_grad():
        assert torch.equal(program.run(x)[0], y)
        assert torch.allclose(program.run(other)[0], net(other), atol=1e-6)


def test_gradients_flow_where_the_network_lets_them_and_stop_where_it_stops_them():
    x = torch.randn(4, 3, 32, 32)
    trained = _net()
    grads = _backbone_grads(trained, _roundtrip(record(trained, x)[0]), torch.randn(4, 3, 32, 32))
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    for kwargs in ({"detach": True}, {"no_grad": True}):
        net = _net(**kwargs)
        grads = _backbone_grads(net, _roundtrip(record(net, x)[0]), torch.randn(4, 3, 32, 32))
        assert all(g is None for g in grads), kwargs
    frozen = _net()
    frozen.backbone.requires_grad_(False)
    grads = _backbone_grads(frozen, _roundtrip(record(frozen, x)[0]), torch.randn(4, 3, 32, 32))
    assert all(g is None for g in grads)


def _program(ops, leaves=1, inputs=(0,), outputs=(2,), detached=()):
    arrays = {"p.program": np.frombuffer(json.dumps({"ops": ops, "inputs": list(inputs), "outputs": list(outputs),
                                                     "detached": list(detached),
                                                     "leaves": list(range(1, 1 + leaves))}).encode(), np.uint8)}
    arrays |= {f"p.leaf{i}": np.ones(3, np.float32) for i in range(leaves)}
    return {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}


GOOD = [["add", "Tensor", [{"v": 0}, {"v": 1}], {}, [2]]]


def test_a_well_formed_program_runs():
    program = Trace.from_arrays(_program(GOOD), "p", "Test")
    assert torch.equal(program.run(torch.zeros(3))[0], torch.ones(3))


@pytest.mark.parametrize("arrays, why", [
    (_program([["from_file", "default", ["/etc/passwd"], {}, [2]]]), "not allowed"),
    (_program([["_local_scalar_dense", "default", [{"v": 0}], {}, [2]]]), "not allowed"),
    (_program([["add", "Tensor", [{"v": 0}, {"v": 7}], {}, [2]]]), "used before it is made"),
    (_program([["add;import os", "Tensor", [{"v": 0}, {"v": 1}], {}, [2]]]), "not allowed"),
    (_program(GOOD, outputs=(9,)), "outputs are not values it made"),
    (_program(GOOD, inputs=(1,)), "share a value number"),
    (_program(GOOD, detached=(42,)), "detached values"),
    ({**_program(GOOD), "p.leaf5": torch.ones(2)}, "do not match its program"),
    ({"p.program": torch.tensor([1.0, 2.0])}, "byte string"),
    ({"p.program": torch.frombuffer(bytearray(b"not json"), dtype=torch.uint8)}, "JSONDecodeError"),
    ({}, "no program"),
], ids=["file", "scalar", "undefined", "name", "output", "shared", "detached", "leaves", "dtype", "json", "none"])
def test_malformed_programs_are_refused(arrays, why):
    with pytest.raises(CheckFailed, match=why):
        Trace.from_arrays(arrays, "p", "Test")


def test_an_unknown_operator_or_bad_arguments_fail_the_run_not_the_grader():
    unknown = Trace.from_arrays(_program([["not_an_aten_op", "default", [{"v": 0}], {}, [2]]]), "p", "Test")
    with pytest.raises(CheckFailed, match="not an ATen operator"):
        unknown.run(torch.zeros(3))
    bad = Trace.from_arrays(_program([["mm", "default", [{"v": 0}, {"v": 1}], {}, [2]]]), "p", "Test")
    with pytest.raises(CheckFailed, match="failed on the recorded values"):
        bad.run(torch.zeros(3))


def test_a_forward_pass_that_returns_no_tensor_cannot_be_recorded():
    with pytest.raises(CheckFailed, match="not a tensor"):
        record(lambda x: "nothing", torch.zeros(2))
