"""Chapter 4's wing: InversionView (Huang et al. 2024, arXiv 2405.17653), built from scratch.

- :mod:`~helpers.inversion.tasks`: 3-digit addition and character counting as token sequences;
- :mod:`~helpers.inversion.transformer`: the probed transformer, with activation sites read and patched by name;
- :mod:`~helpers.inversion.probed`: training and evaluating the two probed models;
- :mod:`~helpers.inversion.distance`: the normalised distance and the ε-preimage's in-ball filter.
"""

from __future__ import annotations
