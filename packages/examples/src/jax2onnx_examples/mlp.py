"""The quickstart MLP: Linear, BatchNorm and Dropout in eval mode, gelu."""

from flax import nnx

from jax2onnx.plugin import Testcase

from ._zoo import example


class MLP(nnx.Module):
    def __init__(self, din: int, dmid: int, dout: int, *, rngs: nnx.Rngs):
        self.linear1 = nnx.Linear(din, dmid, rngs=rngs)
        self.dropout = nnx.Dropout(rate=0.1, rngs=rngs)
        self.bn = nnx.BatchNorm(dmid, rngs=rngs)
        self.linear2 = nnx.Linear(dmid, dout, rngs=rngs)

    def __call__(self, x):
        x = nnx.gelu(self.dropout(self.bn(self.linear1(x))))
        return self.linear2(x)


def make_mlp(din: int = 30, dmid: int = 20, dout: int = 10) -> MLP:
    model = MLP(din, dmid, dout, rngs=nnx.Rngs(0))
    model.eval()
    return model


example(
    "mlp",
    description="The quickstart MLP: Linear, BatchNorm and Dropout (eval mode), gelu.",
    components=["flax.nnx.Linear", "flax.nnx.BatchNorm", "flax.nnx.Dropout", "flax.nnx.gelu"],
    onnx=["Gemm", "BatchNormalization", "Gelu"],
    since="0.1.0",
    build=lambda cfg: make_mlp(*cfg),
    inputs=lambda cfg: [("B", cfg[0])],
    configs={"small": (30, 20, 10), "full": (784, 1024, 10)},
    expect_ops=["Gemm", "BatchNormalization", "Gelu", "Gemm"],
    testcases=[Testcase("example_mlp_opset18", factory=make_mlp, inputs=[("B", 30)], x64=False, opsets=(18,)),
               # Deployment targets (TensorRT, OpenVINO, older runtimes): Gelu decomposes below opset 20.
               Testcase("example_mlp_old_opsets", factory=make_mlp, inputs=[("B", 30)], x64=False, opsets=(17, 16, 13),
                        forbid_ops=("Identity", "Gelu"))],
    module=__name__,
)
