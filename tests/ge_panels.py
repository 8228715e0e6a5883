"""Small seeded panels and problems for the general-equilibrium tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from migtrade.ge.solve import Problem
from migtrade.synthetic.gravity import gravity_panel

YEAR = 1992


def small_panel(seed: int = 7, countries: int = 8) -> pd.DataFrame:
    """A structural gravity panel (1990-1993) with domestic flows and no zeros; ``beta`` is a
    partial effect of 0.4 on the pairs with an RTA."""
    frame = gravity_panel(countries, 4, seed=seed, zero_share=0.0, include_domestic=True).frame
    frame = frame.assign(exporter=frame["exporter"].astype(str), importer=frame["importer"].astype(str))
    return frame.assign(beta=0.4 * frame["rta"].astype(float))


def random_problem(n: int = 7, *, seed: int = 3, zeros: int = 0, imbalances: str = "additive",
                   reference: int | None = None, theta: float = 4.0) -> Problem:
    """Random flows with heavy domestic trade, deficits, and a random cost change on some pairs;
    ``zeros`` international flows set to zero."""
    rng = np.random.default_rng(seed)
    flows = rng.lognormal(2.0, 1.0, (n, n))
    flows[np.diag_indices(n)] = rng.lognormal(5.0, 0.5, n)
    off = [(i, j) for i in range(n) for j in range(n) if i != j]
    for k in rng.choice(len(off), size=zeros, replace=False):
        flows[off[k]] = 0.0
    beta = np.where(rng.random((n, n)) < 0.3, rng.normal(0.3, 0.2, (n, n)), 0.0)
    np.fill_diagonal(beta, 0.0)
    return Problem(flows=flows, change=np.exp(beta), theta=theta, imbalances=imbalances,  # type: ignore[arg-type]
                   reference=reference)
