"""Types of the compiled reduced CG loops (``_kernels_schur.pyx``); see
:mod:`migtrade.estimation.kernels_schur`."""

import numpy as np

def schur_project(x: np.ndarray, cols: np.ndarray, a: np.ndarray, out: np.ndarray,
                  codes: np.ndarray, dims: np.ndarray, starts: np.ndarray, ptr: np.ndarray,
                  order: np.ndarray, w: np.ndarray, inv_a: np.ndarray, longest: int,
                  chunks: np.ndarray, write: bool, parallel: bool) -> None: ...
def schur_apply(p: np.ndarray, out: np.ndarray, codes: np.ndarray, dims: np.ndarray,
                starts: np.ndarray, ptr: np.ndarray, w: np.ndarray, inv_a: np.ndarray,
                longest: int, chunks: np.ndarray, parallel: bool) -> None: ...
def schur_diagonal(codes: np.ndarray, dims: np.ndarray, starts: np.ndarray, ptr: np.ndarray,
                   w_in: np.ndarray, order: np.ndarray, w: np.ndarray, inv_a: np.ndarray,
                   b: np.ndarray, s: np.ndarray, chunks: np.ndarray, diagonal: bool,
                   parallel: bool) -> None: ...
def sparse_product_on(c_indptr: np.ndarray, c_indices: np.ndarray, c_data: np.ndarray,
                      t_indptr: np.ndarray, t_indices: np.ndarray, t_data: np.ndarray,
                      s_indptr: np.ndarray, s_indices: np.ndarray, s_data: np.ndarray,
                      width: int, blocks: int) -> None: ...
def sparse_pattern(c_indptr: np.ndarray, c_indices: np.ndarray, t_indptr: np.ndarray,
                   t_indices: np.ndarray, width: int,
                   blocks: int) -> tuple[np.ndarray, np.ndarray]: ...
def entry_pattern(rows: np.ndarray, cols: np.ndarray, n_rows: int, width: int, where: np.ndarray,
                  indices: np.ndarray, indptr: np.ndarray) -> int: ...
def group_rows(e: np.ndarray, n_groups: int, codes: np.ndarray, others: np.ndarray,
               order: np.ndarray, sorted_codes: np.ndarray, ptr: np.ndarray) -> None: ...
def transpose_pattern(indices: np.ndarray, indptr: np.ndarray, width: int, where: np.ndarray,
                      t_indices: np.ndarray, t_indptr: np.ndarray) -> None: ...
