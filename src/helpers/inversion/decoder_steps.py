"""The InversionView decoder run a few positions at a time, each sequence keeping the keys and values of its
positions: a new token costs one position's computation instead of a pass over the whole prefix.

The exact ranking (:mod:`~helpers.inversion.ranking`) extends 810,000 problems' shared prefixes one token at a time
and the sampler (:mod:`~helpers.inversion.sampler`) draws one token at a time; both would otherwise re-run the
decoder over every earlier position at every step. The operations are
:class:`~helpers.inversion.decoder.Decoder`'s, so the log-probabilities are its own, up to rounding (a BLAS rounds a
product by its number of rows; the softmax over attention weights is written out).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import torch

__all__ = ["DecoderSteps", "Steps"]


def _copies(z: torch.Tensor) -> torch.Tensor:
    """``z`` as copies (c, d), c ≥ 1: one activation (d,) is one copy."""
    if z.ndim not in (1, 2) or z.shape[-1] == 0 or (z.ndim == 2 and z.shape[0] == 0):
        raise ValueError(f"z must be one activation (d,) or copies of it (c, d), c ≥ 1, got shape {tuple(z.shape)}")
    return z.reshape(-1, z.shape[-1])


class Steps(Protocol):
    """A conditioned next-token model run a few positions at a time: ``extend(past, parents, tokens)`` appends
    ``tokens`` (n, s) to the sequences of ``past`` (their state, ``None`` for none yet) picked by ``parents`` (n,)
    (``None``: all of them, in order) and returns the new sequences' state and ``log p(next token)`` (n, s, vocab)
    at the s new positions."""

    def extend(self, past: Any, parents: torch.Tensor | None, tokens: torch.Tensor) -> tuple[Any, torch.Tensor]: ...


class DecoderSteps:
    """The decoder given an activation at site ``site_id``, run a few positions at a time with its keys and values
    kept: a sequence's state is, per layer, the keys and values (c, n, heads, 1 + P, d_head) of the conditioning slot
    and its P positions.

    ``z``: one activation (d,) for every sequence; c copies of it (c, d) (with noise, say), whose log-probabilities
    are averaged; or, with ``per_sequence``, one activation per sequence (n, d), for the n sequences of the first
    ``extend``. ``temperature`` divides the logits."""

    def __init__(
        self, decoder, z: torch.Tensor, site_id: int, *, temperature: float = 1.0, per_sequence: bool = False
    ) -> None:
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        rows = _copies(z)
        self.decoder, self.temperature = decoder, temperature
        self.c = 1 if per_sequence else rows.shape[0]
        with torch.no_grad():
            cond = decoder.conditioning(rows, torch.full((rows.shape[0],), site_id))  # (c or n, d_cond)
            cond = cond[None, :, None] if per_sequence else cond[:, None, None]  # (c, n or 1, 1, d_cond)
            self.slots = [self._split(block, block.qkv(block.slot(cond)))[1:] for block in decoder.blocks]

    @staticmethod
    def _split(block, qkv: torch.Tensor) -> torch.Tensor:
        """(c, n, s, 3 d) → queries, keys and values (3, c, n, H, s, e)."""
        c, n, s, _ = qkv.shape
        return qkv.reshape(c, n, s, 3, block.n_heads, block.d_head).permute(3, 0, 1, 4, 2, 5)

    @torch.no_grad()
    def extend(self, past, parents, tokens):
        d, (n, s) = self.decoder, tokens.shape
        start = 0 if past is None else past[0][0].shape[3] - 1
        x = (d.embed(tokens) + d.pos[start : start + s]).expand(self.c, n, s, -1)  # (c, n, s, d)
        future = None if s == 1 else torch.ones(s, 1 + start + s, dtype=torch.bool).triu(2 + start)
        new_past = []
        for layer, block in enumerate(d.blocks):
            q, k, v = self._split(block, block.qkv(block.ln1(x)))  # each (c, n, H, s, e)
            if past is None:  # the slot's key and value come first
                old_k, old_v = (t.expand(-1, n, -1, -1, -1) for t in self.slots[layer])
            elif parents is None:
                old_k, old_v = past[layer]
            else:
                old_k, old_v = past[layer][0][:, parents], past[layer][1][:, parents]
            k, v = torch.cat([old_k, k], dim=3), torch.cat([old_v, v], dim=3)  # (c, n, H, 1 + P + s, e)
            new_past.append((k, v))
            scores = q @ k.transpose(-1, -2) / math.sqrt(block.d_head)  # (c, n, H, s, 1 + P + s)
            if future is not None:  # a position sees the slot, the past and itself
                scores = scores.masked_fill(future, -math.inf)
            weights = (scores - scores.amax(dim=-1, keepdim=True)).exp()  # a softmax, faster on rows this short
            weights = weights / weights.sum(dim=-1, keepdim=True)
            mixed = (weights @ v).transpose(2, 3).reshape(self.c, n, s, -1 if n else 0)  # (c, n, s, d)
            x = x + block.out(mixed)
            x = x + block.mlp(block.ln2(x))
        logits = d.unembed(d.ln_f(x)) / self.temperature
        return new_past, logits.log_softmax(dim=-1).mean(dim=0)

    @torch.no_grad()
    def sample(self, n: int, first: int, steps: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` sequences (n, 1 + steps) that start with token ``first``, each next token drawn from the
        decoder's distribution at this temperature."""
        tokens = drawn = torch.full((n, 1), first, dtype=torch.long)
        past = None
        for _ in range(steps):
            past, log_p = self.extend(past, None, drawn)
            drawn = torch.multinomial(log_p[:, -1].exp(), 1, generator=generator)
            tokens = torch.cat([tokens, drawn], dim=1)
        return tokens
