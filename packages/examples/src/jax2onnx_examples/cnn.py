"""A small image classifier: NHWC convolutions, pooling, a dense head."""

from flax import nnx

from ._zoo import example


class CNN(nnx.Module):
    def __init__(self, width: int = 8, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, width, kernel_size=(3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(width, 2 * width, kernel_size=(3, 3), rngs=rngs)
        self.linear = nnx.Linear(2 * width * 7 * 7, 10, rngs=rngs)

    def __call__(self, x):
        x = nnx.avg_pool(nnx.relu(self.conv1(x)), window_shape=(2, 2), strides=(2, 2))
        x = nnx.max_pool(nnx.relu(self.conv2(x)), window_shape=(2, 2), strides=(2, 2))
        return self.linear(x.reshape(x.shape[0], -1))


example(
    "cnn",
    description="An MNIST-shaped image classifier: NHWC convolutions, average and max pooling, a dense head.",
    components=["flax.nnx.Conv", "flax.nnx.avg_pool", "flax.nnx.max_pool", "flax.nnx.relu", "flax.nnx.Linear"],
    onnx=["Conv", "AveragePool", "MaxPool", "Relu", "Gemm"],
    since="0.1.0",
    build=lambda width: CNN(width, rngs=nnx.Rngs(0)),
    inputs=lambda width: [("B", 28, 28, 1)],
    configs={"small": 8, "full": 32},
    opsets=None,
    module=__name__,
)
