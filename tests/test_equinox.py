"""Equinox exports: weights and nodes named after the module path, native ops per example and under
vmap, inference mode, and no leakage of the wrapping."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax2onnx import allclose, to_onnx

ORIGINAL_LINEAR_CALL = eqx.nn.Linear.__call__


class Block(eqx.Module):
    """Conv -> GroupNorm -> pool -> flatten -> MLP-like Sequential, called per example."""

    conv: eqx.nn.Conv2d
    norm: eqx.nn.GroupNorm
    pool: eqx.nn.MaxPool2d
    layers: eqx.nn.Sequential

    def __init__(self, key):
        k1, k2, k3 = jax.random.split(key, 3)
        self.conv = eqx.nn.Conv2d(3, 4, 3, padding=1, key=k1)
        self.norm = eqx.nn.GroupNorm(2, 4)
        self.pool = eqx.nn.MaxPool2d(2, 2)
        self.layers = eqx.nn.Sequential([eqx.nn.Linear(4 * 4 * 4, 8, key=k2), eqx.nn.Lambda(jax.nn.relu),
                                         eqx.nn.Dropout(0.5), eqx.nn.LayerNorm(8), eqx.nn.Linear(8, 2, key=k3)])

    def __call__(self, x, *, key=None):
        x = self.pool(self.norm(self.conv(x)))
        return self.layers(x.reshape(-1), key=key)


def _randomized(model):
    """Distinct parameter values, so no two initializers are merged as duplicates."""
    rng = np.random.default_rng(0)
    return jax.tree_util.tree_map(lambda v: jnp.asarray(rng.uniform(0.5, 1.5, v.shape), v.dtype)
                                  if eqx.is_inexact_array(v) else v, model)


def _node_modules(onnx_model):
    return [{p.key: p.value for p in n.metadata_props}.get("jax2onnx.module") for n in onnx_model.graph.node]


def test_vmapped_block_native_ops_and_module_path_names():
    model = eqx.nn.inference_mode(_randomized(Block(jax.random.PRNGKey(0))))
    onnx_model = to_onnx(jax.vmap(model), [("B", 3, 8, 8)], opset=23)
    assert [n.op_type for n in onnx_model.graph.node] == [
        "Conv", "Add", "GroupNormalization", "MaxPool", "Reshape", "Gemm", "Max", "LayerNormalization", "Gemm"]
    assert sorted(i.name for i in onnx_model.graph.initializer if "." in i.name) == sorted([
        "conv.weight", "conv.bias", "norm.weight", "norm.bias", "layers.layers.0.weight", "layers.layers.0.bias",
        "layers.layers.3.weight", "layers.layers.3.bias", "layers.layers.4.weight", "layers.layers.4.bias"])
    assert _node_modules(onnx_model) == [
        "conv", "conv", "norm", None, None, "layers.layers.0", None, "layers.layers.3", "layers.layers.4"]
    x = np.random.default_rng(1).standard_normal((3, 3, 8, 8)).astype(np.float32)
    ok, message = allclose(jax.vmap(model), onnx_model, [x], rtol=1e-4, atol=1e-5)
    assert ok, message


def test_per_example_call_keeps_native_ops():
    model = eqx.nn.inference_mode(_randomized(Block(jax.random.PRNGKey(1))))
    onnx_model = to_onnx(model, [(3, 8, 8)], opset=23)
    ops = [n.op_type for n in onnx_model.graph.node]
    for op in ("Conv", "GroupNormalization", "MaxPool", "LayerNormalization"):
        assert op in ops
    assert "Gemm" not in ops and ops.count("MatMul") == 2
    x = np.random.default_rng(2).standard_normal((3, 8, 8)).astype(np.float32)
    ok, message = allclose(model, onnx_model, [x], rtol=1e-4, atol=1e-5)
    assert ok, message


def test_training_and_inference_mode_both_export_and_match():
    model = Block(jax.random.PRNGKey(2))
    key = jax.random.key(3)

    def training(x):
        return jax.vmap(lambda xi, k: model(xi, key=k))(x, jax.random.split(key, x.shape[0]))

    inference = jax.vmap(eqx.nn.inference_mode(model))
    # A static batch of 5 matches no other axis, so where vmap put it stays clear (a batch of 4 would not).
    x = np.random.default_rng(3).standard_normal((5, 3, 8, 8)).astype(np.float32)
    for fn, dropout_ops in ((training, True), (inference, False)):
        onnx_model = to_onnx(fn, [(5, 3, 8, 8)], opset=23)
        ok, message = allclose(fn, onnx_model, [x], rtol=1e-4, atol=1e-5)
        assert ok, message
        ops = {n.op_type for n in onnx_model.graph.node}
        assert ("Where" in ops) is dropout_ops, ops
    assert not np.allclose(training(x), inference(x))


def test_wrapping_is_restored_and_grad_of_vmapped_linear_exports():
    model = eqx.nn.Linear(3, 4, key=jax.random.PRNGKey(0))
    fn = jax.grad(lambda v: jnp.sum(jnp.tanh(jax.vmap(model)(v))))
    onnx_model = to_onnx(fn, [("B", 3)])
    x = np.random.default_rng(4).standard_normal((5, 3)).astype(np.float32)
    ok, message = allclose(fn, onnx_model, [x], rtol=1e-5, atol=1e-6)
    assert ok, message
    assert eqx.nn.Linear.__call__ is ORIGINAL_LINEAR_CALL


@pytest.mark.parametrize("in_axes", [0, 1])
def test_vmap_over_a_later_axis_moves_the_batch_to_the_front(in_axes):
    model = eqx.nn.LayerNorm(6)
    fn = jax.vmap(model, in_axes=in_axes)
    spec = ("B", 6) if in_axes == 0 else (6, "B")
    onnx_model = to_onnx(fn, [spec], opset=23)
    assert "LayerNormalization" in [n.op_type for n in onnx_model.graph.node]
    x = np.random.default_rng(5).standard_normal((3, 6) if in_axes == 0 else (6, 3)).astype(np.float32)
    ok, message = allclose(fn, onnx_model, [x], rtol=1e-5, atol=1e-6)
    assert ok, message


def test_repeated_exports_of_a_filter_jitted_model_keep_native_ops():
    model = eqx.nn.Linear(3, 2, key=jax.random.PRNGKey(0))
    fn = jax.vmap(eqx.filter_jit(lambda x: jnp.tanh(model(x))))
    first = to_onnx(fn, [("B", 3)])
    second = to_onnx(fn, [("B", 3)], opset=18)
    for onnx_model in (first, second):
        assert [n.op_type for n in onnx_model.graph.node] == ["Gemm", "Tanh"]
