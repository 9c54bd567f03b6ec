"""Modular addition ``(a + b) mod p`` with a one-layer transformer without LayerNorm (the LIB chapter's model 2).

The model reads three tokens ``a, b, =`` (``=`` is token ``p``) and predicts ``(a + b) mod p`` at the last
position. It is split at the three residual-stream *node layers* the LIB paper uses:

====================  ===============================================  =========================
node layer            what it is                                       shape per example
====================  ===============================================  =========================
``embed``             token + position embedding, all 3 positions       (3, d_model)
``resid_mid``         residual after attention, last position           (1, d_model)
``pre_unembed``       residual after the MLP, last position             (1, d_model)
``logits``            output logits (left unrotated by LIB)             (1, p)
====================  ===============================================  =========================

Each *section* between two node layers is a function of one example's activations with a constant coordinate
appended (``(positions, d + 1)``, the last entry 1): the MLP biases are multiplied by that coordinate, which is
how a bias is *folded* into a linear map. Attention and unembedding have no biases here. Sections accept any
leading batch dimensions, so they run on one example (for ``torch.func``) or on a batch alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .._checks import require_tensor
from ..checkpoints import Chaotic
from ..training import one_thread, progress
from .bases import augment
from .closed_forms import (ClosedFormSection, affine_section, causal_attention_section, residual_bilinear_section,
                           residual_mlp_section)

__all__ = [
    "FOURIER_KINDS",
    "FourierLabel",
    "MODADD_CHAOTIC",
    "MODADD_CONFIG",
    "MODADD_TOLERANCES",
    "MLP_KINDS",
    "ModAddTransformer",
    "NODE_LAYERS",
    "build_model",
    "augment",
    "fourier_label",
    "load_model",
    "pairs",
    "split_pairs",
    "held_out_predictions",
    "train_modadd",
]

#: The chapter's model: p = 113, d_model 64, 4 heads, d_mlp 256, half of the pairs for training.
MODADD_CONFIG: dict[str, Any] = {
    "p": 113,
    "d_model": 64,
    "n_heads": 4,
    "d_mlp": 256,
    "train_fraction": 0.5,
    "steps": 800,
    "lr": 3e-3,
    "weight_decay": 1.0,
    "betas": [0.9, 0.98],
    "warmup": 10,
    "seed": 0,
    "split_seed": 0,
}
MODADD_TOLERANCES = {"train_accuracy": 0.005, "test_accuracy": 0.01, "test_loss": 0.05}

#: The MLPs a mod-add transformer can have: ReLU (chapter 3) or bilinear (chapter 5), ``x + ((x W) ⊙ (x V)) W_out``.
MLP_KINDS = ("relu", "bilinear")

#: Names of the node layers, input side first.
NODE_LAYERS = ("embed", "resid_mid", "pre_unembed", "logits")


def pairs(p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All ``p²`` inputs as tokens (p², 3) ``[a, b, p]`` in row-major (a, b) order, and labels ``(a + b) mod p``."""
    if not isinstance(p, int) or p < 2:
        raise ValueError(f"p must be an int >= 2, got {p!r}")
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    a, b = a.reshape(-1), b.reshape(-1)
    tokens = torch.stack([a, b, torch.full_like(a, p)], dim=1)
    return tokens, (a + b) % p


def split_pairs(p: int, train_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (into :func:`pairs`) of the training and test pairs: a random split fixed by ``seed``."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must lie strictly between 0 and 1, got {train_fraction}")
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n_train = round(train_fraction * p * p)
    return order[:n_train].sort().values, order[n_train:].sort().values


class ModAddTransformer(nn.Module):
    """One attention layer (causal, ``n_heads`` heads) and one MLP on a residual stream, no LayerNorm.

    The MLP is ``relu`` (``x + relu(x W_in + b_in) W_out + b_out``) or ``bilinear`` (``x + ((x W_in) ⊙ (x V_in))
    W_out``, no biases: the residual already carries a constant); everything else is shared. Only the last
    position's output is ever used, so attention is computed for the last query only (the earlier positions'
    attention outputs cannot reach the logits of a one-layer model).
    """

    def __init__(self, p: int, d_model: int, n_heads: int, d_mlp: int, mlp: str = "relu") -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be a multiple of n_heads ({n_heads})")
        if mlp not in MLP_KINDS:
            raise ValueError(f"mlp must be one of {MLP_KINDS}, got {mlp!r}")
        self.p, self.d_model, self.n_heads, self.d_head = p, d_model, n_heads, d_model // n_heads
        self.mlp_kind = mlp
        d_head = self.d_head

        def init(*shape: int, fan_in: int) -> nn.Parameter:
            return nn.Parameter(torch.randn(*shape) / math.sqrt(fan_in))

        self.W_E = init(p + 1, d_model, fan_in=d_model)
        self.W_pos = init(3, d_model, fan_in=d_model)
        self.W_Q = init(n_heads, d_model, d_head, fan_in=d_model)
        self.W_K = init(n_heads, d_model, d_head, fan_in=d_model)
        self.W_V = init(n_heads, d_model, d_head, fan_in=d_model)
        self.W_O = init(n_heads, d_head, d_model, fan_in=d_model)
        self.W_in = init(d_model, d_mlp, fan_in=d_model)
        if mlp == "relu":
            self.b_in = nn.Parameter(torch.zeros(d_mlp))
            self.W_out = init(d_mlp, d_model, fan_in=d_mlp)
            self.b_out = nn.Parameter(torch.zeros(d_model))
        else:
            self.V_in = init(d_model, d_mlp, fan_in=d_model)
            self.W_out = init(d_mlp, d_model, fan_in=d_mlp)
        self.W_U = init(d_model, p, fan_in=d_model)

    # --- node layers and sections --------------------------------------------------------------------------
    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Node layer ``embed``: (n, 3) tokens → (n, 3, d_model) residual stream."""
        if tokens.ndim != 2 or tokens.shape[1] != 3:
            raise ValueError(f"tokens must have shape (n, 3), got {tuple(tokens.shape)}")
        return self.W_E[tokens] + self.W_pos

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Section ``embed → resid_mid``: (..., 3, d + 1) → (..., 1, d), attention plus the residual."""
        x = x[..., :-1]  # (..., 3, d); no attention biases, the constant is not used
        q = torch.einsum("...d,hde->...he", x[..., -1, :], self.W_Q)  # (..., h, e) last query only
        k = torch.einsum("...sd,hde->...hse", x, self.W_K)  # (..., h, s, e)
        v = torch.einsum("...sd,hde->...hse", x, self.W_V)  # (..., h, s, e)
        scores = torch.einsum("...he,...hse->...hs", q, k) / math.sqrt(self.d_head)  # the last query sees all
        z = torch.einsum("...hs,...hse->...he", scores.softmax(dim=-1), v)  # (..., h, e)
        out = x[..., -1, :] + torch.einsum("...he,hed->...d", z, self.W_O)  # (..., d)
        return out.unsqueeze(-2)

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        """Section ``resid_mid → pre_unembed``: (..., 1, d + 1) → (..., 1, d), the MLP plus the residual."""
        const, x = x[..., -1:], x[..., :-1]
        if self.mlp_kind == "bilinear":
            return x + ((x @ self.W_in) * (x @ self.V_in)) @ self.W_out
        hidden = torch.relu(x @ self.W_in + const * self.b_in)  # bias folded: multiplied by the constant
        return x + hidden @ self.W_out + const * self.b_out

    def unembed(self, x: torch.Tensor) -> torch.Tensor:
        """Section ``pre_unembed → logits``: (..., 1, d + 1) → (..., 1, p)."""
        return x[..., :-1] @ self.W_U

    def sections(self) -> list[ClosedFormSection]:
        """The three sections, in order, as functions of augmented activations that know their Jacobians in closed
        form (:mod:`helpers.lib.closed_forms`; the LIB code uses them instead of autograd). They compute what
        :meth:`attention`, :meth:`mlp` and :meth:`unembed` compute (tested), in float64."""
        w = {name: t.detach() for name, t in self.named_parameters()}
        mlp = (residual_bilinear_section(w["W_in"], w["V_in"], w["W_out"], name="mlp") if self.mlp_kind == "bilinear"
               else residual_mlp_section(w["W_in"], w["b_in"], w["W_out"], w["b_out"], name="mlp"))
        return [
            causal_attention_section(w["W_Q"], w["W_K"], w["W_V"], w["W_O"], queries="last", name="attention"),
            mlp,
            affine_section(w["W_U"], name="unembed"),
        ]

    def node_activations(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """Activations ``[embed (n,3,d), resid_mid (n,1,d), pre_unembed (n,1,d), logits (n,1,p)]``."""
        acts = [self.embed(tokens)]
        for section in (self.attention, self.mlp, self.unembed):
            acts.append(section(augment(acts[-1])))
        return acts

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (n, p) at the last position."""
        return self.node_activations(tokens)[-1][:, 0]


def build_model(config: dict[str, Any]) -> ModAddTransformer:
    """The untrained model of a config (its ``mlp`` entry, when there is one, picks the MLP; ReLU otherwise)."""
    return ModAddTransformer(config["p"], config["d_model"], config["n_heads"], config["d_mlp"],
                             mlp=config.get("mlp", "relu"))


def _accuracy(model: ModAddTransformer, tokens: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(tokens).argmax(-1) == labels).float().mean())


def train_modadd(config: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Full-batch AdamW with a short linear warm-up on the training pairs; return weights and metrics."""
    torch.manual_seed(config["seed"])
    p = config["p"]
    model = build_model(config)
    tokens, labels = pairs(p)
    train, test = split_pairs(p, config["train_fraction"], config["split_seed"])
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"], betas=tuple(config["betas"])
    )
    warmup = config["warmup"]
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: min(1.0, (step + 1) / warmup))
    loss_fn = nn.CrossEntropyLoss()
    # Once the loss is tiny, gradients underflow into denormal floats, which the CPU handles up to 3x slower;
    # flushing them to zero keeps every step equally fast (and the run deterministic).
    # Grokking is chaotic: a different summation order (another thread count) ends in different weights with the
    # same accuracy. One thread makes a retraining reproduce the cached weights.
    torch.set_flush_denormal(True)
    try:
        with one_thread():
            for _ in progress(range(config["steps"]), desc="mod-add transformer"):
                loss = loss_fn(model(tokens[train]), labels[train])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
    finally:
        torch.set_flush_denormal(False)
    model.eval()
    with torch.no_grad():
        test_loss = float(loss_fn(model(tokens[test]), labels[test]))
    metrics = {
        "train_accuracy": _accuracy(model, tokens[train], labels[train]),
        "test_accuracy": _accuracy(model, tokens[test], labels[test]),
        "test_loss": test_loss,
    }
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, metrics


def held_out_predictions(tensors: dict[str, torch.Tensor], config: dict[str, Any]) -> torch.Tensor:
    """The predicted sums ``(n_test,)`` of the model with weights ``tensors`` on the pairs its training never saw.

    This is how the honest-cache test compares a retraining with the cache on another platform: grokking is chaotic,
    so weights trained with other rounding end elsewhere, but they must compute the same function.
    """
    model = build_model(config)
    model.load_state_dict(tensors)
    tokens, _ = pairs(config["p"])
    _, test = split_pairs(config["p"], config["train_fraction"], config["split_seed"])
    with torch.no_grad():
        return model.eval()(tokens[test]).argmax(-1)


#: Grokking is chaotic: retrained on another CPU the model reached test accuracy 1.000 with entirely different weights.
#: Two models that both grokked agree wherever both are right, so ≥ 99.5 % agreement on the held-out pairs is what
#: "the same function" can promise.
MODADD_CHAOTIC = Chaotic(held_out_predictions, min_agreement=0.995)


def load_model(name: str = "modadd_transformer", config: dict[str, Any] | None = None) \
        -> tuple[ModAddTransformer, torch.Tensor, torch.Tensor]:
    """A cached mod-add model in float64, read-only, with all ``p²`` token triples and their labels: chapter 3's
    (the default) or another config's, trained with :func:`train_modadd` on first use."""
    from .. import checkpoints

    ckpt = checkpoints.load_or_train(name, MODADD_CONFIG if config is None else config, train_modadd,
                                     tolerances=MODADD_TOLERANCES, chaotic=MODADD_CHAOTIC)
    c = ckpt.config
    model = build_model(c)
    model.load_state_dict(ckpt.tensors)
    model = model.double().eval().requires_grad_(False)
    tokens, labels = pairs(c["p"])
    return model, tokens, labels


#: The kinds of Fourier term a feature over the (a, b) grid is matched against ("cos" stands for any phase).
FOURIER_KINDS = ("cos(wa)+cos(wb)", "cos(wa)cos(wb)", "cos(w(a+b))", "cos(w(a-b))")


@dataclass(frozen=True)
class FourierLabel:
    """The best Fourier description of one feature over the (a, b) grid.

    ``power[kind, w - 1]`` is the share of the feature's non-constant power (|2-D DFT|², both signs of each
    frequency) explained by each kind of term at frequency ``w`` = 1 … (p − 1)/2; ``purity`` the largest share.
    """

    kind: str
    frequency: int
    purity: float
    power: np.ndarray

    def __str__(self) -> str:
        return f"{self.kind.replace('w', str(self.frequency))} ({self.purity:.0%})"


def fourier_label(grid: torch.Tensor) -> FourierLabel:
    """Label a function of (a, b) given as a (p, p) grid by its dominant Fourier term.

    The 2-D DFT splits the power at frequency ``w`` into three places: the axes ``(±w, 0), (0, ±w)`` (terms in
    ``a`` or ``b`` alone), the diagonal ``(w, w), (−w, −w)`` (``cos(w(a+b))``) and the anti-diagonal
    ``(w, −w), (−w, w)`` (``cos(w(a−b))``). A product ``cos(wa)cos(wb)`` puts equal power on the diagonal and
    the anti-diagonal, so the matched part ``2 · min(diagonal, anti-diagonal)`` is labelled a product and only
    the excess of either a sum or a difference.
    """
    grid = require_tensor(grid, "grid", ndim=2)
    p = grid.shape[0]
    if grid.shape != (p, p) or p < 3:
        raise ValueError(f"grid must be square (p, p) with p >= 3, got {tuple(grid.shape)}")
    power = torch.fft.fft2(grid.to(torch.float64)).abs().pow(2).numpy()
    total = power.sum() - power[0, 0]
    ws = np.arange(1, (p - 1) // 2 + 1)
    axis = power[ws, 0] + power[p - ws, 0] + power[0, ws] + power[0, p - ws]
    diag = power[ws, ws] + power[p - ws, p - ws]
    anti = power[ws, p - ws] + power[p - ws, ws]
    matched = np.minimum(diag, anti)
    shares = np.stack([axis, 2 * matched, diag - matched, anti - matched]) / max(total, np.finfo(float).tiny)
    kind, w = np.unravel_index(np.argmax(shares), shares.shape)
    return FourierLabel(FOURIER_KINDS[kind], int(ws[w]), float(shares[kind, w]), shares)
