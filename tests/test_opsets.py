"""Opsets 13 to 26: older forms below an op's current form, and a typed error where none exists."""

import jax.numpy as jnp
import numpy as np
import pytest

from jax2onnx import ExportOptionError, OpsetError, to_onnx
from jax2onnx.api import MAX_OPSET, MIN_OPSET
from jax2onnx.testing import opset_floors


def scatter_add(x, i, u):
    return x.at[i].add(u)


def test_accepted_opsets():
    assert (MIN_OPSET, MAX_OPSET) == (13, 26)
    for opset in (12, 27):
        with pytest.raises(ExportOptionError, match="from 13 to 26"):
            to_onnx(jnp.sin, [(2,)], opset=opset)


def test_op_without_older_form_names_op_opset_and_line():
    specs = [(5, 3), (4,), (4, 3)]
    dtypes = [np.float32, np.int32, np.float32]
    with pytest.raises(OpsetError) as info:
        to_onnx(scatter_add, specs, opset=15, input_dtypes=dtypes)
    message = str(info.value)
    assert "reduction='add'" in message and "needs opset 16" in message and "targets opset 15" in message
    assert "test_opsets.py" in message and "opset=16" in message
    assert info.value.needed == 16
    to_onnx(scatter_add, specs, opset=16, input_dtypes=dtypes)


def test_reduce_axes_are_an_attribute_before_18():
    model = to_onnx(lambda x: jnp.max(x, axis=1), [("B", 4)], opset=17)
    (node,) = model.graph.node
    assert (node.op_type, list(node.input)[1:], [list(a.ints) for a in node.attribute if a.name == "axes"]) == \
        ("ReduceMax", [], [[1]])
    model = to_onnx(lambda x: jnp.max(x, axis=1), [("B", 4)], opset=18)
    assert len(model.graph.node[0].input) == 2


def test_floors_give_reasons():
    for name, opset, reason in opset_floors():
        assert MIN_OPSET < opset <= MAX_OPSET and reason, name
