"""Named jax.nn calls lowered to native ONNX ops."""

from __future__ import annotations

import jax

from jax2onnx.plugin import Testcase, call_lowering


@call_lowering("jax.nn.gelu", onnx=["Gelu"], since="0.1.0",
               doc="https://docs.jax.dev/en/latest/_autosummary/jax.nn.gelu.html",
               testcases=[Testcase("gelu_tanh", fn=lambda x: jax.nn.gelu(x), inputs=[("B", 8)], expect_ops=["Gelu"]),
                          Testcase("gelu_exact", fn=lambda x: jax.nn.gelu(x, approximate=False), inputs=[("B", 8)])])
def lower_gelu(ctx, x, approximate=True):
    if ctx.opset < 20:
        return NotImplemented
    return ctx.op.Gelu(x, approximate="tanh" if approximate else "none")
