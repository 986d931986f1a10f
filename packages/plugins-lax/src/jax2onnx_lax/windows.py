"""Windowed reductions: cumulative ops along an axis, and reduce_window (pooling)."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import onnx_ir as ir
from jax import lax

from jax2onnx.plugin import LoweringContext, Testcase, lowering, tensor_type
from jax2onnx_lax._shared import LAX_DOC

from .reductions import BINARY_OPS, binary_body, compute_dtype

INT64_MAX = np.iinfo(np.int64).max


def _lowest(dtype):
    if np.dtype(dtype) == np.bool_:
        return False
    return -np.inf if jnp.issubdtype(dtype, jnp.floating) else np.iinfo(dtype).min


def _highest(dtype):
    if np.dtype(dtype) == np.bool_:
        return True
    return np.inf if jnp.issubdtype(dtype, jnp.floating) else np.iinfo(dtype).max


def _logaddexp(c: LoweringContext, a, b, dtype):
    # XLA's form: max + log1p(exp(-|a - b|)), and a + b where a - b is NaN (equal infinities).
    delta = c.op.Sub(a, b)
    one = c.const(np.array(1, dtype))
    smooth = c.op.Add(c.op.Max(a, b), c.op.Log(c.op.Add(one, c.op.Exp(c.op.Neg(c.op.Abs(delta))))))
    return c.op.Where(c.op.IsNaN(delta), c.op.Add(a, b), smooth)


# monoid -> (combine(ctx, a, b, dtype), identity(dtype))
MONOIDS = {
    "sum": (lambda c, a, b, dtype: c.op.Add(a, b), lambda dtype: 0),
    "prod": (lambda c, a, b, dtype: c.op.Mul(a, b), lambda dtype: 1),
    "max": (lambda c, a, b, dtype: c.op.Max(a, b), _lowest),
    "min": (lambda c, a, b, dtype: c.op.Min(a, b), _highest),
    "logsumexp": (_logaddexp, lambda dtype: -np.inf),
}


def _doubling_scan(ctx: LoweringContext, x, dtype, axis, reverse, monoid):
    """Inclusive scan along ``axis`` in ceil(log2 n) steps: x ⊕= x shifted by 1, 2, 4, ..."""
    combine, identity = MONOIDS[monoid]
    fill = ctx.const(np.array(identity(dtype), dtype))
    axes = ctx.const(np.array([axis], np.int64))
    # Pad at one end and crop the other (negative pad) shifts the array by k along the axis.
    sign = np.array([-1, 1] if reverse else [1, -1], np.int64)
    n = ctx.in_avals[0].shape[axis]
    if isinstance(n, int):
        k = 1
        while k < n:
            shifted = ctx.kernel_op("Pad", x, ctx.const(sign * k), fill, axes, dtype=dtype, data=(0, 2))
            x = combine(ctx, x, shifted, dtype)
            k *= 2
        return x
    n = ctx.op.Squeeze(ctx.dim(n))
    one = ctx.const(np.int64(1))
    carried = [jax.ShapeDtypeStruct((), np.int64), jax.ShapeDtypeStruct(ctx.in_avals[0].shape, dtype)]

    def body(c: LoweringContext, iteration, keep_going, k, acc):
        acc = combine(c, acc, c.op.Pad(acc, c.op.Mul(k, c.const(sign)), fill, axes), dtype)
        k = c.op.Add(k, k)
        outs = [c.op.Less(k, n), k, acc]
        for out, aval in zip(outs, [jax.ShapeDtypeStruct((), np.bool_), *carried]):
            out.type, out.shape = tensor_type(aval.dtype, aval.shape)
        return outs

    graph = ctx.subgraph(body, carried, "scan_step", [("iteration", np.int64, ()), ("keep_going", np.bool_, ())])
    return ctx.op.Loop(None, ctx.op.Less(one, n), one, x, body=graph, _outputs=2)[1]


def _positive(rng, shapes):
    return [rng.uniform(0.5, 1.5, s) for s in shapes]


@lowering("cumsum", component="jax.lax.cumsum", onnx=["CumSum"], since="0.1.0", doc=LAX_DOC.format("cumsum"),
          testcases=[
              Testcase("cumsum_axis1", fn=lambda x: jnp.cumsum(x, axis=1), inputs=[("B", 5)], expect_ops=["CumSum"]),
              Testcase("cumsum_reverse_axis0", fn=lambda x: lax.cumsum(x, 0, reverse=True), inputs=[("B", 3)]),
              Testcase("cumsum_int8_wraps", fn=lambda x: lax.cumsum(x, 1), inputs=[(2, "B")], input_dtypes=[np.int8],
                       input_values=lambda rng, s: [rng.integers(-128, 128, s[0])]),
              Testcase("cumsum_bool", fn=lambda x: jnp.cumsum(x, axis=0), inputs=[("B", 4)], input_dtypes=[np.bool_]),
              Testcase("cumsum_grad", fn=lambda x: jax.grad(lambda y: jnp.sum(jnp.cumsum(y, axis=1) ** 2))(x),
                       inputs=[("B", 5)]),
          ])
def lower_cumsum(ctx: LoweringContext, x, *, axis, reverse):
    dtype = ctx.in_avals[0].dtype
    work = compute_dtype(dtype)
    out = ctx.op.CumSum(ctx.cast(x, work, from_dtype=dtype), ctx.const(np.int64(axis)), reverse=int(reverse))
    return ctx.cast(out, dtype, from_dtype=work)


# A static axis unrolls the doubling steps; a symbolic one runs them in a Loop.
CUMULATIVE = {
    "cumprod": ("prod", [
        Testcase("cumprod_static", fn=lambda x: lax.cumprod(x, 1), inputs=[(3, 6)], input_values=_positive,
                 expect_ops=["Pad", "Mul", "Pad", "Mul", "Pad", "Mul"]),
        Testcase("cumprod_symbolic_reverse", fn=lambda x: lax.cumprod(x, 0, reverse=True), inputs=[("B", 3)],
                 input_values=_positive, dim_sizes=(1, 17)),
        Testcase("cumprod_int32", fn=lambda x: jnp.cumprod(x, axis=1), inputs=[(2, "B")], input_dtypes=[np.int32],
                 input_values=lambda rng, s: [rng.integers(-3, 4, s[0])]),
    ]),
    "cummax": ("max", [
        Testcase("cummax_symbolic", fn=lambda x: lax.cummax(x, 1), inputs=[(3, "B")]),
        Testcase("cummax_in_scan_body", fn=lambda xs: lax.scan(lambda c, x: (lax.cummax(c + x, 0),) * 2,
                                                                jnp.zeros_like(xs[0]), xs),
                 inputs=[(4, "B")]),
        Testcase("cummax_static_reverse_int32", fn=lambda x: lax.cummax(x, 0, reverse=True), inputs=[(5, 2)],
                 input_dtypes=[np.int32]),
    ]),
    "cummin": ("min", [
        Testcase("cummin_symbolic_reverse", fn=lambda x: lax.cummin(x, 1, reverse=True), inputs=[(2, "B")]),
        Testcase("cummin_static_uint8", fn=lambda x: lax.cummin(x, 0), inputs=[(4, 3)], input_dtypes=[np.uint8]),
    ]),
    "cumlogsumexp": ("logsumexp", [
        Testcase("cumlogsumexp_static", fn=lambda x: lax.cumlogsumexp(x, 1), inputs=[(2, 7)]),
        Testcase("cumlogsumexp_symbolic_reverse", fn=lambda x: lax.cumlogsumexp(x, 0, reverse=True),
                 inputs=[("B", 2)]),
        Testcase("cumlogsumexp_infinities", fn=lambda x: lax.cumlogsumexp(x, 1), inputs=[(3, 4)],
                 input_values=lambda rng, s: [np.array([[-np.inf, -np.inf, 1.0, -np.inf], [np.inf, 2.0, np.inf, 0.5],
                                                        [0.0, -np.inf, -2.0, 30.0]])]),
    ]),
}


def _cumulative(monoid: str):
    def rule(ctx: LoweringContext, x, *, axis, reverse):
        dtype = ctx.in_avals[0].dtype
        work = compute_dtype(dtype)
        out = _doubling_scan(ctx, ctx.cast(x, work, from_dtype=dtype), work, axis, reverse, monoid)
        return ctx.cast(out, dtype, from_dtype=work)

    return rule


for _name, (_monoid, _cases) in CUMULATIVE.items():
    lowering(_name, component=f"jax.lax.{_name}", onnx=["Pad", "Loop"], since="0.1.0", doc=LAX_DOC.format(_name),
             testcases=_cases)(_cumulative(_monoid))


class _PoolLayout:
    """Moves the windowed dims of an array last, as pooling ops' spatial dims, the others into N and C."""

    def __init__(self, window, strides, padding, dilation):
        rank = len(window)
        self.spatial = [d for d in range(rank)
                        if (window[d], strides[d], tuple(padding[d]), dilation[d]) != (1, 1, (0, 0), 1)]
        self.batch = [d for d in range(rank) if d not in self.spatial]
        self.perm = self.batch + self.spatial
        self.inverse = [int(d) for d in np.argsort(self.perm)]
        self.moved = self.perm != sorted(self.perm)
        self.attrs = {"kernel_shape": [window[d] for d in self.spatial],
                      "strides": [strides[d] for d in self.spatial],
                      "pads": [padding[d][0] for d in self.spatial] + [padding[d][1] for d in self.spatial],
                      "dilations": [dilation[d] for d in self.spatial] if any(w != 1 for w in dilation) else None}

    @staticmethod
    def fits(window, padding, dilation) -> bool:
        # Static padding (a symbolic "SAME" dim has none) where no window lies wholly in the padding:
        # there the kernels give their lowest finite value, XLA the init value.
        return all(isinstance(lo, int) and isinstance(hi, int) and
                   (lo == hi == 0 or (dilation[d] == 1 and 0 <= lo < window[d] and 0 <= hi < window[d]))
                   for d, (lo, hi) in enumerate(padding))

    def to_pool(self, ctx, x, shape):
        y = ctx.op.Transpose(x, perm=self.perm) if self.moved else x
        if len(self.batch) == 2:
            return y
        return ctx.op.Reshape(y, ctx.shape_tensor([-1, 1, *[shape[d] for d in self.spatial]]))

    def from_pool(self, ctx, y, shape):
        if len(self.batch) != 2:
            y = ctx.op.Reshape(y, ctx.shape_tensor([shape[d] for d in self.perm]))
        return ctx.op.Transpose(y, perm=self.inverse) if self.moved else y


def _pool(ctx: LoweringContext, x, monoid, window, strides, padding, dilation):
    """The reduction as MaxPool/AveragePool; None where they do not apply.

    Like ReduceMax, MaxPool skips NaNs that XLA would propagate.
    """
    dtype = np.dtype(ctx.in_avals[0].dtype)
    layout = _PoolLayout(window, strides, padding, dilation) if _PoolLayout.fits(window, padding, dilation) else None
    kernel_ok = dtype in ((np.float32,) if monoid == "sum" else (np.float32, np.float64))
    dilated_sum = monoid == "sum" and ctx.opset < 19 and any(w != 1 for w in dilation)  # AveragePool-19 added it
    if layout is None or not 1 <= len(layout.spatial) <= 3 or not kernel_ok or dilated_sum:
        return None
    y = layout.to_pool(ctx, x, ctx.in_avals[0].shape)
    if monoid == "sum":
        size = ctx.const(np.array(np.prod(window), dtype))
        y = ctx.op.Mul(ctx.op.AveragePool(y, count_include_pad=1, **layout.attrs), size)
    elif monoid == "max":
        y = ctx.op.MaxPool(y, **layout.attrs)
    else:
        y = ctx.op.Neg(ctx.op.MaxPool(ctx.op.Neg(y), **layout.attrs))
    return layout.from_pool(ctx, y, ctx.out_avals[0].shape)


def _i64(ctx: LoweringContext, values):
    return ctx.const(np.array(values, np.int64))


def _window_slices(ctx: LoweringContext, x, combine, dtype, fill, window, strides, padding, base_dilation, dilation):
    """The reduction as one strided Slice per window offset, combined elementwise."""
    shape = list(ctx.in_avals[0].shape)
    for d, f in enumerate(base_dilation):
        if f > 1:
            # Interleave f - 1 fill values after each element, then crop the trailing ones.
            x = ctx.kernel_op("Pad", ctx.op.Unsqueeze(x, _i64(ctx, [d + 1])), _i64(ctx, [0, f - 1]), fill,
                              _i64(ctx, [d + 1]), dtype=dtype, data=(0, 2))
            shape[d] = shape[d] * f
            x = ctx.op.Reshape(x, ctx.shape_tensor(shape))
            x = ctx.op.Slice(x, _i64(ctx, [0]), _i64(ctx, [1 - f]), _i64(ctx, [d]))
            shape[d] = shape[d] - (f - 1)
    if any(not isinstance(p, int) or p for pair in padding for p in pair):
        x = ctx.kernel_op("Pad", x, ctx.shape_tensor([lo for lo, _ in padding] + [hi for _, hi in padding]), fill,
                          dtype=dtype, data=(0, 2))
    axes = [d for d in range(len(window)) if window[d] > 1 or strides[d] > 1]
    if not axes:
        return x
    out = None
    for offsets in itertools.product(*[range(window[d]) for d in axes]):
        starts = [o * dilation[d] for o, d in zip(offsets, axes)]
        # Stop where the window's last tap would leave the array: a static offset from the end.
        ends = [s - (window[d] - 1) * dilation[d] or INT64_MAX for s, d in zip(starts, axes)]
        steps = [strides[d] for d in axes]
        piece = ctx.op.Slice(x, _i64(ctx, starts), _i64(ctx, ends), _i64(ctx, axes), _i64(ctx, steps))
        out = piece if out is None else combine(ctx, out, piece, dtype)
    return out


def _window(monoid: str):
    def rule(ctx: LoweringContext, x, *, window_dimensions, window_strides, padding, base_dilation, window_dilation):
        if all(f == 1 for f in base_dilation):
            pooled = _pool(ctx, x, monoid, window_dimensions, window_strides, padding, window_dilation)
            if pooled is not None:
                return pooled
        dtype = ctx.in_avals[0].dtype
        work = compute_dtype(dtype)
        combine, identity = MONOIDS[monoid]
        out = _window_slices(ctx, ctx.cast(x, work, from_dtype=dtype), combine, work,
                             ctx.const(np.array(identity(dtype), work)), window_dimensions, window_strides, padding,
                             base_dilation, window_dilation)
        return ctx.cast(out, dtype, from_dtype=work)

    return rule


def _ties_f(rng, shapes):
    return [rng.integers(0, 3, size=s).astype(np.float32) for s in shapes]


def _pool2x2(x, init, op):
    return lax.reduce_window(x, init, op, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


WINDOWS = {
    "reduce_window_max": ("max", ["MaxPool"], [
        Testcase("reduce_window_max_nhwc_pool", fn=lambda x: _pool2x2(x, -jnp.inf, lax.max), inputs=[("B", 4, 6, 3)],
                 expect_ops=["Transpose", "MaxPool", "Transpose"]),
        Testcase("reduce_window_max_same", fn=lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (3, 3), (1, 1), "SAME"),
                 inputs=[("B", 5)]),
        Testcase("reduce_window_max_dilated_strided",
                 fn=lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (1, 3), (1, 2), "VALID", window_dilation=(1, 2)),
                 inputs=[("B", 9)]),
        Testcase("reduce_window_max_leading_axis",
                 fn=lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (3, 1), (2, 1), "VALID"), inputs=[("B", 3)],
                 dim_sizes=(3, 6), forbid_ops=("Identity", "Slice"), min_opset=15,
                 min_opset_reason="asserts no Slice: below opset 15 reading a dim takes Shape and Slice"),
        Testcase("reduce_window_max_int32_padded",
                 fn=lambda x: lax.reduce_window(x, jnp.iinfo(jnp.int32).min, lax.max, (2, 3), (1, 1), "SAME"),
                 inputs=[("B", 5)], input_dtypes=[np.int32]),
        Testcase("reduce_window_max_base_dilation",
                 fn=lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (1, 2), (1, 1), ((0, 0), (1, 1)),
                                                base_dilation=(1, 2)),
                 inputs=[("B", 4)]),
        Testcase("reduce_window_max_4d_window", fn=lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (2, 2, 2, 2),
                                                                               (1, 1, 1, 2), "VALID"),
                 inputs=[(2, 3, 3, "B")]),
    ]),
    "reduce_window_min": ("min", ["MaxPool", "Neg"], [
        Testcase("reduce_window_min_pool", fn=lambda x: lax.reduce_window(x, jnp.inf, lax.min, (1, 2, 2), (1, 1, 1),
                                                                          "SAME"),
                 inputs=[("B", 4, 4)]),
        Testcase("reduce_window_min_float16",
                 fn=lambda x: lax.reduce_window(x, jnp.inf, lax.min, (2, 2), (1, 1), "VALID"),
                 inputs=[("B", 3)], input_dtypes=[np.float16]),
        Testcase("reduce_window_min_uint8", fn=lambda x: lax.reduce_window(x, jnp.uint8(255), lax.min, (3,), (2,),
                                                                           ((1, 1),)),
                 inputs=[("B",)], input_dtypes=[np.uint8]),
    ]),
    "reduce_window_sum": ("sum", ["AveragePool", "Mul"], [
        Testcase("reduce_window_sum_nhwc_pool", fn=lambda x: _pool2x2(x, 0.0, lax.add), inputs=[("B", 4, 6, 3)]),
        Testcase("reduce_window_sum_asymmetric_padding",
                 fn=lambda x: lax.reduce_window(x, 0.0, lax.add, (1, 3), (1, 1), ((0, 0), (2, 1))),
                 inputs=[("B", 5)]),
        Testcase("reduce_window_sum_dilated",
                 fn=lambda x: lax.reduce_window(x, 0.0, lax.add, (2, 2), (1, 1), "VALID", window_dilation=(1, 2)),
                 inputs=[("B", 6)]),
        Testcase("reduce_window_sum_int32", fn=lambda x: lax.reduce_window(x, 0, lax.add, (3, 1), (2, 1), "SAME"),
                 inputs=[("B", 3)], input_dtypes=[np.int32]),
        Testcase("reduce_window_sum_base_dilation",
                 fn=lambda x: lax.reduce_window(x, 0.0, lax.add, (3, 1), (1, 1), ((1, 1), (0, 0)),
                                                base_dilation=(2, 1)),
                 inputs=[("B", 3)]),
    ]),
}

for _name, (_monoid, _ops, _cases) in WINDOWS.items():
    lowering(_name, component=f"jax.lax.{_name}", onnx=[*_ops, "Slice"], since="0.1.0",
             doc=LAX_DOC.format("reduce_window"), testcases=_cases)(_window(_monoid))

@lowering("reduce_window", component="jax.lax.reduce_window", onnx=["Slice", *BINARY_OPS.values()],
          since="0.1.0", doc=LAX_DOC.format("reduce_window"),
          testcases=[
              Testcase("reduce_window_generic_prod",
                       fn=lambda x: lax.reduce_window(x, 1.0, lax.mul, (2, 1), (1, 1), "VALID"), inputs=[("B", 3)]),
              Testcase("reduce_window_generic_max_init",
                       fn=lambda x: lax.reduce_window(x, 0.0, lax.max, (1, 3), (1, 2), "SAME"), inputs=[("B", 5)]),
          ])
def lower_reduce_window(ctx: LoweringContext, *operands, jaxpr, consts, window_dimensions, window_strides, padding,
                        base_dilation,
                        window_dilation):
    body = binary_body(jaxpr)
    if len(operands) != 2 or body not in BINARY_OPS:
        raise ctx.fail("only single-operand windows reduced by one of add, mul, max, min are supported")
    op_type = BINARY_OPS[body]
    dtype = ctx.in_avals[0].dtype
    work = compute_dtype(dtype)
    x, init = (ctx.cast(v, work, from_dtype=dtype) for v in operands)

    def combine(c: LoweringContext, a, b, dtype):
        return c.emit(op_type, [a, b])

    out = _window_slices(ctx, x, combine, work, init, window_dimensions, window_strides, padding, base_dilation,
                         window_dilation)
    # XLA folds the init value into every window, not only into the padding.
    return ctx.cast(combine(ctx, init, out, work), dtype, from_dtype=work)


def _max_pool_argmax(ctx: LoweringContext, operand, select_prim, window, strides, padding, dilation):
    """MaxPool's flat argmax indices of ``operand`` in pool layout: the element XLA's select picks."""
    dtype = np.dtype(ctx.in_avals[1].dtype)
    # MaxPool runs float32/float64: narrower floats and integers up to 32 bits convert exactly.
    work = dtype if dtype in (np.float32, np.float64) else np.dtype(
        np.float32 if jnp.issubdtype(dtype, jnp.floating) else np.float64)
    if select_prim.name not in ("ge", "le") or dtype.itemsize > 4 and work != dtype or \
            not _PoolLayout.fits(window, padding, dilation):
        raise ctx.fail(f"needs select_prim ge or le, a dtype of at most 32 bits (or float64) and static padding, "
                       f"not {select_prim.name}, {dtype.name}, {padding}")
    operand = ctx.cast(operand, work, from_dtype=dtype)
    layout = _PoolLayout(window, strides, padding, dilation)
    if not 1 <= len(layout.spatial) <= 3:
        raise ctx.fail("pooling ops take 1 to 3 windowed dims")
    x = layout.to_pool(ctx, operand, ctx.in_avals[1].shape)
    # MaxPool keeps the first maximum, as XLA's ge does; le picks the first minimum.
    _, index = ctx.op.MaxPool(x if select_prim.name == "ge" else ctx.op.Neg(x), **layout.attrs, _outputs=2)
    return layout, x, index


SCATTER_ADD = "ScatterElements reduction='add'; no older op combines updates to the same index"


@lowering("select_and_scatter_add", component="jax.lax.select_and_scatter_add", onnx=["MaxPool", "ScatterElements"],
          since="0.1.0", doc=LAX_DOC.format("reduce_window"),
          testcases=[
              Testcase("reduce_window_max_grad", fn=lambda x: jax.grad(lambda y: jnp.sum(_pool2x2(y, -jnp.inf, lax.max)
                                                                                         ** 2))(x),
                       inputs=[("B", 4, 6, 3)], min_opset=16, min_opset_reason=SCATTER_ADD),
              Testcase("reduce_window_max_grad_overlapping",
                       fn=lambda x: jax.grad(lambda y: jnp.sum(jnp.sin(lax.reduce_window(
                           y, -jnp.inf, lax.max, (3, 2), (1, 1), "SAME"))))(x),
                       inputs=[("B", 5)], input_values=_ties_f, min_opset=16, min_opset_reason=SCATTER_ADD),
              Testcase("reduce_window_min_grad", fn=lambda x: jax.grad(lambda y: jnp.sum(jnp.cos(lax.reduce_window(
                  y, jnp.inf, lax.min, (1, 3), (1, 2), "VALID"))))(x), inputs=[("B", 7)],
                  min_opset=16, min_opset_reason=SCATTER_ADD),
              Testcase("reduce_window_max_grad_float16", fn=lambda x: jax.grad(lambda y: jnp.sum(lax.reduce_window(
                  y, -jnp.inf, lax.max, (1, 2), (1, 2), "VALID")))(x), inputs=[("B", 6)], input_dtypes=[np.float16],
                  min_opset=16, min_opset_reason=SCATTER_ADD),
          ])
def lower_select_and_scatter_add(ctx: LoweringContext, source, operand, *, select_prim, window_dimensions,
                                 window_strides, padding):
    layout, x, index = _max_pool_argmax(ctx, operand, select_prim, window_dimensions, window_strides, padding,
                                        (1,) * len(window_dimensions))
    # Each window adds its source value at the element it selected; windows may share one.
    flat = _i64(ctx, [-1])
    zeros = ctx.op.ConstantOfShape(ctx.op.Shape(x), value=ir.tensor(np.zeros(1, ctx.in_avals[0].dtype)))
    source = layout.to_pool(ctx, source, ctx.in_avals[0].shape)
    summed = ctx.kernel_op("ScatterElements", ctx.op.Reshape(zeros, flat), ctx.op.Reshape(index, flat),
                           ctx.op.Reshape(source, flat), dtype=ctx.in_avals[0].dtype, data=(0, 2),
                           kernel_key="ScatterElements:add", axis=0, reduction="add")
    return layout.from_pool(ctx, ctx.op.Reshape(summed, ctx.op.Shape(x)), ctx.in_avals[1].shape)


def _dilated_select_and_gather_add(ctx, tangents, operand, *, select_prim, base_dilation, **params):
    """Base dilation as XLA applies it: holes between the operand's elements hold the select's identity
    (-inf for a max, +inf for a min) and a zero tangent; the undilated rule then runs on that."""
    dtype = ctx.in_avals[1].dtype
    larger = select_prim is lax.ge_p
    if jnp.issubdtype(dtype, jnp.floating):
        hole = -np.inf if larger else np.inf
    else:
        hole = jnp.iinfo(dtype).min if larger else jnp.iinfo(dtype).max
    spread = [(0, 0, d - 1) for d in base_dilation]

    def dilated(t, x):
        t, x = lax.pad(t, np.zeros((), t.dtype), spread), lax.pad(x, np.array(hole, x.dtype), spread)
        return ctx.primitive.bind(t, x, select_prim=select_prim, base_dilation=(1,) * len(spread), **params)

    specs = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in ctx.in_avals]
    with jax.enable_x64(ctx.double_precision):
        closed = jax.make_jaxpr(dilated)(*specs)
    return ctx.lower_jaxpr(closed, tangents, operand)


@lowering("select_and_gather_add", component="jax.lax.select_and_gather_add", onnx=["MaxPool", "GatherElements"],
          since="0.1.0", doc=LAX_DOC.format("reduce_window"),
          testcases=[
              Testcase("reduce_window_max_jvp", fn=lambda x, t: jax.jvp(lambda y: lax.reduce_window(
                  y, -jnp.inf, lax.max, (2, 2), (1, 1), "SAME"), (x,), (t,)), inputs=[("B", 6), ("B", 6)]),
              Testcase("reduce_window_min_jvp_dilated", fn=lambda x, t: jax.jvp(lambda y: lax.reduce_window(
                  y, jnp.inf, lax.min, (1, 2), (1, 1), "VALID", window_dilation=(1, 2)), (x,), (t,)),
                       inputs=[("B", 6), ("B", 6)], input_values=lambda rng, s: [*_ties_f(rng, s[:1]),
                                                                                 rng.standard_normal(s[1])]),
              Testcase("reduce_window_max_jvp_base_dilated", fn=lambda x, t: jax.jvp(lambda y: lax.reduce_window(
                  y, -jnp.inf, lax.max, (2, 2), (1, 1), "VALID", base_dilation=(2, 3)), (x,), (t,)),
                       inputs=[("B", 4), ("B", 4)]),
          ])
def lower_select_and_gather_add(ctx: LoweringContext, tangents, operand, *, select_prim, window_dimensions,
                                window_strides, padding,
                                base_dilation, window_dilation):
    if any(f != 1 for f in base_dilation):
        return _dilated_select_and_gather_add(ctx, tangents, operand, select_prim=select_prim,
                                              window_dimensions=window_dimensions, window_strides=window_strides,
                                              padding=padding, base_dilation=base_dilation,
                                              window_dilation=window_dilation)
    layout, _, index = _max_pool_argmax(ctx, operand, select_prim, window_dimensions, window_strides, padding,
                                        window_dilation)
    tangents = ctx.op.Reshape(layout.to_pool(ctx, tangents, ctx.in_avals[0].shape), _i64(ctx, [-1]))
    picked = ctx.op.GatherElements(tangents, ctx.op.Reshape(index, _i64(ctx, [-1])), axis=0)
    return layout.from_pool(ctx, ctx.op.Reshape(picked, ctx.op.Shape(index)), ctx.out_avals[0].shape)
