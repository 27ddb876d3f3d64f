"""Output schemas (``selfsup.checks._core.conform``): what crosses from student code to a judge is
exactly what the exercise returns on the inputs sent, or nothing reaches the judge."""

from __future__ import annotations

import pytest
import torch

from selfsup.checks import CheckFailed
from selfsup.checks._core import bools, conform, floats, ints, plain

SCHEMA = {"x": floats(2, 3), "n": ints(), "ok": bools(4), "loss": floats(finite=False), "net": None}
GOOD = {"x": torch.zeros(2, 3), "n": 5, "ok": [True] * 4, "loss": float("inf"), "net.program": torch.zeros(3)}


def test_exactly_the_schema_is_admitted():
    conform(plain(GOOD), SCHEMA, "Test")
    conform(plain({**GOOD, "net.leaf0": torch.ones(2)}), SCHEMA, "Test")  # a program's arrays are read elsewhere


class Sub(torch.Tensor):
    pass


@pytest.mark.parametrize("change, why", [
    ({"x": torch.zeros(0)}, r"x has shape \(0,\), expected \(2, 3\)"),        # empty, as a forger sends
    ({"x": torch.zeros(1, 3)}, r"shape \(1, 3\)"),                              # would broadcast
    ({"x": torch.zeros(3, 2)}, r"shape \(3, 2\)"),
    ({"n": 5.5}, "n holds torch.float64, expected int"),
    ({"ok": [1, 0, 1, 0]}, "expected bool"),
    ({"x": torch.full((2, 3), float("nan"))}, "x is not finite"),
    ({"extra": 1}, r"unexpected \['extra'\]"),
    ({"n": None}, "non-numeric"),
], ids=["empty", "broadcast", "transposed", "kind", "bool", "nan", "extra", "none"])
def test_malformed_outputs_are_refused(change, why):
    with pytest.raises(CheckFailed, match=why):
        conform(plain({**GOOD, **change}), SCHEMA, "Test")


def test_a_missing_output_or_a_tensor_subclass_is_refused():
    with pytest.raises(CheckFailed, match=r"missing \['n'\]"):
        conform(plain({k: v for k, v in GOOD.items() if k != "n"}), SCHEMA, "Test")
    outputs = plain(GOOD)
    outputs["x"] = outputs["x"].as_subclass(Sub)
    with pytest.raises(CheckFailed, match="not a plain tensor"):
        conform(outputs, SCHEMA, "Test")


def test_scalars_stay_scalars():
    """A number crosses as a 0-d array (``np.ascontiguousarray`` would make it 1-d)."""
    assert plain({"n": 3})["n"].shape == ()
