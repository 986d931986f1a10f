"""Helpers shared by the NNX rules: reading a rebuilt module's variables as graph values."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx_ir as ir


def value_of(variable: Any) -> Any:
    """The graph value held by an optional nnx Variable (None stays None)."""
    return None if variable is None else variable.get_value()


def cast_all(ctx: Any, dtype: Any, *values: ir.Value | None) -> list[ir.Value | None]:
    """Casts every present value to ``dtype``, as the modules' ``promote_dtype`` does."""
    return [None if v is None else _cast(ctx, v, dtype) for v in values]


def _cast(ctx: Any, value: ir.Value, dtype: Any) -> ir.Value:
    if value.dtype == ir.DataType.from_numpy(np.dtype(dtype)):
        return value
    array = ctx.const_value(value) if value.producer() is None else None
    if array is None:
        return ctx.cast(value, dtype)
    # A weight converted at export time stays one initializer under its parameter's name, not Cast(weight).
    name = value.name
    value.name = ctx.converter.namer.fresh(f"{name}_{array.dtype.name}")
    converted = ctx.builder.param(array.astype(dtype), name)
    converted.name = name
    return converted
