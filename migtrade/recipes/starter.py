"""The commented starter recipe that ``migtrade recipe init NAME`` writes.

It is a complete, valid recipe: its data are a public file named by address and sha256 (the
Yotov et al. 2016 application file of :mod:`migtrade.sources.publishers`), so it runs anywhere as
written, and its comments show where a user's own data, models, checks and outputs go.
"""

from __future__ import annotations

from migtrade.errors import UsageError
from migtrade.sources.publishers import PUBLISHERS, table_addresses
from migtrade.store.names import NAME_RULE, is_valid_name

_TEMPLATE = '''\
# {name}: an analysis that migtrade runs, records and re-checks.
#
#   migtrade run {name}.toml                       # results, tables, plots and manifest.json
#   migtrade run {name}.toml --check migtrade-out/{name}/manifest.json
#                                                  # re-run and compare every number (exit 6 on drift)
#
# A recipe is data, never code: formulas and filters go through migtrade's own parsers. Every key
# a recipe may use: `migtrade run --schema`. Relative paths are relative to this file's folder.

[recipe]
name = "{name}"
description = "What this analysis reproduces, and from which paper"

# Data. Name each file by its public address and the sha256 of its bytes: migtrade downloads it
# once, keeps it in the download cache, and refuses any other bytes. Several addresses serving
# the same bytes are mirrors, tried in order. A copy you already have is found by file name in
# the folders given with --data-dir (or MIGTRADE_DATA_DIR). Other ways:
#   file = "data/my_panel.csv"              # a local file (CSV, gzip CSV, Parquet, Stata)
#   member = "folder/table.csv"             # with url: the member of a zip archive to read
#   source = "worldbank"                    # or a source of `migtrade fetch`, with options = {{...}}
[[datasets]]
name = "gravity"
url = [
{urls}
]
sha256 = "{sha256}"
rename = {{ DIST = "dist", CNTG = "cntg", LANG = "lang", CLNY = "clny", RTA = "rta" }}
description = "{description}"

# Models: the options of `migtrade estimate`. Published values under expect (with expect_se,
# expect_nobs and expect_tol) make the run exit 6 when they are not reproduced.
[[models]]
name = "ppml"
data = "gravity"
formula = "trade ~ log(dist) + cntg + lang + clny | exporter^year + importer^year"
model = "ppml"
vcov = "cluster:pair_id"
where = "exporter != importer and year in (1986, 1990, 1994, 1998, 2002, 2006)"
expect = {{ "log(dist)" = -0.841, cntg = 0.437, lang = 0.247, clny = -0.222 }}
expect_nobs = 28152

[[models]]
name = "ols"
data = "gravity"
formula = "log(trade) ~ log(dist) + cntg + lang + clny | exporter^year + importer^year"
model = "ols"
vcov = "cluster:pair_id"
where = "exporter != importer and trade > 0 and year in (1986, 1990, 1994, 1998, 2002, 2006)"

# Outputs, written into migtrade-out/{name}/ beside models/*.json and manifest.json.
[[tables]]
name = "gravity"
models = ["ols", "ppml"]
format = "md"                                # or latex, html, csv, json, text
titles = ["OLS", "PPML"]

# [[plots]]
# kind = "coef"
# models = ["ols", "ppml"]
# file = "coefficients.png"
'''


def starter_recipe(name: str) -> str:
    """The text of a starter recipe called ``name``.

    Parameters
    ----------
    name
        The recipe's name; it names the output folder, so it follows the dataset-name rule.

    Raises
    ------
    UsageError
        If ``name`` breaks that rule.
    """
    if not is_valid_name(name):
        raise UsageError(f"invalid recipe name '{name}': use {NAME_RULE}", "For example yotov2016-ch1.")
    publisher = PUBLISHERS["yotov2016"]
    table = publisher.table(None)
    urls = ",\n".join(f'  "{url}"' for url in table_addresses(publisher, table))
    description = f"Yotov et al. (2016), {table.name}.dta: 69 countries, 1986-2006 ({publisher.licence})"
    return _TEMPLATE.format(name=name, urls=urls, sha256=table.sha256, description=description)
