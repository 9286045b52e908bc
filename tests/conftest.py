"""Hypothesis profiles for the whole test suite.

- ``ci``: derandomized (the same examples on every run, so a CI failure reproduces), no deadline (a cold
  Numba compile or a busy 2-core runner must not fail a test), a modest number of examples, and the
  reproduction blob printed on failure. Chosen when the environment variable CI is set, or by
  ``HYPOTHESIS_PROFILE=ci``.
- ``fast`` (used otherwise): as many examples as ``ci`` but random ones, so local runs keep exploring
  new inputs and stay quick.
- ``dev``: ten times more examples for a thorough search: ``HYPOTHESIS_PROFILE=dev python -m pytest``.

A test's own ``@settings(max_examples=...)`` overrides the profile, so tests set it only when one
example is expensive.
"""

import os

from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much]}
settings.register_profile("ci", derandomize=True, max_examples=25, print_blob=True, **_COMMON)
settings.register_profile("fast", max_examples=25, **_COMMON)
settings.register_profile("dev", max_examples=250, **_COMMON)

settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "fast"))
