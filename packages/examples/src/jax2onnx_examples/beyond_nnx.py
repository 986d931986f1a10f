"""Models from other JAX libraries, exported through the lax lowerings (and Equinox's own): a Flax Linen CNN
applied with its parameters closed over, and an Equinox CNN mapped over the batch with jax.vmap."""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Any

import jax
import jax.numpy as jnp

from ._zoo import example


@dataclasses.dataclass(frozen=True)
class SmallCNNConfig:
    image: int = 16
    channels: int = 1
    width: int = 8
    hidden: int = 32
    classes: int = 10


class LinenApplied:
    """``module.apply`` with the parameters closed over: the callable a Linen user exports."""

    def __init__(self, module: Any, params: Any):
        self.module, self.params = module, params

    def __call__(self, x):
        return self.module.apply(self.params, x)


def make_linen(cfg: SmallCNNConfig) -> LinenApplied:
    import flax.linen as nn

    class LinenCNN(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(cfg.width, (3, 3))(x))
            x = nn.avg_pool(x, (2, 2), strides=(2, 2))
            x = nn.LayerNorm()(nn.relu(nn.Conv(2 * cfg.width, (3, 3))(x)))
            x = nn.gelu(nn.Dense(cfg.hidden)(x.reshape(x.shape[0], -1)))
            return nn.Dense(cfg.classes)(x)

    module = LinenCNN()
    params = module.init(jax.random.key(0), jnp.zeros((1, cfg.image, cfg.image, cfg.channels)))
    return LinenApplied(module, params)


class EquinoxBatched:
    """An Equinox model written per example (CHW), mapped over the batch as Equinox users do."""

    def __init__(self, model: Any):
        self.model = model
        self.params = model

    def __call__(self, x):
        return jax.vmap(self.model)(x)


def make_equinox(cfg: SmallCNNConfig) -> EquinoxBatched:
    import equinox as eqx

    class EquinoxCNN(eqx.Module):
        conv1: eqx.nn.Conv2d
        conv2: eqx.nn.Conv2d
        norm: eqx.nn.LayerNorm
        fc1: eqx.nn.Linear
        fc2: eqx.nn.Linear

        def __init__(self, key):
            k1, k2, k3, k4 = jax.random.split(key, 4)
            w, s = cfg.width, cfg.image // 2
            self.conv1 = eqx.nn.Conv2d(cfg.channels, w, 3, padding=1, key=k1)
            self.conv2 = eqx.nn.Conv2d(w, 2 * w, 3, padding=1, key=k2)
            self.norm = eqx.nn.LayerNorm(2 * w * s * s)
            self.fc1 = eqx.nn.Linear(2 * w * s * s, cfg.hidden, key=k3)
            self.fc2 = eqx.nn.Linear(cfg.hidden, cfg.classes, key=k4)

        def __call__(self, x):
            x = jax.nn.relu(self.conv1(x))
            x = eqx.nn.AvgPool2d(2, stride=2)(x)
            x = self.norm(jax.nn.relu(self.conv2(x)).reshape(-1))
            return self.fc2(jax.nn.gelu(self.fc1(x)))

    return EquinoxBatched(EquinoxCNN(jax.random.key(0)))


SMALL = SmallCNNConfig()
FULL = SmallCNNConfig(image=28, width=32, hidden=256)

example(
    "linen_cnn",
    description="A Flax Linen CNN exported as module.apply with its parameters closed over (no NNX): Conv, "
                "avg_pool, LayerNorm, Dense, gelu, all through the lax lowerings.",
    components=["flax.linen.Conv", "flax.linen.Dense", "flax.linen.LayerNorm", "flax.linen.avg_pool"],
    onnx=["Conv", "AveragePool", "MatMul", "Relu"], since="0.1.0",
    build=make_linen,
    inputs=lambda c: [("B", c.image, c.image, c.channels)],
    configs={"small": SMALL, "full": FULL},
    module=__name__,
)

example(
    "equinox_cnn",
    description="An Equinox CNN written per example (channels first) and mapped over the batch with jax.vmap: "
                "Conv2d, AvgPool2d, LayerNorm, Linear.",
    components=["equinox.nn.Conv2d", "equinox.nn.AvgPool2d", "equinox.nn.LayerNorm", "equinox.nn.Linear",
                "jax.vmap"],
    onnx=["Conv", "AveragePool", "LayerNormalization", "Gemm"], since="0.1.0",
    build=make_equinox,
    inputs=lambda c: [("B", c.channels, c.image, c.image)],
    configs={"small": SMALL, "full": FULL},
    module=__name__,
    skip=None if importlib.util.find_spec("equinox") else "equinox is not installed (pip install equinox)",
)
