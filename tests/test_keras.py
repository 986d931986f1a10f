"""Keras 3 on JAX as a client: ``model.export(path, format="onnx")`` goes through ``jax2onnx.to_onnx``.

Every test exports with Keras's own exporter, checks the file (onnx.checker full check, strict shape
inference), runs it in ONNX Runtime and compares with ``model(x)`` at two sizes of each dynamic dim.
"""

import os

os.environ["KERAS_BACKEND"] = "jax"  # Keras picks its backend once, at import.

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import pytest  # noqa: E402
from keras import layers  # noqa: E402

from jax2onnx.api import MIN_OPSET  # noqa: E402
from jax2onnx.errors import ExportOptionError  # noqa: E402

assert keras.backend.backend() == "jax", "KERAS_BACKEND was set to another backend before this module loaded"

RTOL = ATOL = 1e-5


def _export(model, tmp_path, **options) -> tuple[onnx.ModelProto, ort.InferenceSession]:
    path = str(tmp_path / "model.onnx")
    model.export(path, format="onnx", verbose=False, **options)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True, data_prop=True)
    return proto, ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def _check(session, model, inputs, *, rtol=RTOL, atol=ATOL, call=None) -> None:
    """Feeds the flattened inputs in graph-input order and compares every output with Keras."""
    flat = keras.tree.flatten(inputs)
    feeds = {meta.name: np.asarray(x) for meta, x in zip(session.get_inputs(), flat, strict=True)}
    got = session.run(None, feeds)
    # One compiled call instead of Keras's op-by-op eager dispatch, which compiles every op per shape.
    reference = jax.jit(call or (lambda inp: model(inp, training=False)))
    want = [np.asarray(w) for w in keras.tree.flatten(reference(inputs))]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def _normal(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _mlp_layers():
    return [layers.Dense(16, activation="relu"), layers.BatchNormalization(), layers.Dense(1, activation="sigmoid")]


def _warm_bn(model):
    """One training step's worth of batch statistics, so inference BN is not the identity."""
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.moving_mean.assign(np.linspace(-0.5, 0.5, layer.moving_mean.shape[0]).astype(np.float32))
            layer.moving_variance.assign(np.linspace(0.5, 2.0, layer.moving_variance.shape[0]).astype(np.float32))


class Stack(keras.Model):
    def __init__(self, stack):
        super().__init__()
        self.stack = stack

    def call(self, x):
        for layer in self.stack:
            x = layer(x)
        return x


def _build(kind):
    if kind == "sequential":
        return keras.Sequential([keras.Input((10,)), *_mlp_layers()])
    if kind == "functional":
        inp = keras.Input((10,))
        out = inp
        for layer in _mlp_layers():
            out = layer(out)
        return keras.Model(inp, out)
    return Stack(_mlp_layers())


@pytest.mark.parametrize("kind", ["sequential", "functional", "subclassed"])
def test_dense_models_with_dynamic_batch(kind, tmp_path):
    model = _build(kind)
    model(_normal(2, 10))
    _warm_bn(model)
    _, session = _export(model, tmp_path)
    assert isinstance(session.get_inputs()[0].shape[0], str)
    for batch in (3, 7):
        _check(session, model, _normal(batch, 10, seed=batch))


class TupleAdd(keras.Model):
    def call(self, inputs):
        x, y = inputs
        return x * 2.0 + y


class ListAdd(keras.Model):
    def call(self, inputs):
        return inputs[0] - 3.0 * inputs[1]


class DictAdd(keras.Model):
    def call(self, inputs):
        return keras.ops.concatenate([inputs["a"], inputs["b"] * inputs["a"]], axis=-1)


@pytest.mark.parametrize("struct", ["tuple", "list", "dict"])
def test_structured_inputs(struct, tmp_path):
    def make(batch):
        x, y = _normal(batch, 6, seed=batch), _normal(batch, 6, seed=batch + 1)
        return {"tuple": (x, y), "list": [x, y], "dict": {"a": x, "b": y}}[struct]

    model = {"tuple": TupleAdd, "list": ListAdd, "dict": DictAdd}[struct]()
    model(make(2))
    _, session = _export(model, tmp_path)
    assert len(session.get_inputs()) == 2
    for batch in (2, 5):
        _check(session, model, make(batch))


def test_functional_dict_inputs_keep_their_names(tmp_path):
    a, b = keras.Input((4,), name="left"), keras.Input((3,), name="right")
    out = layers.Dense(2)(layers.Concatenate()([layers.Dense(5)(a), b]))
    model = keras.Model({"left": a, "right": b}, out)
    model({"left": _normal(1, 4), "right": _normal(1, 3)})
    proto, session = _export(model, tmp_path)
    assert [i.name for i in proto.graph.input] == ["left", "right"]
    for batch in (1, 4):
        inputs = {"left": _normal(batch, 4, seed=batch), "right": _normal(batch, 3, seed=batch + 9)}
        _check(session, model, inputs)


class TwoArgs(keras.Model):
    """Keras records one shape per argument of ``build``, which is how it finds both inputs."""

    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(4)

    def build(self, x_shape, y_shape):
        self.dense.build(x_shape)

    def call(self, x, y):
        return self.dense(x) * y


def test_several_positional_inputs(tmp_path):
    model = TwoArgs()
    model(_normal(2, 3), _normal(2, 4))
    _, session = _export(model, tmp_path)
    for batch in (2, 6):
        x, y = _normal(batch, 3, seed=batch), _normal(batch, 4, seed=batch + 1)
        _check(session, model, [x, y], call=lambda inputs: model(*inputs))


def _conv_net(api):
    stack = [layers.Conv2D(8, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
             layers.Conv2D(6, 3, strides=2, padding="valid"), layers.AveragePooling2D(2, padding="same"),
             layers.GlobalAveragePooling2D(), layers.Dense(5, activation="softmax")]
    if api == "sequential":
        return keras.Sequential([keras.Input((None, None, 3)), *stack])
    inp = out = keras.Input((None, None, 3), name="image")
    for layer in stack:
        out = layer(out)
    return keras.Model(inp, out)


@pytest.mark.parametrize("api", ["sequential", "functional"])
def test_conv_net_with_dynamic_batch_height_width(api, tmp_path):
    model = _conv_net(api)
    model(_normal(1, 16, 16, 3))
    _, session = _export(model, tmp_path)
    shape = session.get_inputs()[0].shape
    assert all(isinstance(d, str) for d in shape[:3]) and shape[3] == 3
    for batch, h, w in ((2, 16, 20), (3, 23, 12)):
        _check(session, model, _normal(batch, h, w, 3, seed=h))


def test_conv_net_with_static_spatial_dims(tmp_path):
    model = keras.Sequential([keras.Input((12, 12, 3)), layers.Conv2D(4, 3), layers.MaxPooling2D(),
                              layers.Flatten(), layers.Dense(3)])
    model(_normal(1, 12, 12, 3))
    _, session = _export(model, tmp_path)
    assert session.get_inputs()[0].shape[1:] == [12, 12, 3]
    for batch in (1, 4):
        _check(session, model, _normal(batch, 12, 12, 3, seed=batch))


def test_input_names_from_input_signature(tmp_path):
    model = _build("sequential")
    model(_normal(2, 10))
    spec = keras.InputSpec(name="features", shape=(None, 10), dtype="float32")
    proto, session = _export(model, tmp_path, input_signature=[spec])
    assert [i.name for i in proto.graph.input] == ["features"]
    for batch in (2, 5):
        _check(session, model, _normal(batch, 10, seed=batch))


def test_input_names_from_functional_inputs(tmp_path):
    text, image = keras.Input((None, 8), name="text"), keras.Input((None, None, 3), name="image")
    pooled_text = layers.GlobalAveragePooling1D()(layers.Dense(6, activation="relu")(text))
    pooled_image = layers.GlobalMaxPooling2D()(layers.Conv2D(6, 1)(image))
    model = keras.Model([text, image], layers.Dense(2)(layers.Concatenate()([pooled_text, pooled_image])))
    model([_normal(1, 5, 8), _normal(1, 7, 9, 3)])
    proto, session = _export(model, tmp_path)
    assert [i.name for i in proto.graph.input] == ["text", "image"]
    for batch, seq, h, w in ((1, 5, 7, 9), (3, 11, 10, 4)):
        _check(session, model, [_normal(batch, seq, 8, seed=seq), _normal(batch, h, w, 3, seed=h)])


@pytest.mark.xfail(MIN_OPSET > 17, raises=ExportOptionError, strict=True,
                   reason=f"jax2onnx accepts opsets from {MIN_OPSET}: opset 17 needs the decompositions below 18")
def test_opset_version_17(tmp_path):
    model = _build("functional")
    model(_normal(2, 10))
    _warm_bn(model)
    proto, session = _export(model, tmp_path, opset_version=17)
    assert {o.domain: o.version for o in proto.opset_import}[""] == 17
    for batch in (2, 5):
        _check(session, model, _normal(batch, 10, seed=batch))


def test_bidirectional_lstm(tmp_path):
    """The case Keras's own test skips on JAX as unsupported."""
    inp = keras.Input((4, 10))
    x = layers.Bidirectional(layers.LSTM(10, return_sequences=True), merge_mode="sum")(inp)
    out = layers.Bidirectional(layers.LSTM(10, return_sequences=True), merge_mode="concat")(x)
    model = keras.Model(inp, out)
    model(_normal(3, 4, 10))
    _, session = _export(model, tmp_path)
    for batch in (3, 6):
        _check(session, model, _normal(batch, 4, 10, seed=batch))


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "SimpleRNN"])
def test_recurrent_layers_with_dynamic_sequence_length(cell, tmp_path):
    rnn = getattr(layers, cell)
    model = keras.Sequential([keras.Input((None, 5)), rnn(8, return_sequences=True), rnn(4)])
    model(_normal(2, 6, 5))
    _, session = _export(model, tmp_path)
    for batch, steps in ((2, 6), (3, 9)):
        _check(session, model, _normal(batch, steps, 5, seed=steps))


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_embedding_with_int_ids(dtype, tmp_path):
    inp = keras.Input((None,), dtype=dtype, name="ids")
    x = layers.Embedding(50, 8)(inp)
    x = layers.LayerNormalization()(x)
    model = keras.Model(inp, layers.Dense(3)(layers.GlobalAveragePooling1D()(x)))
    model(np.zeros((1, 2), dtype))
    proto, session = _export(model, tmp_path)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    rng = np.random.default_rng(0)
    for batch, steps in ((2, 7), (4, 3)):
        _check(session, model, rng.integers(0, 50, (batch, steps)).astype(dtype))


def test_norms_and_dropout_in_inference(tmp_path):
    model = keras.Sequential([
        keras.Input((None, 12)), layers.Dense(12), layers.LayerNormalization(), layers.Dropout(0.5),
        layers.BatchNormalization(), layers.Dense(4, activation="gelu")])
    model(_normal(2, 3, 12))
    _warm_bn(model)
    _, session = _export(model, tmp_path)
    for batch, steps in ((2, 3), (5, 8)):
        _check(session, model, _normal(batch, steps, 12, seed=steps))


def test_multi_head_attention(tmp_path):
    inp = keras.Input((None, 16))
    attended = layers.MultiHeadAttention(num_heads=4, key_dim=8)(inp, inp)
    x = layers.LayerNormalization()(inp + attended)
    model = keras.Model(inp, layers.Dense(16, activation="relu")(x))
    model(_normal(1, 3, 16))
    _, session = _export(model, tmp_path)
    for batch, steps in ((2, 5), (3, 9)):
        _check(session, model, _normal(batch, steps, 16, seed=steps))


def test_causal_multi_head_cross_attention(tmp_path):
    query, value = keras.Input((None, 8), name="query"), keras.Input((None, 8), name="value")
    out = layers.MultiHeadAttention(num_heads=2, key_dim=4)(query, value, use_causal_mask=True)
    model = keras.Model([query, value], out)
    model([_normal(1, 4, 8), _normal(1, 5, 8)])
    _, session = _export(model, tmp_path)
    for batch, steps in ((1, 4), (2, 6)):
        _check(session, model, [_normal(batch, steps, 8, seed=steps), _normal(batch, steps + 1, 8, seed=7)])


class MinimalCell(layers.Layer):
    """A user-written RNN cell: Keras runs it through its own scan, as it does LSTMCell."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units))
        self.recurrent = self.add_weight(shape=(self.units, self.units))

    def call(self, x, states):
        h = keras.ops.tanh(keras.ops.matmul(x, self.kernel) + keras.ops.matmul(states[0], self.recurrent))
        return h, [h]


def test_custom_rnn_cell_and_stacked_cells(tmp_path):
    inp = keras.Input((None, 4))
    x = layers.RNN(MinimalCell(6), return_sequences=True)(inp)
    out = layers.RNN([layers.LSTMCell(5), layers.GRUCell(3)])(x)
    model = keras.Model(inp, out)
    model(_normal(1, 3, 4))
    _, session = _export(model, tmp_path)
    for batch, steps in ((2, 5), (3, 8)):
        _check(session, model, _normal(batch, steps, 4, seed=steps))


def test_channels_first_transposed_conv_and_resizing(tmp_path):
    model = keras.Sequential([
        keras.Input((3, None, None)),
        layers.Conv2D(4, 3, data_format="channels_first"), layers.BatchNormalization(axis=1),
        layers.Conv2DTranspose(4, 3, strides=2, padding="same", data_format="channels_first"),
        layers.Resizing(6, 7, data_format="channels_first"),
        layers.Conv2D(2, 1, data_format="channels_first")])
    model(_normal(1, 3, 8, 8))
    _warm_bn(model)
    _, session = _export(model, tmp_path)
    for batch, h, w in ((2, 9, 10), (1, 6, 13)):
        _check(session, model, _normal(batch, 3, h, w, seed=h))


def test_int8_quantized_dense(tmp_path):
    model = keras.Sequential([keras.Input((8,)), layers.Dense(16, activation="relu"), layers.Dense(4)])
    model(_normal(1, 8))
    model.quantize("int8")
    proto, session = _export(model, tmp_path)
    assert any(init.data_type == onnx.TensorProto.INT8 for init in proto.graph.initializer)
    for batch in (2, 5):
        _check(session, model, _normal(batch, 8, seed=batch))
