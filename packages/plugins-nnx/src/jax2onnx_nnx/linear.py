"""nnx.Linear as one Gemm (rank-2 input) or MatMul + Add."""

from __future__ import annotations

import jax
from flax import nnx

from jax2onnx.plugin import Testcase, call_lowering

from ._util import cast_all, value_of

_LINEAR_DOC = "https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/linear.html#flax.nnx.Linear"


def _is_plain(module: nnx.Module) -> bool:
    """Only the stock dot_general and dtype promotion have a known ONNX equivalent."""
    return (module.dot_general is jax.lax.dot_general and module.promote_dtype is nnx.nn.dtypes.promote_dtype
            and module.preferred_element_type is None)


@call_lowering("flax.nnx.Linear.__call__", component="flax.nnx.Linear", onnx=["Gemm", "MatMul", "Add"],
               since="0.1.0", doc=_LINEAR_DOC,
               testcases=[
                   Testcase("linear_2d", factory=lambda: nnx.Linear(3, 4, rngs=nnx.Rngs(0)),
                            inputs=[("B", 3)], expect_ops=["Gemm"]),
                   Testcase("linear_no_bias", factory=lambda: nnx.Linear(3, 4, use_bias=False, rngs=nnx.Rngs(0)),
                            inputs=[("B", 3)], expect_ops=["Gemm"]),
                   Testcase("linear_3d", factory=lambda: nnx.Linear(3, 4, rngs=nnx.Rngs(0)),
                            inputs=[("B", 5, 3)], expect_ops=["MatMul", "Add"]),
                   Testcase("linear_4d_no_bias", factory=lambda: nnx.Linear(3, 4, use_bias=False, rngs=nnx.Rngs(0)),
                            inputs=[("B", 2, 5, 3)], expect_ops=["MatMul"]),
               ])
def lower_linear(ctx, self, inputs, out_sharding=None):
    if not _is_plain(self):
        return NotImplemented
    x, kernel, bias = cast_all(ctx, ctx.out_avals[0].dtype, inputs, value_of(self.kernel), value_of(self.bias))
    if len(inputs.shape) == 2:
        return ctx.op.Gemm(x, kernel, bias) if bias is not None else ctx.op.Gemm(x, kernel)
    y = ctx.op.MatMul(x, kernel)
    return ctx.op.Add(y, bias) if bias is not None else y
