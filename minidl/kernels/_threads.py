"""Threads for the kernels: a small pool that runs jitted workers side by side, and SciPy's BLAS kept
to one thread, because the jitted kernels call it from each of their own threads.

Inside a Numba function, ``np.dot`` calls the BLAS that SciPy ships (not NumPy's). The convolution
kernels call it from each of their threads, on small per-thread matrices. A multithreaded BLAS there
would start yet more threads on cores that are already busy, and its idle threads spin and fight the
other pools for the cores (measured: small calls up to 100x slower). NumPy's own BLAS is left alone,
so ``x @ w`` outside the kernels still uses every core. Where SciPy and NumPy share one BLAS library
(some conda or distro builds), no SciPy-only library is found and nothing changes.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numba

_done = False


def limit_scipy_blas_threads():
    """Set the BLAS library shipped inside SciPy to one thread; done once, on the first kernel call."""
    global _done
    if _done:
        return
    _done = True
    import scipy
    import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's BLAS, so threadpoolctl can see it)
    from threadpoolctl import ThreadpoolController

    site_packages = os.path.dirname(os.path.dirname(scipy.__file__))
    scipy_dirs = (os.path.dirname(scipy.__file__), os.path.join(site_packages, "scipy.libs"))
    for library in ThreadpoolController().lib_controllers:
        directory = os.path.dirname(library.filepath or "")
        in_scipy = directory in scipy_dirs or directory.startswith(scipy_dirs[0] + os.sep)
        if library.user_api == "blas" and in_scipy:
            library.set_num_threads(1)


_pool = None


def run_in_threads(worker_function, workers, *args):
    """Call ``worker_function(worker, workers, *args)`` for worker = 0 .. workers-1 at the same time, one
    thread each (the calling thread takes worker 0), and wait for all of them.

    The worker functions are jitted with ``nogil=True``, so the threads really run in parallel. Plain
    Python threads are used rather than Numba's ``prange``: they sleep instead of spinning while idle
    (no fight with the BLAS thread pools), and the kernels compile several times faster without Numba's
    parallel-loop machinery. Each worker function picks its own share of the work from (worker, workers)
    so that no two write the same memory: the convolutions take every workers-th chunk of samples, the
    pooling kernels a contiguous block of planes (``pool.planes_of``).
    """
    global _pool
    if workers > 1 and _pool is None:
        _pool = ThreadPoolExecutor(max_workers=numba.config.NUMBA_NUM_THREADS, thread_name_prefix="minidl-kernel")
    futures = [_pool.submit(worker_function, worker, workers, *args) for worker in range(1, workers)]
    worker_function(0, workers, *args)
    for future in futures:
        future.result()


def num_workers(pieces):
    """How many threads to use for ``pieces`` independent pieces of work: Numba's thread count (set it
    with ``numba.set_num_threads`` or NUMBA_NUM_THREADS), but no more than there are pieces."""
    return max(1, min(numba.get_num_threads(), pieces))
