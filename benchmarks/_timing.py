"""Interleaved timing: run several implementations in turn, many times, and keep each one's median.

Timing A fully and then B lets a change in machine load (other processes, CPU frequency, a thread
pool still spinning from the previous call) favour one of them. Alternating A, B, A, B, ... spreads
such changes over all of them, and the median ignores the odd slow run.
"""

import time

import numpy as np


def timings(named_callables, repeats=7, warmup=2, settle=0.0):
    """{name: [seconds of each timed call, round by round]} of calling each ``named_callables[name]()``
    ``repeats`` times, alternating between them (the order rotates every round), after ``warmup``
    untimed rounds. The i-th time of every name comes from the same round, a fraction of a second apart,
    so their ratio is little affected by slower and faster phases of the machine.

    ``settle`` seconds of sleep before each timed call let the thread pools of the previous call go
    idle: OpenBLAS's threads spin for about 100 ms after a call, OpenMP's for a few ms, and on a
    2-core machine that spinning slows down whatever runs next."""
    names = list(named_callables)
    samples = {name: [] for name in names}
    for round_index in range(warmup + repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            if settle:
                time.sleep(settle)
            start = time.perf_counter()
            named_callables[name]()
            elapsed = time.perf_counter() - start
            if round_index >= warmup:
                samples[name].append(elapsed)
    return samples


def compare(named_callables, repeats=7, warmup=2, settle=0.0):
    """{name: median seconds} of ``timings(named_callables, repeats, warmup, settle)``."""
    return {name: float(np.median(times)) for name, times in timings(named_callables, repeats, warmup, settle).items()}


def torch_with_threads(threads):
    """PyTorch set to ``threads`` threads (every library gets the same number), or None, saying so, where
    it is not installed."""
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: its columns are left out.")
        return None
    torch.set_num_threads(threads)
    return torch
