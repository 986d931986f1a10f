"""jax2onnx lowerings for jax.lax primitives and named jax.nn calls.

This module is what the ``jax2onnx.plugins`` entry point loads; it must stay cheap to import.
Each rule module is imported only when a conversion meets one of the targets it lists.
"""

from jax2onnx.plugin import PluginIndex, has_lax_primitive

plugin_index = PluginIndex(
    distribution="jax2onnx-plugins-lax",
    modules={
        "jax2onnx_lax.arithmetic": [
            "abs", "neg", "sign", "floor", "ceil", "round", "is_finite", "square", "one_minus_square", "integer_pow",
            "add", "add_any", "sub", "mul", "div", "rem", "pow", "max", "min", "clamp", "select_n", "eq", "ne", "lt",
            "le", "gt", "ge", "and", "or", "not", "xor", "convert_element_type", "copy", "stop_gradient", "device_put",
        ],
        "jax2onnx_lax.transcendental": [
            "exp", "exp2", "expm1", "log", "log1p", "sqrt", "rsqrt", "cbrt", "logistic", "sin",
            "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "atan2", "erf",
            "erfc", "bessel_i0e", "bessel_i1e", *(["log2"] if has_lax_primitive("log2") else []),
        ],
        "jax2onnx_lax.bits": [
            "shift_left", "shift_right_logical", "shift_right_arithmetic", "population_count", "clz",
            "bitcast_convert_type", "nextafter", "reduce_precision", "mulhi", "eq_to", "lt_to", "le_to",
        ],
        "jax2onnx_lax.special": [
            "erf_inv", "lgamma", "digamma", "igamma", "igammac", "igamma_grad_a", "regularized_incomplete_beta", "zeta",
            "polygamma",
        ],
        "jax2onnx_lax.shapes": [
            "reshape", "broadcast_in_dim", "squeeze", "transpose", "concatenate", "pad", "slice", "rev", "split",
            "iota", "dim_as_value", "stack", "unstack", "tile",
        ],
        "jax2onnx_lax.indexing": [
            "gather", "dynamic_slice", "dynamic_update_slice", "scatter", "scatter-add", "scatter-sub",
            "scatter-mul", "scatter-min", "scatter-max",
        ],
        "jax2onnx_lax.reductions": [
            "reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "reduce_and", "reduce_or", "reduce_xor",
            "argmax", "argmin", "reduce",
        ],
        "jax2onnx_lax.sorting": ["sort", "top_k", "approx_top_k"],
        "jax2onnx_lax.windows": [
            "cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp", "reduce_window_sum", "reduce_window_max",
            "reduce_window_min", "reduce_window", "select_and_scatter_add", "select_and_gather_add",
        ],
        "jax2onnx_lax.linalg": ["dot_general"],
        "jax2onnx_lax.decompositions": [
            "cholesky", "lu", "lu_pivots_to_permutation", "qr", "geqrf", "householder_product", "eigh", "svd",
            "tridiagonal",
            *(f"complex:{p}" for p in ("cholesky", "lu", "qr", "householder_product", "eigh", "svd")),
        ],
        "jax2onnx_lax.solves": ["triangular_solve", "tridiagonal_solve", "custom_linear_solve",
                                "complex:triangular_solve"],
        "jax2onnx_lax.conv": ["conv_general_dilated"],
        "jax2onnx_lax.control_flow": ["cond", "scan", "while", "optimization_barrier", "name", "platform_index"],
        "jax2onnx_lax.random": [
            "threefry2x32", "random_bits", "random_split", "random_fold_in", "random_seed", "random_wrap",
            "random_unwrap", "random_clone", "random_gamma", "iota_2x32_shape",
        ],
        "jax2onnx_lax.bit_generators": ["rng_bit_generator"],
        "jax2onnx_lax.nn": [
            *(f"call:jax.nn.{f}" for f in (
                "relu", "softplus", "soft_sign", "elu", "celu", "selu", "leaky_relu", "hard_sigmoid", "hard_swish",
                "hard_silu", "mish", "gelu", "relu6", "hard_tanh", "log_sigmoid", "softmax", "log_softmax", "glu",
                "one_hot", "logsumexp", "standardize", "dot_product_attention")),
            "call:jax.scipy.special.logsumexp",
        ],
        "jax2onnx_lax.numpy": ["call:jax.numpy.tril", "call:jax.numpy.triu"],
        "jax2onnx_lax.complex": [
            *(f"complex:{p}" for p in (
                "real", "imag", "complex", "conj", "convert_element_type", "mul", "div", "integer_pow", "square",
                "abs", "exp", "eq", "ne", "dot_general", "max", "min", "pow", "sin", "cos", "tan", "sinh", "cosh",
                "tanh", "asin", "acos", "atan", "asinh", "acosh", "atanh", "log", "log1p", "expm1", "sqrt", "rsqrt",
                "logistic", "sign", "conv_general_dilated", "exp2", *(["log2"] if has_lax_primitive("log2") else []))),
        ],
        "jax2onnx_lax.complex_arrays": [
            *(f"complex:{p}" for p in (
                "iota", "device_put", "bitcast_convert_type", "reduce_prod", "reduce_max", "reduce_min", "reduce",
                "cumprod", "cummax", "cummin", "reduce_window_sum", "reduce_window_max", "reduce_window_min",
                "reduce_window", "sort", "scatter-mul", "scatter-max", "scatter-min")),
        ],
        "jax2onnx_lax.fft": ["complex:fft"],
        "jax2onnx_lax.eig": ["complex:eig"],
    },
    coverage_modules=[],
)
