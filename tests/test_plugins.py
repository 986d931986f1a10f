"""Plugin discovery: third-party packages through the entry-point group, broken ones, conflicts."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jax2onnx import PluginConflictError, PluginLoadError
from jax2onnx.plugin import PluginIndex, registered_in
from jax2onnx.registry import Registry, get_registry
from jax2onnx.testing import check_plugin_index

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The fixture plugin distributions, pip-installed into a separate site directory."""
    target = tmp_path_factory.mktemp("site")
    for name in ("acme_plugin", "broken_plugin"):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--target", str(target), str(FIXTURES / name)], check=True)
    return target


def _python(site, code, *args):
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run([sys.executable, *args, "-c", textwrap.dedent(code)] if code else [sys.executable, *args],
                          env=env, capture_output=True, text=True, timeout=600)


def test_third_party_plugin_is_discovered_and_used(site):
    result = _python(site, """
        import numpy as np
        from acme_jax2onnx.ops import acme_scale
        from jax2onnx import allclose, to_onnx
        from jax2onnx.registry import get_registry
        assert "acme-jax2onnx-plugins" in [i.distribution for i in get_registry().indexes]
        fn = lambda x: acme_scale(x, 4.0) + 1.0
        model = to_onnx(fn, [("B", 3)])
        print([n.op_type for n in model.graph.node])
        for b in (2, 6):
            ok, msg = allclose(fn, model, [np.ones((b, 3), np.float32)])
            assert ok, msg
        print("acme ok")
    """)
    assert result.returncode == 0, result.stderr
    assert "['Mul', 'Add']" in result.stdout and "acme ok" in result.stdout


def test_third_party_plugin_uses_the_testing_kit(site):
    result = _python(site, None, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                     str(FIXTURES / "acme_plugin" / "tests"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "acme_scale_basic" not in result.stdout or "failed" not in result.stdout
    assert "1 lowerings" in result.stdout and "passed" in result.stdout


def test_broken_plugin_does_not_break_other_conversions_and_is_named(site):
    result = _python(site, """
        import jax.numpy as jnp
        from jax2onnx import to_onnx, UnsupportedPrimitiveError
        from acme_jax2onnx.ops import acme_scale_p
        import jax
        to_onnx(lambda x: jnp.tanh(x), [(3,)])
        unknown = jax.extend.core.Primitive("nobody_lowers_this")
        unknown.def_abstract_eval(lambda x: x)
        try:
            to_onnx(lambda x: unknown.bind(x), [(3,)])
        except UnsupportedPrimitiveError as e:
            print(e)
    """)
    assert result.returncode == 0, result.stderr
    assert "broken-jax2onnx-plugin (failed to load)" in result.stdout
    assert "acme-jax2onnx-plugins" in result.stdout


def test_conflicting_claims_are_an_error_unless_a_priority_decides():
    a = PluginIndex("pkg-a", {"mod_a": ["add"]})
    b = PluginIndex("pkg-b", {"mod_b": ["add"]})
    with pytest.raises(PluginConflictError, match="pkg-a.*pkg-b"):
        Registry([a, b])
    winner = PluginIndex("pkg-c", {"mod_c": ["add"]}, priority=1)
    assert Registry([a, winner])._owner["add"][0].distribution == "pkg-c"


def test_module_that_fails_to_import_names_the_package():
    registry = Registry([PluginIndex("pkg-missing", {"no_such_module_anywhere": ["fancy_op"]})])
    with pytest.raises(PluginLoadError, match="pkg-missing.*no_such_module_anywhere"):
        registry.lookup("fancy_op")


@pytest.mark.parametrize("distribution", [i.distribution for i in get_registry().indexes])
def test_index_lists_exactly_what_modules_register(distribution):
    """Each built-in index must match its modules, or lazy lookup would miss or mis-route rules."""
    check_plugin_index(distribution)


@pytest.fixture
def package_dir(tmp_path, monkeypatch):
    """A directory on sys.path for a throwaway package, forgotten again after the test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.split(".")[0] == "factorypkg"]:
        del sys.modules[name]


def _write_package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))


FACTORY_PACKAGE = {
    "factorypkg/__init__.py": "",
    # Rule factories and a registering helper in a helper module: rule.__module__ is this module.
    "factorypkg/helpers.py": """
        import functools
        from jax2onnx.plugin import call_lowering, lowering

        def unary(op_type):
            def rule(ctx, x):
                return ctx.emit(op_type, [x])
            return rule

        def scaled(ctx, x, *, factor=2.0):
            return ctx.op.Mul(x, ctx.const(factor))

        def register_sin():
            lowering("sin", component="factorypkg.sin", onnx=["Sin"], since="0")(unary("Sin"))

        def partial_rule(factor):
            return functools.partial(scaled, factor=factor)

        def call_rule(ctx, x):
            return ctx.op.Neg(x)
    """,
    "factorypkg/rules.py": """
        from jax2onnx.plugin import call_lowering, lowering
        from .helpers import call_rule, partial_rule, register_sin, unary

        lowering("cos", component="factorypkg.cos", onnx=["Cos"], since="0")(unary("Cos"))
        lowering("exp", component="factorypkg.exp", onnx=["Mul"], since="0")(partial_rule(3.0))
        call_lowering("factorypkg.fn", onnx=["Neg"], since="0")(call_rule)
        register_sin()
    """,
}


def test_factories_partials_and_helpers_register_under_the_module_that_runs_them(package_dir):
    _write_package(package_dir, FACTORY_PACKAGE)
    index = PluginIndex("factorypkg", {"factorypkg.rules": ["cos", "exp", "sin", "call:factorypkg.fn"]})
    check_plugin_index(index)
    registry = Registry([index])
    for target in ("cos", "exp", "sin", "call:factorypkg.fn"):
        assert registry.lookup(target).module == "factorypkg.rules"
    assert registered_in("factorypkg.helpers") == []


def test_check_plugin_index_names_each_mismatch(package_dir):
    _write_package(package_dir, {**FACTORY_PACKAGE, "factorypkg/meta.py": """
        from jax2onnx.plugin import coverage, lowering
        from .helpers import unary
        coverage("factorypkg.combo", via=["cos"], since="0")
        lowering("tan", component="factorypkg.tan", onnx=["Tan"], since="0")(unary("Tan"))
    """})
    index = PluginIndex("factorypkg", {"factorypkg.rules": ["cos", "exp", "tanh"]},
                        coverage_modules=["factorypkg.meta"])
    with pytest.raises(AssertionError) as info:
        check_plugin_index(index)
    message = str(info.value)
    assert "lists ['tanh'] but registers no rule" in message
    assert "registers ['call:factorypkg.fn', 'sin'] but the index does not list" in message
    assert "coverage module factorypkg.meta registers rules ['tan']" in message
    assert [e.target for e in registered_in("factorypkg.meta")] == ["component:factorypkg.combo", "tan"]


def test_a_conversion_imports_only_the_rules_it_uses():
    code = """
        import sys
        import jax.numpy as jnp
        from jax2onnx import to_onnx
        to_onnx(lambda x: x + 1.0, [(3,)])
        print(sorted(m for m in sys.modules if m.startswith("jax2onnx_lax.")))
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    loaded = eval(result.stdout.strip().splitlines()[-1])
    assert "jax2onnx_lax.arithmetic" in loaded and "jax2onnx_lax.bits" not in loaded
    assert "jax2onnx_lax.conv" not in loaded and "jax2onnx_lax.control_flow" not in loaded


def test_an_export_does_not_import_sympy_and_symbolic_dims_still_compute():
    # onnx_ir imports sympy for arithmetic on symbolic dims; an export defers it (jax2onnx._deferred).
    code = """
        import sys
        from jax2onnx import to_onnx
        model = to_onnx(lambda x: x * 2.0, [("B", 3)])
        print(type(sys.modules["sympy"]).__name__, type(sys.modules["onnx_ir._symbolic_shapes"]).__name__)
        import onnx_ir as ir
        import sympy
        print(ir.SymbolicDim("B") * 2 + 1, sympy.Symbol("x") + 1, isinstance(sympy.Symbol("x"), sympy.Expr))
        print(type(sys.modules["sympy"]).__name__, model.graph.input[0].type.tensor_type.shape.dim[0].dim_param)
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    before, used, after = result.stdout.strip().splitlines()[-3:]
    assert before == "_Deferred _Deferred"
    assert used == "2*B + 1 x + 1 True"
    assert after == "module B"  # sys.modules holds the real sympy once it is used
