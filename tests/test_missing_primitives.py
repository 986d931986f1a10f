"""An export that meets primitives without a lowering names all of them at once, with counts and lines."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from jax.extend.core import Primitive

from jax2onnx import UnsupportedPrimitiveError, to_onnx


def _primitive(name: str) -> Primitive:
    prim = Primitive(name)
    prim.def_abstract_eval(lambda x: jax.core.ShapedArray(x.shape, x.dtype))
    prim.def_impl(lambda x: x)
    return prim


FROB, WIBBLE = _primitive("frobnicate_test"), _primitive("wibble_test")


def model(x):
    y = FROB.bind(x) + FROB.bind(x * 2)
    carry, _ = jax.lax.scan(lambda c, v: (c + WIBBLE.bind(v), c), jnp.zeros(()), x)
    return jnp.tanh(y) + carry


def test_every_missing_primitive_is_listed_with_counts_and_lines():
    with pytest.raises(UnsupportedPrimitiveError) as info:
        to_onnx(model, [(3,)])
    err = info.value
    assert err.primitive == "frobnicate_test"
    assert set(err.missing) == {"frobnicate_test", "wibble_test"}
    assert len(err.missing["frobnicate_test"]) == 2 and len(err.missing["wibble_test"]) == 1
    text = str(err)
    assert "frobnicate_test x2" in text and "wibble_test x1" in text  # found inside the scan body too
    assert "test_missing_primitives.py:" in text  # the user's lines
    assert "jax2onnx-plugins-lax" in text  # the packages searched


def test_a_single_missing_primitive_keeps_the_short_message():
    with pytest.raises(UnsupportedPrimitiveError) as info:
        to_onnx(lambda x: WIBBLE.bind(x), [(3,)])
    assert "Every primitive" not in str(info.value)
    assert info.value.missing == {"wibble_test": [info.value.source]}
