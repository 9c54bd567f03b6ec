"""The probed models of chapter 4: a small GPT-style transformer whose activations can be read and patched by name.

Sites, for a model of ``L`` layers and ``H`` heads (every one a tensor (n, T, d_model) at every position):

- ``resid_pre{l}``: the residual stream entering layer ``l`` (``resid_pre0`` = token + position embeddings);
- ``attn{l}.{h}``: what head ``h`` of layer ``l`` writes into the residual stream (its *result*);
- ``resid_mid{l}``: the residual stream after layer ``l``'s attention;
- ``mlp{l}``: what layer ``l``'s MLP writes;
- ``resid_post{l}``: the residual stream after layer ``l`` (the next layer's ``resid_pre``).

``model(tokens, cache=[...])`` returns the logits and a dict of the sites asked for; ``patch={site: values}``
replaces a site's values (n, T, d_model) on the way, which is how activation patching is done, and
``patch_at={site: positions}`` ((T,) booleans) limits a patch to some positions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import torch
from torch import nn

__all__ = ["ProbedTransformer"]


class ProbedTransformer(nn.Module):
    """Token and learned position embeddings, ``n_layers`` pre-LayerNorm blocks (causal multi-head attention, then a
    GELU MLP), a final LayerNorm and an unembedding. No dropout. ``pos_std``: the position embeddings' initial scale
    (the token embeddings start at 1)."""

    def __init__(self, vocab: int, length: int, d_model: int, n_layers: int, n_heads: int, d_mlp: int,
                 pos_std: float = 0.02) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be a multiple of n_heads ({n_heads})")
        self.length, self.n_layers, self.n_heads, self.d_head = length, n_layers, n_heads, d_model // n_heads
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(pos_std * torch.randn(length, d_model))  # GPT-2's 0.02 unless asked otherwise
        self.ln1 = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        self.ln2 = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        scale = 1 / math.sqrt(d_model)
        self.W_QKV = nn.ParameterList(nn.Parameter(scale * torch.randn(3, n_heads, d_model, self.d_head))
                                      for _ in range(n_layers))
        self.W_O = nn.ParameterList(nn.Parameter(scale * torch.randn(n_heads, self.d_head, d_model))
                                    for _ in range(n_layers))
        self.b_O = nn.ParameterList(nn.Parameter(torch.zeros(d_model)) for _ in range(n_layers))
        self.mlp = nn.ModuleList(nn.Sequential(nn.Linear(d_model, d_mlp), nn.GELU(), nn.Linear(d_mlp, d_model))
                                 for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.unembed = nn.Linear(d_model, vocab)
        self.register_buffer("causal", torch.tril(torch.ones(length, length, dtype=torch.bool)), persistent=False)

    @property
    def sites(self) -> list[str]:
        """Every readable site, in the order the forward pass computes them."""
        names = ["resid_pre0"]
        for l in range(self.n_layers):
            names += [f"attn{l}.{h}" for h in range(self.n_heads)]
            names += [f"resid_mid{l}", f"mlp{l}", f"resid_post{l}"]
        return names

    def forward(self, tokens: torch.Tensor, *, cache: Iterable[str] = (), patch: Mapping[str, torch.Tensor] | None = None,
                patch_at: Mapping[str, torch.Tensor] | None = None,
                patterns: bool = False, stop_early: bool = False) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """Logits (n, T, vocab) of ``tokens`` (n, T), and the cached sites (plus ``pattern{l}`` (n, H, T, T), the
        attention weights, when ``patterns``). With ``stop_early`` the pass ends as soon as every cached site is
        computed, and the logits are None."""
        if tokens.ndim != 2 or not 1 <= tokens.shape[1] <= self.length:
            raise ValueError(f"tokens must be (n, T) with T ≤ {self.length}, got shape {tuple(tokens.shape)}")
        wanted, patch, patch_at = set(cache), dict(patch or {}), dict(patch_at or {})
        unknown = sorted((wanted | set(patch) | set(patch_at)) - set(self.sites))
        if unknown:
            raise KeyError(f"unknown sites {unknown}; the model has {self.sites}")
        out: dict[str, torch.Tensor] = {}

        class _Done(Exception):
            pass

        def site(name: str, value: torch.Tensor) -> torch.Tensor:
            if name in patch:
                if patch[name].shape != value.shape:
                    raise ValueError(f"patch for {name} has shape {tuple(patch[name].shape)}, expected {tuple(value.shape)}")
                if name in patch_at:
                    where = patch_at[name]
                    if where.shape != (value.shape[1],) or where.dtype != torch.bool:
                        raise ValueError(f"patch_at for {name} must be ({value.shape[1]},) booleans")
                    value = torch.where(where[None, :, None], patch[name].to(value.dtype), value)
                else:
                    value = patch[name].to(value.dtype)
            if name in wanted:
                out[name] = value
                if stop_early and all(w in out for w in wanted):
                    raise _Done
            return value

        try:
            return self._run(tokens, site, out, patterns)
        except _Done:
            return None, out

    def _run(self, tokens: torch.Tensor, site, out: dict, patterns: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The forward pass proper; ``site(name, value)`` reads, patches and caches each site on the way."""
        t = tokens.shape[1]
        x = site("resid_pre0", self.embed(tokens) + self.pos[:t])  # (n, T, d)
        mask = self.causal[:t, :t]
        for l in range(self.n_layers):
            h = self.ln1[l](x)
            q, k, v = torch.einsum("ntd,chde->cnhte", h, self.W_QKV[l])  # each (n, H, T, d_head)
            scores = torch.einsum("nhqe,nhke->nhqk", q, k) / math.sqrt(self.d_head)
            pattern = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)  # (n, H, T, T)
            if patterns:
                out[f"pattern{l}"] = pattern
            z = torch.einsum("nhqk,nhke->nhqe", pattern, v)  # (n, H, T, d_head)
            results = torch.einsum("nhqe,hed->nhqd", z, self.W_O[l])  # (n, H, T, d): each head's write
            total = self.b_O[l]
            for head in range(self.n_heads):
                total = total + site(f"attn{l}.{head}", results[:, head])
            x = site(f"resid_mid{l}", x + total)
            x = site(f"resid_post{l}", x + site(f"mlp{l}", self.mlp[l](self.ln2[l](x))))
        return self.unembed(self.ln_f(x)), out
