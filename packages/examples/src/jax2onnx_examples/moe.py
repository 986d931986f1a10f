"""A mixture-of-experts decoder block in the GPT-OSS style: grouped-query attention, then a top-k routed SwiGLU
expert layer computed densely (every expert runs, the router's top-k gates mask the rest): the inference path,
with no load-balancing loss and no capacity limits."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from ._zoo import example
from .llm import LlamaAttention, LlamaConfig


@dataclasses.dataclass(frozen=True)
class MoEConfig:
    dim: int = 32
    heads: int = 4
    kv_heads: int = 2
    experts: int = 4
    top_k: int = 2
    hidden: int = 48
    seq: int = 6


class MoE(nnx.Module):
    """Router (Linear to expert logits), top-k, softmax over the chosen logits, gates scattered to all experts."""

    def __init__(self, cfg: MoEConfig, *, rngs: nnx.Rngs):
        self.top_k = cfg.top_k
        self.router = nnx.Linear(cfg.dim, cfg.experts, rngs=rngs)
        init = nnx.initializers.lecun_normal()
        self.w_gate = nnx.Param(init(rngs.params(), (cfg.experts, cfg.dim, cfg.hidden)))
        self.w_up = nnx.Param(init(rngs.params(), (cfg.experts, cfg.dim, cfg.hidden)))
        self.w_down = nnx.Param(init(rngs.params(), (cfg.experts, cfg.hidden, cfg.dim)))

    def gates(self, x):
        """(B, T, experts): softmax weights on the top-k experts of each token, zero elsewhere."""
        logits = self.router(x)
        top, index = jax.lax.top_k(logits, self.top_k)
        weights = jax.nn.softmax(top, axis=-1)
        return jnp.sum(jax.nn.one_hot(index, logits.shape[-1], dtype=x.dtype) * weights[..., None], axis=-2)

    def __call__(self, x):
        h = nnx.silu(jnp.einsum("btd,edh->bteh", x, self.w_gate[...])) * jnp.einsum("btd,edh->bteh", x, self.w_up[...])
        out = jnp.einsum("bteh,ehd->bted", h, self.w_down[...])
        return jnp.einsum("bted,bte->btd", out, self.gates(x))


class MoEBlock(nnx.Module):
    def __init__(self, cfg: MoEConfig, *, rngs: nnx.Rngs):
        attn_cfg = LlamaConfig(dim=cfg.dim, heads=cfg.heads, kv_heads=cfg.kv_heads)
        self.attn_norm = nnx.RMSNorm(cfg.dim, rngs=rngs)
        self.attn = LlamaAttention(attn_cfg, rngs=rngs)
        self.moe_norm = nnx.RMSNorm(cfg.dim, rngs=rngs)
        self.moe = MoE(cfg, rngs=rngs)

    def __call__(self, x):
        positions = jnp.arange(x.shape[1]).astype(jnp.float32)
        x = x + self.attn(self.attn_norm(x), positions)[0]
        return x + self.moe(self.moe_norm(x))


MOE_SMALL = MoEConfig()
# GPT-OSS-20B's layer shape: 2880 wide, 64 query / 8 kv heads, 32 experts with top-4 routing.
MOE_FULL = MoEConfig(dim=2880, heads=64, kv_heads=8, experts=32, top_k=4, hidden=2880, seq=64)

example(
    "moe_block",
    description="Mixture-of-experts decoder block (GPT-OSS style): RMSNorm, grouped-query attention with rotary "
                "embeddings, a top-k router and SwiGLU experts combined by dense gate masking.",
    components=["examples.llama_prefill", "jax.lax.top_k", "jax.nn.one_hot", "flax.nnx.RMSNorm", "flax.nnx.Linear"],
    onnx=["TopK", "Softmax", "OneHot", "MatMul", "Einsum", "RMSNormalization"], since="0.1.0",
    build=lambda c: MoEBlock(c, rngs=nnx.Rngs(0)),
    inputs=lambda c: [("B", c.seq, c.dim)],
    configs={"small": MOE_SMALL, "full": MOE_FULL},
    module=__name__,
)
