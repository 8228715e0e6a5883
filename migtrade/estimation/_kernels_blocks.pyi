"""Types of the compiled block preconditioner (``_kernels_blocks.pyx``); see
:mod:`migtrade.estimation.kernels_blocks`."""

import numpy as np

def factor_blocks(cross: np.ndarray, held: np.ndarray, inv_a: np.ndarray, chol: np.ndarray,
                  floor: float, parallel: bool) -> None: ...
def solve_blocks(g: np.ndarray, z: np.ndarray, cross: np.ndarray, held: np.ndarray,
                 inv_a: np.ndarray, chol: np.ndarray, e_of: np.ndarray,
                 s_of: np.ndarray, parallel: bool) -> None: ...
