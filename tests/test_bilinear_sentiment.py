"""helpers.bilinear.sentiment: the negation corpus, the bias-free bilinear sentiment model and its AND gate read from
weights."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from helpers.bilinear import BilinearClassifier, eigendecompose
from helpers.bilinear import sentiment as s
from helpers.checkpoints import train_fn_path

SMALL = {"n_train": 300, "n_test": 100, "n_held_out": 60}


@pytest.fixture(autouse=True)
def quiet_single_thread(monkeypatch):
    monkeypatch.setenv("BOOK_PROGRESS", "0")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: more threads only add overhead on a shared machine
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus() -> s.SentimentCorpus:
    c = s.SENTIMENT_CONFIG
    return s.make_corpus(c["n_train"], c["n_test"], c["n_held_out"], c["data_seed"])


@pytest.fixture(scope="module")
def trained() -> tuple[BilinearClassifier, dict[str, float]]:
    """The default model, trained once for the module (about a second)."""
    tensors, metrics = s.train_sentiment_bilinear(dict(s.SENTIMENT_CONFIG))
    model = s.sentiment_model()
    model.load_state_dict(tensors)
    return model, metrics


@pytest.fixture(scope="module")
def q_tok(trained) -> torch.Tensor:
    return s.token_interaction_matrix(trained[0])


# --------------------------------------------------------------------------------------------- corpus


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("good", s.POSITIVE_CLASS),
        ("not good", s.NEGATIVE_CLASS),
        ("bad", s.NEGATIVE_CLASS),
        ("not bad", s.POSITIVE_CLASS),
        ("the movie was never really great", s.NEGATIVE_CLASS),
        ("my food seemed hardly awful", s.POSITIVE_CLASS),
        ("this story is quite boring", s.NEGATIVE_CLASS),
    ],
)
def test_label_flips_the_adjective_after_a_negator(phrase, expected):
    assert s.label(phrase) == expected


@pytest.mark.parametrize(
    ("phrase", "match"),
    [
        ("the movie was splendid", "outside the vocabulary"),
        ("good bad", "exactly one adjective"),
        ("the movie", "exactly one adjective"),
        ("not never good", "at most one negator"),
        ("good not", "must precede"),
    ],
)
def test_label_rejects_malformed_phrases(phrase, match):
    with pytest.raises(ValueError, match=match):
        s.label(phrase)


def test_vocabulary_is_grouped_and_complete():
    assert len(set(s.VOCAB)) == len(s.VOCAB) == 32
    assert [s.WORD_CLASS[w] for w in s.VOCAB] == sorted((s.WORD_CLASS[w] for w in s.VOCAB), key=s.CLASSES.index)
    assert sum(len(v) for v in s.WORD_GROUPS.values()) == len(s.VOCAB)
    negators = {n for n, _ in s.HELD_OUT}
    assert negators == set(s.NEGATORS)
    assert all(a in s.ADJECTIVES for _, a in s.HELD_OUT)


def test_encode_counts_words_and_rejects_unknown_ones():
    x = s.encode(["the the good", "not bad"])
    assert x.shape == (2, len(s.VOCAB)) and x.dtype == torch.float32
    assert x[0, s.VOCAB.index("the")] == 2 and x[0, s.VOCAB.index("good")] == 1 and x[0].sum() == 3
    assert x[1, s.VOCAB.index("not")] == 1 and x[1, s.VOCAB.index("bad")] == 1 and x[1].sum() == 2
    with pytest.raises(ValueError, match="unknown word 'splendid'"):
        s.encode(["splendid"])
    with pytest.raises(TypeError, match="list of strings"):
        s.encode("not bad")


def test_corpus_is_deterministic_and_depends_on_its_seed():
    a, b = s.make_corpus(**SMALL, seed=3), s.make_corpus(**SMALL, seed=3)
    for part in ("train", "test", "held_out"):
        pa, pb = getattr(a, part), getattr(b, part)
        assert pa.phrases == pb.phrases and pa.combos == pb.combos
        assert torch.equal(pa.x, pb.x) and torch.equal(pa.y, pb.y)
    assert s.make_corpus(**SMALL, seed=4).train.phrases != a.train.phrases


def test_corpus_labels_and_counts_match_the_phrases(corpus):
    for part in (corpus.train, corpus.test, corpus.held_out):
        assert torch.equal(part.x, s.encode(list(part.phrases)))
        assert part.y.tolist() == [s.label(p) for p in part.phrases]
        for (negator, adjective), y in zip(part.combos, part.y.tolist()):
            assert y == int((adjective in s.POSITIVE) != (negator is not None))
    assert (len(corpus.train), len(corpus.test), len(corpus.held_out)) == (3000, 1000, 600)
    share_positive = float(corpus.train.y.float().mean())
    assert 0.4 < share_positive < 0.6


def test_held_out_combinations_never_occur_in_training(corpus):
    def pairs(phrase: str) -> set[tuple[str, str]]:
        words = phrase.split()
        return {(n, a) for n in words if n in s.NEGATORS for a in words if a in s.ADJECTIVES}

    held = set(s.HELD_OUT)
    for phrase in corpus.train.phrases + corpus.test.phrases:
        assert not pairs(phrase) & held, phrase
    assert all(pairs(p) <= held and pairs(p) for p in corpus.held_out.phrases)
    assert set(corpus.held_out.combos) == held
    # every held-out negator and adjective still occurs in training, with other partners
    trained_words = {w for p in corpus.train.phrases for w in p.split()}
    assert {w for combo in held for w in combo} <= trained_words
    # test phrases are new bags of words
    train_bags = {tuple(sorted(p.split())) for p in corpus.train.phrases}
    assert not any(tuple(sorted(p.split())) in train_bags for p in corpus.test.phrases)


def test_make_corpus_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n_train must be a positive int"):
        s.make_corpus(0, 10, 10, 0)
    with pytest.raises(ValueError, match="n_held_out"):
        s.make_corpus(10, 10, 2.5, 0)
    with pytest.raises(TypeError, match="seed"):
        s.make_corpus(10, 10, 10, "0")


def test_a_linear_model_cannot_learn_negation(corpus):
    result = s.linear_baseline(corpus, steps=100)
    assert result["train_accuracy"] < 0.8
    assert result["held_out_accuracy"] < 0.2  # it reads the adjective and ignores the negator


# --------------------------------------------------------------------------------------------- the weights


def test_logit_difference_is_exactly_the_quadratic_form(corpus):
    """xᵀ Q_tok x equals logit_pos − logit_neg for an untrained model, in float64 and in float32."""
    torch.manual_seed(0)
    model = s.sentiment_model()
    x = corpus.test.x[:200]
    model64 = model.double()
    q64 = s.token_interaction_matrix(model64)
    assert q64.dtype == torch.float64 and torch.equal(q64, q64.T)
    exact = s.logit_difference(model64, x.double())
    torch.testing.assert_close(s.predict_from_weights(q64, x.double()), exact, rtol=1e-10, atol=1e-12)
    model32 = model.float()
    scores = s.predict_from_weights(s.token_interaction_matrix(model32), x)
    scale = float(exact.abs().max())
    assert float((scores.double() - exact).abs().max()) <= 1e-5 * scale


def test_trained_model_generalises_to_held_out_combinations(trained):
    _, metrics = trained
    assert set(metrics) == set(s.SENTIMENT_TOLERANCES)
    assert metrics["train_accuracy"] >= 0.99
    assert metrics["test_accuracy"] >= 0.99
    assert metrics["held_out_accuracy"] >= 0.95


def test_trained_identity_and_held_out_prediction_from_weights(trained, corpus, q_tok):
    model, metrics = trained
    exact = s.logit_difference(copy.deepcopy(model).double(), corpus.held_out.x.double())
    scores = s.predict_from_weights(q_tok, corpus.held_out.x)
    assert float((scores.double() - exact).abs().max()) <= 1e-5 * float(exact.abs().max())
    report = s.held_out_report(model, corpus.held_out)
    assert report.agreement == 1.0
    assert report.accuracy == pytest.approx(metrics["held_out_accuracy"])
    assert report.accuracy >= 0.95
    assert set(report.per_combo) == set(s.HELD_OUT) and min(report.per_combo.values()) >= 0.9


def test_q_tok_holds_an_and_gate(q_tok):
    gate = s.and_gate(q_tok)
    assert gate.negator_positive < 0 < gate.negator_negative  # the negator flips each sentiment
    assert gate.positive_self > 0 > gate.negative_self
    # the cross term overturns the adjective's own term ...
    assert -gate.negator_positive > gate.positive_self + abs(gate.negator_self)
    assert gate.negator_negative > -gate.negative_self + abs(gate.negator_self)
    # ... and dwarfs every entry involving a neutral word
    cross = min(-gate.negator_positive, gate.negator_negative)
    assert cross > 5 * gate.neutral_max_abs
    # every bare phrase ("good", "not good", ... 48 of them) gets the right sign from the weights alone
    scores = s.pair_scores(q_tok)
    truth = torch.tensor([1.0 if a in s.POSITIVE else -1.0 for a in s.ADJECTIVES])
    expected = torch.cat([truth[None], -truth.expand(len(s.NEGATORS), -1)])
    assert scores.shape == (1 + len(s.NEGATORS), len(s.ADJECTIVES))
    assert torch.equal(torch.sign(scores), expected)


def test_pair_scores_match_the_model_on_bare_phrases(trained, q_tok):
    phrases = list(s.ADJECTIVES) + [f"{n} {a}" for n in s.NEGATORS for a in s.ADJECTIVES]
    model_scores = s.logit_difference(trained[0], s.encode(phrases)).reshape(1 + len(s.NEGATORS), -1)
    torch.testing.assert_close(s.pair_scores(q_tok), model_scores, rtol=1e-4, atol=1e-4)


def test_spectrum_has_two_outliers_of_opposite_sign_on_negators_and_adjectives(q_tok):
    eigen = eigendecompose(q_tok.double())
    top, rest = eigen.values[:2], eigen.values[2:]
    assert float(top[0] * top[1]) < 0
    assert float(top.abs().min()) > 20 * float(rest.abs().max())
    loadings = s.eigen_loadings(eigen, k=2)
    for item in loadings:
        assert item.mass["neutral"] < 0.05
        assert item.mass["negator"] > 0.2
        assert sum(item.mass.values()) == pytest.approx(1.0)
    # one outlier pairs the negators with the positive adjectives, the other with the negative ones
    pairs = {max(("positive", "negative"), key=lambda c: item.mass[c]): item.value for item in loadings}
    assert set(pairs) == {"positive", "negative"}
    assert pairs["positive"] > 0 > pairs["negative"]


# --------------------------------------------------------------------------------------------- training, errors


def test_training_is_deterministic_and_cacheable():
    config = dict(s.SENTIMENT_CONFIG, epochs=2, n_train=400, n_test=100, n_held_out=60)
    (ta, ma), (tb, mb) = s.train_sentiment_bilinear(config), s.train_sentiment_bilinear(dict(config))
    assert ma == mb and ta.keys() == tb.keys()
    assert all(torch.equal(ta[k], tb[k]) for k in ta)
    assert set(ma) == set(s.SENTIMENT_TOLERANCES)
    assert train_fn_path(s.train_sentiment_bilinear) == "helpers.bilinear.sentiment:train_sentiment_bilinear"
    assert json.loads(json.dumps(s.SENTIMENT_CONFIG)) == s.SENTIMENT_CONFIG


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"d": 0}, ValueError, r"config\['d'\] must be a positive int"),
        ({"epochs": 1.5}, ValueError, "epochs"),
        ({"lr": -1e-3}, ValueError, "lr"),
        ({"weight_decay": float("nan")}, ValueError, "weight_decay"),
        ({"seed": None}, ValueError, "seed"),
        ({"hidden": 3}, ValueError, "unknown.*hidden"),
    ],
)
def test_bad_config_fails_clearly(change, error, match):
    with pytest.raises(error, match=match):
        s.train_sentiment_bilinear({**s.SENTIMENT_CONFIG, **change})


def test_missing_config_key_and_non_dict_fail_clearly():
    config = dict(s.SENTIMENT_CONFIG)
    del config["lr"]
    with pytest.raises(ValueError, match=r"missing \['lr'\]"):
        s.train_sentiment_bilinear(config)
    with pytest.raises(TypeError, match="config must be a dict"):
        s.train_sentiment_bilinear([("d", 16)])


def test_readers_reject_bad_inputs(q_tok):
    with pytest.raises(ValueError, match="bias-free"):
        s.token_interaction_matrix(BilinearClassifier(len(s.VOCAB), 4, 2, bias=True))
    with pytest.raises(ValueError, match="two classes"):
        s.token_interaction_matrix(BilinearClassifier(len(s.VOCAB), 4, 3))
    with pytest.raises(TypeError, match="BilinearClassifier"):
        s.token_interaction_matrix(torch.nn.Linear(3, 2))
    with pytest.raises(ValueError, match=r"q_tok must be \(32, 32\)"):
        s.and_gate(q_tok[:5, :5])
    with pytest.raises(ValueError, match="to match x"):
        s.predict_from_weights(q_tok, torch.ones(3, 5))
    with pytest.raises(ValueError, match="k must be an int between 1 and 32"):
        s.eigen_loadings(eigendecompose(q_tok), k=0)
    with pytest.raises(TypeError, match="SentimentCorpus"):
        s.linear_baseline("corpus")


# --------------------------------------------------------------------------------------------- readers, by brute force
# On a random symmetric Q_tok (no structure for two formulas to agree on), each reader against sums written out over
# words, one pair at a time.


def _random_q(seed: int = 7) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(len(s.VOCAB), len(s.VOCAB), generator=g, dtype=torch.float64)
    return (q + q.T) / 2


def _bag(*words: str) -> torch.Tensor:
    x = torch.zeros(len(s.VOCAB), dtype=torch.float64)
    for w in words:
        x[s.VOCAB.index(w)] += 1
    return x


def test_and_gate_table_by_brute_force():
    q = _random_q()
    idx = {c: [i for i, w in enumerate(s.VOCAB) if s.WORD_CLASS[w] == c] for c in s.CLASSES}

    def mean_cross(a, b):
        return sum(2 * float(q[i, j]) for i in idx[a] for j in idx[b]) / (len(idx[a]) * len(idx[b]))

    def mean_self(c):
        return sum(float(q[i, i]) for i in idx[c]) / len(idx[c])

    neutral = [abs(float(q[i, j])) * (1 if i == j else 2) for i in idx["neutral"] for j in range(len(s.VOCAB))]
    table = s.and_gate(q)
    assert table.negator_positive == pytest.approx(mean_cross("negator", "positive"), rel=1e-12)
    assert table.negator_negative == pytest.approx(mean_cross("negator", "negative"), rel=1e-12)
    assert table.positive_negative == pytest.approx(mean_cross("positive", "negative"), rel=1e-12)
    assert table.positive_self == pytest.approx(mean_self("positive"), rel=1e-12)
    assert table.negative_self == pytest.approx(mean_self("negative"), rel=1e-12)
    assert table.negator_self == pytest.approx(mean_self("negator"), rel=1e-12)
    assert table.neutral_mean_abs == pytest.approx(sum(neutral) / len(neutral), rel=1e-12)
    assert table.neutral_max_abs == pytest.approx(max(neutral), rel=1e-12)


def test_bare_phrase_scores_are_the_quadratic_form_of_each_phrase():
    q = _random_q()
    scores = s.pair_scores(q)
    assert scores.shape == (1 + len(s.NEGATORS), len(s.ADJECTIVES))
    for j, adjective in enumerate(s.ADJECTIVES):
        x = _bag(adjective)
        assert float(scores[0, j]) == pytest.approx(float(x @ q @ x), rel=1e-12)
        for k, negator in enumerate(s.NEGATORS):
            x = _bag(negator, adjective)
            assert float(scores[1 + k, j]) == pytest.approx(float(x @ q @ x), rel=1e-12)
    x = torch.stack([_bag("not", "good", "the", "movie"), _bag("good", "good")])
    assert s.predict_from_weights(q, x).tolist() == pytest.approx([float(v @ q @ v) for v in x], rel=1e-12)


def test_eigen_loadings_by_class_written_out():
    q = _random_q(3)
    eigen = eigendecompose(q)
    loadings = s.eigen_loadings(eigen, k=2, n_top=3)
    assert len(loadings) == 2
    for i, reading in enumerate(loadings):
        vec = eigen.vectors[:, i] / eigen.vectors[:, i].norm()
        assert reading.value == float(eigen.values[i])
        for c in s.CLASSES:
            members = [j for j, w in enumerate(s.VOCAB) if s.WORD_CLASS[w] == c]
            assert reading.mass[c] == pytest.approx(sum(float(vec[j]) ** 2 for j in members), rel=1e-12)
            assert reading.mean[c] == pytest.approx(sum(float(vec[j]) for j in members) / len(members), rel=1e-12)
        assert sum(reading.mass.values()) == pytest.approx(1.0)
        largest = sorted(range(len(s.VOCAB)), key=lambda j: -abs(float(vec[j])))[:3]
        assert reading.top == tuple((s.VOCAB[j], float(vec[j])) for j in largest)
    for k, n_top, name, top, got in (
        (0, 3, "k", len(s.VOCAB), 0),
        (2, len(s.VOCAB) + 1, "n_top", len(s.VOCAB), len(s.VOCAB) + 1),
        (True, 3, "k", len(s.VOCAB), True),
    ):
        with pytest.raises(ValueError) as refused:
            s.eigen_loadings(eigen, k=k, n_top=n_top)
        assert str(refused.value) == f"{name} must be an int between 1 and {top}, got {got!r}"
    assert len(s.eigen_loadings(eigen, k=len(s.VOCAB), n_top=len(s.VOCAB))) == len(s.VOCAB)  # both at their top


def test_held_out_report_against_its_definitions(corpus):
    torch.manual_seed(0)
    model = s.sentiment_model()  # untrained: its signs disagree with the truth on some phrases
    report = s.held_out_report(model, corpus.held_out)
    x, y = corpus.held_out.x, corpus.held_out.y
    with torch.no_grad():
        logits = model(x)
    actual = logits[:, s.POSITIVE_CLASS] - logits[:, s.NEGATIVE_CLASS]
    q = s.token_interaction_matrix(model)
    predicted = torch.stack([v @ q @ v for v in x])
    assert torch.allclose(report.from_weights, predicted, atol=1e-6) and torch.equal(report.model, actual)
    signs = report.from_weights > 0  # the signs of the values just checked (a value near 0 may round either way)
    right = signs == (y == s.POSITIVE_CLASS)
    assert report.accuracy == pytest.approx(float(right.double().mean()))
    assert report.agreement == pytest.approx(float((signs == (actual > 0)).double().mean()))
    assert report.max_deviation == pytest.approx(float((report.from_weights - actual).abs().max()), abs=1e-12)
    assert 0 < report.accuracy < 1  # the check can tell a wrong count from a right one
    combos = list(dict.fromkeys(corpus.held_out.combos))
    assert list(report.per_combo) == combos
    for combo in combos:
        rows = [i for i, c in enumerate(corpus.held_out.combos) if c == combo]
        assert report.per_combo[combo] == pytest.approx(sum(bool(right[i]) for i in rows) / len(rows))
