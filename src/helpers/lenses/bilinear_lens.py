"""The bilinear lens on the mod-add transformer: every logit as a linear plus a quadratic form of the residual stream
after attention, and how to read the quadratic forms' eigenvectors as functions of the input tokens.

With ``x`` the residual stream at ``=`` after attention, the model computes ``(x + ((x W) ⊙ (x V)) W_out) W_U``, so
logit ``c`` is exactly ``x·W_U[:, c] + xᵀ Q_c x`` with ``Q_c = Σ_a (W_out W_U)[a, c] · ½ (w_a v_aᵀ + v_a w_aᵀ)``
(chapter 1's interaction matrices, with ``w_a, v_a`` the a-th columns of ``W`` and ``V``).
"""

from __future__ import annotations

import math

import torch

from .._checks import require_tensor
from ..lib.modadd import ModAddTransformer

__all__ = [
    "attention_pattern",
    "class_matrices",
    "dominant_frequency",
    "fourier_matrix",
    "frequency_power",
    "key_frequencies",
    "logit_parts",
    "logits_with_pattern",
    "token_readout",
]


def _bilinear(model: ModAddTransformer) -> None:
    if model.mlp_kind != "bilinear":
        raise ValueError(f"the bilinear lens needs the bilinear MLP, this model's is {model.mlp_kind!r}")


def class_matrices(model: ModAddTransformer) -> torch.Tensor:
    """The symmetric interaction matrices ``Q_c`` (p, d, d) of every logit in the residual stream after attention."""
    _bilinear(model)
    out = model.W_out.detach() @ model.W_U.detach()  # (h, p): what each bilinear unit adds to each logit
    q = torch.einsum("ac,ia,ja->cij", out, model.W_in.detach(), model.V_in.detach())  # (p, d, d)
    return (q + q.transpose(1, 2)) / 2


def logit_parts(model: ModAddTransformer, x: torch.Tensor, *, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """The linear part ``x W_U`` (n, p) and the quadratic part ``xᵀ Q_c x`` (n, p) of the logits, for residual
    streams ``x`` (n, d) after attention; their sum is the model's logits. The quadratic part is computed ``chunk``
    rows at a time: its (n, p, d) intermediate ``x Q_c`` would take 0.7 GB for the mod-113 model's p² inputs."""
    x = require_tensor(x, "x", ndim=2)
    if x.shape[1] != model.d_model:
        raise ValueError(f"x must be (n, {model.d_model}), got {tuple(x.shape)}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive int, got {chunk!r}")
    q = class_matrices(model)
    quadratic = torch.cat([torch.einsum("ni,cij,nj->nc", part, q, part) for part in x.split(chunk)])
    return x @ model.W_U.detach(), quadratic


def fourier_matrix(q: torch.Tensor, frequency: int, phase: str = "cos") -> torch.Tensor:
    """``Q_w = Σ_c cos(2π w c / p) Q_c`` (or with sin): the interaction matrix of the logit direction that is one
    Fourier wave over the classes, (d, d)."""
    q = require_tensor(q, "q", ndim=3)
    p = q.shape[0]
    if not (isinstance(frequency, int) and 1 <= frequency <= p // 2):
        raise ValueError(f"frequency must be an int in 1 … {p // 2}, got {frequency!r}")
    if phase not in ("cos", "sin"):
        raise ValueError(f"phase must be 'cos' or 'sin', got {phase!r}")
    c = torch.arange(p, dtype=q.dtype)
    wave = getattr(torch, phase)(2 * math.pi * frequency * c / p)  # (p,)
    return torch.einsum("c,cij->ij", wave, q)


def frequency_power(values: torch.Tensor) -> torch.Tensor:
    """The share of the non-constant power of ``values`` (..., p) at each frequency 1 … (p − 1)/2 (both signs
    counted), (..., (p − 1)/2), summed over any leading dimensions."""
    values = require_tensor(values, "values")
    power = torch.fft.rfft(values.to(torch.float64), dim=-1).abs().pow(2)[..., 1:]  # (..., (p − 1)/2)
    power = power.reshape(-1, power.shape[-1]).sum(dim=0)
    return power / power.sum().clamp_min(torch.finfo(torch.float64).tiny)


def key_frequencies(model: ModAddTransformer, share: float = 0.95) -> list[int]:
    """The fewest frequencies that hold ``share`` of the power of ``W_out W_U`` over the classes (what the bilinear
    units write into the logits), most powerful first."""
    _bilinear(model)
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share!r}")
    power = frequency_power(model.W_out.detach() @ model.W_U.detach())
    order = torch.argsort(power, descending=True)
    needed = int(torch.searchsorted(power[order].cumsum(0), torch.tensor(share, dtype=power.dtype))) + 1
    return [int(w) + 1 for w in order[: min(needed, len(order))]]


def dominant_frequency(values: torch.Tensor) -> tuple[int, float]:
    """The frequency holding most of the non-constant power of a function of one token (p,), and its share."""
    values = require_tensor(values, "values", ndim=1)
    power = frequency_power(values)
    w = int(power.argmax())
    return w + 1, float(power[w])


def token_readout(
    model: ModAddTransformer, direction: torch.Tensor, attention: torch.Tensor | None = None
) -> torch.Tensor:
    """How much of residual direction ``direction`` (d,) each number token puts into the stream at ``=``, (p,).

    ``attention=None`` reads the direction through the token embedding alone, ``W_E[t]·direction``: what the
    residual stream would carry if the token sat at ``=``. It does not: the numbers reach ``=`` only through the
    heads, each moving ``W_E[t] W_V^h W_O^h`` weighted by its attention. Given ``attention`` (heads,), the weight
    each head gives one operand, this returns ``Σ_h attention_h · W_E[t] W_V^h W_O^h · direction``.
    """
    direction = require_tensor(direction, "direction", ndim=1)
    embed = model.W_E.detach()[: model.p]  # (p, d): the numbers
    if attention is None:
        return embed @ direction
    attention = require_tensor(attention, "attention", ndim=1)
    if attention.shape[0] != model.n_heads:
        raise ValueError(f"attention needs one weight per head ({model.n_heads}), got {attention.shape[0]}")
    ov = torch.einsum("hde,hef->hdf", model.W_V.detach(), model.W_O.detach())  # (h, d, d)
    return torch.einsum("td,h,hdf,f->t", embed, attention, ov, direction)


@torch.no_grad()
def attention_pattern(model: ModAddTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """The attention of the query at ``=`` (n, heads, 3) over the positions ``a, b, =``."""
    x = model.embed(tokens)  # (n, 3, d)
    q = torch.einsum("nd,hde->nhe", x[:, -1], model.W_Q)  # (n, h, e)
    k = torch.einsum("nsd,hde->nhse", x, model.W_K)  # (n, h, s, e)
    return (torch.einsum("nhe,nhse->nhs", q, k) / math.sqrt(model.d_head)).softmax(dim=-1)


@torch.no_grad()
def logits_with_pattern(model: ModAddTransformer, tokens: torch.Tensor, pattern: torch.Tensor) -> torch.Tensor:
    """The model's logits (n, p) with the attention of the query at ``=`` replaced by ``pattern`` (n, heads, 3),
    e.g. every head's mean pattern: the values, the residual stream, the MLP and the unembedding as the model has
    them. With ``attention_pattern(model, tokens)`` it computes the model's own logits."""
    pattern = require_tensor(pattern, "pattern", ndim=3)
    if pattern.shape != (tokens.shape[0], model.n_heads, 3):
        raise ValueError(f"pattern must have shape {(tokens.shape[0], model.n_heads, 3)}, got {tuple(pattern.shape)}")
    x = model.embed(tokens)  # (n, 3, d)
    values = torch.einsum("nsd,hde->nhse", x, model.W_V)  # (n, h, s, e)
    moved = torch.einsum("nhs,nhse,hed->nd", pattern.to(x.dtype), values, model.W_O)  # (n, d)
    resid_mid = x[:, -1] + moved
    one = torch.ones(len(resid_mid), 1, dtype=resid_mid.dtype)
    return model.unembed(torch.cat([model.mlp(torch.cat([resid_mid, one], 1)[:, None])[:, 0], one], 1))
