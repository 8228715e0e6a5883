"""GEOptions refuses what cannot be solved, naming the fix; GEResult round-trips its document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ge_panels import YEAR, small_panel

from migtrade.errors import DataError, UsageError
from migtrade.ge import SCHEMA, GEOptions, GEResult
from migtrade.ge.result import COUNTRY_FIELDS, PAIR_FIELDS
from migtrade.ge.run import run_counterfactual

BETA = dict(year=YEAR, theta=4.0, beta="beta")


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(year=1, beta="b"), "give exactly one of --sigma"),
    (dict(year=1, beta="b", sigma=5, theta=4), "not both"),
    (dict(year=1, beta="b", sigma=0.9), "--sigma must be greater than 1"),
    (dict(year=1, beta="b", sigma=float("nan")), "--sigma must be greater than 1"),
    (dict(year=1, beta="b", theta=0), "--theta must be greater than 0"),
    (dict(year=1, sigma=5), "give exactly one scenario"),
    (dict(year=1, sigma=5, beta="b", estimate="y ~ x", change="x = 0"), "not both"),
    (dict(year=1, sigma=5, estimate="y ~ x"), "--estimate needs --change"),
    (dict(year=1, sigma=5, beta="b", change="x = 0"), "--change goes with --estimate"),
    (dict(year=1, sigma=5, beta="b", fill_pairs="x"), "--fill-pairs goes with --estimate"),
    (dict(year=1, sigma=5, beta="b", draws=10), "--draws needs --estimate"),
    (dict(year=1, sigma=5, beta="b", draws=-1), "--draws must be a whole number"),
    (dict(year=1, sigma=5, beta="b", tol=0), "--tol must be a positive number"),
    (dict(year=1, sigma=5, beta="b", maxiter=0), "--maxiter must be at least 1"),
    (dict(year=1, sigma=5, beta="b", max_rounds=3), "needs --method geppml and a --reference"),
    (dict(year=1, sigma=5, beta="b", method="geppml", max_rounds=0), "at least 1"),
    (dict(year=1, sigma=5, beta="b", method="newton"), "unknown solution method"),
    (dict(year=1, sigma=5, beta="b", imbalances="none"), "unknown trade imbalances"),
    (dict(year=1, sigma=5, beta="b", conf_level=1.0), "between 0 and 1"),
])
def test_options_refuse_with_a_hint(kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message) as err:
        GEOptions(**kwargs)
    assert err.value.hint and err.value.exit_code == 2


def test_elasticities() -> None:
    assert GEOptions(year=1, sigma=7, beta="b").elasticity == 6.0
    assert GEOptions(year=1, theta=4, beta="b").substitution == 5.0


def test_document_has_every_contract_key_and_round_trips(tmp_path: Path) -> None:
    result = run_counterfactual(small_panel(), GEOptions(**BETA))  # type: ignore[arg-type]
    doc = result.to_dict()
    for key in ("schema", "year", "sigma", "theta", "reference", "method", "imbalances", "scenario",
                "baseline", "partial", "countries", "pairs", "draws", "converged", "iterations",
                "tolerance", "notes", "data", "versions"):
        assert key in doc
    assert doc["schema"] == SCHEMA and doc["draws"] is None and doc["partial"] == {}
    assert set(doc["scenario"]) == {"beta", "estimate", "change", "fill_pairs", "where"}
    for row in doc["countries"].values():
        assert set(COUNTRY_FIELDS) | {"changed"} == set(row)
    assert set(doc["pairs"][0]) == set(PAIR_FIELDS)
    assert any("as observed" in n for n in doc["notes"])
    path = tmp_path / "ge.json"
    path.write_text(result.to_json())
    again = GEResult.load(path)
    assert again.to_dict() == json.loads(json.dumps(doc))
    assert again.extra["options"]["columns"]["exporter"] == "exporter"


def test_load_refuses_other_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a migtrade general-equilibrium result"):
        GEResult.from_dict({"schema": "migtrade.estimation/1"})
    with pytest.raises(DataError, match="lacks"):
        GEResult.from_dict({"schema": SCHEMA, "year": 1})
    with pytest.raises(DataError, match="does not exist"):
        GEResult.load(tmp_path / "nothing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="is not a JSON file"):
        GEResult.load(bad)


def test_beta_path_notes_missing_and_domestic_effects() -> None:
    frame = small_panel()
    year = frame["year"] == YEAR
    frame.loc[year & (frame["exporter"] == frame["importer"]), "beta"] = 0.2
    frame.loc[year & (frame["exporter"] == "XEG") & (frame["importer"] == "XIH"), "beta"] = float("nan")
    result = run_counterfactual(frame, GEOptions(**BETA))  # type: ignore[arg-type]
    assert any("1 pairs have no value of 'beta'" in n for n in result.notes)
    assert any("8 domestic pairs have a non-zero 'beta'" in n for n in result.notes)
    domestic = [p for p in result.pairs if p["exporter"] == p["importer"]]
    assert all(p["partial_effect"] == 0 for p in domestic)


def test_panel_schema_columns_and_where_on_the_beta_path() -> None:
    frame = small_panel().rename(columns={"exporter": "origin", "importer": "destination"})
    result = run_counterfactual(frame, GEOptions(**BETA))  # type: ignore[arg-type]
    assert result.extra["options"]["columns"] == {"exporter": "origin", "importer": "destination",
                                                  "trade": "trade", "year": "year"}
    # --where selects the baseline rows on the beta path: without two countries, six remain.
    keep = "origin not in ('XEG', 'XIH') and destination not in ('XEG', 'XIH')"
    smaller = run_counterfactual(frame, GEOptions(**BETA, where=keep))  # type: ignore[arg-type]
    assert len(smaller.countries) == 6 and "XEG" not in smaller.countries
