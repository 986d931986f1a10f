"""Release readiness: every distribution (ours and the template plugin) builds a wheel and an sdist that pass
``twine check --strict`` (metadata valid, README renders on the package index)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DISTRIBUTIONS = [*(ROOT / "packages" / name for name in ("core", "plugins-lax", "plugins-nnx", "plugins-equinox",
                                                          "examples")),
                 ROOT / "tests" / "fixtures" / "template_plugin"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    for folder in DISTRIBUTIONS:
        subprocess.run([sys.executable, "-m", "hatchling", "build", "-d", str(out)], cwd=folder, check=True,
                       capture_output=True, timeout=300)
    return sorted(out.iterdir())


def test_each_distribution_builds_a_wheel_and_an_sdist(built):
    assert len([p for p in built if p.suffix == ".whl"]) == len(DISTRIBUTIONS)
    assert len([p for p in built if p.name.endswith(".tar.gz")]) == len(DISTRIBUTIONS)


def test_twine_check_passes_on_every_built_distribution(built):
    result = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, built)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == len(built)
