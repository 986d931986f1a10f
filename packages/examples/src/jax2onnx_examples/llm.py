"""Decoder-only language models: GPT-2, and a Llama-style decoder exported for prefill and for one decode step
with a KV cache (past keys and values in, updated cache out, the past length symbolic)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ._zoo import example


def causal_attention(q, k, v, past: int | jax.Array = 0):
    """Softmax attention of q (B, T, H, D) over k, v (B, S, Hkv, D), S = past + T; query t sees keys <= past + t.

    With fewer key/value heads than query heads (grouped-query attention) each kv head serves H / Hkv queries.
    """
    b, t, h, d = q.shape
    hkv = k.shape[2]
    q = q.reshape(b, t, hkv, h // hkv, d)
    scores = jnp.einsum("btkgd,bskd->bkgts", q, k) / np.sqrt(d).astype(np.float32)
    allowed = jnp.arange(k.shape[1])[None, :] <= jnp.arange(t)[:, None] + past
    scores = jnp.where(allowed, scores, jnp.finfo(scores.dtype).min)
    out = jnp.einsum("bkgts,bskd->btkgd", jax.nn.softmax(scores, axis=-1), v)
    return out.reshape(b, t, h * d)


# ---------------------------------------------------------------- GPT-2


@dataclasses.dataclass(frozen=True)
class GPT2Config:
    vocab: int = 96
    context: int = 32
    dim: int = 32
    layers: int = 2
    heads: int = 4
    seq: int = 8  # the sequence length a testcase exports at (the batch is symbolic)


class GPT2Block(nnx.Module):
    def __init__(self, cfg: GPT2Config, *, rngs: nnx.Rngs):
        self.heads = cfg.heads
        self.ln1 = nnx.LayerNorm(cfg.dim, epsilon=1e-5, rngs=rngs)
        self.qkv = nnx.Linear(cfg.dim, 3 * cfg.dim, rngs=rngs)
        self.proj = nnx.Linear(cfg.dim, cfg.dim, rngs=rngs)
        self.ln2 = nnx.LayerNorm(cfg.dim, epsilon=1e-5, rngs=rngs)
        self.fc = nnx.Linear(cfg.dim, 4 * cfg.dim, rngs=rngs)
        self.out = nnx.Linear(4 * cfg.dim, cfg.dim, rngs=rngs)

    def __call__(self, x):
        b, t, dim = x.shape
        q, k, v = jnp.split(self.qkv(self.ln1(x)).reshape(b, t, 3 * self.heads, dim // self.heads), 3, axis=2)
        x = x + self.proj(causal_attention(q, k, v))
        return x + self.out(nnx.gelu(self.fc(self.ln2(x)), approximate=True))


class GPT2(nnx.Module):
    """Token + learned position embedding, pre-norm causal blocks, final LayerNorm, head tied to the embedding."""

    def __init__(self, cfg: GPT2Config, *, rngs: nnx.Rngs):
        self.wte = nnx.Embed(cfg.vocab, cfg.dim, embedding_init=nnx.initializers.normal(0.02), rngs=rngs)
        self.wpe = nnx.Param(nnx.initializers.normal(0.01)(rngs.params(), (cfg.context, cfg.dim)))
        self.blocks = nnx.List([GPT2Block(cfg, rngs=rngs) for _ in range(cfg.layers)])
        self.ln_f = nnx.LayerNorm(cfg.dim, epsilon=1e-5, rngs=rngs)

    def __call__(self, tokens):
        x = self.wte(tokens) + self.wpe[...][: tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.wte.attend(self.ln_f(x))


GPT2_SMALL = GPT2Config()
GPT2_124M = GPT2Config(vocab=50257, context=1024, dim=768, layers=12, heads=12, seq=64)

example(
    "gpt2",
    description="GPT-2: token + position embedding, pre-norm causal self-attention blocks with a tanh-gelu MLP, "
                "final LayerNorm, output head tied to the token embedding. Full size is GPT-2 small (124M).",
    components=["flax.nnx.Embed", "flax.nnx.Embed.attend", "flax.nnx.LayerNorm", "flax.nnx.Linear", "flax.nnx.gelu"],
    onnx=["Gather", "LayerNormalization", "MatMul", "Softmax", "Where", "Gelu"],
    since="0.1.0",
    build=lambda c: GPT2(c, rngs=nnx.Rngs(0)),
    inputs=lambda c: [("B", c.seq)],
    input_dtypes=[np.int32],
    input_values=lambda rng, shapes: [rng.integers(0, GPT2_SMALL.vocab, size=s) for s in shapes],
    configs={"small": GPT2_SMALL, "full": GPT2_124M},
    module=__name__,
)


# ---------------------------------------------------------------- Llama


@dataclasses.dataclass(frozen=True)
class LlamaConfig:
    vocab: int = 96
    dim: int = 32
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    hidden: int = 64
    theta: float = 10000.0
    eps: float = 1e-5
    seq: int = 6  # the prompt length a prefill testcase exports at

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads


def rotary(x, positions, theta: float):
    """Rotary position embedding (rotate-half form) of x (B, T, H, D) at float positions (T,)."""
    half = x.shape[-1] // 2
    inv_freq = theta ** (-np.arange(half, dtype=np.float32) / half)
    angles = positions[:, None] * inv_freq[None, :]
    cos, sin = jnp.cos(angles)[None, :, None, :], jnp.sin(angles)[None, :, None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


class LlamaAttention(nnx.Module):
    def __init__(self, cfg: LlamaConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        d = cfg.head_dim
        self.wq = nnx.Linear(cfg.dim, cfg.heads * d, use_bias=False, rngs=rngs)
        self.wk = nnx.Linear(cfg.dim, cfg.kv_heads * d, use_bias=False, rngs=rngs)
        self.wv = nnx.Linear(cfg.dim, cfg.kv_heads * d, use_bias=False, rngs=rngs)
        self.wo = nnx.Linear(cfg.heads * d, cfg.dim, use_bias=False, rngs=rngs)

    def __call__(self, x, positions, past_k=None, past_v=None):
        """x (B, T, dim); past_k/past_v (B, Hkv, P, D) or None. Returns the output and this layer's full cache."""
        cfg, (b, t, _) = self.cfg, x.shape
        q = rotary(self.wq(x).reshape(b, t, cfg.heads, cfg.head_dim), positions, cfg.theta)
        k = rotary(self.wk(x).reshape(b, t, cfg.kv_heads, cfg.head_dim), positions, cfg.theta)
        v = self.wv(x).reshape(b, t, cfg.kv_heads, cfg.head_dim)
        k, v = k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3)  # the cache layout: (B, Hkv, S, D)
        past = 0
        if past_k is not None:
            past = past_k.shape[2]
            k, v = jnp.concatenate([past_k, k], axis=2), jnp.concatenate([past_v, v], axis=2)
        out = causal_attention(q, k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3), past)
        return self.wo(out), k, v


class LlamaBlock(nnx.Module):
    def __init__(self, cfg: LlamaConfig, *, rngs: nnx.Rngs):
        self.attn_norm = nnx.RMSNorm(cfg.dim, epsilon=cfg.eps, rngs=rngs)
        self.attn = LlamaAttention(cfg, rngs=rngs)
        self.mlp_norm = nnx.RMSNorm(cfg.dim, epsilon=cfg.eps, rngs=rngs)
        self.gate = nnx.Linear(cfg.dim, cfg.hidden, use_bias=False, rngs=rngs)
        self.up = nnx.Linear(cfg.dim, cfg.hidden, use_bias=False, rngs=rngs)
        self.down = nnx.Linear(cfg.hidden, cfg.dim, use_bias=False, rngs=rngs)

    def __call__(self, x, positions, past_k=None, past_v=None):
        h, k, v = self.attn(self.attn_norm(x), positions, past_k, past_v)
        x = x + h
        y = self.mlp_norm(x)
        return x + self.down(nnx.silu(self.gate(y)) * self.up(y)), k, v


class Llama(nnx.Module):
    """RMSNorm, rotary embeddings, grouped-query attention, SwiGLU MLP, untied output head."""

    def __init__(self, cfg: LlamaConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        self.embed = nnx.Embed(cfg.vocab, cfg.dim, embedding_init=nnx.initializers.normal(0.02), rngs=rngs)
        self.blocks = nnx.List([LlamaBlock(cfg, rngs=rngs) for _ in range(cfg.layers)])
        self.norm = nnx.RMSNorm(cfg.dim, epsilon=cfg.eps, rngs=rngs)
        self.head = nnx.Linear(cfg.dim, cfg.vocab, use_bias=False, rngs=rngs)

    def __call__(self, tokens, past_k=None, past_v=None):
        """tokens (B, T) -> logits (B, T, vocab) and the cache (layers, B, Hkv, P + T, D) for keys and values.

        ``past_k``/``past_v`` (layers, B, Hkv, P, D) hold the cache of the P tokens before these; None for a prompt.
        """
        past = 0 if past_k is None else past_k.shape[3]
        positions = (jnp.arange(tokens.shape[1]) + past).astype(jnp.float32)
        x = self.embed(tokens)
        keys, values = [], []
        for i, block in enumerate(self.blocks):
            x, k, v = block(x, positions, None if past_k is None else past_k[i], None if past_v is None else past_v[i])
            keys.append(k)
            values.append(v)
        return self.head(self.norm(x)), jnp.stack(keys), jnp.stack(values)


class LlamaDecodeStep(nnx.Module):
    """One decode step: the next token (B, 1) and the cache of P tokens -> logits (B, 1, vocab), cache of P + 1."""

    def __init__(self, model: Llama):
        self.model = model

    def __call__(self, token, past_k, past_v):
        return self.model(token, past_k, past_v)


LLAMA_SMALL = LlamaConfig()
# Llama-3.2-1B's shape: 16 layers, 2048 wide, 32 query heads over 8 kv heads, 8192-wide SwiGLU, 128256 tokens.
LLAMA_1B = LlamaConfig(vocab=128256, dim=2048, layers=16, heads=32, kv_heads=8, hidden=8192, theta=500000.0,
                       seq=64)
_LLAMA = ["flax.nnx.Embed", "flax.nnx.RMSNorm", "flax.nnx.Linear", "flax.nnx.silu"]
_LLAMA_OPS = ["Gather", "RMSNormalization", "MatMul", "Cos", "Sin", "Softmax", "Where", "Concat"]


def llama_cache_spec(cfg: LlamaConfig) -> tuple:
    return (cfg.layers, "B", cfg.kv_heads, "P", cfg.head_dim)


def _llama_values(rng, shapes):
    tokens, *caches = shapes
    return [rng.integers(0, LLAMA_SMALL.vocab, size=tokens), *(rng.standard_normal(s) for s in caches)]


example(
    "llama_prefill",
    description="Llama-style decoder on a prompt: RMSNorm, rotary embeddings, grouped-query causal attention, "
                "SwiGLU; returns the logits and the KV cache. Full size has Llama-3.2-1B's shape.",
    components=_LLAMA, onnx=_LLAMA_OPS, since="0.1.0",
    build=lambda c: Llama(c, rngs=nnx.Rngs(0)),
    inputs=lambda c: [("B", "T")],
    input_dtypes=[np.int32], input_values=_llama_values,
    configs={"small": LLAMA_SMALL, "full": LLAMA_1B},
    module=__name__,
)

example(
    "llama_decode",
    description="One decode step of the Llama-style decoder with a KV cache: the next token and the past keys and "
                "values (symbolic past length P) in; logits and the cache of P + 1 tokens out.",
    components=["examples.llama_prefill", *_LLAMA], onnx=_LLAMA_OPS, since="0.1.0",
    build=lambda c: LlamaDecodeStep(Llama(c, rngs=nnx.Rngs(0))),
    inputs=lambda c: [("B", 1), llama_cache_spec(c), llama_cache_spec(c)],
    input_dtypes=[np.int32, np.float32, np.float32], input_values=_llama_values,
    configs={"small": LLAMA_SMALL, "full": LLAMA_1B},
    module=__name__,
)
