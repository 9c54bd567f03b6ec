"""helpers.models, helpers.data and helpers.training: the digits MLP, its data and a deterministic training loop."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from helpers import workbench
from helpers.checkpoints import train_fn_path
from helpers.data import Split, digits
from helpers.models import relu_mlp
from helpers.training import accuracy, progress, train_classifier

METRICS = {"train_accuracy", "test_accuracy", "test_loss"}


@pytest.fixture(autouse=True)
def quiet_progress(monkeypatch):
    monkeypatch.setenv("BOOK_PROGRESS", "0")


@pytest.fixture(scope="module")
def split() -> Split:
    return digits()


@pytest.fixture(scope="module")
def small_split(split) -> Split:
    """A few hundred examples, enough to see learning in a fraction of a second."""
    return Split(split.x_train[:400], split.y_train[:400], split.x_test[:200], split.y_test[:200])


# --------------------------------------------------------------------------------------------- models


def test_relu_mlp_layer_names_and_shapes():
    model = relu_mlp([64, 32, 16, 10])
    assert [name for name, _ in model.named_children()] == ["fc0", "act0", "fc1", "act1", "fc2"]
    assert model.fc0.weight.shape == (32, 64)
    assert model.fc1.weight.shape == (16, 32)
    assert model.fc2.weight.shape == (10, 16)
    assert isinstance(model.act0, nn.ReLU) and isinstance(model.act1, nn.ReLU)
    assert model(torch.zeros(5, 64)).shape == (5, 10)


def test_relu_mlp_has_no_activation_after_the_last_layer():
    torch.manual_seed(0)
    model = relu_mlp([3, 4, 2])
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model.fc1(torch.relu(model.fc0(x)))
        out = model(x)
    assert torch.equal(out, expected)
    assert (out < 0).any()  # the logits are not clipped at zero


def test_relu_mlp_single_layer_and_no_bias():
    model = relu_mlp([4, 2], bias=False)
    assert [name for name, _ in model.named_children()] == ["fc0"]
    assert model.fc0.bias is None
    assert sum(p.numel() for p in model.parameters()) == 8


@pytest.mark.parametrize("sizes", [[64], [], [64, 0, 10], [64, -3], [64, 2.5, 10], "64"])
def test_relu_mlp_rejects_bad_sizes(sizes):
    with pytest.raises(ValueError, match="at least two positive ints"):
        relu_mlp(sizes)


def test_relu_mlp_init_follows_the_torch_seed():
    torch.manual_seed(3)
    a = relu_mlp([8, 4, 2]).state_dict()
    torch.manual_seed(3)
    b = relu_mlp([8, 4, 2]).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------------------------- data


def test_digits_shapes_dtypes_and_range(split):
    assert split.x_train.shape == (1437, 64) and split.x_test.shape == (360, 64)
    assert split.y_train.shape == (1437,) and split.y_test.shape == (360,)
    assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    for x in (split.x_train, split.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    assert set(split.y_train.tolist()) == set(range(10)) == set(split.y_test.tolist())
    assert repr(split) == "Split(train=(1437, 64), test=(360, 64), classes=10)"


def test_digits_split_is_stratified(split):
    train_counts = torch.bincount(split.y_train, minlength=10)
    test_counts = torch.bincount(split.y_test, minlength=10)
    totals = train_counts + test_counts
    assert int(totals.sum()) == 1797
    assert ((test_counts.double() - 0.2 * totals.double()).abs() <= 1).all()


def test_digits_split_is_fixed_by_seed(split):
    again = digits(seed=0)
    assert torch.equal(again.x_train, split.x_train) and torch.equal(again.y_test, split.y_test)
    other = digits(seed=1)
    assert not torch.equal(other.y_train, split.y_train)


def test_digits_train_and_test_are_disjoint(split):
    train_rows = {row.tobytes() for row in split.x_train.numpy()}
    test_rows = [row.tobytes() for row in split.x_test.numpy()]
    # a few digit images occur twice in the data set, so allow a handful of exact duplicates
    assert sum(row in train_rows for row in test_rows) <= 5


def test_digits_test_fraction():
    s = digits(test_fraction=0.5)
    assert s.x_test.shape[0] in (898, 899) and s.x_train.shape[0] + s.x_test.shape[0] == 1797


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_digits_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        digits(test_fraction=fraction)


# --------------------------------------------------------------------------------------------- training


def test_accuracy_known_answer():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, -1.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1, 0])
    assert accuracy(nn.Identity(), logits, labels) == 0.5


def test_accuracy_rejects_mismatched_or_empty():
    with pytest.raises(ValueError, match="same, non-zero number of rows"):
        accuracy(nn.Identity(), torch.zeros(3, 2), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="same, non-zero number of rows"):
        accuracy(nn.Identity(), torch.zeros(0, 2), torch.zeros(0, dtype=torch.int64))


def test_progress_yields_every_item():
    assert list(progress(range(5), desc="x")) == [0, 1, 2, 3, 4]


def test_progress_in_a_notebook_is_a_widget_not_stderr(monkeypatch, capsys):
    """In Jupyter a text bar on stderr draws red boxes: the notebook gets tqdm's widget bar instead."""
    import tqdm.notebook

    from helpers import training

    made = []
    monkeypatch.setattr(training, "in_notebook", lambda: True)
    monkeypatch.setattr(tqdm.notebook, "tqdm", lambda it, **kw: made.append(kw) or it)
    monkeypatch.setenv("BOOK_PROGRESS", "1")
    assert list(progress(range(3), desc="bar")) == [0, 1, 2]
    assert made and made[0]["desc"] == "bar"
    assert capsys.readouterr().err == ""
    made.clear()
    monkeypatch.setenv("BOOK_PROGRESS", "0")  # make execute and make test hide it, widget or not
    assert list(progress(range(3), desc="bar")) == [0, 1, 2] and not made


def test_in_notebook_is_false_outside_a_kernel():
    from helpers.training import in_notebook

    assert in_notebook() is False


def _train(split: Split, seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    torch.manual_seed(seed)
    model = relu_mlp([64, 16, 10])
    metrics = train_classifier(model, split, epochs=2, batch_size=32, lr=1e-2, weight_decay=1e-2, seed=seed)
    return model.state_dict(), metrics


def test_training_learns_and_reports_metrics(small_split):
    _, metrics = _train(small_split)
    assert set(metrics) == METRICS
    assert all(isinstance(v, float) for v in metrics.values())
    assert 0.5 < metrics["train_accuracy"] <= 1.0  # chance is 0.1
    assert 0.5 < metrics["test_accuracy"] <= 1.0
    assert 0.0 < metrics["test_loss"] < np.log(10)  # below the loss of a uniform guess


def test_training_is_deterministic(small_split):
    weights_a, metrics_a = _train(small_split, seed=0)
    weights_b, metrics_b = _train(small_split, seed=0)
    assert metrics_a == metrics_b
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    weights_c, _ = _train(small_split, seed=1)
    assert not torch.equal(weights_a["fc0.weight"], weights_c["fc0.weight"])


def test_training_leaves_the_model_in_eval_mode(small_split):
    model = relu_mlp([64, 10])
    train_classifier(model, small_split, epochs=1, batch_size=100, lr=1e-2, weight_decay=0.0, seed=0)
    assert not model.training


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"batch_size": 0}, {"lr": 0.0}, {"lr": -1.0}, {"weight_decay": -0.1}])
def test_training_rejects_bad_arguments(small_split, bad):
    kwargs = {"epochs": 1, "batch_size": 32, "lr": 1e-2, "weight_decay": 0.0, "seed": 0, **bad}
    with pytest.raises(ValueError, match="epochs and batch_size must be >= 1"):
        train_classifier(relu_mlp([64, 10]), small_split, **kwargs)


# --------------------------------------------------------------------------------------------- the workbench MLP


def test_workbench_config_is_cacheable():
    assert json.loads(json.dumps(workbench.MLP_CONFIG)) == workbench.MLP_CONFIG
    assert set(workbench.MLP_TOLERANCES) == METRICS
    assert train_fn_path(workbench.train_digits_mlp) == "helpers.workbench:train_digits_mlp"


def test_train_digits_mlp_tiny_config():
    config = {**workbench.MLP_CONFIG, "sizes": [64, 8, 10], "epochs": 1}
    tensors, metrics = workbench.train_digits_mlp(config)
    assert set(tensors) == {"fc0.weight", "fc0.bias", "fc1.weight", "fc1.bias"}
    assert tensors["fc0.weight"].shape == (8, 64)
    assert set(metrics) == set(workbench.MLP_TOLERANCES)
    again, metrics_again = workbench.train_digits_mlp(config)
    assert metrics_again == metrics
    assert all(torch.equal(tensors[k], again[k]) for k in tensors)


def test_train_classifier_trains_on_one_thread_whatever_the_callers_count():
    """A cached model's weights must not depend on the thread count of whoever trains it (a test worker, a notebook
    with BOOK_THREADS=4): bilinear_similarity's cache once moved by 6e-6 between one and two threads."""
    seen = []

    class Probe(nn.Linear):
        def forward(self, x):
            seen.append(torch.get_num_threads())
            return super().forward(x)

    torch.manual_seed(0)
    split = Split(torch.randn(32, 4), torch.randint(0, 3, (32,)), torch.randn(8, 4), torch.randint(0, 3, (8,)))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train_classifier(Probe(4, 3), split, epochs=1, batch_size=16, lr=1e-2, weight_decay=0.0, seed=0)
        assert torch.get_num_threads() == 2  # restored
    finally:
        torch.set_num_threads(before)
    assert seen and set(seen) == {1}, seen


def test_one_thread_runs_the_block_on_one_thread_and_restores_the_count():
    import torch

    from helpers.training import one_thread

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with one_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError):
            with one_thread():
                raise RuntimeError("inside")
        assert torch.get_num_threads() == 2  # restored even when the block fails
    finally:
        torch.set_num_threads(before)
