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

__all__ = [
    "MLP",
    "PLANTED_KINDS",
    "Planted",
    "firing_on_half",
    "free_directions",
    "gapped_inputs",
    "jacobian_rank",
    "planted",
    "with_duplicated_neurons",
    "with_extra_neurons",
]


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
        require_tensor(w, "w", ndim=1, floating=False)  # no value checks: runs under vmap
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


def _midway(z: torch.Tensor) -> torch.Tensor:
    """Per column of ``z`` (n, k), the value halfway between its two middle order statistics (its lower and upper
    medians), so that a threshold there leaves no input on it: an input exactly at a ReLU's kink would make the
    Jacobian depend on the last bit of rounding, which differs between CPUs."""
    ordered = z.sort(dim=0).values
    half = (z.shape[0] - 1) // 2
    return (ordered[half] + ordered[half + 1]) / 2 if z.shape[0] > 1 else ordered[0] - 1.0


def firing_on_half(net: MLP, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``w`` with each hidden bias moved so that its neuron fires on half of ``x`` (its threshold halfway between the
    two middle pre-activations, so that no input sits on it).

    The counts of free directions assume every neuron switches somewhere on the data; a neuron that is always on or
    always off has more (see the always-on and dead constructions).
    """
    w1, b1, w2, b2 = (t.clone() for t in net.unflatten(w))
    b1 = b1 - _midway(x @ w1.T + b1)
    return MLP.flatten(w1, b1, w2, b2)


def with_extra_neurons(net: MLP, w: torch.Tensor, x: torch.Tensor, k: int, generator: torch.Generator, *,
                       fire: str = "never") -> tuple[MLP, torch.Tensor]:
    """The network with ``k`` more hidden neurons with random incoming and outgoing weights.

    ``fire="never"``: each new neuron's bias is one unit below minus its largest pre-activation on ``x``, so it is
    off on every input of ``x`` with a margin of 1 and the function on ``x`` is unchanged (dead neurons).
    ``fire="half"``: the same new weights, with biases that make each new neuron fire on half of ``x``: the added
    width is used, and the function changes.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if fire not in ("never", "half"):
        raise ValueError(f"fire must be 'never' or 'half', got {fire!r}")
    w1, b1, w2, b2 = net.unflatten(w)
    new_w1 = torch.randn(k, net.d_in, generator=generator, dtype=w.dtype)
    new_w2 = torch.randn(net.d_out, k, generator=generator, dtype=w.dtype)
    z = x.to(w.dtype) @ new_w1.T  # (n, k)
    new_b1 = -z.max(dim=0).values - 1.0 if fire == "never" else -_midway(z)
    wider = MLP(net.d_in, net.hidden + k, net.d_out)
    return wider, MLP.flatten(torch.cat([w1, new_w1]), torch.cat([b1, new_b1]), torch.cat([w2, new_w2], dim=1), b2)


def with_duplicated_neurons(net: MLP, w: torch.Tensor, neurons: list[int],
                            share: float = 0.5) -> tuple[MLP, torch.Tensor]:
    """The same function everywhere with a copy of each listed hidden neuron: the copy has the same incoming weights
    and bias, and the two split the outgoing weights ``share : 1 − share``."""
    if not neurons or len(set(neurons)) != len(neurons) or not all(0 <= j < net.hidden for j in neurons):
        raise ValueError(f"neurons must be distinct hidden indices in [0, {net.hidden}), got {neurons!r}")
    w1, b1, w2, b2 = (t.clone() for t in net.unflatten(w))
    copies = w2[:, neurons] * (1 - share)
    w2[:, neurons] *= share
    wider = MLP(net.d_in, net.hidden + len(neurons), net.d_out)
    return wider, MLP.flatten(torch.cat([w1, w1[neurons]]), torch.cat([b1, b1[neurons]]), torch.cat([w2, copies], dim=1), b2)


class Planted(NamedTuple):
    """A network with a planted degeneracy: parameters ``w`` of ``net`` on inputs ``x``; only ``readout @ f(x)``
    counts when ``readout`` is given."""

    net: MLP
    w: torch.Tensor
    x: torch.Tensor
    readout: torch.Tensor | None


PLANTED_KINDS = ("generic", "plane", "readout", "dead", "always on", "synchronised")


def planted(kind: str, seed: int, k: int = 1) -> Planted:
    """The chapter's networks ``4 → 6 ReLU → 3`` (51 parameters) on 400 Gaussian inputs, each with one degeneracy.

    ``kind``: ``"generic"`` (every neuron fires on half the data); ``"plane"`` (inputs on a 2-d plane: type 1);
    ``"readout"`` (only a rank-``k`` map of the outputs counts: type 2); ``"dead"`` (neuron 0 never fires);
    ``"always on"`` (``k`` neurons fire on every input); ``"synchronised"`` (``k`` neurons share one firing set, the
    data keeping a gap of 1 around their common switching hyperplane: type 3).
    """
    if kind not in PLANTED_KINDS:
        raise ValueError(f"kind must be one of {PLANTED_KINDS}, got {kind!r}")
    if not isinstance(k, int) or not 1 <= k <= 3:
        raise ValueError(f"k must be 1, 2 or 3, got {k!r}")
    net = MLP(4, 6, 3)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(400, 4, generator=g, dtype=torch.float64)
    w = net.random(g)
    readout = None
    if kind == "plane":
        x = torch.randn(400, 2, generator=g, dtype=torch.float64) @ torch.randn(2, 4, generator=g, dtype=torch.float64)
    if kind == "synchronised":
        normal = torch.randn(4, generator=g, dtype=torch.float64)
        normal = normal / normal.norm()
        x = gapped_inputs(400, normal, 0.3, 1.0, g)
    w = firing_on_half(net, w, x)
    w1, b1, w2, b2 = (t.clone() for t in net.unflatten(w))
    if kind == "readout":
        readout = torch.randn(k, 3, generator=g, dtype=torch.float64)
    elif kind == "dead":
        b1[0] = -100.0
    elif kind == "always on":
        b1[:k] = 100.0
    elif kind == "synchronised":
        w1[:k] = normal + 0.05 * torch.randn(k, 4, generator=g, dtype=torch.float64)
        b1[:k] = 0.3 + 0.05 * torch.randn(k, generator=g, dtype=torch.float64)
    return Planted(net, MLP.flatten(w1, b1, w2, b2), x, readout)
