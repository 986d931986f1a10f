"""Small NNX models whose exported graph is the point: each module becomes its one native op."""

from __future__ import annotations

from flax import nnx

from jax2onnx.plugin import Testcase, coverage


class MLP(nnx.Module):
    """The quickstart model."""

    def __init__(self, din: int, dmid: int, dout: int, *, rngs: nnx.Rngs):
        self.linear1 = nnx.Linear(din, dmid, rngs=rngs)
        self.dropout = nnx.Dropout(0.1, rngs=rngs)
        self.bn = nnx.BatchNorm(dmid, rngs=rngs)
        self.linear2 = nnx.Linear(dmid, dout, rngs=rngs)

    def __call__(self, x):
        x = nnx.gelu(self.dropout(self.bn(self.linear1(x))))
        return self.linear2(x)


def mlp() -> MLP:
    model = MLP(30, 20, 10, rngs=nnx.Rngs(0))
    model.eval()
    return model


coverage("MLP (Linear, BatchNorm, Dropout, gelu)", via=["call:flax.nnx.Linear.__call__",
                                                         "call:flax.nnx.BatchNorm.__call__", "call:flax.nnx.gelu"],
         onnx=["Gemm", "BatchNormalization", "Gelu"], since="0.1.0",
         # ONNX Runtime's double Gelu(tanh) is accurate to ~1e-8 only: float32 mode only.
         testcases=[Testcase("mlp_eval", factory=mlp, inputs=[("B", 30)], opsets=[23], x64=False,
                             expect_ops=["Gemm", "BatchNormalization", "Gelu", "Gemm"])],
         module=__name__)
