"""The docs site builds strictly, with coverage tables generated from the installed plugins."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.skipif(shutil.which("mkdocs") is None and not os.path.exists(Path(sys.executable).parent / "mkdocs"),
                    reason="mkdocs is not installed")
def test_mkdocs_build_strict_generates_coverage(tmp_path):
    mkdocs = shutil.which("mkdocs") or str(Path(sys.executable).parent / "mkdocs")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run([mkdocs, "build", "--strict", "-q", "-d", str(tmp_path / "site")], cwd=ROOT,
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    page = (tmp_path / "site" / "coverage" / "index.html").read_text()
    assert "jax.lax.add" in page and "jax2onnx-plugins-nnx" in page
