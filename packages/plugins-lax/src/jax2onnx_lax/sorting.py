"""Sorting through ONNX TopK, which breaks ties by index and so sorts stably: sort and top_k."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from jax2onnx.plugin import LoweringContext, Testcase, lowering
from jax2onnx_lax._shared import LAX_DOC

from .reductions import compute_dtype


def _ties(rng, shapes):
    return [rng.integers(0, 3, size=s) for s in shapes]


def _with_nans(rng, shapes):
    x = rng.standard_normal(shapes[0])
    x[..., ::3] = np.nan
    return [x]


def _order(ctx: LoweringContext, key, dtype, k, axis, largest):
    """TopK's int64 indices of ``key`` along ``axis``, computed in a dtype the kernels cover."""
    _, index = ctx.op.TopK(ctx.cast(key, compute_dtype(dtype), from_dtype=dtype), k, axis=axis, largest=largest,
                           sorted=1, _outputs=2)
    return index


def _nan_as_inf(ctx: LoweringContext, x, dtype):
    """``x`` in its compute dtype with NaN as +inf (TopK cannot compare NaNs), and that dtype."""
    work = compute_dtype(dtype)
    x = ctx.cast(x, work, from_dtype=dtype)
    return ctx.op.Where(ctx.op.IsNaN(x), ctx.const(np.array(np.inf, work)), x), work


def _sort_keys(ctx: LoweringContext, key, dtype):
    """Keys, most significant first, that order like XLA: TopK cannot compare NaNs, XLA puts them last."""
    if not jnp.issubdtype(dtype, jnp.floating):
        return [(key, dtype)]
    nan = ctx.op.IsNaN(ctx.cast(key, compute_dtype(dtype), from_dtype=dtype))
    return [(ctx.cast(nan, np.int32, from_dtype=np.bool_), np.int32), _nan_as_inf(ctx, key, dtype)]


def _top(ctx: LoweringContext, x, k, axis, largest):
    """The k largest (smallest) along ``axis`` and their indices, in the equation's index dtype."""
    key, dtype = x, ctx.in_avals[0].dtype
    if jnp.issubdtype(dtype, jnp.floating):
        # XLA ranks NaN above everything; as +inf it only ties with +inf, broken by index.
        key, dtype = _nan_as_inf(ctx, x, dtype)
    index = _order(ctx, key, dtype, k, axis, largest)
    values = ctx.op.GatherElements(x, index, axis=axis)
    return values, ctx.cast(index, ctx.out_avals[1].dtype, from_dtype=np.int64)


SORT_OPS = ["TopK", "GatherElements", "IsNaN", "Where"]


@lowering("sort", component="jax.lax.sort", onnx=SORT_OPS, since="0.1.0", doc=LAX_DOC.format("sort"),
          testcases=[
              Testcase("sort_last_axis", fn=lambda x: jnp.sort(x), inputs=[("B", 5)]),
              Testcase("sort_axis0", fn=lambda x: jnp.sort(x, axis=0), inputs=[("B", 3)]),
              Testcase("sort_1d", fn=lambda x: jnp.sort(x), inputs=[("B",)]),
              Testcase("sort_middle_axis_3d", fn=lambda x: jnp.sort(x, axis=1), inputs=[(2, "B", 3)]),
              Testcase("sort_int32_ties", fn=lambda x: jnp.sort(x, axis=1), inputs=[(3, "B")],
                       input_dtypes=[np.int32], input_values=_ties, expect_ops=["Shape", "TopK", "GatherElements"]),
              Testcase("sort_median", fn=lambda x: jnp.median(x, axis=1), inputs=[("B", 5)]),
              Testcase("sort_descending", fn=lambda x: jnp.sort(x, axis=1, descending=True), inputs=[("B", 6)]),
              Testcase("sort_nan_last", fn=lambda x: jnp.sort(x, axis=1), inputs=[("B", 7)], input_values=_with_nans),
              Testcase("sort_key_val", fn=lambda k, v: lax.sort_key_val(k, v, dimension=0),
                       inputs=[("B", 2), ("B", 2)]),
              Testcase("sort_two_keys", fn=lambda a, b, v: lax.sort((a, b, v), dimension=1, num_keys=2),
                       inputs=[(2, "B"), (2, "B"), (2, "B")], input_dtypes=[np.int32, np.int32, np.float32],
                       input_values=lambda rng, s: [*_ties(rng, s[:2]), rng.standard_normal(s[2])]),
              Testcase("sort_bool_keys", fn=lambda k, v: lax.sort((k, v), dimension=1, num_keys=1),
                       inputs=[(2, "B"), (2, "B")], input_dtypes=[np.bool_, np.int32]),
              Testcase("sort_argsort_stable", fn=lambda x: jnp.argsort(x, axis=1), inputs=[("B", 8)],
                       input_values=_ties),
              Testcase("sort_argsort_descending", fn=lambda x: jnp.argsort(x, axis=0, descending=True),
                       inputs=[("B", 3)], input_values=_ties),
          ])
def lower_sort(ctx: LoweringContext, *operands, dimension, is_stable, num_keys):
    n = ctx.dim(ctx.in_avals[0].shape[dimension])
    keys = [k for x, aval in zip(operands[:num_keys], ctx.in_avals) for k in _sort_keys(ctx, x, aval.dtype)]
    # Lexicographic order: stable sorts by each key, the least significant key first.
    order = None
    for key, dtype in reversed(keys):
        if order is not None:
            key = ctx.op.GatherElements(key, order, axis=dimension)
        step = _order(ctx, key, dtype, n, dimension, largest=0)
        order = step if order is None else ctx.op.GatherElements(order, step, axis=dimension)
    return [ctx.op.GatherElements(x, order, axis=dimension) for x in operands]


@lowering("top_k", component="jax.lax.top_k", onnx=SORT_OPS, since="0.1.0", doc=LAX_DOC.format("top_k"),
          testcases=[
              Testcase("top_k_last_axis", fn=lambda x: lax.top_k(x, 3), inputs=[("B", 6)],
                       expect_ops=["IsNaN", "Where", "TopK", "GatherElements", "Cast"]),
              Testcase("top_k_ties_first", fn=lambda x: lax.top_k(x, 4), inputs=[("B", 7)], input_values=_ties),
              Testcase("top_k_axis0", fn=lambda x: lax.top_k(x, 2, axis=0), inputs=[(4, "B")]),
              Testcase("top_k_int8", fn=lambda x: lax.top_k(x, 2), inputs=[("B", 5)], input_dtypes=[np.int8]),
              Testcase("top_k_nan_first", fn=lambda x: lax.top_k(x, 4), inputs=[("B", 7)], input_values=_with_nans),
          ])
def lower_top_k(ctx: LoweringContext, x, *, k, axis=-1, **params):
    return _top(ctx, x, ctx.const(np.array([k], np.int64)), axis, largest=1)


@lowering("approx_top_k", component="jax.lax.approx_max_k", onnx=SORT_OPS, since="0.1.0",
          doc=LAX_DOC.format("approx_max_k"),
          testcases=[
              Testcase("top_k_approx_max", fn=lambda x: lax.approx_max_k(x, 3), inputs=[("B", 6)]),
              Testcase("top_k_approx_min_axis0", fn=lambda x: lax.approx_min_k(x, 2, reduction_dimension=0),
                       inputs=[(5, "B")]),
              Testcase("top_k_approx_unaggregated", fn=lambda x: lax.approx_max_k(x, 2, aggregate_to_topk=False),
                       inputs=[("B", 6)]),
          ])
def lower_approx_top_k(ctx: LoweringContext, x, *, k, reduction_dimension, is_max_k, **params):
    # XLA on CPU is exact; unaggregated, it returns every candidate in order, as many as the output holds.
    axis = reduction_dimension % len(ctx.in_avals[0].shape)
    return _top(ctx, x, ctx.dim(ctx.out_avals[0].shape[axis]), axis, largest=int(is_max_k))
