"""A misbehaving or broken plugin yields an error naming its package and rule; plugins can be disabled by name."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from flax import nnx

from jax2onnx import ExportOptionError, LoweringError, PluginLoadError, UnsupportedPrimitiveError, allclose, to_onnx
from jax2onnx.plugin import PluginIndex, lowering
from jax2onnx.registry import DISABLE_ENVIRONMENT_VARIABLE, add_index, get_registry, remove_index

FIXTURES = Path(__file__).parent / "fixtures"
PACKAGE = "acme-misbehaving-plugins"


def _primitive(name, outputs=1):
    primitive = jax.extend.core.Primitive(name)
    primitive.multiple_results = outputs > 1
    if outputs > 1:
        primitive.def_abstract_eval(lambda x: [x] * outputs)
    else:
        primitive.def_abstract_eval(lambda x: x)
    return primitive


RAISES, TWO_OUTPUTS, WRONG_DTYPE, WRONG_SHAPE, WRONG_TYPED, NOT_A_VALUE = (
    _primitive("acme_raises"), _primitive("acme_two_outputs", 2), _primitive("acme_wrong_dtype"),
    _primitive("acme_wrong_shape"), _primitive("acme_wrong_typed"), _primitive("acme_not_a_value"))


# The throwaway rules: each misbehaves in one way. They register in this module, which the index names.
@lowering("acme_raises", component="raises", onnx=[], since="0")
def lower_raises(ctx, x):
    raise ZeroDivisionError("the rule's own bug")


@lowering("acme_two_outputs", component="two outputs", onnx=["Neg"], since="0")
def lower_two_outputs(ctx, x):
    return [ctx.op.Neg(x)]  # one output for an equation with two


@lowering("acme_wrong_dtype", component="wrong dtype", onnx=["Cast"], since="0")
def lower_wrong_dtype(ctx, x):
    return ctx.op.Cast(x, to=onnx.TensorProto.INT32)  # untyped: ONNX's per-node inference finds int32


@lowering("acme_wrong_shape", component="wrong shape", onnx=["Concat"], since="0")
def lower_wrong_shape(ctx, x):
    return ctx.op.Concat(x, x, axis=1)  # twice as many columns as the equation says


@lowering("acme_wrong_typed", component="wrong typed", onnx=[], since="0")
def lower_wrong_typed(ctx, x):
    return ctx.const(np.zeros((7,), np.float32))  # a constant: typed, of another shape


@lowering("acme_not_a_value", component="not a value", onnx=[], since="0")
def lower_not_a_value(ctx, x):
    return "oops"


INDEX = PluginIndex(PACKAGE, {__name__: ["acme_raises", "acme_two_outputs", "acme_wrong_dtype", "acme_wrong_shape",
                                         "acme_wrong_typed", "acme_not_a_value"]})


@pytest.fixture
def misbehaving():
    add_index(INDEX)
    try:
        yield
    finally:
        remove_index(INDEX)
    assert PACKAGE not in [i.distribution for i in get_registry().indexes]


def _works_afterwards():
    fn = lambda x: nnx.relu(jnp.sin(x) @ jnp.ones((3, 2)))  # noqa: E731
    model = to_onnx(fn, [("B", 3)])
    ok, message = allclose(fn, model, [("B", 3)])
    assert ok, message


@pytest.mark.parametrize("primitive, rule, words", [
    (RAISES, "lower_raises", ["failed in", "ZeroDivisionError", "the rule's own bug"]),
    (TWO_OUTPUTS, "lower_two_outputs", ["returned 1 outputs", "has 2"]),
    (WRONG_DTYPE, "lower_wrong_dtype", ["output 0", "dtype int32", "gives float32", "bug in that plugin"]),
    (WRONG_SHAPE, "lower_wrong_shape", ["output 0", "shape [", "6]", "gives [B, 3]"]),
    (WRONG_TYPED, "lower_wrong_typed", ["output 0", "shape [7]", "gives [B, 3]"]),
    (NOT_A_VALUE, "lower_not_a_value", ["returned str as output 0"]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_misbehaving_rule_is_a_typed_error_naming_package_rule_primitive_and_line(misbehaving, primitive, rule, words):
    def user_function(x):
        y = jnp.tanh(x)
        return primitive.bind(y)  # the line the error must name

    line = user_function.__code__.co_firstlineno + 2
    with pytest.raises(LoweringError) as info:
        to_onnx(user_function, [("B", 3)])
    message = str(info.value)
    for word in [primitive.name, f"'{PACKAGE}'", f"{__name__}:{rule}", f"{Path(__file__).name}:{line}", *words]:
        assert word in message, (word, message)
    _works_afterwards()


def test_rule_module_that_fails_to_import_names_the_package_and_others_still_convert():
    index = PluginIndex("acme-unimportable", {"acme_module_that_is_not_there": ["acme_unimportable"]})
    add_index(index)
    try:
        with pytest.raises(PluginLoadError) as info:
            to_onnx(lambda x: _primitive("acme_unimportable").bind(x), [(3,)])
        assert "'acme-unimportable'" in str(info.value) and "acme_module_that_is_not_there" in str(info.value)
        _works_afterwards()
    finally:
        remove_index(index)


class Block(nnx.Module):
    def __init__(self):
        self.linear = nnx.Linear(4, 6, rngs=nnx.Rngs(0))
        self.norm = nnx.LayerNorm(6, rngs=nnx.Rngs(1))

    def __call__(self, x):
        return nnx.gelu(self.norm(self.linear(x)))


@pytest.mark.parametrize("how", ["distribution", "entry point", "environment"])
def test_nnx_plugin_disabled_exports_nnx_modules_through_the_lax_rules(tmp_path, monkeypatch, how):
    block = Block()
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    native = to_onnx(block, [("B", 4)])
    assert "LayerNormalization" in {n.op_type for n in native.graph.node}
    log = tmp_path / "calls.log"
    if how == "environment":
        monkeypatch.setenv(DISABLE_ENVIRONMENT_VARIABLE, " nnx , ")
        model = to_onnx(block, [("B", 4)], record_primitive_calls_file=log)
    else:
        name = "jax2onnx-plugins-nnx" if how == "distribution" else "nnx"
        model = to_onnx(block, [("B", 4)], disable_plugins=[name], record_primitive_calls_file=log)
    onnx.checker.check_model(model, full_check=True)
    ops = {n.op_type for n in model.graph.node}
    assert "LayerNormalization" not in ops and {"MatMul", "Tanh"} <= ops, ops
    assert "jax2onnx-plugins-nnx" not in log.read_text() and "jax2onnx-plugins-lax" in log.read_text()
    for batch in (1, 3):
        ok, message = allclose(block, model, [x[:batch]], rtol=1e-4, atol=1e-5)
        assert ok, message
    monkeypatch.delenv(DISABLE_ENVIRONMENT_VARIABLE, raising=False)
    assert "LayerNormalization" in {n.op_type for n in to_onnx(block, [("B", 4)]).graph.node}


def test_disabled_lax_plugin_is_named_in_the_unsupported_error():
    with pytest.raises(UnsupportedPrimitiveError) as info:
        to_onnx(lambda x: jnp.sin(x), [(3,)], disable_plugins=["lax"])
    assert "jax2onnx-plugins-lax (disabled)" in str(info.value)


@pytest.mark.parametrize("value, words", [
    (["jax2onnx-plugins-nnxx"], ["'jax2onnx-plugins-nnxx'", "installed", "jax2onnx-plugins-nnx (nnx)"]),
    ("nnx", ["list of names", "['nnx']"]),
])
def test_disabling_an_unknown_plugin_is_an_error(value, words):
    with pytest.raises(ExportOptionError) as info:
        to_onnx(lambda x: x + 1.0, [(3,)], disable_plugins=value)
    for word in words:
        assert word in str(info.value)


def test_unknown_name_in_the_environment_only_warns(monkeypatch):
    monkeypatch.setenv(DISABLE_ENVIRONMENT_VARIABLE, "not-a-plugin")
    with pytest.warns(UserWarning, match="not-a-plugin"):
        model = to_onnx(lambda x: x + 1.0, [(3,)])
    assert [n.op_type for n in model.graph.node] == ["Add"]


def test_plugin_that_breaks_on_import_warns_once_and_can_be_disabled(tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(FIXTURES / "broken_plugin")], check=True)
    code = textwrap.dedent("""
        import warnings
        warnings.simplefilter("always")
        from jax2onnx import to_onnx
        to_onnx(lambda x: x * 2.0, [(3,)])
        to_onnx(lambda x: x * 3.0, [(3,)])
        print("converted")
    """)
    env = dict(os.environ, PYTHONPATH=str(site))
    env.pop(DISABLE_ENVIRONMENT_VARIABLE, None)
    loud = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert loud.returncode == 0 and "converted" in loud.stdout, loud.stderr
    assert loud.stderr.count("PluginLoadWarning") == 1, loud.stderr
    for word in ["'broken-jax2onnx-plugin'", "ModuleNotFoundError", "JAX2ONNX_DISABLE_PLUGINS=broken"]:
        assert word in loud.stderr
    env[DISABLE_ENVIRONMENT_VARIABLE] = "broken"
    quiet = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert quiet.returncode == 0 and "converted" in quiet.stdout, quiet.stderr
    assert "broken" not in quiet.stderr, quiet.stderr
