"""The product-level panel: BACI trade by HS6 product joined to the dyadic covariates, out of core.

One row per (k, origin, destination, year). The dyadic part (distance, contiguity, language,
RTAs, migrant stocks, country-year series) is the ordinary panel of
:func:`~migtrade.panel.assemble.assemble_panel`, small enough for memory (countries squared times
years); the trade side, products times that, is never loaded: DuckDB reads the stored BACI
Parquet file product group by product group (it is sorted by ``k``, so each group decodes only
its row groups), joins the dyads, and the rows are streamed to a Parquet file sorted by ``k``.

Zeros
-----
BACI lists strictly positive flows only. With ``fill_zeros`` (the default) every product gets
every dyad of the dyadic panel in the years BACI covers whose two countries both appear in BACI
that year (as exporter or importer of anything), with ``trade = 0`` where BACI has no flow: the
zeros PPML needs. Without it only BACI's positive flows are kept.

Columns: ``k``, ``origin``, ``destination``, ``year``, ``trade`` (BACI ``v``, thousands of
current US$), ``quantity`` (BACI ``q``, metric tons; empty for zeros and where BACI has none),
then the dyadic panel's columns. BACI rows whose pair is not in the dyadic panel, or whose
country code has no ISO3, are left out and counted in the provenance.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migtrade.errors import DataError, UsageError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from migtrade.store.provenance import DatasetInfo, Provenance

BUILDER_VERSION = "panel-product/1"
TRADE_COLUMNS = ("k", "year", "origin", "destination", "v")
CHUNK_CELLS = 4_000_000
"""About this many rows (products x dyads) are joined and sorted at a time."""
MEMORY_LIMIT = "1GB"
ROW_GROUP_ROWS = 1 << 20
UNITS = {"trade": "thousands of current US$ (BACI v)", "quantity": "metric tons (BACI q)"}


@dataclass(frozen=True)
class ProductBuildReport:
    """What :func:`build_product_panel` wrote.

    Attributes
    ----------
    rows, products, dyads, years
        Size of the panel: rows = products x dyads (with zeros filled).
    columns
        The panel's columns in order.
    positive
        Rows with a positive flow (BACI's rows that found their dyad).
    dropped
        BACI rows left out: ``{"no_iso3": n, "no_dyad": n, "domestic": n}``.
    provenance, dataset, store_root, out
        As in :class:`~migtrade.panel.build.BuildReport`.
    unmatched, notes
        From the dyadic panel's assembly.
    """

    rows: int
    products: int
    dyads: int
    years: list[int]
    columns: list[str]
    positive: int
    dropped: dict[str, int]
    provenance: Provenance
    dataset: DatasetInfo | None
    store_root: Path | None
    out: Path | None
    unmatched: dict[str, list[str]]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (what ``--format json`` prints)."""
        return {
            "schema": "migtrade.panel-build/1", "level": "product",
            "name": self.dataset.name if self.dataset else None,
            "version": self.dataset.version if self.dataset else None,
            "store": str(self.store_root) if self.store_root else None,
            "out": str(self.out) if self.out else None,
            "rows": self.rows, "columns": self.columns, "years": self.years,
            "products": self.products, "dyads": self.dyads, "positive": self.positive,
            "dropped": self.dropped, "unmatched": self.unmatched, "notes": self.notes,
            "units": dict(self.provenance.options.get("units", {})),
            "provenance": self.provenance.to_dict(),
        }


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@contextlib.contextmanager
def _trade_file(ref: str, store_root: Path | None) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The BACI Parquet file (a stored dataset, held under the store's shared lock, or a file) and its record."""
    path = Path(ref).expanduser()
    if path.is_file():
        if not path.name.lower().endswith((".parquet", ".pq")):
            raise DataError(f"product-level trade '{ref}' is not a Parquet file",
                            "Give the stored dataset written by `migtrade fetch baci`, or its Parquet export.")
        from migtrade.store.files import sha256_of

        yield path, {"name": str(path), "sha256": sha256_of(path), "kind": "trade", "layout": "baci"}
        return
    from migtrade.store.catalog import Store

    with Store(store_root).parquet_files([ref]) as files:
        stored, info = files[ref]
        yield stored, {"name": ref, "sha256": info.file_sha256, "kind": "trade", "layout": "baci",
                       "rows": info.rows, "source": info.provenance.to_dict()}


def _connect(scratch: Path) -> duckdb.DuckDBPyConnection:
    import duckdb

    return duckdb.connect(config={"temp_directory": str(scratch), "memory_limit": MEMORY_LIMIT,
                                  "preserve_insertion_order": True})


def _check_trade(con: duckdb.DuckDBPyConnection, src: str, ref: str) -> None:
    try:
        names = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
    except Exception as exc:  # duckdb raises several unrelated classes for an unreadable file
        raise DataError(f"cannot read product-level trade '{ref}': {str(exc).splitlines()[0]}") from None
    missing = [c for c in TRADE_COLUMNS if c not in names]
    if missing:
        raise DataError(f"'{ref}' is not product-level trade: no column {', '.join(missing)}",
                        "Give the dataset written by `migtrade fetch baci` (k, year, origin, destination, v).")


def _dyadic(con: duckdb.DuckDBPyConnection, src: str, frame: pd.DataFrame) -> tuple[list[str], int]:
    """Register the dyads to fill: the dyadic panel's rows in BACI's years whose two countries report."""
    keep = [c for c in frame.columns if c in ("origin", "destination", "year")
            or (c != "trade" and frame[c].notna().any())]  # the schema's columns no input gave are left out
    con.register("dyadic_frame", frame[keep])
    con.execute(f"CREATE TEMP TABLE present AS SELECT DISTINCT year::BIGINT AS year, origin AS country FROM {src} "
                f"WHERE origin IS NOT NULL UNION SELECT DISTINCT year::BIGINT, destination FROM {src} "
                "WHERE destination IS NOT NULL")
    con.execute("CREATE TEMP TABLE dyads AS SELECT d.* FROM dyadic_frame d "
                "JOIN present po ON po.year = d.year AND po.country = d.origin "
                "JOIN present pd ON pd.year = d.year AND pd.country = d.destination "
                "WHERE d.origin <> d.destination ORDER BY d.origin, d.destination, d.year")
    con.unregister("dyadic_frame")
    n = con.execute("SELECT count(*) FROM dyads").fetchone()
    covariates = [c for c in keep if c not in ("origin", "destination", "year")]
    return covariates, int(n[0]) if n else 0


def _stream(con: duckdb.DuckDBPyConnection, src: str, products: list[str], covariates: list[str],
            fill_zeros: bool, dyads: int, target: Path) -> tuple[int, int]:
    """Join and write product group by product group; returns (rows written, positive rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    per_chunk = max(1, CHUNK_CELLS // max(dyads, 1))
    cov = "".join(f", g.{c}" for c in covariates)
    join = "LEFT JOIN" if fill_zeros else "JOIN"
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    rows = positive = 0
    try:
        for start in range(0, len(products), per_chunk):
            first, last = products[start], products[min(start + per_chunk, len(products)) - 1]
            query = (
                f"WITH t AS (SELECT k, origin, destination, year::BIGINT AS year, v, q FROM {src} "
                "WHERE k BETWEEN $first AND $last AND origin IS NOT NULL AND destination IS NOT NULL), "
                "ks AS (SELECT DISTINCT k FROM t), "
                "g AS (SELECT ks.k, d.* FROM ks CROSS JOIN dyads d) "
                f"SELECT g.k, g.origin, g.destination, g.year, coalesce(t.v, 0.0) AS trade, t.q AS quantity{cov} "
                f"FROM g {join} t ON t.k = g.k AND t.origin = g.origin AND t.destination = g.destination "
                "AND t.year = g.year ORDER BY g.k, g.origin, g.destination, g.year")
            reader = con.sql(query, params={"first": first, "last": last}).to_arrow_reader(ROW_GROUP_ROWS)
            for batch in reader:
                if schema is None:
                    schema = batch.schema
                    writer = pq.ParquetWriter(target, schema, compression="zstd")
                assert writer is not None
                table = pa.Table.from_batches([batch]).cast(schema)
                writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
                rows += table.num_rows
                positive += int(pa.compute.sum(pa.compute.greater(table.column("trade"), 0.0)).as_py() or 0)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise DataError("the product-level panel is empty: no BACI flow matched a pair of the dyadic panel",
                        "Check that the covariates or stocks cover the countries and years of the BACI data.")
    return rows, positive


def _dropped(con: duckdb.DuckDBPyConnection, src: str) -> dict[str, int]:
    row = con.execute(
        f"SELECT count(*) FILTER (WHERE origin IS NULL OR destination IS NULL), "
        f"count(*) FILTER (WHERE origin = destination) FROM {src}").fetchone()
    no_dyad = con.execute(
        f"SELECT count(*) FROM {src} t WHERE t.origin IS NOT NULL AND t.destination IS NOT NULL "
        "AND t.origin <> t.destination AND NOT EXISTS (SELECT 1 FROM dyads d WHERE d.origin = t.origin "
        "AND d.destination = t.destination AND d.year = t.year::BIGINT)").fetchone()
    return {"no_iso3": int(row[0]) if row else 0, "domestic": int(row[1]) if row else 0,
            "no_dyad": int(no_dyad[0]) if no_dyad else 0}


def _join(path: Path, trade: str, scratch: Path, staged: Path, loaded: dict[str, Any], country_inputs: list[Any],
          years: Sequence[int] | None, countries: Sequence[str] | None, fill_zeros: bool) -> tuple[Any, ...]:
    """Assemble the dyads for BACI's years and stream the joined panel to ``staged``."""
    import pandas as pd

    from migtrade.panel.assemble import assemble_panel

    con = _connect(scratch)
    try:
        src = f"read_parquet({_literal(str(path))})"
        _check_trade(con, src, trade)
        baci_years = [int(r[0]) for r in con.execute(f"SELECT DISTINCT year FROM {src} ORDER BY 1").fetchall()]
        wanted = sorted(set(baci_years) & set(years)) if years is not None else baci_years
        if not wanted:
            raise DataError(f"no year of --years is in '{trade}' (it holds {baci_years[0]}-{baci_years[-1]})"
                            if baci_years else f"'{trade}' holds no rows")
        result = assemble_panel(
            stocks=loaded["stocks"].frame if "stocks" in loaded else None,
            covariates=loaded["covariates"].frame if "covariates" in loaded else None,
            country_year=(pd.concat([c.frame for c in country_inputs], ignore_index=True)
                          if country_inputs else None),
            years=wanted, countries=countries)
        if years is not None:
            src = f"(SELECT * FROM {src} WHERE year IN ({', '.join(str(y) for y in wanted)}))"
        covs, dyads = _dyadic(con, src, result.frame)
        products = [r[0] for r in con.execute(f"SELECT DISTINCT k FROM {src} ORDER BY k").fetchall()]
        rows, positive = _stream(con, src, products, covs, fill_zeros, dyads, staged)
        dropped = _dropped(con, src)
    finally:
        con.close()
    return result, wanted, covs, dyads, products, rows, positive, dropped


def build_product_panel(*, name: str | None, trade: str, stocks: str | None = None,
                        covariates: str | None = None, country_year: Sequence[str] = (),
                        years: Sequence[int] | None = None, countries: Sequence[str] | None = None,
                        fill_zeros: bool = True, store_root: Path | None = None,
                        out: Path | None = None) -> ProductBuildReport:
    """Join product-level trade to the dyadic covariates and stocks, out of core, and store it.

    Parameters
    ----------
    name
        Store the panel under this dataset name; None to write only ``out``.
    trade
        The product-level trade: a dataset written by ``migtrade fetch baci`` or a Parquet file
        with its columns (k, year, origin, destination, v and optionally q).
    stocks, covariates, country_year
        The dyadic inputs, as for :func:`~migtrade.panel.build.build_panel`; at least one of
        ``stocks`` and ``covariates``.
    years, countries
        Restrict the panel.
    fill_zeros
        Give every product every reporting dyad, with zero trade where BACI has no flow.
    store_root, out
        The store folder; also write the panel to this Parquet file.

    Returns
    -------
    ProductBuildReport

    Raises
    ------
    UsageError
        If nowhere to write, no dyadic input, or ``out`` is not a Parquet file.
    DataError
        If the trade input is not product-level trade, or nothing matches.
    """
    from migtrade.panel.inputs import load_input
    from migtrade.store.names import check_name
    from migtrade.store.provenance import Provenance, utc_timestamp

    if name is None and out is None:
        raise UsageError("nowhere to write the panel", "Give --name (store) or --out (file), or both.")
    if name is not None:
        check_name(name)
    if out is not None and not out.name.lower().endswith((".parquet", ".pq")):
        raise UsageError(f"--out '{out}': the product-level panel is written as Parquet only",
                         "Name the file .parquet.")
    if stocks is None and covariates is None:
        raise UsageError("the product-level panel needs dyadic inputs to join",
                         "Give --covariates (distance, contiguity, language, RTAs) and/or --stocks.")
    loaded = {kind: load_input(ref, kind, store_root)
              for kind, ref in (("stocks", stocks), ("covariates", covariates)) if ref is not None}
    country_inputs = [load_input(ref, "country_year", store_root) for ref in country_year]
    with tempfile.TemporaryDirectory(prefix="migtrade-panel-") as tmp:
        scratch = Path(tmp)
        staged = scratch / "panel.parquet"
        # The trade file is read under the store's shared lock; the panel is stored after it is released.
        with _trade_file(trade, store_root) as (path, rec):
            (result, wanted, covs, dyads, products, rows, positive,
             dropped) = _join(path, trade, scratch, staged, loaded, country_inputs, years, countries, fill_zeros)
        columns = ["k", "origin", "destination", "year", "trade", "quantity", *covs]
        records = (rec, *(item.record for item in [*loaded.values(), *country_inputs]))
        fingerprint = hashlib.sha256("".join(f"{r['name']}:{r['sha256']}\n" for r in records).encode())
        units = {**UNITS, **{k: v for k, v in result.units.items() if k in covs}}
        provenance = Provenance(
            source="panel", location="+".join(str(r["name"]) for r in records), retrieved_at=utc_timestamp(),
            sha256=fingerprint.hexdigest(), parser_version=BUILDER_VERSION, rows=rows,
            options={"level": "product", "fill_zeros": fill_zeros, "years": wanted, "products": len(products),
                     "dyads": dyads, "positive": positive, "dropped": dropped, "units": units,
                     "unmatched": result.unmatched, "notes": result.notes, "sorted_by": ["k", "origin",
                                                                                         "destination", "year"]},
            inputs=records)
        if out is not None:
            from migtrade.atomic import write_atomically

            def fill(target: Path) -> None:
                import shutil

                shutil.copyfile(staged, target)

            write_atomically(out, fill)
        dataset, root = None, None
        if name is not None:
            from migtrade.store.catalog import Store

            store = Store(store_root)
            dataset, root = store.write_from_parquet(name, staged, provenance), store.root
    return ProductBuildReport(rows=rows, products=len(products), dyads=dyads, years=wanted, columns=columns,
                              positive=positive, dropped=dropped, provenance=provenance, dataset=dataset,
                              store_root=root, out=out, unmatched=result.unmatched, notes=result.notes)
