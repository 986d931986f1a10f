"""A CLIP-style dual encoder: a ViT image tower and a causal text transformer, projected to one space,
L2-normalised, compared by a learned temperature."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
from flax import nnx

from ._zoo import example
from .llm import causal_attention
from .vit import VisionTransformer, ViTConfig


@dataclasses.dataclass(frozen=True)
class CLIPConfig:
    vision: ViTConfig = ViTConfig(image=32, channels=3, patch=8, dim=32, depth=2, heads=4, hidden=64, classes=0,
                                  embedding="conv_patch")
    vocab: int = 64
    context: int = 8
    text_dim: int = 32
    text_layers: int = 2
    text_heads: int = 4
    embed: int = 24


class TextBlock(nnx.Module):
    def __init__(self, dim: int, heads: int, *, rngs: nnx.Rngs):
        self.heads = heads
        self.ln1 = nnx.LayerNorm(dim, rngs=rngs)
        self.qkv = nnx.Linear(dim, 3 * dim, rngs=rngs)
        self.proj = nnx.Linear(dim, dim, rngs=rngs)
        self.ln2 = nnx.LayerNorm(dim, rngs=rngs)
        self.fc = nnx.Linear(dim, 4 * dim, rngs=rngs)
        self.out = nnx.Linear(4 * dim, dim, rngs=rngs)

    def __call__(self, x):
        b, t, d = x.shape
        q, k, v = jnp.split(self.qkv(self.ln1(x)).reshape(b, t, 3 * self.heads, d // self.heads), 3, axis=2)
        x = x + self.proj(causal_attention(q, k, v))
        return x + self.out(nnx.gelu(self.fc(self.ln2(x))))


class TextEncoder(nnx.Module):
    """Causal transformer over token ids; the sequence's feature is taken at its end token (the largest id)."""

    def __init__(self, cfg: CLIPConfig, *, rngs: nnx.Rngs):
        self.embed = nnx.Embed(cfg.vocab, cfg.text_dim, rngs=rngs)
        self.pos = nnx.Param(nnx.initializers.normal(0.01)(rngs.params(), (cfg.context, cfg.text_dim)))
        self.blocks = nnx.List([TextBlock(cfg.text_dim, cfg.text_heads, rngs=rngs) for _ in range(cfg.text_layers)])
        self.norm = nnx.LayerNorm(cfg.text_dim, rngs=rngs)

    def __call__(self, tokens):
        x = self.embed(tokens) + self.pos[...]
        for block in self.blocks:
            x = block(x)
        end = jnp.argmax(tokens, axis=-1)
        return jnp.take_along_axis(self.norm(x), end[:, None, None], axis=1)[:, 0]


class CLIP(nnx.Module):
    def __init__(self, cfg: CLIPConfig, *, rngs: nnx.Rngs):
        self.vision = VisionTransformer(cfg.vision, rngs=rngs)
        self.text = TextEncoder(cfg, rngs=rngs)
        self.image_proj = nnx.Linear(cfg.vision.dim, cfg.embed, use_bias=False, rngs=rngs)
        self.text_proj = nnx.Linear(cfg.text_dim, cfg.embed, use_bias=False, rngs=rngs)
        self.logit_scale = nnx.Param(jnp.asarray(np.log(1 / 0.07), jnp.float32))

    def __call__(self, images, tokens):
        """images (N, H, W, 3), tokens (M, context) -> image-text logits (N, M), image and text embeddings."""
        img = self.image_proj(self.vision.features(images)[:, 0])
        txt = self.text_proj(self.text(tokens))
        img = img / jnp.linalg.norm(img, axis=-1, keepdims=True)
        txt = txt / jnp.linalg.norm(txt, axis=-1, keepdims=True)
        return jnp.exp(self.logit_scale[...]) * img @ txt.T, img, txt


def make_clip(cfg: CLIPConfig) -> CLIP:
    model = CLIP(cfg, rngs=nnx.Rngs(0))
    model.eval()
    return model


def _clip_values(rng, shapes):
    images, tokens = shapes
    return [rng.standard_normal(images), rng.integers(0, CLIPConfig.vocab, size=tokens)]


# ViT-B/16 image tower and CLIP's 12-layer, 512-wide text tower over 77 tokens of a 49408-token vocabulary.
CLIP_FULL = CLIPConfig(vision=ViTConfig(image=224, channels=3, patch=16, dim=768, depth=12, heads=12, hidden=3072,
                                        classes=0, embedding="conv_patch"),
                       vocab=49408, context=77, text_dim=512, text_layers=12, text_heads=8, embed=512)

example(
    "clip",
    description="CLIP-style dual encoder: ViT image tower (CLS feature), causal text tower (end-token feature), "
                "linear projections, L2 normalisation, temperature-scaled image-text logits. Full size is "
                "ViT-B/16 with CLIP's 12-layer text tower.",
    components=["examples.vit_patch", "flax.nnx.Embed", "flax.nnx.LayerNorm", "flax.nnx.Linear",
                "jax.numpy.linalg.norm", "jax.numpy.take_along_axis"],
    onnx=["Conv", "MatMul", "Softmax", "ArgMax", "GatherElements", "ReduceL2", "Exp"], since="0.1.0",
    build=make_clip,
    inputs=lambda c: [("N", c.vision.image, c.vision.image, 3), ("M", c.context)],
    input_dtypes=[np.float32, np.int32], input_values=_clip_values,
    configs={"small": CLIPConfig(), "full": CLIP_FULL},
    module=__name__,
)
