"""The Local Interaction Basis (Bushnaq et al. 2024, arXiv 2405.10928), its PCA baseline, and its edges.

Conventions (the chapter derives each step):

* A network is cut into **node layers** ``f^0, …, f^L`` with activations ``(n, positions, d_l)``, and
  **sections** ``s_l`` mapping one example's node-layer-``l`` activations, *augmented* with a constant last
  coordinate 1 (shape ``(P_l, d_l + 1)``), to node layer ``l + 1`` (shape ``(P_{l+1}, d_{l+1})``). A section
  multiplies its biases by the constant coordinate: that is how a bias is folded into a linear map. Sections
  must accept leading batch dimensions as well (``torch.func`` calls them on one example, ablations on batches).
* Activations are **row vectors**; a basis is a matrix ``C`` ((d + 1) × k) with features ``f̂ = f̃ @ C`` and
  the pseudo-inverse ``C⁺`` (k × (d + 1)) mapping features back: ``f̃ ≈ f̂ @ C⁺``. Feature 0 is always the
  constant direction, left unrotated.
* Everything is computed in float64; positions of a node layer count as extra samples (``n · P`` rows).
* Thresholds are **relative**: a direction is dropped when its eigenvalue is at most ``threshold`` times the
  largest non-constant one, so the same threshold works whatever the scale of the activations.

The LIB basis of layer ``l`` is ``C = Y U D^{-1/2} V Λ^{1/2}``: centring ``Y``; the eigenvectors ``U`` and
eigenvalues ``D`` of the centred Gram matrix (truncation 1); whitening ``D^{-1/2}``; the eigenvectors ``V`` and
eigenvalues ``Λ`` of ``M``, the Gram matrix of the Jacobians of a *target* (the next layer's LIB features,
or the network's output) taken in whitened coordinates (truncation 2); and the scaling ``Λ^{1/2}``. The PCA
baseline stops at ``C = Y U``.

The package, by what a reader looks for: :mod:`~helpers.lib.bases` (the Gram step, ``M`` and the bases),
:mod:`~helpers.lib.sections` (sections and their Jacobians), :mod:`~helpers.lib.edges`, :mod:`~helpers.lib.graphs`
(the whole graph, the autograd reference loop, modularity, drawing), :mod:`~helpers.lib.ablations`,
:mod:`~helpers.lib.modadd` (the chapter's mod-add transformer) and :mod:`~helpers.lib.exercises`.
"""

from __future__ import annotations

from .ablations import ablate_edges, ablate_nodes, edges_needed, run_from
from .bases import (
    DEFAULT_THRESHOLD,
    Basis,
    GramStep,
    Section,
    augment,
    centring_matrix,
    count_above,
    gram_step,
    identity_basis,
    interaction_matrix,
    lib_basis,
    pca_basis,
    rotate_scale_truncate,
)
from .edges import edges_from_jacobians, squared_edges
from .graphs import (
    InteractionGraph,
    draw_graph,
    interaction_graph,
    interaction_graph_loop,
    interaction_graphs,
    modularity,
)
from .sections import mlp_sections, node_activations, section_jacobians

__all__ = [
    "DEFAULT_THRESHOLD",
    "Basis",
    "GramStep",
    "InteractionGraph",
    "Section",
    "ablate_edges",
    "ablate_nodes",
    "augment",
    "centring_matrix",
    "count_above",
    "draw_graph",
    "edges_from_jacobians",
    "edges_needed",
    "gram_step",
    "identity_basis",
    "interaction_graph",
    "interaction_graph_loop",
    "interaction_graphs",
    "interaction_matrix",
    "lib_basis",
    "mlp_sections",
    "modularity",
    "node_activations",
    "pca_basis",
    "rotate_scale_truncate",
    "run_from",
    "section_jacobians",
    "squared_edges",
]
