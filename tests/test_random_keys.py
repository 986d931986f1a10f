"""Typed PRNG keys at the graph boundary, and the key setups that cannot export bit-exactly."""

import jax
import numpy as np
import onnxruntime as ort
import pytest

from jax2onnx import Jax2OnnxError, to_onnx


def test_typed_key_input_and_output_are_their_uint32_data():
    key = jax.random.key(11)
    model = to_onnx(lambda k: jax.random.split(k, 3), [jax.ShapeDtypeStruct(key.shape, key.dtype)])
    types = [(v.type.tensor_type.elem_type, [d.dim_value for d in v.type.tensor_type.shape.dim])
             for v in (*model.graph.input, *model.graph.output)]
    assert types == [(12, [2]), (12, [3, 2])]  # uint32
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got, = session.run(None, {model.graph.input[0].name: np.asarray(jax.random.key_data(key))})
    np.testing.assert_array_equal(got, jax.random.key_data(jax.random.split(key, 3)))


def test_non_threefry_keys_are_refused():
    with pytest.raises(Jax2OnnxError, match="key<rbg>.*threefry2x32"):
        to_onnx(lambda: jax.random.bits(jax.random.key(0, impl="rbg"), (3,)), [])


def test_non_partitionable_threefry_is_refused():
    with jax.threefry_partitionable(False), pytest.raises(Jax2OnnxError, match="jax_threefry_partitionable"):
        to_onnx(lambda k: jax.random.bits(k, (3,)), [(2,)], input_dtypes=[np.uint32])
