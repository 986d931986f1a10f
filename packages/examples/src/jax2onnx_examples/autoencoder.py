"""A dense autoencoder for MNIST-shaped images: encoder to a small code, decoder back to pixels in [0, 1]."""

from __future__ import annotations

from flax import nnx

from ._zoo import example


class AutoEncoder(nnx.Module):
    def __init__(self, pixels: int, hidden: int, code: int, *, rngs: nnx.Rngs):
        self.enc1 = nnx.Linear(pixels, hidden, rngs=rngs)
        self.enc2 = nnx.Linear(hidden, code, rngs=rngs)
        self.dec1 = nnx.Linear(code, hidden, rngs=rngs)
        self.dec2 = nnx.Linear(hidden, pixels, rngs=rngs)

    def encode(self, x):
        return self.enc2(nnx.relu(self.enc1(x.reshape(x.shape[0], -1))))

    def __call__(self, x):
        y = nnx.sigmoid(self.dec2(nnx.relu(self.dec1(self.encode(x)))))
        return y.reshape(x.shape)


example(
    "autoencoder",
    description="Dense autoencoder for 28x28 images: flatten, encode to a code, decode, sigmoid, reshape back.",
    components=["flax.nnx.Linear", "flax.nnx.relu", "flax.nnx.sigmoid"],
    onnx=["Gemm", "Relu", "Sigmoid", "Reshape"],
    since="0.1.0",
    build=lambda cfg: AutoEncoder(28 * 28, cfg[0], cfg[1], rngs=nnx.Rngs(0)),
    inputs=lambda cfg: [("B", 28, 28, 1)],
    configs={"small": (64, 16), "full": (512, 64)},
    opsets=None,
    module=__name__,
)
