"""Chapter 2's wing: degeneracy in the loss landscape (Bushnaq et al. 2024, arXiv 2405.10927).

- :mod:`~helpers.degeneracy.volume`: loss potentials with a known learning coefficient, the volume of their
  low-loss sets by Monte Carlo, and the log–log slope that reads λ off it;
- :mod:`~helpers.degeneracy.behaviour`: the behavioural loss ``L_B(w | w*)`` of a network against its trained self,
  its Gauss–Newton Hessian at ``w*`` and the effective parameter count read from that spectrum;
- :mod:`~helpers.degeneracy.counts`: small ReLU networks with a known amount of each kind of degeneracy, and the
  number of free directions measured as the rank deficiency of the output–parameter Jacobian on the data;
- :mod:`~helpers.degeneracy.sgld`: the local learning coefficient estimated with localised SGLD, vectorised over
  chains, and the exact answer it should give on a quadratic loss;
- :mod:`~helpers.degeneracy.networks`: the chapter's trained networks (a small digits MLP, a block-diagonal and a
  dense MLP on a modular task) and their training functions;
- :mod:`~helpers.degeneracy.interaction`: the Interaction Basis as a thin use of :mod:`helpers.lib`, and the
  sparsity and modularity measures the chapter compares bases with;
- :mod:`~helpers.degeneracy.exercises`: the chapter's exercises.
"""

from __future__ import annotations
