"""onnx_function: calls kept as ONNX functions, one per distinct body, weights still initializers."""

import jax.numpy as jnp
import numpy as np
import onnx
from flax import nnx

from jax2onnx import allclose, onnx_function, to_onnx


@onnx_function
def residual_tanh(x, w):
    return jnp.tanh(x @ w) + x


@onnx_function
class Block(nnx.Module):
    def __init__(self, dim: int, *, rngs: nnx.Rngs):
        self.linear = nnx.Linear(dim, dim, rngs=rngs)

    def __call__(self, x):
        return jnp.tanh(self.linear(x)) * 2.0


class Net(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.first = Block(8, rngs=rngs)
        self.second = Block(8, rngs=rngs)

    def __call__(self, x):
        return self.second(self.first(x))


def test_function_calls_share_one_function_and_match_jax():
    w = np.eye(4, dtype=np.float32) * 0.5
    fn = lambda x: residual_tanh(residual_tanh(x, w), w)  # noqa: E731
    model = to_onnx(fn, [("B", 4)])
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node] == [model.functions[0].name] * 2
    assert len(model.functions) == 1
    for batch in (2, 5):
        ok, message = allclose(fn, model, [np.random.default_rng(batch).standard_normal((batch, 4), np.float32)])
        assert ok, message


def test_module_class_keeps_weights_as_initializers():
    net = Net(nnx.Rngs(0))
    model = to_onnx(net, [("B", 8)])
    onnx.checker.check_model(model, full_check=True)
    assert len(model.functions) == 1 and len(model.graph.node) == 2
    assert {"first.linear.kernel", "second.linear.kernel"} <= {t.name for t in model.graph.initializer}
    assert all(not n.op_type == "Constant" or n.attribute[0].t.dims == [] for f in model.functions for n in f.node)
    ok, message = allclose(net, model, [np.ones((3, 8), np.float32)], rtol=1e-5, atol=1e-6)
    assert ok, message


def test_outside_an_export_nothing_changes():
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(residual_tanh(x, np.eye(4, dtype=np.float32)), np.tanh(x) + x, rtol=1e-6)
