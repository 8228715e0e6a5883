"""Variance-covariance estimators and their small-sample conventions.

The sandwich is built from the bread ``B = (X̃'WX̃)^{-1}`` (the inverse Hessian with the fixed
effects partialled out) and the scores ``s_i`` (rows of X̃ times the generalised residual).

Conventions (``small_sample``), with N observations, k regressors, K = k + absorbed fixed-effect
parameters and G clusters (G = the smallest dimension under multi-way clustering):

===========  ===========================================  ==========================================
vcov         stata (reghdfe for OLS, ppmlhdfe for PPML)    fixest
===========  ===========================================  ==========================================
iid, OLS     s² B, s² = Σwe²/(N-K); t(N-K)                 same; t(N-K)
iid, PPML    B; normal                                     (N-1)/(N-K) B; normal
robust, OLS  N/(N-K) B M B; t(N-K)                         N/(N-K) B M B; t(N-K)
robust,PPML  N/(N-1) B M B; normal                         N/(N-K) B M B; normal
cluster,OLS  (N-1)/(N-K) G/(G-1) B M B; t(G-1)             (N-1)/(N-K) G/(G-1) B M B; t(G-1)
cluster,PPML G/(G-1) B M B; normal                         (N-1)/(N-K) G/(G-1) B M B; normal
===========  ===========================================  ==========================================

Under clustering, fixed effects nested in a cluster variable are left out of K (reghdfe and
fixest agree on this; fixest keeps one parameter per fully nested dimension). Multi-way clustering
follows Cameron, Gelbach & Miller (2011): the sum over non-empty subsets of the clustering
variables of (-1)^(|S|+1) times the meat clustered by their intersection. A result that is not
positive semi-definite has its negative eigenvalues set to zero, and a note says so.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from migtrade.errors import UsageError


class SmallSample(StrEnum):
    """Named small-sample conventions."""

    stata = "stata"
    fixest = "fixest"


@dataclass(frozen=True)
class VcovSpec:
    """What kind of covariance matrix to compute."""

    kind: str
    clusters: tuple[str, ...] = ()
    small_sample: SmallSample = SmallSample.stata

    def __post_init__(self) -> None:
        if self.kind not in ("iid", "robust", "cluster"):
            raise UsageError(
                f"unknown vcov type '{self.kind}'", "Use iid, robust or cluster:VAR[,VAR2]."
            )
        if self.kind == "cluster" and not self.clusters:
            raise UsageError("cluster vcov needs a variable", "Write --vcov cluster:VAR.")
        if self.kind != "cluster" and self.clusters:
            raise UsageError(f"vcov '{self.kind}' takes no variables", "Write --vcov cluster:VAR.")
        for name in self.clusters:
            parts = name.split("^")
            if not all(p.strip() for p in parts) or len(set(parts)) != len(parts):
                raise UsageError(
                    f"cluster variable '{name}' is not a column or a combination of distinct columns",
                    "Write --vcov cluster:VAR or cluster:VAR1^VAR2 (their combinations).",
                )
        if len(set(self.clusters)) != len(self.clusters):
            raise UsageError(f"cluster variables repeat in '{','.join(self.clusters)}'",
                             "Name each clustering dimension once.")

    @property
    def cluster_columns(self) -> tuple[str, ...]:
        """The data columns the clusters are made of (``a^b`` reads ``a`` and ``b``)."""
        return tuple(dict.fromkeys(c.strip() for name in self.clusters for c in name.split("^")))

    @classmethod
    def parse(cls, text: str, small_sample: str | SmallSample = SmallSample.stata) -> VcovSpec:
        """Parse ``iid``, ``robust``/``hetero`` or ``cluster:VAR[,VAR2...]``.

        A cluster variable ``a^b`` clusters on each observed combination of the columns ``a``
        and ``b`` (fixest's ``a^b``, Stata's ``cluster(a#b)``); ``cluster:a^b,c`` is two-way
        clustering by the combination and by ``c``.
        """
        try:
            convention = SmallSample(small_sample)
        except ValueError:
            raise UsageError(
                f"unknown small-sample convention '{small_sample}'", "Use stata or fixest."
            ) from None
        raw = text.strip()
        kind, _, rest = raw.partition(":")
        kind = kind.strip().lower()
        if kind == "hetero":
            kind = "robust"
        clusters = tuple("^".join(p.strip() for p in v.split("^")) for v in rest.split(",")
                         if v.strip()) if rest else ()
        if rest and not clusters:
            raise UsageError(f"no cluster variable in '{raw}'", "Write --vcov cluster:VAR.")
        return cls(kind=kind, clusters=clusters, small_sample=convention)

    def label(self) -> str:
        """Short text for tables: 'cluster: pair_id', 'robust', 'iid'."""
        return f"cluster: {', '.join(self.clusters)}" if self.kind == "cluster" else self.kind


@dataclass(frozen=True)
class VcovResult:
    """A covariance matrix with what is needed for inference."""

    cov: np.ndarray
    distribution: str  # "t" or "normal"
    df: int | None  # degrees of freedom of the t distribution
    n_clusters: dict[str, int] = field(default_factory=dict)
    adjustment: float = 1.0
    notes: tuple[str, ...] = ()


def _cluster_meat(scores: np.ndarray, codes: np.ndarray) -> np.ndarray:
    g = int(codes.max()) + 1
    sums = np.empty((g, scores.shape[1]))
    for j in range(scores.shape[1]):
        sums[:, j] = np.bincount(codes, weights=scores[:, j], minlength=g)
    return sums.T @ sums


def _intersect(codes: Sequence[np.ndarray]) -> np.ndarray:
    combined = np.zeros(codes[0].shape[0], dtype=np.int64)
    for c in codes:
        combined = combined * (int(c.max()) + 1) + c
    return np.unique(combined, return_inverse=True)[1].ravel()


def _psd(cov: np.ndarray) -> tuple[np.ndarray, bool]:
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    if vals.min(initial=0.0) >= 0:
        return cov, False
    return (vecs * np.clip(vals, 0, None)) @ vecs.T, True


def compute_vcov(
    spec: VcovSpec,
    *,
    model: str,
    bread: np.ndarray,
    scores: np.ndarray,
    n_obs: int,
    n_params: int,
    fe_params: int,
    cluster_codes: Sequence[np.ndarray] = (),
    sigma2_rss: float | None = None,
) -> VcovResult:
    """Covariance of the coefficients under ``spec``.

    Parameters
    ----------
    model
        ``"ols"`` or ``"ppml"``.
    bread
        ``(X̃'WX̃)^{-1}``.
    scores
        (n, k) score contributions (X̃ row times weight times residual).
    fe_params
        Absorbed fixed-effect parameters counted in K under the convention of ``spec``
        (see :func:`migtrade.estimation.fixed_effects.fe_dof`).
    sigma2_rss
        The weighted residual sum of squares (OLS, iid only).
    """
    n, k = n_obs, n_params
    stata = spec.small_sample is SmallSample.stata
    is_ols = model == "ols"
    big_k = k + fe_params
    dist = "t" if is_ols else "normal"
    notes: list[str] = []

    if spec.kind == "iid":
        if is_ols:
            if sigma2_rss is None:
                raise ValueError("OLS iid vcov needs the residual sum of squares")
            adj = 1.0
            cov = bread * (sigma2_rss / max(n - big_k, 1))
        else:
            adj = 1.0 if stata else (n - 1) / max(n - big_k, 1)
            cov = bread * adj
        return VcovResult(cov=cov, distribution=dist, df=n - big_k, adjustment=adj)

    if spec.kind == "robust":
        meat = scores.T @ scores
        adj = n / max(n - big_k, 1) if is_ols or not stata else n / max(n - 1, 1)
        cov = adj * bread @ meat @ bread
        return VcovResult(cov=cov, distribution=dist, df=n - big_k, adjustment=adj)

    n_clusters = {name: int(c.max()) + 1 for name, c in zip(spec.clusters, cluster_codes, strict=True)}
    g_min = min(n_clusters.values())
    if g_min < 2:
        raise UsageError(
            f"cannot cluster by {', '.join(spec.clusters)}: only {g_min} cluster in the sample",
            "Choose a cluster variable with at least two groups, or use --vcov robust.",
        )
    meat = np.zeros((scores.shape[1], scores.shape[1]))
    for size in range(1, len(cluster_codes) + 1):
        for subset in itertools.combinations(range(len(cluster_codes)), size):
            codes = cluster_codes[subset[0]] if size == 1 else _intersect([cluster_codes[i] for i in subset])
            meat += (-1) ** (size + 1) * _cluster_meat(scores, codes)
    g_adj = g_min / (g_min - 1)
    adj = g_adj if (stata and not is_ols) else g_adj * (n - 1) / max(n - big_k, 1)
    cov = adj * bread @ meat @ bread
    if len(cluster_codes) > 1:
        cov, fixed = _psd(cov)
        if fixed:
            notes.append("multi-way cluster covariance was not positive semi-definite; negative eigenvalues set to zero")
    return VcovResult(
        cov=cov,
        distribution=dist,
        df=g_min - 1,
        n_clusters=n_clusters,
        adjustment=adj,
        notes=tuple(notes),
    )
