"""Write a product-level gravity panel (exporter x importer x year x product) as Parquet.

Usage::

    python benchmarks/make_products.py --products 300 --countries 50 --years 4 --seed 1 \\
        --out benchmarks/out/products_300x50x4.parquet

300 products x 50 countries x 49 partners x 4 years = 2.94 M rows. Each product has its own
exporter-year and importer-year effects and its own coefficients on ``log_dist``, ``contig``,
``rta`` (pair-year) and ``ln_tariff`` (product-pair-year, log of one plus the tariff); flows are
Poisson with gamma heterogeneity, so that many are zero as in product-level trade. Product codes
are six-digit text (HS6 style, leading zeros kept). A JSON file with the same stem records the
parameters and each product's true coefficients.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

TERMS = ("log_dist", "contig", "rta", "ln_tariff")
MEANS = (-0.9, 0.5, 0.4, -2.0)
SPREADS = (0.2, 0.2, 0.1, 0.5)


def product_panel(products: int, countries: int, years: int, seed: int) -> tuple[pd.DataFrame, dict]:
    """The panel and each product's true coefficients."""
    rng = np.random.default_rng(seed)
    ex, im, yr = (a.ravel() for a in np.meshgrid(np.arange(countries), np.arange(countries),
                                                  np.arange(years), indexing="ij"))
    keep = ex != im
    ex, im, yr = ex[keep], im[keep], yr[keep]
    position = rng.uniform(0, 100, (countries, 2))
    dist = np.hypot(*(position[:, None, :] - position[None, :, :]).transpose(2, 0, 1)) + 1.0
    contig = (dist < 12).astype(float)[ex, im]
    log_dist = np.log(dist[ex, im])
    rta_start = rng.integers(0, 2 * years, (countries, countries))
    rta_start = np.minimum(rta_start, rta_start.T)
    rta = (yr >= rta_start[ex, im]).astype(float)
    codes = sorted({f"{c:06d}" for c in rng.choice(np.arange(10_000, 999_999), products * 2, replace=False)})
    codes = codes[:products]
    size = rng.normal(0, 1, countries)
    frames, truth = [], {}
    for code in codes:
        beta = [m + s * rng.normal() for m, s in zip(MEANS, SPREADS, strict=True)]
        tariff = np.log1p(rng.uniform(0, 0.25, len(ex)) * rng.binomial(1, 0.7, len(ex)))
        exp_year = (size[:, None] + rng.normal(0, 0.3, (countries, years)))[ex, yr]
        imp_year = (size[:, None] + rng.normal(0, 0.3, (countries, years)))[im, yr]
        mu = np.exp(2.0 + exp_year + imp_year + beta[0] * log_dist + beta[1] * contig
                    + beta[2] * rta + beta[3] * tariff)
        trade = rng.poisson(mu * rng.gamma(0.5, 2.0, len(ex))).astype(float)
        frames.append(pd.DataFrame({
            "product": code, "exporter": ex.astype(np.int32), "importer": im.astype(np.int32),
            "year": (2000 + yr).astype(np.int32), "log_dist": log_dist, "contig": contig,
            "rta": rta, "ln_tariff": tariff, "trade": trade}))
        truth[code] = dict(zip(TERMS, beta, strict=True))
    return pd.concat(frames, ignore_index=True), truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--countries", type=int, default=50)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/products_300x50x4.parquet"))
    args = parser.parse_args()
    frame, truth = product_panel(args.products, args.countries, args.years, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(args.out, index=False)
    args.out.with_suffix(".json").write_text(json.dumps({
        "products": args.products, "countries": args.countries, "years": args.years,
        "seed": args.seed, "rows": len(frame), "truth": truth}, indent=1))
    print(f"{args.out}: {len(frame):,} rows, {frame['product'].nunique()} products, "
          f"{(frame['trade'] == 0).mean():.0%} zeros")


if __name__ == "__main__":
    main()
