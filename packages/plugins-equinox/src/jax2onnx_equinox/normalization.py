"""eqx.nn.LayerNorm, RMSNorm, GroupNorm and BatchNorm (inference) as ONNX's normalization ops.

Equinox normalizes one example at a time; under ``vmap`` the rule sees the batch in front,
which is ONNX's N. Below each op's opset, or for dtypes ONNX's ops do not take, the module's
own computation is exported instead.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import numpy as np

from jax2onnx.plugin import LoweringContext, Testcase, call_lowering, cast_all, in_module

from ._util import both_ways, with_batch

_DOC = "https://docs.kidger.site/equinox/api/nn/normalisation/"
_FLOATS = (np.float32, np.float64)


def _affine(ctx: LoweringContext, self, dtype, shape, use_weight, use_bias):
    """The weight and bias an ONNX op wants (ones and zeros where the module has none)."""
    weight = self.weight if use_weight else ctx.const(np.ones(shape, dtype))
    bias = self.bias if use_bias else ctx.const(np.zeros(shape, dtype))
    return cast_all(ctx, dtype, weight, bias)


def _norm_result(y, state):
    """The output, and the state passed through when the call was given one."""
    return [y, *jax.tree_util.tree_leaves(state)] if isinstance(state, eqx.nn.State) else y


@call_lowering("equinox.nn.LayerNorm.__call__", component="equinox.nn.LayerNorm", onnx=["LayerNormalization"],
               since="0.1.0", doc=_DOC, batched=("x",),
               testcases=[
                   *both_ways("eqx_layer_norm", lambda: eqx.nn.LayerNorm(6), (6,), opsets=[23],
                              expect_ops=["LayerNormalization"]),
                   *both_ways("eqx_layer_norm_2d_no_affine",
                              lambda: eqx.nn.LayerNorm((3, 4), use_weight=False, use_bias=False), (3, 4),
                              opsets=[23], expect_ops=["LayerNormalization"]),
                   Testcase("eqx_layer_norm_opset16", factory=lambda: jax.vmap(eqx.nn.LayerNorm(6)), inputs=[("B", 6)],
                            opsets=[16], forbid_ops=("Identity", "LayerNormalization")),
               ])
def lower_layer_norm(ctx: LoweringContext, self, x, state=None, key=None):
    dtype = ctx.out_avals[0].dtype
    if ctx.opset < 17 or dtype not in _FLOATS:
        return NotImplemented
    in_module(ctx, self.weight if self.use_weight else self.bias)
    weight, bias = _affine(ctx, self, dtype, self.shape, self.use_weight, self.use_bias)
    y = ctx.op.LayerNormalization(x, weight, bias, axis=-len(self.shape), epsilon=self.eps)
    return _norm_result(y, state)


@call_lowering("equinox.nn.RMSNorm.__call__", component="equinox.nn.RMSNorm", onnx=["RMSNormalization", "Add"],
               since="0.1.0", doc=_DOC, batched=("x",),
               testcases=[
                   *both_ways("eqx_rms_norm", lambda: eqx.nn.RMSNorm(6, use_bias=False), (6,), opsets=[23],
                              expect_ops=["RMSNormalization"]),
                   *both_ways("eqx_rms_norm_bias", lambda: eqx.nn.RMSNorm((3, 4), use_bias=True), (3, 4),
                              opsets=[23], expect_ops=["RMSNormalization", "Add"]),
                   Testcase("eqx_rms_norm_opset18", factory=lambda: jax.vmap(eqx.nn.RMSNorm(6)), inputs=[("B", 6)],
                            opsets=[18], forbid_ops=("Identity", "RMSNormalization")),
               ])
def lower_rms_norm(ctx: LoweringContext, self, x, state=None, key=None):
    dtype = ctx.out_avals[0].dtype
    if ctx.opset < 23 or dtype not in _FLOATS:
        return NotImplemented
    in_module(ctx, self.weight if self.use_weight else self.bias)
    (weight,) = cast_all(ctx, dtype, self.weight if self.use_weight else ctx.const(np.ones(self.shape, dtype)))
    y = ctx.op.RMSNormalization(x, weight, axis=-len(self.shape), epsilon=self.eps)
    if self.use_bias:
        y = ctx.op.Add(y, *cast_all(ctx, dtype, self.bias))
    return _norm_result(y, state)


@call_lowering("equinox.nn.GroupNorm.__call__", component="equinox.nn.GroupNorm", onnx=["GroupNormalization"],
               since="0.1.0", doc=_DOC, batched=("x",),
               testcases=[
                   *both_ways("eqx_group_norm", lambda: eqx.nn.GroupNorm(2, 4), (4, 5), opsets=[21, 23],
                              plain_expect_ops=["Unsqueeze", "GroupNormalization", "Squeeze"],
                              vmap_expect_ops=["GroupNormalization"]),
                   *both_ways("eqx_group_norm_no_affine", lambda: eqx.nn.GroupNorm(3, 6, channelwise_affine=False),
                              (6, 2, 3), opsets=[21]),
                   Testcase("eqx_group_norm_opset18", factory=lambda: jax.vmap(eqx.nn.GroupNorm(2, 4)),
                            inputs=[("B", 4, 5)], opsets=[18], forbid_ops=("Identity", "GroupNormalization")),
               ])
def lower_group_norm(ctx: LoweringContext, self, x, state=None, key=None):
    dtype = ctx.out_avals[0].dtype
    # Opset 21's GroupNormalization scales per channel, as Equinox does (opset 18's is per group).
    if ctx.opset < 21 or dtype not in _FLOATS:
        return NotImplemented
    in_module(ctx, self.weight)
    weight, bias = _affine(ctx, self, dtype, (self.channels,), self.channelwise_affine, self.channelwise_affine)
    # Statistics in the input's precision (the op's default is float32).
    group_norm = functools.partial(ctx.op.GroupNormalization, num_groups=self.groups, epsilon=self.eps,
                                   stash_type=weight.dtype.value)
    y = with_batch(ctx, x, lambda v: group_norm(v, weight, bias))
    return _norm_result(y, state)


def _batch_norm(channels):
    """An inference-mode BatchNorm, its running statistics set off their defaults, vmapped as Equinox asks."""
    bn, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(channels, "batch", mode="ema")
    rng = np.random.default_rng(0)
    stats = (rng.uniform(-1, 1, channels).astype(np.float32), rng.uniform(0.5, 2, channels).astype(np.float32))
    state = state.set(bn.ema_state_index, tuple(jax.numpy.asarray(s) for s in stats))
    bn = eqx.nn.inference_mode(bn)
    return lambda x: jax.vmap(lambda xi: bn(xi, state)[0], axis_name="batch")(x)


@call_lowering("equinox.nn.BatchNorm.__call__", component="equinox.nn.BatchNorm", onnx=["BatchNormalization"],
               since="0.1.0", doc=_DOC, batched=("x",),
               testcases=[
                   Testcase("eqx_batch_norm_inference", factory=lambda: _batch_norm(4), inputs=[("B", 4, 3, 3)],
                            expect_ops=["BatchNormalization"], x64=False),
                   Testcase("eqx_batch_norm_inference_1d", factory=lambda: _batch_norm(5), inputs=[("B", 5)],
                            expect_ops=["BatchNormalization"], x64=False),
                   Testcase("eqx_batch_norm_inference_f64", factory=lambda: _batch_norm(4), inputs=[("B", 4, 3)],
                            x64="only", forbid_ops=("Identity", "BatchNormalization")),
               ])
def lower_batch_norm(ctx: LoweringContext, self, x, state, key=None, inference=None):
    dtype = ctx.out_avals[0].dtype
    # ONNX Runtime's float64 BatchNormalization is off by ~1e-7: float64 keeps the module's computation.
    if not (self.inference if inference is None else inference) or self.mode != "ema" or dtype != np.float32:
        return NotImplemented
    in_module(ctx, self.weight)
    mean, var = cast_all(ctx, dtype, *state.get(self.ema_state_index))
    weight, bias = _affine(ctx, self, dtype, (self.input_size,), self.channelwise_affine, self.channelwise_affine)
    y = with_batch(ctx, x, lambda v: ctx.op.BatchNormalization(v, weight, bias, mean, var, epsilon=self.eps))
    return [y, *jax.tree_util.tree_leaves(state)]
