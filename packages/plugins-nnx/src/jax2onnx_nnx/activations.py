"""flax.nnx re-exports of jax.nn functions: the same named-call rules under their nnx names."""

from __future__ import annotations

from flax import nnx

from jax2onnx.plugin import Testcase, call_lowering
from jax2onnx.registry import get_registry

_DOC = "https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/activations.html#flax.nnx.{}"


def _alias(name: str):
    """Lowers ``flax.nnx.<name>`` with whatever rule lowers ``jax.nn.<name>`` (inlined if none does)."""

    def lower(ctx, **arguments):
        entry = get_registry().lookup(f"call:jax.nn.{name}")
        return NotImplemented if entry is None else entry.rule(ctx, **arguments)

    lower.__name__ = f"lower_nnx_{name}"
    return lower


# ONNX Runtime's double Gelu is accurate to ~1e-8 only (tanh) or missing (Erf): float32 mode only.
call_lowering("flax.nnx.gelu", onnx=["Gelu"], since="0.1.0", doc=_DOC.format("gelu"),
              testcases=[Testcase("nnx_gelu", fn=lambda x: nnx.gelu(x), inputs=[("B", 8)], opsets=[23],
                                  expect_ops=["Gelu"], x64=False),
                         Testcase("nnx_gelu_exact", fn=lambda x: nnx.gelu(x, approximate=False),
                                  inputs=[("B", 8)], x64=False)])(_alias("gelu"))
