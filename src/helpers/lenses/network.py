"""The lens model as a function of one flat parameter vector, for the degeneracy lens (chapter 2's tools take a
network as ``f(w, x)``), and the continuous symmetries of its architecture as explicit tangent directions."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import functional_call

from ..lib.modadd import ModAddTransformer

__all__ = ["flat_network", "symmetry_count", "symmetry_direction", "symmetry_tangents"]


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


def symmetry_count(p: int, d_model: int, n_heads: int, d_mlp: int) -> int:
    """How many independent directions :func:`symmetry_tangents` gives a bilinear mod-add model of these sizes:
    ``2 n_heads d_head²`` (a change of basis inside every head's QK and OV products) ``+ 2 d_mlp`` (two rescalings
    per bilinear unit) ``+ 3 d_model`` (one shift of the unembedding and two of the embeddings). ``p`` does not
    enter; it is an argument so that a config's sizes can be passed as they are."""
    d_head = d_model // n_heads
    return 2 * n_heads * d_head**2 + 2 * d_mlp + 3 * d_model


def symmetry_tangents(model: ModAddTransformer) -> torch.Tensor:
    """The tangent directions (k, P) at the model's parameters of its architecture's continuous symmetries: moving
    along any of them leaves the log-probabilities of every input unchanged to first order.

    - **QK and OV of every head**: ``W_Q A, W_K A⁻ᵀ`` and ``W_V A, A⁻¹ W_O`` for any invertible ``A`` (d_head²
      directions each): ``δW_Q = W_Q E, δW_K = −W_K Eᵀ`` and ``δW_V = W_V E, δW_O = −E W_O`` for each unit matrix E.
    - **Bilinear units**: ``w_a → s w_a`` with ``W_out[a] → W_out[a] / s``, and the same for ``v_a``.
    - **The unembedding**: adding one vector ``u`` to every column of ``W_U`` adds ``x·u`` to every logit of an
      input, which the softmax does not see.
    - **The embeddings**: ``=`` only ever sits at position 2, so only ``W_E[=] + W_pos[2]`` matters; the numbers
      only sit at positions 0 and 1, so shifting every number's embedding by ``δ`` and both positions by ``−δ``
      changes nothing.
    """
    if model.mlp_kind != "bilinear":
        raise ValueError("symmetry_tangents describes the bilinear model (the ReLU MLP has other symmetries)")
    k = symmetry_count(model.p, model.d_model, model.n_heads, model.W_in.shape[1])
    units = torch.eye(k, dtype=model.W_Q.dtype)
    return torch.stack([_symmetry_move(model, c) for c in units])  # one tangent per unit coefficient


def _symmetry_move(model: ModAddTransformer, coefficients: torch.Tensor) -> torch.Tensor:
    """The tangent (P,) of the symmetries with the given coefficients (k,), laid out as: per head the d_head² entries
    of the QK basis change, then of the OV basis change; the rescalings of ``w_a``, then of ``v_a``; the unembedding
    shift, the ``=`` shift and the numbers' shift (d_model each). Linear in ``coefficients``."""
    w = {name: t.detach() for name, t in model.named_parameters()}
    h, e, m, d, p = model.n_heads, model.d_head, model.W_in.shape[1], model.d_model, model.p
    qk, ov, s, t, u, shift_equals, shift_numbers = coefficients.split([h * e * e, h * e * e, m, m, d, d, d])
    qk, ov = qk.reshape(h, e, e), ov.reshape(h, e, e)
    delta = {name: torch.zeros_like(v) for name, v in w.items()}
    delta["W_Q"] = w["W_Q"] @ qk  # (h, d, e) @ (h, e, e): W_Q A with A = I + qk
    delta["W_K"] = -w["W_K"] @ qk.transpose(1, 2)  # W_K A⁻ᵀ
    delta["W_V"] = w["W_V"] @ ov
    delta["W_O"] = -ov @ w["W_O"]  # A⁻¹ W_O
    delta["W_in"], delta["V_in"] = w["W_in"] * s, w["V_in"] * t
    delta["W_out"] = -(s + t)[:, None] * w["W_out"]
    delta["W_U"] = u[:, None].expand_as(w["W_U"]).clone()
    delta["W_E"][p] += shift_equals
    delta["W_pos"][2] -= shift_equals
    delta["W_E"][:p] += shift_numbers
    delta["W_pos"][:2] -= shift_numbers
    return torch.cat([delta[name].reshape(-1) for name in w])


def symmetry_direction(model: ModAddTransformer, generator: torch.Generator) -> torch.Tensor:
    """One random combination of :func:`symmetry_tangents` (P,), built without the (k, P) matrix of all of them
    (2,752 × 80,256 numbers for the lens model)."""
    if model.mlp_kind != "bilinear":
        raise ValueError("symmetry_direction describes the bilinear model (the ReLU MLP has other symmetries)")
    k = symmetry_count(model.p, model.d_model, model.n_heads, model.W_in.shape[1])
    return _symmetry_move(model, torch.randn(k, generator=generator, dtype=model.W_Q.dtype))
