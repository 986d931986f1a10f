"""The public API: input specs, symbolic dims, options, errors, saving."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import onnx_ir as ir
import onnxruntime as ort
import pytest

import jax2onnx
from jax2onnx import (
    ExportOptionError,
    InputSpecError,
    Jax2OnnxError,
    TraceError,
    UnsupportedPrimitiveError,
    allclose,
    save_onnx,
    to_onnx,
)


def _run(model, *inputs):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: np.asarray(x) for i, x in zip(session.get_inputs(), inputs)})


def test_symbolic_dim_is_shared_across_inputs_and_kept_symbolic():
    model = to_onnx(lambda x, y: x + y, [("B", 3), ("B", 3)])
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input]
    assert dims == [["B", 3], ["B", 3]]
    for batch in (2, 7):
        x = np.ones((batch, 3), np.float32)
        np.testing.assert_array_equal(_run(model, x, x)[0], 2 * x)


@pytest.mark.parametrize("spec, sizes", [("3*B", [6, 15]), ("B+1", [3, 6]), ("B//2", [1, 3])])
def test_dimension_expressions_lower_to_shape_arithmetic(spec, sizes):
    def fn(x):
        n = x.shape[0]
        if spec == "3*B":
            return jnp.reshape(jnp.tile(x, (1, 3)), (3 * n, 2))
        if spec == "B+1":
            return jnp.concatenate([x, x[:1]], axis=0)
        return jnp.reshape(x[: (n // 2) * 2], (n // 2, 4))

    model = to_onnx(fn, [("B", 2)])
    assert not model.graph.output[0].type.tensor_type.shape.dim[0].HasField("dim_value")
    for batch, size in zip((2, 5) if spec != "B//2" else (3, 7), sizes):
        x = np.arange(batch * 2, dtype=np.float32).reshape(batch, 2)
        got = _run(model, x)[0]
        assert got.shape[0] == size
        np.testing.assert_array_equal(got, np.asarray(fn(x)))


def test_shape_dtype_struct_and_concrete_array_inputs():
    spec = jax.ShapeDtypeStruct((4, 3), jnp.int32)
    model = to_onnx(lambda x, y: x * 2 + y.astype(jnp.int32), [spec, np.zeros((4, 3), np.int16)])
    assert [i.type.tensor_type.elem_type for i in model.graph.input] == [onnx.TensorProto.INT32, onnx.TensorProto.INT16]


def test_pytree_inputs_and_outputs_flatten_in_tree_order():
    def fn(inputs):
        return {"sum": inputs["a"] + inputs["b"], "diff": inputs["a"] - inputs["b"]}

    model = to_onnx(fn, [{"a": ("B", 2), "b": ("B", 2)}])
    a, b = np.ones((3, 2), np.float32), np.full((3, 2), 2, np.float32)
    diff, total = _run(model, a, b)  # dict keys in sorted order: diff, sum
    np.testing.assert_array_equal(diff, a - b)
    np.testing.assert_array_equal(total, a + b)


def test_input_params_become_graph_inputs():
    def fn(x, *, scale_up):
        return jnp.where(scale_up, x * 10, x)

    model = to_onnx(fn, [("B", 2)], input_params={"scale_up": True})
    assert [i.name for i in model.graph.input] == ["in_0", "scale_up"]
    x = np.ones((2, 2), np.float32)
    np.testing.assert_array_equal(_run(model, x, np.array(True))[0], x * 10)
    np.testing.assert_array_equal(_run(model, x, np.array(False))[0], x)


def test_names_ir_version_and_opset():
    model = to_onnx(lambda x: jnp.exp(x), [(2,)], input_names=["features"], output_names=["y"], opset=18,
                    model_name="expo")
    assert model.ir_version == 10
    assert [o.version for o in model.opset_import if o.domain == ""] == [18]
    assert model.graph.name == "expo"
    assert [i.name for i in model.graph.input] == ["features"] and [o.name for o in model.graph.output] == ["y"]


def test_return_modes(tmp_path):
    assert isinstance(to_onnx(jnp.sin, [(3,)], return_mode="ir"), ir.Model)
    path = tmp_path / "m.onnx"
    assert to_onnx(lambda x: jnp.sin(x), [(3,)], return_mode="file", output_path=path) == os.fspath(path)
    onnx.checker.check_model(str(path), full_check=True)


def test_double_precision():
    model = to_onnx(lambda x: x * 1.5, [("B", 2)], enable_double_precision=True)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    x = np.array([[1e-200, 2.0]], np.float64)
    np.testing.assert_array_equal(_run(model, x)[0], x * 1.5)


@pytest.mark.parametrize("dtype", [np.int64, np.uint64, np.float64])
def test_64_bit_input_without_double_precision_keeps_its_type(dtype):
    """JAX traces it at 32 bits; the graph input keeps the declared type (as Keras declares int64 ids)."""
    table = jnp.arange(40.0, dtype=jnp.float32).reshape(20, 2)
    fn = lambda ids: table[ids.astype(jnp.int32)] * ids[..., None]  # noqa: E731
    model = to_onnx(fn, [jax.ShapeDtypeStruct(("B", 3), dtype)])
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    assert [n.op_type for n in model.graph.node].count("Cast") >= 1
    for batch in (1, 4):
        ids = np.arange(3 * batch, dtype=dtype).reshape(batch, 3) % 20
        np.testing.assert_array_equal(_run(model, ids)[0], np.asarray(fn(jnp.asarray(ids))))


def test_allclose_reports_ok_and_error():
    fn = lambda x: jnp.tanh(x) * 2  # noqa: E731
    model = to_onnx(fn, [("B", 4)])
    ok, message = allclose(fn, model, [np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)])
    assert ok and "max abs error" in message
    ok, message = allclose(lambda x: jnp.tanh(x) * 3, model, [np.ones((2, 4), np.float32)])
    assert not ok and "NOT close" in message


def test_complex_inputs_and_outputs_are_real_arrays_with_a_parts_axis():
    fn = lambda x: jnp.fft.fft(x) * x  # noqa: E731
    model = to_onnx(fn, [("B", 4)], input_dtypes=[np.complex64])
    for value in (model.graph.input[0], model.graph.output[0]):
        dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        assert (value.type.tensor_type.elem_type, dims) == (onnx.TensorProto.FLOAT, ["B", 4, 2])
    x = (np.arange(12) + 1j * np.arange(12)[::-1]).reshape(3, 4).astype(np.complex64)
    ok, message = allclose(fn, model, [x])
    assert ok, message
    ok, message = allclose(lambda x: jnp.fft.fft(x) * jnp.conj(x), model, [x])
    assert not ok and "NOT close" in message


def test_complex_operand_without_rule_names_primitive_and_dtype():
    # A complex cumulative log-sum-exp has no rule (complex logarithms of sums are not written yet).
    with pytest.raises(jax2onnx.UnsupportedDtypeError, match="cumlogsumexp at .*complex64"):
        to_onnx(lambda x: jax.lax.cumlogsumexp(x), [(3,)], input_dtypes=[np.complex64])


def test_unsupported_primitive_names_primitive_file_and_line():
    def uses_unknown(x):
        return jnp.sin(x) + unknown_primitive_call(x)

    with pytest.raises(UnsupportedPrimitiveError) as info:
        to_onnx(uses_unknown, [(3,)])
    message = str(info.value)
    assert "'acme_unknown'" in message
    assert f"{__file__}:" in message and "unknown_primitive_call" in message
    assert "jax2onnx-plugins-lax" in message


_unknown_p = jax.extend.core.Primitive("acme_unknown")
_unknown_p.def_abstract_eval(lambda x: x)


def unknown_primitive_call(x):
    return _unknown_p.bind(x)


@pytest.mark.parametrize("options, needle", [
    ({"opset": 12}, "opset=12"),
    ({"return_mode": "bytes"}, "return_mode"),
    ({"return_mode": "file"}, "output_path"),
    ({"input_names": ["a", "b"]}, "input_names"),
])
def test_bad_options_are_clear_errors(options, needle):
    with pytest.raises(ExportOptionError, match=needle):
        to_onnx(lambda x: x + 1, [(3,)], **options)


@pytest.mark.parametrize("spec", [("B", None), "B", (2.5,)])
def test_bad_input_specs_are_clear_errors(spec):
    with pytest.raises(InputSpecError, match="input 0"):
        to_onnx(lambda x: x + 1, [spec])


def test_wrong_arity_names_the_problem():
    with pytest.raises(InputSpecError, match=r"\(x, y\) cannot be called with 1 input.*missing a required argument"):
        to_onnx(lambda x, y: x + y, [(3,)])


def test_wrong_input_shape_names_the_inputs_and_the_users_line():
    weights = np.ones((30, 4), np.float32)

    def model(x):
        return x @ weights

    with pytest.raises(TraceError) as info:
        to_onnx(model, [("B", 31)])
    message = str(info.value)
    assert "float32[B, 31]" in message and f"{__file__}:" in message and "(model)" in message


def test_unwritable_path_is_a_clear_error(tmp_path):
    with pytest.raises(ExportOptionError, match="does not exist or is not writable"):
        save_onnx(lambda x: x + 1, [(3,)], tmp_path / "missing" / "m.onnx")


def test_failed_export_keeps_the_previous_file(tmp_path):
    path = tmp_path / "m.onnx"
    save_onnx(lambda x: x + 1, [(3,)], path)
    before = path.read_bytes()
    with pytest.raises(Jax2OnnxError):
        save_onnx(unknown_primitive_call, [(3,)], path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]


def test_external_data_is_written_beside_the_model(tmp_path):
    weights = np.arange(4096, dtype=np.float32).reshape(64, 64)
    path = tmp_path / "big.onnx"
    save_onnx(lambda x: x @ weights, [("B", 64)], path, external_data=True)
    assert (tmp_path / "big.onnx.data").stat().st_size == weights.nbytes
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.ones((2, 64), np.float32)
    np.testing.assert_allclose(session.run(None, {"in_0": x})[0], x @ weights, rtol=1e-6)


def test_identical_constants_are_stored_once():
    table = np.arange(12, dtype=np.float32).reshape(3, 4)
    copy = table.copy()
    model = to_onnx(lambda x: x @ table + x @ copy, [("B", 3)])
    assert sum(1 for t in model.graph.initializer if list(t.dims) == [3, 4]) == 1


def test_version_is_exposed():
    assert jax2onnx.__version__


@pytest.mark.parametrize("make_spec", [
    lambda shape: jax.ShapeDtypeStruct(shape, jnp.float32),
    # A ShapedArray cannot hold str dims: it takes JAX's own symbolic dims.
    lambda shape: jax.core.ShapedArray(jax.export.symbolic_shape(",".join(map(str, shape))), jnp.float32),
], ids=["ShapeDtypeStruct", "ShapedArray"])
def test_abstract_specs_with_named_dims_are_symbolic(make_spec):
    # Keras's exporter passes ShapeDtypeStruct(("batch", 10), float32): the name is a symbolic dim.
    model = to_onnx(lambda x, y: x @ y.T, [make_spec(("batch", 10)), make_spec(("batch", 10))])
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input]
    assert dims == [["batch", 10], ["batch", 10]]
    for batch in (2, 7):
        x = np.random.default_rng(batch).standard_normal((batch, 10)).astype(np.float32)
        np.testing.assert_allclose(_run(model, x, x)[0], x @ x.T, rtol=1e-5, atol=1e-5)


def test_abstract_spec_with_int_dims_keeps_dtype():
    model = to_onnx(lambda x: x * 2, [jax.core.ShapedArray((2, 3), jnp.int32)])
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT32
    np.testing.assert_array_equal(_run(model, np.ones((2, 3), np.int32))[0], 2 * np.ones((2, 3), np.int32))


def _mode(path):
    return oct(os.stat(path).st_mode & 0o777)


@pytest.mark.parametrize("external", [False, True])
def test_saved_files_get_the_umask_mode_and_replaced_files_keep_theirs(tmp_path, external):
    path = tmp_path / "m.onnx"
    weights = np.ones((8, 8), np.float32)
    old = os.umask(0o022)
    try:
        save_onnx(lambda x: x @ weights, [("B", 8)], path, external_data=external)
        written = [path, tmp_path / "m.onnx.data"] if external else [path]
        assert [_mode(p) for p in written] == ["0o644"] * len(written)
        for p in written:
            os.chmod(p, 0o640)
        save_onnx(lambda x: x @ weights + 1, [("B", 8)], path, external_data=external)
        assert [_mode(p) for p in written] == ["0o640"] * len(written)
    finally:
        os.umask(old)
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in written)
