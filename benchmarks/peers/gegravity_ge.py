"""The gegravity side of ``bench_ge.py``: one counterfactual, as a whole process.

Usage::

    python benchmarks/peers/gegravity_ge.py DATA.csv SPEC.json OUT.json

SPEC.json holds the cost coefficients (``terms``, ``params``, ``std_errors``), the year, sigma,
the reference importer, the experiment (the pairs whose ``column`` is set to ``value``) and
``omr_rescale``, the scaling gegravity's root finder needs. OUT.json receives gegravity's
country results (percent changes) keyed by ISO3 code.
"""

from __future__ import annotations

import json
import sys
import warnings

import gegravity as ge
import pandas as pd

COLUMNS = {
    "factory_gate_price_pct": "factory gate price change (percent)",
    "imr_pct": "imr change (percent)",
    "omr_pct": "omr change (percent)",
    "real_gdp_pct": "GDP change (percent)",
    "exports_full_pct": "foreign exports change (percent)",
    "imports_full_pct": "foreign imports change (percent)",
    "domestic_full_pct": "intranational trade change (percent)",
}


def main(data_path: str, spec_path: str, out_path: str) -> None:
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    data = pd.read_csv(data_path)
    estimates = pd.DataFrame({"var": spec["terms"], "beta": spec["params"], "stderr": spec["std_errors"]})
    baseline = ge.BaselineData(data, imp_var_name="importer", exp_var_name="exporter", year_var_name="year",
                               trade_var_name="trade", expend_var_name="E", output_var_name="Y")
    costs = ge.CostCoeffs(estimates=estimates, identifier_col="var", coeff_col="beta", stderr_col="stderr")
    model = ge.OneSectorGE(baseline=baseline, cost_coeff_values=costs, cost_variables=spec["terms"],
                           year=str(spec["year"]), reference_importer=spec["reference"],
                           sigma=spec["sigma"], quiet=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.build_baseline(omr_rescale=spec["omr_rescale"])
        experiment = model.baseline_data.copy()
        for exporter, importer in spec["pairs"]:
            rows = (experiment["exporter"] == exporter) & (experiment["importer"] == importer)
            experiment.loc[rows, spec["column"]] = spec["value"]
        model.define_experiment(experiment)
        model.simulate()
    results = model.country_results
    out = {iso: {key: float(results.loc[iso, col]) for key, col in COLUMNS.items()} for iso in results.index}
    for iso, value in _conditional_exports(model).items():
        out[iso]["exports_conditional_pct"] = value
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(out, fh)


def _conditional_exports(model: ge.OneSectorGE) -> dict[str, float]:
    """Percent change of foreign exports in gegravity's conditional equilibrium (its conditional
    resistances, output and expenditure fixed): X_ij = t'_ij Y_i E_j / (Pi_i P_j), both powers
    1 - sigma, against its baseline modeled flows."""
    costs = model.experiment_trade_costs
    countries = model.country_set
    flows = costs.assign(x=[
        c * countries[e].baseline_output * countries[i].baseline_expenditure
        * countries[e]._conditional_omr_ratio * countries[i]._conditional_imr_ratio
        for c, e, i in zip(costs["trade_cost"], costs["exporter"], costs["importer"], strict=True)])
    foreign = flows[flows["exporter"] != flows["importer"]]
    new = foreign.groupby("exporter")["x"].sum()
    base = model.bilateral_trade_results["baseline modeled trade"].reset_index()
    base = base[base["exporter"] != base["importer"]].groupby("exporter")["baseline modeled trade"].sum()
    # The conditional flows carry an arbitrary overall scale (no output share in them): fix it
    # by world trade, which the conditional equilibrium leaves unchanged.
    total = costs.assign(x=flows["x"])["x"].sum()
    world = model.bilateral_trade_results["baseline modeled trade"].sum()
    return {iso: float((new[iso] * world / total - base[iso]) / base[iso] * 100) for iso in new.index}


if __name__ == "__main__":
    main(*sys.argv[1:4])
