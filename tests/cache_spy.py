"""A spy on :func:`helpers.checkpoints.load_or_train` for tests of the chapters' loaders: it records what each loader
asks the cache for (name, config, training function, tolerances, chaotic rule) and then loads as usual."""

from __future__ import annotations

from helpers import checkpoints


def spy_on_load_or_train(monkeypatch, *modules) -> list[tuple]:
    """Replace ``load_or_train`` in ``modules`` (those that imported it by name) and in ``helpers.checkpoints``;
    return the list each call appends ``(name, config, train_fn, tolerances, chaotic)`` to."""
    asked: list[tuple] = []
    real = checkpoints.load_or_train

    def spy(name, config, train_fn, *, tolerances, chaotic=None, root=None):
        asked.append((name, config, train_fn, tolerances, chaotic))
        return real(name, config, train_fn, tolerances=tolerances, chaotic=chaotic, root=root)

    for module in (checkpoints, *modules):
        monkeypatch.setattr(module, "load_or_train", spy)
    return asked
