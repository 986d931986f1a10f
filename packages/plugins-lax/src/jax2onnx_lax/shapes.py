"""Shape primitives: reshapes, broadcasts, transposes, concatenation and stacking, padding, slicing, tiling, iota
and symbolic dims as values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
import onnx_ir as ir

from jax2onnx.plugin import LoweringContext, Testcase, lowering
from jax2onnx_lax._shared import LAX_DOC

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min
FOLD_LIMIT = 1024
lax, jnp = jax.lax, jax.numpy


def lax_broadcast(x: np.ndarray, shape: Sequence[int], broadcast_dimensions: Sequence[int]) -> np.ndarray:
    expanded = np.expand_dims(x, tuple(d for d in range(len(shape)) if d not in broadcast_dimensions))
    return np.broadcast_to(expanded, shape)


def is_static(d: Any) -> bool:
    return isinstance(d, (int, np.integer))


def ints(ctx: LoweringContext, values: Sequence[int]) -> ir.Value:
    """A 1-D int64 constant."""
    return ctx.const(np.asarray(values, dtype=np.int64).reshape(-1))


def reshape(ctx: LoweringContext, x: ir.Value, sizes: Sequence[Any]) -> ir.Value:
    """A Reshape; a single symbolic size becomes -1 so no shape arithmetic is needed."""
    symbolic = [i for i, d in enumerate(sizes) if not is_static(d)]
    if 0 in sizes:  # no elements: a [1, .., -1, .., 1] view broadcasts to the shape (Reshape's 0 copies a dim)
        view = [-1 if i == sizes.index(0) else 1 for i in range(len(sizes))]
        return ctx.op.Expand(ctx.op.Reshape(x, ints(ctx, view)), ctx.shape_tensor(sizes))
    if len(symbolic) == 1:
        return ctx.op.Reshape(x, ints(ctx, [-1 if i in symbolic else d for i, d in enumerate(sizes)]))
    return ctx.op.Reshape(x, ctx.shape_tensor(sizes))


def iota(ctx: LoweringContext, size: Any, dtype: Any = np.int64) -> ir.Value:
    """0, 1, ..., size - 1 as a 1-D tensor."""
    if is_static(size):
        return ctx.const(np.arange(size, dtype=dtype))
    zero, one = ctx.const(np.array(0, np.int64)), ctx.const(np.array(1, np.int64))
    return ctx.cast(ctx.op.Range(zero, ctx.op.Squeeze(ctx.dim(size)), one), dtype, from_dtype=np.int64)


@lowering("reshape", component="jax.lax.reshape", onnx=["Reshape", "Transpose"], since="0.1.0",
          doc=LAX_DOC.format("reshape"), testcases=[
              Testcase("reshape_symbolic_merge", fn=lambda x: x.reshape(x.shape[0], -1), inputs=[("B", 3, 4)],
                       expect_ops=["Reshape"]),
              Testcase("reshape_symbolic_flatten", fn=lambda x: x.reshape(-1), inputs=[("B", 3)],
                       expect_ops=["Reshape"]),
              Testcase("reshape_two_symbolic", fn=lambda x: x.reshape(x.shape[0], x.shape[1], 2, 2),
                       inputs=[("B", "T", 4)]),
              Testcase("reshape_split_symbolic", fn=lambda x: x.reshape(3, -1), inputs=[("3*B",)]),
              Testcase("reshape_dimensions", fn=lambda x: lax.reshape(x, (2, 12), dimensions=(2, 1, 0)),
                       inputs=[(2, 3, 4)], expect_ops=["Transpose", "Reshape"]),
              Testcase("reshape_int32", fn=lambda x: x.reshape(2, 3, 2), inputs=[(3, 4)], input_dtypes=[np.int32]),
              Testcase("reshape_zero_size", fn=lambda x: lax.broadcast_in_dim(x, (x.shape[0], 1, 0), (0, 1)).reshape(
                  x.shape[0], 0), inputs=[("B", 1)]),
          ])
def lower_reshape(ctx: LoweringContext, x, *, new_sizes, dimensions=None, **params):
    if dimensions is not None:
        x = ctx.op.Transpose(x, perm=[int(d) for d in dimensions])
    return reshape(ctx, x, new_sizes)


@lowering("broadcast_in_dim", component="jax.lax.broadcast_in_dim", onnx=["Expand", "Unsqueeze"], since="0.1.0",
          doc=LAX_DOC.format("broadcast_in_dim"), testcases=[
              Testcase("broadcast_in_dim_leading", fn=lambda x: jnp.broadcast_to(x, (2, 3, 4)), inputs=[(3, 4)],
                       expect_ops=["Expand"]),
              Testcase("broadcast_in_dim_middle", fn=lambda x: lax.broadcast_in_dim(x, (x.shape[0], 5, 4), (0, 2)),
                       inputs=[("B", 4)], expect_ops=["Unsqueeze", "Expand"]),
              Testcase("broadcast_in_dim_size_one", fn=lambda x: lax.broadcast_in_dim(x, (x.shape[0], 6), (0, 1)),
                       inputs=[("B", 1)], expect_ops=["Expand"]),
              Testcase("broadcast_in_dim_to_symbolic", fn=lambda x, y: jnp.broadcast_to(x, y.shape) * y,
                       inputs=[(1, 4), ("B", 4)]),
              Testcase("broadcast_in_dim_expand_dims", fn=lambda x: lax.expand_dims(x, (0, 2)), inputs=[("B", 3)],
                       expect_ops=["Unsqueeze"]),
          ])
def lower_broadcast_in_dim(ctx: LoweringContext, x, *, shape, broadcast_dimensions, **params):
    known = ctx.const_value(x)
    # Small constants (index vectors built by jnp indexing) stay constants that rules can read.
    if known is not None and all(is_static(d) for d in shape) and np.prod(shape) <= FOLD_LIMIT:
        return ctx.const(lax_broadcast(known.reshape(ctx.in_avals[0].shape), shape, broadcast_dimensions))
    kept = dict(zip(broadcast_dimensions, ctx.in_avals[0].shape))
    missing = [d for d in range(len(shape)) if d not in kept]
    # Expand prepends leading dims itself; only dims missing in between need an Unsqueeze.
    if missing and missing != list(range(len(missing))):
        x = ctx.op.Unsqueeze(x, ints(ctx, missing))
        missing = []
    # Dims the operand already has expand as 1, so symbolic sizes need no shape arithmetic.
    target = [1 if kept.get(d, 1) == s else s for d, s in enumerate(shape)]
    # ONNX Runtime optimizes an Expand to a 0-sized dim away: slice such dims empty instead.
    empty = [d for d, t in enumerate(target) if is_static(t) and t == 0]
    target = [1 if d in empty else t for d, t in enumerate(target)]
    if missing or any(t != 1 for t in target):
        x = ctx.op.Expand(x, ctx.shape_tensor(target))
    if empty:
        x = ctx.op.Slice(x, ints(ctx, [0] * len(empty)), ints(ctx, [0] * len(empty)), ints(ctx, empty))
    return x


@lowering("squeeze", component="jax.lax.squeeze", onnx=["Squeeze"], since="0.1.0", doc=LAX_DOC.format("squeeze"),
          testcases=[Testcase("squeeze_symbolic", fn=lambda x: lax.squeeze(x, (1, 3)), inputs=[("B", 1, 3, 1)],
                              expect_ops=["Squeeze"])])
def lower_squeeze(ctx: LoweringContext, x, *, dimensions):
    if not dimensions:  # an empty axes input would squeeze every size-1 dim
        return x
    return ctx.op.Squeeze(x, ints(ctx, dimensions))


@lowering("transpose", component="jax.lax.transpose", onnx=["Transpose"], since="0.1.0",
          doc=LAX_DOC.format("transpose"),
          testcases=[Testcase("transpose_symbolic", fn=lambda x: jnp.transpose(x, (2, 0, 1)), inputs=[("B", 3, 4)],
                              expect_ops=["Transpose"])])
def lower_transpose(ctx: LoweringContext, x, *, permutation):
    return ctx.op.Transpose(x, perm=[int(d) for d in permutation])


@lowering("concatenate", component="jax.lax.concatenate", onnx=["Concat"], since="0.1.0",
          doc=LAX_DOC.format("concatenate"), testcases=[
              Testcase("concatenate_symbolic", fn=lambda x, y: jnp.concatenate([x, y, x], axis=1),
                       inputs=[("B", 3), ("B", 2)], expect_ops=["Concat"]),
              Testcase("concatenate_symbolic_axis", fn=lambda x, y: jnp.concatenate([x, y]),
                       inputs=[("B", 3), ("T", 3)], expect_ops=["Concat"]),
          ])
def lower_concatenate(ctx: LoweringContext, *xs, dimension):
    return ctx.op.Concat(*xs, axis=int(dimension))


@lowering("pad", component="jax.lax.pad", onnx=["Pad", "Unsqueeze", "Reshape", "Slice"], since="0.1.0",
          doc=LAX_DOC.format("pad"), testcases=[
              Testcase("pad_symbolic", fn=lambda x: lax.pad(x, 0.0, ((1, 2, 0), (0, 3, 0))), inputs=[("B", 3)],
                       expect_ops=["Pad"]),
              Testcase("pad_negative", fn=lambda x: lax.pad(x, -1.0, ((-1, 2, 0), (1, -2, 0))), inputs=[("B", 5)],
                       expect_ops=["Pad"]),
              Testcase("pad_interior", fn=lambda x: lax.pad(x, 0.5, ((0, 0, 2), (1, -1, 1))), inputs=[("B", 3)]),
              Testcase("pad_jnp_int", fn=lambda x: jnp.pad(x, ((1, 2), (0, 3)), constant_values=7), inputs=[("B", 3)],
                       input_dtypes=[np.int32]),
              Testcase("pad_interior_only", fn=lambda x: lax.pad(x, 0, ((1, 0, 1),)), inputs=[(4,)],
                       input_dtypes=[np.int32]),
              Testcase("pad_value_input", fn=lambda x, v: lax.pad(x, v, ((0, 1, 0), (2, 0, 1))), inputs=[("B", 3), ()]),
          ])
def lower_pad(ctx: LoweringContext, x, padding_value, *, padding_config):
    lows, highs, interiors = zip(*padding_config)
    if any(interiors):
        x = _interior_pad(ctx, x, padding_value, interiors)
    if any(d != 0 for d in lows + highs):
        x = ctx.kernel_op("Pad", x, ctx.shape_tensor([*lows, *highs]), padding_value,
                          dtype=ctx.in_avals[0].dtype, data=(0, 2))
    return x


def _interior_pad(ctx: LoweringContext, x, padding_value, interiors):
    """Pads a new axis after each element, merges it in, and drops the padding after the last."""
    axes = [a for a, i in enumerate(interiors) if i]
    x = ctx.op.Unsqueeze(x, ints(ctx, [a + k + 1 for k, a in enumerate(axes)]))
    rank = len(interiors) + len(axes)
    ends = [0] * rank
    for k, a in enumerate(axes):
        ends[a + k + 1] = interiors[a]
    x = ctx.kernel_op("Pad", x, ints(ctx, [0] * rank + ends), padding_value, dtype=ctx.in_avals[0].dtype, data=(0, 2))
    shape = [d * (1 + i) for d, i in zip(ctx.in_avals[0].shape, interiors)]
    x = reshape(ctx, x, shape)
    return ctx.op.Slice(x, ints(ctx, [0] * len(axes)), ints(ctx, [-interiors[a] for a in axes]), ints(ctx, axes))


@lowering("slice", component="jax.lax.slice", onnx=["Slice"], since="0.1.0", doc=LAX_DOC.format("slice"), testcases=[
    Testcase("slice_column", fn=lambda x: x[:, 1], inputs=[(3, 4)], expect_ops=["Slice", "Squeeze"]),
    Testcase("slice_strided", fn=lambda x: lax.slice(x, (1, 0, 2), (5, 3, 7), (2, 1, 3)), inputs=[(6, 3, 8)],
             expect_ops=["Slice"]),
    Testcase("slice_symbolic_limit", fn=lambda x: lax.slice(x, (0, 1), (x.shape[0], 3)), inputs=[("B", 4)],
             expect_ops=["Slice"]),
    Testcase("slice_symbolic_expr", fn=lambda x: lax.slice(x, (0, 1), (x.shape[0] // 2, 4), (1, 2)),
             inputs=[("B", 4)], dim_sizes=(3, 6)),
])
def lower_slice(ctx: LoweringContext, x, *, start_indices, limit_indices, strides):
    shape = ctx.in_avals[0].shape
    strides = strides or (1,) * len(shape)
    axes = [a for a, d in enumerate(shape) if (start_indices[a], limit_indices[a], strides[a]) != (0, d, 1)]
    if not axes:
        return x
    # A slice up to the end needs no (possibly symbolic) limit.
    ends = [INT64_MAX if limit_indices[a] == shape[a] else limit_indices[a] for a in axes]
    steps = [strides[a] for a in axes]
    return ctx.op.Slice(x, ctx.shape_tensor([start_indices[a] for a in axes]), ctx.shape_tensor(ends),
                        ints(ctx, axes), ints(ctx, steps) if any(s != 1 for s in steps) else None)


@lowering("rev", component="jax.lax.rev", onnx=["Slice"], since="0.1.0", doc=LAX_DOC.format("rev"), testcases=[
    Testcase("rev_symbolic", fn=lambda x: lax.rev(x, (0, 2)), inputs=[("B", 3, 4)], expect_ops=["Slice"]),
    Testcase("rev_flip", fn=lambda x: jnp.flip(x), inputs=[(3, 4)], input_dtypes=[np.int32]),
])
def lower_rev(ctx: LoweringContext, x, *, dimensions):
    n = len(dimensions)
    if n == 0:
        return x
    return ctx.op.Slice(x, ints(ctx, [-1] * n), ints(ctx, [INT64_MIN] * n), ints(ctx, dimensions), ints(ctx, [-1] * n))


@lowering("split", component="jax.lax.split", onnx=["Split"], since="0.1.0", doc=LAX_DOC.format("split"), testcases=[
    Testcase("split_sizes", fn=lambda x: lax.split(x, (1, 3, 2), axis=1), inputs=[("B", 6)], expect_ops=["Split"]),
    Testcase("split_symbolic", fn=lambda x, y: [p * y for p in jnp.split(x, 2)], inputs=[("2*B", 3), ("B", 1)]),
])
def lower_split(ctx: LoweringContext, x, *, sizes, axis):
    return ctx.op.Split(x, ctx.shape_tensor(sizes), axis=int(axis), _outputs=len(sizes))


@lowering("stack", component="jax.lax.stack", onnx=["Unsqueeze", "Concat"], since="0.1.0",
          doc=LAX_DOC.format("stack"), testcases=[
              Testcase("stack_symbolic", fn=lambda x, y: lax.stack((x, y, x), axis=1), inputs=[("B", 4), ("B", 4)],
                       expect_ops=["Unsqueeze", "Unsqueeze", "Concat"]),
          ])
def lower_stack(ctx: LoweringContext, *xs, axis):
    return ctx.op.Concat(*(ctx.op.Unsqueeze(x, ints(ctx, [axis])) for x in xs), axis=int(axis))


@lowering("unstack", component="jax.lax.unstack", onnx=["Split", "Squeeze"], since="0.1.0",
          doc=LAX_DOC.format("unstack"), testcases=[
              Testcase("unstack_symbolic", fn=lambda x: lax.unstack(x, axis=1), inputs=[("B", 3, 2)]),
          ])
def lower_unstack(ctx: LoweringContext, x, *, axis):
    n = ctx.in_avals[0].shape[axis]
    parts = ctx.op.Split(x, ints(ctx, [1] * n), axis=int(axis), _outputs=n) if n > 1 else [x]
    return [ctx.op.Squeeze(part, ints(ctx, [axis])) for part in parts]


@lowering("tile", component="jax.lax.tile", onnx=["Tile"], since="0.1.0", doc=LAX_DOC.format("tile"), testcases=[
              Testcase("tile_symbolic", fn=lambda x: lax.tile(x, (1, 3)), inputs=[("B", 4)], expect_ops=["Tile"]),
              Testcase("tile_rank_up", fn=lambda x: jnp.tile(x, (2, 1, 3)), inputs=[("B", 4)], input_dtypes=[np.int32]),
              Testcase("tile_symbolic_reps", fn=lambda x: jnp.tile(x, (x.shape[0], 2)), inputs=[("B", 3)]),
              Testcase("tile_symbolic_rank_up", fn=lambda x, y: jnp.tile(x, (y.shape[1], 1, x.shape[0])),
                       inputs=[("B", 2), (1, "T")]),
          ])
def lower_tile(ctx: LoweringContext, x, *, reps):
    return ctx.op.Tile(x, ctx.shape_tensor(reps))


@lowering("iota", component="jax.lax.iota", onnx=["Range", "Expand"], since="0.1.0", doc=LAX_DOC.format("iota"),
          testcases=[
              Testcase("iota_static", fn=lambda x: x + lax.iota(jnp.float32, 5), inputs=[(5,)]),
              Testcase("iota_symbolic", fn=lambda x: x + lax.iota(jnp.int32, x.shape[0]), inputs=[("B",)],
                       input_dtypes=[np.int32]),
              Testcase("iota_broadcasted", fn=lambda x: x + lax.broadcasted_iota(jnp.float32, x.shape, 1),
                       inputs=[("B", "T", 3)]),
              Testcase("iota_float16", fn=lambda x: x * lax.iota(jnp.float16, x.shape[0]), inputs=[("B",)],
                       input_dtypes=[np.float16]),
              Testcase("iota_broadcasted_static",
                       fn=lambda x: x * lax.broadcasted_iota(jnp.int32, x.shape, 0), inputs=[(3, 4)],
                       input_dtypes=[np.int32]),
          ])
def lower_iota(ctx: LoweringContext, *, dtype, shape, dimension, **params):
    line = iota(ctx, shape[dimension], dtype)
    if len(shape) == 1:
        return line
    line = ctx.op.Unsqueeze(line, ints(ctx, [d for d in range(len(shape)) if d != dimension]))
    return ctx.op.Expand(line, ctx.shape_tensor([1 if d == dimension else s for d, s in enumerate(shape)]))


@lowering("dim_as_value", component="jax.export symbolic dimension", onnx=["Shape"], since="0.1.0",
          doc="https://docs.jax.dev/en/latest/export/shape_poly.html", testcases=[
              Testcase("dim_as_value_scale", fn=lambda x: x * x.shape[0], inputs=[("B", 3)]),
              Testcase("dim_as_value_expr", fn=lambda x: x + (2 * x.shape[0] - 1), inputs=[("B",)],
                       input_dtypes=[np.int32]),
          ])
def lower_dim_as_value(ctx: LoweringContext, *, dim):
    return ctx.cast(ctx.op.Squeeze(ctx.dim(dim)), ctx.out_avals[0].dtype, from_dtype=np.int64)
