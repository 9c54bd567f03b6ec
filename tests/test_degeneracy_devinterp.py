"""The book's SGLD estimator of the local learning coefficient against the field's library, devinterp 1.3.2.

devinterp is a development dependency only (the chapter runs without it); these tests skip when it is missing.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from helpers.degeneracy.sgld import estimate_llc

devinterp = pytest.importorskip("devinterp")
from devinterp.optim.sgld import SGLD  # noqa: E402
from devinterp.slt.sampler import estimate_learning_coeff_with_summary  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

N_BETA = 1000 / math.log(1000)  # devinterp's calibration example: a virtual n = 1000 at the SLT temperature


class Point(torch.nn.Module):
    """A 'model' that is only its parameter vector, for potentials."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w.clone())


def _potential(powers: list[int]):
    p = torch.tensor(powers, dtype=torch.float64)
    return lambda w: 0.5 * (w**p).sum()


def test_one_step_drift_is_devinterps() -> None:
    """With the noise switched off, one devinterp SGLD step moves w by −(ε/2)[nβ ∇L + γ(w − w*)], the book's drift."""
    w_star, start = torch.tensor([0.3, -0.2], dtype=torch.float64), torch.tensor([0.5, 0.1], dtype=torch.float64)
    loss = _potential([2, 4])
    point = Point(w_star).double()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimizer = SGLD(point.parameters(), lr=0.01, noise_level=0.0, localization=3.0, nbeta=N_BETA)
    with torch.no_grad():
        point.w.copy_(start)  # devinterp localises to the parameters it was built with: w_star
    loss(point.w).backward()
    optimizer.step()
    grad = torch.func.grad(loss)(start)
    expected = start - 0.01 / 2 * (N_BETA * grad + 3.0 * (start - w_star))
    assert torch.allclose(point.w.detach(), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("powers", [[2, 2], [4]])
def test_llc_agrees_with_devinterp_within_standard_errors(powers: list[int]) -> None:
    """Same potential, nβ, step, chains, draws and burn-in; independent noise: |Δλ̂| < 3 combined standard errors."""
    loss = _potential(powers)
    w_star = torch.zeros(len(powers), dtype=torch.float64)
    book = estimate_llc(
        loss,
        w_star,
        n_beta=N_BETA,
        step=1e-3,
        chains=8,
        draws=500,
        burnin=500,
        generator=torch.Generator().manual_seed(1),
    )
    loader = DataLoader(TensorDataset(torch.zeros(16, 1)), batch_size=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = estimate_learning_coeff_with_summary(
            Point(w_star).double(),
            loader,
            evaluate=lambda model, batch: (loss(model.w), {}),
            sampling_method=SGLD,
            optimizer_kwargs={"lr": 1e-3, "localization": 0.0, "nbeta": N_BETA},
            num_chains=8,
            num_draws=500,
            num_burnin_steps=500,
            init_loss=0.0,
            seed=0,
            verbose=False,
        )
    their_se = theirs["llc/std"] / math.sqrt(8)
    assert abs(book.mean - theirs["llc/mean"]) < 3 * math.hypot(book.standard_error, their_se)


def test_llc_on_the_lens_twin_agrees_with_devinterp_on_a_fixed_batch() -> None:
    """Chapter 5's twin (3,552 parameters) under one of its protocols, a fixed batch of training pairs (64 here, to
    keep the test short): nβ = n / log n for its n = 505 training pairs, γ = 100, step 1e-4, 4 chains of 200
    burn-in and 200 kept steps. The two estimators draw independent noise: |Δλ̂| < 3 combined standard errors."""
    from helpers.lenses import network
    from helpers.lenses.model import TWIN_CONFIG, load_twin_model
    from helpers.lib import modadd

    twin, tokens, labels = load_twin_model()
    train, _ = modadd.split_pairs(TWIN_CONFIG["p"], TWIN_CONFIG["train_fraction"], TWIN_CONFIG["split_seed"])
    batch = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:64]]
    x, y = tokens[batch], labels[batch]
    n_beta = len(train) / math.log(len(train))
    f, w_star = network.flat_network(twin)
    loss = lambda w: -f(w, x.double()).gather(1, y[:, None]).mean()  # noqa: E731
    settings = dict(chains=4, draws=200, burnin=200)
    book = estimate_llc(
        loss,
        w_star,
        n_beta=n_beta,
        step=1e-4,
        localization=100.0,
        generator=torch.Generator().manual_seed(0),
        **settings,
    )
    model = modadd.build_model(TWIN_CONFIG).double()
    model.load_state_dict(twin.state_dict())
    loader = DataLoader(TensorDataset(x, y), batch_size=len(batch), shuffle=False)  # the same batch at every step
    evaluate = lambda m, data: (torch.nn.functional.cross_entropy(m(data[0]), data[1]), {})  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = estimate_learning_coeff_with_summary(
            model,
            loader,
            evaluate=evaluate,
            sampling_method=SGLD,
            optimizer_kwargs={"lr": 1e-4, "localization": 100.0, "nbeta": n_beta},
            num_chains=settings["chains"],
            num_draws=settings["draws"],
            num_burnin_steps=settings["burnin"],
            init_loss=book.init_loss,
            seed=0,
            verbose=False,
        )
    their_se = theirs["llc/std"] / math.sqrt(settings["chains"])
    assert abs(book.mean - theirs["llc/mean"]) < 3 * math.hypot(book.standard_error, their_se)
    assert 5 < book.mean < 100  # an order of magnitude below the twin's measured bound (P − 1,244)/2 = 1,154
