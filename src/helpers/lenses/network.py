"""The lens model as a function of one flat parameter vector, for the degeneracy lens (chapter 2's tools take a
network as ``f(w, x)``), its Jacobian's measured null space, and the continuous symmetries of its architecture as
explicit tangent directions, family by family.

The model reads ``a b =`` and predicts at ``=`` only, with no LayerNorm. Write ``x_= = W_E[=] + W_pos[2]`` (the
stream at ``=`` before attention), ``y_j(t) = W_E[t] + W_pos[j] − x_=`` (an operand ``t`` at position ``j``,
relative to ``=``), ``κ_h = W_K^h W_Q^hᵀ x_=ᵀ / √d_head`` and ``OV_h = W_V^h W_O^h``. Then head ``h`` gives position
``j`` the weight ``exp(y_j · κ_h)`` against ``1`` for ``=``, and the stream after attention is
``x_= (I + Σ_h OV_h) + Σ_h Σ_{j∈{0,1}} α_hj y_j OV_h``. The seven families of :func:`symmetry_tangents` are read
off this form (chapter 5 derives them): residual basis, embedding basis, query-key, value-output, bilinear
rescaling, shifts, and values against ``=``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.func import functional_call

from ..lib.modadd import ModAddTransformer

__all__ = [
    "flat_network",
    "jacobian_nullity",
    "symmetry_count",
    "symmetry_direction",
    "symmetry_family_sizes",
    "symmetry_tangents",
]


def flat_network(model: ModAddTransformer) -> tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], torch.Tensor]:
    """``(f, w_star)``: ``f(w, tokens)`` the log-probabilities (n, p) of the model with flat parameters ``w`` (in the
    order of ``model.named_parameters()``) on ``tokens`` (n, 3) given as floats (chapter 2's functions take float
    inputs; they are rounded back to token ids); ``w_star`` the model's own flat parameters.

    Log-probabilities rather than logits: a shift of every logit by the same amount changes nothing the model
    predicts, and the behavioural loss should not count it."""
    names = [name for name, _ in model.named_parameters()]
    shapes = [tuple(t.shape) for _, t in model.named_parameters()]
    sizes = [t.numel() for _, t in model.named_parameters()]
    w_star = torch.cat([t.detach().reshape(-1) for _, t in model.named_parameters()])

    def f(w: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        params = {name: part.reshape(shape) for name, part, shape in zip(names, w.split(sizes), shapes)}
        return functional_call(model, params, (tokens.round().long(),)).log_softmax(dim=-1)

    return f, w_star


def jacobian_nullity(singular_values: torch.Tensor, size: int) -> tuple[int, float, float]:
    """``(nullity, above, below)`` from the singular values of a Jacobian with ``size`` columns: the rank is where
    the sorted values take their largest step down on a log scale (``above`` → ``below``, both relative to the
    largest; values below 1e-18 of the largest, exact zeros included, count as 1e-18: all of them are rounding), and
    every column beyond the rank is a null direction."""
    s = singular_values.double().sort(descending=True).values
    if s.ndim != 1 or len(s) < 2 or len(s) > size or s[0] <= 0:
        raise ValueError("need at least two singular values, the largest positive, and no more than the columns")
    relative = (s / s[0]).clamp_min(1e-18)
    steps = relative[:-1].log10() - relative[1:].log10()
    rank = int(steps.argmax()) + 1
    return size - rank, float(relative[rank - 1]), float(relative[rank])


def symmetry_family_sizes(d_model: int, n_heads: int, d_mlp: int) -> dict[str, int]:
    """How many independent directions each family of :func:`symmetry_tangents` has, for a bilinear mod-add model
    of these sizes (``e = d_model / n_heads``): residual and embedding bases ``d²`` each, query-key
    ``h (2 d e − d)``, value-output ``h e²``, bilinear rescalings ``2 d_mlp``, shifts ``3 d``, values against ``=``
    ``h (e − h)`` (none when a head is narrower than the number of heads)."""
    d, h, m = d_model, n_heads, d_mlp
    if h < 1 or d % h:
        raise ValueError(f"d_model ({d}) must be a positive multiple of n_heads ({h})")
    e = d // h
    return {
        "residual basis": d * d,
        "embedding basis": d * d,
        "query-key": h * (2 * d * e - d),
        "value-output": h * e * e,
        "bilinear rescaling": 2 * m,
        "shifts": 3 * d,
        "values against =": h * max(e - h, 0),
    }


def symmetry_count(p: int, d_model: int, n_heads: int, d_mlp: int) -> int:
    """The total of :func:`symmetry_family_sizes`. ``p`` does not enter; it is an argument so that a config's sizes
    can be passed as they are. The count holds when the data do not add degeneracies of their own: ``p`` larger
    than ``d_model`` and a bilinear layer with fewer parameters than quadratic forms (``3 d m < d²(d + 1)/2``)."""
    return sum(symmetry_family_sizes(d_model, n_heads, d_mlp).values())


class _Parts:
    """The model's weights and the derived quantities every family uses (float64, detached)."""

    def __init__(self, model: ModAddTransformer) -> None:
        if model.mlp_kind != "bilinear":
            raise ValueError("the symmetries are those of the bilinear model (the ReLU MLP has other symmetries)")
        self.w = {name: t.detach() for name, t in model.named_parameters()}
        self.names = list(self.w)
        self.p, self.d, self.h, self.e, self.m = (
            model.p,
            model.d_model,
            model.n_heads,
            model.d_head,
            model.W_in.shape[1],
        )
        w = self.w
        self.c = w["W_E"][self.p] + w["W_pos"][2]  # (d,) the stream at '=' before attention
        self.v = torch.einsum("d,hde->he", self.c, w["W_Q"])  # (h, e): the query of each head
        self.kappa = torch.einsum("hde,he->hd", w["W_K"], self.v) / math.sqrt(self.e)  # (h, d): κ_h
        self.ov = torch.einsum("hde,hef->hdf", w["W_V"], w["W_O"])  # (h, d, d)
        self.carry = torch.eye(self.d, dtype=self.c.dtype) + self.ov.sum(0)  # c_total = c · carry
        self.carry_inverse = torch.linalg.inv(self.carry)
        self.v_dual = self.v / (self.v**2).sum(1, keepdim=True)  # (h, e): δW_K = x ⊗ v_dual moves W_K v by x
        self.size = sum(t.numel() for t in self.w.values())  # P
        relative = w["W_E"][: self.p, None] + w["W_pos"][None, :2] - self.c  # (p, 2, d): y_s(t)
        self.scores = torch.einsum("tsd,hd->hts", relative, self.kappa)  # (h, p, 2)

    def zero(self) -> dict[str, torch.Tensor]:
        return {name: torch.zeros_like(t) for name, t in self.w.items()}

    def flat(self, delta: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([delta[name].reshape(-1) for name in self.names])

    def move_c(self, delta: dict[str, torch.Tensor], dc: torch.Tensor) -> None:
        """Move ``c`` by ``dc`` (through ``W_E[=]``) with every ``y_s`` and every ``κ_h`` kept: the operand
        positions move with it, and ``W_K`` absorbs the change of the query ``c W_Q``."""
        delta["W_E"] = delta["W_E"].index_add(0, torch.tensor([self.p]), dc[None])
        delta["W_pos"] = delta["W_pos"] + torch.stack([dc, dc, torch.zeros_like(dc)])
        dv = torch.einsum("d,hde->he", dc, self.w["W_Q"])  # (h, e) the change of the query
        kept = -torch.einsum("hde,he->hd", self.w["W_K"], dv)  # (h, d): −W_K δv, to be written along v
        delta["W_K"] = delta["W_K"] + torch.einsum("hd,he->hde", kept, self.v_dual)


def _residual_basis(parts: _Parts, g: torch.Tensor) -> dict[str, torch.Tensor]:
    w, delta = parts.w, parts.zero()
    g = g.reshape(parts.d, parts.d)  # x → x (I + g)
    delta.update(
        W_E=w["W_E"] @ g,
        W_pos=w["W_pos"] @ g,
        W_Q=-g @ w["W_Q"],
        W_K=-g @ w["W_K"],
        W_V=-g @ w["W_V"],
        W_O=w["W_O"] @ g,
        W_in=-g @ w["W_in"],
        V_in=-g @ w["V_in"],
        W_out=w["W_out"] @ g,
        W_U=-g @ w["W_U"],
    )
    return delta


def _embedding_basis(parts: _Parts, g: torch.Tensor) -> dict[str, torch.Tensor]:
    """y → y (I + g) for the operands, κ_h → (I − g) κ_h, W_V → (I − g) W_V; c moves so that c_total stays."""
    w, delta = parts.w, parts.zero()
    g = g.reshape(parts.d, parts.d)
    dc = parts.c @ torch.einsum("ij,hjk->ik", g, parts.ov) @ parts.carry_inverse  # keeps c·carry
    relative = w["W_pos"][:2] - parts.c  # (2, d)
    numbers = torch.cat([w["W_E"][: parts.p] @ g, torch.zeros_like(w["W_E"][parts.p :])])
    delta.update(W_E=numbers, W_pos=torch.cat([relative @ g, torch.zeros_like(w["W_pos"][2:])]), W_V=-g @ w["W_V"])
    target = -torch.einsum("ij,hj->hi", g, parts.kappa) * math.sqrt(parts.e)  # (h, d): √e δκ_h
    delta["W_K"] = torch.einsum("hd,he->hde", target, parts.v_dual)
    parts.move_c(delta, dc)  # κ and y kept under the move of c; the two changes add
    return delta


def _query_key(parts: _Parts, coefficients: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per head: W_Q moves with c W_Q fixed, (d − 1) e; W_K moves with W_K v fixed, d (e − 1); v itself moves
    with W_K v fixed, e. Bases: c's orthogonal complement, v's, and unit vectors."""
    w, delta, d, e, h = parts.w, parts.zero(), parts.d, parts.e, parts.h
    a, b, t = coefficients.reshape(h, -1).split([(d - 1) * e, d * (e - 1), e], dim=1)
    c_perp = _complement(parts.c)  # (d, d − 1)
    dq, dk = [], []
    for head in range(h):
        moved_query = torch.outer(parts.c, t[head]) / (parts.c @ parts.c)  # c δW_Q = t
        dq.append(c_perp @ a[head].reshape(d - 1, e) + moved_query)
        dk_kill = b[head].reshape(d, e - 1) @ _complement(parts.v[head]).T  # (d, e): kills v
        dk.append(dk_kill - torch.outer(w["W_K"][head] @ t[head], parts.v_dual[head]))  # W_K δv + δW_K v = 0
    delta.update(W_Q=torch.stack(dq), W_K=torch.stack(dk))
    return delta


def _value_output(parts: _Parts, coefficients: torch.Tensor) -> dict[str, torch.Tensor]:
    w, delta = parts.w, parts.zero()
    a = coefficients.reshape(parts.h, parts.e, parts.e)
    delta.update(W_V=w["W_V"] @ a, W_O=-a @ w["W_O"])  # W_V A, A⁻¹ W_O with A = I + a
    return delta


def _bilinear_rescaling(parts: _Parts, coefficients: torch.Tensor) -> dict[str, torch.Tensor]:
    w, delta = parts.w, parts.zero()
    s, t = coefficients.split(parts.m)
    delta.update(W_in=w["W_in"] * s, V_in=w["V_in"] * t, W_out=-(s + t)[:, None] * w["W_out"])
    return delta


def _shifts(parts: _Parts, coefficients: torch.Tensor) -> dict[str, torch.Tensor]:
    w, delta, p = parts.w, parts.zero(), parts.p
    u, equals, numbers = coefficients.split(parts.d)
    delta["W_U"] = u[:, None].expand_as(w["W_U"]).clone()
    delta["W_E"] = torch.cat([numbers.expand(p, -1), equals[None]])
    delta["W_pos"] = torch.stack([-numbers, -numbers, -equals])
    return delta


def _values_against_equals(parts: _Parts, coefficients: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per head h, a direction g_h read by no score and by no other head's values moves every operand t by
    −g_h (1 + 1 / ((1 + ρ_h) φ_h(t))), φ_h(t) = exp(y_0(t)·κ_h), ρ_h = exp((π_1 − π_0)·κ_h): head h's output then
    drops by g_h OV_h for every input (its softmax's normaliser cancels the rest), and c_total rises by as much."""
    w, delta, _h, p = parts.w, parts.zero(), parts.h, parts.p
    free = _values_free_directions(parts)  # per head (d, e − h)
    if not free:
        return delta
    numbers, gained = torch.zeros(p, parts.d, dtype=parts.c.dtype), torch.zeros(parts.d, dtype=parts.c.dtype)
    for head, (basis, k) in enumerate(zip(free, coefficients.split([b.shape[1] for b in free]))):
        g = basis @ k  # (d,)
        phi = parts.scores[head, :, 0].exp()  # (p,)
        rho = (parts.scores[head, 0, 1] - parts.scores[head, 0, 0]).exp()
        numbers = numbers - torch.outer(1 + 1 / ((1 + rho) * phi), g)
        gained = gained + g @ parts.ov[head]
    delta["W_E"] = torch.cat([numbers, torch.zeros_like(w["W_E"][p:])])
    parts.move_c(delta, gained @ parts.carry_inverse)
    return delta


def _values_free_directions(parts: _Parts) -> list[torch.Tensor]:
    """Per head, an orthonormal basis (d, e − h) of the directions no score reads (⊥ every κ) and no other head's
    values read (⊥ the columns of every other W_V); empty when a head is no wider than the number of heads."""
    if parts.e <= parts.h:
        return []
    bases = []
    for head in range(parts.h):
        others = [parts.w["W_V"][o] for o in range(parts.h) if o != head]
        read = torch.cat([parts.kappa.T, *others], dim=1)  # (d, h + (h − 1) e)
        bases.append(_complement_of_columns(read))
    return bases


def _complement(vector: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis (n, n − 1) of the vectors orthogonal to ``vector`` (n,)."""
    return _complement_of_columns(vector[:, None])


def _complement_of_columns(columns: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis of the orthogonal complement of the span of ``columns`` (n, k), of full rank k."""
    q, _ = torch.linalg.qr(columns, mode="complete")
    return q[:, columns.shape[1] :]


_FAMILY_MOVES = {
    "residual basis": _residual_basis,
    "embedding basis": _embedding_basis,
    "query-key": _query_key,
    "value-output": _value_output,
    "bilinear rescaling": _bilinear_rescaling,
    "shifts": _shifts,
    "values against =": _values_against_equals,
}


def symmetry_tangents(model: ModAddTransformer) -> dict[str, torch.Tensor]:
    """The tangent directions at the model's parameters of its architecture's continuous symmetries: one matrix
    (k, P) per family, named and ordered as in the module's docstring. Moving along any of them leaves the
    log-probabilities of every input unchanged to first order. Row ``i`` of a family is its move with unit
    coefficient ``i``; the counts are :func:`symmetry_family_sizes`. Built row by row: for small models (the twin:
    1,244 rows of 3,552)."""
    parts = _Parts(model)
    sizes = symmetry_family_sizes(parts.d, parts.h, parts.m)
    tangents = {}
    for family, move in _FAMILY_MOVES.items():
        units = torch.eye(sizes[family], dtype=parts.c.dtype)
        tangents[family] = (
            torch.stack([parts.flat(move(parts, u)) for u in units])
            if sizes[family]
            else torch.zeros(0, parts.size, dtype=parts.c.dtype)
        )
    return tangents


def symmetry_direction(model: ModAddTransformer, generator: torch.Generator, family: str | None = None) -> torch.Tensor:
    """One random combination (P,) of the tangents of one family (or of all), built without the matrix of all of
    them (17,904 × 80,256 numbers for the lens model)."""
    parts = _Parts(model)
    sizes = symmetry_family_sizes(parts.d, parts.h, parts.m)
    if family is not None and family not in sizes:
        raise ValueError(f"family must be one of {list(sizes)}, got {family!r}")
    total = torch.zeros(parts.size, dtype=parts.c.dtype)
    for name, move in _FAMILY_MOVES.items():
        if (family is None or name == family) and sizes[name]:
            total = total + parts.flat(move(parts, torch.randn(sizes[name], generator=generator, dtype=parts.c.dtype)))
    return total
