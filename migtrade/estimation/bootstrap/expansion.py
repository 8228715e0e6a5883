"""The null-imposed score test near the estimate, from the path of restricted fits.

Notes
-----
An interval of the null-imposed score bootstrap is the set of values beta0 the restricted test
of r'beta = beta0 does not reject. Its search (:func:`migtrade.estimation.bootstrap.invert.invert`)
tries a handful of values within a few standard errors of the estimate, and each needs the PPML
fit under the restriction and a pass over the draws. Near the estimate both follow from the
unrestricted fit. With Δ = beta0 - r'b̂, a = B r and e = X̃ a / (r'a) the Newton direction of the
linear predictor (X̃ and B the fit's regressors demeaned under its weights w μ̂ and its inverse
Hessian), the path of restricted fits is

    eta(Δ) = η̂ + Δ e + Δ² p / 2 + O(Δ³),       p = -P_Z(e²),
    X̃(Δ)  = X̃ + Δ X̃' + O(Δ²),                 X̃' = -P_D(e ∘ X̃),

P_Z being the weighted projection on the fixed effects and the restricted regressors and P_D on
the fixed effects, both under w μ̂: the first from the scores of every free direction staying zero
along the path (:mod:`migtrade.estimation.bootstrap.restricted`), the second from D'W(Δ)X̃(Δ) = 0.
So the cluster sums of the test (:mod:`migtrade.estimation.bootstrap.score`) are polynomials in Δ
to O(Δ³): with μ(Δ) = μ̂ (1 + Δ e + Δ² (e² + p) / 2),

    s_g(Δ) = Σ_{i in g} x̃_i(Δ) w_i (y_i - μ_i(Δ)),     H_g(Δ) = Σ_{i in g} x̃_i(Δ) w_i μ_i(Δ) x̃_i(Δ)',

whose coefficients of Δ⁰, Δ¹ and Δ² one pass over the rows sums (:func:`kernels_rows.path_sums`).
Then B(Δ) = (Σ_g H_g(Δ))^{-1}, a(Δ) = B(Δ) r, c_g = a's_g and q_g = B H_g a as in the score
bootstrap. A draw v enters its statistic through S = Σ v_g s_g, L = Σ v_g c_g q_g and
Σ v_g² s_g s_g': S and the last are polynomials in Δ whose coefficients are linear forms of v and
v², and L is taken to the second order in Δ through the Taylor coefficients of c_g q_g (B, a and
q_g expanded at Δ = 0). One pass over the draws sums them all (6k linear forms and
3k(k + 1)/2 quadratic ones for k regressors); every trial value then costs O(B k²) arithmetic,
with no fit and no pass over the rows or the draws. At Δ = 0 the pieces are the unrestricted
fit's, so the same pass gives the unrestricted replications the search starts from.

Cost: the derivatives' demeanings (:func:`migtrade.estimation.bootstrap.path.path_terms`,
to a loose tolerance since they enter multiplied by Δ; the same terms start the fits at the
nulls to the third order), one pass over the rows, and forms that join the nulls' pass over the
draws, against two or three restricted fits (each a PPML fit and a pass over the draws) per end
of the interval.

Accuracy: measured on the 1.6 M-row gravity panel (``benchmarks/bench_bootstrap.py``), at the
trial values of the exact search near the ends (max |Δ e_i| 0.018 for the RTA coefficient and
0.03 for the migrant stock) the sample's statistic was within 3.6e-6 and 1.6e-5 (relative) of
the one from the restricted fit and the replications within 4e-5, so that the ends differ by
about 1e-5 standard errors, a hundredth of the search's tolerance (with the exact exponential
instead of its expansion to Δ², which the forms of the draws need, 3e-7 and 1.3e-6, and at the
null, 0.6 away in max |Δ e_i|, 2e-4: the path itself is accurate far out, its polynomial
sums less so). The error grows with max |Δ e_i|, which bounds the
relative move of any fitted mean at the first order: beyond ``REACH`` at an end the caller finds
the interval from restricted fits instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from migtrade.estimation.bootstrap import kernels_rows
from migtrade.estimation.bootstrap.path import PathTerms
from migtrade.estimation.bootstrap.weights import DrawPlan

# The largest max |Δ e_i| at an end of the interval for which the expansion's ends stand. At 0.6
# the statistic was still within 2e-4 of the restricted fit's; at this reach the error is of the
# order of the cube or square of a tenth, well inside the search's tolerance of 1e-3 standard errors.
REACH = 0.1


def _degree(pw: np.ndarray, coefs: np.ndarray) -> np.ndarray:
    """Σ_d pw[d] coefs[d] over the leading axis of ``coefs``."""
    return np.tensordot(pw, coefs, axes=1)


@dataclass(frozen=True)
class PathSums:
    """The cluster sums along the path of restricted fits under r'beta = r'b̂ + Δ (module
    notes): ``s[g, d]`` and ``h[g, d]`` the coefficients of Δ**d of s_g and H_g."""

    r: np.ndarray
    s: np.ndarray  # (G, 3, k)
    h: np.ndarray  # (G, 3, k, k)
    e_max: float  # max |e_i|: |Δ| e_max bounds the relative move of a fitted mean, at first order

    @classmethod
    def from_terms(cls, r: np.ndarray, terms: PathTerms, x_tilde: np.ndarray, mu: np.ndarray,
                   y: np.ndarray, weights: np.ndarray, cluster: np.ndarray,
                   n_clusters: int) -> PathSums:
        """The sums of the fit (``x_tilde`` demeaned under ``weights * mu``) for ``r``, from
        its path's derivatives (:func:`migtrade.estimation.bootstrap.path.path_terms`)."""
        s, h = kernels_rows.path_sums(x_tilde, terms.basis, terms.of_basis, terms.e_of_x,
                                 terms.p_of_x, y, weights, mu, cluster, n_clusters)
        return cls(r=np.asarray(r, dtype=np.float64), s=s, h=h, e_max=terms.e_max)


class PathTest:
    """The restricted score test of r'beta = r'b̂ + Δ at any Δ near 0: ``forms`` are the linear
    and quadratic forms of the draws it needs, whose values on the draws the caller sums (with
    other forms, in one pass) and attaches."""

    def __init__(self, sums: PathSums) -> None:
        self.sums = sums
        r, s, h = sums.r, sums.s, sums.h
        k = s.shape[2]
        # B(Δ) = H(Δ)^{-1} and a(Δ) = B r to the second order at Δ = 0.
        self.total = total = h.sum(axis=0)  # H(Δ)'s coefficients
        b0 = np.linalg.inv(total[0])
        b1 = -b0 @ total[1] @ b0
        b2 = -b0 @ total[2] @ b0 + b0 @ total[1] @ b0 @ total[1] @ b0
        bs = (b0, b1, b2)
        a_d = [b @ r for b in bs]
        c = np.stack([sum(s[:, j] @ a_d[d - j] for j in range(d + 1)) for d in range(3)])
        # H_g a at each pair of degrees, then B: q_g = B H_g a to the second order.
        ha = [[h[:, j] @ a_d[u] for u in range(3 - j)] for j in range(3)]
        q = np.stack([sum(ha[j][d - i - j] @ bs[i].T for i in range(d + 1)
                          for j in range(d + 1 - i)) for d in range(3)])
        m = np.stack([sum(c[i][:, None] * q[d - i] for i in range(d + 1)) for d in range(3)])
        self.pairs = [(i, j) for i in range(k) for j in range(i, k)]
        ss = np.stack([
            sum(s[:, u, i] * s[:, d - u, j] for u in range(d + 1)) for d in range(3)
            for i, j in self.pairs])
        forms = np.vstack([s[:, d].T for d in range(3)] + [m[d].T for d in range(3)])
        self.k = k
        # The unrestricted fit's pieces (Δ = 0): B r, s_g, c_g, q_g.
        self.at_estimate = (a_d[0], np.ascontiguousarray(s[:, 0]), c[0], q[0])
        self.forms = (forms, ss)
        self.lin_sample, self.quad_sample = forms.sum(axis=1), ss.sum(axis=1)
        self.lin, self.quad = np.empty((0, forms.shape[0])), np.empty((0, ss.shape[0]))

    @classmethod
    def on(cls, sums: PathSums, plan: DrawPlan) -> PathTest:
        """The test on the draws of ``plan`` (a pass over them for its forms alone)."""
        test = cls(sums)
        test.attach(*plan.forms(*test.forms))
        return test

    def attach(self, lin: np.ndarray, quad: np.ndarray) -> None:
        """The forms' values on the draws: (draws, linear forms) and (draws, quadratic forms)."""
        self.lin, self.quad = lin, quad

    def reach(self, delta: float) -> float:
        """max |Δ e_i| at ``delta``: the relative move of the farthest fitted mean, first order."""
        return abs(delta) * self.sums.e_max

    def statistics(self, delta: float) -> tuple[float, np.ndarray]:
        """The sample's statistic and the replications at r'beta = r'b̂ + ``delta``."""
        k, h = self.k, self.sums.h
        pw = np.array([1.0, delta, delta * delta])
        bread = np.linalg.inv(_degree(pw, self.total))
        a = bread @ self.sums.r
        q = (_degree(pw, np.moveaxis(h, 1, 0)) @ a) @ bread.T
        gram = q.T @ q
        weight = np.array([a[i] * a[j] * (1.0 if i == j else 2.0) for i, j in self.pairs])
        n_pairs = len(self.pairs)

        def stat(lin: np.ndarray, quad: np.ndarray) -> np.ndarray:
            total = sum(pw[d] * lin[..., d * k:(d + 1) * k] for d in range(3))
            cross = sum(pw[d] * lin[..., (3 + d) * k:(4 + d) * k] for d in range(3))
            squares = sum(pw[d] * quad[..., d * n_pairs:(d + 1) * n_pairs] for d in range(3))
            var = squares @ weight - 2.0 * np.einsum("...k,...k->...", total, cross) \
                + np.einsum("...k,kl,...l->...", total, gram, total)
            return (total @ a) / np.sqrt(np.maximum(var, 1e-300))

        return float(stat(self.lin_sample, self.quad_sample)), stat(self.lin, self.quad)
