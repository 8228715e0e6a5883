"""Build the engine's compiled kernels (Cython) when pip installs the package.

Everything else about the package is declared in pyproject.toml. The kernels are C extensions so
that the first estimate after an install runs at full speed: nothing is compiled on first use.
Loops that run in parallel use OpenMP where the compiler supports it and run serially otherwise
(``MIGTRADE_NO_OPENMP=1`` forces the serial build).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# module -> source; the Python modules beside them (kernels.py, ...) are the ones to import.
KERNELS = {
    "migtrade.estimation._kernels": "migtrade/estimation/_kernels.pyx",
    "migtrade.estimation._kernels_cg": "migtrade/estimation/_kernels_cg.pyx",
    "migtrade.estimation._kernels_crossed": "migtrade/estimation/_kernels_crossed.pyx",
    "migtrade.estimation._kernels_schur": "migtrade/estimation/_kernels_schur.pyx",
    "migtrade.estimation._kernels_blocks": "migtrade/estimation/_kernels_blocks.pyx",
    "migtrade.estimation._kernels_bias": "migtrade/estimation/_kernels_bias.pyx",
    "migtrade.estimation._kernels_poisson": "migtrade/estimation/_kernels_poisson.pyx",
    "migtrade.estimation.bootstrap._kernels": "migtrade/estimation/bootstrap/_kernels.pyx",
    "migtrade.estimation.bootstrap._kernels_rows": "migtrade/estimation/bootstrap/_kernels_rows.pyx",
}

# No fused multiply-add and no reassociation: the sweeps must count and round the same on every
# machine (tests compare sweep counts and agree with other packages to 1e-12).
UNIX_FLAGS = ["-O3", "-ffp-contract=off"]
MSVC_FLAGS = ["/O2", "/fp:precise"]
# The bias corrections' small T x T sums may be reassociated and vectorised (as numba's fastmath
# did): 1.6 times faster, results within 4e-16. Compile flag only: linking with -ffast-math
# would set flush-to-zero for the whole process.
FAST_MATH = {"migtrade.estimation._kernels_bias"}
UNIX_FAST = ["-O3", "-ffast-math"]
MSVC_FAST = ["/O2", "/fp:fast"]

_OPENMP_PROBE = """
#include <omp.h>
int main(void) { int n = 0;
#pragma omp parallel reduction(+:n)
  n += 1;
  return n > 0 ? 0 : 1; }
"""


def _openmp_flags(compiler: object) -> tuple[list[str], list[str]]:
    """Compile and link flags for OpenMP, or empty lists when this compiler cannot use it."""
    if os.environ.get("MIGTRADE_NO_OPENMP"):
        return [], []
    msvc = getattr(compiler, "compiler_type", "") == "msvc"
    compile_flags, link_flags = (["/openmp"], []) if msvc else (["-fopenmp"], ["-fopenmp"])
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "probe_openmp.c"
        source.write_text(_OPENMP_PROBE)
        try:
            objects = compiler.compile([str(source)], output_dir=tmp,  # type: ignore[attr-defined]
                                       extra_postargs=compile_flags)
            compiler.link_executable(objects, str(Path(tmp) / "probe"),  # type: ignore[attr-defined]
                                     extra_postargs=link_flags)
        except Exception:  # any failure means: no usable OpenMP here
            print("OpenMP not available: the kernels are built serial", file=sys.stderr)
            return [], []
    return compile_flags, link_flags


class BuildKernels(build_ext):
    """build_ext with optimisation flags and OpenMP when the compiler has it."""

    def build_extensions(self) -> None:
        msvc = self.compiler.compiler_type == "msvc"
        omp_compile, omp_link = _openmp_flags(self.compiler)
        for ext in self.extensions:
            if ext.name in FAST_MATH:
                flags = MSVC_FAST if msvc else UNIX_FAST
            else:
                flags = MSVC_FLAGS if msvc else UNIX_FLAGS
            ext.extra_compile_args = [*flags, *omp_compile]
            ext.extra_link_args = list(omp_link)
        super().build_extensions()


setup(
    ext_modules=cythonize(
        [Extension(name, [source]) for name, source in KERNELS.items()],
        compiler_directives={"language_level": "3"},
    ),
    cmdclass={"build_ext": BuildKernels},
)
