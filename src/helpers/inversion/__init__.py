"""Chapter 4's wing: InversionView (Huang et al. 2024, arXiv 2405.17653), built from scratch.

- :mod:`~helpers.inversion.tasks`: 3-digit addition and character counting as token sequences;
- :mod:`~helpers.inversion.transformer`: the probed transformer, with activation sites read and patched by name;
- :mod:`~helpers.inversion.probed`: training and evaluating the two probed models;
- :mod:`~helpers.inversion.distance`: the normalised distance and the ε-preimage's in-ball filter;
- :mod:`~helpers.inversion.decoder`: the decoder conditioned on an activation and its site, and its training;
- :mod:`~helpers.inversion.decoder_steps`: the decoder run a position at a time with its keys and values kept;
- :mod:`~helpers.inversion.sampler`: propose candidates with the decoder, verify each by re-running the probed model;
- :mod:`~helpers.inversion.patching`: cumulative activation patching with contrast inputs;
- :mod:`~helpers.inversion.viewer`: the verified samples as HTML rows, shaded, with a rule at ε;
- :mod:`~helpers.inversion.analysis`: every addition problem's distance to a query (the exact ε-ball), which query
  properties a ball or the in-ball samples keep, and the uniform prior over the 810,000 problems;
- :mod:`~helpers.inversion.ranking`: the decoder's ranking of all 810,000 problems, exactly, by branch and bound
  (completeness);
- :mod:`~helpers.inversion.constructed`: counting problems with one property changed, to test a reading;
- :mod:`~helpers.inversion.exercises`: the chapter's exercises (distance and in-ball filter, one patch, reading a
  preimage).
"""

from __future__ import annotations
