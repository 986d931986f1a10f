"""nnx.Dropout: nothing in the graph when deterministic."""

from __future__ import annotations

from flax import nnx

from jax2onnx.plugin import Testcase, coverage


def _deterministic_call(dropout: nnx.Dropout):
    return lambda x: dropout(x, deterministic=True)


# The graph output is the graph input, so one Identity is all that remains.
coverage("flax.nnx.Dropout", via=[], since="0.1.0",
         doc="https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/stochastic.html",
         testcases=[Testcase("dropout_deterministic",
                             factory=lambda: nnx.Dropout(0.5, deterministic=True, rngs=nnx.Rngs(0)),
                             inputs=[("B", 4)], expect_ops=["Identity"], forbid_ops=()),
                    Testcase("dropout_call_flag",
                             factory=lambda: _deterministic_call(nnx.Dropout(0.5, rngs=nnx.Rngs(0))),
                             inputs=[("B", 4)], expect_ops=["Identity"], forbid_ops=())],
         module=__name__)
