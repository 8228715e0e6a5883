"""Types of the compiled crossed-pair passes (``_kernels_crossed.pyx``)."""

import numpy as np

def sum_two(src: np.ndarray, a1: np.ndarray, acc1: np.ndarray, a2: np.ndarray, acc2: np.ndarray,
            w: np.ndarray) -> None: ...
def pair_then_pair_sums(src: np.ndarray, dst: np.ndarray, i1: np.ndarray, m1: np.ndarray,
                        i2: np.ndarray, m2: np.ndarray, acc1: np.ndarray, acc2: np.ndarray,
                        w: np.ndarray) -> None: ...
def components(ca: np.ndarray, cb: np.ndarray, ga: int, gb: int, labels: np.ndarray) -> int: ...
