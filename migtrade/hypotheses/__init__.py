"""Does trade substitute for migration or complement it? The test battery and its verdict.

``specs`` names the specifications, ``variables`` derives lags and logs, ``battery`` runs them
through the estimation engine, ``verdict`` holds the decision rule, ``lincom`` sums coefficients
with delta-method errors, ``cases`` holds the NAFTA and Philippine case studies, ``report`` the
frozen result and its JSON, ``render`` its tables, and ``substitution`` the one entry point the
command calls.
"""
