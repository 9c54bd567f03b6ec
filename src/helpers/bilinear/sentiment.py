"""A sentiment-negation AND gate read from the weights of a small bilinear model.

Pearce et al. (2024, arXiv 2410.08417) found in a bilinear TinyStories language model an AND gate between
negation features and sentiment features: the output features "not good" and "not bad" are computed by strong
*interactions* between the two groups, with negligible self-interactions, and the interaction matrix has two
outlier eigenvalues of opposite sign. This module is a small synthetic stand-in that shows the same picture.

**The corpus.** Short phrases such as ``"the movie was not really good"``: optional filler words (a determiner,
a noun, a verb, an intensifier), an optional negator, and exactly one sentiment adjective at the end. The label
is the adjective's sentiment, flipped when a negator precedes it. A phrase is fed to the model as a
bag-of-words count vector ``x ∈ R^V``. No linear function of ``x`` can fit the labels: ``good`` must push
towards *positive* and ``not good`` towards *negative*, so ``not`` must push towards negative by more than
``good`` pushes towards positive, while ``not bad`` asks the opposite (an XOR). The model has to multiply.
Some (negator, adjective) combinations are held out of training entirely; each negator and each adjective
still occurs in training with other partners.

**The model.** :class:`helpers.bilinear.BilinearClassifier` without biases: embedding ``E`` (``d × V``),
bilinear layer ``(W E x) ⊙ (V E x)``, head (``2 × d``). Without biases the logit difference is *exactly* a
quadratic form of the counts,

    logit_pos − logit_neg = xᵀ Q_tok x,    Q_tok = Eᵀ Q E,    Q = Σ_a u_a ½ (w_a v_aᵀ + v_a w_aᵀ),

with ``u = head[pos] − head[neg]``, and ``Q_tok[i, j]`` reads directly as "how much words ``i`` and ``j``
together push towards positive". Biases would add a linear term and a constant (foldable, see
:func:`helpers.bilinear.fold_bias`) that the task does not need: every phrase holds exactly one adjective, so
the adjective's self-interaction ``Q_tok[adj, adj]`` already plays the role of a bias. Leaving them out keeps
the whole model in one ``V × V`` matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .._checks import require_tensor
from ..data import Split
from ..training import accuracy, train_classifier
from .tensors import BilinearClassifier, Eigen, interaction_matrix

__all__ = [
    "ADJECTIVES",
    "CLASSES",
    "HELD_OUT",
    "NEGATIVE",
    "NEGATIVE_CLASS",
    "NEGATORS",
    "NEUTRAL",
    "POSITIVE",
    "POSITIVE_CLASS",
    "SENTIMENT_CONFIG",
    "SENTIMENT_TOLERANCES",
    "VOCAB",
    "WORD_CLASS",
    "WORD_GROUPS",
    "AndGate",
    "EigenLoading",
    "HeldOutReport",
    "PhraseSet",
    "SentimentCorpus",
    "and_gate",
    "bare_phrase_scores",
    "eigen_loadings",
    "encode",
    "held_out_report",
    "label",
    "linear_baseline",
    "logit_difference",
    "make_corpus",
    "pair_scores",
    "predict_from_weights",
    "sentiment_model",
    "token_interaction_matrix",
    "train_sentiment_bilinear",
]

# --------------------------------------------------------------------------------------------- vocabulary

NEGATORS: tuple[str, ...] = ("not", "never", "hardly")
POSITIVE: tuple[str, ...] = ("good", "great", "fine", "nice", "lovely", "excellent")
NEGATIVE: tuple[str, ...] = ("bad", "awful", "poor", "terrible", "boring", "dull")
ADJECTIVES: tuple[str, ...] = POSITIVE + NEGATIVE
_DETERMINERS = ("the", "this", "my")
_NOUNS = ("movie", "food", "book", "service", "weather", "story")
_VERBS = ("was", "is", "seemed", "felt")
_INTENSIFIERS = ("really", "very", "quite", "so")
NEUTRAL: tuple[str, ...] = _DETERMINERS + _NOUNS + _VERBS + _INTENSIFIERS
#: The vocabulary, grouped by word class: negators, positive, negative, neutral (the order of ``x``'s entries).
VOCAB: tuple[str, ...] = NEGATORS + POSITIVE + NEGATIVE + NEUTRAL
#: The word classes in vocabulary order, and the class of every word.
CLASSES: tuple[str, ...] = ("negator", "positive", "negative", "neutral")
WORD_CLASS: dict[str, str] = {
    **{w: "negator" for w in NEGATORS},
    **{w: "positive" for w in POSITIVE},
    **{w: "negative" for w in NEGATIVE},
    **{w: "neutral" for w in NEUTRAL},
}
_INDEX = {w: i for i, w in enumerate(VOCAB)}
#: The positions in :data:`VOCAB` of each word class.
WORD_GROUPS: dict[str, tuple[int, ...]] = {
    c: tuple(i for i, w in enumerate(VOCAB) if WORD_CLASS[w] == c) for c in CLASSES
}
_GROUPS = {c: list(v) for c, v in WORD_GROUPS.items()}

#: (negator, adjective) combinations that never occur in training: each negator loses two adjectives (one of
#: each sentiment), each of these six adjectives loses one negator.
HELD_OUT: tuple[tuple[str, str], ...] = (
    ("not", "lovely"),
    ("not", "dull"),
    ("never", "great"),
    ("never", "terrible"),
    ("hardly", "good"),
    ("hardly", "awful"),
)

NEGATIVE_CLASS, POSITIVE_CLASS = 0, 1

# Probability that each optional filler slot is filled. No filler slot is always present, so no neutral word
# (or group of them) can stand in for a constant: the only word every phrase has exactly once is its adjective.
_SLOT_PROBABILITY = 0.7
_NEGATION_PROBABILITY = 0.5


def label(phrase: str) -> int:
    """The true label of a phrase: the adjective's sentiment, flipped when a negator precedes it.

    Returns :data:`POSITIVE_CLASS` (1) or :data:`NEGATIVE_CLASS` (0). Raises on a phrase without exactly one
    adjective, with more than one negator, with a negator after the adjective, or with unknown words.
    """
    if not isinstance(phrase, str):
        raise TypeError(f"phrase must be a str, got {type(phrase).__name__}")
    words = phrase.split()
    unknown = [w for w in words if w not in _INDEX]
    if unknown:
        raise ValueError(f"phrase {phrase!r} has words outside the vocabulary: {unknown}")
    adjectives = [i for i, w in enumerate(words) if w in ADJECTIVES]
    negators = [i for i, w in enumerate(words) if w in NEGATORS]
    if len(adjectives) != 1 or len(negators) > 1:
        raise ValueError(f"phrase {phrase!r} must hold exactly one adjective and at most one negator")
    if negators and negators[0] > adjectives[0]:
        raise ValueError(f"phrase {phrase!r}: the negator must precede the adjective")
    positive = words[adjectives[0]] in POSITIVE
    if negators:
        positive = not positive
    return POSITIVE_CLASS if positive else NEGATIVE_CLASS


def encode(phrases: list[str] | tuple[str, ...]) -> torch.Tensor:
    """Bag-of-words counts (n, V), float32, in :data:`VOCAB` order. Raises on unknown words."""
    if isinstance(phrases, str) or not isinstance(phrases, (list, tuple)):
        raise TypeError(f"phrases must be a list of strings, got {type(phrases).__name__}")
    rows, cols = [], []
    for n, phrase in enumerate(phrases):
        if not isinstance(phrase, str):
            raise TypeError(f"phrases[{n}] must be a str, got {type(phrase).__name__}")
        for word in phrase.split():
            if word not in _INDEX:
                raise ValueError(
                    f"unknown word {word!r} in phrase {phrase!r}; the vocabulary is helpers.bilinear.sentiment.VOCAB"
                )
            rows.append(n)
            cols.append(_INDEX[word])
    x = np.zeros((len(phrases), len(VOCAB)), dtype=np.float32)
    np.add.at(x, (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)), 1.0)
    return torch.from_numpy(x)


@dataclass(frozen=True)
class PhraseSet:
    """Phrases, their bag-of-words counts ``x`` (n, V) and labels ``y`` (n,), and each phrase's combination."""

    phrases: tuple[str, ...]
    x: torch.Tensor
    y: torch.Tensor
    combos: tuple[tuple[str | None, str], ...]  # (negator or None, adjective)

    def __len__(self) -> int:
        return len(self.phrases)

    def __repr__(self) -> str:
        return f"PhraseSet({len(self)} phrases, {int(self.y.sum())} positive)"


@dataclass(frozen=True)
class SentimentCorpus:
    """Training phrases, test phrases (training combinations, bags of words unseen in training) and held-out
    phrases (only the :data:`HELD_OUT` combinations, never seen in training)."""

    train: PhraseSet
    test: PhraseSet
    held_out: PhraseSet

    def __repr__(self) -> str:
        return f"SentimentCorpus(train={len(self.train)}, test={len(self.test)}, held_out={len(self.held_out)})"


def _phrase(rng: np.random.Generator, negator: str | None, adjective: str) -> str:
    words = []
    for slot in (_DETERMINERS, _NOUNS, _VERBS):
        if rng.random() < _SLOT_PROBABILITY:
            words.append(slot[rng.integers(len(slot))])
    if negator is not None:
        words.append(negator)
    if rng.random() < _SLOT_PROBABILITY:
        words.append(_INTENSIFIERS[rng.integers(len(_INTENSIFIERS))])
    words.append(adjective)
    return " ".join(words)


def _combo(rng: np.random.Generator) -> tuple[str | None, str]:
    negator = NEGATORS[rng.integers(len(NEGATORS))] if rng.random() < _NEGATION_PROBABILITY else None
    return negator, ADJECTIVES[rng.integers(len(ADJECTIVES))]


def _bag(phrase: str) -> tuple[str, ...]:
    return tuple(sorted(phrase.split()))


def _phrase_set(items: list[tuple[str, tuple[str | None, str]]]) -> PhraseSet:
    phrases = tuple(p for p, _ in items)
    y = torch.tensor([label(p) for p in phrases], dtype=torch.long)
    return PhraseSet(phrases, encode(list(phrases)), y, tuple(c for _, c in items))


def make_corpus(n_train: int, n_test: int, n_held_out: int, seed: int) -> SentimentCorpus:
    """Sample the corpus deterministically from ``numpy.random.default_rng(seed)``.

    Half the phrases carry a negator (uniform over :data:`NEGATORS`); the adjective is uniform over
    :data:`ADJECTIVES`. Training phrases avoid the :data:`HELD_OUT` combinations; test phrases use the training
    combinations but no bag of words that occurs in training; held-out phrases use only the held-out
    combinations (uniformly).
    """
    for name, value in (("n_train", n_train), ("n_test", n_test), ("n_held_out", n_held_out)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    rng = np.random.default_rng(seed)
    held = set(HELD_OUT)
    train: list[tuple[str, tuple[str | None, str]]] = []
    while len(train) < n_train:
        combo = _combo(rng)
        if combo not in held:
            train.append((_phrase(rng, *combo), combo))
    seen = {_bag(p) for p, _ in train}
    test: list[tuple[str, tuple[str | None, str]]] = []
    for _ in range(1000 * n_test):
        if len(test) == n_test:
            break
        combo = _combo(rng)
        if combo in held:
            continue
        phrase = _phrase(rng, *combo)
        if _bag(phrase) not in seen:
            test.append((phrase, combo))
    else:
        raise ValueError(f"could not find {n_test} test phrases unseen in training; lower n_train or n_test")
    held_out = []
    for _ in range(n_held_out):
        combo = HELD_OUT[rng.integers(len(HELD_OUT))]
        held_out.append((_phrase(rng, *combo), combo))
    return SentimentCorpus(_phrase_set(train), _phrase_set(test), _phrase_set(held_out))


# --------------------------------------------------------------------------------------------- model, training

#: The default sentiment model: a 32-word vocabulary embedded in d = 16 dimensions. Trains in a second or two.
#: Weight decay keeps ``Q_tok`` clean: two outlier eigenvalues and the rest near zero, neutral words near zero.
#: Without it (``weight_decay=0``) the data are still fitted, but entries involving neutral words reach ~14 and
#: the spectrum grows a tail. Other seeds (or d = 8) also find the AND gate, sometimes with two outliers of
#: unequal size (e.g. -96 and +24) where the negators' self-interaction takes up the difference.
SENTIMENT_CONFIG: dict[str, Any] = {
    "n_train": 3000,
    "n_test": 1000,
    "n_held_out": 600,
    "data_seed": 0,
    "d": 16,
    "epochs": 40,
    "batch_size": 100,
    "lr": 1e-2,
    "weight_decay": 1.0,
    "seed": 0,
}
#: How far a retraining from scratch may move each metric (absolute).
SENTIMENT_TOLERANCES: dict[str, float] = {
    "train_accuracy": 0.01,
    "test_accuracy": 0.01,
    "held_out_accuracy": 0.02,
    "train_loss": 0.02,
}


def _check_config(config: Any) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    missing = sorted(set(SENTIMENT_CONFIG) - set(config))
    unknown = sorted(set(config) - set(SENTIMENT_CONFIG))
    if missing or unknown:
        raise ValueError(f"config keys must be those of SENTIMENT_CONFIG; missing {missing}, unknown {unknown}")
    for key in ("n_train", "n_test", "n_held_out", "d", "epochs", "batch_size"):
        value = config[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"config[{key!r}] must be a positive int, got {value!r}")
    for key in ("data_seed", "seed"):
        if not isinstance(config[key], int) or isinstance(config[key], bool):
            raise ValueError(f"config[{key!r}] must be an int, got {config[key]!r}")
    lr, wd = config["lr"], config["weight_decay"]
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"config['lr'] must be a positive number, got {lr!r}")
    if not isinstance(wd, (int, float)) or isinstance(wd, bool) or not (math.isfinite(wd) and wd >= 0):
        raise ValueError(f"config['weight_decay'] must be a number >= 0, got {wd!r}")
    return config


def sentiment_model(config: dict[str, Any] | None = None) -> BilinearClassifier:
    """An untrained bias-free ``BilinearClassifier(V, d, 2)`` for ``config`` (default :data:`SENTIMENT_CONFIG`).

    Load trained weights with ``model.load_state_dict(tensors)``.
    """
    config = _check_config(dict(SENTIMENT_CONFIG) if config is None else config)
    return BilinearClassifier(len(VOCAB), config["d"], 2, bias=False)


def train_sentiment_bilinear(config: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Train the sentiment model with AdamW and cross-entropy; return its state dict and metrics.

    Deterministic: the corpus comes from ``config['data_seed']``, the initial weights from
    ``torch.manual_seed(config['seed'])`` and the batch order from a generator seeded with ``config['seed']``.
    Metrics: ``train_accuracy``, ``test_accuracy``, ``held_out_accuracy`` (phrases whose (negator, adjective)
    combination never occurs in training) and the final full-batch ``train_loss``.
    """
    config = _check_config(config)
    corpus = make_corpus(config["n_train"], config["n_test"], config["n_held_out"], config["data_seed"])
    torch.manual_seed(config["seed"])
    model = sentiment_model(config)
    split = Split(corpus.train.x, corpus.train.y, corpus.test.x, corpus.test.y)
    measured = train_classifier(
        model,
        split,
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        lr=config["lr"],
        weight_decay=config["weight_decay"],
        seed=config["seed"],
        desc="sentiment bilinear",
    )
    with torch.no_grad():
        train_loss = float(nn.functional.cross_entropy(model(split.x_train), split.y_train))
    metrics = {
        "train_accuracy": measured["train_accuracy"],
        "test_accuracy": measured["test_accuracy"],
        "held_out_accuracy": accuracy(model, corpus.held_out.x, corpus.held_out.y),
        "train_loss": train_loss,
    }
    return model.state_dict(), metrics


def linear_baseline(corpus: SentimentCorpus, *, steps: int = 200, lr: float = 0.05, seed: int = 0) -> dict[str, float]:
    """Fit a linear classifier (logistic regression on the counts, with bias) to the training phrases.

    Full-batch Adam for ``steps`` steps from ``torch.manual_seed(seed)``. Returns ``train_accuracy`` and
    ``held_out_accuracy``: a linear model cannot represent "negator AND adjective", so it stays far below 1.
    """
    if not isinstance(corpus, SentimentCorpus):
        raise TypeError(f"corpus must be a SentimentCorpus (from make_corpus), got {type(corpus).__name__}")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1 or not lr > 0:
        raise ValueError(f"steps must be a positive int and lr > 0, got steps={steps!r}, lr={lr!r}")
    # its own random state and gradients on, whatever the caller has set
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(seed)
        linear = nn.Linear(len(VOCAB), 2)
        optimiser = torch.optim.Adam(linear.parameters(), lr=lr)
        for _ in range(steps):
            loss = nn.functional.cross_entropy(linear(corpus.train.x), corpus.train.y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return {
        "train_accuracy": accuracy(linear, corpus.train.x, corpus.train.y),
        "held_out_accuracy": accuracy(linear, corpus.held_out.x, corpus.held_out.y),
    }


# --------------------------------------------------------------------------------------------- reading the weights


def _require_bias_free(model: Any) -> BilinearClassifier:
    if not isinstance(model, BilinearClassifier):
        raise TypeError(f"model must be a helpers.bilinear.BilinearClassifier, got {type(model).__name__}")
    if model.w.bias is not None:
        raise ValueError("token_interaction_matrix needs a bias-free model (biases add linear terms to xᵀQx)")
    if not isinstance(model.embed, nn.Linear) or model.head.out_features != 2:
        raise ValueError("the model must have an embedding and exactly two classes (negative, positive)")
    return model


def token_interaction_matrix(model: BilinearClassifier) -> torch.Tensor:
    """``Q_tok = Eᵀ Q E`` (V, V), symmetric, for the logit difference ``u = head[pos] − head[neg]``.

    For a bag of words ``x``: ``logit_pos − logit_neg = xᵀ Q_tok x`` exactly (up to rounding).
    """
    model = _require_bias_free(model)
    head = model.head.weight.detach()
    u = head[POSITIVE_CLASS] - head[NEGATIVE_CLASS]  # (d,)
    q = interaction_matrix(model.w.weight.detach(), model.v.weight.detach(), u)  # (d, d)
    e = model.embed.weight.detach()  # (d, V)
    q_tok = e.T @ q @ e
    return (q_tok + q_tok.T) / 2


@torch.no_grad()
def logit_difference(model: BilinearClassifier, x: torch.Tensor) -> torch.Tensor:
    """The model's ``logit_pos − logit_neg`` (n,) for bags of words ``x`` (n, V)."""
    x = require_tensor(x, "x", ndim=2)
    logits = model(x)
    return logits[:, POSITIVE_CLASS] - logits[:, NEGATIVE_CLASS]


def predict_from_weights(q_tok: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``xᵀ Q_tok x`` (n,) for bags of words ``x`` (n, V): the logit difference, from the weights alone."""
    q_tok = require_tensor(q_tok, "q_tok", ndim=2)
    x = require_tensor(x, "x", ndim=2)
    if q_tok.shape != (x.shape[1], x.shape[1]):
        raise ValueError(f"q_tok must be ({x.shape[1]}, {x.shape[1]}) to match x, got {tuple(q_tok.shape)}")
    return torch.einsum("ni,ij,nj->n", x, q_tok.to(x.dtype), x)


def _check_q_tok(q_tok: Any) -> torch.Tensor:
    q_tok = require_tensor(q_tok, "q_tok", ndim=2)
    if q_tok.shape != (len(VOCAB), len(VOCAB)):
        raise ValueError(f"q_tok must be ({len(VOCAB)}, {len(VOCAB)}) over helpers.bilinear.sentiment.VOCAB, "
                         f"got {tuple(q_tok.shape)}")
    return q_tok


class AndGate(NamedTuple):
    """Mean entries of ``Q_tok`` by word class (a phrase's logit difference sums these).

    ``negator_positive`` and ``negator_negative`` are mean *cross* terms ``2 Q_tok[n, a]`` (a pair appears twice
    in ``xᵀQx``); the ``*_self`` fields are mean diagonal entries ``Q_tok[a, a]``; ``neutral_mean_abs`` and
    ``neutral_max_abs`` summarise ``|2 Q_tok[i, j]|`` for every pair involving a neutral word (diagonal included,
    undoubled); ``positive_negative`` is the mean ``2 Q_tok[p, a]`` (a pair that never occurs in the corpus).
    """

    negator_positive: float
    negator_negative: float
    positive_self: float
    negative_self: float
    negator_self: float
    positive_negative: float
    neutral_mean_abs: float
    neutral_max_abs: float


def and_gate(q_tok: torch.Tensor) -> AndGate:
    """The AND-gate table of ``Q_tok``: interaction of negators with adjectives against self-interactions."""
    q = _check_q_tok(q_tok).double()
    neg, pos, bad, neu = (torch.tensor(_GROUPS[c]) for c in CLASSES)

    def block(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        return q[rows][:, cols]

    diag = torch.diagonal(q)
    neutral = 2 * q[neu].abs()  # (n_neutral, V): every pair involving a neutral word, doubled off the diagonal
    neutral[torch.arange(len(neu)), neu] /= 2
    return AndGate(
        negator_positive=float(2 * block(neg, pos).mean()),
        negator_negative=float(2 * block(neg, bad).mean()),
        positive_self=float(diag[pos].mean()),
        negative_self=float(diag[bad].mean()),
        negator_self=float(diag[neg].mean()),
        positive_negative=float(2 * block(pos, bad).mean()),
        neutral_mean_abs=float(neutral.mean()),
        neutral_max_abs=float(neutral.max()),
    )


def bare_phrase_scores(q_tok: torch.Tensor, negators: list[int], adjectives: list[int]) -> torch.Tensor:
    """``xᵀ Q_tok x`` of every bare phrase, (1 + #negators, #adjectives), for any word indices.

    Row 0 is the adjective alone, ``Q[a, a]``; row ``1 + k`` is negator ``k`` then the adjective,
    ``Q[a, a] + 2 Q[n, a] + Q[n, n]``: a pair of different words appears twice in the quadratic form.
    """
    q = require_tensor(q_tok, "q_tok", ndim=2)
    n, a = torch.tensor(negators, dtype=torch.long), torch.tensor(adjectives, dtype=torch.long)
    alone = torch.diagonal(q)[a]  # (A,)
    negated = alone[None, :] + 2 * q[n][:, a] + torch.diagonal(q)[n][:, None]  # (N, A)
    return torch.cat([alone[None, :], negated])


def pair_scores(q_tok: torch.Tensor) -> torch.Tensor:
    """The logit difference of every bare phrase of the vocabulary, read from ``Q_tok``: (1 + #negators,
    #adjectives), rows ``(none), NEGATORS…``, columns :data:`ADJECTIVES` (see :func:`bare_phrase_scores`)."""
    q = _check_q_tok(q_tok)
    return bare_phrase_scores(q, [_INDEX[n] for n in NEGATORS], [_INDEX[a] for a in ADJECTIVES])


class EigenLoading(NamedTuple):
    """One eigenvector of ``Q_tok`` summarised by word class.

    ``mass[c]`` is the share of the (unit) eigenvector's squared norm on class ``c`` (sums to 1); ``mean[c]`` its
    mean signed loading on that class; ``top`` the words of largest |loading|, as (word, loading).
    """

    value: float
    mass: dict[str, float]
    mean: dict[str, float]
    top: tuple[tuple[str, float], ...]


def eigen_loadings(eigen: Eigen, k: int = 4, n_top: int = 6) -> list[EigenLoading]:
    """Summarise the ``k`` eigenvectors of largest |λ| of ``Q_tok`` (from :func:`helpers.bilinear.eigendecompose`)."""
    values, vectors = eigen
    require_tensor(values, "eigen.values", ndim=1)
    require_tensor(vectors, "eigen.vectors", ndim=2)
    if vectors.shape != (len(VOCAB), values.shape[0]):
        raise ValueError(f"eigen must come from a ({len(VOCAB)}, {len(VOCAB)}) Q_tok, got vectors "
                         f"{tuple(vectors.shape)}")
    for name, value, top in (("k", k, values.shape[0]), ("n_top", n_top, len(VOCAB))):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
            raise ValueError(f"{name} must be an int between 1 and {top}, got {value!r}")
    out = []
    for i in range(k):
        vec = vectors[:, i].double()
        vec = vec / vec.norm()
        order = torch.argsort(vec.abs(), descending=True, stable=True)[:n_top]
        out.append(EigenLoading(
            value=float(values[i]),
            mass={c: float((vec[_GROUPS[c]] ** 2).sum()) for c in CLASSES},
            mean={c: float(vec[_GROUPS[c]].mean()) for c in CLASSES},
            top=tuple((VOCAB[j], float(vec[j])) for j in order.tolist()),
        ))
    return out


class HeldOutReport(NamedTuple):
    """Predictions from ``Q_tok`` on held-out phrases, against the model and the truth.

    ``from_weights`` (n,) is ``xᵀ Q_tok x``; ``model`` (n,) the model's logit difference; ``accuracy`` the share of
    phrases whose sign from the weights matches the true label; ``agreement`` the share where it matches the
    model's prediction; ``max_deviation`` the largest |from_weights − model|; ``per_combo`` the accuracy from
    the weights on each held-out (negator, adjective) combination.
    """

    from_weights: torch.Tensor
    model: torch.Tensor
    accuracy: float
    agreement: float
    max_deviation: float
    per_combo: dict[tuple[str, str], float]


def held_out_report(model: BilinearClassifier, phrases: PhraseSet) -> HeldOutReport:
    """Predict the sign of the logit difference of ``phrases`` from ``Q_tok`` alone, then run the model."""
    q_tok = token_interaction_matrix(model)
    predicted = predict_from_weights(q_tok, phrases.x)
    actual = logit_difference(model, phrases.x)
    truth = phrases.y == POSITIVE_CLASS
    right = (predicted > 0) == truth
    per_combo = {}
    for combo in dict.fromkeys(phrases.combos):
        mask = torch.tensor([c == combo for c in phrases.combos])
        per_combo[combo] = float(right[mask].float().mean())
    return HeldOutReport(
        from_weights=predicted,
        model=actual,
        accuracy=float(right.float().mean()),
        agreement=float(((predicted > 0) == (actual > 0)).float().mean()),
        max_deviation=float((predicted - actual).abs().max()),
        per_combo=per_combo,
    )
