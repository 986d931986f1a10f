"""Flax NNX exports: graph shape and names of the quickstart MLP, and no leakage of the wrapping."""

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from flax import nnx

from jax2onnx import TraceError, allclose, to_onnx
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
    assert [n.name for n in onnx_model.graph.node] == ["linear1/Gemm", "bn/BatchNormalization", "Gelu", "linear2/Gemm"]
    modules = [{p.key: p.value for p in n.metadata_props}.get("jax2onnx.module") for n in onnx_model.graph.node]
    assert modules == ["linear1", "bn", None, "linear2"]
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

    with pytest.raises(TraceError, match="RuntimeError: user code failed") as info:
        to_onnx(broken, [("B", 3)])
    assert isinstance(info.value.__cause__, RuntimeError)
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


class FlaggedMLP(nnx.Module):
    """Dropout and BatchNorm switched by one flag that becomes a boolean graph input."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.linear = nnx.Linear(6, 8, rngs=rngs)
        self.dropout = nnx.Dropout(0.5, rngs=rngs)
        self.bn = nnx.BatchNorm(8, rngs=rngs)

    def __call__(self, x, deterministic):
        x = self.dropout(self.linear(x), deterministic=deterministic)
        return self.bn(x, use_running_average=deterministic)


def test_deterministic_flag_is_a_graph_input():
    model = _randomized(FlaggedMLP(rngs=nnx.Rngs(0)))
    onnx_model = to_onnx(model, [("B", 6)], input_params={"deterministic": True})
    flag = onnx_model.graph.input[1]
    assert flag.name == "deterministic" and flag.type.tensor_type.elem_type == onnx.TensorProto.BOOL
    assert [n.op_type for n in onnx_model.graph.node].count("Dropout") == 1
    x = np.random.default_rng(3).standard_normal((4, 6)).astype(np.float32)
    ok, message = allclose(model, onnx_model, [x], input_params={"deterministic": True}, rtol=1e-5, atol=1e-5)
    assert ok, message


def test_batchnorm_flag_selects_batch_statistics_at_run_time():
    bn = _randomized(nnx.BatchNorm(5, rngs=nnx.Rngs(0)))

    def fn(x, use_running_average):
        return bn(x, use_running_average=use_running_average)

    onnx_model = to_onnx(fn, [("B", 5)], input_params={"use_running_average": True})
    x = np.random.default_rng(4).standard_normal((7, 5)).astype(np.float32)
    for flag in (True, False):
        # E[x^2] - E[x]^2 over a small batch loses a few float32 digits, in JAX and ONNX Runtime alike.
        ok, message = allclose(fn, onnx_model, [x], input_params={"use_running_average": flag}, rtol=1e-4, atol=1e-4)
        assert ok, f"use_running_average={flag}: {message}"


def test_training_mode_export_leaves_the_model_state_alone():
    dropout = nnx.Dropout(0.5, rngs=nnx.Rngs(0))
    bn = nnx.BatchNorm(3, use_running_average=False, momentum=0.5, rngs=nnx.Rngs(0))
    # Training behaviour with the model's own key baked in: the explicit opt-in for a frozen mask.
    onnx_dropout = to_onnx(dropout, [("B", 6)], training="preserve", random_keys="constant")
    to_onnx(bn, [("B", 3)], training="preserve")
    assert int(dropout.rngs.count.get_value()) == 0
    np.testing.assert_array_equal(bn.mean.get_value(), np.zeros(3, np.float32))
    # The exported mask comes from the same key and counter as the next JAX call: bit-exact.
    x = np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32)
    ok, message = allclose(dropout, onnx_dropout, [x], rtol=0, atol=0, training="preserve")
    assert ok, message
