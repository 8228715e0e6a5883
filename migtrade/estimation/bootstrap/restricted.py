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
one loose demeaning of one column. On the 1.6 M-row gravity panel the first IRLS step from the
Newton start changed the deviance by 2.3e-4 at the null of its RTA coefficient (some 500 model
standard errors away), from the third-order start by 5.5e-9: one step at the full tolerance
instead of three. Only beyond ``FAR_RISE`` does the first step start at the engine's loose 1e-4.

Where the Newton start's predicted rise is below ``NEGLIGIBLE_RISE`` (a null a small share of a
standard error from a converged fit, as the interval search's later trial values are) the start
is the fit: a step would change the deviance by about the square of that rise, which is rounding
there, and only the regressors are demeaned under its weights.

Steps. Each demeans the working outcome as ``design_t @ coef + (y - mu) / mu`` (the working
outcome less the fixed effects' part of the current linear predictor and of the regressors, both
combinations of fixed effects, so the demeaning starts near its answer: the Poisson residuals are
orthogonal to the fixed effects at any fit whose fixed effects are at their optimum) and the
restricted regressors as last demeaned, to a tolerance that follows the change in deviance down
to ``fe_tol``. Steps that raise the deviance are halved, as in :mod:`migtrade.estimation.ppml`,
and the stopping rule is the engine's: a relative change in deviance below ``tol`` at the full
demeaning tolerance. At the steps that run at that tolerance (those that may be the last) x_p
joins the block, so that the converged fit's regressors, which the bootstrap and the next start
need demeaned under its final weights, start from the weights of one step before (two sweeps
after a one-step fit on the 1.6 M-row gravity panel, against six to ten from the origin's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from migtrade.errors import ConvergenceError
from migtrade.estimation.absorb import Absorber, tolerance_scale
from migtrade.estimation.ols import solve_wls, weighted_inverse
from migtrade.estimation.ppml import START_INNER_TOL, PoissonDeviance, irls_step, next_inner_tol

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
# The tolerance of the path's derivatives at a fit (path_terms): they enter multiplied by Δ, Δ²
# and Δ³. On the 1.6 M-row gravity panel 1e-3 took four sweeps where START_INNER_TOL took five;
# the fits at the nulls still converged in one IRLS step, their statistics moved by 1e-11 and
# the interval ends from the expansion by 1e-9 (relative).
PATH_TERMS_TOL = 1e-3
# Fits kept as starting points for the next ones (each holds n x (k + 1) numbers).
KEPT_STARTS = 4


@dataclass(frozen=True)
class PoissonModel:
    """What a restricted fit needs of the model besides a fit to start from (whose linear
    predictor carries the regressors and the offset: every step moves it by demeaned columns)."""

    y: np.ndarray
    weights: np.ndarray
    absorber: Absorber | None

    @cached_property
    def deviance(self) -> PoissonDeviance:
        """The model's deviance as a function of eta (its constant part computed once)."""
        return PoissonDeviance(self.y, self.weights)


@dataclass(frozen=True)
class FitPoint:
    """A converged PPML fit (unrestricted, or under a restriction) as a starting point."""

    beta: np.ndarray  # every kept coefficient
    eta: np.ndarray
    x_tilde: np.ndarray  # kept regressors demeaned under the fit's weights w * mu
    bread: np.ndarray  # (X̃' W mu X̃)^{-1}
    mu: np.ndarray  # exp(eta)
    irls_weights: np.ndarray  # w * mu, under which x_tilde is demeaned
    deviance: float
    # The absorber under those weights, kept where the fit made it (its strategy's state for
    # those weights, e.g. a preconditioner, serves the next fit's start).
    weighted: Absorber | None = None


@dataclass(frozen=True)
class RestrictedEstimate:
    """The PPML fit under r'beta = beta0, with the work it took."""

    point: FitPoint
    mu: np.ndarray
    steps: int  # IRLS steps
    sweeps: int  # demeaning sweeps (or iterations), summed over the columns' maxima


def _demean(absorber: Absorber | None, weights: np.ndarray | None, cols: np.ndarray, tol: float,
            scale: np.ndarray, maxiter: int) -> int:
    """Demean the Fortran-ordered ``cols`` in place to ``tol`` times ``scale`` under ``weights``
    (None: the absorber's own); the sweeps."""
    if absorber is None:
        return 0
    weighted = absorber if weights is None else absorber.with_weights(weights)
    res = weighted.demean_or_raise(cols, tol=tol, scale=scale, maxiter=maxiter, overwrite=True)
    if res.resid is not cols:  # strategies that project into a new array
        cols[...] = res.resid
    return res.sweeps


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
        used = _demean(weighted, None, col, START_INNER_TOL, tolerance_scale(col),
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
class PathTerms:
    """The derivatives of the path of restricted fits at a fit, per unit of Δ = beta0 - r'b, for
    one combination r (module notes): e = X̃ a / (r'a) = ``x_tilde @ e_of_x``; the second
    derivative of the linear predictor is -P_Z(e²) = ``resid[:, 0] - e² - x_tilde @ p_of_x``
    and the third is -``third``, ``third`` = P_Z(e (e² - 3 P_Z(e²))), with
    P_Z v = v - M_D v + (the fit of M_D v on the restricted regressors); ``resid[:, 1 + j]`` is
    M_D(e ∘ x̃_j), the regressors' part (X̃' = -P_D(e ∘ X̃)). The restricted regressors'
    coefficients move by ``-second_coef Δ² / 2 - third_coef Δ³ / 6``.
    """

    e_of_x: np.ndarray  # (k,)
    e_max: float  # max |e_i|
    resid: np.ndarray  # (n, 1 + k): M_D(e²), M_D(e ∘ x̃_j)
    p_of_x: np.ndarray  # (k,)
    second_coef: np.ndarray  # (k - 1,): the restricted regressors' share of P_Z(e²)
    third: np.ndarray  # (n,)
    third_coef: np.ndarray  # (k - 1,)


def _weighted_at(model: PoissonModel, origin: FitPoint) -> Absorber | None:
    """The model's absorber under ``origin``'s weights (the fit's own where it kept it)."""
    if origin.weighted is None and model.absorber is not None:
        return model.absorber.with_weights(origin.irls_weights)
    return origin.weighted


def _to_restricted(r: np.ndarray) -> np.ndarray:
    """T with the restricted regressors (demeaned) = X̃ T: x̃_m - x̃_p r_m / r_p, m != p."""
    pivot = int(np.flatnonzero(r)[0])
    others = [m for m in range(r.size) if m != pivot]
    to = np.zeros((r.size, len(others)))
    to[others, np.arange(len(others))] = 1.0
    to[pivot] = -r[others] / r[pivot]
    return to


def path_terms(model: PoissonModel, origin: FitPoint, rs: list[np.ndarray], *,
               fe_maxiter: int) -> list[PathTerms]:
    """The :class:`PathTerms` of ``origin`` for each combination of ``rs``: two demeanings in
    all, to the loose tolerance ``PATH_TERMS_TOL``, the first of
    e², e ∘ X̃ and e³ for every combination, the second of e P_Z(e²). Few n-long temporaries
    (each costs its page faults where the heap is not kept)."""
    n, k = origin.x_tilde.shape
    xt = origin.x_tilde
    weighted = _weighted_at(model, origin)
    width = k + 2
    cols = np.empty((n, len(rs) * width), order="F")
    newton = []
    for t, r in enumerate(rs):
        a = origin.bread @ r
        e_of_x = a / float(r @ a)
        e = xt @ e_of_x
        np.multiply(e, e, out=cols[:, t * width])
        for j in range(k):
            np.multiply(e, xt[:, j], out=cols[:, t * width + 1 + j])
        np.multiply(cols[:, t * width], e, out=cols[:, t * width + k + 1])
        newton.append((e_of_x, e))
    _demean(weighted, None, cols, PATH_TERMS_TOL, tolerance_scale(cols), fe_maxiter)
    gram = np.linalg.inv(origin.bread)  # X̃' W X̃
    weighted_x = xt * origin.irls_weights[:, None]
    work = np.empty(n)

    def restricted_share(to: np.ndarray, resid: np.ndarray) -> np.ndarray:
        """Coefficients of the fit of ``resid`` on the restricted regressors X̃ T."""
        if not to.shape[1]:
            return np.zeros(0)
        return np.linalg.lstsq(to.T @ gram @ to, to.T @ (weighted_x.T @ resid), rcond=None)[0]

    # P_Z(e²) of each combination, then e P_Z(e²) of all demeaned together.
    seconds = []
    partial = np.empty((n, len(rs)), order="F")
    for t, r in enumerate(rs):
        to = _to_restricted(r)
        e = newton[t][1]
        coef2 = restricted_share(to, cols[:, t * width])
        second = np.multiply(e, e)  # P_Z(e²) = e² - M_D(e²) + X̃ T coef2
        second -= cols[:, t * width]
        second += np.dot(xt, to @ coef2, out=work)
        np.multiply(e, second, out=partial[:, t])
        seconds.append((to, coef2, second))
    _demean(weighted, None, partial, PATH_TERMS_TOL, tolerance_scale(partial), fe_maxiter)
    out = []
    for t in range(len(rs)):
        to, coef2, second = seconds[t]
        e_of_x, e = newton[t]
        cube_resid = cols[:, t * width + k + 1]
        coef_third = restricted_share(to, cube_resid) - 3.0 * restricted_share(to, partial[:, t])
        # P_Z(e³) - 3 P_Z(e P_Z(e²)), each P_Z v = v - M_D v + X̃ T coef; ``second`` becomes it.
        third = second
        third *= e
        third -= partial[:, t]
        third *= -3.0
        np.multiply(e, e, out=work)
        work *= e
        third += work
        third -= cube_resid
        third += np.dot(xt, to @ coef_third, out=work)
        out.append(PathTerms(
            e_of_x=e_of_x, e_max=float(np.abs(e).max()),
            resid=cols[:, t * width:t * width + k + 1], p_of_x=to @ coef2, second_coef=coef2,
            third=third, third_coef=coef_third))
    return out


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
    derivatives at ``origin`` for ``r`` (:func:`path_terms`), which the third order then takes
    instead of demeaning its own."""
    pivot = int(np.flatnonzero(r)[0])
    others = [m for m in range(origin.beta.size) if m != pivot]
    # Every n-long array here is written in place where it can be: on the 1.6 M-row gravity
    # panel each fresh temporary costs its page faults, and they were a quarter of the fit's time.
    a = origin.bread @ r
    ra = float(r @ a)
    shift = (beta0 - float(r @ origin.beta)) / ra
    coef = origin.beta[others] + shift * a[others]
    step = origin.x_tilde @ a
    step *= shift
    eta = step + origin.eta
    predicted = shift * shift * ra / max(abs(origin.deviance), 0.1)  # relative rise in deviance
    # One block [working outcome, restricted regressors, x_p] demeaned in place at every IRLS
    # step; x_p only at steps that may be the last (at the full tolerance), so that the
    # converged fit's regressors start from its weights but one step. The restricted regressors
    # and x_p start demeaned under the origin's weights: warm starts.
    k = len(others) + 1
    block = np.empty((eta.shape[0], k + 1), order="F")
    design_t, xt_p = block[:, 1:k], block[:, k]
    np.divide(origin.x_tilde[:, pivot], r[pivot], out=xt_p)
    for j, m in enumerate(others):
        np.multiply(xt_p, -r[m], out=design_t[:, j])
        design_t[:, j] += origin.x_tilde[:, m]
    sweeps = 0
    if ((order is None and predicted >= NEAR_RISE) or order == 3) and terms is not None:
        # eta'' Δ² / 2 + eta''' Δ³ / 6 from the terms: eta'' = -P_Z(e²) with step = e Δ, and
        # eta''' = -third.
        delta = beta0 - float(r @ origin.beta)
        more = np.multiply(step, step)
        buffer = np.multiply(terms.resid[:, 0], -delta * delta)
        more += buffer
        more += np.dot(origin.x_tilde, terms.p_of_x * (delta * delta), out=buffer)
        more *= -0.5
        more -= np.multiply(terms.third, delta ** 3 / 6.0, out=buffer)
        eta += more
        coef = coef - 0.5 * delta * delta * terms.second_coef \
            - delta ** 3 / 6.0 * terms.third_coef
    elif (order is None and predicted >= NEAR_RISE) or order == 3:
        weighted = _weighted_at(model, origin)
        eta_more, coef_more, sweeps = _higher_order_terms(weighted, origin.irls_weights, step,
                                                          design_t, fe_maxiter)
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
    block = start.block
    k = len(others) + 1
    if start.predicted < NEGLIGIBLE_RISE:
        # The start is the fit (module notes); its regressors hold the origin's demeaning.
        return _converged(model, eta, mu, dev_old, coef, r, beta0, pivot, others, block,
                          tolerance_scale(block[:, 1:]), fe_tol, fe_maxiter, 0,
                          sweeps)
    design_t = block[:, 1:k]
    floor = 1e-10 * max(float(w @ y), 1.0)
    inner_tol = fe_tol if start.predicted < FAR_RISE else START_INNER_TOL
    scale = np.empty(0)
    for step in range(1, maxiter + 1):
        irls_w = w * mu
        u = y / mu
        u -= 1.0
        # eta - off + u less the fixed effects' part of eta - off - design @ coef and of design.
        block[:, 0] = design_t @ coef
        block[:, 0] += u
        if step == 1:
            # The columns' scales for the tolerance (as the absorb core's default), taken once:
            # the demeaning moves them little.
            scale = tolerance_scale(block)
        cols = k + 1 if inner_tol <= fe_tol else k
        sweeps += _demean(model.absorber, irls_w, block[:, :cols], inner_tol, scale[:cols],
                          fe_maxiter)
        zt = block[:, 0]
        coef_new, _ = solve_wls(design_t, zt, irls_w)
        eta_new = design_t @ coef_new  # z - (resid of the fit of z) + off: eta + u - zt + fit
        eta_new -= zt
        eta_new += u
        eta_new += eta
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
            return _converged(model, eta, mu, dev_old, coef, r, beta0, pivot, others, block,
                              scale[1:], fe_tol, fe_maxiter, step, sweeps)
        inner_tol = next_inner_tol(taken.change, inner_tol, fe_tol)
    raise ConvergenceError(f"PPML under the bootstrap's null did not converge in {maxiter} steps",
                           "Raise --maxiter, or use --no-impose-null.")


def _converged(model: PoissonModel, eta: np.ndarray, mu: np.ndarray, dev: float, coef: np.ndarray,
               r: np.ndarray, beta0: float, pivot: int, others: list[int], block: np.ndarray,
               scales: np.ndarray, fe_tol: float, fe_maxiter: int, steps: int,
               sweeps: int) -> RestrictedEstimate:
    """The fit's regressors in the original parametrisation, demeaned under its final weights
    (x_m = design_m + x_p r_m / r_p), and its inverse Hessian. ``block`` is the IRLS block
    [working outcome, restricted regressors, x_p] as last demeaned; the regressors are demeaned
    again here in place (``scales``: their tolerance's scales), and the block's first k columns
    receive the fit's regressors (no fresh n x k array: on the 1.6 M-row panel its page faults
    cost about what the arithmetic does)."""
    regressors = block[:, 1:]
    hess_w = model.weights * mu
    k = len(others) + 1
    weighted = None if model.absorber is None else model.absorber.with_weights(hess_w)
    used = _demean(weighted, None, regressors, fe_tol, scales, fe_maxiter)
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
    # The path's derivatives at the unrestricted fit, by combination (path_terms).
    terms: dict[bytes, PathTerms] = field(default_factory=dict)

    def path_terms(self, rs: list[np.ndarray]) -> list[PathTerms]:
        """The unrestricted fit's :class:`PathTerms` for each of ``rs``, kept for the fits
        that start from it (all made by one call of :func:`path_terms`)."""
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
        fit = restricted_fit(self.model, origin, r, beta0, tol=self.tol, fe_tol=self.fe_tol,
                             maxiter=self.maxiter, fe_maxiter=self.fe_maxiter,
                             terms=self.terms.get(key) if origin is self.unrestricted else None)
        self.fits += 1
        self.steps += fit.steps
        done.append((beta0, fit.point))
        del done[:-KEPT_STARTS]
        return fit
