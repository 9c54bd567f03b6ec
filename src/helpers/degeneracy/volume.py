"""Loss potentials whose learning coefficient is known, and λ read from how their low-loss volume scales.

Near a minimum, the volume of ``{w : K(w) < ε}`` scales as ``V(ε) ≈ c · ε^λ · (−log ε)^{m−1}``: the learning
coefficient λ is the slope of ``log V`` against ``log ε`` (up to the slowly varying log factor when the multiplicity
``m`` exceeds 1). A regular direction (``w²``) contributes 1/2, a quartic one 1/4; for separable potentials the
contributions add; a product such as ``w₁² w₂²`` has ``λ = 1/2`` with ``m = 2``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

__all__ = ["Potential", "loglog_slope", "product", "separable", "separable_lambda", "volume_fraction"]

Potential = Callable[[torch.Tensor], torch.Tensor]  # (n, dim) points -> (n,) losses


def _powers(powers: Sequence[int]) -> list[int]:
    if not powers:
        raise ValueError("a potential needs at least one power")
    for p in powers:
        if not isinstance(p, int) or isinstance(p, bool) or p < 2 or p % 2:
            raise ValueError(f"powers must be even integers ≥ 2 (so that K ≥ 0 with its minimum at 0), got {powers!r}")
    return list(powers)


def separable(powers: Sequence[int]) -> Potential:
    """``K(w) = Σ_i w_i^{p_i}``: every coordinate on its own."""
    p = torch.tensor(_powers(powers))

    def k(w: torch.Tensor) -> torch.Tensor:
        return (w ** p.to(w.device)).sum(-1)

    return k


def product(powers: Sequence[int]) -> Potential:
    """``K(w) = Π_i w_i^{p_i}``: zero whenever any one coordinate is, so its zero set is a union of hyperplanes."""
    p = torch.tensor(_powers(powers))

    def k(w: torch.Tensor) -> torch.Tensor:
        return (w ** p.to(w.device)).prod(-1)

    return k


def separable_lambda(powers: Sequence[int]) -> float:
    """The learning coefficient of :func:`separable`: ``Σ_i 1/p_i`` (each regular direction adds 1/2)."""
    return float(sum(1 / p for p in _powers(powers)))


def volume_fraction(
    potential: Potential,
    dim: int,
    eps: Sequence[float],
    *,
    n_samples: int = 1_000_000,
    box: float = 1.0,
    generator: torch.Generator | None = None,
    chunk: int = 250_000,
) -> np.ndarray:
    """The share of the box ``[−box, box]^dim`` where ``K < ε``, for every ``ε``, from ``n_samples`` uniform points.

    Returns (len(eps),) fractions; multiply by ``(2·box)^dim`` for a volume. All levels share one set of samples.
    """
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive int, got {dim!r}")
    levels = torch.as_tensor(list(eps), dtype=torch.float64)
    if levels.numel() == 0 or not torch.isfinite(levels).all() or (levels <= 0).any():
        raise ValueError(f"eps must be finite positive levels, got {list(eps)!r}")
    if n_samples < 1 or box <= 0:
        raise ValueError(f"need n_samples ≥ 1 and box > 0, got {n_samples} and {box}")
    counts = torch.zeros(len(levels), dtype=torch.float64)
    done = 0
    while done < n_samples:
        m = min(chunk, n_samples - done)
        w = (torch.rand(m, dim, generator=generator, dtype=torch.float64) * 2 - 1) * box
        counts += (potential(w)[:, None] < levels[None, :]).sum(0)
        done += m
    return (counts / n_samples).numpy()


def loglog_slope(eps: Sequence[float], volumes: Sequence[float]) -> float:
    """The least-squares slope of ``log V`` against ``log ε``: the estimate of λ."""
    e, v = np.asarray(eps, dtype=float), np.asarray(volumes, dtype=float)
    if e.shape != v.shape or e.ndim != 1 or len(e) < 2:
        raise ValueError(f"need two 1-d sequences of equal length ≥ 2, got shapes {e.shape} and {v.shape}")
    if (e <= 0).any() or (v <= 0).any():
        raise ValueError("levels and volumes must be positive (a zero volume: too few samples for that ε)")
    return float(np.polyfit(np.log(e), np.log(v), 1)[0])
