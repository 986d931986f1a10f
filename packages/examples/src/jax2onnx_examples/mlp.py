"""The quickstart MLP: Linear, BatchNorm and Dropout in eval mode, gelu."""

from flax import nnx

from jax2onnx.plugin import Testcase, coverage


class MLP(nnx.Module):
    def __init__(self, din: int, dmid: int, dout: int, *, rngs: nnx.Rngs):
        self.linear1 = nnx.Linear(din, dmid, rngs=rngs)
        self.dropout = nnx.Dropout(rate=0.1, rngs=rngs)
        self.bn = nnx.BatchNorm(dmid, rngs=rngs)
        self.linear2 = nnx.Linear(dmid, dout, rngs=rngs)

    def __call__(self, x):
        x = nnx.gelu(self.dropout(self.bn(self.linear1(x))))
        return self.linear2(x)


def make_mlp() -> MLP:
    model = MLP(30, 20, 10, rngs=nnx.Rngs(0))
    model.eval()
    return model


coverage(
    "examples.mlp",
    via=["flax.nnx.Linear", "flax.nnx.BatchNorm", "flax.nnx.Dropout", "flax.nnx.gelu"],
    onnx=["Gemm", "BatchNormalization", "Gelu"],
    since="0.1.0",
    testcases=[Testcase("example_mlp", factory=make_mlp, inputs=[("B", 30)], x64=False,
                        opsets=(23,), expect_ops=["Gemm", "BatchNormalization", "Gelu", "Gemm"]),
               Testcase("example_mlp_opset18", factory=make_mlp, inputs=[("B", 30)], x64=False, opsets=(18,)),
               # Deployment targets (TensorRT, OpenVINO, older runtimes): Gelu decomposes below opset 20.
               Testcase("example_mlp_old_opsets", factory=make_mlp, inputs=[("B", 30)], x64=False, opsets=(17, 16, 13),
                        forbid_ops=("Identity", "Gelu"))],
    module=__name__,
)
