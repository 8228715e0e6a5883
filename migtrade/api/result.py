"""A fitted model as a notebook sees it: pandas objects indexed by term, tables, JSON.

:class:`Result` wraps the engine's immutable :class:`~migtrade.results.result.EstimationResult`
(``.result``) and the estimation sample when it is known; it adds nothing to the numbers. Its
``to_dict()`` and ``to_json()`` are exactly the ``migtrade.estimation/1`` document that
``migtrade estimate --save`` writes, and :func:`read_result` reads such a file back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from migtrade.errors import speaks_python
from migtrade.results.result import EstimationResult

if TYPE_CHECKING:
    from migtrade.estimation.sample import Sample


class Result:
    """One estimated model: coefficients, their inference, the fit and where the data came from.

    The names follow statsmodels: ``params``, ``bse``, ``tvalues``, ``pvalues``,
    ``conf_int()``, ``nobs``; ``vcov`` is the covariance matrix of ``params``.

    Parameters
    ----------
    result
        The engine's result.
    sample
        The status of every input row, when the model was estimated in this session.
    """

    def __init__(self, result: EstimationResult, sample: Sample | None = None) -> None:
        self.result = result
        self._sample = sample

    # --- the numbers -------------------------------------------------------------------------
    def _series(self, values: np.ndarray, name: str) -> pd.Series:
        return pd.Series(np.asarray(values, dtype=float), index=pd.Index(self.result.terms, name="term"),
                         name=name)

    @property
    def params(self) -> pd.Series:
        """The estimates, indexed by term (bias-corrected ones with ``bias_correction``)."""
        return self._series(self.result.params, "estimate")

    @property
    def bse(self) -> pd.Series:
        """Standard errors, under the covariance named in ``vcov_info``."""
        return self._series(self.result.std_errors, "std_error")

    @property
    def tvalues(self) -> pd.Series:
        """Estimate over standard error (t or z statistics)."""
        return self._series(self.result.tstats, "statistic")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values under the t or normal distribution the result names."""
        return self._series(self.result.pvalues, "p_value")

    def conf_int(self, level: float | None = None) -> pd.DataFrame:
        """Confidence intervals: columns ``lower`` and ``upper``, one row per term.

        Parameters
        ----------
        level
            Coverage; the level the model was estimated with (0.95 by default) when None.
        """
        if level is not None and not (isinstance(level, int | float) and 0 < level < 1):
            from migtrade.errors import UsageError

            raise UsageError(f"a confidence level must be between 0 and 1, not {level!r}",
                             "Use e.g. 0.95.")
        ci = self.result.conf_int(level)
        return pd.DataFrame(ci.reshape(-1, 2), index=pd.Index(self.result.terms, name="term"),
                            columns=["lower", "upper"])

    @property
    def vcov(self) -> pd.DataFrame:
        """The covariance matrix of ``params`` (rows and columns in term order)."""
        terms = pd.Index(self.result.terms, name="term")
        return pd.DataFrame(self.result.cov.reshape(len(terms), len(terms)), index=terms,
                            columns=list(self.result.terms))

    @property
    def nobs(self) -> int:
        """Observations in the estimation sample."""
        return self.result.nobs

    # --- what the model was -------------------------------------------------------------------
    @property
    def model(self) -> str:
        """``ppml`` or ``ols``."""
        return self.result.model

    @property
    def formula(self) -> str:
        return self.result.formula

    @property
    def depvar(self) -> str:
        return self.result.depvar

    @property
    def vcov_info(self) -> dict[str, Any]:
        """The covariance's type, clusters, small-sample convention, distribution and df."""
        return dict(self.result.vcov)

    @property
    def fit_stats(self) -> dict[str, float | None]:
        """R² and RMSE (OLS); deviance, log-likelihoods and pseudo-R² (PPML)."""
        return dict(self.result.fit)

    @property
    def dropped(self) -> dict[str, int]:
        """Rows left out: missing, singletons, separated, excluded (by ``where``)."""
        return dict(self.result.dropped)

    @property
    def omitted(self) -> dict[str, str]:
        """Terms that could not be estimated, with the reason."""
        return dict(self.result.omitted)

    @property
    def fixed_effects(self) -> dict[str, int]:
        """Absorbed fixed effects and their number of levels."""
        return dict(self.result.fixed_effects)

    @property
    def converged(self) -> bool:
        return self.result.converged

    @property
    def iterations(self) -> int:
        return self.result.iterations

    @property
    def notes(self) -> tuple[str, ...]:
        return self.result.notes

    @property
    def sample_status(self) -> pd.Series:
        """Every input row's status: used, excluded, missing, singleton or separated.

        Known only for a model estimated in this session, not for one read from a file.
        """
        if self._sample is None:
            from migtrade.errors import UsageError

            raise UsageError("this result was read from a file and does not know its sample",
                             "Estimate the model again to see the status of each row.")
        return pd.Series(self._sample.labels(), name="sample_status")

    # --- tables and documents -----------------------------------------------------------------
    def tidy(self) -> pd.DataFrame:
        """One row per term: term, estimate, std_error, statistic, p_value, ci_low, ci_high."""
        rows = [{"term": term, **vars(c)} for term, c in self.result.coefficients().items()]
        columns = ["term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high"]
        return pd.DataFrame(rows, columns=columns)

    def summary(self, **table_options: Any) -> str:
        """The regression table as text, as ``migtrade table`` prints it (see :func:`etable`)."""
        from migtrade.api.tables import etable

        return etable([self], "text", **table_options)

    def to_dict(self) -> dict[str, Any]:
        """The ``migtrade.estimation/1`` document (what ``migtrade estimate --save`` writes)."""
        return self.result.to_dict()

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text; non-finite numbers are written as null."""
        return self.result.to_json(indent=indent)

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path`` whole or not at all; ``migtrade table`` reads it."""
        from migtrade.atomic import write_text

        return write_text(path, self.to_json() + "\n")

    def __repr__(self) -> str:
        return (f"<migtrade {self.result.label} result: {self.formula!r}, N = {self.nobs:,}, "
                f"{len(self.result.terms)} coefficients>")

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        from migtrade.api.tables import etable

        return etable([self], "html")


@speaks_python
def read_result(path: str | Path) -> Result | list[Result]:
    """Read a file written by ``migtrade estimate --save`` (or :meth:`Result.save`).

    Returns
    -------
    Result or list of Result
        One result, or a list when the file holds a list (several models saved together).

    Raises
    ------
    DataError
        When the file is missing, not JSON, or not a ``migtrade.estimation/1`` document.
    """
    import json

    from migtrade.report.load import load_result_file

    found = [Result(r) for r in load_result_file(path)]
    p = Path(path)
    # load_result_file has read the file successfully, so it parses again.
    return found if isinstance(json.loads(p.read_bytes()), list) else found[0]
