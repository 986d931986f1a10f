"""The verification report: per-output errors with where they occur, and the first diverging node."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from jax2onnx import allclose, to_onnx
from jax2onnx.diagnose import first_divergence
from jax2onnx.plugin import PluginIndex
from jax2onnx.registry import _extra, add_index, refresh

FIXTURES = Path(__file__).parent / "fixtures"


def model(x, w):
    h = x @ w  # equation 0
    h = jnp.exp(h * 0.1)
    h = jnp.tanh(h)  # the wrong lowering starts here
    return jnp.sum(h, axis=-1), h * 2.0


@pytest.fixture
def wrong_tanh(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    index = PluginIndex("wrong-tanh-fixture", {"wrong_tanh": ["tanh"]}, priority=100)
    add_index(index)
    yield
    _extra.remove(index)
    refresh()


def test_report_gives_dtype_shape_errors_and_where():
    rng = np.random.default_rng(0)
    x, w = rng.random((4, 3), np.float32), rng.random((3, 5), np.float32)
    ok, message = allclose(model, to_onnx(model, [("B", 3), (3, 5)]), [x, w])
    assert ok
    first, second = message.split("; ")
    assert first.startswith("output 0: float32[4], max abs error ") and "max rel error" in first and " at [" in first
    assert second.startswith("output 1: float32[4, 5]")


def test_compare_intermediates_names_the_first_diverging_node(wrong_tanh):
    rng = np.random.default_rng(0)
    x, w = rng.random((4, 3), np.float32), rng.random((3, 5), np.float32)
    onnx_model = to_onnx(model, [("B", 3), (3, 5)])
    assert "Sigmoid" in [n.op_type for n in onnx_model.graph.node]
    ok, message = allclose(model, onnx_model, [x, w])
    assert not ok and "NOT close" in message and "first divergence" not in message
    ok, message = allclose(model, onnx_model, [x, w], compare_intermediates=True)
    assert not ok
    report = message.split("; ")[-1]
    assert report.startswith("first divergence at equation ")
    assert "'tanh' at " in report and "test_diagnose.py:" in report and "(model)" in report
    assert "Sigmoid node" in report and "max abs error" in report


def test_no_divergence_in_a_correct_export():
    rng = np.random.default_rng(1)
    x, w = rng.random((2, 3), np.float32), rng.random((3, 5), np.float32)
    assert first_divergence(model, [x, w], {}, rtol=1e-5, atol=1e-6) is None
