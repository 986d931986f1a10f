"""Sequence models on nnx.RNN: a forward LSTM and a bidirectional GRU, each with a classifier on the last step."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from flax import nnx

from ._zoo import example


@dataclasses.dataclass(frozen=True)
class RNNConfig:
    features: int = 8
    hidden: int = 16
    classes: int = 5
    seq: int = 7


class LSTMClassifier(nnx.Module):
    def __init__(self, cfg: RNNConfig, *, rngs: nnx.Rngs):
        self.rnn = nnx.RNN(nnx.LSTMCell(cfg.features, cfg.hidden, rngs=rngs), rngs=rngs)
        self.head = nnx.Linear(cfg.hidden, cfg.classes, rngs=rngs)

    def __call__(self, x):
        return self.head(self.rnn(x)[:, -1])


class BiGRUTagger(nnx.Module):
    """Bidirectional GRU (forward and reversed nnx.RNN, outputs concatenated) with a per-step classifier."""

    def __init__(self, cfg: RNNConfig, *, rngs: nnx.Rngs):
        self.rnn = nnx.Bidirectional(nnx.RNN(nnx.GRUCell(cfg.features, cfg.hidden, rngs=rngs), rngs=rngs),
                                     nnx.RNN(nnx.GRUCell(cfg.features, cfg.hidden, rngs=rngs), rngs=rngs),
                                     rngs=rngs)
        self.head = nnx.Linear(2 * cfg.hidden, cfg.classes, rngs=rngs)

    def __call__(self, x):
        return jnp.tanh(self.head(self.rnn(x)))


FULL = RNNConfig(features=128, hidden=512, classes=32, seq=64)

example(
    "lstm_classifier",
    description="Forward LSTM (nnx.RNN over nnx.LSTMCell) over a sequence, a Linear classifier on the last step.",
    components=["flax.nnx.RNN", "flax.nnx.LSTMCell", "flax.nnx.Linear"], onnx=["LSTM", "Gemm"], since="0.1.0",
    build=lambda c: LSTMClassifier(c, rngs=nnx.Rngs(0)),
    inputs=lambda c: [("B", c.seq, c.features)],
    configs={"small": RNNConfig(), "full": FULL}, module=__name__,
)

example(
    "bigru_tagger",
    description="Bidirectional GRU (nnx.Bidirectional of two nnx.RNN over nnx.GRUCell), a per-step tag classifier.",
    components=["flax.nnx.Bidirectional", "flax.nnx.RNN", "flax.nnx.GRUCell", "flax.nnx.Linear"],
    onnx=["GRU", "Concat", "MatMul"], since="0.1.0",
    build=lambda c: BiGRUTagger(c, rngs=nnx.Rngs(0)),
    inputs=lambda c: [("B", c.seq, c.features)],
    configs={"small": RNNConfig(), "full": FULL}, module=__name__,
)
