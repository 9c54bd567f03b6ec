"""Section Jacobians in closed form: what ``torch.func`` computes one backward pass at a time, written out.

LIB needs, for every example, the Jacobian of a section's outputs with respect to its augmented inputs
(:func:`helpers.lib.sections.section_jacobians`). Generically that is one vectorised backward pass per output
coordinate. For the three kinds of section of the book's transformer the Jacobian has a short formula, and
computing it directly is a handful of small matrix products per chunk of examples:

- **affine** ``y = x W + b``: ``J = Wᵀ`` (and ``b`` in the constant's column), the same for every example;
- **ReLU MLP with a residual** ``y = x + relu(x W_in + b_in) W_out + b_out``:
  ``J_x = I + W_outᵀ diag(m_x) W_inᵀ`` with ``m_x`` the 0/1 firing pattern of the example;
- **attention read at the last position** ``y = x_last + Σ_h Σ_s p_hs v_hs W_O,h`` with
  ``p_h = softmax_s(q_h · k_hs / √e)``, ``q_h = x_last W_Q,h``, ``k_hs = x_s W_K,h``, ``v_hs = x_s W_V,h``.
  The input at position ``r`` reaches the output by three paths: through its value
  (``p_hr (W_V,h W_O,h)ᵀ``), through its key, which moves every weight ``p_hs`` (the rank-one term
  ``p_hr ((v_hr − z_h) W_O,h)ᵀ (W_K,h q_h / √e)ᵀ`` with ``z_h = Σ_s p_hs v_hs``), and, at the last position only,
  through the query (``Σ_s p_hs (v_hs W_O,h)ᵀ (W_Q,h (k_hs − k̄_h) / √e)ᵀ``, ``k̄_h = Σ_s p_hs k_hs``), plus the
  residual identity.

Each function returns Jacobians laid out as :func:`~helpers.lib.sections.section_jacobians` does,
``(n, P_out, d_out, P, d + 1)``, the last input coordinate being the constant. :class:`ClosedFormSection` pairs a
section with its closed form, and the LIB code uses the closed form wherever a section carries one. The tests check
each formula against ``torch.func`` to 1e-12.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .._checks import require_tensor

__all__ = ["ClosedFormSection", "affine_jacobians", "last_query_attention_jacobians", "residual_mlp_jacobians"]


class ClosedFormSection:
    """A section (a function of augmented activations) that also knows its Jacobians in closed form.

    Calling it runs ``forward``. ``jacobians(points)`` returns ``(n, P_out, d_out, P, d + 1)`` like
    :func:`~helpers.lib.sections.section_jacobians`, without autograd; ``jacobians(points, project=C)`` returns
    the Jacobians of ``y @ C`` instead, ``(n, P_out, K, P, d + 1)``, projecting onto the next layer's ``K``
    features *before* the per-example work, which is what makes LIB cheap. ``constant`` marks a section whose
    Jacobian is the same at every point (an affine map).
    """

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor],
                 jacobians: Callable[..., torch.Tensor], name: str, *, constant: bool = False) -> None:
        self.forward, self._jacobians, self.name, self.constant = forward, jacobians, name, constant

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)

    def jacobians(self, points: torch.Tensor, project: torch.Tensor | None = None) -> torch.Tensor:
        points = require_tensor(points, "points", ndim=3).to(torch.float64)
        if project is not None:
            project = require_tensor(project, "project", ndim=2).to(torch.float64)
        return self._jacobians(points, project)

    def __repr__(self) -> str:
        return f"ClosedFormSection({self.name})"


def _projection(d_out: int, project: torch.Tensor | None) -> torch.Tensor:
    """The (d_out, K) matrix the output is read through: the identity when nothing is projected."""
    if project is None:
        return torch.eye(d_out, dtype=torch.float64)
    if project.shape[0] != d_out:
        raise ValueError(f"project has {project.shape[0]} rows, the section has {d_out} outputs")
    return project


def affine_jacobians(points: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                     project: torch.Tensor | None = None) -> torch.Tensor:
    """``y = x W + b`` at every position: ``J[n, t, o, s, i] = δ_ts W[i, o]``, the constant's column ``δ_ts b[o]``.

    ``weight`` is (d, d_out), ``bias`` (d_out,) or None. The result is an expanded view: no per-example memory.
    """
    n, p, big_d = points.shape
    w = weight.to(torch.float64)
    d, d_out = w.shape
    if big_d != d + 1:
        raise ValueError(f"points have {big_d} coordinates, an affine map of {d} inputs needs {d + 1}")
    column = torch.zeros(d_out, big_d, dtype=torch.float64)
    column[:, :d] = w.T
    if bias is not None:
        column[:, d] = bias.to(torch.float64)
    column = _projection(d_out, project).T @ column  # (K, D)
    eye = torch.eye(p, dtype=torch.float64)
    jac = torch.einsum("ts,oi->tosi", eye, column)  # (P_out = P, K, P, D)
    return jac.unsqueeze(0).expand(n, *jac.shape)


def residual_mlp_jacobians(points: torch.Tensor, w_in: torch.Tensor, b_in: torch.Tensor, w_out: torch.Tensor,
                           b_out: torch.Tensor, project: torch.Tensor | None = None) -> torch.Tensor:
    """``y = x + relu(x W_in + b_in) W_out + b_out`` at one position: ``J_x = I + W_outᵀ diag(m) W_inᵀ``.

    Read through ``project`` (d, K): ``Cᵀ J_x = Cᵀ + (W_out C)ᵀ diag(m) W_inᵀ``, K rows per example.
    """
    n, p, big_d = points.shape
    if p != 1:
        raise ValueError(f"the residual MLP section reads one position, got {p}")
    x = points[:, 0, :-1]  # (n, d); the constant coordinate is points[..., -1] = 1
    w_in, b_in, w_out, b_out = (t.to(torch.float64) for t in (w_in, b_in, w_out, b_out))
    d = x.shape[1]
    c = _projection(d, project)  # (d, K)
    mask = (x @ w_in + b_in > 0).to(torch.float64)  # (n, m): which hidden units fire (relu' = 0 at 0, as torch)
    out = w_out @ c  # (m, K): each hidden unit's effect on the K read-out directions
    jac = torch.empty(n, c.shape[1], big_d, dtype=torch.float64)
    # J[n, k, i] = C[i, k] + Σ_m W_in[i, m] m[n, m] (W_out C)[m, k]; the constant: (m ⊙ b_in) (W_out C) + b_out C
    jac[:, :, :d] = torch.matmul((mask[:, :, None] * out).transpose(1, 2), w_in.T) + c.T  # (n, K, m) @ (m, d)
    jac[:, :, d] = (mask * b_in) @ out + b_out @ c
    return jac[:, None, :, None, :]  # (n, 1, K, 1, D)


def last_query_attention_jacobians(points: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor,
                                   w_o: torch.Tensor, project: torch.Tensor | None = None) -> torch.Tensor:
    """Attention of the last position over all positions, plus the residual; no attention biases.

    ``w_q, w_k, w_v``: (h, d, e); ``w_o``: (h, e, d). Returns (n, 1, K, P, d + 1) (K = d unless projected): value,
    key and query paths (see the module's docstring) and the residual identity at the last position; the constant's
    column is 0. Reading the output through ``project`` first replaces ``W_O`` by ``W_O C`` everywhere.
    """
    n, p, big_d = points.shape
    w_q, w_k, w_v, w_o = (t.to(torch.float64) for t in (w_q, w_k, w_v, w_o))
    e = w_q.shape[-1]
    x = points[..., :-1]  # (n, P, d)
    d = x.shape[-1]
    c = _projection(d, project)  # (d, K)
    w_oc = w_o @ c  # (h, e, K)
    q = torch.einsum("nd,hde->nhe", x[:, -1], w_q)  # (n, h, e)
    k = torch.einsum("nsd,hde->nhse", x, w_k)  # (n, h, P, e)
    v = torch.einsum("nsd,hde->nhse", x, w_v)
    prob = (torch.einsum("nhe,nhse->nhs", q, k) / math.sqrt(e)).softmax(dim=-1)  # (n, h, P)
    z = torch.einsum("nhs,nhse->nhe", prob, v)  # (n, h, e)
    k_bar = torch.einsum("nhs,nhse->nhe", prob, k)
    kk, h = c.shape[1], w_q.shape[0]
    jac = torch.zeros(n, kk, p, big_d, dtype=torch.float64)  # (n, k, r, i)
    # value path: Σ_h p_hr (W_V,h W_O,h C)[i, k]: one product over heads, (n·P, h) @ (h, d·K)
    w_ovc = torch.einsum("hde,hek->hdk", w_v, w_oc).reshape(h, d * kk)
    value = (prob.transpose(1, 2).reshape(n * p, h) @ w_ovc).reshape(n, p, d, kk)
    jac[..., :d] += value.permute(0, 3, 1, 2)
    # key path: Σ_h p_hr ((v_hr − z_h) W_O,h C)[k] · (W_K,h q_h / √e)[i]: a batched product over heads
    moved = torch.einsum("nhre,hek->nhrk", v - z[:, :, None], w_oc) * prob[..., None]  # (n, h, P, K)
    key_dir = torch.einsum("nhe,hie->nhi", q, w_k) / math.sqrt(e)  # (n, h, d)
    key = torch.bmm(moved.permute(0, 2, 3, 1).reshape(n, p * kk, h), key_dir).reshape(n, p, kk, d)
    jac[..., :d] += key.permute(0, 2, 1, 3)
    # query path (last position only): Σ_{h,s} p_hs (v_hs W_O,h C)[k] · (W_Q,h (k_hs − k̄_h) / √e)[i]
    out_dir = torch.einsum("nhse,hek->nhsk", v, w_oc) * prob[..., None]  # (n, h, P, K)
    query_dir = torch.einsum("nhse,hie->nhsi", k - k_bar[:, :, None], w_q) / math.sqrt(e)  # (n, h, P, d)
    query = torch.bmm(out_dir.permute(0, 3, 1, 2).reshape(n, kk, h * p), query_dir.reshape(n, h * p, d))
    jac[:, :, -1, :d] += query + c.T  # and the residual stream at the last position
    return jac[:, None]  # (n, 1, K, P, D)
