"""Helpers shared by the Equinox rules: node naming after the module path, dtype casts, batch handling."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import onnx_ir as ir

from jax2onnx.plugin import LoweringContext, Testcase

KEY = jax.random.PRNGKey(0)


def with_batch(ctx: LoweringContext, x: ir.Value, apply: Any) -> ir.Value:
    """Applies ``apply`` (which wants a leading batch axis, as ONNX's N) to ``x``, adding one per example."""
    if ctx.vmapped:
        return apply(x)
    axis = ctx.const(np.array([0], np.int64))
    return ctx.op.Squeeze(apply(ctx.op.Unsqueeze(x, axis)), axis)


def both_ways(name: str, factory: Any, example: tuple, dtypes: Any = None, **options: Any) -> list[Testcase]:
    """A direct per-example call (no batch) and ``jax.vmap(model)`` over a symbolic batch ``B``."""
    plain = {k[len("plain_"):]: v for k, v in options.items() if k.startswith("plain_")}
    vmapped = {k[len("vmap_"):]: v for k, v in options.items() if k.startswith("vmap_")}
    shared = {k: v for k, v in options.items() if not k.startswith(("plain_", "vmap_"))}
    return [
        Testcase(name, factory=factory, inputs=[example], input_dtypes=dtypes, **shared, **plain),
        Testcase(f"{name}_vmapped", factory=lambda: jax.vmap(factory()), inputs=[("B", *example)],
                 input_dtypes=dtypes, **shared, **vmapped),
    ]
