"""helpers.lenses: chapter 5's model is the mod-add transformer with a bilinear MLP, and its cache computes the sum."""

from __future__ import annotations

import torch

from helpers.lenses.model import LENS_CONFIG, load_lens_model
from helpers.lib import modadd


def test_lens_model_differs_from_chapter_3_only_in_its_mlp_and_steps():
    differing = {k for k in LENS_CONFIG if LENS_CONFIG[k] != modadd.MODADD_CONFIG.get(k)}
    assert differing == {"mlp", "steps"} and LENS_CONFIG["mlp"] == "bilinear"


def test_cached_lens_model_adds_modulo_p_on_pairs_it_never_saw():
    model, tokens, labels = load_lens_model()
    assert model.mlp_kind == "bilinear" and not hasattr(model, "b_in")
    _, test = modadd.split_pairs(LENS_CONFIG["p"], LENS_CONFIG["train_fraction"], LENS_CONFIG["split_seed"])
    a, b = tokens[test, 0], tokens[test, 1]
    assert torch.equal(labels[test], (a + b) % LENS_CONFIG["p"])  # the labels are the sums, computed here again
    assert float((model(tokens[test]).argmax(-1) == (a + b) % LENS_CONFIG["p"]).double().mean()) >= 0.99
