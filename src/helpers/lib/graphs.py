"""The whole interaction graph: bases and edges of every node layer from the output backwards, once per
section's Jacobians; the per-output autograd loop it is tested against; modularity and drawing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ..training import progress
from .bases import (
    DEFAULT_THRESHOLD,
    Basis,
    Section,
    _acts,
    _lib_from_m,
    _threshold,
    augment,
    gram_step,
    identity_basis,
    lib_basis,
    pca_basis,
)
from .closed_forms import ClosedFormSection
from .sections import _jacobians_output_major


@dataclass(frozen=True)
class InteractionGraph:
    """Bases of every node layer (input side first; the last is the output's) and edges ``edges[l]`` (k_{l+1}, k_l)."""

    names: tuple[str, ...]
    bases: tuple[Basis, ...]
    edges: tuple[torch.Tensor, ...]

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}: {b.size}" for n, b in zip(self.names, self.bases))
        return f"InteractionGraph({self.bases[0].kind}; features per layer {sizes})"


def _check_layers(activations: Sequence[torch.Tensor], sections: Sequence[Section], names: Sequence[str] | None):
    if len(activations) != len(sections) + 1:
        raise ValueError(f"need one more node layer than sections, got {len(activations)} and {len(sections)}")
    acts = [_acts(a, f"activations[{i}]") for i, a in enumerate(activations)]
    if any(a.shape[0] != acts[0].shape[0] for a in acts):
        raise ValueError(f"every node layer needs the same number of examples, got {[a.shape[0] for a in acts]}")
    names = tuple(names) if names is not None else tuple(f"layer {i}" for i in range(len(acts)))
    if len(names) != len(acts):
        raise ValueError(f"need one name per node layer, got {len(names)} for {len(acts)}")
    return acts, names


def interaction_graphs(
    activations: Sequence[torch.Tensor],
    sections: Sequence[Section],
    *,
    methods: Sequence[Literal["lib", "pca"]] = ("lib", "pca"),
    target: Literal["local", "output"] = "local",
    final: Literal["identity", "pca"] = "identity",
    threshold: float = DEFAULT_THRESHOLD,
    chunk_size: int = 512,
    names: Sequence[str] | None = None,
    desc: str = "interaction graphs",
) -> dict[str, InteractionGraph]:
    """Bases and squared edges of every node layer, from the output backwards, for several methods at once.

    Generically, each section's per-example Jacobians are computed once (``torch.func``, as in
    :func:`section_jacobians`) at the real activations and then used for everything: every method's basis (LIB:
    ``M`` from the Jacobians of the next layer's features, or of the network output when ``target="output"``) and
    every method's edges (gradient × activation). A :class:`~helpers.lib.closed_forms.ClosedFormSection` is asked
    for ``M′`` and the edges directly instead, which needs far less work and memory (same numbers, tested). The
    final layer is left unrotated (``final="identity"``, the paper's choice for logits) or given its PCA basis.

    Args:
        activations: node-layer activations, each (n, P_l, d_l) (or (n, d_l)), input side first.
        sections: ``len(activations) - 1`` functions mapping augmented activations (batched) onward.
        methods: ``"lib"`` and/or the ``"pca"`` baseline (the same pipeline with ``C = Y U``).
    """
    acts, names = _check_layers(activations, sections, names)
    methods = tuple(methods)
    if (
        not methods
        or any(m not in ("lib", "pca") for m in methods)
        or target not in ("local", "output")
        or final not in ("identity", "pca")
    ):
        raise ValueError(f"unknown method/target/final: {methods!r}, {target!r}, {final!r}")
    last = acts[-1]
    final_basis = identity_basis(last.shape[-1]) if final == "identity" else pca_basis(last, threshold=threshold)
    bases = {m: [None] * (len(acts) - 1) + [final_basis] for m in methods}
    edges: dict[str, list] = {m: [None] * len(sections) for m in methods}
    chains: dict[str, torch.Tensor | None] = {m: None for m in methods}  # Jacobians of the output (target="output")
    for l in progress(range(len(sections) - 1, -1, -1), desc=desc, total=len(sections)):
        n, s, _ = acts[l].shape
        points = augment(acts[l])
        section = sections[l]
        closed = isinstance(section, ClosedFormSection)  # M′ and the edges in closed form instead of autograd
        raw = None if closed else _jacobians_output_major(section, points, chunk_size)  # (T, o, n, S, D), once
        d_out = acts[l + 1].shape[-1]
        for m in methods:
            nxt = bases[m][l + 1]
            project = nxt.C[:d_out]  # the next layer's features read off its non-constant coordinates
            if m == "pca":
                basis = pca_basis(acts[l], threshold=threshold)
            elif target == "output":
                local = (
                    section.jacobians(points, project) if closed else torch.einsum("ok,tonsd->ntksd", project, raw)
                )  # (n, T, K, S, D)
                # chain rule; the constant slot of layer l + 1 does not depend on layer l
                chains[m] = (
                    local
                    if chains[m] is None
                    else torch.einsum(
                        "ntkse,nserd->ntkrd",
                        chains[m][..., :-1],
                        section.jacobians(points) if closed else raw.permute(2, 0, 1, 3, 4),
                    )
                )
                basis = lib_basis(acts[l], chains[m], threshold=threshold)
            else:
                m_prime = section.gram(points, project) if closed else _gram(raw, project, chunk_size)
                step = gram_step(acts[l], threshold=threshold)
                basis = _lib_from_m(step, step.R_pinv @ (m_prime / (n * s)) @ step.R_pinv.T, _threshold(threshold))
            bases[m][l] = basis
            # edges: gradient × activation at the real activations
            feats = basis.features(acts[l])  # (n, S, J)
            total = (
                section.edges(points, project, basis.C_pinv, feats)
                if closed
                else _edges(raw, project, basis.C_pinv, feats, chunk_size)
            )
            edges[m][l] = total / (n * s)
        del raw
    return {m: InteractionGraph(names, tuple(bases[m]), tuple(edges[m])) for m in methods}


def _gram(raw: torch.Tensor, project: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """``Σ Jᵀ J`` over every (example, output position, feature, input position) row, from the raw Jacobians
    (T, o, n, S, D) read through ``project`` (o, K): one GEMM over o per chunk of examples."""
    t_out, o, n, s, d = raw.shape
    total = torch.zeros(d, d, dtype=torch.float64)
    for start in range(0, n, chunk_size):
        part = raw[:, :, start : start + chunk_size].reshape(t_out, o, -1)
        rows = torch.einsum("ok,tox->tkx", project, part).reshape(-1, d)  # one row per (t, k, x, s)
        total += rows.T @ rows
    return total


def _edges(
    raw: torch.Tensor, project: torch.Tensor, c_pinv: torch.Tensor, feats: torch.Tensor, chunk_size: int
) -> torch.Tensor:
    """``Σ_{x,t} (Σ_s (J C⁺ᵀ)[x,t,k,s,j] f̂[x,s,j])²`` from the raw Jacobians (T, o, n, S, D), (K, J)."""
    t_out, o, n, s, d = raw.shape
    total = torch.zeros(project.shape[1], c_pinv.shape[0], dtype=torch.float64)
    for start in range(0, n, chunk_size):
        part = raw[:, :, start : start + chunk_size]
        local = torch.einsum("ok,tocsd->tkcsd", project, part)
        between = local @ c_pinv.T  # (T, K, c, S, J)
        attributions = torch.einsum("tkcsj,csj->tkcj", between, feats[start : start + chunk_size])
        total += attributions.pow(2).sum(dim=(0, 2))
    return total


def interaction_graph(
    activations: Sequence[torch.Tensor],
    sections: Sequence[Section],
    *,
    method: Literal["lib", "pca"] = "lib",
    **options,
) -> InteractionGraph:
    """One method's graph: :func:`interaction_graphs` with ``methods=(method,)`` (same options)."""
    if method not in ("lib", "pca"):
        raise ValueError(f"unknown method {method!r}: use 'lib' or 'pca'")
    return interaction_graphs(activations, sections, methods=(method,), **options)[method]


def interaction_graph_loop(
    activations: Sequence[torch.Tensor],
    sections: Sequence[Section],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    names: Sequence[str] | None = None,
) -> InteractionGraph:
    """The LIB graph the way the reference implementation computes it: one autograd call per output feature.

    For every layer and every (output position, output feature), one ``torch.autograd.grad`` call over the
    whole batch gives that feature's gradient for every example at once; once for the basis (``M``) and once
    more, in feature coordinates, for the edges. It is the slow, obviously-correct reference that the tests and
    ``make bench`` compare :func:`interaction_graph` against (final layer unrotated, local target).
    """
    acts, names = _check_layers(activations, sections, names)
    threshold = _threshold(threshold)
    bases: list[Basis] = [None] * len(acts)  # type: ignore[list-item]
    bases[-1] = identity_basis(acts[-1].shape[-1])
    edges: list[torch.Tensor] = [None] * len(sections)  # type: ignore[list-item]
    for l in range(len(sections) - 1, -1, -1):
        f, nxt = acts[l], bases[l + 1]
        n, s, d = f.shape
        # the basis: M' accumulated from one gradient per output position and feature
        x = augment(f).requires_grad_(True)
        out = augment(sections[l](x)) @ nxt.C  # (n, T, K)
        m_prime = torch.zeros(d + 1, d + 1, dtype=torch.float64)
        for t in range(out.shape[1]):
            for i in range(out.shape[2]):
                (g,) = torch.autograd.grad(out[:, t, i].sum(), x, retain_graph=True)  # (n, S, D)
                m_prime += torch.einsum("nsd,nse->de", g, g).detach()
        step = gram_step(f, threshold=threshold)
        m = step.R_pinv @ (m_prime / (n * s)) @ step.R_pinv.T
        basis = bases[l] = _lib_from_m(step, m, threshold)
        # the edges: gradients with respect to the features, at the real activations
        feats = basis.features(f).detach()
        rest = (augment(f) - basis.inverse(feats)).detach()  # the part outside the kept subspace, held fixed
        fh = feats.clone().requires_grad_(True)
        out = augment(sections[l](basis.inverse(fh) + rest)) @ nxt.C
        e = torch.zeros(nxt.size, basis.size, dtype=torch.float64)
        for t in range(out.shape[1]):
            for i in range(out.shape[2]):
                (g,) = torch.autograd.grad(out[:, t, i].sum(), fh, retain_graph=True)  # (n, S, J)
                e[i] += (g * feats).sum(dim=1).pow(2).sum(dim=0).detach()
        edges[l] = e / (n * s)
    return InteractionGraph(names, tuple(bases), tuple(edges))


def modularity(
    graph: InteractionGraph,
    smallest_kept: Sequence[float],
    *,
    resolution: float = 1.0,
    seed: int = 0,
    include_output: bool = False,
) -> tuple[float, list[set]]:
    """Newman's standard modularity Q of the Louvain communities of the (undirected) interaction graph.

    Edge weights are log-normalised per layer, ``log10(E / ε_l)`` clipped at 0, where ``ε_l`` is the smallest
    edge still needed in layer ``l`` (from :func:`edges_needed`), so only needed edges weigh; constant
    features are left out. Nodes are ``(layer, feature)`` pairs.

    ``resolution`` (γ) only steers the search for communities (Louvain, networkx; the reference implementation uses
    Leiden); the Q returned is always the standard one (γ = 1) of the partition found, so that values found at
    different γ compare. As in the reference implementation, the output layer (the logits) is left out unless
    ``include_output``: its edges reflect the unembedding, not the network's internal modules.
    """
    import networkx as nx

    if len(smallest_kept) != len(graph.edges):
        raise ValueError(f"need one ε per edge layer, got {len(smallest_kept)} for {len(graph.edges)}")
    g = nx.Graph()
    last = len(graph.edges) if include_output else len(graph.edges) - 1
    for l, (e, eps) in enumerate(zip(graph.edges[:last], smallest_kept[:last])):
        if not eps > 0:
            raise ValueError(f"ε must be positive, got {eps} for layer {l}")
        i0 = 0 if graph.bases[l + 1].kind == "identity" else 1
        g.add_nodes_from((l, j) for j in range(1, e.shape[1]))
        g.add_nodes_from((l + 1, i) for i in range(i0, e.shape[0]))
        w = torch.log10(e / eps).clamp_min(0)
        for i, j in zip(*torch.nonzero(w > 0, as_tuple=True)):
            i, j = int(i), int(j)
            if i >= i0 and j >= 1:
                g.add_edge((l, j), (l + 1, i), weight=float(w[i, j]))
    g.remove_nodes_from([v for v in list(g.nodes) if g.degree(v) == 0])
    if g.number_of_edges() == 0:
        raise ValueError("no edge above its layer's ε: nothing to find communities in")
    communities = nx.community.louvain_communities(g, weight="weight", resolution=resolution, seed=seed)
    q = nx.community.modularity(g, communities, weight="weight", resolution=1.0)
    return float(q), [set(c) for c in communities]


def draw_graph(
    ax,
    graph: InteractionGraph,
    *,
    n_nodes: int = 12,
    min_edge: float = 0.01,
    layers: Sequence[int] | None = None,
    hide_constant: bool = True,
) -> dict[str, np.ndarray]:
    """Draw the interaction graph: one column per node layer, features top to bottom by importance.

    Edge strength is ``sqrt(E)`` normalised by its largest value per layer pair (so every layer pair has a
    darkest edge); edges below ``min_edge`` are not drawn. Returns the normalised strengths drawn, one
    (n_nodes, n_nodes) array per edge layer, for checking the figure.
    """
    from matplotlib.collections import LineCollection

    layers = list(range(len(graph.edges))) if layers is None else list(layers)
    if not layers or any(not 0 <= l < len(graph.edges) for l in layers):
        raise ValueError(f"layers must be edge-layer indices in [0, {len(graph.edges)}), got {layers}")
    drawn = {}
    segments, colours = [], []
    columns = sorted(set(layers) | {l + 1 for l in layers})
    for l in layers:
        e = graph.edges[l]
        i0 = 1 if hide_constant and graph.bases[l + 1].kind != "identity" else 0
        j0 = 1 if hide_constant else 0
        block = e[i0 : i0 + n_nodes, j0 : j0 + n_nodes].sqrt()
        block = block / block.max().clamp_min(torch.finfo(block.dtype).tiny)
        drawn[f"layer{l}"] = block.numpy()
        x0, x1 = columns.index(l), columns.index(l + 1)
        for i, j in zip(*np.nonzero(block.numpy() >= min_edge)):
            segments.append([(x0, -j), (x1, -i)])
            colours.append((0.1, 0.2, 0.6, float(block[i, j])))
    ax.add_collection(LineCollection(segments, colors=colours, linewidths=2.0))
    for x, l in enumerate(columns):
        i0 = 1 if hide_constant and graph.bases[l].kind != "identity" else 0
        k = min(n_nodes, graph.bases[l].size - i0)
        ax.scatter(np.full(k, x), -np.arange(k), s=30, color="0.2", zorder=3)
    ax.set_xticks(range(len(columns)), [graph.names[l] for l in columns])
    ax.set_yticks([0, -(n_nodes - 1)], ["feature 1", f"feature {n_nodes}"])
    ax.set_xlim(-0.3, len(columns) - 0.7)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    return drawn
