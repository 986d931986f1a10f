"""The template third-party plugin installs next to jax2onnx-core alone, and its own tests pass through the kit.

A fresh virtual environment sees the installed third-party dependencies (jax, onnx, onnxruntime,
pytest) but no jax2onnx distribution; core and the template are pip-installed into it, so only the
template's rules are discoverable.
"""

import os
import subprocess
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
TEMPLATE = ROOT / "tests" / "fixtures" / "template_plugin"


def _is_ours(name: str) -> bool:
    """Our distributions and their editable-install hooks, which the clean environment must not see."""
    return "jax2onnx" in name.lower() or name.startswith("__editable__")


@pytest.fixture(scope="module")
def clean_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("template_env")
    deps = root / "deps"
    deps.mkdir()
    # The current environment's packages minus ours, linked rather than reinstalled (fast, offline).
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if not _is_ours(entry.name) and entry.suffix != ".pth":
            (deps / entry.name).symlink_to(entry)
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    env_site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
    Path(env_site, "deps.pth").write_text(f"{deps}\n")
    for source in (ROOT / "packages" / "core", TEMPLATE):
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--no-index", str(source)], check=True, capture_output=True, timeout=300)
    return python


def _run(python, *args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(python), *args], capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


def test_template_testcases_pass_through_the_kit(clean_env):
    result = _run(clean_env, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "jax2onnx: 2 lowerings, 6 testcases, 6 passed" in result.stdout


def test_only_the_template_is_found_and_its_named_call_rule_emits_its_one_op(clean_env):
    result = _run(clean_env, "-c", textwrap.dedent("""
        import importlib.metadata as md
        import numpy as np
        from jax2onnx import allclose, to_onnx
        from jax2onnx.registry import get_registry
        from template_jax2onnx import lib
        print(sorted(d.metadata["Name"] for d in md.distributions() if "jax2onnx" in d.metadata["Name"]))
        print([i.distribution for i in get_registry().indexes])
        fn = lambda x: lib.soft_shrink(x, 0.3)
        model = to_onnx(fn, [("B", 5)])
        print([n.op_type for n in model.graph.node])
        ok, message = allclose(fn, model, [np.linspace(-1, 1, 15, dtype=np.float32).reshape(3, 5)])
        assert ok, message
    """))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-3:] == [
        "['jax2onnx-core', 'template-jax2onnx-plugin']", "['template-jax2onnx-plugin']", "['Shrink']"]
