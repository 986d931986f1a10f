"""eqx.nn.Linear, Embedding and PReLU as one matrix op, Gather and PRelu."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from jax2onnx.plugin import LoweringContext, Testcase, call_lowering, cast_all, in_module

from ._util import KEY, both_ways

_DOC = "https://docs.kidger.site/equinox/api/nn/linear/"


@call_lowering("equinox.nn.Linear.__call__", component="equinox.nn.Linear", onnx=["Gemm", "MatMul", "Add"],
               since="0.1.0", doc=_DOC, batched=("x",),
               testcases=[
                   *both_ways("eqx_linear", lambda: eqx.nn.Linear(3, 4, key=KEY), (3,),
                              plain_expect_ops=["MatMul", "Add"], vmap_expect_ops=["Gemm"]),
                   *both_ways("eqx_linear_no_bias", lambda: eqx.nn.Linear(3, 4, use_bias=False, key=KEY), (3,),
                              plain_expect_ops=["MatMul"], vmap_expect_ops=["Gemm"]),
                   Testcase("eqx_linear_scalar", factory=lambda: eqx.nn.Linear("scalar", 2, key=KEY), inputs=[()]),
               ])
def lower_linear(ctx: LoweringContext, self, x, key=None):
    if self.in_features == "scalar" or self.out_features == "scalar":
        return NotImplemented
    in_module(ctx, self.weight)
    x, weight, bias = cast_all(ctx, ctx.out_avals[0].dtype, x, self.weight, self.bias)
    if ctx.vmapped:
        return ctx.op.Gemm(x, weight, bias, transB=1) if bias is not None else ctx.op.Gemm(x, weight, transB=1)
    y = ctx.op.MatMul(weight, x)
    return ctx.op.Add(y, bias) if bias is not None else y


def _token_ids(rng, shapes):
    return [rng.integers(0, 10, size=shapes[0])]


@call_lowering("equinox.nn.Embedding.__call__", component="equinox.nn.Embedding", onnx=["Gather"], since="0.1.0",
               doc="https://docs.kidger.site/equinox/api/nn/embedding/", batched=("x",),
               # Ids must be in range: ONNX Runtime's Gather rejects others, where JAX clamps.
               testcases=both_ways("eqx_embedding", lambda: eqx.nn.Embedding(10, 4, key=KEY), (), dtypes=[np.int32],
                                   input_values=_token_ids, expect_ops=["Gather"]))
def lower_embedding(ctx: LoweringContext, self, x, key=None):
    in_module(ctx, self.weight)
    return ctx.op.Gather(self.weight, x, axis=0)


@call_lowering("equinox.nn.PReLU.__call__", component="equinox.nn.PReLU", onnx=["PRelu"], since="0.1.0",
               doc="https://docs.kidger.site/equinox/api/nn/activations/", batched=("x",),
               # ONNX Runtime has no float64 PRelu kernel (the float64 model is valid ONNX).
               testcases=[*both_ways("eqx_prelu", lambda: eqx.nn.PReLU(0.2), (6,), expect_ops=["PRelu"], x64=False),
                          *both_ways("eqx_prelu_channels", lambda: eqx.nn.PReLU(jnp.asarray(np.linspace(0.1, 0.4, 4))),
                                     (3, 4), expect_ops=["PRelu"], x64=False)])
def lower_prelu(ctx: LoweringContext, self, x):
    in_module(ctx, self.negative_slope)
    (slope,) = cast_all(ctx, ctx.out_avals[0].dtype, self.negative_slope)
    return ctx.op.PRelu(x, slope)
