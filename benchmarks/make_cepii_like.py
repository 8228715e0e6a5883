"""Write a zip holding one CSV with the shape of CEPII Gravity (V202211): the input of the ingest benchmark.

Usage::

    python benchmarks/make_cepii_like.py --countries 225 --years 79 --seed 1 \\
        --out benchmarks/out/Gravity_csv_like.zip

The default is 225 countries x 225 partners x 79 years = 3,999,375 rows and 87 columns, named and
typed like the publisher's: pair constants (distances, contiguity, language, colonial ties),
country-year series (population, GDP, WTO and EU membership) and trade flows with about a third
missing. The values are random (seeded) and only the shape matters: the file exercises the
streaming reader at the real file's size without needing the real file.
"""

from __future__ import annotations

import argparse
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

PAIR_FLOATS = ("distw_harmonic", "distw_arithmetic", "distw_harmonic_jh", "distw_arithmetic_jh", "dist",
               "distcap", "scaled_sci_2021", "diplo_disagreement")
PAIR_DUMMIES = ("contig", "comlang_off", "comlang_ethno", "comcol", "col45", "comleg_pretrans",
                "comleg_posttrans", "transition_legalchange", "col_dep_ever", "col_dep", "empire",
                "sibling_ever", "sibling", "sib_conflict", "col_dep_end_conflict")
PAIR_OTHER = ("comrelig", "col_dep_end_year", "sever_year")
SIDE_FLOATS = ("gmt_offset_2020", "pop", "gdp", "gdpcap", "gdp_ppp", "gdpcap_ppp", "pop_pwt", "gdp_ppp_pwt",
               "entry_cost", "entry_proc", "entry_time", "entry_tp")
SIDE_CODES = ("main_city_source", "pop_source", "gdp_source", "legal_old", "legal_new")
SIDE_DUMMIES = ("country_exists", "heg", "gatt", "wto", "eu")
YEAR_PAIR = ("fta_wto", "fta_wto_raw", "rta_coverage", "rta_type")
FLOWS = ("tradeflow_comtrade_o", "tradeflow_comtrade_d", "tradeflow_baci", "manuf_tradeflow_baci",
         "tradeflow_imf_o", "tradeflow_imf_d")


def codes(n: int) -> list[str]:
    """``n`` distinct three-letter codes AAA, AAB, ..."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [letters[i // 676 % 26] + letters[i // 26 % 26] + letters[i % 26] for i in range(n)]


def year_table(year: int, iso: np.ndarray, pair: dict[str, np.ndarray], rng: np.random.Generator) -> pa.Table:
    """All ``n * n`` rows of one year, columns in the publisher's order."""
    n = len(iso)
    o, d = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)
    rows = n * n
    cols: dict[str, pa.Array] = {"year": pa.array(np.full(rows, year, dtype=np.int16))}
    cols["country_id_o"], cols["country_id_d"] = pa.array(iso[o]), pa.array(iso[d])
    cols["iso3_o"], cols["iso3_d"] = pa.array(iso[o]), pa.array(iso[d])
    cols["iso3num_o"], cols["iso3num_d"] = pa.array(o.astype(np.int16) + 4), pa.array(d.astype(np.int16) + 4)
    side = {name: np.round(rng.lognormal(3, 1, n), 3) for name in SIDE_FLOATS}
    exists = (rng.random(n) > 0.02).astype(np.int8)
    for name in SIDE_DUMMIES:
        values = exists if name == "country_exists" else (rng.random(n) > 0.5).astype(np.int8)
        cols[f"{name}_o"], cols[f"{name}_d"] = pa.array(values[o]), pa.array(values[d])
    for name in SIDE_FLOATS:
        cols[f"{name}_o"], cols[f"{name}_d"] = pa.array(side[name][o]), pa.array(side[name][d])
    for name in SIDE_CODES:
        values = rng.integers(1, 6, n).astype(np.int8)
        cols[f"{name}_o"], cols[f"{name}_d"] = pa.array(values[o]), pa.array(values[d])
    for name, values in pair.items():
        cols[name] = pa.array(values)
    for name in YEAR_PAIR:
        cols[name] = pa.array((rng.random(rows) > 0.8).astype(np.int8))
    for name in FLOWS:
        flow = np.round(rng.lognormal(5, 2.5, rows), 3)
        cols[name] = pa.array(flow, mask=rng.random(rows) < 0.35)
    return pa.table(cols)


def write_zip(out: Path, *, countries: int, years: int, seed: int, first_year: int = 1948) -> int:
    """Write the zip; returns the number of rows."""
    rng = np.random.default_rng(seed)
    iso = np.array(codes(countries))
    pairs = countries * countries
    pair: dict[str, np.ndarray] = {name: np.round(rng.lognormal(8, 1, pairs), 2) for name in PAIR_FLOATS}
    pair.update({name: (rng.random(pairs) > 0.9).astype(np.int8) for name in PAIR_DUMMIES})
    pair.update({name: rng.integers(0, 2000, pairs).astype(np.int16) for name in PAIR_OTHER})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    rows = 0
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive, \
            archive.open("Gravity_V202211.csv", "w", force_zip64=True) as member:
        writer = None
        for year in range(first_year, first_year + years):
            table = year_table(year, iso, pair, rng)
            if writer is None:
                # The publisher's file quotes nothing; neither do we, so the parser sees the same text.
                writer = pacsv.CSVWriter(pa.PythonFile(member, mode="w"), table.schema,
                                         write_options=pacsv.WriteOptions(quoting_style="none"))
            writer.write_table(table)
            rows += table.num_rows
        if writer is not None:
            writer.close()
    tmp.replace(out)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--countries", type=int, default=225, help="countries (rows per year = countries squared)")
    parser.add_argument("--years", type=int, default=79, help="years, from 1948")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/Gravity_csv_like.zip"), help="zip to write")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = write_zip(args.out, countries=args.countries, years=args.years, seed=args.seed)
    with zipfile.ZipFile(args.out) as archive:
        info = archive.infolist()[0]
        header = archive.open(info).readline().decode().strip().split(",")
    print(f"{args.out}: {rows:,} rows x {len(header)} columns, CSV {info.file_size / 1e9:.2f} GB, "
          f"zip {args.out.stat().st_size / 1e9:.2f} GB, in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
