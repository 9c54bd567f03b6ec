"""Chapter 4's decoder, trained on the lens model: ``p(a, b | z, site)`` proposes inputs for an activation ``z`` at
``resid_mid`` or ``pre_unembed`` (both d_model wide, so one decoder serves both). A sequence is ``= a b``: the
``=`` token (id p) is the decoder's given first token, then the two operands."""

from __future__ import annotations

import torch
from torch import nn

from ..checkpoints import Chaotic, load_or_train
from ..inversion.decoder import Decoder
from ..inversion.probed import _train_steps
from ..lib import modadd
from .model import LENS_CONFIG, load_lens_model
from .preimages import site_activations

__all__ = ["DECODER_SITES", "LENS_DECODER_CONFIG", "decoder_sequences", "load_lens_decoder", "train_lens_decoder"]

#: The sites the decoder is conditioned on (the residual stream before and after the MLP).
DECODER_SITES = ("resid_mid", "pre_unembed")

#: A smaller decoder than chapter 4's (two tokens to propose, not thirteen), trained on the model's training pairs.
LENS_DECODER_CONFIG: dict = {"probed": "lens_modadd_bilinear", "d_model": 64, "n_layers": 2, "n_heads": 4,
                             "n_cond_blocks": 2, "d_cond": 128, "steps": 1500, "batch_size": 256, "lr": 3e-3,
                             "warmup": 100, "weight_decay": 0.01, "seed": 0}
LENS_DECODER_TOLERANCES = {"eval_loss": 0.2, "shuffled_eval_loss": 0.3}


def decoder_sequences(tokens: torch.Tensor, p: int) -> torch.Tensor:
    """``= a b`` (n, 3) for model inputs ``a b =`` (n, 3)."""
    return torch.cat([torch.full_like(tokens[:, :1], p), tokens[:, :2]], dim=1)


def _build(config: dict, tensors: dict[str, torch.Tensor] | None = None) -> Decoder:
    p, d = LENS_CONFIG["p"], LENS_CONFIG["d_model"]
    decoder = Decoder(p + 1, 3, d, len(DECODER_SITES), d_model=config["d_model"], n_layers=config["n_layers"],
                      n_heads=config["n_heads"], n_cond_blocks=config["n_cond_blocks"], d_cond=config["d_cond"])
    if tensors is not None:
        decoder.load_state_dict(tensors)
    return decoder


def _pairs(rows: torch.Tensor, acts: dict[str, torch.Tensor], tokens: torch.Tensor, n: int, g: torch.Generator):
    """``n`` random (sequence, activation, site id) triples from the inputs ``rows``."""
    chosen = rows[torch.randint(0, rows.shape[0], (n,), generator=g)]
    site = torch.randint(0, len(DECODER_SITES), (n,), generator=g)
    z = torch.stack([acts[s] for s in DECODER_SITES])[site, chosen].float()  # (n, d)
    return decoder_sequences(tokens[chosen], LENS_CONFIG["p"]), z, site


def _data():
    """The lens model's sites for all p² inputs, its tokens, and its training and held-out rows."""
    model, tokens, _ = load_lens_model()
    acts = site_activations(model, tokens)
    train, test = modadd.split_pairs(LENS_CONFIG["p"], LENS_CONFIG["train_fraction"], LENS_CONFIG["split_seed"])
    return acts, tokens, train, test


def train_lens_decoder(config: dict) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Train the decoder on (activation, input) pairs of the model's training inputs; return its weights and the
    held-out loss with the true activations and with activations shuffled between the pairs."""
    acts, tokens, train, test = _data()
    torch.manual_seed(config["seed"])
    decoder = _build(config)
    g = torch.Generator().manual_seed(config["seed"])
    loss_fn = nn.CrossEntropyLoss()
    p = LENS_CONFIG["p"]

    def batch() -> torch.Tensor:
        seq, z, site = _pairs(train, acts, tokens, config["batch_size"], g)
        return loss_fn(decoder(seq[:, :-1], z, site).reshape(-1, p + 1), seq[:, 1:].reshape(-1))

    _train_steps(decoder, batch, config["steps"], config["lr"], config["weight_decay"], config["warmup"],
                 cosine=True, desc="lens decoder")
    seq, z, site = _pairs(test, acts, tokens, 2048, torch.Generator().manual_seed(1))
    shuffled = torch.randperm(z.shape[0], generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        metrics = {name: float(loss_fn(decoder(seq[:, :-1], zz, site).reshape(-1, p + 1), seq[:, 1:].reshape(-1)))
                   for name, zz in (("eval_loss", z), ("shuffled_eval_loss", z[shuffled]))}
    return {k: v.detach().clone() for k, v in decoder.state_dict().items()}, metrics


def lens_decoder_predictions(tensors: dict[str, torch.Tensor], config: dict) -> torch.Tensor:
    """The decoder's most likely first operand on 2,048 held-out (activation, input) pairs."""
    acts, tokens, _, test = _data()
    decoder = _build(config, tensors).eval()
    seq, z, site = _pairs(test, acts, tokens, 2048, torch.Generator().manual_seed(1))
    with torch.no_grad():
        return decoder(seq[:, :1], z, site)[:, 0].argmax(-1)


#: Another CPU's retraining has other weights; its guesses of the first operand must mostly agree (where the
#: activation leaves the operand open, as after the MLP, a guess is a coin toss among equally likely ones).
LENS_DECODER_CHAOTIC = Chaotic(lens_decoder_predictions, min_agreement=0.7)


def load_lens_decoder() -> tuple[Decoder, dict[str, float]]:
    """The lens model's decoder from the cache (trained on first use), in float32, and its metrics."""
    ckpt = load_or_train("lens_decoder", LENS_DECODER_CONFIG, train_lens_decoder,
                         tolerances=LENS_DECODER_TOLERANCES, chaotic=LENS_DECODER_CHAOTIC)
    return _build(LENS_DECODER_CONFIG, ckpt.tensors).eval().requires_grad_(False), ckpt.metrics
