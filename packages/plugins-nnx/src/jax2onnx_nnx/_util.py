"""Helpers shared by the NNX rules: a rebuilt module's variables as graph values, layout moves."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx_ir as ir


def value_of(variable: Any) -> Any:
    """The graph value held by an optional nnx Variable (None stays None)."""
    return None if variable is None else variable.get_value()


def cast_all(ctx: Any, dtype: Any, *values: ir.Value | None) -> list[ir.Value | None]:
    """Casts every present value to ``dtype``, as the modules' ``promote_dtype`` does."""
    target = ir.DataType.from_numpy(np.dtype(dtype))
    return [v if v is None or v.dtype == target else
            fold_param(ctx, v, lambda a: a.astype(dtype), lambda t: ctx.op.Cast(t, to=target)) for v in values]


def fold_param(ctx: Any, value: ir.Value, on_array: Callable[[np.ndarray], np.ndarray],
               on_graph: Callable[[ir.Value], ir.Value]) -> ir.Value:
    """Transforms a weight at export time if it is an initializer (keeping its name), else in the graph."""
    array = ctx.const_value(value) if value.producer() is None else None
    if array is None:
        return on_graph(value)
    name = value.name
    value.name = ctx.converter.namer.fresh(f"{name}_original")
    converted = ctx.builder.param(on_array(array), name)
    converted.name = name
    return converted


def transpose(ctx: Any, x: ir.Value, perm: Sequence[int]) -> ir.Value:
    """Transpose, merged with a Transpose that produced ``x`` (none at all when the two cancel).

    This is what keeps NHWC layers NCHW inside: Conv -> Transpose -> Transpose -> Conv loses both.
    """
    perm = [int(p) for p in perm]
    node = x.producer()
    if node is not None and node.op_type == "Transpose":
        inner = list(node.attributes["perm"].as_ints())
        perm, x = [inner[p] for p in perm], node.inputs[0]
    if perm == sorted(perm):
        return x
    return ctx.op.Transpose(x, perm=perm)


def channels_first(ctx: Any, x: ir.Value, axis: int, rank: int, apply: Callable[[ir.Value], ir.Value]) -> ir.Value:
    """Applies ``apply`` (which wants channels on axis 1) to ``x`` whose channels are on ``axis``."""
    if axis == 1:
        return apply(x)
    perm = [0, axis] + [i for i in range(1, rank) if i != axis]
    return transpose(ctx, apply(transpose(ctx, x, perm)), np.argsort(perm))
