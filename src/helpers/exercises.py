"""The book's exercise format: a learner's stub in the chapter, a reference in the helpers, and a check.

An :class:`Exercise` names a reference solution and the inputs to try. ``exercise.check(fn)`` runs the
learner's ``fn`` and the reference on every input, compares the results with a tolerance, prints a verdict
and raises :class:`ExerciseFailed` (an ``AssertionError``) on the first disagreement.

A learner may skip an exercise and come back to it: while ``fn`` is still the stub (it raises
``NotImplementedError``), ``check`` prints a notice that the exercise is skipped and returns the book's reference
solution instead of raising, so that the cells after it, which use the function, still run. A check cell therefore
rebinds the name: ``pinv_mask = exercise_pinv_mask.check(pinv_mask)``; ``check`` returns ``fn`` itself once it
agrees with the reference. See ``book/authoring.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["Exercise", "ExerciseFailed", "Prediction", "SKIPPED", "compare_outputs"]


class ExerciseFailed(AssertionError):
    """The learner's function disagrees with the reference."""


#: printed by a check whose exercise the learner skipped, before the cells that then use the reference solution
SKIPPED = (
    "⚠ {title}: skipped (your function is still the stub), so the cells below use the book's reference "
    "solution. Come back to it: replace `raise NotImplementedError` with your code, run that cell, then this "
    "check again."
)
#: printed by the check of a prediction the learner skipped (the answer is not given away)
PREDICTION_SKIPPED = (
    "⚠ {title}: skipped (your function is still the stub); the chapter goes on without it. Come "
    "back to it: write your prediction in place of `raise NotImplementedError`, run that cell, "
    "then this check again."
)


def _identity(value: Any) -> Any:
    return value


def _to_numpy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return value


def compare_outputs(actual: Any, expected: Any, *, rtol: float, atol: float, path: str = "output") -> str | None:
    """``None`` when ``actual`` matches ``expected`` (tensors, arrays, numbers, tuples/lists/dicts of them),
    else a sentence saying where and how they differ."""
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            return f"{path} should be a sequence of {len(expected)} items, got {type(actual).__name__}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            problem = compare_outputs(a, e, rtol=rtol, atol=atol, path=f"{path}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            return f"{path} should be a dict with keys {sorted(expected)}"
        for key in expected:
            problem = compare_outputs(actual[key], expected[key], rtol=rtol, atol=atol, path=f"{path}[{key!r}]")
            if problem:
                return problem
        return None
    if isinstance(expected, torch.Tensor) and not isinstance(actual, torch.Tensor):
        return f"{path} should be a torch.Tensor, got {type(actual).__name__}"
    a, e = np.asarray(_to_numpy(actual)), np.asarray(_to_numpy(expected))
    if a.shape != e.shape:
        return f"{path} has shape {a.shape}, expected {e.shape}"
    if a.dtype.kind not in "biuf":
        return f"{path} should be numeric, got dtype {a.dtype}"
    if not np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
        # only the entries that fail; a NaN facing a number counts as the largest deviation
        bad = ~np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
        with np.errstate(invalid="ignore"):
            diff = np.where(bad, np.abs(a.astype(np.float64) - e.astype(np.float64)), 0.0)
        where = (
            np.unravel_index(int(np.argmax(np.where(np.isnan(diff), np.inf, diff))), diff.shape) if diff.ndim else ()
        )
        index = tuple(int(i) for i in where)
        return f"{path} differs from the reference by up to {float(diff[where]):.3g} (at index {index})"
    return None


@dataclass(frozen=True)
class Exercise:
    """One exercise: its title, the reference solution and the inputs to compare on.

    Attributes:
        title: shown in verdicts, e.g. ``"Exercise 0.1 — the Gram matrix"``.
        reference: the reference solution, a function of the helpers.
        make_inputs: returns a list of argument tuples; called fresh for every check.
        canonical: applied to both outputs before comparing (e.g. to fix eigenvector signs).
    """

    title: str
    reference: Callable[..., Any]
    make_inputs: Callable[[], Sequence[tuple]]
    rtol: float = 1e-5
    atol: float = 1e-6
    canonical: Callable[[Any], Any] = _identity

    def check(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Run ``fn`` against the reference on every input; print a verdict, raise on disagreement. Returns ``fn``
        when it agrees, and the reference (with a printed notice) while ``fn`` is still the stub."""
        if not callable(fn):
            raise TypeError(f"{self.title}: pass your function itself, got {type(fn).__name__}")
        inputs = list(self.make_inputs())
        for i, args in enumerate(inputs, start=1):
            copies = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)
            try:
                actual = fn(*copies)
            except NotImplementedError:
                if i > 1:  # a function that works on some inputs and not others is an attempt, not a skip
                    raise
                print(SKIPPED.format(title=self.title))
                return self.reference
            expected = self.reference(*args)
            problem = compare_outputs(self.canonical(actual), self.canonical(expected), rtol=self.rtol, atol=self.atol)
            if problem:
                shapes = ", ".join(str(tuple(a.shape)) if hasattr(a, "shape") else repr(a) for a in args)
                message = f"✗ {self.title}: input {i} of {len(inputs)} (arguments {shapes}): {problem}"
                print(message)
                raise ExerciseFailed(message)
        print(f"✓ {self.title}: your function agrees with the reference on all {len(inputs)} inputs")
        return fn


@dataclass(frozen=True)
class Prediction:
    """An exercise whose answer is a number the learner decides *before* computing it.

    The learner writes a function of no arguments that returns the number (so that the learner's copy of the chapter
    runs with the stub in place). ``prediction.check(fn)`` prints a verdict with the reason when ``fn()`` is the
    answer and raises :class:`ExerciseFailed` with a hint (not the answer) otherwise; while ``fn`` is the stub it
    prints that the prediction is skipped, without the answer. It returns ``fn``, or the stub itself when skipped.

    Attributes:
        title: shown in verdicts, e.g. ``"Exercise 3.3 — predict before you compute"``.
        answer: the number the learner should arrive at.
        hint: what to think about, printed when the prediction is wrong.
        why: the reason, printed when it is right.
    """

    title: str
    answer: int
    hint: str
    why: str

    def check(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """Compare the learner's number with the answer; print a verdict, raise on a wrong number, print a notice
        while ``fn`` is the stub. Returns ``fn``."""
        if not callable(fn):
            raise TypeError(f"{self.title}: pass your function itself, got {type(fn).__name__}")
        try:
            value = fn()
        except NotImplementedError:
            print(PREDICTION_SKIPPED.format(title=self.title))
            return fn
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{self.title}: your prediction should be a whole number, got {value!r}")
        if int(value) != self.answer:
            message = f"✗ {self.title}: not {int(value)}. {self.hint}"
            print(message)
            raise ExerciseFailed(message)
        print(f"✓ {self.title}: {self.answer}, because {self.why}")
        return fn
