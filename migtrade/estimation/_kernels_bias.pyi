"""Types of the compiled bias-correction loops (``_kernels_bias.pyx``)."""

import numpy as np

def leave_out_iterate(order: np.ndarray, bounds: np.ndarray, n_first: int, lam: np.ndarray, r: np.ndarray,
                      ginv: np.ndarray,
                      skip: np.ndarray, tol: float, max_iter: int, w: np.ndarray,
                      late: np.ndarray) -> None: ...
def side_sums(order: np.ndarray, bounds: np.ndarray, lam: np.ndarray, e: np.ndarray, xt: np.ndarray,
              hessian: np.ndarray, scores: np.ndarray, cross: np.ndarray,
              third: np.ndarray) -> None: ...
def leave_out_direct(rows: np.ndarray, country: np.ndarray, h_country: np.ndarray, lam: np.ndarray,
                     e: np.ndarray, xt: np.ndarray, rtol: float, check: float, out: np.ndarray,
                     failed: np.ndarray) -> None: ...
def adjusted_scores(mode: int, lam: np.ndarray, e: np.ndarray, aux: np.ndarray, xt: np.ndarray,
                    corr_index: np.ndarray, corr: np.ndarray, bread: np.ndarray,
                    adjusted: np.ndarray, scores: np.ndarray) -> None: ...
def ones_ginverse(matrices: np.ndarray, rtol: float, out: np.ndarray, good: np.ndarray) -> None: ...
def period_cells(values: np.ndarray, pair: np.ndarray, low: int, high: int,
                 period: np.ndarray) -> tuple[int, bool]: ...
