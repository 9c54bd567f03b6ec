"""The Interaction Basis as a thin use of :mod:`helpers.lib`, and the measures chapter 2 compares bases with.

The Interaction Basis (IB) of a layer is LIB's construction with the *network output* as the Jacobian target
(``lib.interaction_graphs(..., target="output")``); LIB proper uses the next layer's LIB features. The neuron basis
(no rotation at all) and PCA are the baselines. Every graph here is a :class:`~helpers.lib.InteractionGraph`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from .. import lib
from ..lib import Basis, InteractionGraph
from ..models import relu_mlp
from .counts import MLP

__all__ = [
    "as_relu_mlp",
    "basis_graphs",
    "effective_edges",
    "feature_modules",
    "modules_recovered",
    "neuron_basis",
    "output_error",
    "top_edge_share",
    "truncated_graph",
]


def as_relu_mlp(net: MLP, w: torch.Tensor) -> torch.nn.Sequential:
    """The flat one-hidden-layer network as a float64 ``relu_mlp`` (``fc0``, ``act0``, ``fc1``), gradients off."""
    model = relu_mlp([net.d_in, net.hidden, net.d_out]).double()
    w1, b1, w2, b2 = net.unflatten(w)
    model.load_state_dict({"fc0.weight": w1, "fc0.bias": b1, "fc1.weight": w2, "fc1.bias": b2})
    return model.eval().requires_grad_(False)


def neuron_basis(d: int) -> Basis:
    """The unrotated basis of a node layer with its constant feature first: feature ``j + 1`` is coordinate ``j``."""
    if not isinstance(d, int) or d < 1:
        raise ValueError(f"d must be a positive int, got {d!r}")
    c = torch.zeros(d + 1, d + 1, dtype=torch.float64)
    c[d, 0] = 1.0  # the constant coordinate is feature 0
    c[:d, 1:] = torch.eye(d, dtype=torch.float64)
    values = torch.ones(d + 1, dtype=torch.float64)
    return Basis("neuron", c, c.T.clone(), values, torch.zeros(d, dtype=torch.float64), values)


def _sections_and_activations(model: torch.nn.Sequential, x: torch.Tensor) -> tuple[list, list[torch.Tensor]]:
    """A ``relu_mlp``'s LIB sections and its float64 activations at every node layer on inputs ``x``."""
    sections = lib.mlp_sections(model)
    return sections, [a.double() for a in lib.node_activations(sections, x)]


def _edges(sections: Sequence, bases: Sequence[Basis], acts: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """The squared edges of every layer pair, between consecutive bases."""
    return tuple(lib.squared_edges(s, b, nb, a) for s, b, nb, a in zip(sections, bases[:-1], bases[1:], acts[:-1]))


def basis_graphs(
    model: torch.nn.Sequential, x: torch.Tensor, *, names: Sequence[str] | None = None
) -> dict[str, InteractionGraph]:
    """Interaction graphs of a ``relu_mlp`` on inputs ``x`` in four bases: ``neuron``, ``pca``, ``ib`` and ``lib``.

    The logits stay unrotated in every basis (as in chapter 3), so that all four graphs end on the same nodes.
    """
    sections, acts = _sections_and_activations(model, x)
    output = lib.interaction_graphs(acts, sections, methods=("lib", "pca"), target="output", names=names, desc="IB")
    local = lib.interaction_graphs(acts, sections, methods=("lib",), target="local", names=names, desc="LIB")
    bases = tuple(neuron_basis(a.shape[-1]) for a in acts[:-1]) + (lib.identity_basis(acts[-1].shape[-1]),)
    neuron = InteractionGraph(output["lib"].names, bases, _edges(sections, bases, acts))
    return {"neuron": neuron, "pca": output["pca"], "ib": output["lib"], "lib": local["lib"]}


def _pooled_edges(graph: InteractionGraph) -> torch.Tensor:
    """Every edge of every layer pair in one vector, edges of constant features left out (they carry biases, not
    interactions; the logits have no constant feature)."""
    pooled = []
    for l, e in enumerate(graph.edges):
        rows = 0 if graph.bases[l + 1].kind == "identity" else 1
        pooled.append(e[rows:, 1:].reshape(-1))
    edges = torch.cat(pooled)
    if edges.sum() <= 0:
        raise ValueError("the graph has no edge strength")
    return edges


def top_edge_share(graph: InteractionGraph, k: int = 10) -> float:
    """The share of all edge strength (squared attributions, every layer pair pooled) carried by the ``k`` strongest
    edges. Edges of constant features are left out: they carry biases, not interactions. A basis with fewer features
    has fewer edges to spread the strength over, so this share favours bases that truncate: compare bases at equal
    fidelity (:func:`output_error`)."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    edges = _pooled_edges(graph)
    return float(edges.sort(descending=True).values[:k].sum() / edges.sum())


def effective_edges(graph: InteractionGraph) -> float:
    """The effective number of edges, ``(Σ e)² / Σ e²`` over the pooled edges (constant features left out, as in
    :func:`top_edge_share`): ``N`` when ``N`` edges are equally strong, 1 when one edge carries everything; fewer is
    sparser. Edges of zero strength do not count, so a basis is not rewarded for spreading nothing over many edges;
    but a basis with fewer features has fewer edges to spread over, so compare bases at equal fidelity
    (:func:`output_error`)."""
    edges = _pooled_edges(graph)
    return float(edges.sum() ** 2 / (edges**2).sum())


def output_error(model: torch.nn.Sequential, x: torch.Tensor, graph: InteractionGraph) -> float:
    """What a graph's bases lose of the output of the ``relu_mlp`` ``model`` on inputs ``x``: every node layer but the
    last replaced, layer by layer, by its projection onto the basis's kept features (``f̂ C⁺``), then
    ``max |f_projected − f| / max |f|``. Zero (to rounding) for a basis that keeps every direction the output uses, as
    the IB does; more for one that cuts what matters."""
    sections, acts = _sections_and_activations(model, x)
    a = acts[0]
    for section, basis in zip(sections, graph.bases[:-1]):
        kept = basis.inverse(basis.features(a))[..., :-1]  # (..., d): the constant coordinate dropped
        a = section(lib.augment(kept))
    return float((a - acts[-1]).abs().max() / acts[-1].abs().max())


def truncated_graph(
    model: torch.nn.Sequential, x: torch.Tensor, graph: InteractionGraph, sizes: Sequence[int]
) -> InteractionGraph:
    """``graph`` (of the ``relu_mlp`` ``model`` on inputs ``x``) with each node layer but the last cut to its first
    ``sizes[l]`` non-constant features, and its edges recomputed: for example PCA kept to the IB's feature counts.

    Raises:
        ValueError: one size per node layer but the last is needed, each between 1 and the layer's feature count.
    """
    inner = graph.bases[:-1]
    if len(sizes) != len(inner):
        raise ValueError(f"need {len(inner)} sizes (every node layer but the last), got {len(sizes)}")
    for l, (k, basis) in enumerate(zip(sizes, inner)):
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= basis.size - 1:
            raise ValueError(f"size {k!r} for layer {l}: need an int in 1..{basis.size - 1}")
    bases = tuple(
        replace(b, C=b.C[:, : k + 1], C_pinv=b.C_pinv[: k + 1], values=b.values[: k + 1]) for b, k in zip(inner, sizes)
    ) + (graph.bases[-1],)
    sections, acts = _sections_and_activations(model, x)
    return InteractionGraph(graph.names, bases, _edges(sections, bases, acts))


def feature_modules(basis: Basis, modules: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For every non-constant feature of ``basis``, the module (an entry of ``modules``, one per coordinate) where
    its direction ``C[:, j]`` puts most of its weight, and the share of its squared weight in that module."""
    c = basis.C[:-1]  # (d, k): the coordinates, the constant row left out
    if modules.shape != (c.shape[0],):
        raise ValueError(f"need one module per coordinate ({c.shape[0]}), got shape {tuple(modules.shape)}")
    first = 0 if basis.kind == "identity" else 1
    weight = c[:, first:] ** 2  # (d, k − 1)
    per_module = torch.stack([weight[modules == m].sum(0) for m in range(int(modules.max()) + 1)])  # (M, k − 1)
    share = per_module / per_module.sum(0)
    return share.argmax(0), share.max(0).values


def modules_recovered(
    communities: Sequence[set], graph: InteractionGraph, input_modules: torch.Tensor, output_modules: torch.Tensor
) -> bool:
    """Whether the communities split the graph's input and output nodes exactly as the task's modules do.

    Nodes are ``(layer, feature)`` pairs as in :func:`helpers.lib.modularity`. An input feature belongs to the module
    where its direction puts most of its weight (:func:`feature_modules`), an output to its own module. The split is
    recovered when every community holds input and output nodes of one module only, and each module's nodes lie
    in one community.
    """
    last = len(graph.bases) - 1
    labels = {(0, j + 1): int(m) for j, m in enumerate(feature_modules(graph.bases[0], input_modules)[0])}
    first_out = 0 if graph.bases[last].kind == "identity" else 1
    labels.update({(last, i + first_out): int(m) for i, m in enumerate(output_modules)})
    seen: dict[int, int] = {}
    for index, community in enumerate(communities):
        modules = {labels[node] for node in community if node in labels}
        if len(modules) > 1:
            return False
        for m in modules:
            if seen.setdefault(m, index) != index:
                return False
    return len(seen) == len(set(labels.values()))
