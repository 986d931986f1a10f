"""jax2onnx lowerings for Flax NNX modules and functions.

This module is what the ``jax2onnx.plugins`` entry point loads; it must stay cheap to import.
"""

from jax2onnx.plugin import PluginIndex

plugin_index = PluginIndex(
    distribution="jax2onnx-plugins-nnx",
    modules={},
)
