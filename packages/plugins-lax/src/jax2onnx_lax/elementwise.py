"""Elementwise primitives, as tables: one ONNX op per JAX primitive wherever ONNX has it."""

from __future__ import annotations

import numpy as np

from jax2onnx.plugin import Testcase, lowering

LAX_DOC = "https://docs.jax.dev/en/latest/_autosummary/jax.lax.{}.html"

UNARY = {
    "neg": "Neg", "exp": "Exp", "log": "Log", "tanh": "Tanh", "logistic": "Sigmoid",
    "sqrt": "Sqrt", "abs": "Abs", "erf": "Erf",
}
BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "max": "Max", "min": "Min", "pow": "Pow"}


def _unary(op_type: str):
    def rule(ctx, x, **params):
        return ctx.builder.op(op_type, [x])

    return rule


def _binary(op_type: str):
    def rule(ctx, x, y, **params):
        return ctx.builder.op(op_type, [x, y])

    return rule


for _name, _op in UNARY.items():
    lowering(_name, component=f"jax.lax.{_name}", onnx=[_op], since="0.1.0", doc=LAX_DOC.format(_name),
             testcases=[Testcase(f"{_name}_f32", fn=getattr(__import__("jax").lax, _name), inputs=[("B", 3)],
                                 input_values=(lambda rng, shapes: [np.abs(rng.standard_normal(shapes[0])) + 0.1]),
                                 expect_ops=[_op])])(_unary(_op))

for _name, _op in BINARY.items():
    lowering(_name, component=f"jax.lax.{_name}", onnx=[_op], since="0.1.0", doc=LAX_DOC.format(_name),
             testcases=[Testcase(f"{_name}_f32", fn=getattr(__import__("jax").lax, _name), inputs=[("B", 3), ("B", 3)],
                                 input_values=(lambda rng, shapes: [np.abs(rng.standard_normal(s)) + 0.5 for s in shapes]),
                                 expect_ops=[_op])])(_binary(_op))


@lowering("rsqrt", component="jax.lax.rsqrt", onnx=["Sqrt", "Reciprocal"], since="0.1.0", doc=LAX_DOC.format("rsqrt"))
def lower_rsqrt(ctx, x, **params):
    return ctx.op.Reciprocal(ctx.op.Sqrt(x))


@lowering("integer_pow", component="jax.lax.integer_pow", onnx=["Mul", "Pow"], since="0.1.0",
          doc=LAX_DOC.format("integer_pow"))
def lower_integer_pow(ctx, x, *, y):
    if y == 2:
        return ctx.op.Mul(x, x)
    return ctx.op.Pow(x, ctx.const(np.array(y, dtype=ctx.in_avals[0].dtype)))


@lowering("stop_gradient", "copy", component="jax.lax.{}", onnx=[], since="0.1.0")
def lower_identity(ctx, x, **params):
    return x


@lowering("convert_element_type", component="jax.lax.convert_element_type", onnx=["Cast"], since="0.1.0",
          doc=LAX_DOC.format("convert_element_type"))
def lower_convert(ctx, x, *, new_dtype, **params):
    return ctx.cast(x, new_dtype)
