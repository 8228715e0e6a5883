"""Types of the compiled component count (``_components.pyx``)."""

import numpy as np

def count_components(first: np.ndarray, second: np.ndarray, g1: int, g2: int) -> int: ...
