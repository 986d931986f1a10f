"""nnx normalization layers as their native ONNX ops."""

from __future__ import annotations

import numpy as np
from flax import nnx
from jax2onnx.plugin import Testcase, call_lowering

from ._util import cast_all, value_of

_DOC = "https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/normalization.html#flax.nnx.{}"


def _uses_running_average(self: nnx.BatchNorm, x, use_running_average=None, **_) -> bool:
    return bool(use_running_average if use_running_average is not None else self.use_running_average)


def _feature_first(ctx, x, axis: int, rank: int, normalize):
    """Applies ``normalize`` (which wants features on axis 1) with a Transpose on either side if needed."""
    if axis == 1:
        return normalize(x)
    perm = [0, axis] + [i for i in range(1, rank) if i != axis]
    y = normalize(ctx.op.Transpose(x, perm=perm))
    return ctx.op.Transpose(y, perm=[int(i) for i in np.argsort(perm)])


def _ones_or(ctx, value, size: int, dtype, fill: float):
    return value if value is not None else ctx.const(np.full((size,), fill, dtype=dtype))


@call_lowering("flax.nnx.BatchNorm.__call__", component="flax.nnx.BatchNorm",
               onnx=["BatchNormalization", "Transpose"], since="0.1.0", doc=_DOC.format("BatchNorm"),
               when=_uses_running_average,
               testcases=[
                   Testcase("batchnorm_eval", factory=lambda: nnx.BatchNorm(6, use_running_average=True,
                                                                           rngs=nnx.Rngs(0)),
                            inputs=[("B", 6)], expect_ops=["BatchNormalization"]),
                   Testcase("batchnorm_eval_nhwc",
                            factory=lambda: nnx.BatchNorm(3, use_running_average=True, use_bias=False,
                                                          rngs=nnx.Rngs(0)),
                            inputs=[("B", 4, 5, 3)], expect_ops=["Transpose", "BatchNormalization", "Transpose"]),
                   Testcase("batchnorm_eval_axis1",
                            factory=lambda: nnx.BatchNorm(4, axis=1, use_running_average=True, use_scale=False,
                                                          epsilon=1e-3, rngs=nnx.Rngs(0)),
                            inputs=[("B", 4, 5)], expect_ops=["BatchNormalization"]),
               ])
def lower_batchnorm(ctx, self, x, use_running_average=None, mask=None):
    rank = len(x.shape)
    axes = (self.axis,) if isinstance(self.axis, int) else tuple(self.axis)
    if mask is not None or rank < 2 or len(axes) != 1 or self.promote_dtype is not nnx.nn.dtypes.promote_dtype:
        return NotImplemented
    dtype = ctx.out_avals[0].dtype
    x, scale, bias, mean, var = cast_all(ctx, dtype, x, value_of(self.scale), value_of(self.bias),
                                         value_of(self.mean), value_of(self.var))
    size = self.num_features
    scale = _ones_or(ctx, scale, size, dtype, 1.0)
    bias = _ones_or(ctx, bias, size, dtype, 0.0)
    return _feature_first(ctx, x, axes[0] % rank, rank,
                          lambda t: ctx.op.BatchNormalization(t, scale, bias, mean, var, epsilon=self.epsilon))
