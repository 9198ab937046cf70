"""staydown: the trust-and-safety back office."""

import os

# PDQ's variants are a few dozen small matrix products per scan. NumPy's OpenBLAS starts a thread per
# core for each of them, and on a busy 2-core server those threads cost more than the products: a
# 1 MP JPEG scan took 78 ms with them and 20 ms without (docs/decisions.md). Requests, not BLAS, are
# what run in parallel here. Set before NumPy is first imported; an operator's own value wins.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
del _name
