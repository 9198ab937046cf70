"""staydown: the trust-and-safety back office."""

import ctypes
import os
import sys

# PDQ's variants are a few dozen small matrix products per scan. NumPy's OpenBLAS starts a thread per
# core for each of them, and on a busy 2-core server those threads cost more than the products: a
# 1 MP JPEG scan took 78 ms with them and 20 ms without, and a 1,280 px PNG 1,090 ms instead of 72 ms
# while another process kept both cores busy (docs/decisions.md). Requests, not BLAS, are what run in
# parallel here. Set before NumPy is first imported; an operator's own value wins.
_BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_operator_set = any(name in os.environ for name in _BLAS_THREADS)
for _name in _BLAS_THREADS:
    os.environ.setdefault(_name, "1")


def _limit_loaded_openblas() -> None:
    """When NumPy was imported before staydown (an application embedding it), its OpenBLAS has
    already read the environment: tell the loaded library itself."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in (
            "openblas_set_num_threads",
            "openblas_set_num_threads64_",
            "scipy_openblas_set_num_threads64_",
            "scipy_openblas_set_num_threads",
        ):
            setter = getattr(lib, symbol, None)
            if setter is not None:
                setter(1)
                break


if "numpy" in sys.modules and not _operator_set:
    _limit_loaded_openblas()
del _name
