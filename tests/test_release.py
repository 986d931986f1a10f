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


def _set_version_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("set_version", ROOT / "scripts" / "set_version.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_versions_and_inter_package_pins_agree():
    assert _set_version_module().problems() == []


def test_one_command_sets_the_release_version_everywhere(tmp_path):
    sv = _set_version_module()
    files = [p.relative_to(ROOT) for p in sv.pyprojects()] + [
        sv.CORE_INIT.relative_to(ROOT), sv.CHANGELOG.relative_to(ROOT), sv.TEMPLATE.relative_to(ROOT)]
    for rel in files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text((ROOT / rel).read_text())
    changed = sv.set_version("0.2.0", tmp_path)
    assert len(changed) == len(files)
    assert sv.problems(tmp_path) == []
    nnx = (tmp_path / "packages" / "plugins-nnx" / "pyproject.toml").read_text()
    assert 'version = "0.2.0"' in nnx and '"jax2onnx-core>=0.2.0,<0.3"' in nnx
    assert '__version__ = "0.2.0"' in (tmp_path / sv.CORE_INIT.relative_to(ROOT)).read_text()
    assert '"jax2onnx-core>=0.2,<0.3"' in (tmp_path / sv.TEMPLATE.relative_to(ROOT)).read_text()
    assert "## Unreleased\n\n## 0.2.0\n" in (tmp_path / "CHANGELOG.md").read_text()
    assert sv.set_version("0.2.0", tmp_path) == []  # idempotent
    with pytest.raises(SystemExit, match="not a release version"):
        sv.set_version("2", tmp_path)


def test_every_distribution_declares_license_urls_and_supported_versions():
    import tomllib

    for folder in DISTRIBUTIONS[:-1]:
        project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
        assert project["license"] == "Apache-2.0" and (folder / "LICENSE").exists(), folder
        assert {"Homepage", "Documentation", "Repository", "Issues", "Changelog"} <= set(project["urls"]), folder
        assert project["requires-python"] == ">=3.11", folder
        assert {f"Programming Language :: Python :: 3.{v}" for v in (11, 12, 13)} <= set(project["classifiers"])
