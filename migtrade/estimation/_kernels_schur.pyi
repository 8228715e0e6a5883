"""Types of the compiled reduced CG loops (``_kernels_schur.pyx``); see
:mod:`migtrade.estimation.kernels_schur`."""

import numpy as np

def schur_columns(x: np.ndarray, codes: np.ndarray, dims: np.ndarray, starts: np.ndarray,
                  ptr: np.ndarray, w: np.ndarray, inv_a: np.ndarray,
                  inv_b: np.ndarray, inv_s: np.ndarray, tols: np.ndarray, maxiter: int,
                  longest: int, parallel: bool, iters_out: np.ndarray) -> None: ...
def schur_diagonal(codes: np.ndarray, dims: np.ndarray, starts: np.ndarray, ptr: np.ndarray,
                   w: np.ndarray, inv_a: np.ndarray, b: np.ndarray, s: np.ndarray) -> None: ...
