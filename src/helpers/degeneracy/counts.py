"""Small ReLU networks with a known amount of each kind of degeneracy, and their free directions, measured.

A *free direction* is a direction in parameter space along which the network's outputs on the data do not change to
first order. Their number is ``d − rank J``, with ``J`` (n·o, d) the output–parameter Jacobian stacked over the data:
exact linear algebra, an integer. The paper names three internal sources (arXiv 2405.10927, abstract and §3):
linear dependence between a layer's activations, linear dependence between the gradients passed back to a layer,
and ReLUs that fire on the same subset of the data. The constructors below plant each in a known amount.

The network is one hidden ReLU layer with biases, all parameters in one flat vector
``w = [W1 (h, d_in), b1 (h), W2 (o, h), b2 (o)]``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .._checks import require_tensor
from .behaviour import output_jacobian

__all__ = ["MLP", "firing_on_half", "free_directions", "gapped_inputs", "jacobian_rank"]


class MLP(NamedTuple):
    """Shape of a one-hidden-layer ReLU network ``x → W2 relu(W1 x + b1) + b2``, parameters flat."""

    d_in: int
    hidden: int
    d_out: int

    @property
    def n_params(self) -> int:
        return self.hidden * (self.d_in + 1) + self.d_out * (self.hidden + 1)

    def unflatten(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``W1 (h, d_in), b1 (h,), W2 (o, h), b2 (o,)`` as views into ``w``."""
        require_tensor(w, "w", ndim=1)
        if w.shape[0] != self.n_params:
            raise ValueError(f"w must have {self.n_params} entries for {self}, got {w.shape[0]}")
        h, i, o = self.hidden, self.d_in, self.d_out
        sizes = [h * i, h, o * h, o]
        w1, b1, w2, b2 = torch.split(w, sizes)
        return w1.reshape(h, i), b1, w2.reshape(o, h), b2

    @staticmethod
    def flatten(w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
        return torch.cat([w1.reshape(-1), b1, w2.reshape(-1), b2])

    def pre_activations(self, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        w1, b1, _, _ = self.unflatten(w)
        return x @ w1.T + b1  # (n, h)

    def __call__(self, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The outputs (n, o) for inputs ``x`` (n, d_in)."""
        w1, b1, w2, b2 = self.unflatten(w)
        return torch.relu(x @ w1.T + b1) @ w2.T + b2

    def random(self, generator: torch.Generator) -> torch.Tensor:
        """Standard-normal parameters, float64."""
        return torch.randn(self.n_params, generator=generator, dtype=torch.float64)


def jacobian_rank(jac: torch.Tensor, rtol: float = 1e-10) -> int:
    """The number of singular values above ``rtol`` times the largest."""
    require_tensor(jac, "jac", ndim=2)
    s = torch.linalg.svdvals(jac)
    return int((s > rtol * s[0]).sum())


def free_directions(net: MLP, w: torch.Tensor, x: torch.Tensor, rtol: float = 1e-10,
                    readout: torch.Tensor | None = None) -> int:
    """``d − rank J``: the parameter directions that leave every output on the data unchanged to first order.

    With ``readout`` (r, o), only the outputs ``readout @ f(x)`` count: a linear map downstream of the network, so the
    gradients passed back to its output layer span at most ``rank(readout)`` directions (degeneracy of type 2).
    """
    if readout is None:
        return net.n_params - jacobian_rank(output_jacobian(net, w, x), rtol)
    require_tensor(readout, "readout", ndim=2)
    if readout.shape[1] != net.d_out:
        raise ValueError(f"readout must have {net.d_out} columns (the network's outputs), got {tuple(readout.shape)}")
    jac = output_jacobian(net, w, x).reshape(x.shape[0], net.d_out, -1)  # (n, o, d)
    read = torch.einsum("ro,nod->nrd", readout, jac).reshape(-1, net.n_params)  # (n·r, d)
    return net.n_params - jacobian_rank(read, rtol)


def gapped_inputs(n: int, normal: torch.Tensor, offset: float, margin: float,
                  generator: torch.Generator) -> torch.Tensor:
    """``n`` standard-normal inputs with none inside the slab ``|normal · x + offset| < margin``.

    Neurons whose weights are close to ``(normal, offset)`` then all fire on the same inputs: the slab keeps every
    input away from their switching hyperplanes.
    """
    require_tensor(normal, "normal", ndim=1)
    if n < 1 or margin < 0:
        raise ValueError(f"need n ≥ 1 and margin ≥ 0, got {n} and {margin}")
    kept: list[torch.Tensor] = []
    have = 0
    while have < n:
        x = torch.randn(2 * n, normal.shape[0], generator=generator, dtype=torch.float64)
        x = x[(x @ normal + offset).abs() >= margin]
        kept.append(x)
        have += x.shape[0]
    return torch.cat(kept)[:n]


def firing_on_half(net: MLP, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``w`` with each hidden bias moved so that its neuron fires on half of ``x`` (the median pre-activation → 0).

    The counts of free directions assume every neuron switches somewhere on the data; a neuron that is always on or
    always off has more (see the always-on and dead constructions).
    """
    w1, b1, w2, b2 = (t.clone() for t in net.unflatten(w))
    b1 = b1 - (x @ w1.T + b1).median(dim=0).values
    return MLP.flatten(w1, b1, w2, b2)
