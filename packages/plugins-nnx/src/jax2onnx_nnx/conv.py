"""nnx.Conv and nnx.ConvTranspose (channels-last) as ONNX Conv / ConvTranspose (channels-first)."""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from jax2onnx.plugin import LoweringContext, Testcase, call_lowering, cast_all, in_module

from ._util import channels_first, onnx_pads, same_pads, typed, value_of

_DOC = "https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/linear.html#flax.nnx.{}"
_INT64_MIN = np.iinfo(np.int64).min


def _per_dim(value, n: int) -> tuple[int, ...]:
    value = 1 if value is None else value
    return (value,) * n if isinstance(value, int) else tuple(value)


def _explicit_pads(padding, n: int) -> list[tuple[int, int]]:
    """(low, high) per spatial dim for an explicit (not string) padding."""
    return [(p, p) if isinstance(p, int) else tuple(p) for p in _per_dim(padding, n)]


def _is_plain(self, x, custom_conv: bool) -> bool:
    """One batch axis, no kernel mask, stock promotion: what a single ONNX node expresses."""
    return (len(x.shape) == len(self.kernel_size) + 2 and self.mask is None and not custom_conv
            and self.promote_dtype is nnx.nn.dtypes.promote_dtype and self.preferred_element_type is None)


def _kernel(ctx: LoweringContext, kernel, n: int, perm: list[int], flip: bool):
    """The kernel in ONNX layout (spatial axes last), optionally flipped; folded for constant kernels."""
    if flip:
        minus_one = ctx.const(np.full(n, -1, np.int64))
        kernel = typed(ctx.op.Slice(kernel, minus_one, ctx.const(np.full(n, _INT64_MIN, np.int64)),
                                    ctx.const(np.arange(n, dtype=np.int64)), minus_one), kernel.type)
    return typed(ctx.op.Transpose(kernel, perm=perm), kernel.type)


def _conv_padding(self, x, n: int, kernel_dilation) -> tuple[dict | None, tuple[str, list[int]] | None]:
    """Conv attributes for the padding (None: not expressible), and a (mode, pads) Pad to apply first."""
    padding = self.padding
    if padding == "SAME":
        pairs = same_pads(list(x.shape)[1:-1], self.kernel_size, _per_dim(self.strides, n), kernel_dilation)
        if pairs is not None:
            return {"pads": onnx_pads(pairs)}, None
        # ONNX Runtime computes SAME_UPPER (lax's SAME) at run time, but not with dilations.
        return ({"auto_pad": "SAME_UPPER"} if set(kernel_dilation) == {1} else None), None
    if padding == "VALID":
        return {}, None
    if padding in ("CIRCULAR", "REFLECT"):
        dilated = [(k - 1) * d + 1 for k, d in zip(self.kernel_size, kernel_dilation)]
        pairs = [(0, 0), (0, 0)] + [((k - 1) // 2, k // 2) for k in dilated]
        return {}, ("wrap" if padding == "CIRCULAR" else "reflect", onnx_pads(pairs))
    if padding == "CAUSAL":
        return {"pads": [kernel_dilation[0] * (self.kernel_size[0] - 1), 0]}, None
    return {"pads": onnx_pads(_explicit_pads(padding, n))}, None


def _conv(factory, shape, ops, **options):
    # ONNX Runtime has no float64 Conv/ConvTranspose kernel (the float64 model is valid ONNX).
    return Testcase(options.pop("name"), factory=factory, inputs=[shape], expect_ops=ops, x64=False, **options)


def _nnx_conv(*args, **kwargs):
    return lambda: nnx.Conv(*args, rngs=nnx.Rngs(0), **kwargs)


_T_CONV_T = ["Transpose", "Conv", "Transpose"]


@call_lowering("flax.nnx.Conv.__call__", component="flax.nnx.Conv", onnx=["Conv", "Transpose", "Pad"],
               since="0.1.0", doc=_DOC.format("Conv"),
               testcases=[
                   _conv(_nnx_conv(3, 4, (3, 3)), ("B", 8, 8, 3), _T_CONV_T, name="conv2d_same"),
                   _conv(_nnx_conv(3, 4, (3, 3), strides=2), ("B", "H", "H", 3), _T_CONV_T,
                         name="conv2d_same_strided_symbolic_size"),
                   _conv(_nnx_conv(3, 4, 3, padding="VALID", use_bias=False), ("B", 9, 3), _T_CONV_T,
                         name="conv1d_valid_no_bias"),
                   _conv(_nnx_conv(2, 4, (2, 3, 2), strides=(1, 2, 2)), ("B", 5, 7, 6, 2), _T_CONV_T,
                         name="conv3d_strided"),
                   _conv(_nnx_conv(4, 6, (3, 3), strides=2, kernel_dilation=2, feature_group_count=2),
                         ("B", 11, 10, 4), _T_CONV_T, name="conv2d_dilated_groups"),
                   _conv(_nnx_conv(3, 4, (3, 2), padding=((1, 2), (0, 1))), ("B", 6, 6, 3), _T_CONV_T,
                         name="conv2d_explicit_padding"),
                   _conv(_nnx_conv(3, 4, (3, 3), padding="CIRCULAR"), ("B", 6, 6, 3),
                         ["Transpose", "Pad", "Conv", "Transpose"], opsets=[23], name="conv2d_circular"),
                   _conv(_nnx_conv(3, 4, (3, 3), padding="REFLECT"), ("B", 6, 6, 3),
                         ["Transpose", "Pad", "Conv", "Transpose"], name="conv2d_reflect"),
                   _conv(_nnx_conv(3, 4, 3, padding="CAUSAL", kernel_dilation=2), ("B", 9, 3), _T_CONV_T,
                         name="conv1d_causal"),
                   _conv(lambda: nnx.Sequential(nnx.Conv(3, 4, (3, 3), rngs=nnx.Rngs(0)),
                                                nnx.Conv(4, 5, (3, 3), strides=2, rngs=nnx.Rngs(1))),
                         ("B", 8, 8, 3), ["Transpose", "Conv", "Conv", "Transpose"], name="conv2d_stacked"),
               ])
def lower_conv(ctx: LoweringContext, self, inputs, out_sharding=None):
    n = len(self.kernel_size)
    if not _is_plain(self, inputs, self.conv_general_dilated is not jax.lax.conv_general_dilated) \
            or any(d != 1 for d in _per_dim(self.input_dilation, n)):
        return NotImplemented
    pads = None if isinstance(self.padding, str) else _explicit_pads(self.padding, n)
    if pads is not None and any(p < 0 for pair in pads for p in pair):
        return NotImplemented
    kernel_dilation = _per_dim(self.kernel_dilation, n)
    attrs, pre_pad = _conv_padding(self, inputs, n, kernel_dilation)
    if attrs is None or pre_pad is not None and pre_pad[0] == "wrap" and ctx.opset < 19:
        return NotImplemented
    in_module(ctx, value_of(self.kernel))
    x, kernel, bias = cast_all(ctx, ctx.out_avals[0].dtype, inputs, value_of(self.kernel), value_of(self.bias))
    weight = _kernel(ctx, kernel, n, [n + 1, n, *range(n)], flip=False)

    def conv(t):
        if pre_pad is not None:
            t = ctx.op.Pad(t, ctx.const(np.array(pre_pad[1], np.int64)), mode=pre_pad[0])
        operands = (t, weight) if bias is None else (t, weight, bias)
        return ctx.op.Conv(*operands, strides=list(_per_dim(self.strides, n)), dilations=list(kernel_dilation),
                           group=self.feature_group_count, kernel_shape=list(self.kernel_size), **attrs)

    return channels_first(ctx, x, n + 1, n + 2, conv)


def _transpose_correlation_pads(self, n: int, strides, kernel_dilation) -> list[tuple[int, int]]:
    """The (low, high) padding lax.conv_transpose gives its stride-dilated correlation."""
    from jax._src.lax.convolution import _conv_transpose_padding

    if isinstance(self.padding, str):
        dilated = [(k - 1) * d + 1 for k, d in zip(self.kernel_size, kernel_dilation)]
        return [_conv_transpose_padding(k, s, self.padding) for k, s in zip(dilated, strides)]
    return _explicit_pads(self.padding, n)


def _conv_t(*args, **kwargs):
    return lambda: nnx.ConvTranspose(*args, rngs=nnx.Rngs(0), **kwargs)


_T_CONV_TRANSPOSE_T = ["Transpose", "ConvTranspose", "Transpose"]


@call_lowering("flax.nnx.ConvTranspose.__call__", component="flax.nnx.ConvTranspose",
               onnx=["ConvTranspose", "Transpose"], since="0.1.0", doc=_DOC.format("ConvTranspose"),
               testcases=[
                   _conv(_conv_t(3, 4, (3, 3), strides=2), ("B", 5, 6, 3), _T_CONV_TRANSPOSE_T,
                         name="conv_transpose_2d_same"),
                   _conv(_conv_t(3, 2, 4, strides=3, padding="VALID", use_bias=False), ("B", 5, 3),
                         _T_CONV_TRANSPOSE_T, name="conv_transpose_1d_valid"),
                   _conv(_conv_t(2, 3, 2, strides=4), ("B", 5, 2), _T_CONV_TRANSPOSE_T,
                         name="conv_transpose_wide_stride"),
                   _conv(_conv_t(2, 3, (3, 2), strides=(2, 1), kernel_dilation=(1, 2), padding=((2, 1), (1, 1))),
                         ("B", 4, 5, 2), _T_CONV_TRANSPOSE_T, name="conv_transpose_dilated_explicit"),
                   _conv(_conv_t(3, 4, (3, 2), strides=2, transpose_kernel=True), ("B", 4, 5, 3),
                         _T_CONV_TRANSPOSE_T, name="conv_transpose_transpose_kernel"),
               ])
def lower_conv_transpose(ctx: LoweringContext, self, inputs):
    n = len(self.kernel_size)
    if not _is_plain(self, inputs, False) or self.padding == "CIRCULAR":
        return NotImplemented
    strides, kernel_dilation = _per_dim(self.strides, n), _per_dim(self.kernel_dilation, n)
    correlation = _transpose_correlation_pads(self, n, strides, kernel_dilation)
    dilated = [(k - 1) * d + 1 for k, d in zip(self.kernel_size, kernel_dilation)]
    begin = [k - 1 - lo for k, (lo, _) in zip(dilated, correlation)]
    end = [k - 1 - hi for k, (_, hi) in zip(dilated, correlation)]
    if any(b < 0 for b in begin):
        return NotImplemented
    # Padding beyond the full output is output_padding (zeros at the end), not a negative pad.
    output_padding = [max(-e, 0) for e in end]
    in_module(ctx, value_of(self.kernel))
    x, kernel, bias = cast_all(ctx, ctx.out_avals[0].dtype, inputs, value_of(self.kernel), value_of(self.bias))
    if self.transpose_kernel:
        weight = _kernel(ctx, kernel, n, [n + 1, n, *range(n)], flip=False)
    else:
        weight = _kernel(ctx, kernel, n, [n, n + 1, *range(n)], flip=True)
    operands = (weight,) if bias is None else (weight, bias)
    return channels_first(ctx, x, n + 1, n + 2, lambda t: ctx.op.ConvTranspose(
        t, *operands, strides=list(strides), dilations=list(kernel_dilation), kernel_shape=list(self.kernel_size),
        pads=begin + [max(e, 0) for e in end], output_padding=output_padding))
