"""The instructor's references for Notebook 2 (SimCLR), and the judgement that needs them.

:func:`reference_nt_xent` is a literal transcription of the NT-Xent loss of Chen et al., *A
Simple Framework for Contrastive Learning of Visual Representations*, ICML 2020, Algorithm 1: a
loop over the 2N anchors, in float64. It is slow and obviously right; the re-check compares the
student's loss and its gradients with it.

The other exercises of the notebook are judged by their public definitions alone
(:mod:`selfsup.checks.simclr`): their answers are closed forms or statistics.
"""

from __future__ import annotations

import torch
from selfsup.checks._core import close, expect

#: Relative tolerance of the loss against the float64 reference; absolute, of its gradients.
LOSS_RTOL, GRAD_ATOL = 1e-5, 1e-5


def reference_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent as written in SimCLR's Algorithm 1, computed in float64 with explicit loops.

    For ``k = 1..N`` the two views are ``z_{2k-1} = z1[k]`` and ``z_{2k} = z2[k]``;
    ``s_{i,j} = z_i . z_j / (|z_i| |z_j|)``;
    ``l(i, j) = -log( exp(s_{i,j} / t) / sum_{k != i} exp(s_{i,k} / t) )``;
    ``L = 1/(2N) sum_k [ l(2k-1, 2k) + l(2k, 2k-1) ]``.

    Args:
        z1: ``[N, D]`` projections of the first views.
        z2: ``[N, D]`` projections of the second views.
        temperature: ``t > 0``.

    Returns:
        The loss, a 0-d float64 tensor (differentiable).
    """
    z1, z2 = z1.double(), z2.double()
    n = z1.shape[0]
    z = [None] * (2 * n)
    for k in range(n):
        z[2 * k], z[2 * k + 1] = z1[k], z2[k]

    def sim(u, v):
        return torch.dot(u, v) / (torch.linalg.vector_norm(u) * torch.linalg.vector_norm(v))

    def pair_loss(i, j):
        logits = torch.stack([sim(z[i], z[k]) / temperature for k in range(2 * n) if k != i])
        return -(sim(z[i], z[j]) / temperature - torch.logsumexp(logits, dim=0))

    total = sum(pair_loss(2 * k, 2 * k + 1) + pair_loss(2 * k + 1, 2 * k) for k in range(n))
    return total / (2 * n)


def against_reference(name: str, out: dict, inp: dict, advice: str) -> None:
    """An NT-Xent exercise's losses on the random cases and its gradients against :func:`reference_nt_xent`."""
    for (z1, z2, t), value in zip(inp["cases"], out["cases"].tolist(), strict=True):
        expected = reference_nt_xent(z1, z2, t).item()
        expect(close(value, expected, LOSS_RTOL), name,
               f"with N={len(z1)}, D={z1.shape[1]}, temperature {t} the loss is {value:.6f}, the reference "
               f"{expected:.6f} (tolerance {LOSS_RTOL:g}). {advice}")
    z1, z2 = (z.clone().requires_grad_() for z in inp["grad"])
    ref = torch.autograd.grad(reference_nt_xent(z1, z2, 0.2), (z1, z2))
    expect(all(torch.allclose(out[key], r.float(), atol=GRAD_ATOL)
               for key, r in zip(("grad_1", "grad_2"), ref, strict=True)), name,
           "the gradients with respect to z1 and z2 differ from the reference's.")


def loss_judge(out: dict, inp: dict) -> None:
    """The student's loss and its gradients against :func:`reference_nt_xent` on the probe's random cases."""
    against_reference("nt_xent_loss", out, inp, "Does your code assume a fixed batch size or dimension?")


def loop_judge(out: dict, inp: dict) -> None:
    """The student's loop and its gradients against :func:`reference_nt_xent` on the probe's small random cases."""
    against_reference("nt_xent_loop", out, inp, "Check which rows are a row's candidates and its positive.")


REFERENCE_JUDGES = {"test_nt_xent_loss": loss_judge, "test_nt_xent_loop": loop_judge}
