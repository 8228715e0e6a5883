"""BACI-shaped releases of any size, with a product-level gravity model whose coefficients are known.

:func:`write_baci_zip` writes a zip laid out as CEPII's (yearly ``BACI_HS92_Y{year}_V{version}.csv``
files with ``t,i,j,k,v,q``, ``country_codes_V{version}.csv``, ``product_codes_HS92_V{version}.csv``)
and, beside it, the pair covariates and migrant stocks a product-level panel joins to it. It
streams: one exporter-year block (all importers x all products) is drawn, written and dropped at a
time, so memory does not grow with the number of rows.

Data generating process
-----------------------
For product k, exporter i, importer j and year t,

    mu_ijkt = exp(s_it + s_jt + a_ik + b_jk + beta_k' x_ijt)
    x_ijt   = (log dist_ij, contig_ij, comlang_ij, log1p(migrant_stock_ijt))

with country sizes s_it (a random walk in logs), comparative advantage a_ik and demand b_jk
(fixed over time) and product-specific elasticities beta_k drawn once (returned by the writer).
Differentiated products (a share :data:`DIFFERENTIATED_SHARE`) have a larger migration-network
elasticity than homogeneous ones (Rauch 1999). The value is a compound Poisson-Gamma draw: a
number of shipments N ~ Poisson(c_k mu g) with Gamma mixing g of mean one and shipments of mean
value u_k (thousands of US$), so E[v | x] = c_k u_k mu and PPML with exporter-year and
importer-year effects per product is consistent for beta_k. A flow is absent from the files
(a zero, as in BACI, which lists only positive flows) when N = 0; c_k is set so that about
``zero_share`` of the cells are zero. Quantities are value over a product price with noise, and
missing (``NA``) for a share :data:`MISSING_Q_SHARE` of rows.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from migtrade.errors import UsageError

VERSION = "202401b"
FIRST_YEAR = 2018
DIFFERENTIATED_SHARE = 0.6
MISSING_Q_SHARE = 0.05
MEAN_ELASTICITIES: dict[str, float] = {"log(dist)": -1.0, "contig": 0.4, "comlang": 0.3,
                                       "log1p(migrant_stock)": 0.15}
"""Centres of the product elasticities; each product draws its own around them."""
_SPREAD: dict[str, float] = {"log(dist)": 0.25, "contig": 0.15, "comlang": 0.1, "log1p(migrant_stock)": 0.03}
_NETWORK_GAP = 0.1  # differentiated minus homogeneous migration elasticity
_MIXING_SHAPE = 3.0
_SHIPMENT_SHAPE = 2.0


@dataclass(frozen=True)
class BaciRelease:
    """What :func:`write_baci_zip` wrote and the truth behind it.

    Attributes
    ----------
    zip_path
        The release zip.
    covariates_path, stocks_path
        CSV files (gzip) of pair covariates (origin, destination, year, dist, contig, comlang)
        and migrant stocks (origin, destination, year, stock).
    truth
        One row per product: ``k``, ``differentiated`` and the true elasticity of each regressor
        (columns named as in :data:`MEAN_ELASTICITIES`).
    rows
        Positive flows written (the zeros are absent, as in BACI).
    cells
        Products x ordered pairs x years: the rows of the rectangular product panel.
    """

    zip_path: Path
    covariates_path: Path
    stocks_path: Path
    truth: pd.DataFrame
    rows: int
    cells: int


def _countries(n: int) -> pd.DataFrame:
    """``n`` real countries (ISO numeric code, name, ISO2, ISO3), in order of numeric code."""
    import iso3166

    rows = sorted(((int(c.numeric), c.name, c.alpha2, c.alpha3) for c in iso3166.countries), key=lambda r: r[0])
    if n > len(rows):
        raise UsageError(f"at most {len(rows)} countries", f"Ask for --countries {len(rows)} or fewer.")
    if n < 3:
        raise UsageError("a BACI-shaped release needs at least 3 countries")
    return pd.DataFrame(rows[:n], columns=["country_code", "country_name", "country_iso2", "country_iso3"])


def _product_codes(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct six-digit HS codes spread over chapters 01-97, many with a leading zero."""
    if not 1 <= n <= 9000:
        raise UsageError("products must be between 1 and 9,000")
    chapters = np.arange(1, 98)
    codes: set[str] = set()
    while len(codes) < n:
        ch = rng.choice(chapters, size=n)
        rest = rng.integers(101, 9999, size=n)
        codes.update(f"{c:02d}{r:04d}" for c, r in zip(ch, rest, strict=True))
    return sorted(str(c) for c in rng.choice(sorted(codes), n, replace=False))


def _geography(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distances (km), contiguity and common language of every ordered pair, symmetric."""
    lat = np.arcsin(rng.uniform(-0.8, 0.9, n))
    lon = rng.uniform(-np.pi, np.pi, n)
    cos_angle = (np.sin(lat)[:, None] * np.sin(lat)[None, :]
                 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.cos(lon[:, None] - lon[None, :]))
    dist = 6371.0 * np.arccos(np.clip(cos_angle, -1.0, 1.0)) + 50.0
    order = np.argsort(dist, axis=1)
    contig = np.zeros((n, n))
    for i in range(n):
        contig[i, order[i, 1:3]] = 1.0  # two nearest neighbours share a border
    contig = np.maximum(contig, contig.T)
    group = rng.integers(0, 8, n)
    comlang = (group[:, None] == group[None, :]).astype(float)
    np.fill_diagonal(comlang, 0.0)
    return dist, contig, comlang


def _stocks(dist: np.ndarray, contig: np.ndarray, comlang: np.ndarray, years: int,
            rng: np.random.Generator) -> np.ndarray:
    """Migrant stocks (persons) by year, origin, destination: larger for near, neighbouring, same-language pairs."""
    n = dist.shape[0]
    base = 9.0 - 0.8 * np.log(dist / 1000.0) + 1.0 * contig + 0.8 * comlang + rng.normal(0, 1.2, (n, n))
    none = rng.uniform(size=(n, n)) < 0.2
    out = np.empty((years, n, n))
    for t in range(years):
        level = np.exp(base + 0.03 * t + rng.normal(0, 0.05, (n, n)))
        out[t] = np.where(none, 0.0, np.round(level))
        np.fill_diagonal(out[t], 0.0)
    return out


def _truth(codes: list[str], rng: np.random.Generator) -> pd.DataFrame:
    m = len(codes)
    differentiated = rng.uniform(size=m) < DIFFERENTIATED_SHARE
    data: dict[str, object] = {"k": codes, "differentiated": differentiated}
    for name, centre in MEAN_ELASTICITIES.items():
        draw = centre + rng.normal(0, _SPREAD[name], m)
        if name == "log1p(migrant_stock)":
            draw = draw + np.where(differentiated, _NETWORK_GAP / 2, -_NETWORK_GAP / 2)
        data[name] = draw
    return pd.DataFrame(data)


def _scale_for_zeros(eta: np.ndarray, zero_share: float) -> np.ndarray:
    """Per product (column), the log scale c_k giving an expected share ``zero_share`` of zero flows.

    Under N ~ Poisson(lambda g), g ~ Gamma(r, 1/r): P(N = 0) = (1 + lambda / r)^(-r). Solved by
    bisection on log c_k, vectorised over products.
    """
    lo = np.full(eta.shape[1], -30.0)
    hi = np.full(eta.shape[1], 30.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        lam = np.exp(eta + mid[None, :])
        share = np.mean((1.0 + lam / _MIXING_SHAPE) ** (-_MIXING_SHAPE), axis=0)
        more_zeros = share > zero_share
        lo = np.where(more_zeros, mid, lo)
        hi = np.where(more_zeros, hi, mid)
    return (lo + hi) / 2


def write_baci_zip(path: str | Path, *, products: int = 50, countries: int = 20, years: int = 3,
                   seed: int = 1, first_year: int = FIRST_YEAR, zero_share: float = 0.35,
                   compresslevel: int = 1) -> BaciRelease:
    """Write a BACI-shaped release zip (and its covariates and stocks) with known elasticities.

    Parameters
    ----------
    path
        The zip to write; the covariates and stocks go beside it as
        ``<stem>_covariates.csv.gz`` and ``<stem>_stocks.csv.gz``.
    products, countries, years
        Size: products x countries x (countries - 1) x years cells, of which about
        ``1 - zero_share`` are written as positive flows.
    seed
        Everything is drawn from ``numpy.random.default_rng(seed)``.
    first_year
        The first year (years follow one by one).
    zero_share
        Target expected share of zero flows, in (0, 1).
    compresslevel
        Deflate level of the zip (1 is fast; CEPII's files are compressed harder).

    Returns
    -------
    BaciRelease
    """
    if not 0.0 < zero_share < 1.0:
        raise UsageError("zero_share must lie strictly between 0 and 1")
    if years < 1:
        raise UsageError("years must be at least 1")
    rng = np.random.default_rng(seed)
    path = Path(path)
    table = _countries(countries)
    codes = _product_codes(products, rng)
    truth = _truth(codes, rng)
    n, m = countries, len(codes)
    dist, contig, comlang = _geography(n, rng)
    stock = _stocks(dist, contig, comlang, years, rng)
    size = np.cumsum(np.vstack([rng.normal(0, 0.8, n)] + [rng.normal(0.02, 0.03, n)] * (years - 1)), axis=0)
    advantage = rng.normal(0, 1.0, (n, m))
    demand = rng.normal(0, 0.7, (n, m))
    betas = truth[list(MEAN_ELASTICITIES)].to_numpy()  # (m, 4)
    unit = np.exp(rng.normal(np.log(20.0), 1.0, m))  # mean shipment value, thousands of US$
    price = np.exp(rng.normal(np.log(2.0), 1.0, m))  # thousands of US$ per metric ton
    log_dist = np.log(dist)

    def eta_block(i: int, t: int) -> tuple[np.ndarray, np.ndarray]:
        js = np.array([j for j in range(n) if j != i])
        x = np.stack([log_dist[i, js], contig[i, js], comlang[i, js], np.log1p(stock[t, i, js])], axis=1)
        eta = size[t, i] + size[t, js][:, None] + advantage[i][None, :] + demand[js] + x @ betas.T
        return js, eta

    sample = np.vstack([eta_block(i, 0)[1] for i in range(0, n, max(1, n // 20))])
    scale = _scale_for_zeros(sample, zero_share)
    iso_codes = table["country_code"].to_numpy()
    code_array = pa.array(codes, pa.string())
    rows = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as archive:
        for t in range(years):
            year = first_year + t
            with archive.open(f"BACI_HS92_Y{year}_V{VERSION}.csv", "w", force_zip64=True) as member:
                member.write(b"t,i,j,k,v,q\n")
                for i in range(n):
                    js, eta = eta_block(i, t)
                    lam = np.exp(eta + scale[None, :])
                    mixing = rng.gamma(_MIXING_SHAPE, 1.0 / _MIXING_SHAPE, lam.shape)
                    shipments = rng.poisson(lam * mixing)
                    jj, kk = np.nonzero(shipments)
                    count = shipments[jj, kk]
                    value = rng.gamma(_SHIPMENT_SHAPE * count, 1.0 / _SHIPMENT_SHAPE) * unit[kk]
                    value = np.maximum(np.round(value, 3), 0.001)
                    qty = np.round(value / price[kk] * np.exp(rng.normal(0, 0.3, len(kk))), 3)
                    missing = rng.uniform(size=len(kk)) < MISSING_Q_SHARE
                    member.write(_csv_block(year, int(iso_codes[i]), iso_codes[js[jj]], kk, code_array,
                                            value, qty, missing))
                    rows += len(kk)
        archive.writestr(f"country_codes_V{VERSION}.csv", table.to_csv(index=False))
        products_table = pd.DataFrame({"code": codes, "description": [f"Synthetic product {c}" for c in codes]})
        archive.writestr(f"product_codes_HS92_V{VERSION}.csv", products_table.to_csv(index=False))
        archive.writestr("Readme.txt", f"Synthetic BACI-shaped release (seed {seed}); not CEPII data.\n")
    stem = path.name[:-4] if path.name.endswith(".zip") else path.name
    covariates_path = path.with_name(f"{stem}_covariates.csv.gz")
    stocks_path = path.with_name(f"{stem}_stocks.csv.gz")
    iso3 = table["country_iso3"].to_numpy()
    oi, di = np.nonzero(~np.eye(n, dtype=bool))
    pairs = pd.DataFrame({"origin": iso3[oi], "destination": iso3[di]})
    cov = pd.concat([pairs.assign(year=first_year + t, dist=np.round(dist[oi, di], 1), contig=contig[oi, di],
                                  comlang=comlang[oi, di]) for t in range(years)], ignore_index=True)
    cov.to_csv(covariates_path, index=False)
    stocks = pd.concat([pairs.assign(year=first_year + t, stock=stock[t, oi, di]) for t in range(years)],
                       ignore_index=True)
    stocks.to_csv(stocks_path, index=False)
    return BaciRelease(zip_path=path, covariates_path=covariates_path, stocks_path=stocks_path, truth=truth,
                       rows=rows, cells=m * n * (n - 1) * years)


def _csv_block(year: int, exporter: int, importers: np.ndarray, products: np.ndarray, codes: pa.Array,
               value: np.ndarray, qty: np.ndarray, missing: np.ndarray) -> bytes:
    """Rows ``t,i,j,k,v,q`` as CSV bytes (no header), ``NA`` padded as CEPII writes it where q is missing."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    q_text = pc.if_else(pa.array(missing), pa.scalar("         NA"), pc.cast(pa.array(qty), pa.string()))
    k = pc.take(codes, pa.array(products))
    table = pa.table({"t": pa.array(np.full(len(value), year, dtype=np.int32)),
                      "i": pa.array(np.full(len(value), exporter, dtype=np.int32)),
                      "j": pa.array(importers.astype(np.int32)), "k": k, "v": pa.array(value), "q": q_text})
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return bytes(sink.getvalue())
