"""One random generator for all of minidl, seeded by ``manual_seed`` (as ``torch.manual_seed``).

Initialisation, ``randn``/``rand``, dropout masks and DataLoader shuffling all draw from it, so one
seed makes a whole run repeatable.
"""

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed):
    """Seed the generator behind every random draw in minidl."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed expects a non-negative integer, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator():
    """The generator in use (replaced by each ``manual_seed``)."""
    return _generator
