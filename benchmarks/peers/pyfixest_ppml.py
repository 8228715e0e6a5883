"""Fit a PPML or OLS model with pyfixest and print the result as one JSON object.

Usage::

    python benchmarks/peers/pyfixest_ppml.py PANEL FORMULA VCOV_CLUSTER [ppml|ols]

The arguments and the JSON are described in ``fixest_api.py``, which this script runs with pyfixest.
"""

from __future__ import annotations

import sys

from fixest_api import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], "pyfixest", __doc__ or "", converged_unknown=False))
