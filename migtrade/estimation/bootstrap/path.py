"""The derivatives of the path of restricted fits at a converged PPML fit.

Notes
-----
Under r'beta = r'b + Δ the restricted fits form a path in Δ. At the fit (Δ = 0), with X̃ its
regressors demeaned under its weights w μ, B its inverse Hessian, a = B r and the Newton direction
e = X̃ a / (r'a) of the linear predictor, the path's second derivative is -P_Z(e²) and its third
-P_Z(e (e² - 3 P_Z(e²))), P_Z being the weighted projection on the fixed effects and the
restricted regressors (:mod:`migtrade.estimation.bootstrap.restricted`, whose starts at the nulls
take them to the third order); the regressors demeaned along the path move by
X̃' = -P_D(e ∘ X̃) (:mod:`migtrade.estimation.bootstrap.expansion`, whose interval search takes
the path to the second order). Each P_Z v is v - M_D v + (the fit of M_D v on the restricted
regressors), M_D the residual on the fixed effects: what costs is the demeaning.

Two demeanings serve every tested combination, to the loose tolerance ``PATH_TERMS_TOL`` (the
terms enter multiplied by Δ, Δ² and Δ³): the first of the residuals the expansion needs, M_D(e²)
and M_D(e ∘ x̃_j); the second of v = e (e² - 3 P_Z(e²)) for each combination, P_Z being linear
so that the third term is P_Z(v), one column (its two parts, e³ and e P_Z(e²), took two). As e is
a combination of the regressors, e² and e ∘ x̃_j are combinations of the products x̃_i x̃_j: with
k regressors their k(k + 1) / 2 products demeaned once serve all combinations, where each
combination's own columns take k + 1 (three columns instead of six for the two coefficients of
the gravity model). The shared products are used where they are fewer and k is at most
``SHARED_MAX_K``; the expansion's pass over the rows makes each row's residuals from them
(:func:`kernels_rows.path_sums`). On the 1.6 M-row gravity panel the two demeanings went from
eight and two columns to three and two (four sweeps each), and the derivatives from 0.21 to
0.15 s (one warm process).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from migtrade.estimation.absorb import tolerance_scale
from migtrade.estimation.bootstrap import kernels_rows
from migtrade.estimation.bootstrap.fits import FitPoint, PoissonModel, demean_in_place, weighted_at

# The tolerance of the path's derivatives at a fit: they enter multiplied by Δ, Δ² and Δ³. On the
# 1.6 M-row gravity panel 1e-3 took four sweeps where START_INNER_TOL took five; the fits at the
# nulls still converged in one IRLS step, their statistics moved by 1e-11 and the interval ends
# from the expansion by 1e-9 (relative). At 1e-2 it still took four, and at 3e-2 three, but
# the nulls' fits then took two steps.
PATH_TERMS_TOL = 1e-3
# The most regressors for which the shared products x̃_i x̃_j are demeaned: each row's 1 + k
# residuals are then made from k(k + 1) / 2 products in the pass over the rows, k(k + 1)²/2
# multiply-adds, 50 at k = 4, about what the row's own sums take.
SHARED_MAX_K = 4


@dataclass(frozen=True)
class PathTerms:
    """The derivatives of the path of restricted fits at a fit, per unit of Δ = beta0 - r'b, for
    one combination r (module notes): e = X̃ a / (r'a) = ``x_tilde @ e_of_x``; the residuals
    M_D(e²) and M_D(e ∘ x̃_j), in columns 0 and 1 + j, are ``basis @ of_basis`` (``basis``
    itself when ``of_basis`` is None; :meth:`resid`); the second derivative of the linear
    predictor is -P_Z(e²) = ``M_D(e²) - e² - x_tilde @ p_of_x`` and the third is -``third``,
    ``third`` = P_Z(e (e² - 3 P_Z(e²))). The restricted regressors' coefficients move by
    ``-second_coef Δ² / 2 - third_coef Δ³ / 6``.
    """

    e_of_x: np.ndarray  # (k,)
    e_max: float  # max |e_i|
    basis: np.ndarray  # (n, m): demeaned columns, shared by the combinations of one call
    of_basis: np.ndarray | None  # (m, 1 + k)
    p_of_x: np.ndarray  # (k,)
    second_coef: np.ndarray  # (k - 1,): the restricted regressors' share of P_Z(e²)
    third: np.ndarray  # (n,)
    third_coef: np.ndarray  # (k - 1,)

    def resid(self, column: int, out: np.ndarray) -> np.ndarray:
        """M_D(e²) (``column`` 0) or M_D(e ∘ x̃_j) (``column`` 1 + j), written to ``out``."""
        if self.of_basis is None:
            out[:] = self.basis[:, column]
            return out
        return np.dot(self.basis, self.of_basis[:, column], out=out)


def to_restricted(r: np.ndarray) -> np.ndarray:
    """T with the restricted regressors (demeaned) = X̃ T: x̃_m - x̃_p r_m / r_p, m != p."""
    pivot = int(np.flatnonzero(r)[0])
    others = [m for m in range(r.size) if m != pivot]
    to = np.zeros((r.size, len(others)))
    to[others, np.arange(len(others))] = 1.0
    to[pivot] = -r[others] / r[pivot]
    return to


def _of_products(e_of_x: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """(m, 1 + k): e² and e ∘ x̃_j as combinations of the products x̃_i x̃_j of ``pairs``
    (i <= j): e ∘ x̃_j = Σ_i e_of_x[i] x̃_i x̃_j and e² = Σ_j e_of_x[j] (e ∘ x̃_j)."""
    k = e_of_x.size
    place = {pair: b for b, pair in enumerate(pairs)}
    mix = np.zeros((len(pairs), k + 1))
    for j in range(k):
        for i in range(k):
            mix[place[(min(i, j), max(i, j))], 1 + j] += e_of_x[i]
    mix[:, 0] = mix[:, 1:] @ e_of_x
    return mix


def path_terms(model: PoissonModel, origin: FitPoint, rs: list[np.ndarray], *,
               fe_maxiter: int) -> list[PathTerms]:
    """The :class:`PathTerms` of ``origin`` for each combination of ``rs``: two demeanings in
    all (module notes). Few n-long temporaries (each costs its page faults)."""
    n, k = origin.x_tilde.shape
    xt, irls_w = origin.x_tilde, origin.irls_weights
    weighted = weighted_at(model, origin)
    n_rs = len(rs)
    newton = [origin.bread @ r / float(r @ origin.bread @ r) for r in rs]
    pairs = [(i, j) for i in range(k) for j in range(i, k)]
    shared = len(pairs) < n_rs * (k + 1) and k <= SHARED_MAX_K
    width = len(pairs) if shared else n_rs * (k + 1)
    basis = np.empty((n, width), order="F")
    e, work = np.empty(n), np.empty(n)
    e_max = []
    for t, e_of_x in enumerate(newton):
        np.dot(xt, e_of_x, out=e)
        e_max.append(max(float(e.max(initial=0.0)), -float(e.min(initial=0.0))))
        if not shared:
            at = t * (k + 1)
            np.multiply(e, e, out=basis[:, at])
            for j in range(k):
                np.multiply(e, xt[:, j], out=basis[:, at + 1 + j])
    for b, (i, j) in enumerate(pairs if shared else []):
        np.multiply(xt[:, i], xt[:, j], out=basis[:, b])
    demean_in_place(weighted, None, basis, PATH_TERMS_TOL, tolerance_scale(basis), fe_maxiter)
    gram = np.linalg.inv(origin.bread)  # X̃' W X̃

    def weighted_x(vec: np.ndarray) -> np.ndarray:
        """X̃' W vec (through ``work``)."""
        np.multiply(irls_w, vec, out=work)
        return xt.T @ work

    x_basis = np.column_stack([weighted_x(basis[:, b]) for b in range(width)])

    def restricted_share(to: np.ndarray, x_resid: np.ndarray) -> np.ndarray:
        """Coefficients of the fit on the restricted regressors X̃ T of the column whose
        X̃' W product is ``x_resid``."""
        if not to.shape[1]:
            return np.zeros(0)
        return np.linalg.lstsq(to.T @ gram @ to, to.T @ x_resid, rcond=None)[0]

    # P_Z(e²) of each combination, then v of all demeaned together: P_Z is linear, so the
    # third term P_Z(e³) - 3 P_Z(e P_Z(e²)) = P_Z(v) takes one column a combination.
    made = []
    cubic = np.empty((n, n_rs), order="F")
    for t, r in enumerate(rs):
        to = to_restricted(r)
        own = slice(0, width) if shared else slice(t * (k + 1), (t + 1) * (k + 1))
        mix = _of_products(newton[t], pairs) if shared else None
        x_own = x_basis[:, own] if mix is None else x_basis @ mix
        coef2 = restricted_share(to, x_own[:, 0])
        terms = PathTerms(e_of_x=newton[t], e_max=e_max[t], basis=basis[:, own], of_basis=mix,
                          p_of_x=to @ coef2, second_coef=coef2, third=np.empty(n),
                          third_coef=np.zeros(0))
        # P_Z(e²) = e² - M_D(e²) + X̃ T coef2 (in the array that becomes the third term) and
        # v, in one pass over the rows.
        mix0 = np.eye(k + 1)[0] if mix is None else mix[:, 0]
        kernels_rows.path_rows(xt, newton[t], terms.p_of_x, terms.third, cubic[:, t], terms.basis,
                          mix0)
        made.append((to, terms))
    demean_in_place(weighted, None, cubic, PATH_TERMS_TOL, tolerance_scale(cubic), fe_maxiter)
    out = []
    for t, (to, terms) in enumerate(made):
        coef_third = restricted_share(to, weighted_x(cubic[:, t]))
        # P_Z v = v - M_D v + X̃ T coef, v made again from P_Z(e²) over which it is written.
        third = terms.third
        kernels_rows.path_rows(xt, newton[t], to @ coef_third, third, cubic[:, t])
        out.append(PathTerms(
            e_of_x=terms.e_of_x, e_max=terms.e_max, basis=terms.basis, of_basis=terms.of_basis,
            p_of_x=terms.p_of_x, second_coef=terms.second_coef, third=third,
            third_coef=coef_third))
    return out
