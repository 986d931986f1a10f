"""Transcendental primitives (exp, log, trigonometric, hyperbolic, error and Bessel functions): one ONNX
op each where ONNX Runtime has a kernel, and formulas accurate to the dtype where it has none
(float64 for most of them) or where the op rounds differently from XLA.
"""

from __future__ import annotations

import math

import jax
import numpy as np

from jax2onnx.plugin import Testcase, has_lax_primitive, lowering
from jax2onnx_lax._shared import (
    LAX_DOC,
    _c,
    _compute_dtype,
    _convert,
    _formula,
    _horner,
    _lax,
    _name,
    _op,
    _real,
    _tiny_and_large,
    _typed,
    _unary,
    _uniform,
)


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


# primitive: (ONNX op, float64 formula where ORT has no double kernel, test inputs)
UNARY = {
    "exp": ("Exp", None, _real), "log": ("Log", None, _uniform(0.01, 10)),
    "sqrt": ("Sqrt", None, _uniform(0, 10)), "logistic": ("Sigmoid", None, _real), "sin": ("Sin", None, _real),
    "cos": ("Cos", None, _real), "tanh": ("Tanh", None, _real), "tan": ("Tan", _tan64, _uniform(-1.5, 1.5)),
    "asin": ("Asin", _asin64, _uniform(-1, 1)), "acos": ("Acos", _acos64, _uniform(-1, 1)),
    "atan": ("Atan", _atan64, _tiny_and_large(-1e3, 1e3)),
    "sinh": ("Sinh", _sinh64, _uniform(-4, 4)), "cosh": ("Cosh", _cosh64, _uniform(-4, 4)),
    "asinh": ("Asinh", _asinh64, _uniform(-10, 10)), "acosh": ("Acosh", _acosh64, _uniform(1, 10)),
    "atanh": ("Atanh", _atanh64, _uniform(-0.99, 0.99)), "erf": ("Erf", _erf64, _uniform(-7, 7)),
}


UNARY_CASES = {
    "exp": [_typed("exp", _lax("exp"), "float16", expect_ops=["Exp"])],
    "tanh": [_typed("tanh", _lax("tanh"), "bfloat16", expect_ops=["Cast", "Cast", "Tanh", "Cast", "Cast"])],
    "sin": [_typed("sin", _lax("sin"), "bfloat16")],
    "erf": [_typed("erf", _lax("erf"), "float16", expect_ops=["Erf"])],
    "log": [_typed("log", _lax("log"), "bfloat16", values=_uniform(0.1, 9))],
    "asin": [_typed("asin", _lax("asin"), "float16", values=_uniform(-1, 1), expect_ops=["Asin"])],
}

for _prim, (_onnx, _double, _values) in UNARY.items():
    lowering(_prim, component=f"jax.lax.{_prim}", onnx=[_onnx], since="0.1.0", doc=LAX_DOC.format(_prim),
             testcases=[Testcase(f"{_prim}", fn=_lax(_prim), inputs=[("B", 4)], input_values=_values,
                                 forbid_ops=("Identity", "Cast")),
                        *UNARY_CASES.get(_prim, [])],
             )(_unary(_onnx, _double))


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
