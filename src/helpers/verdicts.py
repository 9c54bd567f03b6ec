"""Verdicts for numerical identities: print what was checked against a stated bound, never the rounding noise.

A float64 identity (``Q = Qᵀ``, ``Wᵀ W = I``, a logit recomputed from an eigendecomposition) holds only up to
rounding, and rounding differs between CPUs, BLAS libraries and vector instruction sets: a residual printed as
``2e-13`` on one laptop reads ``1e-12`` on another, and a committed chapter output would then fail the reader's
``make test``. So the book never prints such a residual. It states a bound, prints the verdict, and raises with the
measured value when the bound fails::

    >>> from helpers.verdicts import verdict
    >>> verdict("whitened Gram = identity: max deviation", 3e-14, 1e-10)
    whitened Gram = identity: max deviation ≤ 1e-10 ✓

Choosing a bound: loose enough for every CPU (float64 rounding after a few hundred operations on O(1) numbers is
around 1e-13; float32 around 1e-5), tight enough that a real bug (a transpose, a missing factor, a wrong sort order)
fails it by orders of magnitude. Say in a comment beside each call why its bound is what it is.
"""

from __future__ import annotations

import math

__all__ = ["BoundExceeded", "target", "verdict", "verdict_line"]


class BoundExceeded(AssertionError):
    """A numerical identity failed its stated bound; the message holds the measured value."""


def verdict_line(claim: str, value: float, bound: float) -> str:
    """``"<claim> ≤ <bound> ✓"`` when ``|value| ≤ bound``, else raise :class:`BoundExceeded` (see :func:`verdict`)."""
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError("verdict needs a non-empty claim saying what the value measures")
    if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound) or bound <= 0:
        raise ValueError(f"the bound must be a positive finite number, got {bound!r}")
    try:
        measured = float(value)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{claim}: the measured value must be a number, got {type(value).__name__}") from None
    shown = f"{bound:.3g}".replace("e-0", "e-").replace("e+0", "e+")  # 1e-06 → 1e-6
    if not abs(measured) <= bound:  # also catches NaN
        raise BoundExceeded(f"✗ {claim} = {measured:.3g}, above the stated bound {shown}")
    return f"{claim} ≤ {shown} ✓"


def verdict(claim: str, value: float, bound: float) -> None:
    """Check ``|value| ≤ bound`` and print ``"<claim> ≤ <bound> ✓"``, or raise :class:`BoundExceeded`.

    Args:
        claim: what ``value`` measures, e.g. ``"max |Q − Qᵀ|"``; printed before the bound.
        value: the measured residual (a Python number, or a one-element tensor or array).
        bound: the stated bound, a positive number; printed as ``1e-10``, ``0.005``.

    Raises:
        ValueError: ``bound`` is not a positive finite number, or ``claim`` is empty.
        TypeError: ``value`` is not a number.
        BoundExceeded: ``value`` is NaN or larger than ``bound`` in absolute value; the message holds the value.
    """
    print(verdict_line(claim, value, bound))


def target(claim: str, value: float, at_least: float, *, digits: int = 2) -> None:
    """Print ``"<claim>: <value> (target ≥ <at_least>) ✓"``, or ``✗ missed`` when below.

    For a number a chapter must *reach* (an accuracy, a rate), as opposed to a residual under a bound: a missed target
    is printed with its measured value, not raised, so that the chapter can say why. Round ``value`` to as many
    ``digits`` as are stable across CPUs.
    """
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError("target needs a non-empty claim saying what the value measures")
    measured = float(value)
    print(f"{claim}: {measured:.{digits}f} (target ≥ {at_least:g}) {'✓' if measured >= at_least else '✗ missed'}")
