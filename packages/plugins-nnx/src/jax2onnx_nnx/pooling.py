"""nnx.avg_pool / max_pool / min_pool (channels-last) as ONNX AveragePool / MaxPool (channels-first)."""

from __future__ import annotations

import numpy as np
from flax import nnx

from jax2onnx.plugin import LoweringContext, Testcase, call_lowering

from ._util import channels_first, onnx_pads, same_pads

_DOC = "https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/pooling.html#flax.nnx.{}"
_POOL_OPS = ["Transpose", "{}", "Transpose"]


def _pool(ctx: LoweringContext, op_type: str, inputs, window_shape, strides, padding, **attrs):
    """One pooling node between layout Transposes; NotImplemented for what it cannot express."""
    n, shape = len(window_shape), ctx.out_avals[0].shape
    if len(shape) != n + 2:
        return NotImplemented
    strides = tuple(strides) if strides else (1,) * n
    if padding == "SAME":
        pairs = same_pads(list(ctx.in_avals[0].shape)[1:-1], window_shape, strides, (1,) * n)
        pad_attrs = {"auto_pad": "SAME_UPPER"} if pairs is None else {"pads": onnx_pads(pairs)}
    elif padding == "VALID":
        pad_attrs = {}
    else:
        pairs = [tuple(p) for p in padding]
        if any(p < 0 for pair in pairs for p in pair):
            return NotImplemented
        pad_attrs = {"pads": onnx_pads(pairs)}
    return channels_first(ctx, inputs, n + 1, n + 2, lambda t: getattr(ctx.op, op_type)(
        t, kernel_shape=list(window_shape), strides=list(strides), **pad_attrs, **attrs))


def _case(name: str, fn, shape, op: str, **options) -> Testcase:
    return Testcase(name, fn=fn, inputs=[shape], expect_ops=[o.format(op) for o in _POOL_OPS], **options)


# ONNX Runtime has no float64 AveragePool kernel (the float64 model is valid ONNX).
@call_lowering("flax.nnx.avg_pool", onnx=["AveragePool", "Transpose"], since="0.1.0", doc=_DOC.format("avg_pool"),
               testcases=[
                   _case("avg_pool", lambda x: nnx.avg_pool(x, (2, 2)), ("B", 6, 6, 3), "AveragePool", x64=False),
                   _case("avg_pool_keywords_same", lambda x: nnx.avg_pool(x, window_shape=(3, 3), strides=(2, 2),
                                                                          padding="SAME"),
                         ("B", 7, 6, 2), "AveragePool", x64=False),
                   _case("avg_pool_exclude_pad", lambda x: nnx.avg_pool(x, (3,), (1,), "SAME", count_include_pad=False),
                         ("B", 7, 2), "AveragePool", x64=False),
                   _case("avg_pool_explicit_3d", lambda x: nnx.avg_pool(x, (2, 2, 2), (1, 2, 2),
                                                                        ((1, 0), (0, 1), (1, 1))),
                         ("B", 4, 5, 6, 2), "AveragePool", x64=False),
               ])
def lower_avg_pool(ctx: LoweringContext, inputs, window_shape, strides=None, padding="VALID", count_include_pad=True):
    return _pool(ctx, "AveragePool", inputs, window_shape, strides, padding,
                 count_include_pad=int(bool(count_include_pad)))


@call_lowering("flax.nnx.max_pool", onnx=["MaxPool", "Transpose"], since="0.1.0", doc=_DOC.format("max_pool"),
               testcases=[
                   _case("max_pool", lambda x: nnx.max_pool(x, (2, 2), strides=(2, 2)), ("B", 6, 6, 3), "MaxPool"),
                   _case("max_pool_same_symbolic", lambda x: nnx.max_pool(x, window_shape=(3, 3), strides=(2, 2),
                                                                          padding="SAME"),
                         ("B", "H", "W", 2), "MaxPool"),
                   _case("max_pool_1d_explicit", lambda x: nnx.max_pool(x, (3,), padding=((1, 1),)), ("B", 7, 2),
                         "MaxPool"),
               ])
def lower_max_pool(ctx: LoweringContext, inputs, window_shape, strides=None, padding="VALID"):
    return _pool(ctx, "MaxPool", inputs, window_shape, strides, padding)


@call_lowering("flax.nnx.min_pool", onnx=["Neg", "MaxPool", "Transpose"], since="0.1.0", doc=_DOC.format("min_pool"),
               testcases=[Testcase("min_pool", fn=lambda x: nnx.min_pool(x, (2, 2), padding="SAME"),
                                   inputs=[("B", 5, 5, 3)],
                                   expect_ops=["Neg", "Transpose", "MaxPool", "Transpose", "Neg"])])
def lower_min_pool(ctx: LoweringContext, inputs, window_shape, strides=None, padding="VALID"):
    # min = -max(-x) holds for floats only (negating the smallest integer overflows).
    if not np.issubdtype(ctx.out_avals[0].dtype, np.floating):
        return NotImplemented
    pooled = _pool(ctx, "MaxPool", ctx.op.Neg(inputs), window_shape, strides, padding)
    return NotImplemented if pooled is NotImplemented else ctx.op.Neg(pooled)
