"""Flax NNX exports: graph shape and names of the quickstart MLP, and no leakage of the wrapping."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jax2onnx import allclose, to_onnx
from jax2onnx_nnx.models import mlp

ORIGINAL_LINEAR_CALL = nnx.Linear.__call__


def _randomized(model: nnx.Module) -> nnx.Module:
    """Distinct parameter values, so no two initializers are merged as duplicates."""
    state = nnx.state(model, nnx.Any(nnx.Param, nnx.BatchStat))
    rng = np.random.default_rng(0)
    nnx.update(model, jax.tree.map(lambda v: jnp.asarray(rng.uniform(0.5, 1.5, v.shape), v.dtype), state))
    return model


def test_mlp_graph_and_initializer_names():
    model = _randomized(mlp())
    onnx_model = to_onnx(model, [("B", 30)])
    assert [n.op_type for n in onnx_model.graph.node] == ["Gemm", "BatchNormalization", "Gelu", "Gemm"]
    assert sorted(i.name for i in onnx_model.graph.initializer) == sorted([
        "linear1.kernel", "linear1.bias", "bn.scale", "bn.bias", "bn.mean", "bn.var",
        "linear2.kernel", "linear2.bias"])
    x = np.random.default_rng(1).standard_normal((3, 30)).astype(np.float32)
    ok, message = allclose(model, onnx_model, [x], rtol=1e-5, atol=1e-5)
    assert ok, message


def test_wrapping_is_restored_after_export_and_failed_export():
    model = nnx.Linear(3, 4, rngs=nnx.Rngs(0))
    to_onnx(model, [("B", 3)])
    assert nnx.Linear.__call__ is ORIGINAL_LINEAR_CALL

    def broken(x):
        model(x)
        raise RuntimeError("user code failed")

    with pytest.raises(RuntimeError, match="user code failed"):
        to_onnx(broken, [("B", 3)])
    assert nnx.Linear.__call__ is ORIGINAL_LINEAR_CALL


@pytest.mark.parametrize("transform", ["vmap", "grad"])
def test_transforms_of_linear_inside_export(transform):
    model = nnx.Linear(3, 4, rngs=nnx.Rngs(0))
    if transform == "vmap":
        fn = jax.vmap(model)
    else:
        fn = jax.grad(lambda v: jnp.sum(jnp.tanh(model(v))))

    onnx_model = to_onnx(fn, [("B", 3)])
    x = np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32)
    ok, message = allclose(fn, onnx_model, [x], rtol=1e-5, atol=1e-6)
    assert ok, message
    assert nnx.Linear.__call__ is ORIGINAL_LINEAR_CALL
