"""Sections (the maps between node layers) and their per-example Jacobians, vectorised with ``torch.func``;
the sections and node activations of an MLP."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.func import vjp, vmap

from .._checks import require_tensor
from .bases import Basis, Section, _acts, augment


def section_jacobians(
    section: Section, points: torch.Tensor, *, chunk_size: int = 512, closed_form: bool = True
) -> torch.Tensor:
    """Per-example Jacobians of a section at augmented ``points`` (n, P, d + 1), vectorised with ``torch.func``.

    A section that knows its Jacobians in closed form (a :class:`~helpers.lib.closed_forms.ClosedFormSection`)
    is asked for them instead, unless ``closed_form=False``; both give the same numbers (tested to 1e-12).

    One forward pass over a chunk of examples and one *vectorised* backward pass: ``vmap`` over the pullback of
    ``torch.func.vjp`` with every one-hot output direction as cotangent at once. Because examples do not interact
    inside a section, the gradient of output ``(t, o)`` summed over the chunk holds every example's row.
    Returns (n, P_out, d_out, P, d + 1) in float64; ``chunk_size`` bounds memory (d_out · P_out · chunk rows).
    """
    points = require_tensor(points, "points", ndim=3).to(torch.float64)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    if closed_form and hasattr(section, "jacobians"):
        return torch.cat([section.jacobians(chunk) for chunk in points.split(chunk_size)])
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
