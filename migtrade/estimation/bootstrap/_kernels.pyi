"""Types of the compiled passes over bootstrap draws (``_kernels.pyx``)."""

import numpy as np

def forms_from_bits(bits: np.ndarray, table: np.ndarray, total: np.ndarray, dsum: np.ndarray,
                    lin: np.ndarray, quad: np.ndarray) -> None: ...
def forms_from_codes(codes: np.ndarray, values: np.ndarray, P: np.ndarray, D: np.ndarray,
                     lin: np.ndarray, quad: np.ndarray) -> None: ...
