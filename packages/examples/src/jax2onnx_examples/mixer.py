"""MLP-Mixer: patches mixed by MLPs across tokens and across channels, no attention."""

from __future__ import annotations

import dataclasses

from flax import nnx

from ._zoo import example
from .vit import ConvPatchEmbedding


@dataclasses.dataclass(frozen=True)
class MixerConfig:
    image: int = 32
    channels: int = 3
    patch: int = 8
    dim: int = 32
    depth: int = 2
    token_hidden: int = 16
    channel_hidden: int = 64
    classes: int = 10

    @property
    def tokens(self) -> int:
        return (self.image // self.patch) ** 2


class MixerMLP(nnx.Module):
    def __init__(self, dim: int, hidden: int, *, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(dim, hidden, rngs=rngs)
        self.fc2 = nnx.Linear(hidden, dim, rngs=rngs)

    def __call__(self, x):
        return self.fc2(nnx.gelu(self.fc1(x)))


class MixerBlock(nnx.Module):
    def __init__(self, cfg: MixerConfig, *, rngs: nnx.Rngs):
        self.norm1 = nnx.LayerNorm(cfg.dim, rngs=rngs)
        self.token_mix = MixerMLP(cfg.tokens, cfg.token_hidden, rngs=rngs)
        self.norm2 = nnx.LayerNorm(cfg.dim, rngs=rngs)
        self.channel_mix = MixerMLP(cfg.dim, cfg.channel_hidden, rngs=rngs)

    def __call__(self, x):
        x = x + self.token_mix(self.norm1(x).transpose(0, 2, 1)).transpose(0, 2, 1)
        return x + self.channel_mix(self.norm2(x))


class MLPMixer(nnx.Module):
    def __init__(self, cfg: MixerConfig, *, rngs: nnx.Rngs):
        self.embed = ConvPatchEmbedding(cfg.patch, cfg.channels, cfg.dim, rngs=rngs)
        self.blocks = nnx.List([MixerBlock(cfg, rngs=rngs) for _ in range(cfg.depth)])
        self.norm = nnx.LayerNorm(cfg.dim, rngs=rngs)
        self.head = nnx.Linear(cfg.dim, cfg.classes, rngs=rngs)

    def __call__(self, x):
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x).mean(axis=1))


example(
    "mlp_mixer",
    description="MLP-Mixer: strided-Conv patches, token-mixing and channel-mixing MLPs with LayerNorm, mean-pooled "
                "head. Full size is Mixer-B/16 (224x224, 12 layers, 768 wide).",
    components=["flax.nnx.Conv", "flax.nnx.LayerNorm", "flax.nnx.Linear", "flax.nnx.gelu"],
    onnx=["Conv", "LayerNormalization", "MatMul", "Gelu", "Transpose", "ReduceMean"], since="0.1.0",
    build=lambda c: MLPMixer(c, rngs=nnx.Rngs(0)),
    inputs=lambda c: [("B", c.image, c.image, c.channels)],
    configs={"small": MixerConfig(), "full": MixerConfig(image=224, patch=16, dim=768, depth=12, token_hidden=384,
                                                         channel_hidden=3072, classes=1000)},
    module=__name__,
)
