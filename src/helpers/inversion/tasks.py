"""The two tasks of chapter 4 as token sequences: 3-digit addition and character counting.

**Addition.** ``B615+861=1476E``: operands 100–999, their sum (3 or 4 digits), then ``E``; right-padded with ``P`` to
14 tokens. Vocabulary: the digits 0–9 are tokens 0–9, then ``B`` 10, ``+`` 11, ``=`` 12, ``E`` 13, ``P`` 14. All
900 × 900 = 810,000 problems exist, so a preimage can be enumerated exactly.

**Counting.** ``Bvvzccvczvvvzvcvc|v:8E``: 3 to 27 letters drawn from three distinct letters, ``|``, a query letter
among the three, ``:``, how often the query letter occurs (1–9), ``E``; right-padded with ``P`` to 33 tokens.
Vocabulary: ``a``–``z`` are 0–25, the digits 1–9 are 26–34, then ``|`` 35, ``:`` 36, ``B`` 37, ``E`` 38, ``P`` 39.
"""

from __future__ import annotations

import string
from typing import NamedTuple

import torch

__all__ = [
    "ADDITION",
    "COUNTING",
    "Task",
    "addition_problems",
    "addition_tokens",
    "counting_batch",
    "decode",
    "encode",
]


class Task(NamedTuple):
    """A task's vocabulary (token id → character) and its padded sequence length."""

    name: str
    vocab: tuple[str, ...]
    length: int

    @property
    def pad(self) -> int:
        return self.vocab.index("P")

    @property
    def size(self) -> int:
        return len(self.vocab)


ADDITION = Task("addition", tuple("0123456789") + ("B", "+", "=", "E", "P"), 14)
COUNTING = Task("counting", tuple(string.ascii_lowercase) + tuple("123456789") + ("|", ":", "B", "E", "P"), 33)


def encode(task: Task, text: str) -> torch.Tensor:
    """The tokens (task.length,) of ``text`` (e.g. ``"B615+861=1476E"``), right-padded with ``P``."""
    if len(text) > task.length:
        raise ValueError(f"{text!r} has {len(text)} characters, more than the {task.length} of {task.name}")
    unknown = sorted(set(text) - set(task.vocab))
    if unknown:
        raise ValueError(f"{text!r} has characters {unknown} outside the {task.name} vocabulary")
    ids = [task.vocab.index(c) for c in text] + [task.pad] * (task.length - len(text))
    return torch.tensor(ids, dtype=torch.long)


def decode(task: Task, tokens: torch.Tensor) -> str:
    """The text of one token sequence, padding dropped."""
    return "".join(task.vocab[int(t)] for t in tokens if int(t) != task.pad)


def addition_tokens(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Tokens (n, 14) of the problems ``a + b`` (each (n,), 100–999), built arithmetically (no strings)."""
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-d of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if ((a < 100) | (a > 999) | (b < 100) | (b > 999)).any():
        raise ValueError("operands must lie in 100–999")
    n, s = a.shape[0], a + b
    digits = lambda v, k: torch.stack([(v // 10 ** i) % 10 for i in range(k - 1, -1, -1)], dim=1)  # noqa: E731
    out = torch.full((n, ADDITION.length), ADDITION.pad, dtype=torch.long)
    out[:, 0] = 10
    out[:, 1:4] = digits(a, 3)
    out[:, 4] = 11
    out[:, 5:8] = digits(b, 3)
    out[:, 8] = 12
    four = s >= 1000
    out[~four, 9:12] = digits(s[~four], 3)
    out[~four, 12] = 13
    out[four, 9:13] = digits(s[four], 4)
    out[four, 13] = 13
    return out


def addition_problems(test_fraction: float = 0.25, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """All 810,000 problems as operand pairs (n, 2), split at random into train and test (a fixed permutation)."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    a, b = torch.meshgrid(torch.arange(100, 1000), torch.arange(100, 1000), indexing="ij")
    pairs = torch.stack([a.reshape(-1), b.reshape(-1)], dim=1)  # (810000, 2)
    order = torch.randperm(pairs.shape[0], generator=torch.Generator().manual_seed(seed))
    n_test = round(test_fraction * pairs.shape[0])
    return pairs[order[n_test:]], pairs[order[:n_test]]


def counting_batch(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` fresh counting problems: tokens (n, 33) and the answer position (n,) (the count digit after ``:``).

    Three distinct letters get counts drawn uniformly from 1–9 each (at most 27 letters), shuffled; the query is
    one of the three, uniformly.
    """
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    letters = torch.rand(n, 26, generator=generator).argsort(dim=1)[:, :3]  # (n, 3): three distinct letters
    counts = torch.randint(1, 10, (n, 3), generator=generator)  # (n, 3)
    which = torch.randint(0, 3, (n,), generator=generator)
    total = counts.sum(dim=1)  # (n,): 3 to 27 letters
    slots = torch.arange(27)
    kind = (slots >= counts[:, :1]).long() + (slots >= counts[:, :2].sum(dim=1, keepdim=True)).long()  # (n, 27)
    used = slots < total[:, None]  # the first `total` slots hold letters, counts[i] of letter i
    shuffle = torch.rand(n, 27, generator=generator).masked_fill(~used, 2.0).argsort(dim=1)  # used slots first
    body = letters.gather(1, kind).gather(1, shuffle)  # (n, 27): the letters in random order, then filler
    rows = torch.arange(n)
    out = torch.full((n, COUNTING.length), COUNTING.pad, dtype=torch.long)
    out[:, 0] = 37
    out[:, 1:28] = torch.where(used, body, COUNTING.pad)
    out[rows, total + 1] = 35
    out[rows, total + 2] = letters[rows, which]
    out[rows, total + 3] = 36
    out[rows, total + 4] = 25 + counts[rows, which]  # the digit d is token 25 + d
    out[rows, total + 5] = 38
    return out, total + 4
