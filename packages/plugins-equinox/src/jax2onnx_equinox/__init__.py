"""jax2onnx lowerings for Equinox modules and primitives.

This module is what the ``jax2onnx.plugins`` entry point loads; it must stay cheap to import.
"""

from jax2onnx.plugin import PluginIndex

plugin_index = PluginIndex(
    distribution="jax2onnx-plugins-equinox",
    modules={
        "jax2onnx_equinox.conv": ["call:equinox.nn.Conv.__call__"],
        "jax2onnx_equinox.pooling": [
            "call:equinox.nn.Pool.__call__", "call:equinox.nn.AvgPool1d.__call__", "call:equinox.nn.AvgPool2d.__call__",
            "call:equinox.nn.AvgPool3d.__call__",
        ],
        "jax2onnx_equinox.normalization": [
            "call:equinox.nn.LayerNorm.__call__", "call:equinox.nn.RMSNorm.__call__",
            "call:equinox.nn.GroupNorm.__call__", "call:equinox.nn.BatchNorm.__call__",
        ],
        "jax2onnx_equinox.linear": [
            "call:equinox.nn.Linear.__call__", "call:equinox.nn.Embedding.__call__", "call:equinox.nn.PReLU.__call__",
        ],
        "jax2onnx_equinox.primitives": [
            "unvmap_any", "unvmap_all", "unvmap_max", "nondifferentiable_backward", "nonbatchable",
            "select_if_vmap", "maybe_set", "vprim", "call:equinox._errors._error",
        ],
    },
    coverage_modules=["jax2onnx_equinox.models"],
)
