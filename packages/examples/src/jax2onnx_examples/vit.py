"""Vision transformers and their parts: patch and convolutional embeddings, MLP and attention blocks, a ViT
(classification from a CLS token) and a DINO-style ViT with register tokens."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from flax import nnx

from ._zoo import example


class PatchEmbedding(nnx.Module):
    """Cuts an NHWC image into non-overlapping patches and projects each one: (B, H, W, C) -> (B, N, dim)."""

    def __init__(self, patch: int, channels: int, dim: int, *, rngs: nnx.Rngs):
        self.patch = patch
        self.proj = nnx.Linear(patch * patch * channels, dim, rngs=rngs)

    def __call__(self, x):
        _, h, w, c = x.shape
        p = self.patch
        x = x.reshape(-1, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
        return self.proj(x.reshape(-1, (h // p) * (w // p), p * p * c))


class ConvEmbedding(nnx.Module):
    """Two convolutions with LayerNorm and pooling, flattened to tokens: (B, H, W, C) -> (B, H*W/16, dim)."""

    def __init__(self, channels: int, dim: int, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(channels, dim // 2, kernel_size=(3, 3), rngs=rngs)
        self.norm1 = nnx.LayerNorm(dim // 2, rngs=rngs)
        self.conv2 = nnx.Conv(dim // 2, dim, kernel_size=(3, 3), rngs=rngs)
        self.norm2 = nnx.LayerNorm(dim, rngs=rngs)

    def __call__(self, x):
        x = nnx.max_pool(nnx.relu(self.norm1(self.conv1(x))), window_shape=(2, 2), strides=(2, 2))
        x = nnx.max_pool(nnx.relu(self.norm2(self.conv2(x))), window_shape=(2, 2), strides=(2, 2))
        _, h, w, d = x.shape
        return x.reshape(-1, h * w, d)


class ConvPatchEmbedding(nnx.Module):
    """A strided convolution as patch embedding (as ViT-B/16 does): (B, H, W, C) -> (B, N, dim)."""

    def __init__(self, patch: int, channels: int, dim: int, *, rngs: nnx.Rngs):
        self.conv = nnx.Conv(channels, dim, kernel_size=(patch, patch), strides=(patch, patch), padding="VALID",
                             rngs=rngs)

    def __call__(self, x):
        x = self.conv(x)
        _, h, w, d = x.shape
        return x.reshape(-1, h * w, d)


class MLPBlock(nnx.Module):
    """The transformer's feed-forward block: Linear, gelu, Dropout, Linear, Dropout."""

    def __init__(self, dim: int, hidden: int, *, rngs: nnx.Rngs, dropout: float = 0.1):
        self.fc1 = nnx.Linear(dim, hidden, rngs=rngs)
        self.fc2 = nnx.Linear(hidden, dim, rngs=rngs)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, x):
        return self.dropout(self.fc2(self.dropout(nnx.gelu(self.fc1(x)))))


class MultiHeadAttention(nnx.Module):
    """Self-attention over tokens with nnx.MultiHeadAttention (dropout off in eval mode)."""

    def __init__(self, dim: int, heads: int, *, rngs: nnx.Rngs):
        self.attn = nnx.MultiHeadAttention(num_heads=heads, in_features=dim, dropout_rate=0.1, decode=False,
                                           rngs=rngs)

    def __call__(self, x):
        return self.attn(x)


class TransformerBlock(nnx.Module):
    """Pre-norm encoder block: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, dim: int, heads: int, hidden: int, *, rngs: nnx.Rngs):
        self.norm1 = nnx.LayerNorm(dim, rngs=rngs)
        self.attn = MultiHeadAttention(dim, heads, rngs=rngs)
        self.norm2 = nnx.LayerNorm(dim, rngs=rngs)
        self.mlp = MLPBlock(dim, hidden, rngs=rngs)

    def __call__(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


@dataclasses.dataclass(frozen=True)
class ViTConfig:
    image: int = 28
    channels: int = 1
    patch: int = 4
    dim: int = 32
    depth: int = 2
    heads: int = 4
    hidden: int = 64
    classes: int = 10
    embedding: str = "patch"  # "patch" (reshape + Linear), "conv" (ConvEmbedding) or "conv_patch" (strided Conv)
    registers: int = 0

    @property
    def tokens(self) -> int:
        return (self.image // (4 if self.embedding == "conv" else self.patch)) ** 2


class VisionTransformer(nnx.Module):
    """ViT: embedding, CLS token (and optional register tokens), learned positions, blocks, LayerNorm, head."""

    def __init__(self, cfg: ViTConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        self.embed: nnx.Module
        if cfg.embedding == "conv":
            self.embed = ConvEmbedding(cfg.channels, cfg.dim, rngs=rngs)
        elif cfg.embedding == "conv_patch":
            self.embed = ConvPatchEmbedding(cfg.patch, cfg.channels, cfg.dim, rngs=rngs)
        else:
            self.embed = PatchEmbedding(cfg.patch, cfg.channels, cfg.dim, rngs=rngs)
        init = nnx.initializers.normal(0.02)
        self.cls = nnx.Param(init(rngs.params(), (1, 1, cfg.dim)))
        self.registers = nnx.Param(init(rngs.params(), (1, cfg.registers, cfg.dim))) if cfg.registers else None
        self.pos = nnx.Param(init(rngs.params(), (1, cfg.tokens + 1, cfg.dim)))
        self.blocks = nnx.List([TransformerBlock(cfg.dim, cfg.heads, cfg.hidden, rngs=rngs) for _ in range(cfg.depth)])
        self.norm = nnx.LayerNorm(cfg.dim, rngs=rngs)
        self.head = nnx.Linear(cfg.dim, cfg.classes, rngs=rngs) if cfg.classes else None

    def features(self, x):
        """The final-normed tokens: CLS first, then registers, then patches."""
        x = self.embed(x)
        batch = x.shape[0]
        cls = jnp.broadcast_to(self.cls[...], (batch, 1, self.cfg.dim))
        x = jnp.concatenate([cls, x], axis=1) + self.pos[...]
        if self.registers is not None:
            regs = jnp.broadcast_to(self.registers[...], (batch, self.cfg.registers, self.cfg.dim))
            x = jnp.concatenate([x[:, :1], regs, x[:, 1:]], axis=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def __call__(self, x):
        return self.head(self.features(x)[:, 0])


class DinoViT(nnx.Module):
    """DINO-style backbone with registers: returns the CLS embedding and the patch tokens (registers dropped)."""

    def __init__(self, cfg: ViTConfig, *, rngs: nnx.Rngs):
        self.vit = VisionTransformer(dataclasses.replace(cfg, classes=0), rngs=rngs)

    def __call__(self, x):
        tokens = self.vit.features(x)
        return tokens[:, 0], tokens[:, 1 + self.vit.cfg.registers:]


def _eval(model: nnx.Module) -> nnx.Module:
    model.eval()
    return model


MNIST = ViTConfig()
VIT_B16 = ViTConfig(image=224, channels=3, patch=16, dim=768, depth=12, heads=12, hidden=3072, classes=1000,
                    embedding="conv_patch")
_VIT = ["flax.nnx.Linear", "flax.nnx.LayerNorm", "flax.nnx.MultiHeadAttention", "flax.nnx.gelu", "flax.nnx.Dropout"]
_ATTENTION_OPS = ["MatMul", "Softmax"]
_BLOCKS = ["examples.multi_head_attention", "examples.mlp_block"]

example(
    "patch_embedding",
    description="ViT patch embedding: an NHWC image cut into 4x4 patches (reshape, transpose), each projected.",
    components=["flax.nnx.Linear"], onnx=["Reshape", "Transpose", "MatMul"], since="0.1.0",
    build=lambda c: PatchEmbedding(c.patch, c.channels, c.dim, rngs=nnx.Rngs(0)),
    inputs=lambda c: [("B", c.image, c.image, c.channels)],
    configs={"small": MNIST, "full": VIT_B16}, opsets=None, module=__name__)

example(
    "conv_embedding",
    description="Convolutional token embedding: two Conv + LayerNorm + relu + max-pool stages, flattened to tokens.",
    components=["flax.nnx.Conv", "flax.nnx.LayerNorm", "flax.nnx.relu", "flax.nnx.max_pool"],
    onnx=["Conv", "LayerNormalization", "Relu", "MaxPool"], since="0.1.0",
    build=lambda c: ConvEmbedding(c.channels, c.dim, rngs=nnx.Rngs(0)),
    inputs=lambda c: [("B", c.image, c.image, c.channels)],
    configs={"small": MNIST, "full": dataclasses.replace(VIT_B16, embedding="conv")}, opsets=None, module=__name__)

example(
    "mlp_block",
    description="The transformer feed-forward block: Linear, gelu, Dropout, Linear, Dropout (eval mode).",
    components=["flax.nnx.Linear", "flax.nnx.gelu", "flax.nnx.Dropout"], onnx=["MatMul", "Gelu"], since="0.1.0",
    build=lambda c: _eval(MLPBlock(c.dim, c.hidden, rngs=nnx.Rngs(0))),
    inputs=lambda c: [("B", c.tokens + 1, c.dim)],
    configs={"small": MNIST, "full": VIT_B16}, opsets=None, module=__name__)

example(
    "multi_head_attention",
    description="Multi-head self-attention (nnx.MultiHeadAttention) over a token sequence.",
    components=["flax.nnx.MultiHeadAttention"], onnx=_ATTENTION_OPS, since="0.1.0",
    build=lambda c: _eval(MultiHeadAttention(c.dim, c.heads, rngs=nnx.Rngs(0))),
    inputs=lambda c: [("B", c.tokens + 1, c.dim)],
    configs={"small": MNIST, "full": VIT_B16}, opsets=None, module=__name__)

example(
    "vit_patch",
    description="Vision transformer on MNIST-shaped images with patch embedding: CLS token, positions, 2 blocks, head.",
    components=["examples.patch_embedding", *_BLOCKS, *_VIT],
    onnx=["MatMul", "Softmax", "Concat"],
    since="0.1.0",
    build=lambda c: _eval(VisionTransformer(c, rngs=nnx.Rngs(0))),
    inputs=lambda c: [("B", c.image, c.image, c.channels)],
    configs={"small": MNIST, "full": VIT_B16}, module=__name__)

example(
    "vit_conv",
    description="Vision transformer on MNIST-shaped images with the convolutional embedding.",
    components=["examples.conv_embedding", *_BLOCKS, *_VIT],
    onnx=["Conv", "MatMul", "Softmax", "Concat"],
    since="0.1.0",
    build=lambda c: _eval(VisionTransformer(c, rngs=nnx.Rngs(0))),
    inputs=lambda c: [("B", c.image, c.image, c.channels)],
    configs={"small": dataclasses.replace(MNIST, embedding="conv"),
             "full": dataclasses.replace(VIT_B16, embedding="conv", image=64)}, module=__name__)

example(
    "vit_dino_registers",
    description="DINO-style ViT backbone: strided-Conv patches, CLS + 4 register tokens; returns the CLS embedding "
                "and the patch tokens. Full size is ViT-B/16 (224x224, 12 layers, 768 wide).",
    components=[*_BLOCKS, "flax.nnx.Conv", *_VIT],
    onnx=["Conv", "MatMul", "Softmax", "Concat"],
    since="0.1.0",
    build=lambda c: _eval(DinoViT(c, rngs=nnx.Rngs(0))),
    inputs=lambda c: [("B", c.image, c.image, c.channels)],
    configs={"small": ViTConfig(image=32, channels=3, patch=8, dim=32, depth=2, heads=4, hidden=64,
                                embedding="conv_patch", registers=4),
             "full": dataclasses.replace(VIT_B16, registers=4)}, module=__name__)
