"""nnx.MultiHeadAttention as its projections (MatMul + Add) around one ONNX Attention (opset 23)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import onnx_ir as ir
from flax import nnx

from jax2onnx.plugin import LoweringContext, Testcase, call_lowering, coverage, in_module

from ._util import value_of
from .linear import flat_linear_general, is_plain_linear_general

_DOC = "https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/attention.html#flax.nnx.{}"
# jax.nn.dot_product_attention fills masked logits with this finite value (a fully masked row stays uniform).
_MASKED_LOGIT = -0.7 * float(np.finfo(np.float32).max)
_PROJECTIONS = ["MatMul", "Add"] * 3


def _select_on_flag(original, self, inputs_q, inputs_k=None, inputs_v=None, *, mask=None, deterministic=None,
                    rngs=None, sow_weights=False, decode=None, is_causal=False, out_sharding=None, qkv_sharding=None):
    """With a traced flag, both outcomes selected by it (attention dropout branches on the flag in Python)."""
    flag = deterministic if deterministic is not None else self.deterministic

    def call(deterministic):
        return original(self, inputs_q, inputs_k, inputs_v, mask=mask, deterministic=deterministic, rngs=rngs,
                        sow_weights=sow_weights, decode=decode, is_causal=is_causal, out_sharding=out_sharding,
                        qkv_sharding=qkv_sharding)

    if self.dropout_rate == 0 or not isinstance(flag, jax.core.Tracer):
        return call(flag)
    return jax.numpy.where(flag, call(True), call(False))


def _native_attention_fits(ctx: LoweringContext, self, inputs_q, mask, deterministic, sow_weights, decode,
                           is_causal) -> bool:
    flag = deterministic if deterministic is not None else self.deterministic
    dropout = self.dropout_rate > 0 and (isinstance(flag, ir.Value) or not flag)
    return (ctx.opset >= 23 and ctx.out_avals[0].dtype == np.float32 and len(inputs_q.shape) == 3
            and not (decode if decode is not None else self.decode) and not self.normalize_qk and not dropout
            and not sow_weights and self.attention_fn is nnx.dot_product_attention
            and not (mask is not None and is_causal)
            and self.out_promote_dtype is nnx.nn.dtypes.promote_dtype
            and all(is_plain_linear_general(m) for m in (self.query, self.key, self.value, self.out)))


def _mha(**kwargs):
    return lambda: nnx.MultiHeadAttention(rngs=nnx.Rngs(0), decode=False, **kwargs)


def _flag_call():
    attention = nnx.MultiHeadAttention(2, 8, dropout_rate=0.2, decode=False, rngs=nnx.Rngs(0))
    return lambda x, deterministic: attention(x, deterministic=deterministic)


def _with_mask(make_mask):
    def factory():
        attention = nnx.MultiHeadAttention(2, 8, decode=False, rngs=nnx.Rngs(0))
        return lambda x, *rest: attention(x, mask=make_mask(x, *rest))

    return factory


def _valid_keys(rng, shapes):
    valid = rng.random(shapes[1]) < 0.6
    valid[:, 0] = True  # every query attends to at least one key
    return [rng.standard_normal(shapes[0]), valid]


def _attention_present(model) -> None:
    ops = [n.op_type for n in model.graph.node]
    version = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    double = model.graph.input[0].type.tensor_type.elem_type == 11
    if ("Attention" in ops) != (version >= 23 and not double):
        raise AssertionError(f"Attention expected exactly at opset >= 23 in float32: {ops}")


# JAX runs the attention softmax in float32 even in float64 mode, hence float32 tolerances for both.
_TOLERANCE: dict[str, Any] = {"rtol": 1e-5, "atol": 1e-6}


@call_lowering("flax.nnx.MultiHeadAttention.__call__", component="flax.nnx.MultiHeadAttention",
               onnx=["MatMul", "Add", "Attention", "Where", "Cast"], since="0.1.0",
               doc=_DOC.format("MultiHeadAttention"), body=_select_on_flag,
               testcases=[
                   Testcase("mha_self", factory=_mha(num_heads=2, in_features=8), inputs=[("B", 5, 8)], opsets=[23],
                            x64=False, expect_ops=_PROJECTIONS + ["Attention", "MatMul", "Add"]),
                   Testcase("mha_cross_gqa", factory=_mha(num_heads=4, in_features=8, num_kv_heads=2,
                                                          in_kv_features=6, qkv_features=16, out_features=3),
                            inputs=[("B", 5, 8), ("B", 7, 6)], check_model=_attention_present, **_TOLERANCE),
                   Testcase("mha_no_bias_causal", factory=lambda: (lambda m: lambda x: m(x, is_causal=True))(
                       nnx.MultiHeadAttention(2, 8, use_bias=False, decode=False, rngs=nnx.Rngs(0))),
                            inputs=[("B", 6, 8)], check_model=_attention_present, **_TOLERANCE),
                   Testcase("mha_causal_mask", factory=_with_mask(lambda x: nnx.make_causal_mask(x[..., 0])),
                            inputs=[("B", 6, 8)], check_model=_attention_present, **_TOLERANCE),
                   Testcase("mha_padding_mask", factory=_with_mask(
                       lambda x, valid: nnx.make_attention_mask(jax.numpy.ones(x.shape[:2], bool), valid)),
                            inputs=[("B", 5, 8), ("B", 5)], input_dtypes=[np.float32, np.bool_],
                            input_values=_valid_keys, check_model=_attention_present, **_TOLERANCE),
                   Testcase("mha_dropout_flag_input", factory=_flag_call, inputs=[("B", 5, 8)],
                            input_params={"deterministic": True}, forbid_ops=("Identity", "Attention"), **_TOLERANCE),
               ])
def lower_multi_head_attention(ctx: LoweringContext, self, inputs_q, inputs_k=None, inputs_v=None, *, mask=None,
                               deterministic=None, rngs=None, sow_weights=False, decode=None, is_causal=False,
                               out_sharding=None, qkv_sharding=None):
    if not _native_attention_fits(ctx, self, inputs_q, mask, deterministic, sow_weights, decode, is_causal):
        return NotImplemented
    in_module(ctx, value_of(self.query.kernel), depth=2)
    inputs_k = inputs_q if inputs_k is None else inputs_k
    inputs_v = inputs_k if inputs_v is None else inputs_v
    dtype = ctx.out_avals[0].dtype
    q, k, v = (flat_linear_general(ctx, m, x, x.dtype.numpy(), dtype)
               for m, x in ((self.query, inputs_q), (self.key, inputs_k), (self.value, inputs_v)))
    attn_mask = None
    if mask is not None:
        fill = ctx.const(np.array(_MASKED_LOGIT, np.float32))
        attn_mask = ctx.op.Where(ctx.cast(mask, np.bool_), ctx.const(np.array(0, np.float32)), fill)
    heads = ctx.op.Attention(q, k, v, attn_mask, q_num_heads=self.num_heads, kv_num_heads=self.num_kv_heads,
                             is_causal=int(bool(is_causal)))
    return flat_linear_general(ctx, self.out, heads, dtype, dtype)


coverage("flax.nnx.dot_product_attention", via=["call:jax.nn.dot_product_attention"], onnx=["Attention"],
         since="0.1.0", doc=_DOC.format("dot_product_attention"),
         testcases=[Testcase("nnx_dot_product_attention", fn=lambda q, k, v: nnx.dot_product_attention(q, k, v),
                             inputs=[("B", 5, 2, 4)] * 3, check_model=_attention_present, **_TOLERANCE)],
         module=__name__)
