"""helpers.exercises and the workbench chapter's exercises: references pass, wrong answers and stubs fail clearly."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch.func import jacrev

from helpers import workbench
from helpers.exercises import Exercise, ExerciseFailed, compare_outputs
from helpers.linalg import canonical_signs, eigh_descending, gram


def _all_exercises() -> list[Exercise]:
    """Every Exercise defined at module level anywhere in the helpers package."""
    import importlib
    import pkgutil

    import helpers

    found = []
    for info in pkgutil.walk_packages(helpers.__path__, prefix="helpers."):  # the method wings' exercises too
        module = importlib.import_module(info.name)
        found += [obj for obj in vars(module).values() if isinstance(obj, Exercise) and obj not in found]
    return found


EXERCISES = _all_exercises()


def _perturbed(out):
    if isinstance(out, torch.Tensor):
        return out + 1.0
    if isinstance(out, (tuple, list)):
        return type(out)(_perturbed(o) for o in out)
    if isinstance(out, float):
        return out + 1.0
    return out


def test_every_chapter_exercise_is_found():
    titles = {e.title.split(" — ")[0] for e in EXERCISES}
    assert {
        "Exercise 0.1",
        "Exercise 0.2",
        "Exercise 1.1",
        "Exercise 1.2",
        "Exercise 1.3",
        "Exercise 1.4",
        "Exercise 1.5",
        "Exercise 1.6",
        "Exercise 2.1",
        "Exercise 2.3",
        "Exercise 2.4",
        "Exercise 2.5",
        "Exercise 3.1",
        "Exercise 3.2",
        "Exercise 3.4",
        "Exercise 3.5",
        "Exercise 4.1",
        "Exercise 4.3",
    } <= titles


def test_rotation_exercise_catches_eigenvectors_in_ascending_order():
    """The classic unsorted-eigh bug: torch.linalg.eigh returns the smallest eigenvalue first."""
    from helpers.lib.exercises import exercise_rotate

    def ascending(M, R, threshold):
        lam_rest, v_rest = torch.linalg.eigh(M[1:, 1:])
        v = torch.block_diag(torch.ones(1, 1, dtype=M.dtype), v_rest)
        lam = torch.cat([M[:1, 0], lam_rest])
        kept = torch.cat([torch.tensor([True]), lam_rest > threshold * lam_rest.max()])
        return R @ v[:, kept] * lam[kept].sqrt(), lam[kept]

    with pytest.raises(ExerciseFailed):
        exercise_rotate.check(ascending)


def test_rotation_exercise_catches_an_absolute_threshold():
    """The reference implementation's convention and a plausible slip: truncating Λ at an absolute threshold instead
    of one relative to the largest Λ. On a small-scaled M (one of the check's inputs) it keeps no feature at all."""
    from helpers.lib.exercises import exercise_rotate

    def absolute(M, R, threshold):
        lam_rest, v_rest = torch.linalg.eigh(M[1:, 1:])
        lam_rest, v_rest = lam_rest.flip(0), v_rest.flip(1)  # largest first
        v = torch.block_diag(torch.ones(1, 1, dtype=M.dtype), v_rest)
        lam = torch.cat([M[:1, 0], lam_rest])
        kept = torch.cat([torch.tensor([True]), lam_rest > threshold])
        return R @ v[:, kept] * lam[kept].sqrt(), lam[kept]

    with pytest.raises(ExerciseFailed):
        exercise_rotate.check(absolute)


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.title.split(" — ")[0])
def test_a_wrong_answer_fails(exercise):
    with pytest.raises(ExerciseFailed):
        exercise.check(lambda *args: _perturbed(exercise.reference(*args)))


def stub(*args):
    raise NotImplementedError


# --------------------------------------------------------------------------------------------- the workbench exercises


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.title.split(" — ")[0])
def test_reference_passes_its_own_check_and_is_returned(exercise, capsys):
    assert exercise.check(exercise.reference) is exercise.reference
    out = capsys.readouterr().out
    assert out.startswith("✓ ") and exercise.title in out


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.title.split(" — ")[0])
def test_a_skipped_exercise_hands_the_reference_on_with_a_notice(exercise, capsys):
    """A learner who skips an exercise goes on: the later cells get the reference solution, and are told so."""
    assert exercise.check(stub) is exercise.reference
    out = capsys.readouterr().out
    assert out.startswith(f"⚠ {exercise.title}: skipped") and "reference solution" in out


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.title.split(" — ")[0])
def test_inputs_are_fresh_and_float64(exercise):
    first, second = exercise.make_inputs(), exercise.make_inputs()
    assert len(first) >= 3
    for args_a, args_b in zip(first, second):
        for a, b in zip(args_a, args_b):
            if not isinstance(a, torch.Tensor):
                assert a == b
                continue
            assert a.dtype == torch.float64 or not a.dtype.is_floating_point  # token ids stay integers
            assert torch.equal(a, b) and a is not b


def test_covariance_reference_equals_numpy():
    for (x,) in workbench._covariance_inputs():
        expected = np.cov(x.numpy(), rowvar=False, bias=True)
        np.testing.assert_allclose(
            workbench._covariance(x).numpy(), expected.reshape(x.shape[1], x.shape[1]), rtol=1e-12, atol=1e-12
        )


def test_covariance_numpy_solution_passes():
    def learner(x):
        return torch.from_numpy(np.cov(x.numpy(), rowvar=False, bias=True).reshape(x.shape[1], x.shape[1]))

    workbench.exercise_covariance.check(learner)


def test_covariance_uncentred_answer_fails(capsys):
    with pytest.raises(ExerciseFailed, match=r"Exercise 0\.1.*input 1 of 4.*differs from the reference"):
        workbench.exercise_covariance.check(lambda x: gram(x))
    assert capsys.readouterr().out.startswith("✗ ")


def test_covariance_unbiased_answer_fails():
    def n_minus_one(x):
        x = x - x.mean(dim=0)
        return x.T @ x / (x.shape[0] - 1)

    with pytest.raises(ExerciseFailed):
        workbench.exercise_covariance.check(n_minus_one)


def test_covariance_numpy_output_fails_with_type_message():
    with pytest.raises(ExerciseFailed, match="should be a torch.Tensor, got ndarray"):
        workbench.exercise_covariance.check(lambda x: np.cov(x.numpy(), rowvar=False, bias=True))


def test_learner_mutating_its_input_does_not_fool_the_check():
    def sloppy(x):
        out = gram(x, centre=True)
        x.zero_()  # in place on the learner's copy; the reference still sees the original
        return out

    workbench.exercise_covariance.check(sloppy)


def test_hand_jacobian_equals_autograd():
    for w1, b1, w2, x in workbench._jacobian_inputs():

        def f(v, w1=w1, b1=b1, w2=w2):
            return w2 @ torch.relu(w1 @ v + b1)

        torch.testing.assert_close(workbench.hand_jacobian(w1, b1, w2, x), jacrev(f)(x), rtol=1e-12, atol=1e-12)


def test_hand_jacobian_without_relu_mask_fails():
    with pytest.raises(ExerciseFailed, match=r"Exercise 0\.2.*arguments \("):
        workbench.exercise_hand_jacobian.check(lambda w1, b1, w2, x: w2 @ w1)


def test_hand_jacobian_transposed_fails_on_shape():
    with pytest.raises(ExerciseFailed, match="has shape"):
        workbench.exercise_hand_jacobian.check(lambda w1, b1, w2, x: workbench.hand_jacobian(w1, b1, w2, x).T)


def test_check_needs_a_callable():
    with pytest.raises(TypeError, match="pass your function itself"):
        workbench.exercise_covariance.check(torch.zeros(3))


def test_failed_is_an_assertion():
    assert issubclass(ExerciseFailed, AssertionError)


def test_a_function_that_gives_up_on_a_later_input_is_an_attempt_not_a_skip():
    calls = []

    def partial(x, k):
        calls.append(1)
        if len(calls) > 1:
            raise NotImplementedError("only the first case so far")
        return x * k

    ex = Exercise("Exercise 9.7 — partial", lambda x, k: x * k, lambda: [(torch.ones(2), 2.0), (torch.ones(3), 3.0)])
    with pytest.raises(NotImplementedError, match="only the first case"):
        ex.check(partial)


# --------------------------------------------------------------------------------------------- a custom exercise


def _top_eigenvectors(m: torch.Tensor) -> torch.Tensor:
    return eigh_descending(m)[1]


def _symmetric_inputs():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(5, 5, generator=g, dtype=torch.float64)
    return [(a + a.T,)]


def test_canonical_is_applied_before_comparing():
    signs = torch.tensor([1.0, -1.0, 1.0, -1.0, -1.0], dtype=torch.float64)

    def flipped(m):
        return eigh_descending(m)[1] * signs

    plain = Exercise("eigenvectors", _top_eigenvectors, _symmetric_inputs)
    with pytest.raises(ExerciseFailed):
        plain.check(flipped)
    Exercise("eigenvectors", _top_eigenvectors, _symmetric_inputs, canonical=canonical_signs).check(flipped)


def test_tolerances_are_used():
    ex = Exercise("close", lambda x: x, lambda: [(torch.ones(3, dtype=torch.float64),)], rtol=0, atol=1e-3)
    ex.check(lambda x: x + 5e-4)
    with pytest.raises(ExerciseFailed, match="up to 0.002"):
        ex.check(lambda x: x + 2e-3)


# --------------------------------------------------------------------------------------------- compare_outputs


def close(actual, expected):
    return compare_outputs(actual, expected, rtol=1e-6, atol=1e-9)


def test_compare_equal_structures():
    t = torch.arange(4.0)
    assert close((t, 1.5), (t.clone(), 1.5)) is None
    assert close([t, {"a": t}], (t, {"a": t})) is None  # list and tuple interchangeable
    assert close({"x": t, "y": (2, 3)}, {"y": (2, 3), "x": t}) is None
    assert close(np.array([1, 2]), np.array([1, 2])) is None
    assert close(np.array([True, False]), np.array([True, False])) is None


def test_compare_tuple_length_and_type():
    assert "sequence of 2 items, got tuple" in close((1.0,), (1.0, 2.0))
    assert "sequence of 2 items, got float" in close(1.0, (1.0, 2.0))


def test_compare_tuple_element_mismatch_names_the_path():
    message = close((torch.zeros(2), torch.ones(2)), (torch.zeros(2), torch.zeros(2)))
    assert message.startswith("output[1] differs")


def test_compare_dict_keys_and_values():
    assert "dict with keys ['a', 'b']" in close({"a": 1.0}, {"a": 1.0, "b": 2.0})
    assert "dict with keys" in close([1.0], {"a": 1.0})
    message = close({"a": 1.0, "b": (0.0, 3.0)}, {"a": 1.0, "b": (0.0, 2.0)})
    assert message.startswith("output['b'][1] differs from the reference by up to 1")


def test_compare_shape_mismatch():
    assert close(torch.zeros(2, 3), torch.zeros(3, 2)) == "output has shape (2, 3), expected (3, 2)"
    assert "has shape (1, 3)" in close(torch.zeros(1, 3), torch.zeros(3))


def test_compare_non_numeric():
    assert "should be numeric" in close(np.array(["a"]), np.array([1.0]))


def test_compare_reports_largest_deviation_and_index():
    expected = torch.zeros(3, 4, dtype=torch.float64)
    actual = expected.clone()
    actual[1, 2] = 0.5
    actual[2, 0] = -0.25
    assert close(actual, expected) == "output differs from the reference by up to 0.5 (at index (1, 2))"


def test_compare_nan():
    assert close(torch.tensor([1.0, float("nan")]), torch.tensor([1.0, float("nan")])) is None
    # a NaN where the reference has a number is a failure that points at the NaN, never a crash
    assert close(torch.tensor([float("nan")]), torch.tensor([1.0])) == (
        "output differs from the reference by up to nan (at index (0,))"
    )
    assert "(at index (0,))" in close(torch.tensor([float("nan"), 1.0]), torch.tensor([1.0, 1.0]))


def test_compare_infinities():
    assert close(torch.tensor([float("inf"), 1.0]), torch.tensor([float("inf"), 1.0])) is None
    assert "up to 1 (at index (1,))" in close(torch.tensor([float("inf"), 1.0]), torch.tensor([float("inf"), 2.0]))


def test_nan_output_fails_the_exercise_clearly():
    with pytest.raises(ExerciseFailed, match="up to nan"):
        workbench.exercise_covariance.check(
            lambda x: torch.full((x.shape[1], x.shape[1]), float("nan"), dtype=torch.float64)
        )


def test_a_prediction_passes_only_with_its_answer(capsys):
    from helpers.exercises import Prediction
    from helpers.lib.exercises import exercise_predict

    exercise_predict.check(lambda: 10)
    assert capsys.readouterr().out.startswith("✓ Exercise 3.3")
    with pytest.raises(ExerciseFailed, match="not 32"):
        exercise_predict.check(lambda: 32)  # the width of hidden 2: the commonest wrong guess
    for bad in (10.0, True, "10", None):
        with pytest.raises(TypeError, match="whole number"):
            exercise_predict.check(lambda: bad)
    capsys.readouterr()
    assert exercise_predict.check(stub) is stub
    assert capsys.readouterr().out.startswith("⚠ Exercise 3.3")
    with pytest.raises(TypeError, match="function itself"):
        exercise_predict.check(10)
    assert isinstance(exercise_predict, Prediction)


def test_pinv_mask_exercise_rejects_the_transpose():
    """With orthonormal eigenvectors the pseudo-inverse is the transpose; the check's inputs are not orthonormal, so
    the plausible wrong answer (a row of the transpose) fails."""
    from helpers.bilinear.exercises import exercise_pinv_mask

    with pytest.raises(ExerciseFailed):
        exercise_pinv_mask.check(lambda vectors, embed, j: vectors[:, j] @ embed)


# --------------------------------------------------------------------------------------------- exact texts, conventions
# What a learner reads, and the comparison's conventions where a plausible slip would change a verdict.


def _refusal(error, call) -> str:
    with pytest.raises(error) as raised:
        call()
    return str(raised.value)


def test_compare_outputs_reports_the_worst_failing_entry_under_both_tolerances():
    a, e = np.array([110.0, 1.5]), np.array([100.0, 1.0])  # entry 0 lies within rtol·|e| = 10, entry 1 does not
    assert compare_outputs(a, e, rtol=0.1, atol=0.0) == "output differs from the reference by up to 0.5 (at index (1,))"
    a, e = np.array([120.0, 11.0]), np.array([100.0, 0.0])  # entry 0: 20 = atol + rtol·100; entry 1: 11 > atol
    assert compare_outputs(a, e, rtol=0.1, atol=10.0) == "output differs from the reference by up to 11 (at index (1,))"
    assert compare_outputs(np.array([1.0 + 1e-7]), np.array([1.0]), rtol=0.0, atol=0.0) is not None  # no default rtol
    assert compare_outputs(np.array([np.nan, 1.0]), np.array([np.nan, 2.0]), rtol=0.0, atol=0.0) == (
        "output differs from the reference by up to 1 (at index (1,))"
    )  # NaN facing NaN agrees
    assert compare_outputs(np.array([np.inf, np.nan]), np.array([0.0, 1.0]), rtol=0.0, atol=0.0) == (
        "output differs from the reference by up to inf (at index (0,))"
    )  # NaN facing a number ranks as inf, first wins
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inf - inf where both are inf must not warn
        assert compare_outputs(np.array([np.inf, 1.0]), np.array([np.inf, 2.0]), rtol=0.0, atol=0.0) == (
            "output differs from the reference by up to 1 (at index (1,))"
        )
    assert compare_outputs(np.float64(3.0), np.float64(1.0), rtol=0.0, atol=0.0) == (
        "output differs from the reference by up to 2 (at index ())"
    )


def test_exercise_messages_are_whole_sentences(capsys):
    ex = Exercise(
        "Exercise 9.9 — scale",
        lambda x, k: x * k,
        lambda: [(torch.ones(2, 3, dtype=torch.float64), 2.0)],
        rtol=0.0,
        atol=0.0,
    )
    assert _refusal(TypeError, lambda: ex.check(3)) == "Exercise 9.9 — scale: pass your function itself, got int"

    def stub(x, k):
        raise NotImplementedError

    assert ex.check(stub) is ex.reference
    assert capsys.readouterr().out == (
        "⚠ Exercise 9.9 — scale: skipped (your function is still the stub), so the cells below use the book's "
        "reference solution. Come back to it: replace `raise NotImplementedError` with your code, run that cell, then "
        "this check again.\n"
    )
    expected = (
        "✗ Exercise 9.9 — scale: input 1 of 1 (arguments (2, 3), 2.0): output differs from the reference by "
        "up to 1 (at index (0, 0))"
    )
    assert _refusal(ExerciseFailed, lambda: ex.check(lambda x, k: x * (k + 1))) == expected
    assert capsys.readouterr().out == expected + "\n"


def test_prediction_messages_are_whole_sentences(capsys):
    from helpers.exercises import Prediction

    p = Prediction("Exercise 9.8 — predict", 3, hint="count the free directions.", why="three are free.")
    assert _refusal(TypeError, lambda: p.check(3)) == "Exercise 9.8 — predict: pass your function itself, got int"

    def stub():
        raise NotImplementedError

    assert p.check(stub) is stub
    assert capsys.readouterr().out == (
        "⚠ Exercise 9.8 — predict: skipped (your function is still the stub); the chapter goes on without it. Come "
        "back to it: write your prediction in place of `raise NotImplementedError`, run that cell, then this check "
        "again.\n"
    )
    assert _refusal(ExerciseFailed, lambda: p.check(lambda: 4)) == (
        "✗ Exercise 9.8 — predict: not 4. count the free directions."
    )
    assert capsys.readouterr().out == "✗ Exercise 9.8 — predict: not 4. count the free directions.\n"
    p.check(lambda: np.int64(3))
    assert capsys.readouterr().out == "✓ Exercise 9.8 — predict: 3, because three are free.\n"
