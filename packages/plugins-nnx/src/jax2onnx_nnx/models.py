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


def _sequential(activation) -> nnx.Sequential:
    rngs = nnx.Rngs(0)
    return nnx.Sequential(nnx.Linear(4, 8, rngs=rngs), activation, nnx.Linear(8, 3, rngs=rngs))


# A function stored in a model before the export is the original, not the named call: nnx.relu
# held by Sequential lowers through its body (Max), a call of nnx.relu at run time to Relu.
coverage("flax.nnx.Sequential", via=["call:flax.nnx.Linear.__call__", "call:flax.nnx.relu"],
         onnx=["Gemm", "Relu"], since="0.1.0",
         doc="https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/helpers.html#flax.nnx.Sequential",
         testcases=[Testcase("sequential", factory=lambda: _sequential(lambda x: nnx.relu(x)), inputs=[("B", 4)],
                             expect_ops=["Gemm", "Relu", "Gemm"]),
                    Testcase("sequential_stored_function", factory=lambda: _sequential(nnx.relu), inputs=[("B", 4)],
                             expect_ops=["Gemm", "Max", "Gemm"])],
         module=__name__)

_LORA_DOC = "https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/lora.html#flax.nnx.{}"
coverage("flax.nnx.LoRA", via=["dot_general"], onnx=["MatMul"], since="0.1.0", doc=_LORA_DOC.format("LoRA"),
         testcases=[Testcase("lora", factory=lambda: nnx.LoRA(4, 2, 3, rngs=nnx.Rngs(0)), inputs=[("B", 4)],
                             expect_ops=["MatMul", "MatMul"]),
                    Testcase("lora_base_module",
                             factory=lambda: nnx.LoRA(4, 2, 3, base_module=nnx.Linear(4, 3, rngs=nnx.Rngs(1)),
                                                      rngs=nnx.Rngs(0)),
                             inputs=[("B", 4)], expect_ops=["MatMul", "MatMul", "Gemm", "Add"])],
         module=__name__)
coverage("flax.nnx.LoRALinear", via=["call:flax.nnx.Linear.__call__", "dot_general"], onnx=["Gemm", "MatMul", "Add"],
         since="0.1.0", doc=_LORA_DOC.format("LoRALinear"),
         testcases=[Testcase("lora_linear", factory=lambda: nnx.LoRALinear(4, 3, lora_rank=2, rngs=nnx.Rngs(0)),
                             inputs=[("B", 4)], expect_ops=["Gemm", "MatMul", "MatMul", "Add"])],
         module=__name__)


class CNN(nnx.Module):
    """Channels-last convolutions: the graph stays channels-first between its two Transposes."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(3, 8, (3, 3), rngs=rngs)
        self.bn = nnx.BatchNorm(8, use_running_average=True, rngs=rngs)
        self.conv2 = nnx.Conv(8, 4, (3, 3), strides=2, rngs=rngs)
        self.norm = nnx.GroupNorm(4, num_groups=2, rngs=rngs)

    def __call__(self, x):
        x = nnx.relu(self.bn(self.conv1(x)))
        x = nnx.avg_pool(self.conv2(x), (2, 2), strides=(2, 2))
        return nnx.gelu(self.norm(x))


# ONNX Runtime has no float64 Conv kernel; GroupNormalization needs opset 21.
coverage("CNN (Conv, BatchNorm, avg_pool, GroupNorm)",
         via=["call:flax.nnx.Conv.__call__", "call:flax.nnx.BatchNorm.__call__", "call:flax.nnx.avg_pool",
              "call:flax.nnx.GroupNorm.__call__"],
         onnx=["Transpose", "Conv", "BatchNormalization", "AveragePool", "GroupNormalization"], since="0.1.0",
         testcases=[Testcase("cnn_channels_first_inside", factory=lambda: CNN(rngs=nnx.Rngs(0)),
                             inputs=[("B", 12, 12, 3)], opsets=[23], x64=False,
                             expect_ops=["Transpose", "Conv", "BatchNormalization", "Relu", "Conv", "AveragePool",
                                         "GroupNormalization", "Transpose", "Gelu"])],
         module=__name__)
