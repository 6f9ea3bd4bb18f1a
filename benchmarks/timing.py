"""The benchmarks' one timing rule: the median wall time of a call, after warm-up calls
(tracing, allocation) that are not timed. NumPy only, so that a benchmark's PyTorch side
(another environment) uses it too."""
import time

import numpy as np


def median_seconds(fn, repeats, warmups=1):
    """The median of `repeats` timed calls of `fn()`, after `warmups` untimed ones."""
    for _ in range(warmups):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))
