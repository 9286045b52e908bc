"""The examples run and reach what their docstrings promise."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mlp_digits_reaches_95_percent():
    environment = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "mlp_digits.py")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=True,
    )
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)", result.stdout).group(1))
    assert accuracy >= 0.95
