"""Clean-up passes: what they remove, with numbers still matching JAX."""

import jax
import numpy as np
import onnx
import onnx_ir as ir
import pytest

from jax2onnx import GraphPassError, allclose, passes, to_onnx


def test_transposes_between_two_nhwc_convs_cancel():
    kernel = np.random.default_rng(0).standard_normal((3, 3, 4, 4)).astype(np.float32)

    def two_convs(x):
        dn = ("NHWC", "HWIO", "NHWC")
        y = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=dn)
        return jax.lax.conv_general_dilated(y, kernel, (1, 1), "SAME", dimension_numbers=dn)

    model = to_onnx(two_convs, [("B", 8, 8, 4)])
    assert [n.op_type for n in model.graph.node] == ["Transpose", "Conv", "Conv", "Transpose"]
    x = np.random.default_rng(1).standard_normal((3, 8, 8, 4)).astype(np.float32)
    ok, message = allclose(two_convs, model, [x], rtol=1e-4, atol=1e-4)  # ORT sums the convs in another order
    assert ok, message


def test_two_transposes_compose_into_one():
    def twice(x):
        return jax.numpy.transpose(jax.numpy.transpose(x, (1, 2, 0)), (1, 0, 2))

    model = to_onnx(twice, [("B", 3, 4)])
    assert [n.op_type for n in model.graph.node] == ["Transpose"]
    ok, message = allclose(twice, model, [np.arange(24, dtype=np.float32).reshape(2, 3, 4)], rtol=0, atol=0)
    assert ok, message


def test_outputs_that_ignore_the_inputs_export():
    # Constant folding once crashed on these: the folded node produced the graph output.
    cases = [
        (lambda: jax.lax.iota(np.int32, 5), []),
        (lambda: jax.numpy.zeros((2, 3)), []),
        (lambda x: (jax.numpy.ones((3,)), x), [np.ones(3, np.float32)]),
        (lambda x: jax.lax.cond(x.sum() > 0, lambda: jax.numpy.ones(3), lambda: jax.numpy.zeros(3)),
         [np.ones(3, np.float32)]),
    ]
    for fn, args in cases:
        model = to_onnx(fn, [a.shape for a in args])
        onnx.checker.check_model(model, full_check=True)
        ok, message = allclose(fn, model, args, rtol=0, atol=0)
        assert ok, message


def test_a_failing_pass_is_a_typed_error_naming_the_pass():
    class Broken(ir.passes.InPlacePass):
        def call(self, model):
            raise RuntimeError("boom")

    model = to_onnx(lambda x: x + 1, [(3,)], return_mode="ir")
    with pytest.raises(GraphPassError, match="Broken.*boom"):
        passes.run_passes(model, [Broken()])


def test_a_tied_embedding_is_stored_once():
    from flax import nnx

    class Tied(nnx.Module):
        def __init__(self):
            self.embed = nnx.Embed(64, 32, rngs=nnx.Rngs(0))

        def __call__(self, tokens):
            return self.embed.attend(jax.numpy.tanh(self.embed(tokens)))

    model = Tied()
    proto = to_onnx(model, [("B", 5)], input_dtypes=[np.int32])
    weights = [i for i in proto.graph.initializer if i.data_type == onnx.TensorProto.FLOAT]
    assert [tuple(w.dims) for w in weights] == [(64, 32)], [(w.name, tuple(w.dims)) for w in weights]
    assert 64 * 32 * 4 < proto.ByteSize() < 64 * 32 * 4 + 2048  # the table's bytes once, plus the graph
    assert "Transpose" in [n.op_type for n in proto.graph.node]  # the head reads the table transposed
    tokens = np.random.default_rng(0).integers(0, 64, (3, 5)).astype(np.int32)
    ok, message = allclose(model, proto, [tokens], rtol=1e-5, atol=1e-6)
    assert ok, message


def test_equal_weights_are_stored_once_and_distinct_ones_kept():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((16, 16)).astype(np.float32), rng.standard_normal((16, 16)).astype(np.float32)
    a_copy = a.copy()

    def fn(x):
        return jax.numpy.tanh(x @ a) @ a_copy + x @ b

    proto = to_onnx(fn, [("B", 16)])
    assert sorted(tuple(i.dims) for i in proto.graph.initializer if i.data_type == onnx.TensorProto.FLOAT) == [
        (16, 16), (16, 16)]
    x = rng.standard_normal((2, 16)).astype(np.float32)
    ok, message = allclose(fn, proto, [x], rtol=1e-5, atol=1e-5)
    assert ok, message
