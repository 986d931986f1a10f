"""A small diffusion UNet: sinusoidal time embedding, residual blocks with GroupNorm, self-attention at the lowest
resolution, strided-Conv downsampling, ConvTranspose upsampling, skip connections."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
from flax import nnx

from ._zoo import example


@dataclasses.dataclass(frozen=True)
class UNetConfig:
    image: int = 8
    channels: int = 3
    width: int = 16
    mults: tuple[int, ...] = (1, 2)
    groups: int = 4
    heads: int = 2


def timestep_embedding(t, dim: int):
    """Sinusoidal embedding of (B,) float timesteps: (B, dim)."""
    half = dim // 2
    freqs = np.exp(-np.log(10000.0) * np.arange(half, dtype=np.float32) / half)
    angles = t[:, None] * freqs[None, :]
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


class ResBlock(nnx.Module):
    def __init__(self, cin: int, cout: int, tdim: int, groups: int, *, rngs: nnx.Rngs):
        self.norm1 = nnx.GroupNorm(cin, num_groups=groups, rngs=rngs)
        self.conv1 = nnx.Conv(cin, cout, (3, 3), rngs=rngs)
        self.time = nnx.Linear(tdim, cout, rngs=rngs)
        self.norm2 = nnx.GroupNorm(cout, num_groups=groups, rngs=rngs)
        self.conv2 = nnx.Conv(cout, cout, (3, 3), rngs=rngs)
        self.skip = nnx.Conv(cin, cout, (1, 1), rngs=rngs) if cin != cout else None

    def __call__(self, x, temb):
        h = self.conv1(nnx.silu(self.norm1(x))) + self.time(temb)[:, None, None, :]
        h = self.conv2(nnx.silu(self.norm2(h)))
        return h + (x if self.skip is None else self.skip(x))


class SpatialAttention(nnx.Module):
    def __init__(self, dim: int, heads: int, groups: int, *, rngs: nnx.Rngs):
        self.norm = nnx.GroupNorm(dim, num_groups=groups, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(num_heads=heads, in_features=dim, decode=False, rngs=rngs)

    def __call__(self, x):
        _, h, w, c = x.shape
        return x + self.attn(self.norm(x).reshape(-1, h * w, c)).reshape(-1, h, w, c)


class UNet(nnx.Module):
    """Predicts the noise in x (B, H, W, C) at diffusion time t (B,)."""

    def __init__(self, cfg: UNetConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        w, g, tdim = cfg.width, cfg.groups, 4 * cfg.width
        self.time1 = nnx.Linear(w, tdim, rngs=rngs)
        self.time2 = nnx.Linear(tdim, tdim, rngs=rngs)
        self.stem = nnx.Conv(cfg.channels, w, (3, 3), rngs=rngs)
        widths = [w * m for m in cfg.mults]
        down, downsample, cin = [], [], w
        for i, cout in enumerate(widths):
            down.append(ResBlock(cin, cout, tdim, g, rngs=rngs))
            last = i == len(widths) - 1
            downsample.append(None if last else nnx.Conv(cout, cout, (3, 3), strides=2, rngs=rngs))
            cin = cout
        self.down, self.downsample = nnx.List(down), nnx.List(downsample)
        self.mid1 = ResBlock(cin, cin, tdim, g, rngs=rngs)
        self.mid_attn = SpatialAttention(cin, cfg.heads, g, rngs=rngs)
        self.mid2 = ResBlock(cin, cin, tdim, g, rngs=rngs)
        up, upsample = [], []
        for i, cout in reversed(list(enumerate(widths))):
            up.append(ResBlock(cin + cout, cout, tdim, g, rngs=rngs))
            upsample.append(None if i == 0 else nnx.ConvTranspose(cout, widths[i - 1], (2, 2), strides=(2, 2),
                                                                   rngs=rngs))
            cin = widths[i - 1] if i else cout
        self.up, self.upsample = nnx.List(up), nnx.List(upsample)
        self.out_norm = nnx.GroupNorm(cin, num_groups=g, rngs=rngs)
        self.out = nnx.Conv(cin, cfg.channels, (3, 3), rngs=rngs)

    def __call__(self, x, t):
        temb = self.time2(nnx.silu(self.time1(timestep_embedding(t, self.cfg.width))))
        x = self.stem(x)
        skips = []
        for block, down in zip(self.down, self.downsample):
            x = block(x, temb)
            skips.append(x)
            if down is not None:
                x = down(x)
        x = self.mid2(self.mid_attn(self.mid1(x, temb)), temb)
        for block, up in zip(self.up, self.upsample):
            x = block(jnp.concatenate([x, skips.pop()], axis=-1), temb)
            if up is not None:
                x = up(x)
        return self.out(nnx.silu(self.out_norm(x)))


def _unet_values(rng, shapes):
    images, times = shapes
    return [rng.standard_normal(images), rng.uniform(0, 1000, size=times)]


example(
    "diffusion_unet",
    description="Diffusion UNet: sinusoidal time embedding, GroupNorm residual blocks conditioned on time, "
                "self-attention at the lowest resolution, strided-Conv down and ConvTranspose up, skip connections.",
    components=["flax.nnx.Conv", "flax.nnx.ConvTranspose", "flax.nnx.GroupNorm", "flax.nnx.MultiHeadAttention",
                "flax.nnx.Linear", "flax.nnx.silu"],
    onnx=["Conv", "ConvTranspose", "GroupNormalization", "MatMul", "Softmax", "Sin", "Cos", "Concat"],
    since="0.1.0",
    build=lambda c: UNet(c, rngs=nnx.Rngs(0)),
    inputs=lambda c: [("B", c.image, c.image, c.channels), ("B",)],
    input_values=_unet_values,
    configs={"small": UNetConfig(), "full": UNetConfig(image=64, width=128, mults=(1, 2, 2, 4), groups=32, heads=4)},
    module=__name__,
)
