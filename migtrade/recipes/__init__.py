"""Recipes: a whole analysis as a TOML file that ``migtrade run`` executes and can re-check.

A recipe is data, never code. Its keys are fixed by :mod:`migtrade.recipes.schema`; formulas and
filters go through migtrade's own parsers, as on the command line; nothing is evaluated as Python
or handed to a shell. Relative input paths are relative to the recipe's folder; output files are
relative to the output folder and must stay inside it.

::

    [recipe]
    name = "yotov2016-ch1"                  # required; names the folder migtrade-out/<name>/
    description = "..."

    [[datasets]]                            # a public file by address and sha256 ...
    name = "agtpa"
    url = ["https://host/Chapter2Application2.dta", "https://mirror/Chapter2Application2.dta"]
    sha256 = "60ead74eb51db9c4d0406a4b7668e97cbedbeaccf324beba362123f7ae547547"
    rename = { DIST = "dist" }              # optional; member = "x.csv" reads a zip's member
    [[datasets]]                            # ... a local file (beside the recipe or in --data-dir) ...
    name = "mine"
    file = "data/my_panel.csv"
    [[datasets]]                            # ... or a source of `migtrade fetch`, into the store
    name = "wdi"
    source = "worldbank"
    options = { indicators = ["NY.GDP.MKTP.CD"], years = "1990:2020" }

    [[panels]]                              # `migtrade panel build` -> panels/<name>.parquet
    name = "gravity_migration"
    trade = "agtpa"                         # names of datasets: trade, stocks, flows, covariates
    country_year = ["gdp", "SP.POP.TOTL=pop"]
    years = "1990:2005:5"
    countries = "@trade"

    [[models]]                              # `migtrade estimate` -> models/<name>.json
    name = "t1c4"
    data = "agtpa"                          # a dataset or a panel
    formula = "trade ~ log(dist) + cntg | exporter^year + importer^year"
    model = "ppml"                          # and every option of `migtrade estimate`
    vcov = "cluster:pair_id"
    where = "exporter != importer"
    expect = { "log(dist)" = -0.841 }       # optional: published values ...
    expect_se = { "log(dist)" = 0.032 }
    expect_nobs = 28152
    expect_tol = 0.0005                     # ... and the largest accepted difference

    [[tests]]                               # `migtrade test substitution` -> tests/<name>.json
    name = "mex"
    data = "gravity_migration"
    case = "MEX-USA"
    alpha = 0.05
    expect = "complements"                  # optional verdict

    [[counterfactuals]]                     # `migtrade ge` -> counterfactuals/<name>.json
    name = "nafta"                          # and a table counterfactuals/<name>.md
    data = "agtpa"
    year = 1994                             # and every option of `migtrade ge`
    sigma = 7.0
    estimate = "trade ~ rta | exporter^year + importer^year + pair_id"
    change = "rta = 0 if exporter in ('CAN', 'MEX', 'USA') and importer in ('CAN', 'MEX', 'USA')"
    plot = "welfare.png"                    # optional: `migtrade plot ge`
    expect = { "MEX.real_gdp_pct" = -3.688 }  # optional, and expect_reverse, expect_tol

    [[tables]]                              # `migtrade table`
    name = "table1"
    models = ["t1c3", "t1c4"]
    format = "latex"
    file = "table1.tex"                     # and the options of TableOptions

    [[plots]]                               # `migtrade plot coef` or `migtrade plot event`
    kind = "coef"
    models = ["t1c4"]
    file = "coef.png"

Steps run kind by kind in the order above and, within a kind, in the order written, once the
file of every ``url``/``file`` dataset is at hand and checked (:mod:`migtrade.recipes.acquire`).
The run writes ``manifest.json`` last (:mod:`migtrade.recipes.manifest`).
"""

from migtrade.recipes.load import RecipeFile, load_recipe
from migtrade.recipes.manifest import SCHEMA, compare, read_manifest
from migtrade.recipes.runner import RunReport, StepRecord, run_recipe

__all__ = [
    "SCHEMA",
    "RecipeFile",
    "RunReport",
    "StepRecord",
    "compare",
    "load_recipe",
    "read_manifest",
    "run_recipe",
]
