"""Example models for jax2onnx; each is a testcase of the testing kit and a row of the examples table."""

from jax2onnx.plugin import PluginIndex

plugin_index = PluginIndex(
    distribution="jax2onnx-examples",
    modules={},
    coverage_modules=["jax2onnx_examples.mlp", "jax2onnx_examples.cnn", "jax2onnx_examples.transformer"],
)
