"""helpers.bilinear at its edges: every refusal in its whole sentence, every documented threshold exactly on its
boundary, relative thresholds under rescaling, inputs with no special structure, and the exercises' inputs keeping
the properties the exercises need."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from helpers import bilinear, data
from helpers.bilinear import exercises as ex
from helpers.bilinear import masks, plots, train
from helpers.bilinear import sentiment as s
from helpers.bilinear.tensors import _square_pair
from tests.refusal import refusal

F64 = torch.float64


def _t(*shape: int) -> torch.Tensor:
    return torch.ones(*shape, dtype=F64)


# --------------------------------------------------------------------------------------------- tensors.py


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: _square_pair(_t(3), _t(3, 2)), "w must have 2 dimensions, got shape (3,)"),
        (lambda: _square_pair(_t(3, 2), _t(3)), "v must have 2 dimensions, got shape (3,)"),
        (
            lambda: bilinear.interaction_matrix(_t(3, 4), _t(3, 4), _t(3, 1)),
            "u must have 1 dimensions, got shape (3, 1)",
        ),
        (
            lambda: bilinear.interaction_matrix(_t(3, 4), _t(3, 4), _t(4)),
            "u must have one entry per hidden unit (3), got 4",
        ),
        (
            lambda: bilinear.fold_bias(_t(3, 4), _t(3, 1), _t(3, 4), _t(3)),
            "bw must have 1 dimensions, got shape (3, 1)",
        ),
        (
            lambda: bilinear.fold_bias(_t(3, 4), _t(3), _t(3, 4), _t(3, 1)),
            "bv must have 1 dimensions, got shape (3, 1)",
        ),
        (
            lambda: bilinear.fold_bias(_t(3, 4), _t(3), _t(3, 4), _t(2)),
            "bv must have one entry per hidden unit (3), got 2",
        ),
        (lambda: bilinear.eigendecompose([[1.0]]), "q must be a torch.Tensor, got list"),
        (lambda: bilinear.eigen_logits(_t(2), _t(1, 2, 1)), "values must have 2 dimensions, got shape (2,)"),
        (lambda: bilinear.eigen_logits(_t(2, 3), _t(2, 3)), "projections must have 3 dimensions, got shape (2, 3)"),
        (lambda: bilinear.hosvd(_t(2, 2)), "b must have 3 dimensions, got shape (2, 2)"),
        (lambda: bilinear.pixel_vectors(_t(3), _t(3, 2)), "embed_weight must have 2 dimensions, got shape (3,)"),
        (lambda: bilinear.pixel_vectors(_t(3, 5), [[1.0]]), "vectors must be a torch.Tensor, got list"),
        (lambda: bilinear.pixel_vectors(_t(3, 5), _t(4, 2)), "vectors (..., d, m) must have d = 3 rows, got (4, 2)"),
        (lambda: bilinear.pinv_masks(_t(2), _t(2, 3, 4), _t(3, 5)), "values must have 2 dimensions, got shape (2,)"),
        (lambda: bilinear.pinv_masks(_t(2, 4), _t(2, 3), _t(3, 5)), "vectors must have 3 dimensions, got shape (2, 3)"),
        (
            lambda: bilinear.pinv_masks(_t(2, 3), _t(2, 3, 4), _t(3, 5)),
            "values must have shape (c, m) = (2, 4), got (2, 3)",
        ),
        (
            lambda: bilinear.pinv_masks(_t(2, 4), _t(2, 3, 4), _t(3, 5), top=True),
            "top must be an int between 1 and 4, got True",
        ),
        (
            lambda: bilinear.pinv_masks(_t(2, 4), _t(2, 3, 4), _t(3, 5), top=2.0),
            "top must be an int between 1 and 4, got 2.0",
        ),
        (
            lambda: bilinear.pinv_masks(_t(2, 4), _t(2, 3, 4), _t(3, 5), top=0),
            "top must be an int between 1 and 4, got 0",
        ),
        (
            lambda: bilinear.pinv_masks(_t(2, 4), _t(2, 3, 4), _t(3, 5), top=5),
            "top must be an int between 1 and 4, got 5",
        ),
        (
            lambda: bilinear.BilinearClassifier(3, 0, 2),
            "sizes must be positive, got n_in=3, d=0, n_classes=2, hidden=0",
        ),
        (
            lambda: bilinear.BilinearClassifier(3, 0, 2, hidden=2),
            "sizes must be positive, got n_in=3, d=0, n_classes=2, hidden=2",
        ),
        (
            lambda: bilinear.BilinearClassifier(3, 2, 2, hidden=0),
            "sizes must be positive, got n_in=3, d=2, n_classes=2, hidden=0",
        ),
    ],
)
def test_tensor_helpers_refuse_in_whole_sentences(call, expected):
    assert refusal(call)[1] == expected


def test_size_one_classifiers_and_pinv_masks_at_top_1_and_m_are_accepted():
    model = bilinear.BilinearClassifier(1, 1, 1, hidden=1)
    assert model(torch.ones(2, 1)).shape == (2, 1)
    g = torch.Generator().manual_seed(5)
    q = torch.randn(2, 4, 4, generator=g, dtype=F64)
    eig = bilinear.eigendecompose(q + q.transpose(1, 2))
    embed = torch.randn(4, 6, generator=g, dtype=F64)
    assert bilinear.pinv_masks(eig.values, eig.vectors, embed, top=1).shape == (2, 1, 6)
    # top = m: 2 classes × 4 keys in 4 dimensions, a pseudo-inverse of a wide matrix
    assert bilinear.pinv_masks(eig.values, eig.vectors, embed, top=4).shape == (2, 4, 6)


def test_documented_defaults(monkeypatch):
    """The defaults the docstrings and the chapters rely on, as calls without them behave."""
    g = torch.Generator().manual_seed(6)
    q = torch.randn(2, 12, 12, generator=g, dtype=F64)
    eig = bilinear.eigendecompose(q + q.transpose(1, 2))
    assert bilinear.pinv_masks(eig.values, eig.vectors, torch.randn(12, 3, generator=g, dtype=F64)).shape == (2, 10, 3)
    fig, ax = plt.subplots()
    assert len(plots.contribution_bars(ax, torch.arange(9.0), "nine")) == 6
    plt.close(fig)
    v = len(s.VOCAB)
    loadings = s.eigen_loadings(bilinear.Eigen(torch.arange(v, 0, -1, dtype=F64), torch.eye(v, dtype=F64)))
    assert [len(x.top) for x in loadings] == [6] * 4

    seen = {"steps": 0}

    class Adam(torch.optim.Adam):
        def __init__(self, params, lr):
            seen["lr"] = lr
            super().__init__(params, lr=lr)

        def step(self, closure=None):
            seen["steps"] += 1
            return super().step(closure)

    real_seed = torch.manual_seed
    monkeypatch.setattr(torch.optim, "Adam", Adam)
    monkeypatch.setattr(
        torch, "manual_seed", lambda seed: (seen.setdefault("seeds", []).append(seed), real_seed(seed))[1]
    )
    s.linear_baseline(s.make_corpus(5, 1, 1, seed=0))
    assert (seen["steps"], seen["lr"], seen["seeds"][-1]) == (200, 0.05, 0)


def test_symmetry_threshold_is_relative_and_inclusive():
    """``q`` is accepted while max |Q − Qᵀ| ≤ 1e-5 · max |Q| (relative), refused above, at any scale."""
    for scale in (2.0**-20, 1.0, 2.0**20):  # powers of two: the product below is exact
        bound = 1e-5 * scale
        q = torch.zeros(2, 2, dtype=F64)
        q[0, 0], q[0, 1] = scale, bound  # |Q - Qᵀ| = bound exactly, max |Q| = scale
        assert bilinear.eigendecompose(q).values.shape == (2,)
        q[0, 1] = 2 * bound
        name, message = refusal(lambda q=q: bilinear.eigendecompose(q))
        assert message.startswith("q must be symmetric (max |Q - Qᵀ| = ")


def test_eigenvalues_tied_in_size_keep_the_ascending_order_negative_first():
    diagonal = torch.tensor([1.0, -1.0, 2.0, -2.0] * 5, dtype=F64)
    values = bilinear.eigendecompose(torch.diag(diagonal)).values
    assert values.tolist() == [-2.0] * 5 + [2.0] * 5 + [-1.0] * 5 + [1.0] * 5
    assert bilinear.eigendecompose(torch.diag(diagonal)[None].repeat(2, 1, 1)).values[1].tolist() == values.tolist()


def test_eigendecompose_symmetrises_what_it_accepts():
    """A nearly symmetric matrix (accepted) is decomposed as ½ (Q + Qᵀ), one matrix or a batch, not as its lower
    triangle alone."""
    g = torch.Generator().manual_seed(8)
    a = torch.randn(3, 5, 5, generator=g, dtype=F64)
    q = a + a.transpose(1, 2)
    q = q + 1e-6 * torch.triu(torch.randn(3, 5, 5, generator=g, dtype=F64), 1)  # asymmetric, under the bound
    expected = np.linalg.eigvalsh(((q + q.transpose(1, 2)) / 2).numpy())
    got = bilinear.eigendecompose(q).values.numpy()
    for k in range(3):
        assert np.allclose(np.sort(got[k]), expected[k], rtol=0, atol=1e-12)
        assert np.allclose(np.sort(bilinear.eigendecompose(q[k]).values.numpy()), expected[k], rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------------- masks.py


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: masks.standardise(_t(4)), "masks must have 2 dimensions, got shape (4,)"),
        (
            lambda: masks.orient(_t(2), _t(2, 3), torch.zeros(2), _t(4, 3), torch.zeros(4)),
            "masks must have 2 dimensions, got shape (2,)",
        ),
        (
            lambda: masks.orient(_t(2, 3), _t(2), torch.zeros(2), _t(4, 3), torch.zeros(4)),
            "directions must have 2 dimensions, got shape (2,)",
        ),
        (
            lambda: masks.orient(_t(2, 3), _t(2, 3), torch.zeros(2), _t(3), torch.zeros(4)),
            "x_train must have 2 dimensions, got shape (3,)",
        ),
        (
            lambda: masks.orient(_t(2, 3), _t(2, 3), torch.zeros(2), _t(4, 5), torch.zeros(4)),
            "masks (2, 3), directions (2, 3) and images (4, 5) must share the pixel dimension (and masks/directions "
            "their shape)",
        ),
        (
            lambda: masks.orient(_t(2, 3), _t(2, 3), torch.zeros(3), _t(4, 3), torch.zeros(4)),
            "targets must have one entry per mask and y_train one per training image",
        ),
        (
            lambda: masks.orient(_t(2, 3), _t(2, 3), torch.zeros(2), _t(4, 3), torch.zeros(5)),
            "targets must have one entry per mask and y_train one per training image",
        ),
        (
            lambda: masks.orient(_t(2, 3), _t(2, 3), torch.tensor([0, 1]), _t(2, 3), torch.tensor([0, 0])),
            "no training image outside the target class [0]: the mask's sign cannot be read",
        ),
        (
            lambda: masks.sweep(torch.nn.Identity(), _t(3), torch.zeros(3), _t(4, 3), torch.zeros(4), [1.0]),
            "masks must have 2 dimensions, got shape (3,)",
        ),
        (
            lambda: masks.sweep(torch.nn.Identity(), _t(2, 3), torch.zeros(2), _t(3), torch.zeros(4), [1.0]),
            "x must have 2 dimensions, got shape (3,)",
        ),
        (
            lambda: masks.sweep(torch.nn.Identity(), _t(2, 5), torch.zeros(3), _t(4, 5), torch.zeros(4), [1.0]),
            "targets must have one entry per mask (2), got (3,)",
        ),
    ],
)
def test_mask_helpers_refuse_in_whole_sentences(call, expected):
    assert refusal(call)[1] == expected


def test_orient_reads_the_sign_from_the_other_classes_and_keeps_a_mask_orthogonal_to_its_direction():
    directions = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=F64)
    m = torch.tensor(
        [
            [0.0, 2.0, 1.0],  # m · p = 0: no side to take, kept as it is
            [1.0, -1.0, 3.0],
        ],
        dtype=F64,
    )  # m · p = -1, not parallel to p
    targets = torch.tensor([0, 1])
    x_train = torch.tensor([[-2.0, 1.0, 0.0], [-1.0, 1.0, 5.0], [5.0, 9.0, 0.0]], dtype=F64)
    y_train = torch.tensor([1, 2, 0])
    # mask 0: other classes have x · p0 = -2, -1 (mean < 0; the class-0 image, +5, would make it > 0)
    # mask 1: other classes have x · p1 = 1, 9 (mean > 0), m · p1 < 0: flipped
    out = masks.orient(m, directions, targets, x_train, y_train)
    assert torch.equal(out, torch.tensor([[0.0, 2.0, 1.0], [-1.0, 1.0, -3.0]], dtype=F64))


def test_sweep_refuses_nothing_it_should_accept_and_averages_over_masks():
    """Two masks on a model that predicts the argmax pixel: accuracy and steering counted by hand."""
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.2]])
    y = torch.tensor([0, 1, 0])
    m = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    out = masks.sweep(torch.nn.Identity(), m, torch.tensor([1, 0]), x, y, [0.0, 1.5])
    # strength 1.5: mask 0 sends every image to class 1 (acc 1/3, both class-0 images steered: 2/2);
    # mask 1 sends every image to class 0 (acc 2/3, the one class-1 image steered: 1/1)
    assert np.allclose(out, [[1.0, 0.0], [0.5, 1.0]], rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------------- sentiment.py


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: s.label(3), ("TypeError", "phrase must be a str, got int")),
        (lambda: s.encode("good"), ("TypeError", "phrases must be a list of strings, got str")),
        (lambda: s.encode({"good"}), ("TypeError", "phrases must be a list of strings, got set")),
        (lambda: s.encode(["good", 3]), ("TypeError", "phrases[1] must be a str, got int")),
        (lambda: s.make_corpus(1, 0, 1, 0), ("ValueError", "n_test must be a positive int, got 0")),
        (lambda: s.make_corpus(1, 1, 0, 0), ("ValueError", "n_held_out must be a positive int, got 0")),
        (lambda: s.sentiment_model([("d", 4)]), ("TypeError", "config must be a dict, got list")),
        (lambda: s.and_gate(_t(32)), ("ValueError", "q_tok must have 2 dimensions, got shape (32,)")),
        (
            lambda: s.bare_phrase_scores(_t(32), [0], [1]),
            ("ValueError", "q_tok must have 2 dimensions, got shape (32,)"),
        ),
        (
            lambda: s.predict_from_weights(_t(32), _t(1, 32)),
            ("ValueError", "q_tok must have 2 dimensions, got shape (32,)"),
        ),
        (
            lambda: s.predict_from_weights(_t(32, 32), _t(32)),
            ("ValueError", "x must have 2 dimensions, got shape (32,)"),
        ),
        (
            lambda: s.eigen_loadings(bilinear.Eigen(_t(32, 1), _t(32, 32))),
            ("ValueError", "eigen.values must have 1 dimensions, got shape (32, 1)"),
        ),
        (
            lambda: s.eigen_loadings(bilinear.Eigen(_t(32), _t(32))),
            ("ValueError", "eigen.vectors must have 2 dimensions, got shape (32,)"),
        ),
        (
            lambda: s.eigen_loadings(bilinear.Eigen(_t(5), _t(5, 5))),
            ("ValueError", "eigen must come from a (32, 32) Q_tok, got vectors (5, 5)"),
        ),
        (
            lambda: s.token_interaction_matrix(torch.nn.Linear(3, 2)),
            ("TypeError", "model must be a helpers.bilinear.BilinearClassifier, got Linear"),
        ),
        (
            lambda: s.token_interaction_matrix(bilinear.BilinearClassifier(32, 4, 2, bias=True)),
            ("ValueError", "token_interaction_matrix needs a bias-free model (biases add linear terms to xᵀQx)"),
        ),
        (
            lambda: s.token_interaction_matrix(bilinear.BilinearClassifier(32, 32, 2, embed=False)),
            ("ValueError", "the model must have an embedding and exactly two classes (negative, positive)"),
        ),
        (lambda: s.linear_baseline([]), ("TypeError", "corpus must be a SentimentCorpus (from make_corpus), got list")),
    ],
)
def test_sentiment_helpers_refuse_in_whole_sentences(call, expected):
    assert refusal(call) == expected


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        ({"lr": True}, True),
        ({"lr": float("inf")}, True),
        ({"lr": 0}, True),
        ({"lr": 1e-9}, False),
        ({"weight_decay": True}, True),
        ({"weight_decay": float("inf")}, True),
        ({"weight_decay": 0}, False),
        ({"weight_decay": 0.5}, False),
        ({"epochs": 1}, False),
        ({"d": 1}, False),
        ({"d": 0}, True),
    ],
)
def test_config_boundaries(change, refused):
    config = {**s.SENTIMENT_CONFIG, **change}
    if refused:
        with pytest.raises(ValueError, match=f"config\\['{next(iter(change))}'\\] must be"):
            s.sentiment_model(config)
    else:
        model = s.sentiment_model(config)
        assert model.embed.out_features == config["d"] and model.w.bias is None


@pytest.mark.parametrize(
    ("steps", "lr", "refused"),
    [(True, 0.05, True), (0, 0.05, True), (1, 0.05, False), (200, 0.0, True), (200, -1.0, True)],
)
def test_linear_baseline_boundaries(steps, lr, refused):
    corpus = s.make_corpus(20, 5, 5, seed=0)
    if refused:
        assert refusal(lambda: s.linear_baseline(corpus, steps=steps, lr=lr)) == (
            "ValueError",
            f"steps must be a positive int and lr > 0, got steps={steps!r}, lr={lr!r}",
        )
    else:
        assert set(s.linear_baseline(corpus, steps=steps, lr=lr)) == {"train_accuracy", "held_out_accuracy"}


def test_linear_baseline_is_the_logistic_regression_it_describes():
    """Written out: ``nn.Linear(V, 2)`` from ``torch.manual_seed(seed)``, full-batch Adam at ``lr``, ``steps``
    steps of cross-entropy; compared on the logits' predictions through the accuracies it returns."""
    corpus = s.make_corpus(400, 50, 300, seed=3)
    torch.manual_seed(1)
    linear = torch.nn.Linear(len(s.VOCAB), 2)
    opt = torch.optim.Adam(linear.parameters(), lr=0.3)
    for _ in range(7):
        loss = torch.nn.functional.cross_entropy(linear(corpus.train.x), corpus.train.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        expected = {
            "train_accuracy": float((linear(corpus.train.x).argmax(1) == corpus.train.y).float().mean()),
            "held_out_accuracy": float((linear(corpus.held_out.x).argmax(1) == corpus.held_out.y).float().mean()),
        }
    torch.manual_seed(99)  # the function keeps its own random state
    got = s.linear_baseline(corpus, steps=7, lr=0.3, seed=1)
    assert got == pytest.approx(expected, abs=1e-12)
    assert torch.randint(1000, (1,)).item() == (torch.manual_seed(99), torch.randint(1000, (1,)).item())[1]


def test_empty_inputs_and_phrase_sets():
    assert s.encode([]).shape == (0, len(s.VOCAB))
    assert torch.equal(s.encode(["", "good good"])[0], torch.zeros(len(s.VOCAB)))
    q = torch.arange(9.0, dtype=F64).reshape(3, 3)
    q = q + q.T
    assert s.bare_phrase_scores(q, [], [1, 2]).shape == (1, 2)  # no negator: the adjectives alone
    assert s.bare_phrase_scores(q, [0], []).shape == (2, 0)
    items = [("good", (None, "good")), ("not good", ("not", "good")), ("not bad", ("not", "bad"))]
    phrases = s._phrase_set(items)
    assert repr(phrases) == "PhraseSet(3 phrases, 2 positive)" and phrases.y.dtype == torch.long
    assert repr(s.make_corpus(2, 3, 4, 0)) == "SentimentCorpus(train=2, test=3, held_out=4)"


def test_smallest_corpus_and_the_test_split_rules():
    tiny = s.make_corpus(1, 1, 1, seed=0)
    assert (len(tiny.train), len(tiny.test), len(tiny.held_out)) == (1, 1, 1)
    corpus = s.make_corpus(300, 200, 10, seed=1)
    seen = {tuple(sorted(p.split())) for p in corpus.train.phrases}
    held = set(s.HELD_OUT)
    assert all(c not in held for c in corpus.test.combos)  # test phrases use training combinations only ...
    assert all(tuple(sorted(p.split())) not in seen for p in corpus.test.phrases)  # ... in bags never trained on
    negated = [c[0] is not None for c in s.make_corpus(2000, 1, 1, seed=2).train.combos]
    # half the sampled phrases carry a negator; held-out combinations are all negated, so training has fewer
    assert 0.3 < np.mean(negated) < 0.6


def test_make_corpus_says_when_no_unseen_test_phrase_exists(monkeypatch):
    monkeypatch.setattr(s, "_phrase", lambda rng, negator, adjective: adjective)  # one bag per combination
    assert refusal(lambda: s.make_corpus(400, 1, 1, seed=0)) == (
        "ValueError",
        "could not find 1 test phrases unseen in training; lower n_train or n_test",
    )


def test_predict_from_weights_reads_in_the_inputs_dtype():
    g = torch.Generator().manual_seed(4)
    q = torch.randn(32, 32, generator=g, dtype=F64)
    x = torch.randint(0, 3, (5, 32), generator=g).float()
    out = s.predict_from_weights((q + q.T) / 2, x)
    assert out.dtype == torch.float32
    assert torch.allclose(
        out.double(), torch.einsum("ni,ij,nj->n", x.double(), (q + q.T) / 2, x.double()), rtol=1e-5, atol=1e-4
    )


def test_eigen_loadings_accept_k_and_n_top_of_one_and_break_ties_in_vocabulary_order():
    v = len(s.VOCAB)
    vectors = torch.eye(v, dtype=F64)
    vectors[:, 0] = torch.tensor([(-1.0) ** i for i in range(v)], dtype=F64)  # every |loading| equal
    loadings = s.eigen_loadings(bilinear.Eigen(torch.arange(v, 0, -1, dtype=F64), vectors), k=1, n_top=1)
    assert len(loadings) == 1 and loadings[0].top == ((s.VOCAB[0], pytest.approx(v**-0.5)),)
    tied = s.eigen_loadings(bilinear.Eigen(torch.arange(v, 0, -1, dtype=F64), vectors), k=1, n_top=v)[0].top
    assert [w for w, _ in tied] == list(s.VOCAB)


def test_held_out_report_counts_a_zero_logit_difference_as_negative():
    """A model with a zero head predicts 0 for every phrase: from the weights that reads as the negative class, and
    the weights agree with the model on every phrase."""
    corpus = s.make_corpus(10, 5, 50, seed=0)
    model = s.sentiment_model()
    with torch.no_grad():
        model.head.weight.zero_()
    report = s.held_out_report(model, corpus.held_out)
    negative_share = float((corpus.held_out.y == s.NEGATIVE_CLASS).float().mean())
    assert 0 < negative_share < 1
    assert report.accuracy == pytest.approx(negative_share) and report.agreement == 1.0
    assert report.max_deviation == 0.0


# --------------------------------------------------------------------------------------------- train.py (data)


def test_toy_dataset_accepts_its_bounds_and_refuses_in_whole_sentences():
    assert train.toy_dataset("xor", 2)[0].shape == (4, 2)
    assert train.toy_dataset("and", 12)[1].shape == (4096, 66)
    assert refusal(lambda: train.toy_dataset("or", 4)) == ("ValueError", "task must be 'and' or 'xor', got 'or'")
    assert refusal(lambda: train.toy_dataset("and", 13)) == (
        "ValueError",
        "n_bits must be an int between 2 and 12, got 13",
    )


def test_similarity_labels_at_the_threshold_and_for_the_complement():
    target = torch.tensor([1.0, 0.0, 0.0, 1.0])
    x = torch.tensor(
        [
            [1.0, 0.0, 0.0, 1.0],  # the target: similarity 1
            [0.0, 1.0, 1.0, 0.0],  # the complement 1 - target: similarity 0 to the target, 1 to it
            [1.0, 1.0, 0.0, 0.0],  # similarity 0.5 to both
            [1.0, 0.0, 0.0, 0.0],
        ]
    )
    split = data.Split(torch.cat([x[3:], target[None], x]), torch.tensor([0, 7, 1, 1, 1, 1]), x, torch.zeros(4))
    assert torch.equal(train.similarity_task(split, 7, 0.4)[0], target)
    exactly = float(torch.nn.functional.cosine_similarity(x[2:3], target[None], dim=1))  # 0.5 as torch computes it
    _, _, y = train.similarity_task(split, 7, exactly)
    assert y.tolist() == [1, 1, 0, 1]  # at the threshold is not above it (the last image: 0.707 > 0.5)
    _, _, y = train.similarity_task(split, 7, 0.75)
    assert y.tolist() == [1, 1, 0, 0]
    for bad in (0.0, 1.0):
        assert refusal(lambda bad=bad: train.similarity_task(split, 7, bad)) == (
            "ValueError",
            f"threshold must lie strictly between 0 and 1, got {bad}",
        )


# --------------------------------------------------------------------------------------------- plots.py


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: plots.decomposition_diagram(_t(3, 3), _t(3)), "tensor must have 3 dimensions, got shape (3, 3)"),
        (lambda: plots.decomposition_diagram(_t(3, 2, 2), _t(3, 1)), "u must have 1 dimensions, got shape (3, 1)"),
        (
            lambda: plots.contribution_bars(None, _t(3, 1), "x"),
            "contributions must have 1 dimensions, got shape (3, 1)",
        ),
    ],
)
def test_plot_helpers_refuse_in_whole_sentences(call, expected):
    assert refusal(call)[1] == expected


# --------------------------------------------------------------------------------------------- exercises.py


def test_bias_parts_is_the_quadratic_linear_and_constant_part():
    g = torch.Generator().manual_seed(21)
    w, bw, v, bv, u = (torch.randn(*shape, generator=g, dtype=F64) for shape in ((5, 3), (5,), (5, 3), (5,), (5,)))
    q, l, c = ex.bias_parts(w, bw, v, bv, u)
    assert q.shape == (3, 3) and l.shape == (3,) and c.shape == ()
    x = torch.randn(7, 3, generator=g, dtype=F64)
    direct = ((x @ w.T + bw) * (x @ v.T + bv)) @ u
    assert torch.allclose(torch.einsum("ni,ij,nj->n", x, q, x) + x @ l + c, direct, rtol=0, atol=1e-12)


def test_exercise_inputs_have_the_properties_the_exercises_need():
    pairs = ex._pairs()
    assert all(w.shape == v.shape and w.dtype == F64 for w, v in pairs)
    assert {"h<d", "h>d"} <= {("h<d" if w.shape[0] < w.shape[1] else "h>d") for w, _ in pairs}
    assert any(w.shape[0] == 1 for w, _ in pairs)  # one hidden unit: a rank-one slice
    for w, bw, v, bv, u in ex._bias_inputs():
        h, d = w.shape
        assert v.shape == (h, d) and bw.shape == bv.shape == u.shape == (h,)
    assert {w.shape[0] < w.shape[1] for w, *_ in ex._bias_inputs()} == {True, False}
    for vectors, embed, j in ex._mask_inputs():
        d, r = vectors.shape
        assert r <= d and 0 <= j < r and embed.ndim == 2 and embed.shape[0] == d
        assert torch.linalg.matrix_rank(vectors) == r  # full column rank: k_j · e_i = δ_ij holds exactly
        assert not torch.allclose(torch.linalg.pinv(vectors), vectors.T, atol=1e-3)  # the transpose would fail
    assert any(v.shape[0] == v.shape[1] for v, _, _ in ex._mask_inputs())
    for q, negators, adjectives in ex._phrase_inputs():
        assert torch.equal(q, q.T) and not set(negators) & set(adjectives)
        assert len(set(negators)) == len(negators) and len(set(adjectives)) == len(adjectives)  # each word once
        assert max(negators + adjectives) < q.shape[0]
    assert any(len(n) > 1 for _, n, _ in ex._phrase_inputs())
    for (q,) in ex._symmetric():
        assert torch.equal(q, q.T)
        magnitudes = torch.linalg.eigvalsh(q).abs().sort().values
        assert (magnitudes.diff() > 1e-3).all()  # distinct |λ|: the order is defined
    assert any(q.shape[0] == 2 for (q,) in ex._symmetric())
    ks = []
    for values, projections, k in ex._truncation():
        assert (values.abs().diff(dim=1) <= 0).all() and projections.shape[1:] == values.shape
        assert 0 <= k <= values.shape[1]
        ks.append((k, values.shape[1]))
    assert any(k == 0 for k, _ in ks) and any(k == m for k, m in ks)


def test_eigen_exercise_accepts_eigenvectors_of_either_sign():
    def flipped(q: torch.Tensor):
        values, vectors = bilinear.eigendecompose(q)
        return values, -vectors

    ex.exercise_eigen.check(flipped)  # raises on a disagreement


def test_eigen_exercise_says_which_output_is_not_a_tensor():
    def as_numpy(q: torch.Tensor):
        values, vectors = bilinear.eigendecompose(q)
        return values, vectors.numpy()

    with pytest.raises(Exception) as failed:
        ex.exercise_eigen.check(as_numpy)
    assert type(failed.value).__name__ == "ExerciseFailed"
    assert str(failed.value).endswith("output[1] should be a torch.Tensor, got ndarray")
