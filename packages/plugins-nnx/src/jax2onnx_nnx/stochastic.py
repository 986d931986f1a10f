"""nnx.Dropout: nothing in the graph when deterministic; a Dropout node when the flag is a graph input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import onnx_ir as ir
from flax import nnx

from jax2onnx.plugin import LoweringContext, Testcase, call_lowering, coverage

_DOC = "https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/stochastic.html"


def _deterministic_call(dropout: nnx.Dropout):
    return lambda x: dropout(x, deterministic=True)


def _flag_call(dropout: nnx.Dropout):
    return lambda x, deterministic: dropout(x, deterministic=deterministic)


def _flag(self: nnx.Dropout, deterministic):
    return deterministic if deterministic is not None else self.deterministic


def _may_drop(self: nnx.Dropout, inputs, *, deterministic=None, rngs=None) -> bool:
    # Wrapping also lets a training-mode call advance the RNG counter of the copy the named call
    # rebuilds inside the trace, where NNX allows it (the model's own stays untouched).
    flag = _flag(self, deterministic)
    return self.rate > 0 and (isinstance(flag, jax.core.Tracer) or flag is False)


def _select_on_flag(original, self: nnx.Dropout, inputs, *, deterministic=None, rngs=None):
    """With a traced flag, both outcomes selected by it (the original branches on the flag in Python)."""
    flag = _flag(self, deterministic)
    dropped = original(self, inputs, deterministic=False, rngs=rngs)
    return jnp.where(flag, inputs, dropped) if isinstance(flag, jax.core.Tracer) else dropped


# The graph output is the graph input, so one Identity is all that remains.
coverage("flax.nnx.Dropout (deterministic)", via=[], since="0.1.0", doc=_DOC,
         testcases=[Testcase("dropout_deterministic",
                             factory=lambda: nnx.Dropout(0.5, deterministic=True, rngs=nnx.Rngs(0)),
                             inputs=[("B", 4)], expect_ops=["Identity"], forbid_ops=()),
                    Testcase("dropout_call_flag",
                             factory=lambda: _deterministic_call(nnx.Dropout(0.5, rngs=nnx.Rngs(0))),
                             inputs=[("B", 4)], expect_ops=["Identity"], forbid_ops=())],
         module=__name__)


@call_lowering("flax.nnx.Dropout.__call__", component="flax.nnx.Dropout", onnx=["Not", "Dropout"], since="0.1.0",
               doc=_DOC, when=_may_drop, body=_select_on_flag,
               testcases=[Testcase("dropout_flag_input", factory=lambda: _flag_call(nnx.Dropout(0.3, rngs=nnx.Rngs(0))),
                                   inputs=[("B", 4)], input_params={"deterministic": True},
                                   expect_ops=["Not", "Dropout"]),
                          Testcase("dropout_flag_input_broadcast_dims",
                                   factory=lambda: _flag_call(nnx.Dropout(0.3, broadcast_dims=(1,), rngs=nnx.Rngs(0))),
                                   inputs=[("B", 4)], input_params={"deterministic": True},
                                   forbid_ops=("Identity", "Dropout"))])
def lower_dropout(ctx: LoweringContext, self, inputs, deterministic=None, rngs=None):
    flag = _flag(self, deterministic)
    # ONNX Dropout draws one mask element per input element: no shared (broadcast) mask axes.
    if not isinstance(flag, ir.Value) or self.broadcast_dims:
        return NotImplemented
    # ONNX Dropout is the identity unless training_mode is true: exactly `deterministic` negated.
    ratio = ctx.const(np.array(self.rate, ctx.out_avals[0].dtype))
    return ctx.op.Dropout(inputs, ratio, ctx.op.Not(flag))
