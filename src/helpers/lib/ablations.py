"""Ablations of an interaction graph: keep some features (mean-ablate the rest) or some edges, and find how
many are needed to keep the network's accuracy."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from .bases import Section, _acts, augment
from .graphs import InteractionGraph


def run_from(sections: Sequence[Section], layer: int, points: torch.Tensor) -> torch.Tensor:
    """Run the network from node layer ``layer`` given its augmented activations; return the final layer's."""
    x = points
    for section in sections[layer:]:
        x = augment(section(x))
    return x[..., :-1]


def ablate_nodes(
    graph: InteractionGraph, sections: Sequence[Section], layer: int, activations: torch.Tensor, keep: int
) -> torch.Tensor:
    """Final-layer output when only the first ``keep`` features of ``layer`` (the constant included) are kept.

    The dropped features are set to zero; as the constant feature carries the mean, that is mean ablation.
    """
    basis = graph.bases[layer]
    keep = int(keep) if isinstance(keep, np.integer) else keep
    if not isinstance(keep, int) or not 1 <= keep <= basis.size:
        raise ValueError(f"keep must be an int between 1 and {basis.size}, got {keep!r}")
    feats = basis.features(_acts(activations))
    feats[..., keep:] = 0
    with torch.no_grad():
        return run_from(sections, layer, basis.inverse(feats))


def _edge_mask(graph: InteractionGraph, layer: int, n_edges: int) -> torch.Tensor:
    e = graph.edges[layer]
    free = torch.zeros_like(e, dtype=torch.bool)
    free[:, 0] = True  # edges from the constant input feature cost nothing
    if graph.bases[layer + 1].kind != "identity":
        free[0, :] = True  # nor do those into the constant output feature
    scores = e.masked_fill(free, -1.0).flatten()
    n_free = int((~free).sum())
    n_edges = int(n_edges) if isinstance(n_edges, np.integer) else n_edges
    if not isinstance(n_edges, int) or not 0 <= n_edges <= n_free:
        raise ValueError(f"n_edges must be an int between 0 and {n_free}, got {n_edges!r}")
    keep = free.flatten().clone()
    keep[torch.argsort(scores, descending=True, stable=True)[:n_edges]] = True
    return keep.reshape(e.shape)


def ablate_edges(
    graph: InteractionGraph,
    sections: Sequence[Section],
    layer: int,
    activations: torch.Tensor,
    n_edges: int,
    *,
    chunk_size: int = 8,
) -> torch.Tensor:
    """Final-layer output when only the ``n_edges`` largest edges of ``layer → layer + 1`` are kept.

    Each next-layer feature is recomputed from its kept input features only (the others zeroed); edges from the
    constant feature are always kept. The rest of the network then runs as usual.
    """
    basis, nxt = graph.bases[layer], graph.bases[layer + 1]
    mask = _edge_mask(graph, layer, n_edges).to(torch.float64)  # (K, J)
    # output features with the same kept inputs share one forward pass (with few edges kept, most keep none)
    masks, group = torch.unique(mask, dim=0, return_inverse=True)  # (G, J), (K,)
    feats = basis.features(_acts(activations))  # (n, S, J)
    parts = []
    with torch.no_grad():
        for chunk in masks.split(chunk_size):
            masked = feats * chunk[:, None, None, :]  # (g, n, S, J): one copy of the input per distinct mask
            parts.append(augment(sections[layer](basis.inverse(masked))))  # (g, n, T, o + 1)
        outputs = torch.cat(parts)  # (G, n, T, o + 1)
        next_feats = torch.empty(*outputs.shape[1:3], nxt.size, dtype=torch.float64)  # (n, T, K)
        for g in range(outputs.shape[0]):  # feature i of the next layer, from the output of its own mask group
            members = torch.nonzero(group == g).flatten()
            next_feats[..., members] = outputs[g] @ nxt.C[:, members]
        return run_from(sections, layer + 1, nxt.inverse(next_feats))


def edges_needed(
    accuracy_with: Callable[[int], float], n_total: int, baseline: float, *, tolerance: float = 1e-3
) -> tuple[int, dict[int, float]]:
    """The fewest kept edges whose accuracy is at least ``baseline - tolerance``, by galloping and bisection.

    ``accuracy_with(n)`` returns the accuracy with ``n`` edges kept; it is assumed to rise with ``n`` (as the
    reference implementation assumes). The search doubles ``n`` from 1 until it is good enough, then bisects
    between the last two counts. Returns the number and every accuracy measured on the way.
    """
    seen: dict[int, float] = {}

    def ok(n: int) -> bool:
        if n not in seen:
            seen[n] = accuracy_with(n)
        return seen[n] >= baseline - tolerance

    if not ok(n_total):
        raise ValueError(f"even all {n_total} edges give accuracy {seen[n_total]:.4f} < baseline − tolerance")
    # gallop up from few edges (cheap to evaluate, and usually where the answer is), then bisect
    lo, hi = 0, 1
    while hi < n_total and not ok(hi):
        lo, hi = hi + 1, min(2 * hi, n_total)
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi, seen
