"""What a call refuses with, for tests that pin a helper's whole sentence of refusal."""

from __future__ import annotations

from collections.abc import Callable

import pytest


def refusal(call: Callable[[], object]) -> tuple[str, str]:
    """The exception ``call()`` raises (a TypeError or ValueError): its type's name and its whole message."""
    with pytest.raises((TypeError, ValueError)) as refused:
        call()
    return type(refused.value).__name__, str(refused.value)
