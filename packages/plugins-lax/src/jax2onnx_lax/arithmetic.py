"""Arithmetic, comparison, logical and selection primitives, and dtype conversion: tables of one-op
rules and the decompositions that match JAX where the ONNX op differs (integer division traps,
unsigned negation, saturating float-to-integer casts).
"""

from __future__ import annotations

import jax
import numpy as np

from jax2onnx.plugin import SINT, UINT, Testcase, lowering
from jax2onnx_lax._shared import (
    LAX_DOC,
    _c,
    _compute_dtype,
    _formula,
    _is_float,
    _lax,
    _name,
    _op,
    _real,
    _ties,
    _typed,
    _unary,
    _uniform,
    _where,
)

# primitive: ONNX op, for every numeric dtype
SIGN_AND_ROUNDING = {"abs": "Abs", "sign": "Sign", "floor": "Floor", "ceil": "Ceil"}
SIGN_CASES = {
    "abs": [_typed("abs", _lax("abs"), "int8", expect_ops=["Abs"]), _typed("abs", _lax("abs"), "int64")],
    "sign": [_typed("sign", _lax("sign"), "int32", expect_ops=["Sign"]),
             _typed("sign", _lax("sign"), "uint8"),
             _typed("sign", _lax("sign"), "bfloat16", expect_ops=["Cast", "Sign", "Cast"])],
}
for _prim, _onnx in SIGN_AND_ROUNDING.items():
    lowering(_prim, component=f"jax.lax.{_prim}", onnx=[_onnx], since="0.1.0", doc=LAX_DOC.format(_prim),
             testcases=[Testcase(f"{_prim}", fn=_lax(_prim), inputs=[("B", 4)], input_values=_real,
                                 forbid_ops=("Identity", "Cast")),
                        *SIGN_CASES.get(_prim, [])],
             )(_unary(_onnx, None))


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
