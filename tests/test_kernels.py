"""Ops without an ONNX Runtime kernel for a dtype compute in a wider one (core's kernels table)."""

import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jax2onnx import allclose, kernels, to_onnx

INDICES = np.array([0, 2, 2, 4], np.int32)

FUNCTIONS = {
    "scatter_add": lambda x, v: x.at[INDICES].add(v),
    "scatter_mul": lambda x, v: x.at[INDICES].multiply(v),
    "scatter_min": lambda x, v: x.at[INDICES].min(v),
    "scatter_max": lambda x, v: x.at[INDICES].max(v),
    "scatter_drop": lambda x, v: x.at[INDICES + 3].add(v, mode="drop"),
    "sort": lambda x, v: jnp.sort(x * v[0]),
    "top_k": lambda x, v: lax.top_k(x, 3)[0] * v[:3],
    "pad": lambda x, v: lax.pad(x, v[0], ((1, 2, 1),)),
    "dynamic_update_slice": lambda x, v: lax.dynamic_update_slice(x, v, (1,)),
}


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_narrow_floats_run_where_ort_has_no_kernel(name, dtype):
    fn = FUNCTIONS[name]

    def through(x, v):  # ONNX Runtime feeds float32; the function runs on the narrow dtype
        return fn(jnp.asarray(x, dtype), jnp.asarray(v, dtype)).astype(jnp.float32)

    model = to_onnx(through, [(6,), (4,)])
    rng = np.random.default_rng(0)
    # Small integers: exact in float16 and bfloat16, so sums agree however they are ordered.
    x, v = (rng.integers(-4, 5, s).astype(np.float32) for s in ((6,), (4,)))
    ok, message = allclose(through, model, [x, v], rtol=0, atol=0)
    assert ok, message


def test_kernel_dtype_widens_only_through_exact_round_trips():
    assert kernels.kernel_dtype("ScatterND:add", "float16") == "float32"
    assert kernels.kernel_dtype("ScatterND", "float16") == "float16"
    assert kernels.kernel_dtype("Pad", "int16") == "int32"
    assert kernels.kernel_dtype("BitShift", "int32") is None
    assert "bfloat16" in kernels.supported_dtypes("TopK")
