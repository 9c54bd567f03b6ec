"""Chapter 5's wing: one model read with the book's four methods side by side.

- :mod:`~helpers.lenses.model`: the model every lens reads, chapter 3's one-layer mod-113 transformer with its ReLU
  MLP replaced by a bilinear one (the architecture is shared: :class:`helpers.lib.modadd.ModAddTransformer`), and a
  small twin (p = 29) for the Gauss–Newton spectrum.
- :mod:`~helpers.lenses.bilinear_lens`: the logits as a linear plus a quadratic form of the residual stream, the
  interaction matrices of classes and of Fourier directions, key frequencies, and reading a residual direction
  through the attention heads.
- :mod:`~helpers.lenses.network`: the model as a function of flat parameters (for chapter 2's SGLD and Gauss–Newton
  code) and its architecture's continuous symmetries as tangent directions.
- :mod:`~helpers.lenses.preimages`: the sites, exact ε-preimages by enumeration, a key frequency's projector and the
  similarity of two sums under a Fourier code.
- :mod:`~helpers.lenses.decoder`: chapter 4's decoder, trained on the lens model.
- :mod:`~helpers.lenses.plots`, :mod:`~helpers.lenses.exercises`: the explorer's drawing and the chapter's exercises.
"""

from __future__ import annotations
