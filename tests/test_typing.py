"""Type checking: the plugin packages and the plugin surface of core pass mypy (configured in pyproject.toml).

Rules annotated ``ctx: LoweringContext`` are checked against the typed rule context, and core's
implementation of the context is checked against the protocol (jax2onnx/context.py).
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_mypy_reports_no_errors():
    result = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental"], cwd=ROOT, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
