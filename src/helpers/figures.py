"""Checked figures: every figure has a name, and the data behind it is compared with a committed reference.

nbval compares a notebook's text outputs but never its PNG images, so a figure could silently change.
Each chapter therefore makes one checker and passes it the arrays and scalars each figure is drawn from::

    check = FigureCheck("00_workbench")
    ...draw the figure from `spectrum` and `coords`...
    check("pca_spectrum", {"spectrum": spectrum, "coords": coords}, rtol=1e-4, atol=1e-6)

The reference is ``data/references/<chapter>/<name>.npz``. A mismatch raises :class:`FigureMismatch`
naming the figure, the array and the largest deviation, which fails the cell (and nbval, and the book's
execution). ``make references`` runs the chapters with ``BOOK_REFERENCES=write`` to rewrite references on
purpose; review the change with ``git diff --stat data/references`` before committing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .paths import REPO_ROOT, reference_dir

__all__ = ["FigureCheck", "FigureMismatch", "MissingReference", "WRITE_VARIABLE", "compare_arrays"]

WRITE_VARIABLE = "BOOK_REFERENCES"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


class FigureMismatch(AssertionError):
    """The data behind a figure differs from its committed reference."""


class MissingReference(FileNotFoundError):
    """A figure has no committed reference yet."""


def _as_array(key: str, value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, on any device
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype == object:
        raise TypeError(f"figure data {key!r} must be numeric, got an object array")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"figure data {key!r} must be numeric or boolean, got dtype {array.dtype}")
    if array.dtype.kind == "f":
        array = array.astype(np.float64)
    return array


def compare_arrays(actual: np.ndarray, reference: np.ndarray, rtol: float, atol: float) -> tuple[bool, float, tuple]:
    """Compare like ``np.allclose`` (NaNs must sit in the same places).

    Returns ``(ok, largest absolute deviation, index of it)``.
    """
    if actual.shape != reference.shape:
        return False, float("inf"), ()
    a = actual.astype(np.float64)
    r = reference.astype(np.float64)
    nan_a, nan_r = np.isnan(a), np.isnan(r)
    if (nan_a != nan_r).any():
        where = tuple(int(i) for i in np.argwhere(nan_a != nan_r)[0])
        return False, float("nan"), where
    with np.errstate(invalid="ignore"):  # inf - inf; equal infinities match, as in np.allclose
        diff = np.where(nan_a | (a == r), 0.0, np.abs(a - r))
        if diff.size == 0:
            return True, 0.0, ()
        # an infinite reference adds no relative room (0·inf would be NaN and fail equal infinities at rtol=0)
        excess = diff - (atol + rtol * np.where(np.isfinite(r), np.abs(r), 0.0))
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
    return bool((excess <= 0).all()), float(diff.max()), index


class FigureCheck:
    """Checks the data behind a chapter's figures against ``data/references/<chapter>/``."""

    def __init__(self, chapter: str, *, root: Path | str | None = None) -> None:
        if not isinstance(chapter, str) or not _NAME.match(chapter):
            raise ValueError(f"chapter must be a folder name such as '00_workbench', got {chapter!r}")
        self.chapter = chapter
        self.root = Path(root) if root is not None else reference_dir(chapter)
        self.checked: list[str] = []

    @property
    def writing(self) -> bool:
        """True when references are being regenerated (``BOOK_REFERENCES=write``)."""
        return os.environ.get(WRITE_VARIABLE, "").strip().lower() == "write"

    def _display_path(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(REPO_ROOT))
        except ValueError:
            return path.name

    def __call__(
        self,
        name: str,
        data: Mapping[str, Any],
        *,
        rtol: float = 1e-5,
        atol: float = 1e-8,
    ) -> None:
        """Compare (or, when writing references, store) the data behind figure ``name``.

        Args:
            name: the figure's name, unique within the chapter.
            data: arrays, tensors or scalars the figure is drawn from, by name.
            rtol, atol: tolerances as in ``np.allclose``; state them for each figure.
        """
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"figure name must be letters, digits, '-' and '_', got {name!r}")
        if name in self.checked:
            raise ValueError(f"figure {name!r} was already checked in chapter {self.chapter!r}: names must be unique")
        if not isinstance(data, Mapping) or not data:
            raise ValueError(f"figure {name!r}: data must be a non-empty dict of arrays")
        if rtol < 0 or atol < 0:
            raise ValueError(f"figure {name!r}: tolerances must be non-negative")
        arrays = {str(k): _as_array(str(k), v) for k, v in data.items()}
        for key, array in arrays.items():
            if array.size == 0:
                raise ValueError(f"figure {name!r}: data {key!r} is empty")
        path = self.root / f"{name}.npz"
        shown = self._display_path(path)
        if self.writing:
            self.root.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(path, **arrays)
            self.checked.append(name)
            print(f"figure '{name}': reference written to {shown}")
            return
        if not path.exists():
            raise MissingReference(
                f"figure '{name}' has no reference {shown}. Create references on purpose with "
                "`make references` and commit data/references/."
            )
        with np.load(path, allow_pickle=False) as stored:
            reference = {k: stored[k] for k in stored.files}
        if set(reference) != set(arrays):
            raise FigureMismatch(
                f"figure '{name}': data keys {sorted(arrays)} differ from the reference's {sorted(reference)} ({shown})"
            )
        for key in sorted(arrays):
            actual, ref = arrays[key], reference[key]
            if actual.shape != ref.shape:
                raise FigureMismatch(
                    f"figure '{name}': {key!r} has shape {actual.shape}, the reference {ref.shape} ({shown})"
                )
            ok, deviation, index = compare_arrays(actual, ref, rtol, atol)
            if not ok:
                at = f" at index {index}" if index else ""
                raise FigureMismatch(
                    f"figure '{name}': {key!r} differs from its reference {shown}: largest deviation "
                    f"{deviation:.3g}{at} (value {float(actual[index]):.6g}, reference {float(ref[index]):.6g}; "
                    f"rtol={rtol:g}, atol={atol:g})"
                )
        self.checked.append(name)
        print(f"figure '{name}': data matches its reference ({len(arrays)} arrays, rtol={rtol:g}, atol={atol:g})")
