"""A pre-norm transformer encoder block: multi-head self-attention and an MLP, with LayerNorm."""

from flax import nnx

from jax2onnx.plugin import Testcase, coverage


class EncoderBlock(nnx.Module):
    def __init__(self, dim: int, heads: int, hidden: int, *, rngs: nnx.Rngs):
        self.norm1 = nnx.LayerNorm(dim, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(num_heads=heads, in_features=dim, decode=False, rngs=rngs)
        self.norm2 = nnx.LayerNorm(dim, rngs=rngs)
        self.mlp_in = nnx.Linear(dim, hidden, rngs=rngs)
        self.mlp_out = nnx.Linear(hidden, dim, rngs=rngs)

    def __call__(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp_out(nnx.gelu(self.mlp_in(self.norm2(x))))


coverage(
    "examples.transformer_block",
    via=["flax.nnx.MultiHeadAttention", "flax.nnx.LayerNorm", "flax.nnx.Linear", "flax.nnx.gelu"],
    onnx=["LayerNormalization", "MatMul", "Softmax", "Gelu"],
    since="0.1.0",
    # Attention sums over the sequence and the head dims in another order in ONNX Runtime.
    testcases=[Testcase("example_transformer_block",
                        factory=lambda: EncoderBlock(32, 4, 64, rngs=nnx.Rngs(0)),
                        inputs=[("B", 10, 32)], x64=False, rtol=1e-4, atol=1e-5)],
    module=__name__,
)
