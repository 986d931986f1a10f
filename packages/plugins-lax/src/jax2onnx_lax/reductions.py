"""Reductions over axes."""

from __future__ import annotations

import numpy as np

from jax2onnx.plugin import lowering

REDUCE_OPS = {"reduce_sum": "ReduceSum", "reduce_max": "ReduceMax", "reduce_min": "ReduceMin"}


def _reduce(op_type: str):
    def rule(ctx, x, *, axes, **params):
        return ctx.builder.op(op_type, [x, ctx.const(np.array(axes, dtype=np.int64))], {"keepdims": 0})

    return rule


for _name, _op in REDUCE_OPS.items():
    lowering(_name, component=f"jax.lax.{_name}", onnx=[_op], since="0.1.0")(_reduce(_op))
