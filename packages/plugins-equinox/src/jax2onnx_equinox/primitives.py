"""Equinox's own primitives, as user programs meet them (error checks, ``eqx.internal`` while loops).

Each has an implementation in JAX terms (``jnp.any`` for ``unvmap_any``; the identity for the
markers that only guard transformations), which is what it computes once no ``vmap`` is left
to see through: that is what the graph gets.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np

from jax2onnx.plugin import LoweringContext, Testcase, call_lowering, lowering

_DOC = "https://docs.kidger.site/equinox/api/errors/"


def _loop_doubling(kind: str, vmapped: bool = False):
    """eqxi.while_loop doubling x until its sum passes 100 (at most 16 steps)."""

    def fn(x):
        def cond(carry):
            return jnp.sum(jnp.abs(carry[1])) < 100.0

        def body(carry):
            return carry[0] + 1, carry[1] * 2.0

        steps, out = eqxi.while_loop(cond, body, (0, x), kind=kind, max_steps=16 if kind != "lax" else None)
        return out, steps

    return jax.vmap(fn) if vmapped else fn


def _checked(x):
    return eqx.error_if(x, x > 1e6, "x too large") * 2.0


def _nan_checked(x):
    return eqx.error_if(x, jnp.abs(x) > 1.0, "x out of range", on_error="nan") + 1.0


def _mixed_range(rng, shapes):
    """Rows within range, and from the second row on one element out of range (so the check fires)."""
    x = rng.uniform(-0.9, 0.9, shapes[0])
    x[1:, 0] = 3.0
    return [x]


def _bind_error(original, x, pred, index, *, msgs, on_error, stack):
    return original(x, pred, index, msgs=msgs, on_error=on_error, stack=stack)


@call_lowering("equinox._errors._error", component="equinox.error_if", onnx=["Where"], since="0.1.0",
               doc=_DOC, body=_bind_error, batched=("x",),
               testcases=[
                   Testcase("error_if", fn=_checked, inputs=[("B", 3)], check_model=lambda m: _no_loops(m)),
                   Testcase("error_if_vmapped", fn=jax.vmap(_checked), inputs=[("B", 3)]),
                   # Equinox builds its NaNs with NumPy on the static shape: no symbolic dims here.
                   Testcase("error_if_nan", fn=_nan_checked, inputs=[(4, 3)], input_values=_mixed_range),
                   Testcase("error_if_nan_vmapped", fn=jax.vmap(_nan_checked), inputs=[(4, 3)],
                            input_values=_mixed_range),
               ])
def lower_error(ctx: LoweringContext, x, pred, index, msgs, on_error, stack):
    """ONNX cannot raise: a failed check fills float outputs with NaN (Equinox's ``on_error="nan"``)."""
    leaves = jax.tree_util.tree_leaves(x)
    if on_error == "off":
        return leaves
    outs = []
    for leaf, aval in zip(leaves, ctx.out_avals):
        if np.issubdtype(aval.dtype, np.floating):
            leaf = ctx.op.Where(pred, ctx.const(np.array(np.nan, aval.dtype)), leaf)
        outs.append(leaf)
    return outs


def _no_loops(model):
    ops = {n.op_type for n in model.graph.node}
    if ops & {"If", "Loop"}:
        raise AssertionError(f"error_if left control flow in the graph: {sorted(ops)}")


def _inline_impl(ctx: LoweringContext, *inputs, **params):
    """Lowers the equation as its primitive's own implementation, traced on the equation's inputs."""
    impl = functools.partial(ctx.primitive.impl, **params)
    with jax.enable_x64(ctx.double_precision):
        closed = jax.make_jaxpr(impl)(*[jax.ShapeDtypeStruct(a.shape, a.dtype) for a in ctx.in_avals])
    return ctx.lower_jaxpr(closed, *inputs)


@lowering("unvmap_any", "unvmap_all", "unvmap_max", component="equinox.internal.{}", onnx=["ReduceMax", "ReduceMin"],
          since="0.1.0", doc=_DOC,
          testcases=[
              Testcase("unvmap_any", fn=lambda x: eqxi.unvmap_any(x > 0), inputs=[("B", 3)]),
              Testcase("unvmap_any_vmapped", fn=jax.vmap(lambda x: eqxi.unvmap_any(x > 0), out_axes=None),
                       inputs=[("B", 3)]),
              Testcase("unvmap_all", fn=lambda x: eqxi.unvmap_all(x > 0), inputs=[("B", 3)]),
              Testcase("unvmap_all_vmapped", fn=jax.vmap(lambda x: eqxi.unvmap_all(x > 0), out_axes=None),
                       inputs=[("B", 3)]),
              Testcase("unvmap_max", fn=lambda x: eqxi.unvmap_max(x), inputs=[("B", 3)], input_dtypes=["int32"]),
              Testcase("unvmap_max_vmapped", fn=jax.vmap(lambda x: eqxi.unvmap_max(x), out_axes=None),
                       inputs=[("B", 3)], input_dtypes=["int32"]),
          ])
def lower_unvmap(ctx: LoweringContext, x):
    # Without a vmap around it (the exported graph has none left), each is the plain reduction.
    return _inline_impl(ctx, x)


def _identity(ctx: LoweringContext, x, **params):
    return x


_TRANSPARENT: dict[str, Callable[..., Any]] = {
    "nondifferentiable_backward": eqxi.nondifferentiable_backward,
    "nonbatchable": eqxi.nonbatchable,
}
for _name, _fn in _TRANSPARENT.items():
    lowering(_name, component=f"equinox.internal.{_name}", onnx=[], since="0.1.0", doc=_DOC,
             testcases=[Testcase(f"{_name}", fn=lambda x, f=_fn: f(x) * 2.0, inputs=[("B", 3)])])(_identity)


@lowering("select_if_vmap", component="equinox.internal.while_loop (select_if_vmap)", onnx=[], since="0.1.0",
          doc="https://docs.kidger.site/equinox/api/debug/",
          testcases=[
              Testcase("select_if_vmap_checkpointed_loop", fn=_loop_doubling("checkpointed"), inputs=[("B", 3)]),
              Testcase("select_if_vmap_bounded_loop", fn=_loop_doubling("bounded"), inputs=[("B", 3)]),
              Testcase("select_if_vmap_lax_loop", fn=_loop_doubling("lax"), inputs=[("B", 3)]),
              Testcase("select_if_vmap_vmapped_loop", fn=_loop_doubling("checkpointed", vmapped=True),
                       inputs=[("B", 3)]),
          ])
def lower_select_if_vmap(ctx: LoweringContext, pred, x, y):
    # Unbatched, the predicate is true by construction (a vmap would have turned this into a select).
    return x


@lowering("maybe_set", "vprim", component="equinox.internal.{}", onnx=["ScatterND"], since="0.1.0", doc=_DOC,
          testcases=[])
def lower_by_impl(ctx: LoweringContext, *inputs, **params):
    return _inline_impl(ctx, *inputs, **params)
