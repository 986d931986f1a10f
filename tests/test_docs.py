"""The docs site builds strictly, its pages generated from the installed plugins and the last test run."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from jax2onnx.plugin import Lowering
from jax2onnx.plugin import Testcase as Case_
from jax2onnx.registry import get_registry
from jax2onnx.testing.kit import collect_cases, run_case

ROOT = Path(__file__).parent.parent
MKDOCS = shutil.which("mkdocs") or str(Path(sys.executable).parent / "mkdocs")


def _hook():
    spec = importlib.util.spec_from_file_location("docs_coverage_hook", ROOT / "docs" / "hooks" / "coverage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not os.path.exists(MKDOCS), reason="mkdocs is not installed")
def test_mkdocs_build_strict_with_results_and_models(tmp_path):
    # One real testcase run by the kit, its result recorded and its model saved, as `hatch run docs` does.
    case = next(c for c in collect_cases("jax2onnx-plugins-lax", opsets=[23])
                if c.testcase.name == "add" and not c.double)
    models = tmp_path / "models"
    os.environ["JAX2ONNX_SAVE_MODELS"] = str(models)
    try:
        run_case(case)
    finally:
        del os.environ["JAX2ONNX_SAVE_MODELS"]
    results = tmp_path / "results.json"
    results.write_text(json.dumps({f"{case.lowering.component}::{case.id}": "passed"}))
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", JAX2ONNX_TEST_RESULTS=str(results),
               JAX2ONNX_MODELS_DIR=str(models), JAX2ONNX_SITE_URL="https://example.org/jax2onnx/")
    site = tmp_path / "site"
    result = subprocess.run([MKDOCS, "build", "--strict", "-q", "-d", str(site)], cwd=ROOT,
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    page = (site / "coverage" / "index.html").read_text()
    assert "jax.lax.add" in page and "jax2onnx-plugins-nnx" in page
    link = "https://netron.app/?url=https://example.org/jax2onnx/models/add-op23.onnx"
    assert link in page
    onnx.checker.check_model(onnx.load(site / "models" / "add-op23.onnx"), full_check=True)
    assert "https://onnx.ai/onnx/operators/onnx__Add.html" in page
    surface = (site / "api-surface" / "index.html").read_text()
    assert "jax.numpy.tile" in surface and "no testcase yet" in surface
    assert "onnx__MatMul.html" in (site / "operators" / "index.html").read_text()
    reference = (site / "reference" / "index.html").read_text()  # generated from the docstrings
    assert 'id="jax2onnx.to_onnx"' in reference and "input_params" in reference


def _run(hook, results, rows):
    return hook.Run(rows, results, set())


def test_a_removed_result_turns_the_badge_to_not_run():
    hook = _hook()
    row = Lowering("add", None, "jax.lax.add", ("Add",), "0.1.0", testcases=(Case_("add"),),
                   distribution="jax2onnx-plugins-lax")
    results = {"jax.lax.add::add-op23": "passed", "jax.lax.add::add-op23-f64": "passed",
               "jax.lax.add::add-op13": "failed"}
    run = _run(hook, results, [row])
    assert run.badges(row, row.testcases[0]) == "✅23 ❌13"
    del results["jax.lax.add::add-op13"]
    assert _run(hook, results, [row]).badges(row, row.testcases[0]) == "✅23"
    assert _run(hook, {}, [row]).badges(row, row.testcases[0]) == "➖"


def test_a_third_party_distribution_gets_its_own_section():
    hook = _hook()
    rows = get_registry().all_lowerings()
    extra = Lowering("acme_op", None, "acme.scale", ("Mul",), "1.0", testcases=(Case_("acme_scale"),),
                     distribution="acme-jax2onnx-plugins")
    text = hook.render_coverage(hook.Run([*rows, extra], {}, set()))
    assert "\n## acme-jax2onnx-plugins\n" in text and "`acme.scale`" in text
