"""Elementwise primitives: tables of one-op rules, and decompositions where ONNX has no op.

ONNX Runtime lacks CPU kernels for some op/dtype pairs (core's ``kernels`` table): such inputs are
computed in a wider dtype when the round trip is exact and rejected otherwise. Multi-op
decompositions compute float16/bfloat16 in float32 and round once at the end.
"""

from __future__ import annotations

import math

import jax
import numpy as np

from jax2onnx.plugin import FLOAT, SINT, UINT, Testcase, has_lax_primitive, kernels, lowering

LAX_DOC = "https://docs.jax.dev/en/latest/_autosummary/jax.lax.{}.html"

PREDICATES = {"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "IsNaN", "IsInf"}


def _name(dtype) -> str:
    return np.dtype(dtype).name


def _kernel_dtype(ctx, op_type: str, dtype) -> str:
    kernel = kernels.kernel_dtype(op_type, dtype, ctx.opset)
    if kernel is None:
        raise ctx.unsupported_dtype(dtype, ", ".join(kernels.supported_dtypes(op_type, ctx.opset)))
    return kernel


def _op(ctx, op_type: str, *xs, dtype, **attrs):
    """``op_type`` on values of ``dtype``, computed in a wider dtype where ORT has no kernel for it."""
    data = range(1, len(xs)) if op_type == "Where" else None  # Where's condition stays bool
    return ctx.kernel_op(op_type, *xs, dtype=dtype, data=data, back=() if op_type in PREDICATES else (0,), **attrs)


def _convert(ctx, x, dtype):
    """A Cast, or for a constant the constant in ``dtype``."""
    value = ctx.const_value(x)
    return ctx.cast(x, dtype) if value is None else _c(ctx, value.astype(dtype), dtype)


def _c(ctx, value, dtype):
    return ctx.const(np.asarray(value, dtype=np.dtype(dtype)))


def _is_float(dtype) -> bool:
    return _name(dtype) in (*FLOAT, "bfloat16")


def _compute_dtype(dtype) -> str:
    return "float32" if _name(dtype) in ("float16", "bfloat16") else _name(dtype)


def _formula(fn, in_double=False):
    """A rule computing ``fn(ctx, *xs, dt)`` in float32 for half types (or float64 for all), cast back once."""

    def rule(ctx, *xs, **params):
        dtype = ctx.in_avals[0].dtype
        dt = "float64" if in_double else _compute_dtype(dtype)
        out = fn(ctx, *(ctx.cast(x, dt, from_dtype=a.dtype) for x, a in zip(xs, ctx.in_avals)), dt=dt, **params)
        return ctx.cast(out, ctx.out_avals[0].dtype, from_dtype=dt)

    return rule


def _where(ctx, cond, a, b, dt):
    return _op(ctx, "Where", cond, a, b, dtype=dt)


def _log1p(ctx, x, dt):
    # log(u) * x / (u - 1) cancels the rounding of u = 1 + x (Goldberg); |x| >= 0.5 needs no care.
    u = ctx.op.Add(x, _c(ctx, 1, dt))
    precise = ctx.op.Div(ctx.op.Mul(ctx.op.Log(u), x), ctx.op.Sub(u, _c(ctx, 1, dt)))
    small = ctx.op.Where(ctx.op.Equal(u, _c(ctx, 1, dt)), x, precise)
    return ctx.op.Where(ctx.op.Less(ctx.op.Abs(x), _c(ctx, 0.5, dt)), small, ctx.op.Log(u))


def _expm1(ctx, x, dt):
    # (u - 1) * x / log(u) cancels the rounding of u = exp(x) (Kahan); |x| >= 0.5 needs no care.
    u = ctx.op.Exp(x)
    um1 = ctx.op.Sub(u, _c(ctx, 1, dt))
    small = ctx.op.Where(ctx.op.Equal(u, _c(ctx, 1, dt)), x, ctx.op.Div(ctx.op.Mul(um1, x), ctx.op.Log(u)))
    return ctx.op.Where(ctx.op.Less(ctx.op.Abs(x), _c(ctx, 0.5, dt)), small, um1)


# float64 formulas for ops ORT implements only for float32/float16.
def _tan64(ctx, x, dt):
    return ctx.op.Div(ctx.op.Sin(x), ctx.op.Cos(x))


def _sinh64(ctx, x, dt):
    # Near 0, em1 * (em1 + 2) / (em1 + 1) / 2 avoids the cancellation of exp(x) - exp(-x).
    em1 = _expm1(ctx, x, dt)
    small = ctx.op.Div(ctx.op.Mul(em1, ctx.op.Add(em1, _c(ctx, 2, dt))),
                       ctx.op.Mul(ctx.op.Add(em1, _c(ctx, 1, dt)), _c(ctx, 2, dt)))
    e = ctx.op.Exp(x)
    large = ctx.op.Mul(ctx.op.Sub(e, ctx.op.Reciprocal(e)), _c(ctx, 0.5, dt))
    return ctx.op.Where(ctx.op.Less(ctx.op.Abs(x), _c(ctx, 1, dt)), small, large)


def _atan64(ctx, x, dt):
    # |x| > 1 reflects to 1/|x|; two half-angle steps, atan(t) = 2 atan(t / (1 + sqrt(1 + t^2))),
    # bring it under tan(pi/16), where 11 Taylor terms reach double precision.
    a = ctx.op.Abs(x)
    big = ctx.op.Greater(a, _c(ctx, 1, dt))
    t = ctx.op.Where(big, ctx.op.Reciprocal(a), a)
    for _ in range(2):
        t = ctx.op.Div(t, ctx.op.Add(_c(ctx, 1, dt), ctx.op.Sqrt(ctx.op.Add(_c(ctx, 1, dt), ctx.op.Mul(t, t)))))
    series = ctx.op.Mul(_horner(ctx, [(-1) ** k / (2 * k + 1) for k in range(10, -1, -1)], ctx.op.Mul(t, t), dt), t)
    angle = ctx.op.Mul(series, _c(ctx, 4, dt))
    return ctx.op.Mul(ctx.op.Sign(x), ctx.op.Where(big, ctx.op.Sub(_c(ctx, np.pi / 2, dt), angle), angle))


def _asin64(ctx, x, dt):
    one = _c(ctx, 1, dt)
    return _atan64(ctx, ctx.op.Div(x, ctx.op.Sqrt(ctx.op.Mul(ctx.op.Sub(one, x), ctx.op.Add(one, x)))), dt)


def _acos64(ctx, x, dt):
    one = _c(ctx, 1, dt)
    half = _atan64(ctx, ctx.op.Sqrt(ctx.op.Div(ctx.op.Sub(one, x), ctx.op.Add(one, x))), dt)
    return ctx.op.Mul(half, _c(ctx, 2, dt))


def _atan(ctx, x, dt):
    return _atan64(ctx, x, dt) if dt == "float64" else ctx.op.Atan(x)


# erf for |x| < ERF_SPLIT: 2/sqrt(pi) x exp(-x^2) sum (2x^2)^n / (2n+1)!!, whose terms are all
# positive; beyond it, erfc from its continued fraction. Term counts reach double precision.
ERF_SPLIT, ERF_TERMS, ERFC_DEPTH = 2.5, 36, 28


def _erf_parts64(ctx, x, dt):
    """|x| < ERF_SPLIT, erf(|x|) by the series there, and erfc(|x|) by the continued fraction beyond."""
    a = ctx.op.Abs(x)
    a2 = ctx.op.Mul(a, a)
    # Scaled to v = x^2 / ERF_SPLIT^2 <= 1, the coefficients stay nonzero as float32: ORT's optimizer drops
    # an Add of a double constant that is zero as a float (the unscaled ones fall to 1e-52).
    scale = 2 * ERF_SPLIT**2
    coefficients = np.cumprod([1.0] + [scale / (2 * n + 1) for n in range(1, ERF_TERMS)])
    sum_ = _horner(ctx, coefficients[::-1], ctx.op.Mul(a2, _c(ctx, 2 / scale, dt)), dt)
    gauss = ctx.op.Exp(ctx.op.Neg(a2))
    erf = ctx.op.Mul(ctx.op.Mul(sum_, ctx.op.Mul(a, gauss)), _c(ctx, 2 / np.sqrt(np.pi), dt))
    return ctx.op.Less(a, _c(ctx, ERF_SPLIT, dt)), erf, _erfc_fraction(ctx, a, gauss, ERFC_DEPTH, dt)


def _erfc_fraction(ctx, a, gauss, depth, dt):
    """erfc(a) for a > 0 from its continued fraction; ``gauss`` is exp(-a^2)."""
    fraction = a  # a + (1/2) / (a + 1 / (a + (3/2) / (a + ...)))
    for k in range(depth, 0, -1):
        fraction = ctx.op.Add(a, ctx.op.Div(_c(ctx, k / 2, dt), fraction))
    return ctx.op.Div(gauss, ctx.op.Mul(fraction, _c(ctx, np.sqrt(np.pi), dt)))


def _erf64(ctx, x, dt):
    near, erf, erfc = _erf_parts64(ctx, x, dt)
    return ctx.op.Mul(ctx.op.Sign(x), ctx.op.Where(near, erf, ctx.op.Sub(_c(ctx, 1, dt), erfc)))


def _erfc64(ctx, x, dt):
    near, erf, erfc = _erf_parts64(ctx, x, dt)
    far = ctx.op.Where(ctx.op.Less(x, _c(ctx, 0, dt)), ctx.op.Sub(_c(ctx, 2, dt), erfc), erfc)
    return ctx.op.Where(near, ctx.op.Sub(_c(ctx, 1, dt), ctx.op.Mul(ctx.op.Sign(x), erf)), far)


def _cosh64(ctx, x, dt):
    e = ctx.op.Exp(x)
    return ctx.op.Mul(ctx.op.Add(e, ctx.op.Reciprocal(e)), _c(ctx, 0.5, dt))


def _asinh64(ctx, x, dt):
    a = ctx.op.Abs(x)
    a2 = ctx.op.Mul(a, a)
    t = ctx.op.Add(a, ctx.op.Div(a2, ctx.op.Add(_c(ctx, 1, dt), ctx.op.Sqrt(ctx.op.Add(a2, _c(ctx, 1, dt))))))
    return ctx.op.Mul(ctx.op.Sign(x), _log1p(ctx, t, dt))


def _acosh64(ctx, x, dt):
    t = ctx.op.Sub(x, _c(ctx, 1, dt))
    return _log1p(ctx, ctx.op.Add(t, ctx.op.Sqrt(ctx.op.Mul(t, ctx.op.Add(t, _c(ctx, 2, dt))))), dt)


def _atanh64(ctx, x, dt):
    ratio = ctx.op.Div(ctx.op.Mul(x, _c(ctx, 2, dt)), ctx.op.Sub(_c(ctx, 1, dt), x))
    return ctx.op.Mul(_log1p(ctx, ratio, dt), _c(ctx, 0.5, dt))


def _real(rng, shapes):
    return [rng.standard_normal(s) for s in shapes]


def _uniform(lo, hi):
    return lambda rng, shapes: [rng.uniform(lo, hi, s) for s in shapes]


def _tiny_and_large(lo, hi):
    """Values from [lo, hi) scaled by 1e-9 to 1: the range where naive formulas cancel."""
    return lambda rng, shapes: [rng.uniform(lo, hi, s) * 10.0 ** rng.integers(-9, 1, s) for s in shapes]


def _lax(name):
    """The jax.lax function, looked up at call time."""
    return lambda *args, **kw: getattr(jax.lax, name)(*args, **kw)


# primitive: (ONNX op, float64 formula where ORT has no double kernel, test inputs)
UNARY = {
    "abs": ("Abs", None, _real), "sign": ("Sign", None, _real), "floor": ("Floor", None, _real),
    "ceil": ("Ceil", None, _real), "exp": ("Exp", None, _real), "log": ("Log", None, _uniform(0.01, 10)),
    "sqrt": ("Sqrt", None, _uniform(0, 10)), "logistic": ("Sigmoid", None, _real), "sin": ("Sin", None, _real),
    "cos": ("Cos", None, _real), "tanh": ("Tanh", None, _real), "tan": ("Tan", _tan64, _uniform(-1.5, 1.5)),
    "asin": ("Asin", _asin64, _uniform(-1, 1)), "acos": ("Acos", _acos64, _uniform(-1, 1)),
    "atan": ("Atan", _atan64, _tiny_and_large(-1e3, 1e3)),
    "sinh": ("Sinh", _sinh64, _uniform(-4, 4)), "cosh": ("Cosh", _cosh64, _uniform(-4, 4)),
    "asinh": ("Asinh", _asinh64, _uniform(-10, 10)), "acosh": ("Acosh", _acosh64, _uniform(1, 10)),
    "atanh": ("Atanh", _atanh64, _uniform(-0.99, 0.99)), "erf": ("Erf", _erf64, _uniform(-7, 7)),
}


def _unary(op_type, double_formula):
    def rule(ctx, x, **params):
        dtype = ctx.in_avals[0].dtype
        if double_formula is not None and _name(dtype) == "float64":
            return double_formula(ctx, x, "float64")
        return _op(ctx, op_type, x, dtype=dtype)

    return rule


def _typed(name, fn, dtype, n=1, values=None, **kw):
    """A testcase of ``fn`` on ``n`` inputs of one non-default dtype."""
    if dtype in ("int64", "uint64"):
        kw["x64"] = "only"
    if dtype == "bfloat16":  # ORT cannot feed or fetch bfloat16 through numpy: convert inside the model
        kw.setdefault("rtol", 2e-2)  # the result is bfloat16, compared as float32
        kw.setdefault("atol", 2e-2)
        return Testcase(f"{name}_{dtype}", fn=_through_bfloat16(fn), inputs=[("B", 4)] * n, input_values=values,
                        x64=False, **kw)
    kw.setdefault("x64", False)
    return Testcase(f"{name}_{dtype}", fn=fn, inputs=[("B", 4)] * n, input_dtypes=[dtype] * n, input_values=values,
                    **kw)


def _through_bfloat16(fn):
    def wrapped(*args):
        out = fn(*(a.astype(jax.numpy.bfloat16) for a in args))
        return out.astype(np.float32) if out.dtype == jax.numpy.bfloat16 else out

    return wrapped


UNARY_CASES = {
    "exp": [_typed("exp", _lax("exp"), "float16", expect_ops=["Exp"])],
    "tanh": [_typed("tanh", _lax("tanh"), "bfloat16", expect_ops=["Cast", "Cast", "Tanh", "Cast", "Cast"])],
    "sin": [_typed("sin", _lax("sin"), "bfloat16")],
    "erf": [_typed("erf", _lax("erf"), "float16", expect_ops=["Erf"])],
    "log": [_typed("log", _lax("log"), "bfloat16", values=_uniform(0.1, 9))],
    "abs": [_typed("abs", _lax("abs"), "int8", expect_ops=["Abs"]), _typed("abs", _lax("abs"), "int64")],
    "sign": [_typed("sign", _lax("sign"), "int32", expect_ops=["Sign"]),
             _typed("sign", _lax("sign"), "uint8"),
             _typed("sign", _lax("sign"), "bfloat16", expect_ops=["Cast", "Sign", "Cast"])],
    "asin": [_typed("asin", _lax("asin"), "float16", values=_uniform(-1, 1), expect_ops=["Asin"])],
}

for _prim, (_onnx, _double, _values) in UNARY.items():
    lowering(_prim, component=f"jax.lax.{_prim}", onnx=[_onnx], since="0.1.0", doc=LAX_DOC.format(_prim),
             testcases=[Testcase(f"{_prim}", fn=_lax(_prim), inputs=[("B", 4)], input_values=_values,
                                 forbid_ops=("Identity", "Cast")),
                        *UNARY_CASES.get(_prim, [])],
             )(_unary(_onnx, _double))


@lowering("neg", component="jax.lax.neg", onnx=["Neg", "Sub"], since="0.1.0", doc=LAX_DOC.format("neg"),
          testcases=[Testcase("neg", fn=_lax("neg"), inputs=[("B", 4)], expect_ops=["Neg"]),
                     _typed("neg", _lax("neg"), "int16"), _typed("neg", _lax("neg"), "uint8")])
def lower_neg(ctx, x):
    dtype = ctx.in_avals[0].dtype
    if _name(dtype) in UINT:  # wraps modulo 2**bits like JAX; ONNX Neg is signed only
        return _op(ctx, "Sub", _c(ctx, 0, dtype), x, dtype=dtype)
    return _op(ctx, "Neg", x, dtype=dtype)


@lowering("round", component="jax.lax.round", onnx=["Round", "Floor", "Sign"], since="0.1.0",
          doc=LAX_DOC.format("round"),
          testcases=[Testcase(f"round_{m.name.lower()}", fn=lambda x, m=m: jax.lax.round(x, m), inputs=[("B", 6)],
                              input_values=lambda rng, s: [rng.integers(-8, 8, s[0]) / 2 + rng.choice([0, 0.1], s[0])])
                     for m in jax.lax.RoundingMethod])
def lower_round(ctx, x, *, rounding_method):
    dtype = ctx.in_avals[0].dtype
    if rounding_method == jax.lax.RoundingMethod.TO_NEAREST_EVEN:
        return _op(ctx, "Round", x, dtype=dtype)
    return _formula(_round_away)(ctx, x)


def _round_away(ctx, x, dt):
    # floor(|x| + 0.5) would round 0.49999997 up; compare the exact fraction instead.
    a = ctx.op.Abs(x)
    whole = ctx.op.Floor(a)
    up = ctx.op.GreaterOrEqual(ctx.op.Sub(a, whole), _c(ctx, 0.5, dt))
    return ctx.op.Mul(ctx.op.Sign(x), ctx.op.Where(up, ctx.op.Add(whole, _c(ctx, 1, dt)), whole))


@lowering("is_finite", component="jax.lax.is_finite", onnx=["IsInf", "IsNaN", "Or", "Not"], since="0.1.0",
          doc=LAX_DOC.format("is_finite"),
          testcases=[Testcase("is_finite", fn=_lax("is_finite"), inputs=[("B", 4)],
                              input_values=lambda rng, s: [rng.choice([1.0, -np.inf, np.inf, np.nan, 0.0], s[0])]),
                     _typed("is_finite", _lax("is_finite"), "float16",
                            values=lambda rng, s: [rng.choice([1.0, -np.inf, np.nan], s[0])])])
def lower_is_finite(ctx, x):
    dtype = ctx.in_avals[0].dtype
    return ctx.op.Not(ctx.op.Or(_op(ctx, "IsInf", x, dtype=dtype), _op(ctx, "IsNaN", x, dtype=dtype)))


@lowering("exp2", component="jax.lax.exp2", onnx=["Mul", "Exp"], since="0.1.0", doc=LAX_DOC.format("exp2"),
          testcases=[Testcase("exp2", fn=_lax("exp2"), inputs=[("B", 4)], expect_ops=["Mul", "Exp"]),
                     _typed("exp2", _lax("exp2"), "bfloat16", values=_uniform(-12, 12)),
                     _typed("exp2", _lax("exp2"), "float16", values=_uniform(-12, 12))])
def lower_exp2(ctx, x, **params):
    return _in_xla_steps(ctx, x, "Mul", np.log(2), "Exp")


def lower_log2(ctx, x, **params):
    return _in_xla_steps(ctx, x, "Log", 1 / np.log(2), "Mul")


def _in_xla_steps(ctx, x, first, constant, second):
    """``second(first(x, c))`` (a unary step takes no constant) as XLA computes it in x's dtype: ``c`` and
    the intermediate rounded to the dtype (visible in float16/bfloat16), each step computed in float32."""
    dtype = ctx.in_avals[0].dtype
    work = _compute_dtype(dtype)
    c = _c(ctx, np.asarray(constant, dtype=dtype).astype(work), work)

    def step(op_type, v):
        return ctx.op.Mul(v, c) if op_type == "Mul" else _op(ctx, op_type, v, dtype=work)

    middle = step(first, _convert(ctx, x, work))
    if work != _name(dtype):
        middle = ctx.cast(ctx.cast(middle, dtype), work)
    return ctx.cast(step(second, middle), dtype, from_dtype=work)


if has_lax_primitive("log2"):  # JAX 0.12+ binds jnp.log2 as log2; older versions divide two logs
    lowering("log2", component="jax.lax.log2", onnx=["Log", "Mul"], since="0.2.0", doc=LAX_DOC.format("log2"),
             testcases=[Testcase("log2", fn=_lax("log2"), inputs=[("B", 4)], input_values=_uniform(0.01, 10),
                                 expect_ops=["Log", "Mul"]),
                        _typed("log2", _lax("log2"), "bfloat16", values=_uniform(0.1, 100))])(lower_log2)


@lowering("expm1", component="jax.lax.expm1", onnx=["Exp", "Log", "Where"], since="0.1.0",
          doc=LAX_DOC.format("expm1"),
          testcases=[Testcase("expm1", fn=_lax("expm1"), inputs=[("B", 8)],
                              input_values=_tiny_and_large(-3, 3)),
                     _typed("expm1", _lax("expm1"), "float16")])
def lower_expm1(ctx, x, **params):
    return _formula(_expm1)(ctx, x)


@lowering("log1p", component="jax.lax.log1p", onnx=["Log", "Where"], since="0.1.0", doc=LAX_DOC.format("log1p"),
          testcases=[Testcase("log1p", fn=_lax("log1p"), inputs=[("B", 8)],
                              input_values=_tiny_and_large(-0.9, 5)),
                     _typed("log1p", _lax("log1p"), "bfloat16", values=_uniform(-0.5, 3))])
def lower_log1p(ctx, x, **params):
    return _formula(_log1p)(ctx, x)


@lowering("rsqrt", component="jax.lax.rsqrt", onnx=["Sqrt", "Reciprocal"], since="0.1.0", doc=LAX_DOC.format("rsqrt"),
          testcases=[Testcase("rsqrt", fn=_lax("rsqrt"), inputs=[("B", 4)], input_values=_uniform(0.01, 10),
                              expect_ops=["Sqrt", "Reciprocal"])])
def lower_rsqrt(ctx, x, **params):
    return _formula(lambda ctx, x, dt: ctx.op.Reciprocal(ctx.op.Sqrt(x)))(ctx, x)


@lowering("cbrt", component="jax.lax.cbrt", onnx=["Pow", "Abs", "Sign"], since="0.1.0", doc=LAX_DOC.format("cbrt"),
          testcases=[Testcase("cbrt", fn=_lax("cbrt"), inputs=[("B", 4)],
                              input_values=lambda rng, s: [rng.standard_normal(s[0]) * 100])])
def lower_cbrt(ctx, x, **params):
    # Pow of a negative base to 1/3 is NaN: take the root of |x| and restore the sign.
    return _formula(_cbrt)(ctx, x)


def _cbrt(ctx, x, dt):
    return ctx.op.Mul(ctx.op.Sign(x), ctx.op.Pow(ctx.op.Abs(x), _c(ctx, 1 / 3, dt)))


@lowering("square", component="jax.lax.square", onnx=["Mul"], since="0.1.0", doc=LAX_DOC.format("square"),
          testcases=[Testcase("square", fn=_lax("square"), inputs=[("B", 4)], expect_ops=["Mul"]),
                     _typed("square", _lax("square"), "int32", expect_ops=["Mul"])])
def lower_square(ctx, x):
    return _op(ctx, "Mul", x, x, dtype=ctx.in_avals[0].dtype)


@lowering("one_minus_square", component="jax.lax.one_minus_square", onnx=["Add", "Sub", "Mul"], since="0.1.0",
          doc=LAX_DOC.format("one_minus_square"),
          # JAX 0.11+ emits it in the derivatives of tanh, atanh, asin and acos; earlier JAX has no such primitive.
          testcases=[Testcase("one_minus_square_tanh_grad", fn=jax.vmap(jax.grad(jax.numpy.tanh)), inputs=[("B",)],
                              input_values=_uniform(-3, 3)),
                     Testcase("one_minus_square_atanh_grad", fn=jax.vmap(jax.grad(jax.numpy.arctanh)),
                              inputs=[("B",)], input_values=_uniform(-0.999, 0.999))])
def lower_one_minus_square(ctx, x):
    # (1 + x)(1 - x), as JAX computes it: exact near |x| = 1, where 1 - x*x loses bits.
    dtype = ctx.in_avals[0].dtype
    one = _c(ctx, 1, dtype)
    return _op(ctx, "Mul", _op(ctx, "Add", one, x, dtype=dtype), _op(ctx, "Sub", one, x, dtype=dtype), dtype=dtype)


@lowering("integer_pow", component="jax.lax.integer_pow", onnx=["Mul", "Div"], since="0.1.0",
          doc=LAX_DOC.format("integer_pow"),
          testcases=[Testcase(f"integer_pow_{y}".replace("-", "m"), fn=lambda x, y=y: jax.lax.integer_pow(x, y),
                              inputs=[("B", 4)], input_values=_uniform(0.5, 2))
                     for y in (0, 3, 5, 8, -1, -3)]
                    + [Testcase("integer_pow_2", fn=lambda x: jax.lax.integer_pow(x, 2), inputs=[("B", 4)],
                                expect_ops=["Mul"]),
                       Testcase("integer_pow_1", fn=lambda x: jax.lax.integer_pow(x, 1) + 1.0, inputs=[("B", 4)],
                                expect_ops=["Add"]),
                       _typed("integer_pow", lambda x: jax.lax.integer_pow(x, 3), "int32"),
                       _typed("integer_pow", lambda x: jax.lax.integer_pow(x, 5), "float16", values=_uniform(0.5, 2)),
                       _typed("integer_pow_0", lambda x: jax.lax.integer_pow(x, 0), "bfloat16")])
def lower_integer_pow(ctx, x, *, y):
    dtype = ctx.in_avals[0].dtype
    if y == 0:  # ones of x's shape; ONNX Runtime has no bfloat16 Expand, so those expand in float32 and cast
        work = "float32" if _name(dtype) == "bfloat16" else dtype
        return ctx.cast(ctx.op.Expand(_c(ctx, 1, work), ctx.op.Shape(x)), dtype, from_dtype=work)
    # Square-and-multiply in the order JAX uses, so rounding matches.
    acc, base, n = None, x, abs(y)
    while n:
        if n & 1:
            acc = base if acc is None else _op(ctx, "Mul", acc, base, dtype=dtype)
        n >>= 1
        if n:
            base = _op(ctx, "Mul", base, base, dtype=dtype)
    return _op(ctx, "Div", _c(ctx, 1, dtype), acc, dtype=dtype) if y < 0 else acc


@lowering("erfc", component="jax.lax.erfc", onnx=["Erf", "Sub"], since="0.1.0", doc=LAX_DOC.format("erfc"),
          testcases=[Testcase("erfc", fn=_lax("erfc"), inputs=[("B", 4)], input_values=_uniform(-7, 7)),
                     Testcase("erfc_tail", fn=lambda x: jax.numpy.log(jax.lax.erfc(x)), inputs=[("B", 8)],
                              input_values=_uniform(1, 9)),  # log shows the relative error of tiny values
                     _typed("erfc", _lax("erfc"), "bfloat16"), _typed("erfc", _lax("erfc"), "float16")])
def lower_erfc(ctx, x, **params):  # JAX 0.12 adds ``accuracy``, a hint for XLA
    if _name(ctx.in_avals[0].dtype) == "float64":
        return _erfc64(ctx, x, "float64")
    return _formula(_erfc32)(ctx, x)


def _erfc32(ctx, x, dt):
    # 1 - erf(x) keeps float32's relative precision below |x| = 1.5, where erfc(x) > 0.03.
    a = ctx.op.Abs(x)
    far = _erfc_fraction(ctx, a, ctx.op.Exp(ctx.op.Neg(ctx.op.Mul(a, a))), 15, dt)
    far = ctx.op.Where(ctx.op.Less(x, _c(ctx, 0, dt)), ctx.op.Sub(_c(ctx, 2, dt), far), far)
    return ctx.op.Where(ctx.op.Less(a, _c(ctx, 1.5, dt)), ctx.op.Sub(_c(ctx, 1, dt), ctx.op.Erf(x)), far)


def _horner(ctx, coefficients, t, dt):
    p = _c(ctx, coefficients[0], dt)
    for c in coefficients[1:]:
        p = ctx.op.Add(ctx.op.Mul(p, t), _c(ctx, c, dt))
    return p


def _binary(op_type):
    def rule(ctx, x, y, **params):
        return _op(ctx, op_type, x, y, dtype=ctx.in_avals[0].dtype)

    return rule


def _positive_ints(rng, shapes):
    return [rng.integers(0, 200, shapes[0]), rng.integers(1, 9, shapes[1])]


ARITHMETIC = {"add": "Add", "sub": "Sub", "mul": "Mul", "max": "Max", "min": "Min"}
ARITHMETIC_CASES = {
    "add": [_typed("add", _lax("add"), "bfloat16", 2), _typed("add", _lax("add"), "float16", 2, expect_ops=["Add"]),
            _typed("add", _lax("add"), "uint16", 2)],
    "sub": [_typed("sub", _lax("sub"), "uint32", 2),
            Testcase("elementwise_chain", fn=lambda x, y: jax.numpy.tanh(x * y + 1.0) - jax.numpy.exp(x),
                     inputs=[("B", 4), ("B", 4)], expect_ops=["Mul", "Add", "Tanh", "Exp", "Sub"])],
    "mul": [_typed("mul", _lax("mul"), "int16", 2)],
    "max": [_typed("max", _lax("max"), d, 2) for d in ("int16", "uint16", "bfloat16", "bool")]
           + [Testcase("max_nan", fn=_lax("max"), inputs=[(6,), (6,)],
                       input_values=lambda rng, s: [[np.nan, 1, 2, -1, np.inf, 0], [1, np.nan, 3, -np.inf, 1, -0.0]])],
    "min": [_typed("min", _lax("min"), d, 2) for d in ("int8", "uint64", "bool")],
}
for _prim, _onnx in ARITHMETIC.items():
    lowering(_prim, component=f"jax.lax.{_prim}", onnx=[_onnx], since="0.1.0", doc=LAX_DOC.format(_prim),
             testcases=[Testcase(_prim, fn=_lax(_prim), inputs=[("B", 4), ("B", 4)], expect_ops=[_onnx]),
                        Testcase(f"{_prim}_scalar", fn=_lax(_prim), inputs=[("B", 3), ()], expect_ops=[_onnx]),
                        _typed(_prim, _lax(_prim), "int32", 2), _typed(_prim, _lax(_prim), "int64", 2),
                        *ARITHMETIC_CASES.get(_prim, [])])(_binary(_onnx))

# add_any sums the cotangents of a value used twice: jax.grad of almost any function has it.
lowering("add_any", component="jax.lax.add_any", onnx=["Add"], since="0.1.0",
         testcases=[Testcase("add_any_grad", fn=lambda x: jax.grad(lambda v: jax.numpy.sum(jax.numpy.sin(v) * v))(x),
                             inputs=[("B", 4)])])(_binary("Add"))


def _traps(rng, shapes):
    """Dividends with the most negative integer, divisors with 0 and -1."""
    most_negative = [-2**63, -2**31, -2**15, -2**7]  # one per width, once cast
    return [rng.choice([*most_negative, 7, -7, 0, 100], shapes[0]), rng.choice([0, -1, 1, 3, -2], shapes[1])]


def _guard_divisor(ctx, y, dtype):
    """(y == 0, y == -1, y with both replaced by 1): integer division by those traps in ORT (SIGFPE).

    The masks are None where a constant divisor cannot hold them.
    """
    value, signed = ctx.const_value(y), _name(dtype) in SINT
    zero = minus_one = None
    if value is None or np.any(value == 0):
        zero = _op(ctx, "Equal", y, _c(ctx, 0, dtype), dtype=dtype)
    if signed and (value is None or np.any(value == -1)):
        minus_one = _op(ctx, "Equal", y, _c(ctx, -1, dtype), dtype=dtype)
    masks = [m for m in (zero, minus_one) if m is not None]
    if masks:
        y = _where(ctx, masks[0] if len(masks) == 1 else ctx.op.Or(*masks), _c(ctx, 1, dtype), y, dtype)
    return zero, minus_one, y


@lowering("div", component="jax.lax.div", onnx=["Div", "Equal", "Where"], since="0.1.0", doc=LAX_DOC.format("div"),
          testcases=[Testcase("div", fn=_lax("div"), inputs=[("B", 4), ("B", 4)], expect_ops=["Div"]),
                     Testcase("div_scalar", fn=_lax("div"), inputs=[("B", 3), ()], expect_ops=["Div"]),
                     Testcase("div_int_by_constant", fn=lambda x: jax.lax.div(x, np.int32(-3)), inputs=[("B", 4)],
                              input_dtypes=["int32"], expect_ops=["Div"]),
                     *(_typed("div", _lax("div"), d, 2, values=_traps) for d in ("int32", "int64", "int8", "int16")),
                     _typed("div", _lax("div"), "uint8", 2, values=_positive_ints),
                     _typed("div", _lax("div"), "uint32", 2, values=lambda rng, s: [rng.integers(0, 9, t) for t in s])])
def lower_div(ctx, x, y, **params):
    dtype = ctx.in_avals[0].dtype
    if _is_float(dtype):
        return _op(ctx, "Div", x, y, dtype=dtype)
    zero, minus_one, y = _guard_divisor(ctx, y, dtype)
    out = _op(ctx, "Div", x, y, dtype=dtype)  # C division truncates toward zero, like JAX
    if minus_one is not None:  # x / -1 is -x, wrapping for the most negative x
        out = _where(ctx, minus_one, _op(ctx, "Sub", _c(ctx, 0, dtype), out, dtype=dtype), out, dtype)
    if zero is not None:  # JAX gives all ones
        out = _where(ctx, zero, _c(ctx, np.array(-1).astype(dtype), dtype), out, dtype)
    return out


@lowering("rem", component="jax.lax.rem", onnx=["Mod", "Div", "Mul", "Sub"], since="0.1.0", doc=LAX_DOC.format("rem"),
          testcases=[Testcase("rem", fn=_lax("rem"), inputs=[("B", 4), ("B", 4)], expect_ops=["Mod"]),
                     *(_typed("rem", _lax("rem"), d, 2, values=_traps) for d in ("int32", "int64", "int8")),
                     _typed("rem", _lax("rem"), "uint16", 2, values=lambda rng, s: [rng.integers(0, 9, t) for t in s]),
                     _typed("rem", _lax("rem"), "bfloat16", 2)])
def lower_rem(ctx, x, y):
    dtype = ctx.in_avals[0].dtype
    if _is_float(dtype):
        return _op(ctx, "Mod", x, y, dtype=dtype, fmod=1)  # fmod: the sign of the dividend, like C and JAX
    zero, _, y = _guard_divisor(ctx, y, dtype)  # x rem -1 is 0, as x rem 1
    if _name(dtype) in ("int64", "uint64"):
        # ORT's integer Mod goes through double, inexact beyond 2**53: x - trunc(x / y) * y is exact.
        out = ctx.op.Sub(x, ctx.op.Mul(ctx.op.Div(x, y), y))
    else:
        out = _op(ctx, "Mod", x, y, dtype=dtype, fmod=1)
    return out if zero is None else _where(ctx, zero, x, out, dtype)  # JAX: x rem 0 is x


@lowering("pow", component="jax.lax.pow", onnx=["Pow"], since="0.1.0", doc=LAX_DOC.format("pow"),
          testcases=[Testcase("pow", fn=_lax("pow"), inputs=[("B", 4), ("B", 4)], input_values=_uniform(0.1, 3),
                              expect_ops=["Pow"]),
                     Testcase("pow_int_exponent", fn=_lax("pow"), inputs=[("B", 4), ("B", 4)],
                              input_dtypes=["float32", "int8"], expect_ops=["Cast", "Pow"],
                              input_values=lambda rng, s: [rng.standard_normal(s[0]), rng.integers(-3, 4, s[1])]),
                     _typed("pow", _lax("pow"), "bfloat16", 2, values=_uniform(0.1, 3))])
def lower_pow(ctx, x, y):
    dtype = ctx.in_avals[0].dtype
    return _op(ctx, "Pow", x, ctx.cast(y, dtype, from_dtype=ctx.in_avals[1].dtype), dtype=dtype)  # as JAX does


@lowering("atan2", component="jax.lax.atan2", onnx=["Atan", "Div", "Where"], since="0.1.0", doc=LAX_DOC.format("atan2"),
          testcases=[Testcase("atan2", fn=_lax("atan2"), inputs=[("B", 6), ("B", 6)],
                              input_values=lambda rng, s: [rng.standard_normal(s[0]),
                                                           rng.standard_normal(s[1]) * rng.choice([0, 1], s[1])]),
                     _typed("atan2", _lax("atan2"), "float16", 2)])
def lower_atan2(ctx, y, x):
    return _formula(_atan2)(ctx, y, x)


def _atan2(ctx, y, x, dt):
    half_turn = ctx.op.Where(ctx.op.Less(y, _c(ctx, 0, dt)), _c(ctx, -np.pi, dt), _c(ctx, np.pi, dt))
    turn = ctx.op.Where(ctx.op.Less(x, _c(ctx, 0, dt)), half_turn, _c(ctx, 0, dt))
    out = ctx.op.Add(_atan(ctx, ctx.op.Div(y, x), dt), turn)
    # On the y axis y / x is +-inf with the sign of a zero x, or NaN: the angle is sign(y) * pi/2.
    axis = ctx.op.Mul(ctx.op.Sign(y), _c(ctx, np.pi / 2, dt))
    return ctx.op.Where(ctx.op.Equal(x, _c(ctx, 0, dt)), axis, out)


@lowering("copy", "stop_gradient", component="jax.lax.{}", onnx=[], since="0.1.0",
          testcases=[Testcase("copy", fn=lambda x: jax.numpy.copy(x) * x, inputs=[("B", 4)], expect_ops=["Mul"]),
                     Testcase("stop_gradient", fn=lambda x: jax.lax.stop_gradient(x) + x, inputs=[("B", 4)],
                              expect_ops=["Add"])])
def lower_identity(ctx, x):
    return x


@lowering("device_put", component="jax.device_put", onnx=[], since="0.1.0",
          doc="https://docs.jax.dev/en/latest/_autosummary/jax.device_put.html",
          testcases=[Testcase("device_put", fn=lambda x, y: [2 * v for v in jax.device_put((x, y))],
                              inputs=[("B", 4), (3,)], input_dtypes=[np.float32, np.int32], expect_ops=["Mul", "Mul"])])
def lower_device_put(ctx, *xs, **params):
    # One graph, one device: placement and copy semantics leave the values as they are.
    return list(xs)


def _ties(rng, shapes):
    return [rng.integers(-3, 3, s) for s in shapes]  # equal pairs are frequent


COMPARISONS = {"eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual"}
COMPARISON_CASES = {
    "eq": [_typed("eq", _lax("eq"), d, 2, values=_ties) for d in ("int32", "bool", "uint64")],
    "lt": [_typed("lt", _lax("lt"), d, 2, values=_ties) for d in ("int32", "uint8", "bfloat16", "bool")],
    "ge": [_typed("ge", _lax("ge"), d, 2, values=_ties) for d in ("int16", "float16")],
}
for _prim, _onnx in COMPARISONS.items():
    lowering(_prim, component=f"jax.lax.{_prim}", onnx=[_onnx], since="0.1.0", doc=LAX_DOC.format(_prim),
             testcases=[Testcase(_prim, fn=_lax(_prim), inputs=[("B", 6), ("B", 6)], input_values=_ties,
                                 expect_ops=[_onnx]),
                        *COMPARISON_CASES.get(_prim, [])])(_binary(_onnx))


@lowering("ne", component="jax.lax.ne", onnx=["Equal", "Not"], since="0.1.0", doc=LAX_DOC.format("ne"),
          testcases=[Testcase("ne", fn=_lax("ne"), inputs=[("B", 6), ("B", 6)], input_values=_ties,
                              expect_ops=["Equal", "Not"]),
                     _typed("ne", _lax("ne"), "bool", 2), _typed("ne", _lax("ne"), "int8", 2, values=_ties)])
def lower_ne(ctx, x, y):
    return ctx.op.Not(_op(ctx, "Equal", x, y, dtype=ctx.in_avals[0].dtype))


# primitive: (ONNX op on bool, ONNX op on integers)
LOGICAL = {"and": ("And", "BitwiseAnd"), "or": ("Or", "BitwiseOr"), "xor": ("Xor", "BitwiseXor"),
           "not": ("Not", "BitwiseNot")}


def _logical(bool_op, int_op):
    def rule(ctx, *xs):
        dtype = ctx.in_avals[0].dtype
        return _op(ctx, bool_op if _name(dtype) == "bool" else int_op, *xs, dtype=dtype)

    return rule


for _prim, (_bool_op, _int_op) in LOGICAL.items():
    _fn = _lax("bitwise_" + _prim)
    _n = 1 if _prim == "not" else 2
    lowering(_prim, component=f"jax.lax.bitwise_{_prim}", onnx=[_bool_op, _int_op], since="0.1.0",
             doc=LAX_DOC.format("bitwise_" + _prim),
             testcases=[_typed(_prim, _fn, "bool", _n, expect_ops=[_bool_op]),
                        _typed(_prim, _fn, "int32", _n, expect_ops=[_int_op]),
                        _typed(_prim, _fn, "uint8", _n), _typed(_prim, _fn, "int64", _n)])(_logical(_bool_op, _int_op))


@lowering("select_n", component="jax.lax.select_n", onnx=["Where", "Equal"], since="0.1.0",
          doc=LAX_DOC.format("select_n"),
          testcases=[Testcase("select_n_bool", fn=_lax("select_n"), inputs=[("B", 4), ("B", 4), ("B", 4)],
                              input_dtypes=["bool", "float32", "float32"], expect_ops=["Where"]),
                     Testcase("select_n_int32", fn=_lax("select_n"), inputs=[("B", 4)] * 4,
                              input_dtypes=["int32", "float32", "float32", "float32"],
                              input_values=lambda rng, s: [rng.integers(0, 3, s[0]), *_real(rng, s[1:])]),
                     Testcase("select_n_scalar_pred", fn=_lax("select_n"), inputs=[(), ("B", 4), ("B", 4)],
                              input_dtypes=["bool", "int32", "int32"]),
                     Testcase("select_n_bool_cases", fn=_lax("select_n"), inputs=[("B", 4)] * 3,
                              input_dtypes=["bool", "bool", "bool"]),
                     Testcase("select_n_one", fn=lambda p, x: jax.lax.select_n(p, x) * x, inputs=[("B", 4)] * 2,
                              input_dtypes=["bool", "float32"], expect_ops=["Mul"])])
def lower_select_n(ctx, which, *cases):
    dtype = ctx.out_avals[0].dtype
    if len(cases) == 1:
        return cases[0]
    if ctx.in_avals[0].dtype == np.bool_:
        return _where(ctx, which, cases[1], cases[0], dtype)
    out = cases[0]
    for i, case in enumerate(cases[1:], 1):
        out = _where(ctx, ctx.op.Equal(which, _c(ctx, i, ctx.in_avals[0].dtype)), case, out, dtype)
    return out


@lowering("clamp", component="jax.lax.clamp", onnx=["Clip", "Max", "Min"], since="0.1.0", doc=LAX_DOC.format("clamp"),
          testcases=[Testcase("clamp_scalar_bounds", fn=lambda x: jax.lax.clamp(-0.5, x, 0.5), inputs=[("B", 4)],
                              expect_ops=["Clip"]),
                     Testcase("clamp_array_bounds", fn=_lax("clamp"), inputs=[("B", 4)] * 3,
                              input_values=lambda rng, s: [rng.uniform(-2, -0.1, s[0]), rng.standard_normal(s[1]),
                                                           rng.uniform(0.1, 2, s[2])], expect_ops=["Max", "Min"]),
                     _typed("clamp", lambda x: jax.lax.clamp(np.int16(-3), x, np.int16(4)), "int16")])
def lower_clamp(ctx, lo, x, hi):
    dtype = ctx.in_avals[1].dtype
    if ctx.in_avals[0].shape == () and ctx.in_avals[2].shape == ():  # Clip takes scalar bounds only
        return _op(ctx, "Clip", x, lo, hi, dtype=dtype)
    return _op(ctx, "Min", _op(ctx, "Max", x, lo, dtype=dtype), hi, dtype=dtype)


def _wild_floats(rng, shapes):
    return [rng.choice([1e10, -1e10, 1e30, -1e30, np.nan, np.inf, -np.inf, 300.5, -200.25, 0.0, -0.0, 3.7, -3.7,
                        127.9], shapes[0])]


# (source, target, test inputs)
CONVERSIONS = [
    ("float32", "int32", _wild_floats), ("float32", "int8", _wild_floats), ("float32", "uint8", _wild_floats),
    ("float32", "uint32", _wild_floats), ("float32", "bool", _wild_floats), ("bool", "float32", None),
    ("float32", "float16", _wild_floats), ("float16", "float32", None), ("float16", "int16", _wild_floats),
    ("int32", "float32", None), ("int32", "int8", lambda rng, s: [rng.integers(-1000, 1000, s[0])]),
    ("int32", "uint32", None), ("uint8", "int8", lambda rng, s: [rng.integers(0, 256, s[0])]), ("int32", "bool", None),
]


@lowering("convert_element_type", component="jax.lax.convert_element_type", onnx=["Cast", "Clip", "IsNaN", "Where"],
          since="0.1.0", doc=LAX_DOC.format("convert_element_type"),
          testcases=[Testcase(f"convert_{a}_{b}", fn=lambda x, b=b: jax.lax.convert_element_type(x, b),
                              inputs=[("B", 8)], input_dtypes=[a], input_values=values, x64=False)
                     for a, b, values in CONVERSIONS]
                    + [Testcase("convert_f32_i32_graph", fn=lambda x: jax.numpy.asarray(x).astype(np.int32) + 1,
                                inputs=[("B", 4)], x64=False,
                                expect_ops=["IsNaN", "Where", "Clip", "Cast", "Greater", "Where", "Add"]),
                       Testcase("convert_f32_bf16_f32", inputs=[("B", 8)], input_values=_wild_floats, x64=False,
                                fn=lambda x: jax.lax.convert_element_type(x, jax.numpy.bfloat16).astype(np.float32)),
                       Testcase("convert_int64_int32", fn=lambda x: jax.lax.convert_element_type(x, np.int32),
                                inputs=[("B", 4)], input_dtypes=["int64"], x64="only",
                                input_values=lambda rng, s: [rng.integers(-2**40, 2**40, s[0])]),
                       *(Testcase(f"convert_float64_{b}", fn=lambda x, b=b: jax.lax.convert_element_type(x, b),
                                  inputs=[("B", 8)], input_dtypes=["float64"], input_values=_wild_floats, x64="only")
                         for b in ("int64", "uint64"))])
def lower_convert(ctx, x, *, new_dtype, **params):
    src, dst = np.dtype(ctx.in_avals[0].dtype), np.dtype(new_dtype)
    if not _is_float(src) or dst.kind not in "iu":
        return ctx.cast(x, dst, from_dtype=src)
    # JAX saturates out-of-range floats and maps NaN to 0; a bare Cast is undefined there.
    dt = _compute_dtype(src)
    x = ctx.cast(x, dt, from_dtype=src)
    info = np.iinfo(dst)
    top = np.asarray(info.max, dt)
    if int(top) > info.max:  # the largest integer is not representable: clip below it, patch the top after the Cast
        top = np.nextafter(top, np.asarray(0, dt))
    clipped = ctx.op.Clip(ctx.op.Where(ctx.op.IsNaN(x), _c(ctx, 0, dt), x), _c(ctx, info.min, dt), _c(ctx, top, dt))
    out = ctx.cast(clipped, dst, from_dtype=dt)
    if int(top) < info.max:
        out = _where(ctx, ctx.op.Greater(x, _c(ctx, top, dt)), _c(ctx, info.max, dst), out, dst)
    return out


def _unsigned(ctx, x, dtype):
    """The bits of ``x`` as the unsigned type of its width, widened to one BitShift has a kernel for."""
    width = np.dtype(dtype).itemsize * 8
    u = ctx.cast(x, f"uint{width}", from_dtype=dtype)
    return ctx.cast(u, _kernel_dtype(ctx, "BitShift", f"uint{width}"), from_dtype=f"uint{width}")


def _from_unsigned(ctx, u, kernel, dtype):
    width = np.dtype(dtype).itemsize * 8
    return ctx.cast(ctx.cast(u, f"uint{width}", from_dtype=kernel), dtype, from_dtype=f"uint{width}")


def _shift(direction, arithmetic):
    def rule(ctx, x, s):
        dtype = ctx.in_avals[0].dtype
        width = np.dtype(dtype).itemsize * 8
        kernel = _kernel_dtype(ctx, "BitShift", f"uint{width}")
        xu, su = _unsigned(ctx, x, dtype), _unsigned(ctx, s, dtype)
        if arithmetic:
            # Shift the complement of negatives so vacated bits fill with the sign; JAX clamps the
            # amount (negative ones too, read as unsigned) to width - 1.
            negative = ctx.op.Less(ctx.cast(x, f"int{width}", from_dtype=dtype), _c(ctx, 0, f"int{width}"))
            flip = ctx.op.Mul(ctx.cast(negative, kernel), _c(ctx, 2**width - 1, kernel))
            amount = ctx.op.Min(su, _c(ctx, width - 1, kernel))
            out = ctx.op.BitwiseXor(ctx.op.BitShift(ctx.op.BitwiseXor(xu, flip), amount, direction="RIGHT"), flip)
        else:
            # JAX defines shifts by the width or more (negative ones too, read as unsigned) as 0.
            in_range = ctx.cast(ctx.op.Less(su, _c(ctx, width, kernel)), kernel)
            out = ctx.op.Mul(ctx.op.BitShift(xu, su, direction=direction), in_range)
        return _from_unsigned(ctx, out, kernel, dtype)

    return rule


def _shift_values(rng, shapes):
    return [rng.integers(-100, 100, shapes[0]), rng.integers(-2, 40, shapes[1])]


# primitive: (BitShift direction, arithmetic)
SHIFTS = {"shift_left": ("LEFT", False), "shift_right_logical": ("RIGHT", False),
          "shift_right_arithmetic": ("RIGHT", True)}
for _prim, (_direction, _arithmetic) in SHIFTS.items():
    lowering(_prim, component=f"jax.lax.{_prim}", onnx=["BitShift", "Cast", "Mul", "BitwiseXor"], since="0.1.0",
             doc=LAX_DOC.format(_prim),
             testcases=[_typed(_prim, _lax(_prim), d, 2, values=_shift_values)
                        for d in ("int32", "uint32", "int8", "uint8", "int16", "uint16", "int64", "uint64")],
             )(_shift(_direction, _arithmetic))


def _popcount(ctx, u, kernel):
    """Bits set in each element of the unsigned ``u`` (SWAR: Hacker's Delight, figure 5-2)."""
    width = np.dtype(kernel).itemsize * 8

    def mask(byte):
        return _c(ctx, int.from_bytes(bytes([byte]) * (width // 8), "little"), kernel)

    def shr(v, n):
        return ctx.op.BitShift(v, _c(ctx, n, kernel), direction="RIGHT")

    u = ctx.op.Sub(u, ctx.op.BitwiseAnd(shr(u, 1), mask(0x55)))
    u = ctx.op.Add(ctx.op.BitwiseAnd(u, mask(0x33)), ctx.op.BitwiseAnd(shr(u, 2), mask(0x33)))
    u = ctx.op.BitwiseAnd(ctx.op.Add(u, shr(u, 4)), mask(0x0F))
    return shr(ctx.op.Mul(u, mask(0x01)), width - 8) if width > 8 else u


@lowering("population_count", component="jax.lax.population_count", onnx=["BitShift", "BitwiseAnd", "Mul"],
          since="0.1.0", doc=LAX_DOC.format("population_count"),
          testcases=[_typed("population_count", _lax("population_count"), d,
                            values=lambda rng, s: [rng.integers(-2**7, 2**7, s[0]) * rng.integers(1, 2**20, s[0])])
                     for d in ("int32", "uint8", "int8", "uint16", "int64", "uint64")])
def lower_population_count(ctx, x):
    dtype = ctx.in_avals[0].dtype
    kernel = _kernel_dtype(ctx, "BitShift", f"uint{dtype.itemsize * 8}")
    return _from_unsigned(ctx, _popcount(ctx, _unsigned(ctx, x, dtype), kernel), kernel, dtype)


@lowering("clz", component="jax.lax.clz", onnx=["BitShift", "BitwiseOr", "BitwiseAnd", "Mul"], since="0.1.0",
          doc=LAX_DOC.format("clz"),
          testcases=[_typed("clz", _lax("clz"), d,
                            values=lambda rng, s: [rng.integers(-2**7, 2**7, s[0]) * 2 ** rng.integers(0, 24, s[0])])
                     for d in ("int32", "uint8", "int8", "uint16", "int64", "uint32")])
def lower_clz(ctx, x):
    dtype = ctx.in_avals[0].dtype
    width = dtype.itemsize * 8
    kernel = _kernel_dtype(ctx, "BitShift", f"uint{width}")
    u = _unsigned(ctx, x, dtype)
    shift = 1
    while shift < width:  # smear the leading one into every lower bit; the zeros above it remain
        u = ctx.op.BitwiseOr(u, ctx.op.BitShift(u, _c(ctx, shift, kernel), direction="RIGHT"))
        shift *= 2
    return _from_unsigned(ctx, ctx.op.Sub(_c(ctx, width, kernel), _popcount(ctx, u, kernel)), kernel, dtype)


# float dtype: (exponent bits, mantissa bits)
FORMATS = {"float16": (5, 10), "bfloat16": (8, 7), "float32": (8, 23), "float64": (11, 52)}


def _magnitude_bits(ctx, a, fmt, dt):
    """The bit pattern (int64) of ``a >= 0`` in format ``fmt``, computed arithmetically: ONNX has no bitcast."""
    ebits, mbits = fmt
    bias = 2 ** (ebits - 1) - 1
    emin = 1 - bias
    # floor(log2 a) is off by one at worst where Log rounds: compare with the powers of two around it.
    e = ctx.op.Clip(ctx.op.Floor(ctx.op.Mul(ctx.op.Log(a), _c(ctx, 1 / np.log(2), dt))), _c(ctx, emin, dt),
                    _c(ctx, bias, dt))
    e = ctx.op.Sub(e, ctx.cast(ctx.op.Greater(ctx.op.Pow(_c(ctx, 2, dt), e), a), dt))
    e = ctx.op.Add(e, ctx.cast(ctx.op.LessOrEqual(ctx.op.Pow(_c(ctx, 2, dt), ctx.op.Add(e, _c(ctx, 1, dt))), a), dt))
    normal = ctx.op.GreaterOrEqual(a, _c(ctx, 2.0**emin, dt))
    scale = _c(ctx, 2.0**mbits, dt)
    significand = ctx.op.Sub(ctx.op.Div(a, ctx.op.Pow(_c(ctx, 2, dt), e)), _c(ctx, 1, dt))
    mantissa = ctx.op.Where(normal, ctx.op.Mul(significand, scale),
                            ctx.op.Mul(ctx.op.Mul(a, _c(ctx, 2.0**-emin, dt)), scale))
    exponent = ctx.op.Where(normal, ctx.op.Add(e, _c(ctx, bias, dt)), _c(ctx, 0, dt))
    nan, inf = ctx.op.IsNaN(a), ctx.op.IsInf(a)
    exponent = ctx.op.Where(ctx.op.Or(nan, inf), _c(ctx, 2**ebits - 1, dt), exponent)
    mantissa = ctx.op.Where(nan, _c(ctx, 2 ** (mbits - 1), dt), ctx.op.Where(inf, _c(ctx, 0, dt), mantissa))
    exponent = ctx.op.Mul(ctx.cast(exponent, np.int64), _c(ctx, 2**mbits, np.int64))
    return ctx.op.Add(exponent, ctx.cast(mantissa, np.int64))


def _magnitude_value(ctx, bits, fmt, dt):
    """The inverse of ``_magnitude_bits``: ``bits`` (uint64, sign bit clear) as a float of ``dt``."""
    ebits, mbits = fmt
    bias = 2 ** (ebits - 1) - 1
    exponent = ctx.op.BitShift(bits, _c(ctx, mbits, np.uint64), direction="RIGHT")
    fraction = ctx.op.Mul(ctx.cast(ctx.op.BitwiseAnd(bits, _c(ctx, 2**mbits - 1, np.uint64)), dt),
                          _c(ctx, 2.0**-mbits, dt))
    e = ctx.cast(exponent, dt)
    power = ctx.op.Pow(_c(ctx, 2, dt), ctx.op.Sub(e, _c(ctx, bias, dt)))
    normal = ctx.op.Mul(ctx.op.Add(fraction, _c(ctx, 1, dt)), power)
    subnormal = ctx.op.Mul(fraction, _c(ctx, 2.0 ** (1 - bias), dt))
    special = ctx.op.Where(ctx.op.Equal(fraction, _c(ctx, 0, dt)), _c(ctx, np.inf, dt), _c(ctx, np.nan, dt))
    top = ctx.op.Equal(exponent, _c(ctx, 2**ebits - 1, np.uint64))
    value = ctx.op.Where(top, special, normal)
    return ctx.op.Where(ctx.op.Equal(exponent, _c(ctx, 0, np.uint64)), subnormal, value)


def _float_to_bits(ctx, x, dtype, to):
    fmt, dt = FORMATS[_name(dtype)], _compute_dtype(dtype)
    x = ctx.cast(x, dt, from_dtype=dtype)
    bits = _magnitude_bits(ctx, ctx.op.Abs(x), fmt, dt)
    # Reciprocal catches -0.0 (whose reciprocal is -inf)
    negative = ctx.op.Or(ctx.op.Less(x, _c(ctx, 0, dt)), ctx.op.Less(ctx.op.Reciprocal(x), _c(ctx, 0, dt)))
    width = np.dtype(dtype).itemsize * 8
    sign = _c(ctx, np.array(1 << (width - 1), np.uint64).astype(np.int64), np.int64)
    return ctx.cast(ctx.op.Where(negative, ctx.op.BitwiseOr(bits, sign), bits), to, from_dtype=np.int64)


def _bits_to_float(ctx, bits, dtype, to):
    width = np.dtype(dtype).itemsize * 8
    fmt, dt = FORMATS[_name(to)], _compute_dtype(to)
    u = ctx.cast(ctx.cast(bits, f"uint{width}", from_dtype=dtype), np.uint64, from_dtype=f"uint{width}")
    magnitude = _magnitude_value(ctx, ctx.op.BitwiseAnd(u, _c(ctx, 2 ** (width - 1) - 1, np.uint64)), fmt, dt)
    negative = ctx.op.Equal(ctx.op.BitShift(u, _c(ctx, width - 1, np.uint64), direction="RIGHT"),
                            _c(ctx, 1, np.uint64))
    return ctx.cast(ctx.op.Where(negative, ctx.op.Neg(magnitude), magnitude), to, from_dtype=dt)


def _bitcast_values(rng, shapes):
    x = rng.standard_normal(shapes[0]) * 10.0 ** rng.integers(-30, 30, shapes[0])
    special = rng.choice([0.0, -0.0, np.inf, -np.inf, 1e-40, -3e-42], shapes[0])
    return [np.where(rng.random(shapes[0]) < 0.2, special, x)]


def _float_bytes(rng, shapes):
    floats = _bitcast_values(rng, [shapes[0][:-1]])[0].astype(np.float32)
    return [floats.view(np.uint8).reshape(shapes[0])]


def _half_patterns(rng, shapes):
    return [rng.integers(0, 0x7C00, shapes[0]) + rng.choice([0, 0x8000], shapes[0])]  # finite, either sign


def _int_patterns(rng, shapes):
    return [rng.integers(-2**31, 2**31, shapes[0])]


@lowering("bitcast_convert_type", component="jax.lax.bitcast_convert_type",
          onnx=["Cast", "Log", "Pow", "Floor", "BitShift", "BitwiseAnd", "Where"], since="0.1.0",
          doc=LAX_DOC.format("bitcast_convert_type"),
          testcases=[Testcase("bitcast_f32_i32", fn=lambda x: jax.lax.bitcast_convert_type(x, np.int32),
                              inputs=[("B", 8)], input_values=_bitcast_values, x64=False),
                     Testcase("bitcast_f32_u32", fn=lambda x: jax.lax.bitcast_convert_type(x, np.uint32),
                              inputs=[("B", 8)], input_values=_bitcast_values, x64=False),
                     Testcase("bitcast_i32_f32", fn=lambda x: jax.lax.bitcast_convert_type(x, np.float32),
                              inputs=[("B", 8)], input_dtypes=["int32"], input_values=_int_patterns),
                     Testcase("bitcast_f16_i16", fn=lambda x: jax.lax.bitcast_convert_type(x, np.int16),
                              inputs=[("B", 8)], input_dtypes=["float16"], x64=False,
                              input_values=_tiny_and_large(-50, 50)),
                     Testcase("bitcast_u16_f16", fn=lambda x: jax.lax.bitcast_convert_type(x, np.float16),
                              inputs=[("B", 8)], input_dtypes=["uint16"],
                              input_values=_half_patterns),
                     Testcase("bitcast_i32_u32", fn=lambda x: jax.lax.bitcast_convert_type(x, np.uint32),
                              inputs=[("B", 8)], input_dtypes=["int32"], expect_ops=["Cast"]),
                     Testcase("bitcast_f64_i64", fn=lambda x: jax.lax.bitcast_convert_type(x, np.int64),
                              inputs=[("B", 8)], input_dtypes=["float64"], input_values=_bitcast_values,
                              x64="only"),
                     Testcase("bitcast_f32_u8", fn=lambda x: jax.lax.bitcast_convert_type(x, np.uint8),
                              inputs=[("B", 3)], input_values=_bitcast_values, x64=False),
                     Testcase("bitcast_u8_f32", fn=lambda x: jax.lax.bitcast_convert_type(x, np.float32),
                              inputs=[("B", 3, 4)], input_dtypes=["uint8"],
                              input_values=_float_bytes),
                     Testcase("bitcast_i32_i16", fn=lambda x: jax.lax.bitcast_convert_type(x, np.int16),
                              inputs=[("B", 3)], input_dtypes=["int32"], input_values=_int_patterns),
                     Testcase("bitcast_i16_f32", fn=lambda x: jax.lax.bitcast_convert_type(x, np.float32),
                              inputs=[("B", 2)], input_dtypes=["int16"],
                              input_values=lambda rng, s: [rng.integers(-2**15, 2**15, s[0])]),
                     Testcase("bitcast_f16_u8", fn=lambda x: jax.lax.bitcast_convert_type(x, np.uint8),
                              inputs=[("B", 3)], input_dtypes=["float16"], x64=False),
                     Testcase("bitcast_f16_bf16",
                              fn=lambda x: jax.lax.bitcast_convert_type(x, jax.numpy.bfloat16).astype(np.float32),
                              inputs=[("B", 3)], input_dtypes=["float16"], x64=False)])
def lower_bitcast_convert_type(ctx, x, *, new_dtype):
    src, dst = np.dtype(ctx.in_avals[0].dtype), np.dtype(new_dtype)
    if src.itemsize == dst.itemsize and not (_is_float(src) and _is_float(dst)):
        if _is_float(src):
            return _float_to_bits(ctx, x, src, dst)
        if _is_float(dst):
            return _bits_to_float(ctx, x, src, dst)
        return ctx.cast(x, dst, from_dtype=src)  # integer casts of one width keep the bits
    pattern = _pattern(ctx, x, src)
    if src.itemsize != dst.itemsize:
        pattern = (_split_bits if src.itemsize > dst.itemsize else _join_bits)(ctx, pattern, src, dst)
    return _from_pattern(ctx, pattern, dst)


def _pattern(ctx, x, dtype):
    """The bits of ``x`` as uint64."""
    if _is_float(dtype):
        return _float_to_bits(ctx, x, dtype, np.uint64)
    unsigned = f"uint{np.dtype(dtype).itemsize * 8}"
    return ctx.cast(ctx.cast(x, unsigned, from_dtype=dtype), np.uint64, from_dtype=unsigned)


def _from_pattern(ctx, u, dtype):
    """The inverse of ``_pattern``."""
    unsigned = f"uint{np.dtype(dtype).itemsize * 8}"
    bits = ctx.cast(u, unsigned, from_dtype=np.uint64)
    if _is_float(dtype):
        return _bits_to_float(ctx, bits, unsigned, dtype)
    return ctx.cast(bits, dtype, from_dtype=unsigned)


def _split_bits(ctx, u, src, dst):
    """Each element's bits into a new last axis of narrower parts, little-endian as in JAX."""
    width = 8 * np.dtype(dst).itemsize
    parts = []
    for k in range(np.dtype(src).itemsize // np.dtype(dst).itemsize):
        part = ctx.op.BitShift(u, _c(ctx, k * width, np.uint64), direction="RIGHT")
        part = ctx.op.BitwiseAnd(part, _c(ctx, 2**width - 1, np.uint64))
        parts.append(ctx.op.Unsqueeze(part, _c(ctx, [-1], np.int64)))
    return ctx.op.Concat(*parts, axis=-1)


def _join_bits(ctx, u, src, dst):
    """The inverse of ``_split_bits``: the last axis joins into one element."""
    width, out = 8 * np.dtype(src).itemsize, None
    for k in range(np.dtype(dst).itemsize // np.dtype(src).itemsize):
        part = ctx.op.BitShift(ctx.op.Gather(u, _c(ctx, k, np.int64), axis=-1), _c(ctx, k * width, np.uint64),
                               direction="LEFT")
        out = part if out is None else ctx.op.BitwiseOr(out, part)
    return out


@lowering("nextafter", component="jax.lax.nextafter", onnx=["Cast", "Log", "Pow", "BitShift", "Where"], since="0.1.0",
          doc=LAX_DOC.format("nextafter"),
          testcases=[Testcase("nextafter", fn=_lax("nextafter"), inputs=[("B", 8), ("B", 8)],
                              input_values=lambda rng, s: [*_bitcast_values(rng, s[:1]),
                                                           rng.choice([0.0, 1.0, -1.0, np.inf, -np.inf], s[1])]),
                     _typed("nextafter", _lax("nextafter"), "float16", 2)])
def lower_nextafter(ctx, x, y):
    return _formula(_nextafter)(ctx, x, y, fmt=FORMATS[_name(ctx.in_avals[0].dtype)])


def _nextafter(ctx, x, y, dt, fmt):
    zero = _c(ctx, 0, dt)
    away = ctx.op.Equal(ctx.op.Less(x, y), ctx.op.Greater(x, zero))  # the step grows |x|
    bits = ctx.op.Add(_magnitude_bits(ctx, ctx.op.Abs(x), fmt, dt),
                      ctx.op.Where(away, _c(ctx, 1, np.int64), _c(ctx, -1, np.int64)))
    at_zero = ctx.op.Equal(x, zero)
    bits = ctx.op.Where(at_zero, _c(ctx, 1, np.int64), bits)  # the smallest subnormal, toward y
    magnitude = _magnitude_value(ctx, ctx.cast(bits, np.uint64, from_dtype=np.int64), fmt, dt)
    negative = ctx.op.Or(ctx.op.Less(x, zero), ctx.op.And(at_zero, ctx.op.Less(y, zero)))
    out = ctx.op.Where(ctx.op.Equal(x, y), y, ctx.op.Where(negative, ctx.op.Neg(magnitude), magnitude))
    return ctx.op.Where(ctx.op.Or(ctx.op.IsNaN(x), ctx.op.IsNaN(y)), ctx.op.Add(x, y), out)


# (exponent bits, mantissa bits) of reduce_precision that a round trip through an ONNX float type gives.
REDUCED = {(5, 10): "float16", (8, 7): "bfloat16", (8, 23): "float32"}


@lowering("reduce_precision", component="jax.lax.reduce_precision", onnx=["Cast", "Abs", "Less", "Where"],
          since="0.1.0", doc=LAX_DOC.format("reduce_precision"),
          testcases=[Testcase(f"reduce_precision_{e}_{m}", fn=lambda x, e=e, m=m: jax.lax.reduce_precision(x, e, m) * x,
                              inputs=[("B", 8)], input_values=lambda rng, s: [
                                  rng.standard_normal(s[0]) * 2.0 ** rng.integers(-30, 20, s[0])])
                     for e, m in ((5, 10), (8, 7), (8, 23), (11, 52), (4, 3), (6, 16), (10, 40), (2, 0))])
def lower_reduce_precision(ctx, x, *, exponent_bits, mantissa_bits):
    dtype = ctx.in_avals[0].dtype
    ebits, mbits = FORMATS[_name(dtype)]
    if exponent_bits >= ebits and mantissa_bits >= mbits:
        return x
    target = REDUCED.get((exponent_bits, mantissa_bits))
    if target is None or FORMATS[target][0] > ebits or FORMATS[target][1] > mbits:
        return _rounded_to_format(ctx, x, dtype, min(exponent_bits, ebits), min(mantissa_bits, mbits))
    out = ctx.cast(ctx.cast(x, target, from_dtype=dtype), dtype, from_dtype=target)
    if exponent_bits == ebits:
        return out
    # XLA flushes results below the smallest normal to zero where the cast keeps subnormals; the
    # threshold is the midpoint under 2**emin at mantissa_bits, which rounds up (ties to even).
    emin = 2 - 2 ** (exponent_bits - 1)
    tiny = ctx.op.Less(_op(ctx, "Abs", x, dtype=dtype), _c(ctx, 2.0**emin - 2.0 ** (emin - 2 - mantissa_bits), dtype))
    return _where(ctx, tiny, _op(ctx, "Mul", x, _c(ctx, 0, dtype), dtype=dtype), out, dtype)


def _rounded_to_format(ctx, x, dtype, exponent_bits, mantissa_bits):
    """XLA's ReducePrecision without an ONNX type of that format: the significand rounds to nearest
    even at ``mantissa_bits``, then results beyond the format's normal range become inf or zero."""
    src_ebits, src_mbits = FORMATS[_name(dtype)]
    dt = _compute_dtype(dtype)
    x = ctx.cast(x, dt, from_dtype=dtype)
    out = x
    if mantissa_bits < src_mbits:
        # The quantum is 2**(e - mantissa_bits), e = floor(log2 |x|) but at least the source's minimum
        # exponent (its subnormals round at that quantum); dividing and multiplying by it is exact.
        src_emin = 2 - 2 ** (src_ebits - 1)
        a = ctx.op.Max(ctx.op.Abs(x), _c(ctx, 2.0**src_emin, dt))
        e = ctx.op.Floor(ctx.op.Mul(ctx.op.Log(a), _c(ctx, 1 / np.log(2), dt)))
        two = _c(ctx, 2, dt)
        e = ctx.op.Sub(e, ctx.cast(ctx.op.Greater(ctx.op.Pow(two, e), a), dt))
        e = ctx.op.Add(e, ctx.cast(ctx.op.LessOrEqual(ctx.op.Pow(two, ctx.op.Add(e, _c(ctx, 1, dt))), a), dt))
        quantum = ctx.op.Pow(_c(ctx, 2, dt), ctx.op.Sub(e, _c(ctx, mantissa_bits, dt)))
        rounded = ctx.op.Mul(ctx.op.Round(ctx.op.Div(x, quantum)), quantum)
        out = ctx.op.Where(ctx.op.Or(ctx.op.IsNaN(x), ctx.op.IsInf(x)), x, rounded)
    if exponent_bits < src_ebits:
        emax, emin = 2 ** (exponent_bits - 1) - 1, 2 - 2 ** (exponent_bits - 1)
        magnitude = ctx.op.Abs(out)
        huge = ctx.op.GreaterOrEqual(magnitude, _c(ctx, 2.0 ** (emax + 1), dt))
        out = ctx.op.Where(huge, ctx.op.Mul(ctx.op.Sign(out), _c(ctx, np.inf, dt)), out)
        out = ctx.op.Where(ctx.op.Less(magnitude, _c(ctx, 2.0**emin, dt)), ctx.op.Mul(out, _c(ctx, 0, dt)), out)
    return ctx.cast(out, dtype, from_dtype=dt)


@lowering("mulhi", component="jax.lax.mulhi", onnx=["Mul", "BitShift", "BitwiseAnd"], since="0.1.0",
          doc=LAX_DOC.format("mulhi"),
          testcases=[_typed("mulhi", _lax("mulhi"), d, 2,
                            values=lambda rng, s: [rng.integers(-2**62, 2**62, t) for t in s])
                     for d in ("int32", "uint32", "int8", "uint16", "int64", "uint64")])
def lower_mulhi(ctx, x, y):
    dtype = ctx.in_avals[0].dtype
    width = dtype.itemsize * 8
    signed = _name(dtype) in SINT
    if width < 64:  # the whole product fits 64 bits
        wide = np.int64 if signed else np.uint64
        product = ctx.op.Mul(ctx.cast(x, wide, from_dtype=dtype), ctx.cast(y, wide, from_dtype=dtype))
        if signed:  # an exact division of what the arithmetic shift keeps
            low = ctx.op.BitwiseAnd(product, _c(ctx, 2**width - 1, np.int64))
            high = ctx.op.Div(ctx.op.Sub(product, low), _c(ctx, 2**width, np.int64))
        else:
            high = ctx.op.BitShift(product, _c(ctx, width, np.uint64), direction="RIGHT")
        return ctx.cast(high, dtype, from_dtype=wide)
    xu, yu = ctx.cast(x, np.uint64, from_dtype=dtype), ctx.cast(y, np.uint64, from_dtype=dtype)
    high = _mulhi_u64(ctx, xu, yu)
    if signed:  # two's complement: subtract the other factor for each negative one, modulo 2**64
        for a, b in ((x, yu), (y, xu)):
            negative = ctx.cast(ctx.op.Less(a, _c(ctx, 0, np.int64)), np.uint64)
            high = ctx.op.Sub(high, ctx.op.Mul(negative, b))
    return ctx.cast(high, dtype, from_dtype=np.uint64)


def _mulhi_u64(ctx, x, y):
    """The high 64 bits of the 128-bit product, from 32-bit halves."""
    mask, shift = _c(ctx, 2**32 - 1, np.uint64), _c(ctx, 32, np.uint64)

    def halves(v):
        return ctx.op.BitwiseAnd(v, mask), ctx.op.BitShift(v, shift, direction="RIGHT")

    def high(v):
        return ctx.op.BitShift(v, shift, direction="RIGHT")

    (x_lo, x_hi), (y_lo, y_hi) = halves(x), halves(y)
    lh, hl = ctx.op.Mul(x_lo, y_hi), ctx.op.Mul(x_hi, y_lo)
    middle = ctx.op.Add(ctx.op.Add(high(ctx.op.Mul(x_lo, y_lo)), ctx.op.BitwiseAnd(lh, mask)),
                        ctx.op.BitwiseAnd(hl, mask))
    return ctx.op.Add(ctx.op.Add(ctx.op.Mul(x_hi, y_hi), high(lh)), ctx.op.Add(high(hl), high(middle)))


def _total_order_key(ctx, x, dtype):
    """An int64 ordered like JAX's total order of floats: -inf < ... < -0.0 < +0.0 < ... < inf < NaN."""
    fmt, dt = FORMATS[_name(dtype)], _compute_dtype(dtype)
    x = ctx.cast(x, dt, from_dtype=dtype)
    magnitude = _magnitude_bits(ctx, ctx.op.Abs(x), fmt, dt)
    negative = ctx.op.Or(ctx.op.Less(x, _c(ctx, 0, dt)), ctx.op.Less(ctx.op.Reciprocal(x), _c(ctx, 0, dt)))
    return ctx.op.Where(negative, ctx.op.Sub(ctx.op.Neg(magnitude), _c(ctx, 1, np.int64)), magnitude)


def _total_order(op_type):
    def rule(ctx, x, y):
        dtype = ctx.in_avals[0].dtype
        if not _is_float(dtype):
            return _op(ctx, op_type, x, y, dtype=dtype)
        return getattr(ctx.op, op_type)(_total_order_key(ctx, x, dtype), _total_order_key(ctx, y, dtype))

    return rule


def _bind(name):
    """Binds the primitive ``jax.lax.<name>_p``, which has no public function."""
    return lambda *args: getattr(jax.lax, f"{name}_p").bind(*args)


def _signed_zeros(rng, shapes):
    return [rng.choice([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-40], s) for s in shapes]


# Comparisons in the total order of sort comparators; NaNs are read as positive (ONNX cannot see their sign).
TOTAL_ORDER = {"eq_to": "Equal", "lt_to": "Less", "le_to": "LessOrEqual"}
for _prim, _onnx in TOTAL_ORDER.items():
    lowering(_prim, component=f"jax.lax.{_prim}", onnx=[_onnx, "Log", "Pow", "Where"], since="0.1.0",
             testcases=[Testcase(_prim, fn=_bind(_prim), inputs=[("B", 8), ("B", 8)], input_values=_signed_zeros),
                        _typed(_prim, _bind(_prim), "int32", 2, values=_ties, expect_ops=[_onnx])],
             )(_total_order(_onnx))


# Below the split, the power series of I_nu; above it, the asymptotic series in 1/x; term counts
# reach the dtype's precision: (split, power terms, asymptotic terms)
BESSEL_TERMS = {"float32": (8.0, 24, 12), "float64": (18.5, 45, 25)}


def _bessel_ie(nu):
    """exp(-|x|) I_nu(x), for nu = 0 or 1."""

    def formula(ctx, x, dt):
        split, power_terms, asymptotic_terms = BESSEL_TERMS[dt]
        a = ctx.op.Abs(x)
        # In v = (x / split)^2 <= 1 the coefficients stay nonzero as float32 (see _erf_parts64).
        scale = split * split / 4
        power = [scale**k / (math.factorial(k) * math.factorial(k + nu)) for k in range(power_terms)]
        near = _horner(ctx, power[::-1], ctx.op.Mul(ctx.op.Mul(x, x), _c(ctx, 1 / split**2, dt)), dt)
        if nu:
            near = ctx.op.Mul(near, ctx.op.Mul(x, _c(ctx, 0.5, dt)))
        near = ctx.op.Mul(near, ctx.op.Exp(ctx.op.Neg(a)))
        asymptotic = [1.0]
        for k in range(asymptotic_terms - 1):
            asymptotic.append(asymptotic[-1] * ((2 * k + 1) ** 2 - 4 * nu * nu) / ((k + 1) * 8))
        far = ctx.op.Div(_horner(ctx, asymptotic[::-1], ctx.op.Reciprocal(a), dt),
                         ctx.op.Sqrt(ctx.op.Mul(a, _c(ctx, 2 * np.pi, dt))))
        if nu:  # I_1 is odd
            far = ctx.op.Mul(far, ctx.op.Sign(x))
        return ctx.op.Where(ctx.op.Less(a, _c(ctx, split, dt)), near, far)

    return formula


for _prim, _nu in (("bessel_i0e", 0), ("bessel_i1e", 1)):
    lowering(_prim, component=f"jax.lax.{_prim}", onnx=["Exp", "Sqrt", "Where"], since="0.1.0",
             doc=LAX_DOC.format(_prim),
             testcases=[Testcase(_prim, fn=_lax(_prim), inputs=[("B", 8)], input_values=_uniform(-40, 40)),
                        Testcase(f"{_prim}_small", fn=_lax(_prim), inputs=[("B", 8)], input_values=_uniform(-3, 3)),
                        _typed(_prim, _lax(_prim), "float16", values=_uniform(-20, 20))])(_formula(_bessel_ie(_nu)))
