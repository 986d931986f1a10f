"""jax2onnx lowerings for jax.lax primitives and named jax.nn calls.

This module is what the ``jax2onnx.plugins`` entry point loads; it must stay cheap to import.
Each rule module is imported only when a conversion meets one of the targets it lists.
"""

from jax2onnx.plugin import PluginIndex

plugin_index = PluginIndex(
    distribution="jax2onnx-plugins-lax",
    modules={
        "jax2onnx_lax.elementwise": [
            "add", "sub", "mul", "div", "max", "min", "pow", "neg", "exp", "log", "tanh",
            "logistic", "sqrt", "rsqrt", "abs", "integer_pow", "erf", "stop_gradient", "copy",
            "convert_element_type",
        ],
        "jax2onnx_lax.shapes": [
            "reshape", "broadcast_in_dim", "squeeze", "transpose", "concatenate", "pad", "slice", "rev", "split",
            "iota",
        ],
        "jax2onnx_lax.indexing": [],
        "jax2onnx_lax.reductions": [
            "reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "reduce_and", "reduce_or", "reduce_xor",
            "argmax", "argmin",
        ],
        "jax2onnx_lax.sorting": [],
        "jax2onnx_lax.windows": [],
        "jax2onnx_lax.linalg": ["dot_general"],
        "jax2onnx_lax.conv": [],
        "jax2onnx_lax.control_flow": ["cond", "scan", "while", "optimization_barrier", "name"],
        "jax2onnx_lax.random": [
            "threefry2x32", "random_bits", "random_split", "random_fold_in", "random_seed", "random_wrap",
            "random_unwrap",
        ],
        "jax2onnx_lax.nn": [
            *(f"call:jax.nn.{f}" for f in (
                "relu", "softplus", "soft_sign", "elu", "celu", "selu", "leaky_relu", "hard_sigmoid", "hard_swish",
                "hard_silu", "mish", "gelu", "relu6", "hard_tanh", "log_sigmoid", "softmax", "log_softmax", "glu",
                "one_hot", "logsumexp", "standardize", "dot_product_attention")),
            "call:jax.scipy.special.logsumexp",
        ],
    },
    coverage_modules=[],
)
