"""Helpers the rule modules of this package share: documentation links, dtype handling, kernel
fallbacks, test-input makers and testcase builders.

ONNX Runtime lacks CPU kernels for some op/dtype pairs (core's ``kernels`` table): ``_op`` computes
such inputs in a wider dtype when the round trip is exact and rejects them otherwise. ``_formula``
computes float16/bfloat16 in float32 and rounds once at the end.
"""

from __future__ import annotations

import jax
import numpy as np

from jax2onnx.plugin import FLOAT, Testcase, kernels

# Documentation pages of the components the rules lower, by their JAX namespace.
LAX_DOC = "https://docs.jax.dev/en/latest/_autosummary/jax.lax.{}.html"
JNP_DOC = "https://docs.jax.dev/en/latest/_autosummary/jax.numpy.{}.html"
JNP_LINALG_DOC = "https://docs.jax.dev/en/latest/_autosummary/jax.numpy.linalg.{}.html"
NN_DOC = "https://docs.jax.dev/en/latest/_autosummary/jax.nn.{}.html"
RANDOM_DOC = "https://docs.jax.dev/en/latest/_autosummary/jax.random.{}.html"

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


def _horner(ctx, coefficients, t, dt):
    p = _c(ctx, coefficients[0], dt)
    for c in coefficients[1:]:
        p = ctx.op.Add(ctx.op.Mul(p, t), _c(ctx, c, dt))
    return p


def _positive(rng, shapes):
    return [np.abs(rng.standard_normal(s)) + 0.1 for s in shapes]


def _ties(rng, shapes):
    return [rng.integers(-3, 3, s) for s in shapes]  # equal pairs are frequent
