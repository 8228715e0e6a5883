"""Small product-level gravity panels with known coefficients, for the split-run tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

FORMULA = "trade ~ log_dist + rta + ln_tariff | exporter^year + importer^year"


def product_panel(products: int = 8, countries: int = 12, years: int = 3, seed: int = 1,
                  zero_products: tuple[int, ...] = ()) -> pd.DataFrame:
    """Exporter x importer x year x product with PPML-shaped flows.

    Product codes are six-digit text with leading zeros ("010000", ...); ``zero_products`` (by
    position) have no trade at all, so that their models cannot be estimated.
    """
    rng = np.random.default_rng(seed)
    ex, im, yr = (a.ravel() for a in np.meshgrid(np.arange(countries), np.arange(countries),
                                                  np.arange(years), indexing="ij"))
    keep = ex != im
    ex, im, yr = ex[keep], im[keep], yr[keep]
    dist = rng.uniform(1.0, 20.0, (countries, countries))
    dist = (dist + dist.T) / 2
    rta = (rng.uniform(size=(countries, countries, years)) < 0.3).astype(float)[ex, im, yr]
    frames = []
    for p in range(products):
        tariff = np.log1p(rng.uniform(0, 0.3, len(ex)))
        exp_year = rng.normal(0, 0.5, (countries, years))[ex, yr]
        imp_year = rng.normal(0, 0.5, (countries, years))[im, yr]
        beta = (-0.9 + 0.2 * rng.normal(), 0.4 + 0.1 * rng.normal(), -2.0 + 0.5 * rng.normal())
        mu = np.exp(1.5 + exp_year + imp_year + beta[0] * np.log(dist[ex, im]) + beta[1] * rta
                    + beta[2] * tariff)
        trade = rng.poisson(mu * rng.gamma(2.0, 0.5, len(ex))).astype(float)
        if p in zero_products:
            trade[:] = 0.0
        frames.append(pd.DataFrame({
            "product": f"{p + 1:02d}0000", "exporter": ex, "importer": im, "year": 2000 + yr,
            "log_dist": np.log(dist[ex, im]), "rta": rta, "ln_tariff": tariff, "trade": trade}))
    # Interleave the products, as a panel sorted by pair and year would hold them.
    return pd.concat(frames, ignore_index=True).sort_values(
        ["exporter", "importer", "year"], kind="stable").reset_index(drop=True)
