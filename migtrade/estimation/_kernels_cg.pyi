"""Types of the compiled CG loops (``_kernels_cg.pyx``); see :mod:`migtrade.estimation.kernels_cg`."""

import numpy as np

def cg_columns(x: np.ndarray, codes: np.ndarray, offsets: np.ndarray, w: np.ndarray,
               inv_wsum: np.ndarray, tols: np.ndarray, maxiter: int,
               iters_out: np.ndarray) -> None: ...
