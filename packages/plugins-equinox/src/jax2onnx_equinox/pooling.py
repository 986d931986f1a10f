"""eqx.nn.MaxPool and AvgPool (1-3D) as ONNX MaxPool and AveragePool."""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import numpy as np

from jax2onnx.plugin import LoweringContext, Testcase, call_lowering

from ._util import both_ways, with_batch

_DOC = "https://docs.kidger.site/equinox/api/nn/pool/"


def _window(self) -> dict:
    return {"kernel_shape": list(self.kernel_size), "strides": list(self.stride),
            "pads": [lo for lo, _ in self.padding] + [hi for _, hi in self.padding]}


@call_lowering("equinox.nn.Pool.__call__", component="equinox.nn.MaxPool1d/2d/3d", onnx=["MaxPool"], since="0.1.0",
               doc=_DOC, batched=("x",),
               testcases=[
                   *both_ways("eqx_max_pool2d", lambda: eqx.nn.MaxPool2d(2, 2), (3, 8, 6),
                              plain_expect_ops=["Unsqueeze", "MaxPool", "Squeeze"], vmap_expect_ops=["MaxPool"]),
                   *both_ways("eqx_max_pool1d_padded", lambda: eqx.nn.MaxPool1d(3, 2, padding=1), (2, 9),
                              vmap_expect_ops=["MaxPool"]),
                   *both_ways("eqx_max_pool3d", lambda: eqx.nn.MaxPool3d(2, 1), (2, 3, 4, 3),
                              vmap_expect_ops=["MaxPool"]),
                   *both_ways("eqx_max_pool2d_ceil", lambda: eqx.nn.MaxPool2d(2, 2, use_ceil=True), (2, 5, 5)),
               ])
def lower_max_pool(ctx: LoweringContext, self, x, key=None):
    if self.operation is not jax.lax.max or self.use_ceil:
        return NotImplemented
    return with_batch(ctx, x, lambda v: ctx.op.MaxPool(v, **_window(self)))


def lower_avg_pool(ctx: LoweringContext, self, x, key=None):
    # ONNX Runtime has no float64 AveragePool: there the module's own sum and division are exported.
    if self.use_ceil or ctx.out_avals[0].dtype != np.float32:
        return NotImplemented
    # Equinox sums the zero-padded window and divides by its full size.
    return with_batch(ctx, x, lambda v: ctx.op.AveragePool(v, count_include_pad=1, **_window(self)))


def _vmapped_avg_pool(dims: int):
    return jax.vmap(getattr(eqx.nn, f"AvgPool{dims}d")(2, 2))


for _dims, _example in ((1, (2, 9)), (2, (3, 8, 6)), (3, (2, 4, 4, 3))):
    call_lowering(f"equinox.nn.AvgPool{_dims}d.__call__", component=f"equinox.nn.AvgPool{_dims}d",
                  onnx=["AveragePool"], since="0.1.0", doc=_DOC, batched=("x",),
                  testcases=[*both_ways(f"eqx_avg_pool{_dims}d",
                                        lambda d=_dims: getattr(eqx.nn, f"AvgPool{d}d")(2, 2, padding=1), _example,
                                        vmap_expect_ops=["AveragePool"], x64=False),
                             Testcase(f"eqx_avg_pool{_dims}d_f64",
                                      factory=functools.partial(_vmapped_avg_pool, _dims),
                                      inputs=[("B", *_example)], x64="only")])(lower_avg_pool)
