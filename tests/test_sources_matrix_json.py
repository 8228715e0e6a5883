"""The JSON matrix layout of the UN DESA stocks and Abel–Cohen flows (row = origin, column =
destination, region header rows and columns among the countries), on hand-made fixtures.

The published files (github.com/X80110/migration-visualization at cb840bd, json/stock.json and
json/flow_da_pb_closed.json) are not kept beside the project; the fixtures follow their layout:
a region's name precedes its countries in ``names``, ``regions`` gives the region positions, and
region rows and columns hold aggregates that must never be read as countries.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from migtrade.errors import DataError, UsageError
from migtrade.sources import abel_cohen, matrix_json, undesa

FIXTURES = Path(__file__).parent / "fixtures" / "matrix_json"
REGIONS = {"South-East Asia", "Latin America", "North America"}


def stock_fixture() -> bytes:
    return (FIXTURES / "stock.json").read_bytes()


def flow_fixture() -> bytes:
    return (FIXTURES / "flow_da_pb_closed.json").read_bytes()


def test_stocks_are_the_country_cells_of_every_year() -> None:
    frame = undesa.parse_payload(stock_fixture())
    expected = pd.DataFrame(
        [("Philippines", "Mexico", 1990, 1500), ("Philippines", "Canada", 1990, 100000),
         ("Philippines", "United States", 1990, 912345), ("Mexico", "Philippines", 1990, 2600),
         ("Mexico", "Canada", 1990, 100000), ("Mexico", "United States", 1990, 4298014),
         ("Canada", "United States", 1990, 9000), ("United States", "Philippines", 1990, 800),
         ("United States", "Mexico", 1990, 3000),
         ("Philippines", "Canada", 2020, 200000), ("Philippines", "United States", 2020, 2061178),
         ("Mexico", "Philippines", 2020, 3100), ("Mexico", "Canada", 2020, 100000),
         ("Mexico", "United States", 2020, 10853105), ("United States", "Philippines", 2020, 950),
         ("United States", "Canada", 2020, 12000)],
        columns=["origin", "destination", "year", "stock"])
    expected = expected.astype({"origin": "string", "destination": "string"})
    expected = expected.sort_values(["year", "destination", "origin"]).reset_index(drop=True)
    # Integers in, integers out: the comparison is exact.
    pd.testing.assert_frame_equal(frame, expected)


def test_region_rows_and_columns_are_never_countries() -> None:
    frame = undesa.parse_payload(stock_fixture())
    assert not set(frame["origin"]) & REGIONS
    assert not set(frame["destination"]) & REGIONS
    parsed = matrix_json.parse(stock_fixture(), "stock")
    assert parsed.regions == ("South-East Asia", "Latin America", "North America")
    assert parsed.countries == ("Philippines", "Mexico", "Canada", "United States")
    # The regions' own rows hold totals: counted as countries they would double the stock.
    assert frame.loc[frame["year"] == 1990, "stock"].sum() == 1500 + 100000 + 912345 + 2600 + \
        100000 + 4298014 + 9000 + 800 + 3000


def test_flows_by_period_with_the_method_of_the_file_name() -> None:
    frame = abel_cohen.parse_payload(flow_fixture(), "flow_da_pb_closed.json")
    assert list(frame.columns) == ["origin", "destination", "period_start", "period_end", "flow",
                                   "method"]
    assert set(frame["method"]) == {"da_pb_closed"}
    assert (frame["period_end"] - frame["period_start"] == 5).all()
    got = {(o, d, s): f for o, d, s, f in
           frame[["origin", "destination", "period_start", "flow"]].itertuples(index=False)}
    assert got == {("Mexico", "Canada", 1990): 20000, ("Mexico", "United States", 1990): 2238239,
                   ("Canada", "Mexico", 1990): 5000, ("United States", "Mexico", 1990): 607527,
                   ("United States", "Canada", 1990): 4100,
                   ("Mexico", "Canada", 2015): 10000, ("Mexico", "United States", 2015): 1635815,
                   ("United States", "Mexico", 2015): 700000}


def test_flow_json_without_a_method_in_its_name_needs_one() -> None:
    with pytest.raises(UsageError, match="which method"):
        abel_cohen.parse_payload(flow_fixture(), "flows.json")
    frame = abel_cohen.parse_payload(flow_fixture(), "flows.json", ("da_min_closed",))
    assert set(frame["method"]) == {"da_min_closed"}


def test_gzip_compressed_json_is_read_alike() -> None:
    import gzip

    plain = undesa.parse_payload(stock_fixture())
    pd.testing.assert_frame_equal(undesa.parse_payload(gzip.compress(stock_fixture())), plain)


def broken(change: dict[str, object]) -> bytes:
    doc = json.loads(stock_fixture())
    doc.update(change)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(("change", "message"), [
    ({"regions": [0, 99]}, "'regions' must list positions"),
    ({"names": ["a", "b"], "regions": [0]}, "not 2 x 2"),
    ({"matrix": {"1990": [[0, -1, 0, 0, 0, 0, 0]] * 7}}, "negative"),
    ({"matrix": {"1990": [["x"] * 7] * 7}}, "not a number"),
    ({"matrix": {"nineteen": [[0] * 7] * 7}}, "not a year"),
    ({"matrix": {}}, "'matrix' is not an object"),
])
def test_damaged_files_are_named(change: dict[str, object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        undesa.parse_payload(broken(change))


def test_missing_keys_and_non_json_are_named() -> None:
    doc = json.loads(stock_fixture())
    del doc["regions"]
    with pytest.raises(DataError, match="no 'regions'"):
        undesa.parse_payload(json.dumps(doc).encode())
    with pytest.raises(DataError, match="not a JSON file"):
        undesa.parse_payload(b'{"names": [')


def _as_matrix_json(long: pd.DataFrame, key: str, value: str, regions: int) -> bytes:
    """The published layout made from a long table: countries dealt into ``regions`` groups,
    each headed by a region row and column holding the group's totals."""
    countries = sorted(set(long["origin"]) | set(long["destination"]))
    groups = [countries[i::regions] for i in range(regions)]
    names: list[str] = []
    heads: list[int] = []
    for g, members in enumerate(groups):
        heads.append(len(names))
        names += [f"Region {g}", *members]
    at = {n: i for i, n in enumerate(names)}
    matrices = {}
    for year, part in long.groupby(key):
        m = [[0] * len(names) for _ in names]
        for o, d, v in part[["origin", "destination", value]].itertuples(index=False):
            m[at[o]][at[d]] = int(v)
        for h, members in zip(heads, groups, strict=True):
            for i in range(len(names)):  # the region's totals, both ways
                m[h][i] = sum(m[at[c]][i] for c in members)
                m[i][h] = sum(m[i][at[c]] for c in members)
        matrices[str(year)] = m
    return json.dumps({"names": names, "regions": heads, "matrix": matrices}).encode()


@pytest.mark.slow
def test_the_shared_long_stocks_survive_the_matrix_layout() -> None:
    """The 2020 edition's 75,600 country pairs, written in the published layout with region
    rows and read back: every row and value the same (integers: exact)."""
    from conftest import shared_file

    path = shared_file("undesa_migrant_stock/undesa_ims2020_bilateral_stock_long.csv.gz")
    long = undesa.parse_payload(path.read_bytes())
    again = undesa.parse_payload(_as_matrix_json(long, "year", "stock", regions=11))
    pd.testing.assert_frame_equal(again, long)
    assert stock_cell(again, "Mexico", "United States", 2020) == 10_853_105


def stock_cell(frame: pd.DataFrame, origin: str, destination: str, year: int) -> int:
    pick = frame[(frame["origin"] == origin) & (frame["destination"] == destination)
                 & (frame["year"] == year)]
    return int(pick["stock"].item())
