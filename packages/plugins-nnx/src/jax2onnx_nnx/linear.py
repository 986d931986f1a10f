"""nnx.Linear and its relatives (LinearGeneral, Einsum, Embed, PReLU) as one matrix op each."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jax2onnx.plugin import LoweringContext, Testcase, call_lowering, cast_all, in_module

from ._util import ops_apart_from_casts, typed, value_of

_LINEAR_DOC = "https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/linear.html#flax.nnx.Linear"


def _is_plain(module: Any) -> bool:
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
def lower_linear(ctx: LoweringContext, self, inputs, out_sharding=None):
    if not _is_plain(self):
        return NotImplemented
    in_module(ctx, value_of(self.kernel))
    rank = len(inputs.shape)
    x, kernel, bias = cast_all(ctx, ctx.out_avals[0].dtype, inputs, value_of(self.kernel), value_of(self.bias))
    if rank == 2:
        return ctx.op.Gemm(x, kernel, bias) if bias is not None else ctx.op.Gemm(x, kernel)
    y = ctx.op.MatMul(x, kernel)
    return ctx.op.Add(y, bias) if bias is not None else y


def _token_ids(rng, shapes):
    return [rng.integers(0, 10, size=shapes[0])]


@call_lowering("flax.nnx.Embed.__call__", component="flax.nnx.Embed", onnx=["Gather"], since="0.1.0",
               doc=_LINEAR_DOC.replace("Linear", "Embed"),
               testcases=[Testcase("embed", factory=lambda: nnx.Embed(10, 4, rngs=nnx.Rngs(0)), inputs=[("B", 5)],
                                   input_dtypes=[np.int32], input_values=_token_ids, expect_ops=["Gather"]),
                          Testcase("embed_int64_ids", factory=lambda: nnx.Embed(10, 3, rngs=nnx.Rngs(0)),
                                   inputs=[("B",)], input_dtypes=[np.int64], input_values=_token_ids,
                                   # int64 ids are int64 in JAX only in 64-bit mode (else a Cast to int32).
                                   x64="only", expect_ops=["Gather"])])
def lower_embed(ctx: LoweringContext, self, inputs, out_sharding=None):
    # Out-of-range ids give NaN in JAX but are an error in ONNX Runtime's Gather.
    if self.num_embeddings == 1 or self.promote_dtype is not nnx.nn.dtypes.promote_dtype:
        return NotImplemented
    in_module(ctx, value_of(self.embedding))
    (embedding,) = cast_all(ctx, ctx.out_avals[0].dtype, value_of(self.embedding))
    return ctx.op.Gather(embedding, inputs, axis=0)


def _attend(embed: nnx.Embed):
    return lambda query: embed.attend(query)


@call_lowering("flax.nnx.Embed.attend", component="flax.nnx.Embed.attend", onnx=["Gemm", "MatMul", "Transpose"],
               since="0.1.0", doc=_LINEAR_DOC.replace("Linear", "Embed.attend"),
               testcases=[Testcase("embed_attend", factory=lambda: _attend(nnx.Embed(10, 4, rngs=nnx.Rngs(0))),
                                   inputs=[("B", 4)], check_model=ops_apart_from_casts("Gemm")),
                          Testcase("embed_attend_3d", factory=lambda: _attend(nnx.Embed(10, 4, rngs=nnx.Rngs(0))),
                                   inputs=[("B", 3, 4)], check_model=ops_apart_from_casts("MatMul"))])
def lower_embed_attend(ctx: LoweringContext, self, query, out_sharding=None):
    if self.promote_dtype is not nnx.nn.dtypes.promote_dtype:
        return NotImplemented
    in_module(ctx, value_of(self.embedding))
    rank = len(query.shape)
    query, embedding = cast_all(ctx, ctx.out_avals[0].dtype, query, value_of(self.embedding))
    if rank == 2:
        return ctx.op.Gemm(query, embedding, transB=1)
    return ctx.op.MatMul(query, ctx.op.Transpose(embedding, perm=[1, 0]))


def is_plain_linear_general(self: nnx.LinearGeneral) -> bool:
    """The stock dot_general and dtype promotion, which a MatMul expresses."""
    return (self.dot_general is None and self.dot_general_cls is None and self.preferred_element_type is None
            and self.promote_dtype is nnx.nn.dtypes.promote_dtype)


def _trailing_contraction(self, x) -> bool:
    """Contracts the last input axes, in order, with no batch axes: a flattened MatMul."""
    rank = len(x.shape)
    axes = [a % rank for a in ((self.axis,) if isinstance(self.axis, int) else self.axis)]
    return not self.batch_axis and axes == list(range(rank - len(axes), rank))


@call_lowering("flax.nnx.LinearGeneral.__call__", component="flax.nnx.LinearGeneral",
               onnx=["MatMul", "Add", "Reshape"], since="0.1.0", doc=_LINEAR_DOC.replace("Linear", "LinearGeneral"),
               testcases=[
                   Testcase("linear_general_heads", factory=lambda: nnx.LinearGeneral(6, (2, 3), rngs=nnx.Rngs(0)),
                            inputs=[("B", 5, 6)], expect_ops=["MatMul", "Add", "Reshape"]),
                   Testcase("linear_general_merge_heads",
                            factory=lambda: nnx.LinearGeneral((2, 3), 4, axis=(-2, -1), use_bias=False,
                                                              rngs=nnx.Rngs(0)),
                            inputs=[("B", 5, 2, 3)], expect_ops=["Reshape", "MatMul"]),
                   Testcase("linear_general_plain", factory=lambda: nnx.LinearGeneral(6, 4, rngs=nnx.Rngs(0)),
                            inputs=[("B", 6)], expect_ops=["MatMul", "Add"]),
                   Testcase("linear_general_batch_axis",
                            factory=lambda: nnx.LinearGeneral(3, 4, axis=-1, batch_axis={0: 2}, rngs=nnx.Rngs(0)),
                            inputs=[(2, "B", 3)], forbid_ops=("Identity", "Reshape")),
               ])
def lower_linear_general(ctx: LoweringContext, self, inputs, out_sharding=None):
    if not is_plain_linear_general(self) or not _trailing_contraction(self, inputs):
        return NotImplemented
    in_module(ctx, value_of(self.kernel))
    n_in, out_shape = len(self.in_features), list(self.out_features)
    lead = len(inputs.shape) - n_in
    x = inputs
    if n_in > 1:
        x = ctx.op.Reshape(x, ctx.const(np.array([0] * lead + [-1], np.int64)))
    y = flat_linear_general(ctx, self, x, inputs.dtype.numpy(), ctx.out_avals[0].dtype)
    if len(out_shape) > 1:
        y = ctx.op.Reshape(y, ctx.const(np.array([0] * lead + out_shape, np.int64)))
    return y


def flat_linear_general(ctx: LoweringContext, self: nnx.LinearGeneral, x, x_dtype, dtype):
    """x (..., prod(in_features)) times the kernel flattened to a matrix, plus the flattened bias."""
    x = ctx.cast(x, dtype, from_dtype=x_dtype)
    kernel, bias = cast_all(ctx, dtype, value_of(self.kernel), value_of(self.bias))
    flat_in, flat_out = int(np.prod(self.in_features)), int(np.prod(self.out_features))
    matrix = typed(ctx.op.Reshape(kernel, ctx.const(np.array([flat_in, flat_out], np.int64))), kernel.type)
    y = ctx.op.MatMul(x, matrix)
    if bias is None:
        return y
    return ctx.op.Add(y, typed(ctx.op.Reshape(bias, ctx.const(np.array([flat_out], np.int64))), bias.type))


@call_lowering("flax.nnx.Einsum.__call__", component="flax.nnx.Einsum", onnx=["Einsum", "Add"], since="0.1.0",
               doc=_LINEAR_DOC.replace("Linear", "Einsum"),
               testcases=[
                   Testcase("einsum_heads", factory=lambda: nnx.Einsum("btd,dnh->btnh", (6, 2, 3), (2, 3),
                                                                       rngs=nnx.Rngs(0)),
                            inputs=[("B", 5, 6)], expect_ops=["Einsum", "Add"]),
                   Testcase("einsum_ellipsis_no_bias", factory=lambda: nnx.Einsum("...d,df->...f", (6, 4),
                                                                                  rngs=nnx.Rngs(0)),
                            inputs=[("B", 2, 6)], expect_ops=["Einsum"]),
               ])
def lower_einsum(ctx: LoweringContext, self, inputs, einsum_str=None, out_sharding=None):
    equation = (einsum_str if einsum_str is not None else self.einsum_str).replace(" ", "")
    if (self.einsum_op is not jnp.einsum or self.preferred_element_type is not None
            or self.promote_dtype is not nnx.nn.dtypes.promote_dtype or not equation.replace("...", "").islower()):
        return NotImplemented
    in_module(ctx, value_of(self.kernel))
    x, kernel, bias = cast_all(ctx, ctx.out_avals[0].dtype, inputs, value_of(self.kernel), value_of(self.bias))
    y = ctx.op.Einsum(x, kernel, equation=equation)
    if bias is None:
        return y
    lhs, out = equation.split("->")
    kernel_letters = lhs.split(",")[1]
    out_letters = out.replace("...", "")
    # The bias spans the output axes the kernel contributes; it broadcasts from the right.
    shape = [self.kernel_shape[kernel_letters.index(c)] if c in kernel_letters else 1
             for c in out_letters[out_letters.index(next(c for c in out_letters if c in kernel_letters)):]]
    return ctx.op.Add(y, typed(ctx.op.Reshape(bias, ctx.const(np.array(shape, np.int64))), bias.type))


@call_lowering("flax.nnx.PReLU.__call__", component="flax.nnx.PReLU", onnx=["PRelu"], since="0.1.0",
               doc="https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/activations.html#flax.nnx.PReLU",
               # ONNX Runtime has no float64 PRelu kernel (the float64 model is valid ONNX).
               testcases=[Testcase("prelu", factory=lambda: nnx.PReLU(0.2), inputs=[("B", 6)], expect_ops=["PRelu"],
                                   x64=False),
                          Testcase("prelu_4d", factory=lambda: nnx.PReLU(), inputs=[("B", 3, 4, 2)],
                                   expect_ops=["PRelu"], x64=False)])
def lower_prelu(ctx: LoweringContext, self, inputs):
    if self.dtype is not None:
        return NotImplemented
    in_module(ctx, value_of(self.negative_slope))
    (slope,) = cast_all(ctx, ctx.out_avals[0].dtype, value_of(self.negative_slope))
    return ctx.op.PRelu(inputs, slope)
