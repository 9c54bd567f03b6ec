"""Section Jacobians in closed form: what ``torch.func`` computes one backward pass at a time, written out.

LIB needs two sums over examples from each section's Jacobians (:mod:`helpers.lib.graphs`): the Gram matrix
``M′ = Σ Jᵀ J`` of the Jacobians of the next layer's features, and the squared edges
``Σ_x Σ_t (Σ_s J C⁺ᵀ f̂)²``. Generically both are built from one vectorised backward pass per output coordinate.
For the four kinds of section of the book's transformers the Jacobian has a short formula, and the two sums need
far less than the full per-example Jacobians:

- **affine** ``y = x W + b``: ``J = Wᵀ`` (and ``b`` in the constant's column), the same for every example, so
  ``M′`` is ``n`` times one product and the edges need only the feature second moments ``Σ_x f̂ᵀ f̂``;
- **ReLU MLP with a residual** ``y = x + relu(x W_in + b_in) W_out + b_out``:
  ``J_x = I + W_outᵀ diag(m_x) W_inᵀ`` with ``m_x`` the 0/1 firing pattern of the example. ``M′`` needs only
  how often each pair of hidden units fires together, ``N = maskᵀ mask`` (exact: ``N`` holds integers), and the
  edges are one product of the firing masks with the outer products of each hidden unit's read-in and read-out
  directions;
- **bilinear MLP with a residual** ``y = x + ((x W) ⊙ (x V)) W_out`` (no biases):
  ``J_x = I + W_outᵀ (diag(x V) Wᵀ + diag(x W) Vᵀ)``, linear in ``x``;
- **causal attention** ``y_t = x_t + Σ_h Σ_{s≤t} p_hts v_hs W_O,h`` with ``p_ht = softmax_s(q_ht · k_hs / √e)``,
  ``q_ht = x_t W_Q,h``, ``k_hs = x_s W_K,h``, ``v_hs = x_s W_V,h``. The input at position ``r`` reaches output
  ``t`` by three paths: through its value (``p_htr (W_V,h W_O,h)ᵀ``), through its key, which moves every weight
  ``p_hts`` (the rank-one term ``p_htr ((v_hr − z_ht) W_O,h)ᵀ (W_K,h q_ht / √e)ᵀ`` with
  ``z_ht = Σ_s p_hts v_hs``), and, at ``r = t`` only, through the query
  (``Σ_s p_hts (v_hs W_O,h)ᵀ (W_Q,h (k_hs − k̄_ht) / √e)ᵀ``, ``k̄_ht = Σ_s p_hts k_hs``), plus the residual
  identity. The per-example Jacobians are built straight in the layout the two sums read, already projected onto
  the next layer's features.

:class:`ClosedFormSection` pairs a section with its closed forms, and the LIB code uses them wherever a section
carries them. ``jacobians`` returns the layout of :func:`~helpers.lib.sections.section_jacobians`,
``(n, P_out, d_out, P, d + 1)``, the last input coordinate being the constant. The tests check every formula, and
the bases and edges built from them, against ``torch.func``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, NamedTuple

import torch

from .._checks import require_tensor

__all__ = [
    "ClosedFormSection",
    "affine_jacobians",
    "affine_section",
    "causal_attention",
    "causal_attention_jacobians",
    "causal_attention_section",
    "residual_bilinear_jacobians",
    "residual_bilinear_section",
    "residual_mlp_jacobians",
    "residual_mlp_section",
]

#: Examples per chunk when a closed form still needs per-example work (the attention): bounds memory.
CHUNK = 256

Gram = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]
Edges = Callable[[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor], torch.Tensor]


class ClosedFormSection:
    """A section (a function of augmented activations) that also knows its Jacobians in closed form.

    Calling it runs ``forward``. Three questions, each about the Jacobians of ``y @ project`` (the next layer's
    ``K`` features; ``project=None`` reads ``y`` itself), each answered without autograd:

    - ``jacobians(points, project)``: per example, ``(n, P_out, K, P, d + 1)``, as
      :func:`~helpers.lib.sections.section_jacobians` lays them out;
    - ``gram(points, project)``: ``M′`` before normalising, ``Σ_{x,t,k,s} J[x,t,k,s,:]ᵀ J[x,t,k,s,:]``, (D, D);
    - ``edges(points, project, C_pinv, features)``: the squared edges before normalising,
      ``Σ_{x,t} (Σ_s (J C⁺ᵀ)[x,t,k,s,j] f̂[x,s,j])²``, (K, J).

    A section without its own ``gram`` or ``edges`` gets them from its ``jacobians``: per chunk of examples, or,
    for a ``constant`` section (an affine map, the same Jacobian at every point), from one example's Jacobian and
    the feature moments, with no per-example work at all.
    """

    def __init__(
        self,
        forward: Callable[[torch.Tensor], torch.Tensor],
        jacobians: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
        name: str,
        *,
        constant: bool = False,
        gram: Gram | None = None,
        edges: Edges | None = None,
    ) -> None:
        self.forward, self._jacobians, self.name, self.constant = forward, jacobians, name, constant
        self._gram, self._edges = gram, edges

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)

    def jacobians(self, points: torch.Tensor, project: torch.Tensor | None = None) -> torch.Tensor:
        points, project = _inputs(points, project)
        return self._jacobians(points, project)

    def gram(self, points: torch.Tensor, project: torch.Tensor | None = None) -> torch.Tensor:
        points, project = _inputs(points, project)
        if self._gram is not None:
            return self._gram(points, project)
        if self.constant:  # every example adds the same rows
            rows = self._jacobians(points[:1], project).reshape(-1, points.shape[-1])
            return points.shape[0] * (rows.T @ rows)
        total = torch.zeros(points.shape[-1], points.shape[-1], dtype=torch.float64)
        for chunk in points.split(CHUNK):
            rows = self._jacobians(chunk, project).reshape(-1, points.shape[-1])  # one row per (x, t, k, s)
            total += rows.T @ rows
        return total

    def edges(
        self, points: torch.Tensor, project: torch.Tensor | None, C_pinv: torch.Tensor, features: torch.Tensor
    ) -> torch.Tensor:
        points, project = _inputs(points, project)
        c_pinv = require_tensor(C_pinv, "C_pinv", ndim=2).to(torch.float64)
        feats = require_tensor(features, "features", ndim=3).to(torch.float64)
        if feats.shape[:2] != points.shape[:2] or c_pinv.shape != (feats.shape[-1], points.shape[-1]):
            raise ValueError(
                f"features {tuple(feats.shape)} and C_pinv {tuple(c_pinv.shape)} do not fit points "
                f"{tuple(points.shape)}"
            )
        if self._edges is not None:
            return self._edges(points, project, c_pinv, feats)
        if self.constant:
            # Σ_{x,t} (Σ_s B[t,k,s,j] f̂[x,s,j])² = Σ_t Σ_{s,u} B[t,k,s,j] B[t,k,u,j] G_j[s,u], G_j = Σ_x f̂_s f̂_u
            between = self._jacobians(points[:1], project)[0] @ c_pinv.T  # (T, K, S, J)
            moments = torch.einsum("xsj,xuj->jsu", feats, feats)
            return torch.einsum("tksj,tkuj,jsu->kj", between, between, moments)
        total = 0
        for chunk, f in zip(points.split(CHUNK), feats.split(CHUNK)):
            between = self._jacobians(chunk, project) @ c_pinv.T  # (c, T, K, S, J)
            total = total + torch.einsum("ctksj,csj->ctkj", between, f).pow(2).sum(dim=(0, 1))
        return total

    def __repr__(self) -> str:
        return f"ClosedFormSection({self.name})"


def _inputs(points: torch.Tensor, project: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    points = require_tensor(points, "points", ndim=3).to(torch.float64)
    if project is not None:
        project = require_tensor(project, "project", ndim=2).to(torch.float64)
    return points, project


def _projection(d_out: int, project: torch.Tensor | None) -> torch.Tensor:
    """The (d_out, K) matrix the output is read through: the identity when nothing is projected."""
    if project is None:
        return torch.eye(d_out, dtype=torch.float64)
    if project.shape[0] != d_out:
        raise ValueError(f"project has {project.shape[0]} rows, the section has {d_out} outputs")
    return project


# --- affine ---------------------------------------------------------------------------------------------------
def affine_jacobians(
    points: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, project: torch.Tensor | None = None
) -> torch.Tensor:
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


def affine_section(weight: torch.Tensor, bias: torch.Tensor | None = None, name: str = "affine") -> ClosedFormSection:
    """The section ``[x, 1] ↦ x W + b`` at every position, with its constant Jacobian."""
    w = require_tensor(weight, "weight", ndim=2).to(torch.float64)
    b = None if bias is None else require_tensor(bias, "bias", ndim=1).to(torch.float64)

    def forward(x: torch.Tensor) -> torch.Tensor:
        out = x[..., :-1] @ w
        return out if b is None else out + x[..., -1:] * b

    return ClosedFormSection(forward, lambda x, c: affine_jacobians(x, w, b, c), name, constant=True)


# --- ReLU MLP with a residual -------------------------------------------------------------------------------
def _mlp_parts(
    points: torch.Tensor,
    w_in: torch.Tensor,
    b_in: torch.Tensor,
    w_out: torch.Tensor,
    b_out: torch.Tensor,
    project: torch.Tensor | None,
):
    """The pieces of ``J_x = B + Oᵀ diag(m_x) W̃ᵀ`` (K, D): the firing masks (n, m), ``B`` (K, D), ``O = W_out C``
    (m, K) and ``W̃ = [W_in; b_in]`` (D, m), the hidden units' read-in directions with the bias on the constant."""
    n, p, big_d = points.shape
    if p != 1:
        raise ValueError(f"the residual MLP section reads one position, got {p}")
    x = points[:, 0, :-1]  # (n, d); the constant coordinate is points[..., -1] = 1
    w_in, b_in, w_out, b_out = (t.to(torch.float64) for t in (w_in, b_in, w_out, b_out))
    d = x.shape[1]
    if w_in.shape[0] != d:
        raise ValueError(f"points have {d} coordinates besides the constant, W_in reads {w_in.shape[0]}")
    c = _projection(d, project)  # (d, K)
    mask = (x @ w_in + b_in > 0).to(torch.float64)  # (n, m): which hidden units fire (relu' = 0 at 0, as torch)
    base = torch.cat([c.T, (b_out @ c)[:, None]], dim=1)  # (K, D): the residual and the output bias
    read_in = torch.cat([w_in, b_in[None]], dim=0)  # (D, m)
    return mask, base, w_out @ c, read_in


def residual_mlp_jacobians(
    points: torch.Tensor,
    w_in: torch.Tensor,
    b_in: torch.Tensor,
    w_out: torch.Tensor,
    b_out: torch.Tensor,
    project: torch.Tensor | None = None,
) -> torch.Tensor:
    """``y = x + relu(x W_in + b_in) W_out + b_out`` at one position: ``J_x = I + W_outᵀ diag(m) W_inᵀ``.

    Read through ``project`` (d, K): ``Cᵀ J_x = Cᵀ + (W_out C)ᵀ diag(m) W_inᵀ``, K rows per example.
    """
    mask, base, out, read_in = _mlp_parts(points, w_in, b_in, w_out, b_out, project)
    # J[x, k, i] = B[k, i] + Σ_m O[m, k] mask[x, m] W̃[i, m]: (n, K, m) @ (m, D)
    jac = torch.matmul((mask[:, :, None] * out).transpose(1, 2), read_in.T) + base
    return jac[:, None, :, None, :]  # (n, 1, K, 1, D)


def residual_mlp_section(
    w_in: torch.Tensor, b_in: torch.Tensor, w_out: torch.Tensor, b_out: torch.Tensor, name: str = "mlp"
) -> ClosedFormSection:
    """The section ``[x, 1] ↦ x + relu(x W_in + b_in) W_out + b_out`` (one position), with ``M′`` from the
    co-firing counts and the edges from one product of the firing masks, no per-example Jacobians."""
    w_in, b_in, w_out, b_out = (t.to(torch.float64) for t in (w_in, b_in, w_out, b_out))

    def forward(x: torch.Tensor) -> torch.Tensor:
        const, x = x[..., -1:], x[..., :-1]
        return x + torch.relu(x @ w_in + const * b_in) @ w_out + const * b_out

    def gram(points: torch.Tensor, project: torch.Tensor | None) -> torch.Tensor:
        mask, base, out, read_in = _mlp_parts(points, w_in, b_in, w_out, b_out, project)
        # Σ_x J_xᵀ J_x = n BᵀB + W̃ diag(Σ_x m_x) O B + (…)ᵀ + W̃ (N ⊙ O Oᵀ) W̃ᵀ, N = maskᵀ mask (co-firing counts)
        cross = read_in @ (mask.sum(dim=0)[:, None] * out) @ base  # (D, D)
        return (
            points.shape[0] * (base.T @ base)
            + cross
            + cross.T
            + read_in @ ((mask.T @ mask) * (out @ out.T)) @ read_in.T
        )

    def edges(
        points: torch.Tensor, project: torch.Tensor | None, c_pinv: torch.Tensor, feats: torch.Tensor
    ) -> torch.Tensor:
        mask, base, out, read_in = _mlp_parts(points, w_in, b_in, w_out, b_out, project)
        # (J_x C⁺ᵀ)[k, j] = (B C⁺ᵀ)[k, j] + Σ_m mask[x, m] O[m, k] (W̃ᵀ C⁺ᵀ)[m, j]: one GEMM of the masks with the
        # hidden units' outer products (a Khatri–Rao product), a chunk of examples at a time
        kk, jj = out.shape[1], c_pinv.shape[0]
        outer = torch.einsum("mk,mj->mkj", out, read_in.T @ c_pinv.T).reshape(-1, kk * jj)  # (m, K·J)
        offset = (base @ c_pinv.T).reshape(kk * jj)
        total = torch.zeros(kk, jj, dtype=torch.float64)
        for m_chunk, f in zip(mask.split(CHUNK), feats[:, 0].split(CHUNK)):
            between = torch.addmm(offset, m_chunk, outer).view(-1, kk, jj)  # (c, K, J)
            total += (between * f[:, None, :]).pow(2).sum(dim=0)
        return total

    def jacobians(points: torch.Tensor, project: torch.Tensor | None) -> torch.Tensor:
        return residual_mlp_jacobians(points, w_in, b_in, w_out, b_out, project)

    return ClosedFormSection(forward, jacobians, name, gram=gram, edges=edges)


# --- bilinear MLP with a residual ---------------------------------------------------------------------------
def residual_bilinear_jacobians(
    points: torch.Tensor, w: torch.Tensor, v: torch.Tensor, w_out: torch.Tensor, project: torch.Tensor | None = None
) -> torch.Tensor:
    """``y = x + ((x W) ⊙ (x V)) W_out`` at one position: ``J_x = I + W_outᵀ (diag(x V) Wᵀ + diag(x W) Vᵀ)``.

    ``w`` and ``v`` are (d, m), ``w_out`` (m, d); no biases, so the constant's column is zero. Read through
    ``project`` (d, K): ``Cᵀ J_x``, K rows per example. Layout (n, 1, K, 1, d + 1).
    """
    n, p, big_d = points.shape
    if p != 1:
        raise ValueError(f"the residual bilinear section reads one position, got {p}")
    x = points[:, 0, :-1]  # (n, d)
    w, v, w_out = (t.to(torch.float64) for t in (w, v, w_out))
    d = x.shape[1]
    if w.shape[0] != d or v.shape != w.shape or w_out.shape != (w.shape[1], d):
        raise ValueError(
            f"need W and V ({d}, m) and W_out (m, {d}), got {tuple(w.shape)}, {tuple(v.shape)} and {tuple(w_out.shape)}"
        )
    c = _projection(d, project)  # (d, K)
    out = w_out @ c  # (m, K): each hidden unit's write, read through C
    left, right = x @ w, x @ v  # (n, m)
    # J[x, k, i] = C[i, k] + Σ_m O[m, k] ((xV)_m W[i, m] + (xW)_m V[i, m]): two (n, K, m) @ (m, d) products
    jac = (
        torch.matmul((right[:, :, None] * out).transpose(1, 2), w.T)
        + torch.matmul((left[:, :, None] * out).transpose(1, 2), v.T)
        + c.T
    )  # (n, K, d)
    jac = torch.cat([jac, torch.zeros(n, jac.shape[1], 1, dtype=torch.float64)], dim=2)  # the constant: no bias
    return jac[:, None, :, None, :]


def residual_bilinear_section(
    w: torch.Tensor, v: torch.Tensor, w_out: torch.Tensor, name: str = "mlp"
) -> ClosedFormSection:
    """The section ``[x, 1] ↦ x + ((x W) ⊙ (x V)) W_out`` (one position) with its closed-form Jacobians."""
    w, v, w_out = (
        require_tensor(t, label, ndim=2).to(torch.float64) for t, label in ((w, "W"), (v, "V"), (w_out, "W_out"))
    )

    def forward(x: torch.Tensor) -> torch.Tensor:
        x = x[..., :-1]
        return x + ((x @ w) * (x @ v)) @ w_out

    return ClosedFormSection(forward, lambda x, c: residual_bilinear_jacobians(x, w, v, w_out, c), name)


# --- causal attention ---------------------------------------------------------------------------------------
Queries = Literal["all", "last"]


def _query_positions(p: int, queries: Queries) -> torch.Tensor:
    if queries == "all":
        return torch.arange(p)
    if queries == "last":
        return torch.tensor([p - 1])
    raise ValueError(f"queries must be 'all' or 'last', got {queries!r}")


def causal_attention(
    x: torch.Tensor,
    w_q: torch.Tensor,
    w_k: torch.Tensor,
    w_v: torch.Tensor,
    w_o: torch.Tensor,
    queries: Queries = "all",
) -> torch.Tensor:
    """Causal multi-head attention plus the residual, no biases: (..., P, d) → (..., T, d), T = P or 1.

    ``w_q, w_k, w_v``: (h, d, e); ``w_o``: (h, e, d). The query at position ``t`` sees positions ``s ≤ t``.
    """
    where = _query_positions(x.shape[-2], queries)
    e = w_q.shape[-1]
    q = torch.einsum("...td,hde->...hte", x[..., where, :], w_q)
    k = torch.einsum("...sd,hde->...hse", x, w_k)
    v = torch.einsum("...sd,hde->...hse", x, w_v)
    scores = torch.einsum("...hte,...hse->...hts", q, k) / math.sqrt(e)
    future = torch.arange(x.shape[-2])[None, :] > where[:, None]  # (T, P): key after query
    z = scores.masked_fill(future, float("-inf")).softmax(dim=-1) @ v  # (..., h, T, e)
    return x[..., where, :] + torch.einsum("...hte,hed->...td", z, w_o)


class _AttentionPaths(NamedTuple):
    """The per-example pieces of causal attention's Jacobian, read through the next layer's features ``C``."""

    where: torch.Tensor  # (T,) the position each output reads its query from
    prob: torch.Tensor  # (n, h, T, P) attention weights p_htr
    value_map: torch.Tensor  # (h, K, d): (W_V,h W_O,h C)ᵀ, the value path per unit weight
    moved: torch.Tensor  # (n, T, P, K, h): p_htr ((v_hr − z_ht) W_O,h C), the key path's output side
    key_dir: torch.Tensor  # (n, T, h, d): W_K,h q_ht / √e, the key path's input side
    out_dir: torch.Tensor  # (n, h, T, P, K): p_hts (v_hs W_O,h C), the query path's output side
    query_dir: torch.Tensor  # (n, h, T, P, d): W_Q,h (k_hs − k̄_ht) / √e, the query path's input side
    residual: torch.Tensor  # (K, d): Cᵀ


def _attention_paths(
    points: torch.Tensor,
    w_q: torch.Tensor,
    w_k: torch.Tensor,
    w_v: torch.Tensor,
    w_o: torch.Tensor,
    project: torch.Tensor | None,
    queries: Queries,
) -> _AttentionPaths:
    n, p, _ = points.shape
    w_q, w_k, w_v, w_o = (t.to(torch.float64) for t in (w_q, w_k, w_v, w_o))
    h, d, e = w_q.shape
    where = _query_positions(p, queries)
    x = points[..., :-1]  # (n, P, d)
    if x.shape[-1] != d:
        raise ValueError(f"points have {x.shape[-1]} coordinates besides the constant, W_Q reads {d}")
    c = _projection(d, project)  # (d, K)
    w_oc = w_o @ c  # (h, e, K): each head's output read through the next layer's features
    q = torch.einsum("ntd,hde->nhte", x[:, where], w_q) / math.sqrt(e)  # (n, h, T, e), scaled once
    k = torch.einsum("nsd,hde->nhse", x, w_k)  # (n, h, P, e)
    v = torch.einsum("nsd,hde->nhse", x, w_v)
    future = torch.arange(p)[None, :] > where[:, None]  # (T, P): a key after its query
    prob = torch.einsum("nhte,nhse->nhts", q, k).masked_fill(future, float("-inf")).softmax(dim=-1)
    z, k_bar = prob @ v, prob @ k  # (n, h, T, e): the attention output and the mean key
    moved = (
        torch.einsum("nhtre,hek->ntrkh", v[:, :, None] - z[:, :, :, None], w_oc)
        * prob.permute(0, 2, 3, 1)[:, :, :, None, :]
    )
    out_dir = torch.einsum("nhse,hek->nhsk", v, w_oc)[:, :, None] * prob[..., None]
    query_dir = torch.einsum("nhtse,hie->nhtsi", k[:, :, None] - k_bar[:, :, :, None], w_q) / math.sqrt(e)
    return _AttentionPaths(
        where,
        prob,
        torch.einsum("hie,hek->hki", w_v, w_oc),
        moved,
        torch.einsum("nhte,hie->nthi", q, w_k),
        out_dir,
        query_dir,
        c.T,
    )


def _attention_local(paths: _AttentionPaths) -> torch.Tensor:
    """Jacobians of ``y @ C`` with respect to the non-constant inputs, laid out (n, T, P, K, d) (the constant's
    column is 0: no attention biases): rows ``(x, t, r, k)`` contiguous, as the Gram matrix reads them."""
    n, h, t_out, p = paths.prob.shape
    _, kk, d = paths.value_map.shape
    # value path: J[x, t, r, k, i] = Σ_h p_htr (W_V,h W_O,h C)ᵀ[k, i]: one product over heads
    jac = (paths.prob.permute(0, 2, 3, 1).reshape(-1, h) @ paths.value_map.reshape(h, kk * d)).view(
        n * t_out, p * kk, d
    )
    # key path: + Σ_h p_htr ((v_hr − z_ht) W_O,h C)[k] · (W_K,h q_ht / √e)[i], added in place (batched over (x, t))
    jac.baddbmm_(paths.moved.reshape(n * t_out, p * kk, h), paths.key_dir.reshape(n * t_out, h, d))
    jac = jac.view(n, t_out, p, kk, d)
    # query path at r = t: Σ_{h,s} p_hts (v_hs W_O,h C)[k] · (W_Q,h (k_hs − k̄_ht) / √e)[i], and the residual Cᵀ
    query = torch.einsum("nhtsk,nhtsi->ntki", paths.out_dir, paths.query_dir) + paths.residual  # (n, T, K, d)
    jac[:, torch.arange(t_out), paths.where] += query
    return jac


def _attention_attributions(paths: _AttentionPaths, c_pinv: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
    """``A[x, t, k, j] = Σ_r (J C⁺ᵀ)[x, t, r, k, j] f̂[x, r, j]`` path by path, never forming J: (n, T, K, J).

    Each path is a sum of products, so ``C⁺`` meets its input side and ``f̂`` its weight before anything of size
    K × d per example is built.
    """
    n, h, t_out, p = paths.prob.shape
    kk, jj = paths.residual.shape[0], c_pinv.shape[0]
    # value: Σ_h (W_V,h W_O,h C)ᵀ C⁺ᵀ [k, j] · Σ_r p_htr f̂_rj
    weighted = torch.einsum("nhtr,nrj->nhtj", paths.prob, feats)
    out = torch.einsum("hkj,nhtj->ntkj", paths.value_map @ c_pinv.T, weighted)
    # key: Σ_{r,h} moved[t, r, k, h] · (key_dir C⁺ᵀ)[t, h, j] f̂[r, j], a batched product over (x, t)
    key_side = torch.einsum("nthj,nrj->ntrhj", paths.key_dir @ c_pinv.T, feats).reshape(n * t_out, p * h, jj)
    moved = paths.moved.permute(0, 1, 3, 2, 4).reshape(n * t_out, kk, p * h)  # (x·t, K, (r, h))
    out += torch.bmm(moved, key_side).view(n, t_out, kk, jj)
    # query and residual, at r = t: (Σ_{h,s} out_dir ⊗ (query_dir C⁺ᵀ) + Cᵀ C⁺ᵀ)[k, j] · f̂[t, j]
    query = torch.einsum("nhtsk,nhtsj->ntkj", paths.out_dir, paths.query_dir @ c_pinv.T) + paths.residual @ c_pinv.T
    return out + query * feats[:, paths.where, None, :]


def causal_attention_jacobians(
    points: torch.Tensor,
    w_q: torch.Tensor,
    w_k: torch.Tensor,
    w_v: torch.Tensor,
    w_o: torch.Tensor,
    project: torch.Tensor | None = None,
    queries: Queries = "all",
) -> torch.Tensor:
    """Jacobians of :func:`causal_attention` (on augmented ``points``), (n, T, K, P, d + 1); K = d unless
    projected. Value, key and query paths (see the module's docstring) and the residual identity at ``r = t``; the
    constant's column is 0. Reading the output through ``project`` replaces ``W_O`` by ``W_O C`` everywhere."""
    local = _attention_local(_attention_paths(points, w_q, w_k, w_v, w_o, project, queries))  # (n, T, P, K, d)
    return torch.nn.functional.pad(local.permute(0, 1, 3, 2, 4), (0, 1))


def causal_attention_section(
    w_q: torch.Tensor,
    w_k: torch.Tensor,
    w_v: torch.Tensor,
    w_o: torch.Tensor,
    *,
    queries: Queries = "all",
    name: str = "attention",
) -> ClosedFormSection:
    """The section ``[x, 1] ↦`` :func:`causal_attention` of ``x``, with its Jacobians in closed form, built a
    chunk of examples at a time straight in the layout ``M′`` and the edges read (no transposes, nothing large held)."""
    w_q, w_k, w_v, w_o = (t.to(torch.float64) for t in (w_q, w_k, w_v, w_o))
    _query_positions(1, queries)  # a clear error now rather than at the first call

    def paths(points: torch.Tensor, project: torch.Tensor | None) -> _AttentionPaths:
        return _attention_paths(points, w_q, w_k, w_v, w_o, project, queries)

    def gram(points: torch.Tensor, project: torch.Tensor | None) -> torch.Tensor:
        d = points.shape[-1] - 1
        total = torch.zeros(d + 1, d + 1, dtype=torch.float64)  # the constant's row and column stay 0
        for chunk in points.split(CHUNK):
            rows = _attention_local(paths(chunk, project)).reshape(-1, d)  # one row per (x, t, r, k)
            total[:d, :d] += rows.T @ rows
        return total

    def edges(
        points: torch.Tensor, project: torch.Tensor | None, c_pinv: torch.Tensor, feats: torch.Tensor
    ) -> torch.Tensor:
        c_pinv = c_pinv[:, :-1]  # the constant's column of J is 0
        total = 0
        for chunk, f in zip(points.split(CHUNK), feats.split(CHUNK)):
            total = total + _attention_attributions(paths(chunk, project), c_pinv, f).pow(2).sum(dim=(0, 1))
        return total

    def jacobians(points: torch.Tensor, project: torch.Tensor | None) -> torch.Tensor:
        return causal_attention_jacobians(points, w_q, w_k, w_v, w_o, project, queries)

    return ClosedFormSection(
        lambda x: causal_attention(x[..., :-1], w_q, w_k, w_v, w_o, queries), jacobians, name, gram=gram, edges=edges
    )
