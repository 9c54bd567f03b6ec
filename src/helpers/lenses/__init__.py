"""Chapter 5's wing: one model read with the book's four methods side by side.

- :mod:`~helpers.lenses.model`: the model every lens reads, chapter 3's one-layer mod-113 transformer with its ReLU
  MLP replaced by a bilinear one (the architecture is shared: :class:`helpers.lib.modadd.ModAddTransformer`).
"""

from __future__ import annotations
