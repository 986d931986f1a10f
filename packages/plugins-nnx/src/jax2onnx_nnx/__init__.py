"""jax2onnx lowerings for Flax NNX modules and functions.

This module is what the ``jax2onnx.plugins`` entry point loads; it must stay cheap to import.
"""

from jax2onnx.plugin import PluginIndex

plugin_index = PluginIndex(
    distribution="jax2onnx-plugins-nnx",
    modules={
        "jax2onnx_nnx.linear": [
            "call:flax.nnx.Linear.__call__", "call:flax.nnx.Embed.__call__", "call:flax.nnx.Embed.attend",
            "call:flax.nnx.LinearGeneral.__call__", "call:flax.nnx.Einsum.__call__", "call:flax.nnx.PReLU.__call__",
        ],
        "jax2onnx_nnx.normalization": [
            "call:flax.nnx.BatchNorm.__call__", "call:flax.nnx.LayerNorm.__call__", "call:flax.nnx.RMSNorm.__call__",
            "call:flax.nnx.GroupNorm.__call__", "call:flax.nnx.InstanceNorm.__call__",
        ],
        "jax2onnx_nnx.conv": ["call:flax.nnx.Conv.__call__", "call:flax.nnx.ConvTranspose.__call__"],
        "jax2onnx_nnx.attention": ["call:flax.nnx.MultiHeadAttention.__call__"],
        "jax2onnx_nnx.recurrent": ["call:flax.nnx.RNN.__call__"],
        "jax2onnx_nnx.pooling": ["call:flax.nnx.avg_pool", "call:flax.nnx.max_pool", "call:flax.nnx.min_pool"],
        "jax2onnx_nnx.stochastic": ["call:flax.nnx.Dropout.__call__"],
        "jax2onnx_nnx.activations": [f"call:flax.nnx.{f}" for f in (
            "celu", "elu", "gelu", "glu", "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "leaky_relu",
            "log_sigmoid", "log_softmax", "logsumexp", "one_hot", "relu", "relu6", "selu", "soft_sign", "softmax",
            "softplus", "standardize")],
    },
    coverage_modules=["jax2onnx_nnx.models"],
)

