"""A seeded "difficult" panel for fixed-effect solvers: workers moving along a ring of firms.

Individuals are observed for ten years; in year t individual i works at firm (s_i + t) mod F,
where the start s_i is uniform on the ring, so each worker visits ten consecutive firms and each
firm employs about ``workers_per_firm`` people a year. The worker-firm graph is connected but
long: going around the ring takes hundreds of hops, which is what makes alternating projections
crawl. The outcome is Poisson with mean exp(a_i + f_j + d_t + 0.5 x1 - 0.3 x2), every effect
N(0, 1), and x2 correlated with the firm effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TRUE_COEFFICIENTS = {"x1": 0.5, "x2": -0.3}


@dataclass(frozen=True)
class SparsePanel:
    """The panel, its true coefficients and a one-line description."""

    frame: pd.DataFrame
    truth: dict[str, float]
    description: str


def ring_panel(n_rows: int = 500_000, *, years: int = 10, workers_per_firm: float = 23.0,
               seed: int = 1) -> SparsePanel:
    """Generate the worker-firm ring panel with about ``n_rows`` rows."""
    rng = np.random.default_rng(seed)
    n_ind = max(n_rows // years, 2)
    n_firms = max(round(n_ind / workers_per_firm), years + 1)
    ind = np.repeat(np.arange(n_ind, dtype=np.int32), years)
    year = np.tile(np.arange(years, dtype=np.int32), n_ind)
    start = rng.integers(0, n_firms, n_ind)
    firm = ((start[ind] + year) % n_firms).astype(np.int32)
    a = rng.normal(size=n_ind)
    f = rng.normal(size=n_firms)
    d = rng.normal(size=years)
    x1 = rng.normal(size=ind.size)
    x2 = 0.5 * f[firm] + rng.normal(size=ind.size)
    eta = a[ind] + f[firm] + d[year] + TRUE_COEFFICIENTS["x1"] * x1 + TRUE_COEFFICIENTS["x2"] * x2
    y = rng.poisson(np.exp(eta)).astype(np.float64)
    frame = pd.DataFrame({"indiv": ind, "firm": firm, "year": year, "x1": x1, "x2": x2, "y": y})
    desc = (f"Synthetic worker-firm ring panel (simulated): seed={seed}, {ind.size:,} rows, "
            f"{n_ind:,} individuals, {n_firms:,} firms, {years} years")
    return SparsePanel(frame=frame, truth=dict(TRUE_COEFFICIENTS), description=desc)
