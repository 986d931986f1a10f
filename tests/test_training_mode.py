"""The training option: inference behaviour by default, the model's own mode or training on request."""

import logging

import jax
import numpy as np
import onnxruntime as ort
import pytest
from flax import nnx

from jax2onnx import ExportOptionError, to_onnx
from jax2onnx_examples.mlp import MLP  # the quickstart's model, verbatim


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _x(batch, width=30):
    return np.random.default_rng(batch).standard_normal((batch, width)).astype(np.float32)


def test_quickstart_without_eval_exports_the_inference_graph_and_leaves_the_model_training(caplog):
    my_callable = MLP(din=30, dmid=20, dout=10, rngs=nnx.Rngs(0))
    with caplog.at_level(logging.WARNING, logger="jax2onnx"):
        model = to_onnx(my_callable, [("B", 30)])
    assert [n.op_type for n in model.graph.node] == ["Gemm", "BatchNormalization", "Gelu", "Gemm"]
    messages = [r.getMessage() for r in caplog.records if r.name == "jax2onnx"]
    assert len(messages) == 1 and "inference mode" in messages[0] and "training='preserve'" in messages[0]
    assert my_callable.dropout.deterministic is False and my_callable.bn.use_running_average is False
    reference = nnx.clone(my_callable)
    reference.eval()
    for batch in (2, 7):
        got = _session(model).run(None, {"in_0": _x(batch)})[0]
        np.testing.assert_allclose(got, np.asarray(reference(_x(batch))), rtol=1e-5, atol=1e-6)
    assert int(my_callable.dropout.rngs.count.get_value()) == 0


def test_an_eval_model_exports_without_a_message(caplog):
    my_callable = MLP(din=30, dmid=20, dout=10, rngs=nnx.Rngs(0))
    my_callable.eval()
    with caplog.at_level(logging.WARNING, logger="jax2onnx"):
        to_onnx(my_callable, [("B", 30)])
    assert not [r for r in caplog.records if r.name == "jax2onnx"]


def _run_with_key(model, session, x, key):
    key_input = [i.name for i in session.get_inputs()][-1]
    return session.run(None, {"in_0": x, key_input: np.asarray(jax.random.key_data(key))})[0]


@pytest.mark.parametrize("training", ["preserve", "train"])
def test_training_graph_takes_the_dropout_key_as_an_input(training):
    my_callable = MLP(din=30, dmid=20, dout=10, rngs=nnx.Rngs(0))
    if training == "train":
        my_callable.eval()  # "train" switches an eval model back to training behaviour
    model = to_onnx(my_callable, [("B", 30)], training=training)
    key_input = model.graph.input[-1]
    assert key_input.name == "dropout_rngs_key"
    assert [d.dim_value for d in key_input.type.tensor_type.shape.dim] == [2]
    session = _session(model)
    for batch in (2, 7):
        x = _x(batch)
        outputs = []
        for seed in (1, 2):
            key = jax.random.key(seed)
            got = _run_with_key(model, session, x, key)
            reference = nnx.clone(my_callable)
            reference.train()
            reference.dropout.rngs.key.set_value(key)
            # Batch statistics over a small batch lose a few float32 digits, in JAX and ONNX Runtime alike.
            np.testing.assert_allclose(got, np.asarray(reference(x)), rtol=1e-4, atol=1e-5)
            outputs.append(got)
        assert not np.allclose(outputs[0], outputs[1])
    assert my_callable.dropout.deterministic is (training == "train")


def test_runtime_flags_win_over_the_default():
    class Block(nnx.Module):
        def __init__(self, rngs):
            self.linear = nnx.Linear(6, 6, rngs=rngs)
            self.dropout = nnx.Dropout(0.5, rngs=rngs)

        def __call__(self, x, deterministic):
            return self.dropout(self.linear(x), deterministic=deterministic)

    block = Block(nnx.Rngs(0))
    model = to_onnx(block, [("B", 6)], input_params={"deterministic": True})
    assert [i.name for i in model.graph.input][:2] == ["in_0", "deterministic"]
    assert "Dropout" in [n.op_type for n in model.graph.node]
    x = _x(4, 6)
    got = _session(model).run(None, {"in_0": x, "deterministic": np.array(True)})[0]
    np.testing.assert_allclose(got, np.asarray(block(x, deterministic=True)), rtol=1e-5, atol=1e-6)
    dropped = _session(model).run(None, {"in_0": x, "deterministic": np.array(False)})[0]
    assert (dropped == 0).any() and not np.allclose(dropped, got)


def test_multi_head_attention_dropout_is_off_by_default():
    attention = nnx.MultiHeadAttention(num_heads=2, in_features=8, qkv_features=8, dropout_rate=0.5,
                                       decode=False, deterministic=False, rngs=nnx.Rngs(0))
    model = to_onnx(attention, [("B", 5, 8)])
    assert "Dropout" not in [n.op_type for n in model.graph.node]
    reference = nnx.clone(attention)
    reference.eval()
    for batch in (2, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 5, 8)).astype(np.float32)
        got = _session(model).run(None, {"in_0": x})[0]
        # Attention's softmax and matmuls accumulate in another order in ONNX Runtime.
        np.testing.assert_allclose(got, np.asarray(reference(x)), rtol=1e-4, atol=1e-5)
    assert attention.deterministic is False


def test_unknown_training_mode_is_an_option_error():
    with pytest.raises(ExportOptionError, match="training='inference'"):
        to_onnx(MLP(30, 20, 10, rngs=nnx.Rngs(0)), [("B", 30)], training="inference")


def test_equinox_modules_export_in_inference_mode():
    eqx = pytest.importorskip("equinox")

    class Net(eqx.Module):
        linear: eqx.nn.Linear
        dropout: eqx.nn.Dropout

        def __init__(self, key):
            self.linear = eqx.nn.Linear(6, 4, key=key)
            self.dropout = eqx.nn.Dropout(0.5)

        def __call__(self, x, key=None):
            return self.dropout(jax.vmap(self.linear)(x), key=key)

    net = Net(jax.random.key(0))
    model = to_onnx(net, [("B", 6)])
    for batch in (2, 5):
        x = _x(batch, 6)
        got = _session(model).run(None, {"in_0": x})[0]
        want = eqx.nn.inference_mode(net)(x)
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-6)
    assert net.dropout.inference is False


def test_equinox_batch_norm_uses_running_statistics_by_default():
    eqx = pytest.importorskip("equinox")
    bn, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(4, axis_name="batch", mode="ema")

    def fn(model, x):
        return jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)[0]

    call = eqx.Partial(fn, bn)
    model = to_onnx(call, [("B", 4)])
    for batch in (2, 5):
        x = _x(batch, 4)
        got = _session(model).run(None, {"in_0": x})[0]
        np.testing.assert_allclose(got, np.asarray(fn(eqx.nn.inference_mode(bn), x)), rtol=1e-5, atol=1e-6)
        assert not np.allclose(got, np.asarray(fn(bn, x)), atol=1e-3)  # batch statistics differ
    assert call.args[0].inference is False
