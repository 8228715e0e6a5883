"""The PPML fit under a linear restriction, started from a fit already made.

Notes
-----
The restricted score bootstrap needs the model fitted under H0: r'beta = beta0 (one fit per
tested coefficient, and one per trial value when an interval is found by test inversion). With
p the first term of r, ``beta_p = (beta0 - Σ_{m≠p} r_m beta_m) / r_p``: x_p beta0 / r_p moves into
the offset and every other regressor becomes ``x_m - x_p r_m / r_p``.

Start. A fit already made (the unrestricted one, or a restricted one at another value beta1;
:class:`RestrictedFits` takes the nearest) is moved to the null by the first-order (Newton) step
of every other parameter, fixed effects included. With X̃ its regressors demeaned under its
weights w mu, B = (X̃' W mu X̃)^{-1} and a = B r, the step that keeps the score of every other
direction at zero while r'beta moves by Δ = beta0 - r'b is

    beta⁰ = b + a Δ / (r'a),        η⁰ = η + X̃ a Δ / (r'a)

(X̃ a is X a less its projection on the fixed effects, which is their part of the step). Its
error is of order Δ². The step also predicts the rise in deviance, ``Δ² / (r'a)``, which the
start already contains: where that rise is small (``NEAR_RISE`` relative to the deviance) what
the first IRLS step changes is of a higher order, and the step is the last.

Far from the origin (the usual null beta = 0 of a coefficient estimated many standard errors
away) the start follows the path of restricted fits to the third order instead. Along the path
t -> eta(t) the scores of every direction Z left free (fixed effects and restricted regressors)
stay zero, ``Z' w (y - exp(eta(t))) = 0``; differentiated twice and three times, with
s = eta' Δ (the Newton step above) and P the projection on the span of Z under the weights
w mu of the origin,

    eta'' Δ² = q = -P(s²),        eta''' Δ³ = -P(s (3 q + s²)),

so that ``eta⁰ = eta + s + q / 2 + eta''' Δ³ / 6`` with an error of order Δ⁴ (the restricted
regressors' coefficients move by the same combinations of their parts of P). Each term costs
one loose demeaning of one column, or nothing where the derivatives were made at the origin for
every tested combination at once (:mod:`migtrade.estimation.bootstrap.path`). On the 1.6 M-row gravity panel the first IRLS step from the
Newton start changed the deviance by 2.3e-4 at the null of its RTA coefficient (some 500 model
standard errors away), from the third-order start by 5.5e-9: one step at the full tolerance
instead of three. Only beyond ``FAR_RISE`` does the first step start at the engine's loose 1e-4.

Where the Newton start's predicted rise is below ``NEGLIGIBLE_RISE`` (a null a small share of a
standard error from a converged fit, as the interval search's later trial values are) the start
is the fit: a step would change the deviance by about the square of that rise, which is rounding
there, and only the regressors are demeaned under its weights.

Steps. Each demeans the working residual u = (y - mu) / mu and the restricted regressors as last
demeaned, to a tolerance that follows the change in deviance down to ``fe_tol``: the working
outcome less the fixed effects' part of the current linear predictor is ``design_t @ coef + u``,
whose residual on the fixed effects is the regressors' times coef plus u's, and u starts near its
answer (its weighted group means are the fixed effects' scores, zero at any fit whose fixed
effects are at their optimum), so its column leaves the demeaning early: on the 1.6 M-row gravity
panel after four conjugate-gradient iterations of six at the RTA null and three of five at the
migrant stock's, where the working outcome itself, which carries the regressors' part under the
last weights, stayed for five and four. Steps that raise the deviance are halved, as in :mod:`migtrade.estimation.ppml`,
and the stopping rule is the engine's: a relative change in deviance below ``tol`` at the full
demeaning tolerance. At the steps that run at that tolerance (those that may be the last) x_p
joins the block, so that the converged fit's regressors, which the bootstrap and the next start
need demeaned under its final weights, start from the weights of one step before (two sweeps
after a one-step fit on the 1.6 M-row gravity panel, against six to ten from the origin's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from migtrade.errors import ConvergenceError
from migtrade.estimation.absorb import Absorber, tolerance_scale
from migtrade.estimation.bootstrap import kernels_rows
from migtrade.estimation.bootstrap.fits import FitPoint, PoissonModel, demean_in_place, weighted_at
from migtrade.estimation.bootstrap.path import PathTerms, path_terms
from migtrade.estimation.ols import solve_wls, weighted_inverse
from migtrade.estimation.ppml import START_INNER_TOL, irls_step, next_inner_tol

# A Newton start whose predicted relative rise in deviance is below this is near enough for the
# first step to be the last: it runs at --fe-tol. On the 1.6 M-row gravity panel a start two
# standard errors away (predicted 3e-5) left a first change of 2e-10, one 70 away (3e-2) 2e-4.
NEAR_RISE = 1e-4
# Beyond it the start is taken to the third order (module notes), and the first step still runs
# at --fe-tol up to this predicted rise: from the third-order start, the first change was
# 5.5e-9 at a predicted 3e-2 on that panel, and at most 7e-11 from 3 to 300 model standard
# errors away.
FAR_RISE = 0.1
# A Newton start from a converged fit whose predicted relative rise in deviance is below this is
# the fit itself, without an IRLS step (module notes): its own error in deviance is of order the
# square of that rise. On the 1.6 M-row gravity panel the first step changed the deviance by
# 0.26 times the squared prediction from starts 2 standard errors away (predicted 2.6e-5 and
# 4.4e-5), and by 5e-15 to 1e-13, rounding, from the interval search's later starts (predicted
# 1.6e-12 to 3.8e-9): below this bound a thousand times that factor still leaves 1e-9, under
# the engine's stopping tolerance.
NEGLIGIBLE_RISE = 1e-6
# Fits kept as starting points for the next ones (each holds n x (k + 1) numbers).
KEPT_STARTS = 4


@dataclass(frozen=True)
class RestrictedEstimate:
    """The PPML fit under r'beta = beta0, with the work it took."""

    point: FitPoint
    mu: np.ndarray
    steps: int  # IRLS steps
    sweeps: int  # demeaning sweeps (or iterations), summed over the columns' maxima


def _higher_order_terms(weighted: Absorber | None, origin_w: np.ndarray, step: np.ndarray,
                        design_t: np.ndarray, fe_maxiter: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The second- and third-order terms of the path of restricted fits (module notes),
    ``q / 2 + eta''' Δ³ / 6`` for the linear predictor and the same combination of the
    restricted regressors' coefficients, and the sweeps they took. ``step`` is the Newton step
    s of the linear predictor, ``design_t`` the restricted regressors demeaned under the
    origin's weights ``origin_w`` (``weighted``: the absorber under them)."""
    col = np.empty((step.shape[0], 1), order="F")
    resid = col[:, 0]
    # The restricted regressors' weighted cross-products, shared by both projections.
    wdesign = design_t * origin_w[:, None]
    gram_inv = np.linalg.pinv(wdesign.T @ design_t) if design_t.shape[1] else np.zeros((0, 0))

    def project(vec: np.ndarray) -> tuple[np.ndarray, int]:
        """``vec`` <- P vec in place; the restricted regressors' coefficients and the sweeps.
        P vec = vec - M vec, with M vec the residual of vec on the fixed effects less its fit
        on the demeaned restricted regressors (Frisch-Waugh-Lovell)."""
        resid[:] = vec
        used = demean_in_place(weighted, None, col, START_INNER_TOL, tolerance_scale(col),
                       fe_maxiter)
        gamma = gram_inv @ (resid @ wdesign)
        resid[:] -= design_t @ gamma
        vec -= resid
        return gamma, used

    q = step * step
    gamma_q, used_q = project(q)
    q *= -1.0  # q = -P(s²) = eta'' Δ²
    third = q * 3.0
    third += step * step
    third *= step  # s (3 q + s²)
    gamma_t, used_t = project(third)  # P(s (3 q + s²)) = -eta''' Δ³
    q *= 0.5
    q -= third / 6.0
    return q, -0.5 * gamma_q - gamma_t / 6.0, used_q + used_t


@dataclass(frozen=True)
class PathStart:
    """Where IRLS under the restriction starts (module notes)."""

    eta: np.ndarray
    mu: np.ndarray
    coef: np.ndarray  # the restricted regressors' coefficients
    deviance: float
    predicted: float  # the Newton step's relative rise in deviance
    # [free column, restricted regressors, x_p], the last two demeaned under the origin's weights
    block: np.ndarray
    sweeps: int  # those of the higher-order terms


def path_start(model: PoissonModel, origin: FitPoint, r: np.ndarray, beta0: float, *,
               fe_maxiter: int, order: int | None = None,
               terms: PathTerms | None = None) -> PathStart:
    """``origin`` moved to ``r'beta = beta0`` along the path of restricted fits to the first
    (Newton) or third ``order`` (module notes); by default the first where the Newton step's
    predicted rise in deviance is below ``NEAR_RISE``, the third beyond. ``terms``: the path's
    derivatives at ``origin`` for ``r``
    (:func:`migtrade.estimation.bootstrap.path.path_terms`), which the third order takes
    instead of demeaning its own."""
    pivot = int(np.flatnonzero(r)[0])
    others = [m for m in range(origin.beta.size) if m != pivot]
    # Every n-long array here is written in place where it can be: on the 1.6 M-row gravity
    # panel each fresh temporary costs its page faults, and they were a quarter of the fit's time.
    a = origin.bread @ r
    ra = float(r @ a)
    delta = beta0 - float(r @ origin.beta)
    shift = delta / ra
    coef = origin.beta[others] + shift * a[others]
    predicted = shift * shift * ra / max(abs(origin.deviance), 0.1)  # relative rise in deviance
    third_order = (order is None and predicted >= NEAR_RISE) or order == 3
    # One block [working residual, restricted regressors, x_p] demeaned in place at every IRLS
    # step; x_p only at steps that may be the last (at the full tolerance), so that the
    # converged fit's regressors start from its weights but one step. The restricted regressors
    # and x_p start demeaned under the origin's weights: warm starts. The linear predictor and
    # the block come from one pass over the rows (every n-long temporary of the NumPy version
    # cost a pass, and its pages on the 1.6 M-row gravity panel).
    n, k = origin.x_tilde.shape
    block = np.empty((n, k + 1), order="F")
    eta = np.empty(n)
    higher = None
    if third_order and terms is not None:
        # eta'' Δ² / 2 + eta''' Δ³ / 6 from the terms: eta'' = -P_Z(e²), P_Z(e²) = e² - M_D(e²)
        # + X̃ p_of_x with M_D(e²) = basis @ mix0, and eta''' = -third.
        mix0 = np.eye(terms.basis.shape[1])[0] if terms.of_basis is None else terms.of_basis[:, 0]
        higher = (terms.basis, mix0, terms.third, terms.p_of_x * (delta * delta),
                  delta * delta, delta ** 3 / 6.0)
        coef = coef - 0.5 * delta * delta * terms.second_coef \
            - delta ** 3 / 6.0 * terms.third_coef
    kernels_rows.start_rows(origin.x_tilde, origin.eta, r, a * shift, eta, block, higher)
    sweeps = 0
    if third_order and terms is None:
        step = origin.x_tilde @ a
        step *= shift
        weighted = weighted_at(model, origin)
        eta_more, coef_more, sweeps = _higher_order_terms(weighted, origin.irls_weights, step,
                                                          block[:, 1:k], fe_maxiter)
        eta += eta_more
        coef = coef + coef_more
    mu = np.exp(eta)
    dev = model.deviance(eta, mu)
    return PathStart(eta=eta, mu=mu, coef=coef, deviance=dev, predicted=predicted, block=block,
                     sweeps=sweeps)


def restricted_fit(model: PoissonModel, origin: FitPoint, r: np.ndarray, beta0: float, *,
                   tol: float, fe_tol: float, maxiter: int, fe_maxiter: int,
                   terms: PathTerms | None = None) -> RestrictedEstimate:
    """The PPML fit under ``r'beta = beta0``, by IRLS from ``origin`` moved to the null
    (``terms``: the path's derivatives at ``origin``, :func:`path_start`).

    Raises
    ------
    ConvergenceError
        When a step cannot be made to lower the deviance, or ``maxiter`` steps do not converge.
    """
    pivot = int(np.flatnonzero(r)[0])
    others = [m for m in range(origin.beta.size) if m != pivot]
    y, w = model.y, model.weights
    deviance = model.deviance
    start = path_start(model, origin, r, beta0, fe_maxiter=fe_maxiter, terms=terms)
    eta, mu, coef, dev_old, sweeps = start.eta, start.mu, start.coef, start.deviance, start.sweeps
    block, predicted = start.block, start.predicted
    del start  # its arrays go with their last step
    k = len(others) + 1
    if predicted < NEGLIGIBLE_RISE:
        # The start is the fit (module notes); its regressors hold the origin's demeaning.
        return _converged(model, eta, mu, dev_old, coef, r, beta0, pivot, others, block,
                          tolerance_scale(block[:, 1:]), fe_tol, fe_maxiter, 0,
                          sweeps)
    design_t = block[:, 1:k]
    floor = 1e-10 * max(float(w @ y), 1.0)
    inner_tol = fe_tol if predicted < FAR_RISE else START_INNER_TOL
    scale = np.empty(0)
    # The step's weights and working residuals, written in place at every step; at the last,
    # the weights' array receives the fit's (_converged).
    irls_w, u = np.empty_like(mu), np.empty_like(mu)
    for step in range(1, maxiter + 1):
        # The working outcome eta - off + u less the fixed effects' part of eta - off is
        # design @ coef + u, whose residual on the fixed effects is the design's (the block's
        # next columns) times coef plus u's: u is demeaned, and its fixed-effect part is their
        # scores at this fit, near zero, so its column converges in a few sweeps.
        kernels_rows.working_rows(mu, w, y, irls_w, u, block[:, 0])
        del mu  # the step's means take its pages
        if step == 1:
            # The columns' scales for the tolerance (as the absorb core's default), taken once:
            # the demeaning moves them little.
            scale = tolerance_scale(block)
        cols = k + 1 if inner_tol <= fe_tol else k
        sweeps += demean_in_place(model.absorber, irls_w, block[:, :cols], inner_tol,
                                  scale[:cols], fe_maxiter)
        ut = block[:, 0]
        # The weighted fit of the demeaned working outcome design_t coef + ut on design_t is
        # coef + (that of ut); the new linear predictor is eta + u less the residual of the fit.
        move, _ = solve_wls(design_t, ut, irls_w)
        coef_new = coef + move
        eta_new = np.empty_like(eta)
        kernels_rows.step_rows(design_t, move, ut, u, eta, eta_new)
        # The engine's step-halving and stopping rule (migtrade.estimation.ppml).
        taken = irls_step(deviance, eta, eta_new, dev_old, floor)
        if taken is None:
            raise ConvergenceError("PPML under the bootstrap's null: step-halving failed",
                                   "Check the data for separation, or use --no-impose-null.")
        for _ in range(taken.halvings):
            # The coefficients halved with the linear predictor, so that the fixed-effect part
            # stays a combination of fixed effects.
            coef_new = 0.5 * (coef + coef_new)
        eta, mu, dev_old, coef = taken.eta, taken.mu, taken.deviance, coef_new
        if taken.change < tol and not taken.halvings and inner_tol <= fe_tol:
            del u, eta_new, taken
            return _converged(model, eta, mu, dev_old, coef, r, beta0, pivot, others, block,
                              scale[1:], fe_tol, fe_maxiter, step, sweeps, hess_w=irls_w)
        inner_tol = next_inner_tol(taken.change, inner_tol, fe_tol)
    raise ConvergenceError(f"PPML under the bootstrap's null did not converge in {maxiter} steps",
                           "Raise --maxiter, or use --no-impose-null.")


def _converged(model: PoissonModel, eta: np.ndarray, mu: np.ndarray, dev: float, coef: np.ndarray,
               r: np.ndarray, beta0: float, pivot: int, others: list[int], block: np.ndarray,
               scales: np.ndarray, fe_tol: float, fe_maxiter: int, steps: int,
               sweeps: int, hess_w: np.ndarray | None = None) -> RestrictedEstimate:
    """The fit's regressors in the original parametrisation, demeaned under its final weights
    (x_m = design_m + x_p r_m / r_p), and its inverse Hessian. ``block`` is the IRLS block
    [working outcome, restricted regressors, x_p] as last demeaned; the regressors are demeaned
    again here in place (``scales``: their tolerance's scales), and the block's first k columns
    receive the fit's regressors (no fresh n x k array: on the 1.6 M-row panel its page faults
    cost about what the arithmetic does). ``hess_w``: an n-long array free to receive the
    fit's weights w mu."""
    regressors = block[:, 1:]
    hess_w = np.multiply(model.weights, mu, out=hess_w)
    k = len(others) + 1
    weighted = None if model.absorber is None else model.absorber.with_weights(hess_w)
    used = demean_in_place(weighted, None, regressors, fe_tol, scales, fe_maxiter)
    xt_p = regressors[:, k - 1]
    xt = block[:, :k]
    # Column c of xt in increasing order overwrites the restricted regressor c - 1, which
    # column c - 1 has used; x_p, in the block's last column, is never overwritten. The
    # restricted regressors are the other columns in order.
    for c in range(k):
        if c == pivot:
            np.multiply(xt_p, r[pivot], out=xt[:, c])
            continue
        j = c if c < pivot else c - 1  # its restricted regressor, in the block's column 1 + j
        if 1 + j != c:
            xt[:, c] = block[:, 1 + j]
        if r[c] != 0.0:
            xt[:, c] += r[c] * xt_p
    bread = weighted_inverse(xt, hess_w)
    beta = np.empty(k)
    beta[others] = coef
    beta[pivot] = (beta0 - float(r[others] @ coef)) / r[pivot]
    point = FitPoint(beta=beta, eta=eta, x_tilde=xt, bread=bread, mu=mu, irls_weights=hess_w,
                     deviance=dev, weighted=weighted)
    return RestrictedEstimate(point=point, mu=mu,
                              steps=steps, sweeps=sweeps + used)


@dataclass
class RestrictedFits:
    """Restricted fits of one model, each started from the nearest fit already made.

    ``unrestricted`` is the model's fit; the last ``KEPT_STARTS`` restricted fits under the
    restriction last asked for are kept, and the next fit under it starts from whichever of
    them, or the unrestricted fit, has r'beta nearest its beta0.
    """

    model: PoissonModel
    unrestricted: FitPoint
    tol: float
    fe_tol: float
    maxiter: int
    fe_maxiter: int
    kept: dict[bytes, list[tuple[float, FitPoint]]] = field(default_factory=dict)
    fits: int = 0
    steps: int = 0
    # The path's derivatives at the unrestricted fit, by combination (path_terms), until the
    # first fit under that combination from the unrestricted fit takes them.
    terms: dict[bytes, PathTerms] = field(default_factory=dict)

    def path_terms(self, rs: list[np.ndarray]) -> list[PathTerms]:
        """The unrestricted fit's :class:`PathTerms` for each of ``rs``, kept for the first fit
        under each that starts from it (all made by one call of
        :func:`migtrade.estimation.bootstrap.path.path_terms`)."""
        keyed = {np.asarray(r, dtype=np.float64).tobytes(): r for r in rs}
        missing = [key for key in keyed if key not in self.terms]
        if missing:
            made = path_terms(self.model, self.unrestricted, [keyed[key] for key in missing],
                              fe_maxiter=self.fe_maxiter)
            self.terms.update(zip(missing, made, strict=True))
        return [self.terms[np.asarray(r, dtype=np.float64).tobytes()] for r in rs]

    def __call__(self, r: np.ndarray, beta0: float) -> RestrictedEstimate:
        """The fit under ``r'beta = beta0``."""
        key = np.asarray(r, dtype=np.float64).tobytes()
        if key not in self.kept:
            self.kept.clear()  # the tests run one after another: the last one's fits are done
        done = self.kept.setdefault(key, [])
        origin = min([(float(r @ self.unrestricted.beta), self.unrestricted), *done],
                     key=lambda kept: abs(kept[0] - beta0))[1]
        # The path's terms serve the first fit under r from the unrestricted fit (the null's)
        # and are then let go: they hold several n-long columns, whose pages the fits and
        # passes after it reuse (a later start from the unrestricted fit that needs the third
        # order demeans its own).
        terms = self.terms.pop(key, None) if origin is self.unrestricted else None
        fit = restricted_fit(self.model, origin, r, beta0, tol=self.tol, fe_tol=self.fe_tol,
                             maxiter=self.maxiter, fe_maxiter=self.fe_maxiter, terms=terms)
        self.fits += 1
        self.steps += fit.steps
        done.append((beta0, fit.point))
        del done[:-KEPT_STARTS]
        return fit
