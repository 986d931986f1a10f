"""Reductions over axes: sums, products, extrema, bitwise reductions, argmax and argmin."""

from __future__ import annotations

import functools
import math

import jax
import jax.extend.core as jex_core
import jax.numpy as jnp
import numpy as np
from jax import lax

from jax2onnx.plugin import LoweringContext, Testcase, lowering
from jax2onnx_lax._shared import LAX_DOC

# The dtypes ONNX Runtime's CPU kernels cover for reductions, CumSum, TopK and ArgMax alike.
NATIVE_DTYPES = {np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64)}


def compute_dtype(dtype) -> np.dtype:
    """The dtype to compute in: ``dtype``, or a wider one the CPU kernels cover.

    Integer sums and products wrap alike in the wider type, so casting back is exact; uint64
    compares correctly below 2**63 only.
    """
    dtype = np.dtype(dtype)
    if dtype in NATIVE_DTYPES:
        return dtype
    if jnp.issubdtype(dtype, jnp.floating):
        return np.dtype(np.float32)
    return np.dtype(np.int64 if dtype.itemsize >= 4 else np.int32)


def binary_body(jaxpr) -> str | None:
    """The primitive of a reduction body that applies one binary primitive to its two inputs, else None."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    eqns = jaxpr.eqns
    if len(eqns) != 1 or eqns[0].invars not in (jaxpr.invars, jaxpr.invars[::-1]) or \
            jaxpr.outvars != eqns[0].outvars:
        return None
    return eqns[0].primitive.name


def _ints(rng, shape, low=-8, high=9):
    return rng.integers(low, high, size=shape)


def _ties(rng, shapes):
    return [rng.integers(0, 3, size=shapes[0]).astype(np.float32)]


def _with_nans(rng, shapes):
    x = rng.integers(0, 3, size=shapes[0]).astype(np.float32)
    x[..., 1] = np.nan
    x[0, :] = np.nan
    return [x]


# ONNX Runtime's ReduceMax/ReduceMin skip NaNs where XLA propagates them; matching that would
# cost a second pass over the data on every max, so NaN inputs are left to the caller.
REDUCE_OPS = {
    "reduce_sum": ("ReduceSum", [
        Testcase("reduce_sum_axis1", fn=lambda x: jnp.sum(x, axis=1), inputs=[("B", 4, 5)], expect_ops=["ReduceSum"]),
        Testcase("reduce_sum_all", fn=lambda x: jnp.sum(x), inputs=[("B", 3)]),
        Testcase("reduce_sum_int8_wraps", fn=lambda x: lax.reduce_sum(x, (1,)), inputs=[("B", 6)],
                 input_dtypes=[np.int8], input_values=lambda rng, s: [_ints(rng, s[0], -128, 128)]),
        Testcase("reduce_sum_float16", fn=lambda x: jnp.sum(x, axis=1), inputs=[("B", 6)], input_dtypes=[np.float16]),
        Testcase("reduce_mean", fn=lambda x: jnp.mean(x, axis=(0, 2)), inputs=[("B", 3, 4)]),
        Testcase("reduce_var", fn=lambda x: jnp.var(x, axis=-1), inputs=[("B", 6)]),
    ]),
    "reduce_max": ("ReduceMax", [
        Testcase("reduce_max_axes02", fn=lambda x: jnp.max(x, axis=(0, 2)), inputs=[("B", 3, 4)],
                 expect_ops=["ReduceMax"]),
        Testcase("reduce_max_int32", fn=lambda x: jnp.max(x, axis=0), inputs=[("B", 3)], input_dtypes=[np.int32]),
        Testcase("reduce_max_bool", fn=lambda x: jnp.max(x, axis=1), inputs=[("B", 5)], input_dtypes=[np.bool_]),
    ]),
    "reduce_min": ("ReduceMin", [
        Testcase("reduce_min_axis0", fn=lambda x: jnp.min(x, axis=0), inputs=[("B", 3)], expect_ops=["ReduceMin"]),
        Testcase("reduce_min_uint8", fn=lambda x: jnp.min(x, axis=1), inputs=[("B", 4)], input_dtypes=[np.uint8]),
    ]),
    "reduce_prod": ("ReduceProd", [
        Testcase("reduce_prod_axis1", fn=lambda x: jnp.prod(x, axis=1), inputs=[("B", 5)], expect_ops=["ReduceProd"],
                 input_values=lambda rng, s: [rng.uniform(0.5, 1.5, s[0])]),
        Testcase("reduce_prod_int32", fn=lambda x: jnp.prod(x, axis=0), inputs=[("B", 3)], input_dtypes=[np.int32]),
    ]),
}


def _reduce(op_type: str):
    def rule(ctx: LoweringContext, x, *, axes, **params):
        if not axes:
            return x
        dtype = ctx.in_avals[0].dtype
        work = compute_dtype(dtype)
        out = ctx.emit(op_type, [ctx.cast(x, work, from_dtype=dtype), ctx.const(np.array(axes, np.int64))],
                             {"keepdims": 0})
        return ctx.cast(out, dtype, from_dtype=work)

    return rule


for _name, (_op, _cases) in REDUCE_OPS.items():
    lowering(_name, component=f"jax.lax.{_name}", onnx=[_op], since="0.1.0", doc=LAX_DOC.format(_name),
             testcases=_cases)(_reduce(_op))


# A bitwise reduction is, per bit, the min (and), max (or) or parity of sum (xor) of that bit.
BITWISE_OPS = {
    "reduce_and": ("ReduceMin", [
        Testcase("reduce_and_bool", fn=lambda x: jnp.all(x, axis=1), inputs=[("B", 3)], input_dtypes=[np.bool_],
                 input_values=lambda rng, s: [rng.random(s[0]) < 0.8]),
        Testcase("reduce_and_int32", fn=lambda x: lax.reduce_and(x, (0,)), inputs=[("B", 4)], input_dtypes=[np.int32],
                 input_values=lambda rng, s: [_ints(rng, s[0], -2**31, 2**31) | 0x0F0F]),
    ]),
    "reduce_or": ("ReduceMax", [
        Testcase("reduce_or_bool", fn=lambda x: jnp.any(x, axis=0), inputs=[("B", 3)], input_dtypes=[np.bool_],
                 input_values=lambda rng, s: [rng.random(s[0]) < 0.2]),
        # Found by the fuzzer: over an empty axis, any is False (ReduceMax gave INT_MIN, cast to True).
        Testcase("reduce_or_bool_empty", fn=lambda x: (jnp.any(x, axis=1), jnp.all(x, axis=1)), inputs=[("B", 0)],
                 input_dtypes=[np.bool_]),
        Testcase("reduce_or_uint8", fn=lambda x: lax.reduce_or(x, (1,)), inputs=[("B", 3)], input_dtypes=[np.uint8],
                 input_values=lambda rng, s: [1 << _ints(rng, s[0], 0, 8)]),
        Testcase("reduce_or_int16", fn=lambda x: lax.reduce_or(x, (1,)), inputs=[("B", 3)], input_dtypes=[np.int16],
                 input_values=lambda rng, s: [_ints(rng, s[0], -2**15, 2**15)]),
    ]),
    "reduce_xor": ("ReduceSum", [
        Testcase("reduce_xor_bool", fn=lambda x: lax.reduce_xor(x, (1,)), inputs=[("B", 4)], input_dtypes=[np.bool_]),
        Testcase("reduce_xor_int8", fn=lambda x: lax.reduce_xor(x, (0, 1)), inputs=[("B", 4)], input_dtypes=[np.int8],
                 input_values=lambda rng, s: [_ints(rng, s[0], -128, 128)]),
    ]),
}


def _bitwise(op_type: str, parity: bool):
    def rule(ctx: LoweringContext, x, *, axes, **params):
        if not axes:  # ONNX reduces over every axis when given none; JAX reduces over none
            return x
        dtype = np.dtype(ctx.in_avals[0].dtype)
        reduce_axes = ctx.const(np.array(axes, np.int64))
        if dtype == np.bool_:
            bits = ctx.emit(op_type, [ctx.cast(x, np.int32, from_dtype=dtype), reduce_axes], {"keepdims": 0})
            if parity:
                return ctx.cast(ctx.op.BitwiseAnd(bits, ctx.const(np.int32(1))), dtype, np.int32)
            # Over an empty axis ReduceMax gives INT_MIN (any: False), ReduceMin INT_MAX (all: True).
            return ctx.op.Greater(bits, ctx.const(np.int32(0)))
        width = 8 * dtype.itemsize
        masks = (np.uint64(1) << np.arange(width, dtype=np.uint64)).astype(f"uint{width}").view(dtype)
        split = ctx.op.BitwiseAnd(ctx.op.Unsqueeze(x, ctx.const(np.array([-1], np.int64))), ctx.const(masks))
        bits = ctx.cast(ctx.cast(split, np.bool_, from_dtype=dtype), np.int32, from_dtype=np.bool_)
        bits = ctx.emit(op_type, [bits, reduce_axes], {"keepdims": 0})
        if parity:
            bits = ctx.op.BitwiseAnd(bits, ctx.const(np.int32(1)))
        # Distinct bits add up to their bitwise or; int64 holds every width's bit pattern.
        weighted = ctx.op.Mul(ctx.cast(bits, np.int64, from_dtype=np.int32), ctx.const(masks.astype(np.int64)))
        packed = ctx.op.ReduceSum(weighted, ctx.const(np.array([-1], np.int64)), keepdims=0)
        return ctx.cast(packed, dtype, from_dtype=np.int64)

    return rule


for _name, (_op, _cases) in BITWISE_OPS.items():
    lowering(_name, component=f"jax.lax.{_name}", onnx=["BitwiseAnd", _op, "ReduceSum"], since="0.1.0",
             doc=LAX_DOC.format(_name), testcases=_cases)(_bitwise(_op, parity=_name == "reduce_xor"))


ARG_OPS = {
    "argmax": ("ArgMax", [
        Testcase("argmax_ties_first", fn=lambda x: jnp.argmax(x, axis=1), inputs=[("B", 6)], input_values=_ties),
        Testcase("argmax_axis0_int32_index", fn=lambda x: lax.argmax(x, 0, jnp.int32), inputs=[("B", 3)],
                 input_values=_ties),
        Testcase("argmax_nan_first", fn=lambda x: jnp.argmax(x, axis=-1), inputs=[("B", 4)], input_values=_with_nans),
        Testcase("argmax_int32", fn=lambda x: jnp.argmax(x, axis=0), inputs=[(3, "B")], input_dtypes=[np.int32]),
        Testcase("argmax_float16", fn=lambda x: jnp.argmax(x, axis=1), inputs=[("B", 5)], input_dtypes=[np.float16],
                 input_values=_with_nans),
        Testcase("argmax_bool", fn=lambda x: jnp.argmax(x, axis=1), inputs=[("B", 5)], input_dtypes=[np.bool_]),
    ]),
    "argmin": ("ArgMin", [
        Testcase("argmin_ties_first", fn=lambda x: jnp.argmin(x, axis=1), inputs=[("B", 6)], input_values=_ties),
        Testcase("argmin_nan_first", fn=lambda x: jnp.argmin(x, axis=1), inputs=[("B", 4)], input_values=_with_nans),
        Testcase("argmin_int8", fn=lambda x: jnp.argmin(x, axis=1), inputs=[("B", 7)], input_dtypes=[np.int8]),
    ]),
}


def _arg(op_type: str):
    def rule(ctx: LoweringContext, x, *, axes, index_dtype):
        (axis,) = axes
        dtype = ctx.in_avals[0].dtype
        index = ctx.emit(op_type, [ctx.cast(x, compute_dtype(dtype), from_dtype=dtype)],
                               {"axis": axis, "keepdims": 0})
        if jnp.issubdtype(dtype, jnp.floating):
            # XLA picks the first NaN; ONNX Runtime skips NaNs.
            nans = ctx.cast(ctx.op.IsNaN(x), np.int32, from_dtype=np.bool_)
            any_nan = ctx.op.ReduceMax(nans, ctx.const(np.array([axis], np.int64)), keepdims=0)
            first_nan = ctx.op.ArgMax(nans, axis=axis, keepdims=0)
            index = ctx.op.Where(ctx.cast(any_nan, np.bool_, from_dtype=np.int32), first_nan, index)
        return ctx.cast(index, index_dtype, from_dtype=np.int64)

    return rule


for _name, (_op, _cases) in ARG_OPS.items():
    lowering(_name, component=f"jax.lax.{_name}", onnx=[_op], since="0.1.0", doc=LAX_DOC.format(_name),
             testcases=_cases)(_arg(_op))


# lax.reduce with a body of one of these and an init value that is not its identity.
GENERIC_REDUCE = {"add": "ReduceSum", "mul": "ReduceProd", "max": "ReduceMax", "min": "ReduceMin"}
BINARY_OPS = {"add": "Add", "mul": "Mul", "max": "Max", "min": "Min"}


def separable_body(jaxpr, count: int) -> list[str] | None:
    """The primitive of each output of a ``count``-operand reduction body when output k is one of
    add, mul, max, min applied to accumulator k and element k alone (a max and a min side by side), else None."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    accs, elems = jaxpr.invars[:count], jaxpr.invars[count:]
    producers = {id(v): e for e in jaxpr.eqns for v in e.outvars}
    ops = []
    for k, out in enumerate(jaxpr.outvars):
        eqn = producers.get(id(out))
        if eqn is None or eqn.primitive.name not in GENERIC_REDUCE or set(map(id, eqn.invars)) != {id(accs[k]),
                                                                                                  id(elems[k])}:
            return None
        ops.append(eqn.primitive.name)
    return ops if len(jaxpr.eqns) == count else None


def _reduce_with_init(ctx, x, init, body: str, dimensions, dtype):
    work = compute_dtype(dtype)
    x, init = (ctx.cast(v, work, from_dtype=dtype) for v in (x, init))
    out = ctx.emit(GENERIC_REDUCE[body], [x, ctx.const(np.array(dimensions, np.int64))], {"keepdims": 0})
    return ctx.cast(ctx.emit(BINARY_OPS[body], [init, out]), dtype, from_dtype=work)


def reduce_in_order(*args, body, dimensions):
    """``lax.reduce`` as XLA runs it on CPU: the body applied elementwise to the accumulators and each
    reduced element in turn (row-major over ``dimensions``), from the init values."""
    n = len(args) // 2
    xs, inits = args[:n], args[n:]
    keep = [d for d in range(xs[0].ndim) if d not in dimensions]
    rest = tuple(xs[0].shape[d] for d in keep)
    steps, size = math.prod(xs[0].shape[d] for d in dimensions), math.prod(rest)
    flat = [jnp.transpose(x, (*dimensions, *keep)).reshape(steps, size) for x in xs]
    apply = jax.vmap(jex_core.jaxpr_as_fun(body))
    accs = tuple(jnp.broadcast_to(i, (size,)) for i in inits)
    accs = lax.fori_loop(0, steps, lambda i, accs: tuple(apply(*accs, *(f[i] for f in flat))), accs)
    return [a.reshape(rest) for a in accs]


def _argmax_pair(x, index):
    """A two-operand reduce: the largest value and, among ties, the smallest index (what argmax does)."""
    def body(acc, elem):
        better = (elem[0] > acc[0]) | ((elem[0] == acc[0]) & (elem[1] < acc[1]))
        return lax.select(better, elem[0], acc[0]), lax.select(better, elem[1], acc[1])
    return lax.reduce((x, index), (np.array(-np.inf, x.dtype), np.int32(2**31 - 1)), body, (1,))


@lowering("reduce", component="jax.lax.reduce", onnx=[*GENERIC_REDUCE.values(), *BINARY_OPS.values(), "Loop"],
          since="0.1.0", doc=LAX_DOC.format("reduce"),
          testcases=[
              Testcase("reduce_generic_max_init", fn=lambda x: lax.reduce(x, np.array(0.5, x.dtype), lax.max, (1,)),
                       inputs=[("B", 4)]),
              Testcase("reduce_generic_sum_init", fn=lambda x: lax.reduce(x, np.int32(10), lax.add, (0, 1)),
                       inputs=[("B", 3)], input_dtypes=[np.int32]),
              Testcase("reduce_variadic_max_min",
                       fn=lambda x, i: lax.reduce((x, i), (np.float32(3), np.int32(0)),
                                                  lambda a, b: (lax.max(a[0], b[0]), lax.min(a[1], b[1])), (0,)),
                       inputs=[("B", 4), ("B", 4)], input_dtypes=[np.float32, np.int32],
                       expect_ops=["ReduceMax", "Max", "ReduceMin", "Min"], x64=False),
              Testcase("reduce_variadic_argmax_pair", fn=lambda x, i: _argmax_pair(x, i),
                       inputs=[("B", 5), ("B", 5)], input_dtypes=[np.float32, np.int32],
                       input_values=lambda rng, s: [rng.integers(0, 3, s[0]), rng.permutation(s[1][1]) * np.ones(
                           s[1], np.int32)], x64=False),
              Testcase("reduce_variadic_over_symbolic_axis", fn=lambda x, i: _argmax_pair(x.T, i.T),
                       inputs=[(5, "B"), (5, "B")], input_dtypes=[np.float32, np.int32],
                       input_values=lambda rng, s: [rng.integers(0, 3, s[0]), rng.integers(0, 9, s[1])], x64=False),
          ])
def lower_reduce(ctx: LoweringContext, *operands, computation, jaxpr, dimensions):
    count = len(operands) // 2
    ops = separable_body(jaxpr, count)
    if ops is not None:
        return [_reduce_with_init(ctx, x, init, op, dimensions, a.dtype)
                for x, init, op, a in zip(operands[:count], operands[count:], ops, ctx.in_avals)]
    body = jaxpr if isinstance(jaxpr, jex_core.ClosedJaxpr) else jex_core.ClosedJaxpr(jaxpr, [])
    specs = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in ctx.in_avals]
    with jax.enable_x64(ctx.double_precision):
        closed = jax.make_jaxpr(functools.partial(reduce_in_order, body=body, dimensions=tuple(dimensions)))(*specs)
    return ctx.lower_jaxpr(closed, *operands)
