"""The docs site builds strictly, its pages generated from the installed plugins and the last test run."""

import importlib.util
from pathlib import Path

import onnx

from jax2onnx.plugin import Lowering
from jax2onnx.plugin import Testcase as Case_
from jax2onnx.registry import get_registry

ROOT = Path(__file__).parent.parent


def _hook():
    spec = importlib.util.spec_from_file_location("docs_coverage_hook", ROOT / "docs" / "hooks" / "coverage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mkdocs_build_strict_with_results_and_models(docs_site):
    # Built by the shared fixture (tests/conftest.py): real testcases run by the kit, their results
    # recorded and their models saved, then `mkdocs build --strict`, as `hatch run docs` does.
    assert docs_site.returncode == 0, docs_site.log
    site = docs_site.path
    page = (site / "coverage" / "index.html").read_text()
    assert "jax.lax.add" in page and "jax2onnx-plugins-nnx" in page
    assert f"https://netron.app/?url={docs_site.url}models/add-op23.onnx" in page
    examples = (site / "examples" / "index.html").read_text()
    assert f"https://netron.app/?url={docs_site.url}models/example_mlp-op23.onnx" in examples
    onnx.checker.check_model(onnx.load(site / "models" / "add-op23.onnx"), full_check=True)
    assert "https://onnx.ai/onnx/operators/onnx__Add.html" in page
    surface = (site / "api-surface" / "index.html").read_text()
    assert "jax.numpy.tile" in surface and "no testcase yet" in surface
    assert "onnx__MatMul.html" in (site / "operators" / "index.html").read_text()
    limitations = (site / "limitations" / "index.html").read_text()  # from known_failures.toml and the kit
    assert "<code>top_k/sort_inf_nan_*</code>" in limitations and "<code>fft_1d_symbolic_length</code>" in limitations
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
