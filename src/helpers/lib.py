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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.func import vjp, vmap

from ._checks import require_tensor
from .linalg import canonical_signs, eigh_descending
from .training import progress

__all__ = [
    "Basis",
    "GramStep",
    "InteractionGraph",
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
    "run_from",
    "section_jacobians",
    "squared_edges",
]

Section = Callable[[torch.Tensor], torch.Tensor]
DEFAULT_THRESHOLD = 1e-12


# ----------------------------------------------------------------------------------------------------------
# checks and small pieces
# ----------------------------------------------------------------------------------------------------------
def _acts(x: object, name: str = "activations") -> torch.Tensor:
    """Activations as a finite float64 tensor (n, positions, d); a 2-D (n, d) tensor gets one position."""
    x = require_tensor(x, name)
    if x.ndim == 2:
        x = x.unsqueeze(1)
    if x.ndim != 3:
        raise ValueError(f"{name} must have shape (n, d) or (n, positions, d), got {tuple(x.shape)}")
    return x.to(torch.float64)


def _threshold(threshold: float) -> float:
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0 <= threshold < 1:
        raise ValueError(f"threshold must be a number in [0, 1), got {threshold!r}")
    return float(threshold)


def augment(x: torch.Tensor) -> torch.Tensor:
    """Append the constant coordinate: (..., d) → (..., d + 1), last entry 1."""
    return torch.cat([x, torch.ones_like(x[..., :1])], dim=-1)


def centring_matrix(mean: torch.Tensor) -> torch.Tensor:
    """``Y`` ((d+1) × (d+1)) with ``[f, 1] @ Y = [f − mean, 1]``: centring as a linear map, thanks to the constant."""
    mean = require_tensor(mean, "mean", ndim=1)
    d = mean.shape[0]
    y = torch.eye(d + 1, dtype=mean.dtype)
    y[d, :d] = -mean
    return y


def count_above(values: torch.Tensor, threshold: float) -> int:
    """How many of the non-constant ``values[1:]`` exceed ``threshold`` times the largest of them."""
    values = require_tensor(values, "values", ndim=1)
    rest = values[1:]
    if rest.numel() == 0:
        return 0
    return int((rest > _threshold(threshold) * rest.max()).sum())


# ----------------------------------------------------------------------------------------------------------
# bases
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Basis:
    """A basis of one node layer: ``f̂ = [f, 1] @ C``; feature 0 is the constant direction.

    ``values`` are the second moments of the features: Λ for LIB, the variances for PCA (1 for the constant
    of PCA, whose feature is exactly 1). ``gram_values`` are all eigenvalues of the centred, bias-folded Gram
    matrix before truncation (constant first), kept for spectra.
    """

    kind: str
    C: torch.Tensor
    C_pinv: torch.Tensor
    values: torch.Tensor
    mean: torch.Tensor
    gram_values: torch.Tensor

    @property
    def size(self) -> int:
        """Number of features (the constant included)."""
        return self.C.shape[1]

    def features(self, activations: torch.Tensor) -> torch.Tensor:
        """Features (..., k) of activations (..., d)."""
        activations = require_tensor(activations, "activations")
        if activations.shape[-1] != self.mean.shape[0]:
            raise ValueError(f"activations have {activations.shape[-1]} coordinates, the basis expects {self.mean.shape[0]}")
        return augment(activations.to(self.C.dtype)) @ self.C

    def inverse(self, features: torch.Tensor) -> torch.Tensor:
        """Augmented activations (..., d + 1) from features (..., k): ``f̂ @ C⁺``."""
        features = require_tensor(features, "features")
        if features.shape[-1] != self.size:
            raise ValueError(f"features have {features.shape[-1]} coordinates, the basis has {self.size}")
        return features @ self.C_pinv


@dataclass(frozen=True)
class GramStep:
    """Step 1 of LIB: the centred, bias-folded Gram matrix and its eigendecomposition, truncated.

    ``U`` ((d+1) × d_t) holds the kept eigenvectors (the constant direction first), ``D`` (d_t,) their
    eigenvalues, ``Y`` the centring matrix, ``mean`` the mean activation, ``all_values`` every eigenvalue.
    """

    U: torch.Tensor
    D: torch.Tensor
    Y: torch.Tensor
    mean: torch.Tensor
    all_values: torch.Tensor

    @property
    def W(self) -> torch.Tensor:
        """The PCA basis ``Y U``: centre, then rotate onto the Gram eigenvectors."""
        return self.Y @ self.U

    @property
    def W_pinv(self) -> torch.Tensor:
        """``Uᵀ Y⁻¹``."""
        return self.U.T @ torch.linalg.inv(self.Y)

    @property
    def R(self) -> torch.Tensor:
        """The whitening map ``Y U D^{-1/2}``: whitened coordinates have the identity as Gram matrix."""
        return self.W / self.D.sqrt()

    @property
    def R_pinv(self) -> torch.Tensor:
        """``D^{1/2} Uᵀ Y⁻¹``, so that ``R R⁺`` projects onto the kept subspace."""
        return self.D.sqrt()[:, None] * self.W_pinv


def gram_step(activations: torch.Tensor, *, threshold: float = DEFAULT_THRESHOLD) -> GramStep:
    """Fold in the constant, centre, build the Gram matrix ``G = E[f̃ᵀ f̃]`` and keep its large eigendirections.

    After centring, ``G = blockdiag(Cov, 1)``: the constant direction is an exact eigenvector (eigenvalue 1),
    put first. Non-constant directions with eigenvalue ≤ ``threshold`` × the largest non-constant one are dropped.
    """
    f = _acts(activations)
    threshold = _threshold(threshold)
    d = f.shape[-1]
    rows = f.reshape(-1, d)  # positions count as samples: (n·P, d)
    mean = rows.mean(dim=0)
    y = centring_matrix(mean)
    centred = augment(rows) @ y  # (n·P, d + 1), last column 1
    gram = centred.T @ centred / rows.shape[0]  # (d + 1, d + 1)
    values, vectors = eigh_descending(gram[:d, :d], symmetrize=True)  # the covariance block
    constant = torch.zeros(d + 1, 1, dtype=rows.dtype)
    constant[d] = 1.0
    vectors = torch.cat([constant, torch.cat([vectors, torch.zeros(1, d, dtype=rows.dtype)])], dim=1)
    values = torch.cat([torch.ones(1, dtype=rows.dtype), values])
    rest = values[1:]
    keep = torch.cat([torch.tensor([True]), rest > threshold * rest.max().clamp_min(0)])
    return GramStep(vectors[:, keep], values[keep], y, mean, values)


def pca_basis(activations: torch.Tensor, *, threshold: float = DEFAULT_THRESHOLD) -> Basis:
    """The PCA baseline: ``C = Y U`` (centred Gram eigenvectors, no whitening, no Jacobians); values = variances."""
    step = gram_step(activations, threshold=threshold)
    return Basis("pca", step.W, step.W_pinv, step.D, step.mean, step.all_values)


def identity_basis(d: int) -> Basis:
    """The unrotated basis of a final layer (the logits): ``f̂ = f``, no constant feature."""
    if not isinstance(d, int) or d < 1:
        raise ValueError(f"d must be a positive int, got {d!r}")
    eye = torch.eye(d, dtype=torch.float64)
    c = torch.cat([eye, torch.zeros(1, d, dtype=torch.float64)])  # (d + 1, d)
    ones = torch.ones(d, dtype=torch.float64)
    return Basis("identity", c, c.T.clone(), ones, torch.zeros(d, dtype=torch.float64), ones)


def interaction_matrix(target_jacobians: torch.Tensor, R_pinv: torch.Tensor) -> torch.Tensor:
    """``M = R⁺ M' R⁺ᵀ`` with ``M' = 1/(n·S) Σ_{x,t,i,s} J[x,t,i,s,:]ᵀ J[x,t,i,s,:]``.

    Args:
        target_jacobians: (n, T, K, S, D) Jacobians of K target features at T output positions with respect
            to the D augmented coordinates at S input positions, one per example.
        R_pinv: (d_t, D), the pseudo-inverse of the whitening map.
    Returns ``M`` (d_t, d_t): the Gram matrix of the target Jacobians in whitened coordinates.
    """
    j = require_tensor(target_jacobians, "target_jacobians", ndim=5)
    r_pinv = require_tensor(R_pinv, "R_pinv", ndim=2)
    if r_pinv.shape[1] != j.shape[-1]:
        raise ValueError(f"R_pinv has {r_pinv.shape[1]} columns, the Jacobians have {j.shape[-1]} input coordinates")
    n, _, _, s, d = j.shape
    rows = j.to(torch.float64).reshape(-1, d)  # every (x, t, i, s) is one row
    m_prime = rows.T @ rows / (n * s)  # (D, D)
    return r_pinv.to(torch.float64) @ m_prime @ r_pinv.T.to(torch.float64)


def _lib_from_m(step: GramStep, m: torch.Tensor, threshold: float) -> Basis:
    """Steps 3–4: eigendecompose M with the constant direction held fixed, truncate, scale, build C and C⁺."""
    values, vectors = eigh_descending(m[1:, 1:], symmetrize=True)  # non-constant block only
    k = vectors.shape[0]
    v = torch.zeros(k + 1, k + 1, dtype=m.dtype)
    v[0, 0] = 1.0
    v[1:, 1:] = vectors
    lam = torch.cat([m[:1, 0], values])  # the constant's "eigenvalue" is its diagonal entry of M
    keep = torch.cat([torch.tensor([True]), values > threshold * values.max().clamp_min(0)])
    keep &= lam > 0  # the constant too, if nothing downstream depends on it
    v, lam = v[:, keep], lam[keep]
    c = step.R @ v * lam.sqrt()
    c_pinv = (v.T @ step.R_pinv) / lam.sqrt()[:, None]
    return Basis("lib", c, c_pinv, lam, step.mean, step.all_values)


def lib_basis(activations: torch.Tensor, target_jacobians: torch.Tensor, *, threshold: float = DEFAULT_THRESHOLD) -> Basis:
    """The LIB basis of one node layer, given the Jacobians of its target.

    Args:
        activations: (n, P, d) (or (n, d)) activations of the layer.
        target_jacobians: (n, T, K, P, d + 1) Jacobians of the target features with respect to the augmented
            activations: the next layer's LIB features for LIB proper, or the network output (the parameter
            that lets the Interaction Basis chapter reuse this function).
        threshold: relative truncation threshold of both eigendecompositions.
    """
    f = _acts(activations)
    j = require_tensor(target_jacobians, "target_jacobians", ndim=5)
    if j.shape[0] != f.shape[0] or j.shape[3] != f.shape[1] or j.shape[4] != f.shape[2] + 1:
        raise ValueError(
            f"target_jacobians {tuple(j.shape)} do not fit activations {tuple(f.shape)}: expected "
            f"({f.shape[0]}, T, K, {f.shape[1]}, {f.shape[2] + 1})"
        )
    step = gram_step(f, threshold=threshold)
    return _lib_from_m(step, interaction_matrix(j, step.R_pinv), _threshold(threshold))


# ----------------------------------------------------------------------------------------------------------
# Jacobians
# ----------------------------------------------------------------------------------------------------------
def section_jacobians(section: Section, points: torch.Tensor, *, chunk_size: int = 512) -> torch.Tensor:
    """Per-example Jacobians of a section at augmented ``points`` (n, P, d + 1), vectorised with ``torch.func``.

    One forward pass over a chunk of examples and one *vectorised* backward pass: ``vmap`` over the pullback of
    ``torch.func.vjp`` with every one-hot output direction as cotangent at once. Because examples do not interact
    inside a section, the gradient of output ``(t, o)`` summed over the chunk holds every example's row.
    Returns (n, P_out, d_out, P, d + 1) in float64; ``chunk_size`` bounds memory (d_out · P_out · chunk rows).
    """
    points = require_tensor(points, "points", ndim=3).to(torch.float64)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    probe = section(points[:2])
    if not isinstance(probe, torch.Tensor) or probe.ndim != 3 or probe.shape[0] != min(2, points.shape[0]):
        raise ValueError(
            "a section must map a batch (n, P, d + 1) to (n, P_out, d_out), "
            f"got shape {tuple(getattr(probe, 'shape', ()))} for a batch of 2"
        )
    return _jacobians_output_major(section, points, chunk_size).permute(2, 0, 1, 3, 4)


def _jacobians_output_major(section: Section, points: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """The same Jacobians laid out (P_out, d_out, n, P, d + 1), so that contractions over outputs are one GEMM."""
    parts = []
    for chunk in points.split(chunk_size):
        out, pullback = vjp(section, chunk)  # out: (c, T, o)
        c, t, o = out.shape
        cotangents = torch.eye(t * o, dtype=out.dtype).reshape(t * o, 1, t, o).expand(t * o, c, t, o)
        (grads,) = vmap(pullback)(cotangents)  # (T·o, c, S, D): one vectorised backward for every output
        parts.append(grads.reshape(t, o, *grads.shape[1:]).detach())
    return torch.cat(parts, dim=2)


def _target_jacobians(raw: torch.Tensor, next_basis: Basis) -> torch.Tensor:
    """Jacobians of the next layer's features ``[s(f̃), 1] @ C`` from the section's raw Jacobians."""
    d_out = raw.shape[2]
    # raw: (n, T, o, S, D); C[:d_out]: (o, K) -> (n, T, K, S, D); the constant output coordinate has no derivative
    return torch.einsum("ntosd,ok->ntksd", raw, next_basis.C[:d_out])


def edges_from_jacobians(feature_jacobians: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Squared edges ``E[i, j] = 1/(n·S) Σ_{x,t} (Σ_s ∂f̂'_{t,i}/∂f̂_{s,j} · f̂_{s,j})²`` (gradient × activation).

    Args:
        feature_jacobians: (n, T, K, S, J) Jacobians of the next layer's features with respect to this layer's.
        features: (n, S, J) this layer's features.
    Returns ``E`` (K, J), non-negative.
    """
    jf = require_tensor(feature_jacobians, "feature_jacobians", ndim=5)
    f = require_tensor(features, "features", ndim=3)
    if (jf.shape[0], jf.shape[3], jf.shape[4]) != tuple(f.shape):
        raise ValueError(f"feature_jacobians {tuple(jf.shape)} do not fit features {tuple(f.shape)}")
    attributions = torch.einsum("ntksj,nsj->ntkj", jf, f)  # A[x, t, i, j]: summed over input positions
    return attributions.pow(2).sum(dim=(0, 1)) / (f.shape[0] * f.shape[1])


def squared_edges(
    section: Section,
    basis: Basis,
    next_basis: Basis,
    activations: torch.Tensor,
    *,
    integration: Literal["gradient", "integrated"] = "gradient",
    n_steps: int = 8,
    chunk_size: int = 512,
) -> torch.Tensor:
    """Squared edges (K, J) between ``basis`` features of ``activations`` and ``next_basis`` features.

    ``integration="gradient"`` is gradient × activation at the real activations (the paper's setting);
    ``"integrated"`` replaces the gradient by its average along ``α f̂`` for α in (0, 1] (Gauss–Legendre with
    ``n_steps`` nodes, baseline the zero point in feature coordinates: integrated gradients). The small part of
    the activations outside the basis's kept subspace is held fixed along the path, as in
    :func:`interaction_graph_loop`.
    """
    f = _acts(activations)
    feats = basis.features(f)  # (n, S, J)
    if integration == "gradient":
        alphas, weights = np.array([1.0]), np.array([1.0])
    elif integration == "integrated":
        if not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"n_steps must be a positive int, got {n_steps!r}")
        nodes, w = np.polynomial.legendre.leggauss(n_steps)
        alphas, weights = (nodes + 1) / 2, w / 2
    else:
        raise ValueError(f"integration must be 'gradient' or 'integrated', got {integration!r}")
    # the part of the activations outside the kept subspace is held fixed, so that α = 1 is the real activation
    rest = augment(f) - basis.inverse(feats)
    total = torch.zeros(next_basis.size, basis.size, dtype=torch.float64)
    for chunk, outside in zip(feats.split(chunk_size), rest.split(chunk_size)):
        attributions = 0
        for alpha, weight in zip(alphas, weights):
            points = basis.inverse(alpha * chunk) + outside  # (c, S, D): α f̂ mapped back to augmented activations
            raw = section_jacobians(section, points, chunk_size=chunk_size)
            jf = torch.einsum("ntksd,jd->ntksj", _target_jacobians(raw, next_basis), basis.C_pinv)
            attributions = attributions + weight * torch.einsum("ntksj,nsj->ntkj", jf, chunk)
        total += attributions.pow(2).sum(dim=(0, 1))
    return total / (feats.shape[0] * feats.shape[1])


# ----------------------------------------------------------------------------------------------------------
# the whole graph
# ----------------------------------------------------------------------------------------------------------
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

    Each section's per-example Jacobians are computed once (:func:`section_jacobians`) at the real activations
    and then used for everything: every method's basis (LIB: ``M`` from the Jacobians of the next layer's
    features, or of the network output when ``target="output"``) and every method's edges (gradient ×
    activation). The final layer is left unrotated (``final="identity"``, the paper's choice for logits) or
    given its PCA basis.

    Args:
        activations: node-layer activations, each (n, P_l, d_l) (or (n, d_l)), input side first.
        sections: ``len(activations) - 1`` functions mapping augmented activations (batched) onward.
        methods: ``"lib"`` and/or the ``"pca"`` baseline (the same pipeline with ``C = Y U``).
    """
    acts, names = _check_layers(activations, sections, names)
    methods = tuple(methods)
    if not methods or any(m not in ("lib", "pca") for m in methods) or target not in ("local", "output") \
            or final not in ("identity", "pca"):
        raise ValueError(f"unknown method/target/final: {methods!r}, {target!r}, {final!r}")
    last = acts[-1]
    final_basis = identity_basis(last.shape[-1]) if final == "identity" else pca_basis(last, threshold=threshold)
    bases = {m: [None] * (len(acts) - 1) + [final_basis] for m in methods}
    edges: dict[str, list] = {m: [None] * len(sections) for m in methods}
    chains: dict[str, torch.Tensor | None] = {m: None for m in methods}  # Jacobians of the output (target="output")
    for l in progress(range(len(sections) - 1, -1, -1), desc=desc, total=len(sections)):
        n, s, _ = acts[l].shape
        raw = _jacobians_output_major(sections[l], augment(acts[l]), chunk_size)  # (T, o, n, S, D), once
        t_out, o, _, _, d = raw.shape
        for m in methods:
            nxt = bases[m][l + 1]
            def local_part(start: int, stop: int) -> torch.Tensor:
                """Jacobians of the next layer's features for examples start:stop, one GEMM over o: (T, K, c, S, D)."""
                part = raw[:, :, start:stop].reshape(t_out, o, -1)
                return torch.einsum("ok,tox->tkx", nxt.C[:o], part).reshape(t_out, nxt.size, -1, s, d)

            if m == "pca":
                basis = pca_basis(acts[l], threshold=threshold)
            elif target == "output":
                as_batch = local_part(0, n).permute(2, 0, 1, 3, 4)  # (n, T, K, S, D)
                # chain rule; the constant slot of layer l + 1 does not depend on layer l
                chains[m] = as_batch if chains[m] is None else torch.einsum(
                    "ntkse,senrd->ntkrd", chains[m][..., :-1], raw)
                basis = lib_basis(acts[l], chains[m], threshold=threshold)
            else:
                step = gram_step(acts[l], threshold=threshold)
                m_prime = torch.zeros(d, d, dtype=torch.float64)
                for start in range(0, n, chunk_size):
                    rows = local_part(start, start + chunk_size).reshape(-1, d)  # one row per (t, i, x, s)
                    m_prime += rows.T @ rows
                m_prime /= n * s
                basis = _lib_from_m(step, step.R_pinv @ m_prime @ step.R_pinv.T, _threshold(threshold))
            bases[m][l] = basis
            # edges: gradient × activation at the real activations, from the same Jacobians
            feats = basis.features(acts[l])  # (n, S, J)
            total = torch.zeros(nxt.size, basis.size, dtype=torch.float64)
            for start in range(0, n, chunk_size):
                local = local_part(start, start + chunk_size)
                between = (local.reshape(-1, d) @ basis.C_pinv.T).reshape(*local.shape[:-1], basis.size)  # (T, K, c, S, J)
                attributions = torch.einsum("tkcsj,csj->tkcj", between, feats[start : start + chunk_size])
                total += attributions.pow(2).sum(dim=(0, 2))
            edges[m][l] = total / (n * s)
        del raw
    return {m: InteractionGraph(names, tuple(bases[m]), tuple(edges[m])) for m in methods}


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


# ----------------------------------------------------------------------------------------------------------
# ablations
# ----------------------------------------------------------------------------------------------------------
def run_from(sections: Sequence[Section], layer: int, points: torch.Tensor) -> torch.Tensor:
    """Run the network from node layer ``layer`` given its augmented activations; return the final layer's."""
    x = points
    for section in sections[layer:]:
        x = augment(section(x))
    return x[..., :-1]


def ablate_nodes(graph: InteractionGraph, sections: Sequence[Section], layer: int, activations: torch.Tensor,
                 keep: int) -> torch.Tensor:
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


def ablate_edges(graph: InteractionGraph, sections: Sequence[Section], layer: int, activations: torch.Tensor,
                 n_edges: int, *, chunk_size: int = 8) -> torch.Tensor:
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


def edges_needed(accuracy_with: Callable[[int], float], n_total: int, baseline: float, *,
                 tolerance: float = 1e-3) -> tuple[int, dict[int, float]]:
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


# ----------------------------------------------------------------------------------------------------------
# modularity and drawing
# ----------------------------------------------------------------------------------------------------------
def modularity(graph: InteractionGraph, smallest_kept: Sequence[float], *, resolution: float = 1.0,
               seed: int = 0) -> tuple[float, list[set]]:
    """Newman modularity Q of the Louvain communities of the (undirected) interaction graph.

    Edge weights are log-normalised per layer, ``log10(E / ε_l)`` clipped at 0, where ``ε_l`` is the smallest
    edge still needed in layer ``l`` (from :func:`edges_needed`), so only needed edges weigh; constant
    features are left out. Nodes are ``(layer, feature)`` pairs.
    """
    import networkx as nx

    if len(smallest_kept) != len(graph.edges):
        raise ValueError(f"need one ε per edge layer, got {len(smallest_kept)} for {len(graph.edges)}")
    g = nx.Graph()
    for l, (e, eps) in enumerate(zip(graph.edges, smallest_kept)):
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
    communities = nx.community.louvain_communities(g, weight="weight", resolution=resolution, seed=seed)
    q = nx.community.modularity(g, communities, weight="weight", resolution=resolution)
    return float(q), [set(c) for c in communities]


def draw_graph(ax, graph: InteractionGraph, *, n_nodes: int = 12, min_edge: float = 0.01,
               layers: Sequence[int] | None = None, hide_constant: bool = True) -> dict[str, np.ndarray]:
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


# ----------------------------------------------------------------------------------------------------------
# ReLU MLPs as node layers and sections
# ----------------------------------------------------------------------------------------------------------
def mlp_sections(model: torch.nn.Sequential) -> list[Section]:
    """Sections of an MLP built by :func:`helpers.models.relu_mlp` (or any ``Linear``/``ReLU`` sequence).

    Node layers are the inputs of the ``Linear`` layers plus the output; section ``l`` is ``Linear l`` with its
    bias multiplied by the constant coordinate (bias folding), followed by its ReLU when there is one. The
    weights are copied in float64.
    """
    layers = list(model)
    if not layers or not isinstance(layers[0], torch.nn.Linear):
        raise ValueError("the model must be a sequence of Linear layers, each optionally followed by a ReLU")
    sections: list[Section] = []
    for i, layer in enumerate(layers):
        if isinstance(layer, torch.nn.ReLU):
            continue
        if not isinstance(layer, torch.nn.Linear):
            raise ValueError(f"unsupported layer {type(layer).__name__}: only Linear and ReLU")
        relu = i + 1 < len(layers) and isinstance(layers[i + 1], torch.nn.ReLU)
        w = layer.weight.detach().to(torch.float64)
        b = (layer.bias.detach() if layer.bias is not None else torch.zeros(w.shape[0])).to(torch.float64)
        sections.append(_linear_section(w, b, relu))
    return sections


def _linear_section(w: torch.Tensor, b: torch.Tensor, relu: bool) -> Section:
    def section(x: torch.Tensor) -> torch.Tensor:
        # x: (..., P, d + 1) -> (..., P, d_out); the bias rides on the constant coordinate
        out = x[..., :-1] @ w.T + x[..., -1:] * b
        return torch.relu(out) if relu else out

    return section


def node_activations(sections: Sequence[Section], inputs: torch.Tensor) -> list[torch.Tensor]:
    """Activations of every node layer (n, P, d) for ``inputs`` (n, P, d_0) (or (n, d_0)), in float64."""
    acts = [_acts(inputs, "inputs")]
    with torch.no_grad():
        for section in sections:
            acts.append(section(augment(acts[-1])))
    return acts
