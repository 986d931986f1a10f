"""The published layout: each distribution builds a wheel, and core + nnx wheels alone export an NNX model."""

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PACKAGES = {"core": "jax2onnx_core", "plugins-lax": "jax2onnx_plugins_lax",
            "plugins-nnx": "jax2onnx_plugins_nnx", "examples": "jax2onnx_examples"}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheels")
    for folder in PACKAGES:
        subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
                       cwd=ROOT / "packages" / folder, check=True, capture_output=True)
    return out


def test_every_distribution_builds_a_wheel(wheels):
    names = sorted(p.name.split("-")[0] for p in wheels.glob("*.whl"))
    assert names == sorted(PACKAGES.values())


@pytest.mark.skipif(os.environ.get("JAX2ONNX_SKIP_WHEEL_INSTALL") == "1", reason="wheel install test disabled")
def test_core_and_nnx_wheels_export_the_quickstart_in_an_empty_venv(wheels, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    core = next(wheels.glob("jax2onnx_core-*.whl"))
    # What a user types: core (with the verify extra) and the NNX plugins; lax comes as a dependency.
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--find-links", str(wheels),
                              f"{core}[verify]", "jax2onnx-plugins-nnx"], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    run = subprocess.run([str(python), str(ROOT / "quickstart.py")], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "batch 2: OK" in run.stdout and "batch 7: OK" in run.stdout
