"""Chapter 2's wing: degeneracy in the loss landscape (Bushnaq et al. 2024, arXiv 2405.10927).

- :mod:`~helpers.degeneracy.volume`: loss potentials with a known learning coefficient, the volume of their
  low-loss sets by Monte Carlo, and the log–log slope that reads λ off it;
- :mod:`~helpers.degeneracy.behaviour`: the behavioural loss ``L_B(w | w*)`` of a network against its trained self,
  its Gauss–Newton Hessian at ``w*`` and the effective parameter count read from that spectrum;
- :mod:`~helpers.degeneracy.counts`: small ReLU networks with a known amount of each kind of degeneracy, and the
  number of free directions measured as the rank deficiency of the output–parameter Jacobian on the data;
- :mod:`~helpers.degeneracy.sgld`: the local learning coefficient estimated with localised SGLD, vectorised over
  chains.
"""

from __future__ import annotations
