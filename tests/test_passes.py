"""Clean-up passes: what they remove, with numbers still matching JAX."""

import jax
import numpy as np

from jax2onnx import allclose, to_onnx


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
