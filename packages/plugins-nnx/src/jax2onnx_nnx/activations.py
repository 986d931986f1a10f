"""flax.nnx re-exports of jax.nn functions: the rules of the jax.nn named calls under their nnx names.

``nnx.relu is jax.nn.relu``, but wrapping ``jax.nn.relu`` during an export does not rebind the
``flax.nnx.relu`` attribute, so each re-export is a named call of its own that reuses the rule
(and the first testcase) of its jax.nn original.
"""

from __future__ import annotations

import dataclasses

from flax import nnx

from jax2onnx.plugin import CALL_PREFIX, LoweringContext, Testcase, call_lowering, coverage, registered_in
from jax2onnx_lax import nn as lax_nn

_DOC = "https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/activations.html#flax.nnx.{}"

# Named calls of jax.nn that flax.nnx re-exports (must match the index in __init__.py).
ALIASES = (
    "celu", "elu", "gelu", "glu", "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "leaky_relu",
    "log_sigmoid", "log_softmax", "logsumexp", "one_hot", "relu", "relu6", "selu", "soft_sign", "softmax",
    "softplus", "standardize",
)
# Re-exports that are plain primitives in JAX: no named call, the lax rules apply directly.
PRIMITIVES = {"sigmoid": ["Sigmoid"], "silu": ["Sigmoid", "Mul"], "swish": ["Sigmoid", "Mul"], "tanh": ["Tanh"]}
_EXTRA_ARGS = {"one_hot": (5,)}


def _alias(name: str):
    """Lowers ``flax.nnx.<name>`` with whatever rule lowers ``jax.nn.<name>`` (inlined if none does)."""

    def lower(ctx: LoweringContext, **arguments):
        return ctx.lower_call(f"jax.nn.{name}", **arguments)

    lower.__name__ = f"lower_nnx_{name}"
    return lower


def _nnx_call(name: str):
    extra = _EXTRA_ARGS.get(name, ())
    return lambda x: getattr(nnx, name)(x, *extra)


_originals = {row.target: row for row in registered_in(lax_nn.__name__)}
for _name in ALIASES:
    _row = _originals.get(f"{CALL_PREFIX}jax.nn.{_name}")
    _cases = [dataclasses.replace(_row.testcases[0], name=f"nnx_{_name}", fn=_nnx_call(_name), factory=None)] \
        if _row is not None and _row.testcases else []
    call_lowering(f"flax.nnx.{_name}", onnx=_row.onnx if _row else (), since="0.1.0", doc=_DOC.format(_name),
                  testcases=_cases)(_alias(_name))

for _name, _ops in PRIMITIVES.items():
    coverage(f"flax.nnx.{_name}", via=["logistic", "mul", "tanh"], onnx=_ops, since="0.1.0", doc=_DOC.format(_name),
             testcases=[Testcase(f"nnx_{_name}", fn=_nnx_call(_name), inputs=[("B", 6)], expect_ops=_ops)],
             module=__name__)
