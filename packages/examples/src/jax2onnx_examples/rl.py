"""Reinforcement-learning policies as deployed on robots and in games: a tanh-squashed Gaussian actor's mean
action (SAC-style) and a discrete argmax policy (DQN-style)."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from flax import nnx

from ._zoo import example


@dataclasses.dataclass(frozen=True)
class PolicyConfig:
    observations: int = 17
    actions: int = 6
    hidden: int = 64
    layers: int = 2


class Torso(nnx.Module):
    def __init__(self, cfg: PolicyConfig, *, rngs: nnx.Rngs):
        widths = [cfg.observations] + [cfg.hidden] * cfg.layers
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths, widths[1:])])

    def __call__(self, x):
        for layer in self.layers:
            x = nnx.relu(layer(x))
        return x


class GaussianActor(nnx.Module):
    """Mean action of a tanh-squashed Gaussian, scaled to the action bounds (the log-std head is not exported)."""

    def __init__(self, cfg: PolicyConfig, *, rngs: nnx.Rngs, low: float = -2.0, high: float = 2.0):
        self.torso = Torso(cfg, rngs=rngs)
        self.mean = nnx.Linear(cfg.hidden, cfg.actions, rngs=rngs)
        self.log_std = nnx.Linear(cfg.hidden, cfg.actions, rngs=rngs)
        self.scale, self.offset = (high - low) / 2, (high + low) / 2

    def __call__(self, obs):
        return jnp.tanh(self.mean(self.torso(obs))) * self.scale + self.offset


class ArgmaxPolicy(nnx.Module):
    """Greedy discrete policy: Q-values from an MLP, the action with the largest value (int32)."""

    def __init__(self, cfg: PolicyConfig, *, rngs: nnx.Rngs):
        self.torso = Torso(cfg, rngs=rngs)
        self.q = nnx.Linear(cfg.hidden, cfg.actions, rngs=rngs)

    def __call__(self, obs):
        return jnp.argmax(self.q(self.torso(obs)), axis=-1).astype(jnp.int32)


_COMPONENTS = ["flax.nnx.Linear", "flax.nnx.relu"]

example(
    "rl_gaussian_actor",
    description="Tanh-squashed Gaussian actor (SAC-style) exported for deployment: the deterministic mean action.",
    components=[*_COMPONENTS, "jax.numpy.tanh"], onnx=["Gemm", "Relu", "Tanh"], since="0.1.0",
    build=lambda c: GaussianActor(c, rngs=nnx.Rngs(0)),
    inputs=lambda c: [("B", c.observations)],
    configs={"small": PolicyConfig(), "full": PolicyConfig(observations=376, actions=17, hidden=256)},
    opsets=None, module=__name__,
)

example(
    "rl_argmax_policy",
    description="Discrete greedy policy (DQN-style): Q-values from an MLP, argmax action as int32.",
    components=[*_COMPONENTS, "jax.numpy.argmax"], onnx=["Gemm", "Relu", "ArgMax"], since="0.1.0",
    build=lambda c: ArgmaxPolicy(c, rngs=nnx.Rngs(0)),
    inputs=lambda c: [("B", c.observations)],
    configs={"small": PolicyConfig(observations=8, actions=4), "full": PolicyConfig(observations=128, actions=18,
                                                                                      hidden=512)},
    opsets=None, module=__name__,
)
