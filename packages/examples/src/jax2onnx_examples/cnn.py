"""A small image classifier: NHWC convolutions, pooling, a dense head."""

from flax import nnx

from jax2onnx.plugin import Testcase, coverage


class CNN(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 8, kernel_size=(3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(8, 16, kernel_size=(3, 3), rngs=rngs)
        self.linear = nnx.Linear(16 * 7 * 7, 10, rngs=rngs)

    def __call__(self, x):
        x = nnx.avg_pool(nnx.relu(self.conv1(x)), window_shape=(2, 2), strides=(2, 2))
        x = nnx.max_pool(nnx.relu(self.conv2(x)), window_shape=(2, 2), strides=(2, 2))
        return self.linear(x.reshape(x.shape[0], -1))


coverage(
    "examples.cnn",
    via=["flax.nnx.Conv", "flax.nnx.avg_pool", "flax.nnx.max_pool", "flax.nnx.relu", "flax.nnx.Linear"],
    onnx=["Conv", "AveragePool", "MaxPool", "Relu", "Gemm"],
    since="0.1.0",
    # Convolution sums accumulate in a different order in ONNX Runtime than in XLA.
    testcases=[Testcase("example_cnn", factory=lambda: CNN(rngs=nnx.Rngs(0)), inputs=[("B", 28, 28, 1)],
                        x64=False, rtol=1e-4, atol=1e-5)],
    module=__name__,
)
