# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Connected components of the graph of two fixed effects, compiled by pip at install time.

:func:`migtrade.estimation.fixed_effects.absorbed_dof` is the function to call.
"""

import numpy as np


cdef inline Py_ssize_t _root(Py_ssize_t* parent, Py_ssize_t v) noexcept nogil:
    # Path halving: every other node on the way points to its grandparent, so that later
    # searches are short without a second pass.
    while parent[v] != v:
        parent[v] = parent[parent[v]]
        v = parent[v]
    return v


def count_components(const int[::1] first, const int[::1] second, Py_ssize_t g1,
                     Py_ssize_t g2):
    """Components of the bipartite graph with nodes 0 .. g1 - 1 (levels of ``first``) and
    g1 .. g1 + g2 - 1 (levels of ``second``), and an edge for every row, isolated nodes
    included; one pass over the rows with a union-find."""
    cdef Py_ssize_t n = first.shape[0], i, a, b
    cdef Py_ssize_t components = g1 + g2
    owner = np.arange(g1 + g2, dtype=np.intp)
    cdef Py_ssize_t[::1] parent = owner
    if g1 + g2 == 0:
        return 0
    with nogil:
        for i in range(n):
            a = _root(&parent[0], first[i])
            b = _root(&parent[0], g1 + second[i])
            if a != b:
                # The larger root joins the smaller: roots only decrease, so the loop ends.
                if a < b:
                    parent[b] = a
                else:
                    parent[a] = b
                components -= 1
    return components
