"""Keras's own ONNX export tests (shipped in the keras wheel), run unchanged on the JAX backend.

A suite nobody here wrote: on JAX, Keras's exporter calls ``jax2onnx.to_onnx``, so these cases say
whether Keras users' exports work. Keras itself skips its Bidirectional LSTM case on JAX; that model
is exported in tests/test_keras.py::test_bidirectional_lstm.
"""

import os

os.environ["KERAS_BACKEND"] = "jax"  # Keras picks its backend once, at import.

import keras  # noqa: E402
import pytest  # noqa: E402
from keras.src.export import onnx_test  # noqa: E402

from jax2onnx.api import MIN_OPSET  # noqa: E402
from jax2onnx.errors import ExportOptionError  # noqa: E402

assert keras.backend.backend() == "jax", "KERAS_BACKEND was set to another backend before this module loaded"


class TestKerasExportONNX(onnx_test.ExportONNXTest):
    @pytest.mark.xfail(MIN_OPSET > 17, raises=ExportOptionError, strict=True,
                       reason=f"jax2onnx accepts opsets from {MIN_OPSET}: opset 17 needs the decompositions below 18")
    def test_export_with_opset_version_17(self):
        super().test_export_with_opset_version_17()
