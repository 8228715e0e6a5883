"""Types of the compiled IRLS passes (``_kernels_poisson.pyx``); see
:mod:`migtrade.estimation.kernels_poisson`."""

import numpy as np

def predict(z: np.ndarray, zt: np.ndarray, xt: np.ndarray, beta: np.ndarray, off: np.ndarray,
            z_fe: np.ndarray, eta: np.ndarray) -> None: ...
def means(eta: np.ndarray, wy: np.ndarray, w: np.ndarray, cap: float,
          mu: np.ndarray) -> tuple[bool, float, float]: ...
def working(eta: np.ndarray, mu: np.ndarray, y: np.ndarray, w: np.ndarray, off: np.ndarray,
            z_fe: np.ndarray, irls_w: np.ndarray, z: np.ndarray, start: np.ndarray) -> None: ...
