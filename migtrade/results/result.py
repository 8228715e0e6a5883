"""The estimation result: immutable, self-contained, and saved as one stable JSON object.

It never holds the data or the model; everything a table, a plot or a later test needs is here.
The JSON layout is the ``migtrade.estimation/1`` schema documented in the README; fields are only
ever added to it, never renamed or removed, within a schema version.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from migtrade.errors import DataError
from migtrade.results.distributions import normal_cdf, normal_quantile, t_cdf, t_quantile

SCHEMA = "migtrade.estimation/1"


@dataclass(frozen=True)
class Coefficient:
    """One estimated coefficient with its inference."""

    estimate: float
    std_error: float
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float


_VCOV_KEYS = ("type", "clusters", "small_sample", "distribution", "df", "adjustment")


@dataclass(frozen=True, eq=False)
class VcovInfo(Mapping[str, Any]):
    """How the covariance matrix was computed: the ``vcov`` block of the JSON document.

    A read-only mapping with the document's keys as well (``info["type"]``), so that code and
    files written before this class keep working.

    Attributes
    ----------
    type
        ``iid``, ``robust`` or ``cluster``.
    clusters
        Each clustering dimension and its number of clusters (empty unless clustered).
    small_sample
        The named convention, ``stata`` or ``fixest``.
    distribution
        ``t`` (with ``df`` degrees of freedom) or ``normal``: what p-values and intervals use.
    adjustment
        The small-sample factor applied to the sandwich.
    extra
        Keys of a document written by a later version, kept for the round trip.
    """

    type: str
    clusters: dict[str, int] = field(default_factory=dict)
    small_sample: str = "stata"
    distribution: Literal["t", "normal"] = "normal"
    df: int | None = None
    adjustment: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON block, in its documented key order."""
        return {"type": self.type, "clusters": dict(self.clusters), "small_sample": self.small_sample,
                "distribution": self.distribution, "df": self.df, "adjustment": self.adjustment,
                **self.extra}

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> VcovInfo:
        """Read the JSON block (missing keys take their defaults)."""
        known = {k: obj[k] for k in _VCOV_KEYS if k in obj}
        df = known.get("df")
        return cls(type=str(known.get("type", "")), clusters=dict(known.get("clusters") or {}),
                   small_sample=str(known.get("small_sample", "stata")),
                   distribution="t" if known.get("distribution") == "t" else "normal",
                   df=None if df is None else int(df),
                   adjustment=float(known.get("adjustment", 1.0) if known.get("adjustment") is not None else 1.0),
                   extra={k: v for k, v in obj.items() if k not in _VCOV_KEYS})

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


@dataclass(frozen=True)
class EstimationResult:
    """Everything about one fitted model except the data."""

    model: str
    formula: str
    depvar: str
    terms: tuple[str, ...]
    params: np.ndarray
    cov: np.ndarray
    nobs: int
    dropped: dict[str, int]
    omitted: tuple[tuple[str, str], ...]
    fixed_effects: dict[str, int]
    vcov: VcovInfo
    fit: dict[str, float | None]
    converged: bool
    iterations: int
    fe_sweeps: int
    data: dict[str, Any]
    options: dict[str, Any]
    notes: tuple[str, ...] = ()
    versions: dict[str, str] = field(default_factory=dict)
    conf_level: float = 0.95
    # Instrumental-variables models only: first-stage statistics per endogenous regressor, the
    # weak-instrument flag and the exogeneity test (empty otherwise, and then left out of the JSON).
    first_stage: dict[str, Any] = field(default_factory=dict)
    # Bootstrap inference per term (``coefficients[term].bootstrap`` in the JSON): method,
    # p_value, ci_low, ci_high, reps, weights, full_enumeration, ... (empty without a bootstrap).
    bootstrap: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Bias-corrected PPML only: the method, the fixed-effect structure and, per term, the
    # uncorrected estimate and standard error and the bias (``params`` hold the corrected
    # estimates, ``cov`` the corrected covariance); empty otherwise, and then not in the JSON.
    bias_correction: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The estimator as printed in tables: OLS, PPML, 2SLS or PPML-IV (control function)."""
        if self.first_stage:
            return "2SLS" if self.model == "ols" else "PPML-IV"
        return self.model.upper()

    # statsmodels / linearmodels names
    @property
    def std_errors(self) -> np.ndarray:
        """Standard errors, in the order of ``terms``."""
        return np.sqrt(np.clip(np.diag(self.cov), 0, None)) if self.cov.size else np.zeros(0)

    @property
    def tstats(self) -> np.ndarray:
        """Estimate over standard error."""
        se = self.std_errors
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(se > 0, self.params / se, np.nan)

    def __post_init__(self) -> None:
        if not isinstance(self.vcov, VcovInfo):  # a plain mapping, as older callers pass
            object.__setattr__(self, "vcov", VcovInfo.from_dict(self.vcov))

    def _t_df(self) -> float | None:
        return float(self.vcov.df) if self.vcov.distribution == "t" and self.vcov.df else None

    @property
    def pvalues(self) -> np.ndarray:
        """Two-sided p-values under the distribution named in ``vcov`` (t or normal)."""
        df = self._t_df()
        z = -np.abs(self.tstats)
        return 2.0 * (t_cdf(z, df) if df else normal_cdf(z))

    def conf_int(self, level: float | None = None) -> np.ndarray:
        """(k, 2) confidence intervals."""
        lvl = self.conf_level if level is None else level
        df = self._t_df()
        p = 0.5 + lvl / 2.0
        q = t_quantile(p, df) if df else normal_quantile(p)
        se = self.std_errors
        return np.column_stack([self.params - q * se, self.params + q * se])

    def coefficients(self) -> dict[str, Coefficient]:
        """Each term's estimate and inference."""
        ci = self.conf_int()
        return {
            t: Coefficient(float(b), float(s), float(z), float(p), float(lo), float(hi))
            for t, b, s, z, p, lo, hi in zip(
                self.terms, self.params, self.std_errors, self.tstats, self.pvalues, ci[:, 0], ci[:, 1],
                strict=True,
            )
        }

    # JSON round trip
    def to_dict(self) -> dict[str, Any]:
        """The ``migtrade.estimation/1`` object."""
        coefs = {t: _clean(vars(c)) for t, c in self.coefficients().items()}
        for t, boot in self.bootstrap.items():
            if t in coefs:
                coefs[t]["bootstrap"] = _clean(dict(boot))
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "model": self.model,
            "formula": self.formula,
            "depvar": self.depvar,
            "nobs": self.nobs,
            "dropped": dict(self.dropped),
            "coefficients": coefs,
            "omitted": [{"term": t, "reason": r} for t, r in self.omitted],
            "fixed_effects": dict(self.fixed_effects),
            "vcov": _clean(self.vcov.to_dict()),
            "cov": [[_num(v) for v in row] for row in self.cov.tolist()],
            "conf_level": self.conf_level,
            "fit": _clean(dict(self.fit)),
            "converged": self.converged,
            "iterations": self.iterations,
            "fe_sweeps": self.fe_sweeps,
            "data": dict(self.data),
            "options": dict(self.options),
            "notes": list(self.notes),
            "versions": dict(self.versions),
        }
        if self.first_stage:
            out["first_stage"] = _clean_tree(self.first_stage)
        if self.bias_correction:
            out["bias_correction"] = _clean_tree(self.bias_correction)
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """Serialise to JSON (NaN and infinities become null)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> EstimationResult:
        """Rebuild a result from its JSON object; refuses other schemas."""
        schema = obj.get("schema") if isinstance(obj, dict) else None
        if schema != SCHEMA:
            raise DataError(
                f"not a migtrade estimation result (schema {schema!r}, expected {SCHEMA!r})",
                "Pass a file written by 'migtrade estimate --save'.",
            )
        terms = tuple(obj["coefficients"])
        params = np.array([obj["coefficients"][t]["estimate"] for t in terms], dtype=float)
        cov = np.array(obj["cov"], dtype=float).reshape(len(terms), len(terms))
        return cls(
            model=obj["model"],
            formula=obj["formula"],
            depvar=obj["depvar"],
            terms=terms,
            params=params,
            cov=cov,
            nobs=int(obj["nobs"]),
            dropped=dict(obj["dropped"]),
            omitted=tuple((o["term"], o["reason"]) for o in obj.get("omitted", [])),
            fixed_effects=dict(obj["fixed_effects"]),
            vcov=VcovInfo.from_dict(obj["vcov"]),
            fit=dict(obj["fit"]),
            converged=bool(obj["converged"]),
            iterations=int(obj["iterations"]),
            fe_sweeps=int(obj.get("fe_sweeps", 0)),
            data=dict(obj["data"]),
            options=dict(obj.get("options", {})),
            notes=tuple(obj.get("notes", [])),
            versions=dict(obj.get("versions", {})),
            conf_level=float(obj.get("conf_level", 0.95)),
            first_stage=dict(obj.get("first_stage", {})),
            bias_correction=dict(obj.get("bias_correction") or {}),
            bootstrap={t: dict(c["bootstrap"]) for t, c in obj["coefficients"].items()
                       if isinstance(c.get("bootstrap"), dict)},
        )

    @classmethod
    def load(cls, path: str | Path) -> EstimationResult:
        """Read a saved result file."""
        p = Path(path)
        try:
            obj = json.loads(p.read_text())
        except FileNotFoundError:
            raise DataError(f"result file '{p}' does not exist", "Check the path.") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DataError(f"'{p}' is not a JSON file", "Pass a file written by 'migtrade estimate --save'.") from None
        return cls.from_dict(obj)


def _num(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _clean_tree(v: Any) -> Any:
    """Nested dicts and lists with numpy scalars made plain and non-finite floats made null."""
    if isinstance(v, dict):
        return {k: _clean_tree(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean_tree(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    return _num(v)


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, np.generic):
            v = v.item()
        out[k] = _num(v)
    return out
