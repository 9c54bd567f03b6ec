"""InversionView's sampler: propose inputs with the decoder, verify every one by re-running the probed model.

For a query activation ``z^q`` at a site, the decoder proposes candidates at several temperatures (and with noise
added to ``z^q``, which widens the search); each candidate is run through the probed model, its activation at the
same site is compared with ``z^q`` at every valid position, and the candidate is in the ε-preimage when the smallest
normalised distance is at most ε. Nothing the decoder says decides membership.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from .decoder import Decoder
from .decoder_steps import DecoderSteps
from .distance import EPSILON, in_ball, min_distance
from .tasks import Task
from .transformer import ProbedTransformer

__all__ = ["Samples", "SETTINGS", "activation", "display_subset", "propose_and_verify", "valid_positions"]

#: (temperature, noise as a share of the query's standard deviation), as in the paper's small tasks.
SETTINGS: tuple[tuple[float, float], ...] = ((0.5, 0.0), (1.0, 0.0), (2.0, 0.0), (2.0, 0.1))


class Samples(NamedTuple):
    """Candidates (n, T) with their verified distance (n,), the position attaining it (n,), whether they are in the
    ball (n,), and the temperature (n,) each was drawn at."""

    tokens: torch.Tensor
    distance: torch.Tensor
    position: torch.Tensor
    inside: torch.Tensor
    temperature: torch.Tensor


def valid_positions(tokens: torch.Tensor, task: Task) -> torch.Tensor:
    """(n, T) booleans: the positions before the first end token or padding (the start token included)."""
    stop = (tokens == task.vocab.index("E")) | (tokens == task.pad)
    return stop.long().cumsum(dim=1) == 0


@torch.no_grad()
def activation(model: ProbedTransformer, tokens: torch.Tensor, site: str) -> torch.Tensor:
    """The site's activations (n, T, d) of a batch of token sequences."""
    if tokens.ndim != 2 or tokens.shape[0] == 0:
        raise ValueError(f"tokens must be a non-empty (n, T) batch, got shape {tuple(tokens.shape)}")
    return model(tokens, cache=[site], stop_early=True)[1][site]


@torch.no_grad()
def propose_and_verify(
    decoder: Decoder,
    model: ProbedTransformer,
    task: Task,
    query: torch.Tensor,
    site: str,
    position: int,
    *,
    per_setting: int = 64,
    settings: Sequence[tuple[float, float]] = SETTINGS,
    epsilon: float = EPSILON,
    generator: torch.Generator,
) -> Samples:
    """Candidates for the ε-preimage of the activation of ``query`` (T,) at ``site`` and ``position``, verified."""
    if site not in model.sites:
        raise KeyError(f"unknown site {site!r}; the model has {model.sites}")
    if not 0 <= position < query.shape[0] or not valid_positions(query[None], task)[0, position]:
        raise ValueError(f"position {position} is not a valid position of the query")
    if per_setting < 1:
        raise ValueError(f"per_setting must be positive, got {per_setting}")
    z_query = activation(model, query[None], site)[0, position]  # (d,)
    parts, temps = [], []
    for temperature, noise in settings:
        z = z_query.expand(per_setting, -1)
        if noise > 0:
            z = z + noise * z_query.std() * torch.randn(z.shape, generator=generator)
        steps = DecoderSteps(decoder, z, model.sites.index(site), temperature=temperature, per_sequence=True)
        parts.append(steps.sample(per_setting, int(query[0]), task.length - 1, generator))
        temps.append(torch.full((per_setting,), float(temperature)))
    tokens = torch.cat(parts)
    distance, where = min_distance(z_query, activation(model, tokens, site), valid_positions(tokens, task))
    return Samples(tokens, distance, where, in_ball(distance, epsilon), torch.cat(temps))


def display_subset(
    samples: Samples, rows: int = 30, inside_share: float = 0.7, *, generator: torch.Generator
) -> torch.Tensor:
    """Indices of ``rows`` samples to show, sorted by distance: about ``inside_share`` of them drawn at random from
    the ball, the rest the nearest samples outside it (the near-misses show what the ball excludes). With too few
    samples on one side, the other side fills the rows."""
    if rows < 1 or not 0 <= inside_share <= 1:
        raise ValueError(f"need rows ≥ 1 and 0 ≤ inside_share ≤ 1, got {rows} and {inside_share}")
    inside = samples.inside.nonzero()[:, 0]
    outside = (~samples.inside).nonzero()[:, 0]
    n_in = min(inside.numel(), max(rows - outside.numel(), round(rows * inside_share)))
    chosen_in = inside[torch.randperm(inside.numel(), generator=generator)[:n_in]]
    chosen_out = outside[samples.distance[outside].argsort(stable=True)[: rows - n_in]]
    chosen = torch.cat([chosen_in, chosen_out])
    return chosen[samples.distance[chosen].argsort(stable=True)]
