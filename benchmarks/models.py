"""Benchmark models in plain Flax NNX: importable by any jax2onnx release (no plugin imports).

The same definitions run in our venv and in a venv with another release under the same import
name, so the figures compare exporters, not models.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class MLP(nnx.Module):
    """The quickstart MLP: Linear, BatchNorm, Dropout, gelu, Linear."""

    def __init__(self, din: int = 30, dmid: int = 20, dout: int = 10, *, rngs: nnx.Rngs):
        self.linear1 = nnx.Linear(din, dmid, rngs=rngs)
        self.bn = nnx.BatchNorm(dmid, rngs=rngs)
        self.dropout = nnx.Dropout(0.1, rngs=rngs)
        self.linear2 = nnx.Linear(dmid, dout, rngs=rngs)

    def __call__(self, x):
        return self.linear2(nnx.gelu(self.dropout(self.bn(self.linear1(x)))))


class Block(nnx.Module):
    """Pre-norm transformer block; ``causal`` masks attention to earlier positions."""

    def __init__(self, width: int, heads: int, *, causal: bool, rngs: nnx.Rngs):
        self.causal = causal
        self.ln1 = nnx.LayerNorm(width, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(heads, width, decode=False, rngs=rngs)
        self.ln2 = nnx.LayerNorm(width, rngs=rngs)
        self.fc1 = nnx.Linear(width, 4 * width, rngs=rngs)
        self.fc2 = nnx.Linear(4 * width, width, rngs=rngs)

    def __call__(self, x):
        h = self.ln1(x)
        mask = nnx.make_causal_mask(jnp.ones(x.shape[:2], jnp.int32)) if self.causal else None
        x = x + self.attn(h, mask=mask)
        return x + self.fc2(jax.nn.gelu(self.fc1(self.ln2(x))))


class Decoder(nnx.Module):
    """GPT-2-style decoder: token + position embedding, causal blocks, tied output head."""

    def __init__(self, layers: int, width: int = 768, heads: int = 12, vocab: int = 1024, length: int = 128,
                 *, rngs: nnx.Rngs):
        self.embed = nnx.Embed(vocab, width, rngs=rngs)
        self.pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), (length, width)))
        self.blocks = nnx.List([Block(width, heads, causal=True, rngs=rngs) for _ in range(layers)])
        self.ln = nnx.LayerNorm(width, rngs=rngs)

    def __call__(self, tokens):
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.embed.attend(self.ln(x))


class ViT(nnx.Module):
    """A small vision transformer: patch embedding (conv), CLS token, blocks, head."""

    def __init__(self, layers: int = 4, width: int = 192, heads: int = 3, patch: int = 8, image: int = 32,
                 classes: int = 10, *, rngs: nnx.Rngs):
        self.patch = nnx.Conv(3, width, (patch, patch), strides=(patch, patch), rngs=rngs)
        self.cls = nnx.Param(jnp.zeros((1, 1, width)))
        self.pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), (1 + (image // patch) ** 2, width)))
        self.blocks = nnx.List([Block(width, heads, causal=False, rngs=rngs) for _ in range(layers)])
        self.ln = nnx.LayerNorm(width, rngs=rngs)
        self.head = nnx.Linear(width, classes, rngs=rngs)

    def __call__(self, images):
        x = self.patch(images)
        x = x.reshape(x.shape[0], -1, x.shape[-1])
        x = jnp.concatenate([jnp.broadcast_to(self.cls[...], (x.shape[0], 1, x.shape[-1])), x], axis=1)
        x = x + self.pos[...]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x[:, 0]))


class Wide(nnx.Module):
    """Weights of a chosen size for memory figures: ``depth`` square Linear layers with tanh."""

    def __init__(self, width: int, depth: int, *, rngs: nnx.Rngs):
        self.layers = nnx.List([nnx.Linear(width, width, rngs=rngs) for _ in range(depth)])

    def __call__(self, x):
        for layer in self.layers:
            x = jnp.tanh(layer(x))
        return x


def build(name: str, **config):
    """A model in inference mode and its input specs (``B`` is the symbolic batch)."""
    rngs = nnx.Rngs(0)
    if name == "mlp":
        model, specs = MLP(rngs=rngs), [("B", 30)]
    elif name == "decoder":
        model, specs = Decoder(rngs=rngs, **config), [("B", config.get("length", 128))]
    elif name == "vit":
        model, specs = ViT(rngs=rngs, **config), [("B", 32, 32, 3)]
    elif name == "wide":
        model, specs = Wide(rngs=rngs, **config), [("B", config["width"])]
    else:
        raise ValueError(name)
    model.eval()
    return model, specs
