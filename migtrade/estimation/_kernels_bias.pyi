"""Types of the compiled bias-correction loops (``_kernels_bias.pyx``)."""

import numpy as np

def leave_out_iterate(order: np.ndarray, bounds: np.ndarray, lam: np.ndarray, r: np.ndarray, ginv: np.ndarray,
                      skip: np.ndarray, tol: float, max_iter: int, w: np.ndarray,
                      late: np.ndarray) -> None: ...
def side_sums(order: np.ndarray, bounds: np.ndarray, lam: np.ndarray, e: np.ndarray, xt: np.ndarray,
              hessian: np.ndarray, scores: np.ndarray, cross: np.ndarray,
              third: np.ndarray) -> None: ...
def pair_hessian_times(lam: np.ndarray, v: np.ndarray, out: np.ndarray) -> None: ...
