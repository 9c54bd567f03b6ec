"""Chapter 1's wing: bilinear MLPs read from their weights (Pearce et al. 2024, arXiv 2410.08417).

- :mod:`~helpers.bilinear.tensors`: the bilinear classifier, its third-order tensor, interaction matrices, their
  eigendecompositions and the logits rebuilt from them, HOSVD, biases folded in, pseudo-inverse masks;
- :mod:`~helpers.bilinear.train`: the chapter's training runs and their configurations (MNIST, the similarity task,
  the Boolean toys);
- :mod:`~helpers.bilinear.sentiment`: the language toy (a negation AND gate over a small vocabulary);
- :mod:`~helpers.bilinear.exercises`: the chapter's exercises and their reference solutions.

The names of :mod:`~helpers.bilinear.tensors` are importable from ``helpers.bilinear`` itself.
"""

from __future__ import annotations

from .tensors import (
    BilinearClassifier,
    Eigen,
    bilinear_tensor,
    class_interaction_matrices,
    eigen_logits,
    eigendecompose,
    fold_bias,
    hosvd,
    interaction_matrix,
    pinv_masks,
    pixel_vectors,
)

__all__ = [
    "BilinearClassifier",
    "Eigen",
    "bilinear_tensor",
    "class_interaction_matrices",
    "eigen_logits",
    "eigendecompose",
    "fold_bias",
    "hosvd",
    "interaction_matrix",
    "pinv_masks",
    "pixel_vectors",
]
