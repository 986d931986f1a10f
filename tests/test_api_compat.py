"""Drop-in compatibility with the established jax2onnx API: every public name and parameter, same meaning."""

import inspect
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from flax import nnx

import jax2onnx
from jax2onnx import ExportOptionError, allclose, allclose_onnxruntime_web, onnx_function, to_onnx

HERE = Path(__file__).parent
NHWC = ("NHWC", "HWIO", "NHWC")

# The established release's public signatures (parameter -> default; `inspect.Parameter.empty`
# where it has none), read with inspect from its latest version.
ESTABLISHED = {
    "to_onnx": {
        "fn": inspect.Parameter.empty, "inputs": inspect.Parameter.empty, "input_params": None,
        "model_name": "jax_model", "opset": 23, "enable_double_precision": False,
        "record_primitive_calls_file": None, "return_mode": "proto", "output_path": None, "inputs_as_nchw": None,
        "outputs_as_nchw": None, "input_names": None, "output_names": None, "export_mode": "standard",
        "normalization_mode": "auto",
    },
    "allclose": {
        "fn": inspect.Parameter.empty, "onnx_model_path": inspect.Parameter.empty,
        "inputs": inspect.Parameter.empty, "input_params": None, "rtol": 1e-3, "atol": 1e-5,
        "enable_double_precision": False, "inputs_as_nchw": None, "outputs_as_nchw": None,
    },
    "onnx_function": {"target": None, "unique": False, "namespace": None, "name": None, "type": None},
    "allclose_onnxruntime_web": {
        "onnx_model_path": inspect.Parameter.empty, "inputs": inspect.Parameter.empty, "input_params": None,
        "rtol": 1e-3, "atol": 1e-5, "inputs_as_nchw": None, "node_command": "node", "runner": None,
    },
}
# Positional order of the established parameters that may be passed positionally.
ESTABLISHED_POSITIONAL = {
    "to_onnx": ["fn", "inputs", "input_params", "model_name", "opset"],
    "allclose": ["fn", "onnx_model_path", "inputs", "input_params", "rtol", "atol"],
    "onnx_function": ["target"],
    "allclose_onnxruntime_web": ["onnx_model_path", "inputs", "input_params", "rtol", "atol"],
}


@pytest.mark.parametrize("name", sorted(ESTABLISHED))
def test_every_established_parameter_is_accepted_with_its_default(name):
    params = inspect.signature(getattr(jax2onnx, name)).parameters
    for param, default in ESTABLISHED[name].items():
        assert param in params, f"{name} lacks {param}"
        assert params[param].default == default, f"{name}({param}=...) defaults to {params[param].default!r}"
    positional = [p for p, v in params.items() if v.kind == v.POSITIONAL_OR_KEYWORD]
    assert positional[: len(ESTABLISHED_POSITIONAL[name])] == ESTABLISHED_POSITIONAL[name]


def test_script_written_against_the_established_api_runs_unchanged(tmp_path):
    done = subprocess.run([sys.executable, str(HERE / "fixtures" / "established_api_script.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "all checks passed" in done.stdout


# ----- input specs


def _input_dims(model):
    return [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input]


@pytest.mark.parametrize("spec, dims", [
    ((2, 3), [2, 3]),
    ([2, 3], [2, 3]),
    (["B", 3], ["B", 3]),
    (jax.ShapeDtypeStruct((2, 3), jnp.float32), [2, 3]),
    (jax.ShapeDtypeStruct(jax.export.symbolic_shape("B, 3"), jnp.float32), ["B", 3]),
    (jax.ShapeDtypeStruct(("B", 3), jnp.float32), ["B", 3]),
    (jax.core.ShapedArray((2, 3), jnp.float32), [2, 3]),
    (jax.core.ShapedArray(jax.export.symbolic_shape("B, 3"), jnp.float32), ["B", 3]),
    (np.zeros((2, 3), np.float32), [2, 3]),
    (jnp.zeros((2, 3), jnp.float32), [2, 3]),
], ids=["tuple", "list", "list-str", "sds", "sds-symbolic", "sds-str", "shaped", "shaped-symbolic", "numpy", "jax"])
def test_input_spec_forms(spec, dims):
    model = to_onnx(lambda x: jnp.tanh(x) * 2.0, [spec])
    assert _input_dims(model) == [dims]
    x = np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3)
    ok, message = allclose(lambda x: jnp.tanh(x) * 2.0, model, [x], rtol=1e-6, atol=1e-6)
    assert ok, message


def test_object_with_shape_and_dtype_is_a_spec():
    class Spec:
        shape, dtype = (4, 2), np.dtype(np.int32)

    model = to_onnx(lambda x: x * 3, [Spec()])
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT32
    ok, message = allclose(lambda x: x * 3, model, [np.arange(8, dtype=np.int32).reshape(4, 2)], rtol=0, atol=0)
    assert ok, message


# ----- allclose


def test_allclose_draws_random_inputs_for_shape_tuples():
    model = to_onnx(lambda x, y: x @ y, [("B", 4), (4, "N")])
    ok, message = allclose(lambda x, y: x @ y, model, [("B", 4), (4, 3)], rtol=1e-5, atol=1e-6)
    assert ok, message
    wrong = to_onnx(lambda x, y: x @ y + 1e-2, [("B", 4), (4, "N")])
    ok, message = allclose(lambda x, y: x @ y, wrong, [(2, 4), (4, 3)])
    assert not ok and "NOT close" in message


def test_allclose_enable_double_precision_runs_jax_in_64_bit():
    fn = lambda x: jnp.exp(x) - 1.0  # noqa: E731
    model = to_onnx(fn, [("B", 3)], enable_double_precision=True)
    x = np.full((2, 3), 1e-9)
    ok, message = allclose(fn, model, [x], rtol=1e-12, atol=0, enable_double_precision=True)
    assert ok, message
    # In 32-bit JAX, exp(1e-9) - 1 rounds to 0: the float64 model no longer matches at this tolerance.
    assert not allclose(fn, model, [x], rtol=1e-12, atol=0)[0]


# ----- inputs_as_nchw / outputs_as_nchw


class ConvStack(nnx.Module):
    def __init__(self, rngs):
        self.conv1 = nnx.Conv(3, 8, (3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(8, 8, (3, 3), rngs=rngs)
        self.conv3 = nnx.Conv(8, 4, (1, 1), rngs=rngs)

    def __call__(self, x):
        y = nnx.relu(self.conv1(x))
        y = jnp.tanh(self.conv2(y)) + y  # a residual: both Add inputs arrive transposed
        return self.conv3(y)


def _lax_stack(x):
    rng = np.random.default_rng(0)
    w1, w2 = rng.standard_normal((3, 3, 3, 4), np.float32), rng.standard_normal((3, 3, 4, 5), np.float32)
    y = jax.lax.conv_general_dilated(x, w1, (1, 1), "SAME", dimension_numbers=NHWC)
    y = jax.nn.relu(y + np.arange(4, dtype=np.float32)) * 0.5
    return jax.lax.conv_general_dilated(y, w2, (1, 1), "SAME", dimension_numbers=NHWC)


@pytest.mark.parametrize("fn, ops", [
    (ConvStack(nnx.Rngs(0)), ["Conv", "Relu", "Conv", "Tanh", "Add", "Conv"]),
    (_lax_stack, ["Conv", "Add", "Relu", "Mul", "Conv"]),
], ids=["nnx", "lax"])
def test_nchw_boundary_leaves_no_transpose_in_a_conv_stack(fn, ops):
    model = to_onnx(fn, [("B", 10, 12, 3)], inputs_as_nchw=[0], outputs_as_nchw=[0])
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node] == ops
    assert [i.name for i in model.graph.input] == ["in_0_nchw"]
    assert _input_dims(model) == [["B", 3, 10, 12]]
    assert [d.dim_param or d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim][:2] == [
        "B", ops and (4 if fn is not _lax_stack else 5)]
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 10, 12, 3)).astype(np.float32)
        # ONNX Runtime sums the convolutions in another order than XLA.
        ok, message = allclose(fn, model, [x], rtol=1e-4, atol=1e-4, inputs_as_nchw=[0], outputs_as_nchw=[0])
        assert ok, message


def test_nchw_by_name_and_only_input():
    fn = lambda x, y: (x * 2.0, y + 1.0)  # noqa: E731
    model = to_onnx(fn, [("B", 4, 5, 3), (2, 3)], input_names=["image", "other"], inputs_as_nchw=["image"])
    assert [i.name for i in model.graph.input] == ["image", "other"]
    assert _input_dims(model) == [["B", 3, 4, 5], [2, 3]]
    assert [n.op_type for n in model.graph.node] == ["Transpose", "Mul", "Add"]
    x, y = np.random.default_rng(0).random((2, 4, 5, 3), np.float32), np.ones((2, 3), np.float32)
    ok, message = allclose(fn, model, [x, y], inputs_as_nchw=[0])
    assert ok, message


@pytest.mark.parametrize("option, value, match", [
    ("inputs_as_nchw", [1], "neither a position"),
    ("inputs_as_nchw", [0, 0], "twice"),
    ("outputs_as_nchw", [0], "rank 2"),
    ("inputs_as_nchw", 0, "list"),
])
def test_nchw_option_errors(option, value, match):
    with pytest.raises(ExportOptionError, match=match):
        to_onnx(lambda x: x + 1.0, [("B", 3)] if option == "outputs_as_nchw" else [("B", 2, 2, 3)],
                **{option: value})


# ----- normalization_mode


@pytest.mark.parametrize("module, native", [
    (lambda: nnx.LayerNorm(6, rngs=nnx.Rngs(0)), "LayerNormalization"),
    (lambda: nnx.RMSNorm(6, rngs=nnx.Rngs(0)), "RMSNormalization"),
    (lambda: nnx.GroupNorm(6, num_groups=3, rngs=nnx.Rngs(0)), "GroupNormalization"),
], ids=["layernorm", "rmsnorm", "groupnorm"])
def test_normalization_mode_chooses_native_op_or_decomposition(module, native):
    model_fn = module()
    x = np.random.default_rng(0).standard_normal((3, 5, 6)).astype(np.float32)
    for mode, expect_native in (("auto", True), ("prefer_native", True), ("force_decomposed", False)):
        model = to_onnx(model_fn, [("B", 5, 6)], opset=23, normalization_mode=mode)
        ops = {n.op_type for n in model.graph.node}
        assert (native in ops) == expect_native, (mode, ops)
        ok, message = allclose(model_fn, model, [x], rtol=1e-4, atol=1e-5)
        assert ok, (mode, message)
    with pytest.raises(ExportOptionError, match="normalization_mode"):
        to_onnx(model_fn, [("B", 5, 6)], normalization_mode="native")


# ----- record_primitive_calls_file


def test_record_primitive_calls_file_logs_each_primitive_nested(tmp_path):
    @jax.jit
    def inner(x):
        return jnp.sin(x) * 2.0

    def fn(x):
        return nnx.relu(inner(x)) + jnp.sum(x, axis=1, keepdims=True)

    log = tmp_path / "calls.log"
    model = to_onnx(fn, [("B", 3)], record_primitive_calls_file=str(log))
    ok, message = allclose(fn, model, [("B", 3)])
    assert ok, message
    lines = log.read_text().splitlines()
    heads = [line for line in lines if "[" in line and " at " in line]
    assert [h.split()[0] for h in heads] == ["pjit" if heads[0].startswith("pjit") else "jit", "sin", "mul", "jit",
                                              "reduce_sum", "broadcast_in_dim", "add"]
    assert heads[1].startswith("  sin  [jax2onnx-plugins-lax: ") and heads[0].split()[1] == "[inlined]"
    assert "flax.nnx.relu: jax2onnx-plugins-nnx:" in heads[3]
    assert "  in:  float32[B,3]" in lines and "  axes = (1,)" in lines


# ----- export_mode


def _big_model(tmp_path, mode, **options):
    weight = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    path = tmp_path / "model.onnx"
    to_onnx(lambda x: x @ weight, [("B", 64)], return_mode="file", output_path=path, export_mode=mode, **options)
    return path


def test_web_export_mode_writes_one_self_contained_file(tmp_path):
    standard = _big_model(tmp_path, "standard", external_data=True)
    assert (tmp_path / "model.onnx.data").exists()
    web = _big_model(tmp_path, "web")
    assert not (tmp_path / "model.onnx.data").exists()  # the stale sidecar is gone
    proto = onnx.load(web)
    assert standard == web and not any(t.external_data for t in proto.graph.initializer)
    ok, message = allclose(lambda x: x, web, [("B", 64)])  # wrong on purpose: the model multiplies
    assert not ok
    with pytest.raises(ExportOptionError, match="export_mode"):
        _big_model(tmp_path, "browser")
    with pytest.raises(ExportOptionError, match="self-contained"):
        _big_model(tmp_path, "web", external_data=True)


def test_web_export_mode_refuses_a_model_over_two_gigabytes(tmp_path):
    big = np.zeros((1 << 29) + 1, np.float32)  # 2 GiB + 4 bytes of weights (untouched pages)
    with pytest.raises(ExportOptionError, match="cannot exceed 2 GiB"):
        to_onnx(lambda x: x + big, [(1,)], return_mode="file", output_path=tmp_path / "big.onnx", export_mode="web")
    assert not list(tmp_path.iterdir())


# ----- onnx_function options


def test_onnx_function_name_type_namespace_and_unique():
    @onnx_function(name="Doubler", namespace="acme.blocks")
    def double(x):
        return x * 2.0

    @onnx_function(type="Shift", name="ignored")
    def shift(x):
        return x + 1.0

    @onnx_function(unique=True)
    class Dense(nnx.Module):
        def __init__(self, seed):
            self.linear = nnx.Linear(4, 4, rngs=nnx.Rngs(seed))

        def __call__(self, x):
            return nnx.relu(self.linear(x))

    first, second = Dense(0), Dense(1)
    fn = lambda x: shift(double(second(first(x))))  # noqa: E731
    model = to_onnx(fn, [("B", 4)])
    onnx.checker.check_model(model, full_check=True)
    assert [(n.op_type, n.domain) for n in model.graph.node] == [
        ("Dense", "jax2onnx.functions"), ("Dense", "jax2onnx.functions"), ("Doubler", "acme.blocks"),
        ("Shift", "jax2onnx.functions")]
    assert sorted((f.domain, f.name) for f in model.functions) == [
        ("acme.blocks", "Doubler"), ("jax2onnx.functions", "Dense"), ("jax2onnx.functions", "Shift")]
    assert {o.domain for o in model.opset_import} == {"", "acme.blocks", "jax2onnx.functions"}
    ok, message = allclose(fn, model, [np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)],
                           rtol=1e-5, atol=1e-6)
    assert ok, message


def test_onnx_function_redecorated_with_other_name_is_an_error():
    def f(x):
        return x

    decorated = onnx_function(name="A")(f)
    assert onnx_function(name="A")(decorated) is decorated
    with pytest.raises(ExportOptionError, match="already an onnx_function"):
        onnx_function(name="B")(decorated)


# ----- allclose_onnxruntime_web

ORT_WEB_VERSION = "1.30.0"


@pytest.fixture(scope="session")
def onnxruntime_web_dir():
    """onnxruntime-web from the npm registry, installed once per version into the temp folder (not the repo)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed to run onnxruntime-web (WebAssembly) and are not installed")
    target = Path(tempfile.gettempdir()) / f"jax2onnx-test-onnxruntime-web-{ORT_WEB_VERSION}"
    if not (target / "node_modules" / "onnxruntime-web" / "package.json").exists():
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(target),
                               f"onnxruntime-web@{ORT_WEB_VERSION}"], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.fail(f"npm install onnxruntime-web@{ORT_WEB_VERSION} failed: {done.stderr[-2000:]}")
    return target


def test_onnxruntime_web_runs_the_web_export_like_jax(tmp_path, onnxruntime_web_dir):
    net = ConvStack(nnx.Rngs(0))
    path = tmp_path / "net.web.onnx"
    to_onnx(net, [("B", 8, 8, 3)], return_mode="file", output_path=path, export_mode="web",
            inputs_as_nchw=[0], outputs_as_nchw=[0])
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype(np.float32)
    ok, message = allclose_onnxruntime_web(path, [x], rtol=1e-4, atol=1e-4, inputs_as_nchw=[0],
                                           onnxruntime_web_dir=onnxruntime_web_dir)
    assert ok and "vs ONNX Runtime CPU" in message, message
    ok, message = allclose_onnxruntime_web(path, [x], rtol=1e-4, atol=1e-4, inputs_as_nchw=[0], fn=net,
                                           outputs_as_nchw=[0], onnxruntime_web_dir=onnxruntime_web_dir)
    assert ok and f"onnxruntime-web {ORT_WEB_VERSION}" in message and "vs JAX" in message, message

    # Scalar model inputs (input_params) are left out: onnxruntime-web 1.30 returns shape (1,) where
    # the model (and ONNX Runtime CPU) give () once a 0-d tensor is fed.
    fn = lambda x, y: (jnp.cumsum(x, axis=0), (x > 0).sum(axis=1).astype(jnp.int32) + y)  # noqa: E731
    model = to_onnx(fn, [("B", 3), ("B",)], input_dtypes=[np.float32, np.int32])
    y = np.arange(4, dtype=np.int32)
    ok, message = allclose_onnxruntime_web(model, [np.random.default_rng(1).standard_normal((4, 3), np.float32), y],
                                           fn=fn, onnxruntime_web_dir=onnxruntime_web_dir)
    assert ok, message
    wrong = lambda x, y: (jnp.cumsum(x, axis=0) * 1.01, (x > 0).sum(axis=1).astype(jnp.int32) + y)  # noqa: E731
    ok, message = allclose_onnxruntime_web(model, [np.ones((4, 3), np.float32), y], fn=wrong,
                                           onnxruntime_web_dir=onnxruntime_web_dir)
    assert not ok and "NOT close" in message


def test_onnxruntime_web_reports_what_is_missing(tmp_path):
    model = to_onnx(lambda x: x + 1.0, [(2,)])
    ok, message = allclose_onnxruntime_web(model, [(2,)], node_command=str(tmp_path / "no-node"))
    assert not ok and "Node.js command not found" in message
    ok, message = allclose_onnxruntime_web(model, [(2,)], runner="chrome")
    assert not ok and "runner='node'" in message
