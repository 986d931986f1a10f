"""A pre-norm transformer encoder block: multi-head self-attention and an MLP, with LayerNorm."""

from flax import nnx
from onnx import ModelProto

from jax2onnx.plugin import Testcase

from ._zoo import example


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


def _layernorm_native_from_17(model: ModelProto) -> None:
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    ops = [n.op_type for n in model.graph.node]
    if ops.count("LayerNormalization") != (2 if opset >= 17 else 0):
        raise AssertionError(f"opset {opset}: LayerNormalization should be native from opset 17: {ops}")


def make_block(cfg: tuple[int, int, int, int]) -> EncoderBlock:
    dim, heads, hidden, _ = cfg
    return EncoderBlock(dim, heads, hidden, rngs=nnx.Rngs(0))


example(
    "transformer_block",
    description="A pre-norm transformer encoder block: multi-head self-attention and a gelu MLP, with LayerNorm.",
    components=["flax.nnx.MultiHeadAttention", "flax.nnx.LayerNorm", "flax.nnx.Linear", "flax.nnx.gelu"],
    onnx=["LayerNormalization", "MatMul", "Softmax", "Gelu"],
    since="0.1.0",
    build=make_block,
    inputs=lambda cfg: [("B", cfg[3], cfg[0])],
    configs={"small": (32, 4, 64, 10), "full": (768, 12, 3072, 197)},
    opsets=None,
    testcases=[Testcase("example_transformer_block_old_opsets",
                        factory=lambda: EncoderBlock(32, 4, 64, rngs=nnx.Rngs(0)),
                        inputs=[("B", 10, 32)], x64=False, rtol=1e-4, atol=1e-5, opsets=(17, 16),
                        check_model=_layernorm_native_from_17)],
    module=__name__,
)
