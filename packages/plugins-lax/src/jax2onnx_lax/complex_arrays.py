"""Complex arrays beyond elementwise: reductions, scans, windows, sorting and scatters on complex values,
and the primitives that only create or pass them on (iota, device_put, bitcast_convert_type).

Most rules trace a jax.numpy/lax form of the primitive on the equation's complex types (``traced``), so
its arithmetic lowers through the complex rules of ``complex``: a product is a complex multiplication,
max and min are XLA's lexicographic order on (real, imaginary). Products and extrema combine in the order
XLA's CPU backend does (reductions element after element, cumulative ops by JAX's associative scan).
"""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jax2onnx.plugin import LoweringContext, lowering
from jax2onnx_lax._shared import LAX_DOC
from jax2onnx_lax.complex import _cases, on_parts, part_dtype
from jax2onnx_lax.reductions import reduce_in_order

C64 = np.complex64
BINARY = {"prod": lax.mul, "max": lax.max, "min": lax.min, "sum": lax.add}


def traced(ctx: LoweringContext, fn, *xs):
    """Lowers ``fn`` traced on the equation's own input types: its complex operations lower through their rules."""
    specs = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in ctx.in_avals]
    with jax.enable_x64(ctx.double_precision):
        return ctx.lower_jaxpr(jax.make_jaxpr(fn)(*specs), *xs)


def _identity(monoid: str, dtype):
    return np.array({"prod": 1, "sum": 0, "max": -np.inf, "min": np.inf}[monoid], dtype)


def _body(monoid: str, dtype):
    scalar = jax.ShapeDtypeStruct((), dtype)
    return jax.make_jaxpr(BINARY[monoid])(scalar, scalar)


def _lattice(rng, shapes):
    """Small Gaussian integers: ties in real parts make the imaginary parts decide an ordering."""
    return [rng.integers(-2, 3, (*s, 2)) @ np.array([1, 1j]) for s in shapes]


@lowering("complex:iota", component="jax.lax.iota (complex)", onnx=["Range", "Pad"], since="0.2.0",
          doc=LAX_DOC.format("iota"),
          testcases=_cases("complex_iota", lambda x: x + lax.broadcasted_iota(x.dtype, x.shape, 1), [("B", 4)]))
def lower_iota(ctx: LoweringContext, *, dtype, shape, dimension, **params):
    real = part_dtype(dtype)
    return traced(ctx, lambda: lax.broadcasted_iota(real, shape, dimension).astype(dtype))


@lowering("complex:device_put", component="jax.device_put (complex)", onnx=[], since="0.2.0",
          doc="https://docs.jax.dev/en/latest/_autosummary/jax.device_put.html",
          testcases=_cases("complex_device_put", lambda x: jax.device_put(x) * 2j, [("B", 3)]))
def lower_device_put(ctx: LoweringContext, *xs, **params):
    return list(xs)


@lowering("complex:bitcast_convert_type", component="jax.lax.bitcast_convert_type (complex)", onnx=[],
          since="0.2.0", doc=LAX_DOC.format("bitcast_convert_type"),
          testcases=_cases("complex_bitcast_convert_type", lambda x: lax.bitcast_convert_type(x, x.dtype) * 2j,
                           [("B", 3)]))
def lower_bitcast_convert_type(ctx: LoweringContext, x, *, new_dtype, **params):
    # JAX bitcasts complex arrays only to their own dtype.
    if np.dtype(new_dtype) != np.dtype(ctx.in_avals[0].dtype):
        raise ctx.fail(f"bitcast of {ctx.in_avals[0].dtype} to {np.dtype(new_dtype)} is not supported")
    return x


# --- Reductions: the body applied element after element, as XLA's CPU reduce -----------------------


def _reduction(monoid: str):
    def rule(ctx: LoweringContext, x, *, axes, **params):
        dtype = ctx.in_avals[0].dtype
        return traced(ctx, lambda v: reduce_in_order(v, _identity(monoid, dtype), body=_body(monoid, dtype),
                                                     dimensions=tuple(axes))[0], x)
    return rule


REDUCTIONS = {
    "reduce_prod": ("prod", _cases("complex_reduce_prod", lambda x: jnp.prod(x, axis=1), [("B", 5)])),
    "reduce_max": ("max", _cases("complex_reduce_max", lambda x: jnp.max(x, axis=(0, 2)), [("B", 3, 4)],
                                 input_values=_lattice)),
    "reduce_min": ("min", _cases("complex_reduce_min", lambda x: jnp.min(x, axis=1), [("B", 6)],
                                 input_values=_lattice)),
}

for _name, (_monoid, _testcases) in REDUCTIONS.items():
    lowering(f"complex:{_name}", component=f"jax.lax.{_name} (complex)", onnx=["Loop", "Mul", "Where"],
             since="0.2.0", doc=LAX_DOC.format(_name), testcases=_testcases)(_reduction(_monoid))


@lowering("complex:reduce", component="jax.lax.reduce (complex)", onnx=["Loop"], since="0.2.0",
          doc=LAX_DOC.format("reduce"),
          testcases=[*_cases("complex_reduce_generic_max_init",
                             lambda x: lax.reduce(x, np.array(1j, x.dtype), lax.max, (1,)), [("B", 4)],
                             input_values=_lattice),
                     *_cases("complex_reduce_variadic_add_mul",
                             lambda x, y: lax.reduce((x, y), (np.array(1, x.dtype), np.array(1j, y.dtype)),
                                                     lambda a, b: (a[0] + b[0], a[1] * b[1]), (1,)),
                             [("B", 4), ("B", 4)])])
def lower_reduce(ctx: LoweringContext, *operands, computation, jaxpr, dimensions):
    body = jaxpr if isinstance(jaxpr, jax.extend.core.ClosedJaxpr) else jax.extend.core.ClosedJaxpr(jaxpr, [])
    return traced(ctx, functools.partial(reduce_in_order, body=body, dimensions=tuple(dimensions)), *operands)


# --- Cumulative ops: JAX's own CPU lowering, an associative scan ------------------------------------


def _cumulative(monoid: str):
    def rule(ctx: LoweringContext, x, *, axis, reverse):
        if not isinstance(ctx.in_avals[0].shape[axis], int):
            raise ctx.fail(f"a complex cum{monoid} needs a static size along axis {axis}")
        return traced(ctx, lambda v: lax.associative_scan(BINARY[monoid], v, reverse=reverse, axis=axis), x)
    return rule


CUMULATIVE = {
    "cumprod": ("prod", _cases("complex_cumprod", lambda x: lax.cumprod(x, 1), [("B", 6)])),
    "cummax": ("max", _cases("complex_cummax_reverse", lambda x: lax.cummax(x, 0, reverse=True), [(5, "B")],
                             input_values=_lattice)),
    "cummin": ("min", _cases("complex_cummin", lambda x: lax.cummin(x, 1), [("B", 7)], input_values=_lattice)),
}

for _name, (_monoid, _testcases) in CUMULATIVE.items():
    lowering(f"complex:{_name}", component=f"jax.lax.{_name} (complex)", onnx=["Slice", "Mul", "Where", "Pad"],
             since="0.2.0", doc=LAX_DOC.format(_name), testcases=_testcases)(_cumulative(_monoid))


# --- Windows: one strided slice per window offset, combined after the init value ------------------


def windows_in_order(x, init, *, op, window_dimensions, window_strides, padding, base_dilation, window_dilation):
    """``reduce_window`` as XLA runs it on CPU: each window's elements combined in turn into the init value;
    padding and base-dilation holes are skipped (they count as the init value only where ``op`` is idempotent)."""
    config = [(lo, hi, f - 1) for (lo, hi), f in zip(padding, base_dilation)]
    x, inside = lax.pad(x, init, config), lax.pad(jnp.ones(x.shape, bool), False, config)
    counts = [max(0, (n - (w - 1) * d - 1) // s + 1)
              for n, w, d, s in zip(x.shape, window_dimensions, window_dilation, window_strides)]
    out = jnp.broadcast_to(init, counts)
    for offsets in itertools.product(*map(range, window_dimensions)):
        starts = [o * d for o, d in zip(offsets, window_dilation)]
        limits = [s + (c - 1) * st + 1 if c else s for s, c, st in zip(starts, counts, window_strides)]
        piece = functools.partial(lax.slice, start_indices=starts, limit_indices=limits, strides=window_strides)
        out = jnp.where(piece(inside), op(out, piece(x)), out)
    return out


def _window(monoid: str):
    def rule(ctx: LoweringContext, x, **params):
        init = _identity(monoid, ctx.in_avals[0].dtype)
        return traced(ctx, lambda v: windows_in_order(v, init, op=BINARY[monoid], **params), x)
    return rule


def _window_case(name, op, init, **kw):
    return _cases(name, lambda x: lax.reduce_window(x, np.array(init, x.dtype), op, (2, 3), (1, 2), "SAME", **kw),
                  [("B", 6)], input_values=_lattice)


WINDOWS = {
    "reduce_window_sum": ("sum", _window_case("complex_reduce_window_sum", lax.add, 0, window_dilation=(1, 2))),
    "reduce_window_max": ("max", _window_case("complex_reduce_window_max", lax.max, -np.inf, base_dilation=(2, 1))),
    "reduce_window_min": ("min", _window_case("complex_reduce_window_min", lax.min, np.inf)),
}

for _name, (_monoid, _testcases) in WINDOWS.items():
    lowering(f"complex:{_name}", component=f"jax.lax.{_name} (complex)", onnx=["Pad", "Slice", "Where"],
             since="0.2.0", doc=LAX_DOC.format("reduce_window"), testcases=_testcases)(_window(_monoid))


@lowering("complex:reduce_window", component="jax.lax.reduce_window (complex)", onnx=["Pad", "Slice", "Mul"],
          since="0.2.0", doc=LAX_DOC.format("reduce_window"),
          testcases=_window_case("complex_reduce_window_generic_mul", lax.mul, 1j))
def lower_reduce_window(ctx: LoweringContext, x, init, *, jaxpr, consts, **params):
    body = jax.extend.core.jaxpr_as_fun(jax.extend.core.ClosedJaxpr(getattr(jaxpr, "jaxpr", jaxpr), consts))
    return traced(ctx, lambda v, i: windows_in_order(v, i, op=lambda a, b: body(a, b)[0], **params), x, init)


# --- Sorting: a complex key is two keys, its real and its imaginary part (as JAX's comparator) ----


def _sort_parts(*xs, complex_in, dimension, is_stable, num_keys):
    operands, keys = [], 0
    for i, (x, is_complex) in enumerate(zip(xs, complex_in)):
        parts = [x[..., 0], x[..., 1]] if is_complex else [x]
        operands += parts
        keys += len(parts) if i < num_keys else 0
    out = iter(lax.sort(operands, dimension=dimension, is_stable=is_stable, num_keys=keys))
    return [jnp.stack([next(out), next(out)], axis=-1) if c else next(out) for c in complex_in]


@lowering("complex:sort", component="jax.lax.sort (complex)", onnx=["TopK", "GatherElements"], since="0.2.0",
          doc=LAX_DOC.format("sort"),
          testcases=[*_cases("complex_sort", lambda x: jnp.sort(x, axis=0), [("B", 3)], input_values=_lattice),
                     *_cases("complex_sort_values_by_real_key", lambda k, v: lax.sort_key_val(k, v, dimension=1),
                             [("B", 5), ("B", 5)], [np.float32, C64])])
def lower_sort(ctx: LoweringContext, *operands, **params):
    complex_in = [np.dtype(a.dtype).kind == "c" for a in ctx.in_avals]
    return on_parts(ctx, functools.partial(_sort_parts, complex_in=complex_in, **params), *operands)


# --- Scatters that multiply or order: the updates applied one after another ------------------------


def scatter_in_order(operand, indices, updates, *, op, dimension_numbers, mode):
    """Each update element combined into the operand element it targets, in order (duplicates included).

    The targets come from a gather of element numbers with the scatter's dual dimension numbers;
    windows the scatter drops gather -1.
    """
    dn = dimension_numbers
    window = iter(dn.update_window_dims)
    sizes = [1 if d in (*dn.inserted_window_dims, *dn.operand_batching_dims) else updates.shape[next(window)]
             for d in range(operand.ndim)]
    gather_dn = lax.GatherDimensionNumbers(
        offset_dims=dn.update_window_dims, collapsed_slice_dims=dn.inserted_window_dims,
        start_index_map=dn.scatter_dims_to_operand_dims, operand_batching_dims=dn.operand_batching_dims,
        start_indices_batching_dims=dn.scatter_indices_batching_dims)
    numbers = jnp.arange(math.prod(operand.shape), dtype=np.int32).reshape(operand.shape)
    gather_mode = mode if mode == lax.GatherScatterMode.FILL_OR_DROP else lax.GatherScatterMode.CLIP
    targets = lax.gather(numbers, indices, gather_dn, tuple(sizes), mode=gather_mode, fill_value=-1).reshape(-1)
    values = updates.reshape(-1)

    def step(i, flat):
        target = jnp.maximum(targets[i], 0)
        current = lax.dynamic_index_in_dim(flat, target, keepdims=False)
        new = jnp.where(targets[i] >= 0, op(current, values[i]), current)
        return lax.dynamic_update_index_in_dim(flat, new, target, 0)

    return lax.fori_loop(0, values.shape[0], step, operand.reshape(-1)).reshape(operand.shape)


def _scatter(monoid: str):
    def rule(ctx: LoweringContext, operand, indices, updates, *, dimension_numbers, mode, **params):
        return traced(ctx, functools.partial(scatter_in_order, op=BINARY[monoid], dimension_numbers=dimension_numbers,
                                             mode=mode), operand, indices, updates)
    return rule


def _rows(rng, shapes):
    return [*_lattice(rng, shapes[:1]), rng.integers(0, shapes[0][0], shapes[1]), *_lattice(rng, shapes[2:])]


SCATTERS = {
    "scatter-mul": ("prod", _cases("complex_scatter_mul_duplicates", lambda x, i, v: x.at[i].mul(v),
                                   [(4, "B"), (6,), (6, "B")], [C64, np.int32, C64], input_values=_rows)),
    "scatter-max": ("max", _cases("complex_scatter_max_column", lambda x, i, v: x.at[:, i].max(v),
                                  [("B", 4), (3,), ("B", 3)], [C64, np.int32, C64],
                                  input_values=lambda rng, s: [*_lattice(rng, s[:1]), rng.integers(0, 5, s[1]),
                                                               *_lattice(rng, s[2:])])),
    "scatter-min": ("min", _cases("complex_scatter_min_drop", lambda x, i, v: x.at[i].min(v, mode="drop"),
                                  [(4, "B"), (5,), (5, "B")], [C64, np.int32, C64],
                                  input_values=lambda rng, s: [*_lattice(rng, s[:1]), rng.integers(-1, 6, s[1]),
                                                               *_lattice(rng, s[2:])])),
}

for _name, (_monoid, _testcases) in SCATTERS.items():
    lowering(f"complex:{_name}", component=f"jax.lax.{_name.replace('-', '_')} (complex)",
             onnx=["Gather", "Loop", "Mul", "Where"], since="0.2.0", doc=LAX_DOC.format("scatter"),
             testcases=_testcases)(_scatter(_monoid))
