"""Shape primitives: reshape, broadcast_in_dim, squeeze, expand_dims, transpose."""

from __future__ import annotations

import numpy as np

from jax2onnx.plugin import lowering

LAX_DOC = "https://docs.jax.dev/en/latest/_autosummary/jax.lax.{}.html"


@lowering("reshape", component="jax.lax.reshape", onnx=["Reshape"], since="0.1.0", doc=LAX_DOC.format("reshape"))
def lower_reshape(ctx, x, *, new_sizes, dimensions=None, **params):
    if dimensions is not None:
        x = ctx.op.Transpose(x, perm=list(dimensions))
    return ctx.op.Reshape(x, ctx.shape_tensor(new_sizes))


@lowering("broadcast_in_dim", component="jax.lax.broadcast_in_dim", onnx=["Expand", "Unsqueeze"], since="0.1.0",
          doc=LAX_DOC.format("broadcast_in_dim"))
def lower_broadcast_in_dim(ctx, x, *, shape, broadcast_dimensions, **params):
    missing = [d for d in range(len(shape)) if d not in broadcast_dimensions]
    if missing:
        x = ctx.op.Unsqueeze(x, ctx.const(np.array(missing, dtype=np.int64)))
    if tuple(ctx.in_avals[0].shape) == tuple(d for i, d in enumerate(shape) if i in broadcast_dimensions) and \
            all(shape[d] == 1 for d in missing):
        return x
    return ctx.op.Expand(x, ctx.shape_tensor(shape))


@lowering("squeeze", component="jax.lax.squeeze", onnx=["Squeeze"], since="0.1.0", doc=LAX_DOC.format("squeeze"))
def lower_squeeze(ctx, x, *, dimensions):
    return ctx.op.Squeeze(x, ctx.const(np.array(dimensions, dtype=np.int64)))


@lowering("expand_dims", component="jax.lax.expand_dims", onnx=["Unsqueeze"], since="0.1.0")
def lower_expand_dims(ctx, x, *, dimensions):
    return ctx.op.Unsqueeze(x, ctx.const(np.array(dimensions, dtype=np.int64)))


@lowering("transpose", component="jax.lax.transpose", onnx=["Transpose"], since="0.1.0", doc=LAX_DOC.format("transpose"))
def lower_transpose(ctx, x, *, permutation):
    return ctx.op.Transpose(x, perm=list(permutation))
