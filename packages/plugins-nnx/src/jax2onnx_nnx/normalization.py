"""nnx normalization layers as their native ONNX ops."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import onnx_ir as ir
from flax import nnx

from jax2onnx.plugin import LoweringContext, Testcase, call_lowering, cast_all, in_module

from ._util import channels_first, value_of

_DOC = "https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/normalization.html#flax.nnx.{}"


def _flag_call(bn: nnx.BatchNorm):
    return lambda x, use_running_average: bn(x, use_running_average=use_running_average)


def _running_average(self: nnx.BatchNorm, use_running_average):
    return use_running_average if use_running_average is not None else self.use_running_average


def _has_flag(self: nnx.BatchNorm, x, use_running_average=None, **_) -> bool:
    # Wrapping also lets a training-mode call update the statistics of the copy the named call
    # rebuilds inside the trace, where NNX allows it (the model's own stay untouched).
    return _running_average(self, use_running_average) is not None


def _select_on_flag(original, self: nnx.BatchNorm, x, use_running_average=None, *, mask=None):
    """With a traced flag, both outcomes selected by it (the original branches on the flag in Python)."""
    flag = _running_average(self, use_running_average)
    if not isinstance(flag, jax.core.Tracer):
        return original(self, x, flag, mask=mask)
    return jnp.where(flag, original(self, x, True, mask=mask), original(self, x, False, mask=mask))


def _or_filled(ctx: LoweringContext, value, size: int, dtype, fill: float):
    """The parameter, or a constant standing in for an absent scale (1) or bias (0)."""
    return value if value is not None else ctx.const(np.full((size,), fill, dtype=dtype))


def _stash_type(dtype) -> ir.DataType:
    """nnx computes statistics in at least float32 (float64 stays float64)."""
    return ir.DataType.from_numpy(np.promote_types(dtype, np.float32))


def _first_weight(self):
    return value_of(self.scale) if self.scale is not None else value_of(getattr(self, "bias", None))


def _axes(axes, rank: int) -> tuple[int, ...]:
    return tuple(sorted(a % rank for a in ((axes,) if isinstance(axes, int) else axes)))


def _is_plain(self, mask) -> bool:
    """Masks, cross-device statistics and custom promotion have no native op equivalent."""
    return (mask is None and getattr(self, "axis_name", None) is None
            and self.promote_dtype is nnx.nn.dtypes.promote_dtype)


@call_lowering("flax.nnx.BatchNorm.__call__", component="flax.nnx.BatchNorm",
               onnx=["BatchNormalization", "Transpose"], since="0.1.0", doc=_DOC.format("BatchNorm"),
               when=_has_flag, body=_select_on_flag,
               testcases=[
                   Testcase("batchnorm_eval", factory=lambda: nnx.BatchNorm(6, use_running_average=True,
                                                                           rngs=nnx.Rngs(0)),
                            inputs=[("B", 6)], expect_ops=["BatchNormalization"]),
                   Testcase("batchnorm_eval_nhwc",
                            factory=lambda: nnx.BatchNorm(3, use_running_average=True, use_bias=False,
                                                          rngs=nnx.Rngs(0)),
                            inputs=[("B", 4, 5, 3)], expect_ops=["Transpose", "BatchNormalization", "Transpose"]),
                   Testcase("batchnorm_flag_input",
                            factory=lambda: _flag_call(nnx.BatchNorm(6, rngs=nnx.Rngs(0))), inputs=[("B", 6)],
                            input_params={"use_running_average": True},
                            expect_ops=["BatchNormalization", "ReduceMean", "Mul", "ReduceMean", "Mul", "Sub", "Max",
                                        "BatchNormalization", "Where"]),
                   # E[x^2] - E[x]^2 over a small batch loses a few float32 digits, in JAX and ONNX Runtime alike.
                   Testcase("batchnorm_training",
                            factory=lambda: nnx.BatchNorm(3, use_running_average=False, rngs=nnx.Rngs(0)),
                            inputs=[("B", 4, 3)], rtol=1e-4, atol=1e-4,
                            expect_ops=["Transpose", "ReduceMean", "Mul", "ReduceMean", "Mul", "Sub", "Max",
                                        "BatchNormalization", "Transpose"]),
                   Testcase("batchnorm_eval_axis1",
                            factory=lambda: nnx.BatchNorm(4, axis=1, use_running_average=True, use_scale=False,
                                                          epsilon=1e-3, rngs=nnx.Rngs(0)),
                            inputs=[("B", 4, 5)], expect_ops=["BatchNormalization"]),
               ])
def lower_batchnorm(ctx: LoweringContext, self, x, use_running_average=None, mask=None):
    rank = len(x.shape)
    axes = (self.axis,) if isinstance(self.axis, int) else tuple(self.axis)
    if not _is_plain(self, mask) or rank < 2 or len(axes) != 1:
        return NotImplemented
    in_module(ctx, value_of(self.mean))
    dtype = ctx.out_avals[0].dtype
    x, scale, bias, mean, var = cast_all(ctx, dtype, x, value_of(self.scale), value_of(self.bias),
                                         value_of(self.mean), value_of(self.var))
    size = self.num_features
    scale = _or_filled(ctx, scale, size, dtype, 1.0)
    bias = _or_filled(ctx, bias, size, dtype, 0.0)
    flag = _running_average(self, use_running_average)

    traced = isinstance(flag, ir.Value)
    if not traced and not flag and not self.use_fast_variance:
        return NotImplemented

    def normalize(t):
        stored = ctx.op.BatchNormalization(t, scale, bias, mean, var, epsilon=self.epsilon)
        if not traced and flag:
            return stored
        # The batch's statistics as nnx computes them (E[x^2] - E[x]^2, clipped at 0); ONNX Runtime's
        # training_mode BatchNormalization does not reproduce JAX's training-mode output.
        axes = ctx.const(np.array([0, *range(2, rank)], np.int64))
        batch_mean = ctx.op.ReduceMean(t, axes, keepdims=0)
        batch_var = ctx.op.Max(ctx.op.Sub(ctx.op.ReduceMean(ctx.op.Mul(t, t), axes, keepdims=0),
                                          ctx.op.Mul(batch_mean, batch_mean)), ctx.const(np.array(0, dtype)))
        batch = ctx.op.BatchNormalization(t, scale, bias, batch_mean, batch_var, epsilon=self.epsilon)
        return ctx.op.Where(flag, stored, batch) if traced else batch

    return channels_first(ctx, x, axes[0] % rank, rank, normalize)


def _native(ctx: LoweringContext) -> bool:
    """False under normalization_mode="force_decomposed": the module's JAX body is lowered instead."""
    return ctx.options.native_normalization


def _last_axis_norm(self, x) -> int | None:
    """The first normalized axis when features are the last axis and statistics cover a suffix, else None."""
    rank = len(x.shape)
    reduction = _axes(self.reduction_axes, rank)
    if _axes(self.feature_axes, rank) != (rank - 1,) or reduction != tuple(range(reduction[0], rank)):
        return None
    return reduction[0]


@call_lowering("flax.nnx.LayerNorm.__call__", component="flax.nnx.LayerNorm", onnx=["LayerNormalization"],
               since="0.1.0", doc=_DOC.format("LayerNorm"),
               testcases=[
                   Testcase("layernorm", factory=lambda: nnx.LayerNorm(6, rngs=nnx.Rngs(0)),
                            inputs=[("B", 6)], expect_ops=["LayerNormalization"]),
                   # ONNX float attributes are 32-bit: an epsilon exact in float32 keeps float64 mode exact.
                   Testcase("layernorm_no_bias_3d", factory=lambda: nnx.LayerNorm(6, use_bias=False, epsilon=2**-10,
                                                                                 rngs=nnx.Rngs(0)),
                            inputs=[("B", 5, 6)], expect_ops=["LayerNormalization"]),
                   Testcase("layernorm_two_axes",
                            factory=lambda: nnx.LayerNorm(6, use_scale=False, reduction_axes=(-2, -1),
                                                          rngs=nnx.Rngs(0)),
                            inputs=[("B", 5, 6)], expect_ops=["LayerNormalization"]),
                   Testcase("layernorm_feature_axis_1",
                            factory=lambda: nnx.LayerNorm(5, reduction_axes=1, feature_axes=1, rngs=nnx.Rngs(0)),
                            inputs=[("B", 5, 6)], forbid_ops=("LayerNormalization",)),
               ])
def lower_layernorm(ctx: LoweringContext, self, x, mask=None):
    axis = _last_axis_norm(self, x)
    if ctx.opset < 17 or not _native(ctx) or not _is_plain(self, mask) or axis is None:
        return NotImplemented
    in_module(ctx, _first_weight(self))
    dtype = ctx.out_avals[0].dtype
    x, scale, bias = cast_all(ctx, dtype, x, value_of(self.scale), value_of(self.bias))
    scale = _or_filled(ctx, scale, self.num_features, dtype, 1.0)
    inputs = (x, scale) if bias is None else (x, scale, bias)
    return ctx.op.LayerNormalization(*inputs, axis=axis, epsilon=self.epsilon, stash_type=_stash_type(dtype))


@call_lowering("flax.nnx.RMSNorm.__call__", component="flax.nnx.RMSNorm", onnx=["RMSNormalization"],
               since="0.1.0", doc=_DOC.format("RMSNorm"),
               testcases=[
                   Testcase("rmsnorm", factory=lambda: nnx.RMSNorm(6, rngs=nnx.Rngs(0)),
                            inputs=[("B", 6)], opsets=[23], expect_ops=["RMSNormalization"]),
                   Testcase("rmsnorm_3d_no_scale", factory=lambda: nnx.RMSNorm(6, use_scale=False, rngs=nnx.Rngs(0)),
                            inputs=[("B", 5, 6)], opsets=[23], expect_ops=["RMSNormalization"]),
                   Testcase("rmsnorm_decomposed", factory=lambda: nnx.RMSNorm(6, rngs=nnx.Rngs(0)),
                            inputs=[("B", 5, 6)], opsets=[18], forbid_ops=("RMSNormalization",)),
               ])
def lower_rmsnorm(ctx: LoweringContext, self, x, mask=None):
    axis = _last_axis_norm(self, x)
    if ctx.opset < 23 or not _native(ctx) or not _is_plain(self, mask) or axis is None:
        return NotImplemented
    in_module(ctx, _first_weight(self))
    dtype = ctx.out_avals[0].dtype
    x, scale = cast_all(ctx, dtype, x, value_of(self.scale))
    scale = _or_filled(ctx, scale, self.num_features, dtype, 1.0)
    return ctx.op.RMSNormalization(x, scale, axis=axis, epsilon=self.epsilon, stash_type=_stash_type(dtype))


@call_lowering("flax.nnx.GroupNorm.__call__", component="flax.nnx.GroupNorm", onnx=["GroupNormalization", "Transpose"],
               since="0.1.0", doc=_DOC.format("GroupNorm"),
               testcases=[
                   Testcase("groupnorm_nhwc", factory=lambda: nnx.GroupNorm(6, num_groups=3, rngs=nnx.Rngs(0)),
                            inputs=[("B", 4, 5, 6)], opsets=[23],
                            expect_ops=["Transpose", "GroupNormalization", "Transpose"]),
                   Testcase("groupnorm_2d", factory=lambda: nnx.GroupNorm(6, num_groups=None, group_size=3,
                                                                         use_bias=False, rngs=nnx.Rngs(0)),
                            inputs=[("B", 6)], opsets=[23], expect_ops=["GroupNormalization"]),
                   Testcase("groupnorm_decomposed", factory=lambda: nnx.GroupNorm(6, num_groups=2, rngs=nnx.Rngs(0)),
                            inputs=[("B", 5, 6)], opsets=[18], forbid_ops=("GroupNormalization",)),
               ])
def lower_groupnorm(ctx: LoweringContext, self, x, mask=None):
    rank = len(x.shape)
    everything_but_batch = self.reduction_axes is None or _axes(self.reduction_axes, rank) == tuple(range(1, rank))
    # GroupNormalization-18 takes one scale per group; per-channel scales need opset 21.
    if ctx.opset < 21 or not _native(ctx) or not _is_plain(self, mask) or not everything_but_batch or rank < 2:
        return NotImplemented
    in_module(ctx, _first_weight(self))
    dtype, features = ctx.out_avals[0].dtype, x.shape[-1]
    x, scale, bias = cast_all(ctx, dtype, x, value_of(self.scale), value_of(self.bias))
    scale = _or_filled(ctx, scale, features, dtype, 1.0)
    bias = _or_filled(ctx, bias, features, dtype, 0.0)
    return channels_first(ctx, x, rank - 1, rank, lambda t: ctx.op.GroupNormalization(
        t, scale, bias, num_groups=self.num_groups, epsilon=self.epsilon, stash_type=_stash_type(dtype)))


@call_lowering("flax.nnx.InstanceNorm.__call__", component="flax.nnx.InstanceNorm",
               onnx=["InstanceNormalization", "Transpose"], since="0.1.0", doc=_DOC.format("InstanceNorm"),
               testcases=[
                   # ONNX Runtime has no float64 InstanceNormalization kernel (the float64 model is valid ONNX).
                   Testcase("instancenorm_nhwc", factory=lambda: nnx.InstanceNorm(3, rngs=nnx.Rngs(0)),
                            inputs=[("B", 4, 5, 3)], expect_ops=["Transpose", "InstanceNormalization", "Transpose"],
                            x64=False),
                   Testcase("instancenorm_ncw", factory=lambda: nnx.InstanceNorm(4, feature_axes=1, use_scale=False,
                                                                                rngs=nnx.Rngs(0)),
                            inputs=[("B", 4, 7)], expect_ops=["InstanceNormalization"], x64=False),
               ])
def lower_instancenorm(ctx: LoweringContext, self, x, mask=None):
    rank = len(x.shape)
    features = _axes(self.feature_axes, rank)
    if not _is_plain(self, mask) or len(features) != 1 or rank < 3:
        return NotImplemented
    in_module(ctx, _first_weight(self))
    dtype = ctx.out_avals[0].dtype
    x, scale, bias = cast_all(ctx, dtype, x, value_of(self.scale), value_of(self.bias))
    scale = _or_filled(ctx, scale, self.num_features, dtype, 1.0)
    bias = _or_filled(ctx, bias, self.num_features, dtype, 0.0)
    return channels_first(ctx, x, features[0], rank,
                          lambda t: ctx.op.InstanceNormalization(t, scale, bias, epsilon=self.epsilon))
