"""Complex numbers: rules for primitives whose operands or results are complex.

The graph holds a complex array as a real array of its parts' dtype with a trailing axis of 2
([real, imag]; complex64[3] is float32[3, 2]), at its inputs and outputs too: ONNX Runtime has
no complex kernels. Core lowers the primitives that treat both parts alike (add, reshape,
slicing, reduce_sum ...) on the parts; the rules here, registered as ``complex:<primitive>``,
lower the rest. In these rules a complex value ``x`` is that [..., 2] tensor.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jax2onnx.plugin import LoweringContext, Testcase, coverage, has_lax_primitive, lowering
from jax2onnx_lax._shared import LAX_DOC

C64 = np.complex64


def part_dtype(dtype) -> np.dtype:
    """float32 for complex64, float64 for complex128; a real dtype as it is."""
    return np.finfo(np.dtype(dtype)).dtype if np.dtype(dtype).kind == "c" else np.dtype(dtype)


def parts(ctx: LoweringContext, x):
    """The real and imaginary parts of ``x``, each with a trailing axis of 1."""
    return ctx.op.Split(x, ctx.const(np.array([1, 1], dtype=np.int64)), axis=-1, _outputs=2)


def join(ctx: LoweringContext, re, im):
    return ctx.op.Concat(re, im, axis=-1)


def part(ctx: LoweringContext, x, index: int):
    """Part ``index`` (0 real, 1 imaginary) of ``x``, without the trailing axis."""
    return ctx.op.Gather(x, ctx.const(np.array(index, dtype=np.int64)), axis=-1)


def conjugate(ctx: LoweringContext, x, dtype):
    return ctx.op.Mul(x, ctx.const(np.array([1, -1], dtype=dtype)))


def from_real(ctx: LoweringContext, x, from_dtype, dtype):
    """A real value as complex: imaginary parts are zero (a Pad, so inf and nan keep a zero part)."""
    x = ctx.op.Unsqueeze(ctx.cast(x, dtype, from_dtype), ctx.const(np.array([-1], dtype=np.int64)))
    rank = len(ctx.in_avals[0].shape) + 1
    return ctx.op.Pad(x, ctx.const(np.array([0] * (2 * rank - 1) + [1], dtype=np.int64)))


def multiply(ctx: LoweringContext, x, y):
    (a, b), (c, d) = parts(ctx, x), parts(ctx, y)
    return join(ctx, ctx.op.Sub(ctx.op.Mul(a, c), ctx.op.Mul(b, d)), ctx.op.Add(ctx.op.Mul(a, d), ctx.op.Mul(b, c)))


def divide(ctx: LoweringContext, x, y):
    (a, b), (c, d) = parts(ctx, x), parts(ctx, y)
    norm = ctx.op.Add(ctx.op.Mul(c, c), ctx.op.Mul(d, d))
    re = ctx.op.Add(ctx.op.Mul(a, c), ctx.op.Mul(b, d))
    im = ctx.op.Sub(ctx.op.Mul(b, c), ctx.op.Mul(a, d))
    return ctx.op.Div(join(ctx, re, im), norm)


def on_parts(ctx: LoweringContext, fn, *xs):
    """Lowers ``fn`` traced on the parts ([..., 2] real arrays) of ``xs``, for rules best said in JAX."""
    specs = [jax.ShapeDtypeStruct((*a.shape, 2), part_dtype(a.dtype)) if np.dtype(a.dtype).kind == "c"
             else jax.ShapeDtypeStruct(a.shape, a.dtype) for a in ctx.in_avals]
    with jax.enable_x64(any(s.dtype.itemsize == 8 for s in specs)):
        jaxpr = jax.make_jaxpr(fn)(*specs)
    return ctx.lower_jaxpr(jaxpr, *xs)


def _cases(name, fn, inputs, dtypes=None, **kw):
    """float32/complex64 and float64/complex128 cases of ``fn``."""
    dtypes = dtypes or [C64] * len(inputs)
    return [Testcase(name, fn=fn, inputs=inputs, input_dtypes=dtypes, **kw)]


@lowering("complex:real", "complex:imag", component="jax.lax.{}", onnx=["Gather"], since="0.2.0",
          doc=LAX_DOC,
          testcases=[*_cases("real", jax.lax.real, [("B", 3)], expect_ops=["Gather"]),
                     *_cases("imag", jax.lax.imag, [("B", 3)], expect_ops=["Gather"])])
def lower_real_imag(ctx: LoweringContext, x, **params):
    return part(ctx, x, 0 if ctx.primitive.name == "real" else 1)


@lowering("complex:complex", component="jax.lax.complex", onnx=["Unsqueeze", "Concat", "Expand"], since="0.2.0",
          doc=LAX_DOC.format("complex"),
          testcases=[*_cases("complex", jax.lax.complex, [("B", 3), ("B", 3)], [np.float32, np.float32]),
                     *_cases("complex_broadcast", jax.lax.complex, [("B", 3), ("B", 1)], [np.float32, np.float32])])
def lower_complex(ctx: LoweringContext, re, im, **params):
    shape = tuple(ctx.out_avals[0].shape)
    re, im = (v if tuple(a.shape) == shape else ctx.op.Expand(v, ctx.shape_tensor(shape))
              for v, a in zip((re, im), ctx.in_avals))
    axis = ctx.const(np.array([-1], dtype=np.int64))
    return join(ctx, ctx.op.Unsqueeze(re, axis), ctx.op.Unsqueeze(im, axis))


@lowering("complex:conj", component="jax.lax.conj", onnx=["Mul", "Pad"], since="0.2.0", doc=LAX_DOC.format("conj"),
          testcases=[*_cases("conj", jax.lax.conj, [("B", 3)], expect_ops=["Mul"]),
                     *_cases("conj_of_real", jax.lax.conj, [("B", 3)], [np.float32])])
def lower_conj(ctx: LoweringContext, x, **params):
    dtype = part_dtype(ctx.out_avals[0].dtype)
    if np.dtype(ctx.in_avals[0].dtype).kind != "c":
        return from_real(ctx, x, ctx.in_avals[0].dtype, dtype)
    return conjugate(ctx, x, dtype)


@lowering("complex:convert_element_type", component="jax.lax.convert_element_type (complex)",
          onnx=["Cast", "Pad", "Gather"], since="0.2.0", doc=LAX_DOC.format("convert_element_type"),
          testcases=[*_cases("convert_element_type_to_complex", lambda x: x.astype(C64), [("B", 3)], [np.float32]),
                     *_cases("convert_element_type_int_to_complex", lambda x: x.astype(C64), [("B", 3)], [np.int32]),
                     *_cases("convert_element_type_complex_to_real", lambda x: x.real.astype(np.float32) + jnp.abs(x),
                             [("B", 3)]),
                     *_cases("convert_element_type_complex_to_int",
                             lambda x: jax.lax.convert_element_type(x * 4, np.int32), [("B", 3)]),
                     Testcase("convert_element_type_complex_narrow", fn=lambda x: x.astype(C64),
                              inputs=[("B", 3)], input_dtypes=[np.complex128], x64="only", expect_ops=["Cast"])])
def lower_convert(ctx: LoweringContext, x, *, new_dtype, **params):
    src, dst = ctx.in_avals[0].dtype, np.dtype(new_dtype)
    if np.dtype(src).kind != "c":
        return from_real(ctx, x, src, part_dtype(dst))
    if dst.kind == "c":
        return ctx.cast(x, part_dtype(dst), part_dtype(src))
    if dst.kind != "f":  # the real part, converted as a real array is
        return on_parts(ctx, lambda v: jax.lax.convert_element_type(v[..., 0], dst), x)
    return ctx.cast(part(ctx, x, 0), dst, part_dtype(src))


@lowering("complex:mul", component="jax.lax.mul (complex)", onnx=["Split", "Mul", "Sub", "Add", "Concat"],
          since="0.2.0", doc=LAX_DOC.format("mul"),
          testcases=_cases("mul", jax.lax.mul, [("B", 3), ("B", 3)]))
def lower_mul(ctx: LoweringContext, x, y, **params):
    return multiply(ctx, x, y)


@lowering("complex:div", component="jax.lax.div (complex)", onnx=["Split", "Mul", "Add", "Sub", "Div", "Concat"],
          since="0.2.0", doc=LAX_DOC.format("div"),
          testcases=_cases("div", jax.lax.div, [("B", 3), ("B", 3)]))
def lower_div(ctx: LoweringContext, x, y, **params):
    return divide(ctx, x, y)


@lowering("complex:integer_pow", component="jax.lax.integer_pow (complex)", onnx=["Split", "Mul", "Div", "Concat"],
          since="0.2.0", doc=LAX_DOC.format("integer_pow"),
          testcases=[*_cases("integer_pow", lambda x: jax.lax.integer_pow(x, 3), [("B", 3)]),
                     *_cases("integer_pow_negative", lambda x: jax.lax.integer_pow(x, -2), [("B", 3)])])
def lower_integer_pow(ctx: LoweringContext, x, *, y, **params):
    dtype = part_dtype(ctx.in_avals[0].dtype)
    result, base, n = None, x, abs(y)
    while n:  # square-and-multiply, as XLA does
        if n & 1:
            result = base if result is None else multiply(ctx, result, base)
        n >>= 1
        if n:
            base = multiply(ctx, base, base)
    if result is not None and y > 0:
        return result
    one = ctx.op.Expand(ctx.const(np.array([1, 0], dtype)), ctx.op.Shape(x))
    return one if result is None else divide(ctx, one, result)


@lowering("complex:square", component="jax.lax.square (complex)", onnx=["Split", "Mul", "Concat"], since="0.2.0",
          doc=LAX_DOC.format("square"), testcases=_cases("square", jax.lax.square, [("B", 3)]))
def lower_square(ctx: LoweringContext, x, **params):
    return multiply(ctx, x, x)


@lowering("complex:abs", component="jax.lax.abs (complex)", onnx=["ReduceL2"], since="0.2.0",
          doc=LAX_DOC.format("abs"), testcases=_cases("abs", jax.lax.abs, [("B", 3)], expect_ops=["ReduceL2"]))
def lower_abs(ctx: LoweringContext, x, **params):
    axes = np.array([-1], dtype=np.int64)
    if ctx.opset >= 18:
        return ctx.op.ReduceL2(x, ctx.const(axes), keepdims=0)
    return ctx.op.ReduceL2(x, axes=axes.tolist(), keepdims=0)


@lowering("complex:exp", component="jax.lax.exp (complex)", onnx=["Split", "Exp", "Cos", "Sin", "Mul"],
          since="0.2.0", doc=LAX_DOC.format("exp"), testcases=_cases("exp", jax.lax.exp, [("B", 3)]))
def lower_exp(ctx: LoweringContext, x, **params):
    re, im = parts(ctx, x)
    return ctx.op.Mul(ctx.op.Exp(re), join(ctx, ctx.op.Cos(im), ctx.op.Sin(im)))


@lowering("complex:eq", "complex:ne", component="jax.lax.{} (complex)", onnx=["Equal", "And", "Not", "Squeeze"],
          since="0.2.0", doc=LAX_DOC,
          testcases=[*_cases("eq", lambda x, y: jax.lax.eq(x, jnp.where(jnp.real(x) > 0, x, y)), [("B", 3), ("B", 3)]),
                     *_cases("ne", lambda x, y: jax.lax.ne(x, jnp.where(jnp.imag(x) > 0, x, y)), [("B", 3), ("B", 3)])])
def lower_eq(ctx: LoweringContext, x, y, **params):
    (a, b), (c, d) = parts(ctx, x), parts(ctx, y)
    same = ctx.op.Squeeze(ctx.op.And(ctx.op.Equal(a, c), ctx.op.Equal(b, d)), ctx.const(np.array([-1], np.int64)))
    return same if ctx.primitive.name == "eq" else ctx.op.Not(same)


def _lexicographic_pick(x, y, larger: bool):
    """max/min of complex [..., 2] parts: the larger/smaller real part, ties broken by the imaginary part (XLA)."""
    first = (x[..., 0] > y[..., 0]) | ((x[..., 0] == y[..., 0]) & (x[..., 1] >= y[..., 1]))
    if not larger:
        first = (x[..., 0] < y[..., 0]) | ((x[..., 0] == y[..., 0]) & (x[..., 1] <= y[..., 1]))
    return jnp.where(first[..., None], x, y)


@lowering("complex:max", "complex:min", component="jax.lax.{} (complex)", onnx=["Greater", "Equal", "Where"],
          since="0.2.0", doc=LAX_DOC,
          testcases=[*_cases("max", jax.lax.max, [("B", 3), ("B", 3)],
                             input_values=lambda rng, s: [rng.integers(-1, 2, (*t, 2)) @ [1, 1j] for t in s]),
                     *_cases("min_broadcast", jax.lax.min, [("B", 3), (1, 3)],
                             input_values=lambda rng, s: [rng.integers(-1, 2, (*t, 2)) @ [1, 1j] for t in s])])
def lower_max_min(ctx, x, y, **params):
    larger = ctx.primitive.name == "max"
    return on_parts(ctx, lambda a, b: _lexicographic_pick(a, b, larger), x, y)


def _bilinear_on_parts(product, x, y, complex_in, dtype):
    """A product linear in each operand (dot, convolution) of complex operands, from real products of their parts."""
    (xr, xi), (yr, yi) = ((v[..., 0], v[..., 1]) if c else (v.astype(dtype), None) for v, c in zip((x, y), complex_in))
    re = product(xr, yr) if xi is None or yi is None else product(xr, yr) - product(xi, yi)
    im = [product(a, b) for a, b in ((xr, yi), (xi, yr)) if a is not None and b is not None]
    return jnp.stack([re, sum(im[1:], im[0])], axis=-1)


def _dot_on_parts(x, y, complex_in, *, dimension_numbers, precision, preferred_element_type=None, **params):
    dot = functools.partial(jax.lax.dot_general, dimension_numbers=dimension_numbers, precision=precision)
    dtype = part_dtype(preferred_element_type or np.result_type(*(v.dtype for v in (x, y))))
    return _bilinear_on_parts(dot, x, y, complex_in, dtype)


def _conv_on_parts(x, y, complex_in, *, preferred_element_type=None, **params):
    dtype = part_dtype(preferred_element_type or np.result_type(*(v.dtype for v in (x, y))))
    conv = functools.partial(jax.lax.conv_general_dilated_p.bind, preferred_element_type=None, **params)
    return _bilinear_on_parts(conv, x, y, complex_in, dtype)


@lowering("complex:dot_general", component="jax.lax.dot_general (complex)", onnx=["MatMul", "Sub", "Add"],
          since="0.2.0", doc=LAX_DOC.format("dot_general"),
          testcases=[*_cases("dot_general_matmul", jnp.matmul, [("B", 3, 4), (4, 5)]),
                     *_cases("dot_general_batched", lambda x, y: jnp.einsum("bij,bjk->bik", x, y),
                             [("B", 3, 4), ("B", 4, 2)]),
                     *_cases("dot_general_real_by_complex", lambda x, y: jax.lax.dot(x, y), [("B", 3), (3, 4)],
                             [np.float32, C64])])
def lower_dot_general(ctx: LoweringContext, x, y, **params):
    complex_in = [np.dtype(a.dtype).kind == "c" for a in ctx.in_avals]
    return on_parts(ctx, lambda a, b: _dot_on_parts(a, b, complex_in, **params), x, y)


@lowering("complex:conv_general_dilated", component="jax.lax.conv_general_dilated (complex)",
          onnx=["Conv", "Sub", "Add"], since="0.2.0", doc=LAX_DOC.format("conv_general_dilated"),
          # Real convolutions of the parts: ONNX Runtime has no float64 Conv, and sums float32 products in
          # another order than XLA.
          testcases=[*_cases("complex_conv", lambda x, w: jax.lax.conv(x, w, (1, 1), "SAME"),
                             [("B", 2, 5, 5), (3, 2, 3, 3)], x64=False, rtol=1e-4, atol=1e-5),
                     *_cases("complex_conv_grouped_nwc",
                             lambda x, w: jax.lax.conv_general_dilated(
                                 x, w, (2,), "VALID", rhs_dilation=(2,), dimension_numbers=("NWC", "WIO", "NWC"),
                                 feature_group_count=2), [("B", 9, 4), (2, 2, 6)], x64=False, rtol=1e-4, atol=1e-5)])
def lower_conv(ctx: LoweringContext, x, y, **params):
    complex_in = [np.dtype(a.dtype).kind == "c" for a in ctx.in_avals]
    return on_parts(ctx, lambda a, b: _conv_on_parts(a, b, complex_in, **params), x, y)


coverage("complex arrays (add, sub, neg, reduce_sum, reshape, slicing, ...)",
         via=["add", "sub", "neg", "reduce_sum", "reshape", "transpose", "slice", "concatenate", "select_n"],
         since="0.2.0", module=__name__,
         doc="https://docs.jax.dev/en/latest/_autosummary/jax.numpy.complex64.html",
         testcases=[
             *_cases("complex_add_sub_neg", lambda x, y: -(x + y) - y, [("B", 3), ("B", 3)]),
             *_cases("complex_reduce_sum", lambda x: jnp.sum(x, axis=0), [("B", 3)]),
             *_cases("complex_shapes", lambda x: jnp.concatenate([x.T.reshape(-1), x[1:, ::2].reshape(-1)]),
                     [("B", 4)]),
             *_cases("complex_select", lambda x, y: jnp.where(jnp.abs(x) > 1, x, y), [("B", 3), ("B", 3)]),
             *_cases("complex_broadcast_literal", lambda x: x * (1 + 2j) + 3j, [("B", 3)]),
             *_cases("complex_scan", lambda x: jax.lax.scan(lambda c, r: (c * r, c), x[0], x)[0], [("B", 3)]),
         ])


# --- Elementwise functions of a complex variable, on (real, imaginary) pairs ---------------------


def _mul(x, y):
    return x[0] * y[0] - x[1] * y[1], x[0] * y[1] + x[1] * y[0]


def _div(x, y):
    norm = y[0] * y[0] + y[1] * y[1]
    return (x[0] * y[0] + x[1] * y[1]) / norm, (x[1] * y[0] - x[0] * y[1]) / norm


def _exp(z):
    scale = jnp.exp(z[0])
    return scale * jnp.cos(z[1]), scale * jnp.sin(z[1])


def _log(z):
    return 0.5 * jnp.log(z[0] * z[0] + z[1] * z[1]), jnp.arctan2(z[1], z[0])


def _exp2(z):  # exp(ln 2 z), as JAX lowers exp2
    return _exp((np.log(2) * z[0], np.log(2) * z[1]))


def _log2(z):  # log(z) / ln 2, as JAX 0.12 lowers log2
    re, im = _log(z)
    return re / np.log(2), im / np.log(2)


def _log1p(z):
    return 0.5 * jnp.log1p(z[0] * (2 + z[0]) + z[1] * z[1]), jnp.arctan2(z[1], 1 + z[0])


def _sqrt(z):
    """The principal root, without cancellation: t = sqrt((|re| + |z|) / 2) is the larger part."""
    t = jnp.sqrt((jnp.abs(z[0]) + jnp.sqrt(z[0] * z[0] + z[1] * z[1])) / 2)
    other = z[1] / (2 * jnp.where(t == 0, 1, t))
    return (jnp.where(z[0] >= 0, t, jnp.abs(other)),
            jnp.where(z[0] >= 0, other, jnp.where(z[1] < 0, -t, t)))


def _neg(z):
    return -z[0], -z[1]


def _times_i(z):
    return -z[1], z[0]


def _asinh(z):
    """log(z + sqrt(z^2 + 1)) on the right half-plane, odd symmetry on the left (no cancellation)."""
    flip = z[0] < 0
    w = (jnp.where(flip, -z[0], z[0]), jnp.where(flip, -z[1], z[1]))
    square = _mul(w, w)
    root = _sqrt((square[0] + 1, square[1]))
    re, im = _log((w[0] + root[0], w[1] + root[1]))
    return jnp.where(flip, -re, re), jnp.where(flip, -im, im)


def _acosh(z):
    """log(z + sqrt(z + 1) sqrt(z - 1)): the principal branch everywhere (Kahan)."""
    root = _mul(_sqrt((z[0] + 1, z[1])), _sqrt((z[0] - 1, z[1])))
    return _log((z[0] + root[0], z[1] + root[1]))


def _atanh(z):
    plus, minus = _log1p(z), _log1p(_neg(z))
    return 0.5 * (plus[0] - minus[0]), 0.5 * (plus[1] - minus[1])


def _asin(z):  # -i asinh(i z)
    re, im = _asinh(_times_i(z))
    return im, -re


def _atan(z):  # -i atanh(i z)
    re, im = _atanh(_times_i(z))
    return im, -re


def _acos(z):
    re, im = _asin(z)
    return np.pi / 2 - re, -im


def _sinh(z):
    return jnp.sinh(z[0]) * jnp.cos(z[1]), jnp.cosh(z[0]) * jnp.sin(z[1])


def _cosh(z):
    return jnp.cosh(z[0]) * jnp.cos(z[1]), jnp.sinh(z[0]) * jnp.sin(z[1])


def _tanh(z):
    denominator = jnp.cosh(2 * z[0]) + jnp.cos(2 * z[1])
    return jnp.sinh(2 * z[0]) / denominator, jnp.sin(2 * z[1]) / denominator


def _sin(z):  # -i sinh(i z)
    re, im = _sinh(_times_i(z))
    return im, -re


def _cos(z):  # cosh(i z)
    return _cosh(_times_i(z))


def _tan(z):  # -i tanh(i z)
    re, im = _tanh(_times_i(z))
    return im, -re


def _expm1(z):
    """exp(z) - 1 with the real part as expm1(re) cos(im) - 2 sin(im / 2)^2 (no cancellation near 0)."""
    half = jnp.sin(z[1] / 2)
    return jnp.expm1(z[0]) * jnp.cos(z[1]) - 2 * half * half, jnp.exp(z[0]) * jnp.sin(z[1])


def _rsqrt(z):
    return _div((1.0, 0.0), _sqrt(z))


def _logistic(z):
    e = _exp(_neg(z))
    return _div((1.0, 0.0), (1 + e[0], e[1]))


def _sign(z):
    modulus = jnp.sqrt(z[0] * z[0] + z[1] * z[1])
    safe = jnp.where(modulus == 0, 1, modulus)
    return z[0] / safe, z[1] / safe


COMPLEX_FUNCTIONS = {
    "sin": _sin, "cos": _cos, "tan": _tan, "sinh": _sinh, "cosh": _cosh, "tanh": _tanh, "asin": _asin,
    "acos": _acos, "atan": _atan, "asinh": _asinh, "acosh": _acosh, "atanh": _atanh, "log": _log,
    "log1p": _log1p, "expm1": _expm1, "sqrt": _sqrt, "rsqrt": _rsqrt, "logistic": _logistic, "sign": _sign,
    "exp2": _exp2, **({"log2": _log2} if has_lax_primitive("log2") else {}),
}


def _on_pairs(fn):
    def run(x):
        re, im = fn((x[..., 0], x[..., 1]))
        return jnp.stack([jnp.broadcast_to(re, x.shape[:-1]), jnp.broadcast_to(im, x.shape[:-1])], axis=-1)
    return run


def _complex_function(ctx, x, **params):
    return on_parts(ctx, _on_pairs(COMPLEX_FUNCTIONS[ctx.primitive.name]), x)


def _spread(rng, shapes):
    """Complex values over the plane's quadrants, moduli from 0.1 to 3."""
    return [rng.uniform(0.1, 3, s) * np.exp(1j * rng.uniform(-np.pi, np.pi, s)) for s in shapes]


for _name in COMPLEX_FUNCTIONS:
    lowering(f"complex:{_name}", component=f"jax.lax.{_name} (complex)", onnx=["Sin", "Cos", "Exp", "Log", "Sqrt"],
             since="0.2.0", doc=LAX_DOC.format(_name),
             testcases=_cases(f"complex_{_name}", getattr(jax.lax, _name), [("B", 3)],
                              input_values=_spread))(_complex_function)


@lowering("complex:pow", component="jax.lax.pow (complex)", onnx=["Exp", "Log", "Atan"], since="0.2.0",
          doc=LAX_DOC.format("pow"),
          testcases=_cases("complex_pow", jax.lax.pow, [("B", 3), ("B", 3)], input_values=_spread))
def lower_pow(ctx, x, y, **params):
    # x ** y = exp(y log x), as XLA for complex operands
    def power(a, b):
        return jnp.stack(_exp(_mul((b[..., 0], b[..., 1]), _log((a[..., 0], a[..., 1])))), axis=-1)
    return on_parts(ctx, power, x, y)
