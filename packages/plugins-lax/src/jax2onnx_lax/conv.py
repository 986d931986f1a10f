"""conv_general_dilated as Conv, or as ConvTranspose when the input is dilated (transposed convolution); integer
convolutions (transposed ones too) as an int64 MatMul over the input's windows, empty results as a constant."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import onnx_ir as ir

from jax2onnx.plugin import LoweringContext, Testcase, lowering
from jax2onnx_lax.linalg import rearrange
from jax2onnx_lax.shapes import is_static

DOC = "https://docs.jax.dev/en/latest/_autosummary/jax.lax.conv_general_dilated.html"
CONV_DTYPES = {"float16", "float32", "float64"}
INT64_MAX, INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min


def _ints(ctx: LoweringContext, values: Sequence[int]) -> ir.Value:
    return ctx.const(np.array(values, dtype=np.int64))


def _unless(values: Sequence[int], default: int) -> list[int] | None:
    """An attribute value, or None (omitted) when every entry is the default."""
    return list(values) if any(v != default for v in values) else None


def _batch_groups_as_features(ctx: LoweringContext, x: ir.Value, groups: int, shape: Sequence) -> ir.Value:
    """(G*N, C, ...) -> (N, G*C, ...): XLA's batch group g is the g-th block of the batch."""
    n, c, *spatial = shape
    x = ctx.op.Reshape(x, ctx.shape_tensor([groups, n // groups, c, *spatial]))
    x = ctx.op.Transpose(x, perm=[1, 0, *range(2, len(shape) + 1)])
    return ctx.op.Reshape(x, ctx.shape_tensor([n // groups, groups * c, *spatial]))


def _conv(ctx: LoweringContext, x, kernel, window_strides, padding, rhs_dilation, groups, same: bool):
    pads = [lo for lo, _ in padding] + [hi for _, hi in padding]
    auto_pad = None
    # Symbolic SAME padding: let Conv compute it (ONNX Runtime rejects auto_pad with dilations).
    if same and not all(isinstance(p, int) for p in pads) and all(r == 1 for r in rhs_dilation):
        auto_pad, pads = "SAME_UPPER", [0]
    elif not all(isinstance(p, int) and p >= 0 for p in pads):  # Conv's pads must be static and non-negative
        x, pads = ctx.op.Pad(x, ctx.shape_tensor([0, 0, *pads[:len(padding)], 0, 0, *pads[len(padding):]])), [0]
    return ctx.op.Conv(x, kernel, auto_pad=auto_pad, strides=_unless(window_strides, 1), pads=_unless(pads, 0),
                       dilations=_unless(rhs_dilation, 1), group=groups if groups > 1 else None)


def _integer_conv(ctx: LoweringContext, x, kernel, kernel_shape: Sequence, window_strides, padding, rhs_dilation,
                  groups: int, out_shape: Sequence) -> ir.Value:
    """An integer convolution as int64 MatMul over the input's windows (ONNX Runtime's Conv takes floats only).

    Every kernel offset is one strided Slice of the padded input; the slices stack to (N, C, K, out...) and a
    grouped MatMul with the (O, C/groups * K) kernel sums them. int64 products and sums wrap modulo 2**64,
    so the cast to the output dtype gives XLA's result (exact, wrapped modulo 2**bits) for any values.
    """
    n, o, *out_spatial = out_shape
    _, c_g, *k = kernel_shape
    pads = [lo for lo, _ in padding] + [hi for _, hi in padding]
    if any(p != 0 for p in pads):  # negative pads crop
        x = ctx.op.Pad(x, ctx.shape_tensor([0, 0, *pads[:len(padding)], 0, 0, *pads[len(padding):]]))
    axes, windows = list(range(2, 2 + len(k))), []
    for offset in itertools.product(*(range(size) for size in k)):
        begin = [i * r for i, r in zip(offset, rhs_dilation)]
        end = [b + (m - 1) * s + 1 for b, m, s in zip(begin, out_spatial, window_strides)]
        window = ctx.op.Slice(x, _ints(ctx, begin), ctx.shape_tensor(end), _ints(ctx, axes), _ints(ctx, window_strides))
        windows.append(ctx.op.Unsqueeze(window, _ints(ctx, [2])))
    patches = ctx.op.Concat(*windows, axis=2) if len(windows) > 1 else windows[0]
    size = int(np.prod(k))
    patches = ctx.op.Reshape(patches, ctx.shape_tensor([n, groups, c_g * size, -1]))
    weights = ctx.op.Reshape(kernel, ctx.shape_tensor([groups, o // groups, c_g * size]))
    return ctx.op.Reshape(ctx.op.MatMul(weights, patches), ctx.shape_tensor(out_shape))


def _dilated(ctx: LoweringContext, x, lhs_dilation: Sequence[int], shape: Sequence) -> ir.Value:
    """``x`` (N, C, spatial...) with d - 1 zeros between neighbours along each spatial dim (XLA's lhs dilation)."""
    shape = list(shape)
    for axis, d in enumerate(lhs_dilation, start=2):
        if d == 1:
            continue
        pads = [0] * (2 * len(shape) + 2)
        pads[len(shape) + 2 + axis] = d - 1  # after each element, on a new axis behind it
        x = ctx.op.Pad(ctx.op.Unsqueeze(x, _ints(ctx, [axis + 1])), _ints(ctx, pads))
        x = ctx.op.Reshape(x, ctx.shape_tensor([*shape[:axis], shape[axis] * d, *shape[axis + 1:]]))
        shape[axis] = (shape[axis] - 1) * d + 1
        x = ctx.op.Slice(x, _ints(ctx, [0]), ctx.shape_tensor([shape[axis]]), _ints(ctx, [axis]))
    return x


def _flipped_kernel(ctx: LoweringContext, rhs, rhs_spec, dtype, groups: int) -> ir.Value:
    """ConvTranspose's weight (I, O/groups, k...) from Conv's (O, I/groups, k...), spatially flipped."""
    o, i_g, *k = (ctx.in_avals[1].shape[d] for d in rhs_spec)
    spatial = list(range(2, 2 + len(k)))
    value = ctx.const_value(rhs)
    if value is not None:
        grouped = np.transpose(value, rhs_spec).reshape(groups, o // groups, i_g, *k).swapaxes(1, 2)
        flipped = np.flip(grouped.reshape(groups * i_g, o // groups, *k), tuple(spatial))
        return ctx.const(np.ascontiguousarray(flipped, dtype=dtype))
    if groups == 1:
        w = rearrange(ctx, rhs, [rhs_spec[1], rhs_spec[0], *rhs_spec[2:]], dtype, ctx.in_avals[1].dtype)
    else:
        w = ctx.op.Reshape(rearrange(ctx, rhs, rhs_spec, dtype, ctx.in_avals[1].dtype),
                           ctx.shape_tensor([groups, o // groups, i_g, *k]))
        w = ctx.op.Reshape(ctx.op.Transpose(w, perm=[0, 2, 1, *range(3, 3 + len(k))]),
                           ctx.shape_tensor([groups * i_g, o // groups, *k]))
    n = len(k)
    return ctx.op.Slice(w, _ints(ctx, [-1] * n), _ints(ctx, [INT64_MIN] * n), _ints(ctx, spatial), _ints(ctx, [-1] * n))


def _transposed_conv(ctx: LoweringContext, x, rhs, rhs_spec, dtype, window_strides, padding, lhs_dilation,
                     rhs_dilation, groups):
    if not all(isinstance(p, int) for pair in padding for p in pair):
        raise ctx.fail("a transposed convolution (lhs_dilation > 1) needs static padding")
    # Correlating the dilated input padded by (lo, hi) is ConvTranspose with pads r*(k-1) - lo, r*(k-1) - hi.
    reach = [r * (ctx.in_avals[1].shape[d] - 1) for r, d in zip(rhs_dilation, rhs_spec[2:])]
    begin, end = [f - lo for f, (lo, _) in zip(reach, padding)], [f - hi for f, (_, hi) in zip(reach, padding)]
    y = ctx.op.ConvTranspose(x, _flipped_kernel(ctx, rhs, rhs_spec, dtype, groups), strides=list(lhs_dilation),
                             pads=_unless([max(0, p) for p in begin + end], 0), dilations=_unless(rhs_dilation, 1),
                             group=groups if groups > 1 else None)
    if min(begin + end) < 0:  # padding beyond the kernel's reach only adds zeros
        extra = [0, 0, *(max(0, -p) for p in begin), 0, 0, *(max(0, -p) for p in end)]
        y = ctx.op.Pad(y, _ints(ctx, extra))
    if any(s > 1 for s in window_strides):  # a strided conv samples the unstrided one
        n = len(window_strides)
        y = ctx.op.Slice(y, _ints(ctx, [0] * n), _ints(ctx, [INT64_MAX] * n), _ints(ctx, range(2, 2 + n)),
                         _ints(ctx, window_strides))
    return y


def _conv_case(strides, padding, dimension_numbers=None, **params):
    return lambda x, k: jax.lax.conv_general_dilated(x, k, strides, padding, dimension_numbers=dimension_numbers,
                                                     **params)


def _transpose_case(strides, padding, dimension_numbers=None, **params):
    return lambda x, k: jax.lax.conv_transpose(x, k, strides, padding, dimension_numbers=dimension_numbers, **params)


def _constant_kernel(shape, fn):
    """A model whose kernel is a constant (weights), not an input."""
    def build():
        kernel = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        return lambda x: fn(x, kernel)
    return build


def _case(name: str, **options) -> Testcase:
    # ONNX Runtime has no float64 Conv/ConvTranspose kernel (the float64 model is valid ONNX), and it
    # sums a convolution's float32 products in another order than XLA.
    return Testcase(name, **{"x64": False, "rtol": 1e-4, "atol": 1e-5, **options})


NHWC = ("NHWC", "HWIO", "NHWC")
TESTCASES = [
    _case("conv_nchw", fn=_conv_case((1, 1), "SAME"), inputs=[("B", 3, 8, 8), (4, 3, 3, 3)],
          expect_ops=["Conv"]),
    _case("conv_same_symbolic_spatial", fn=_conv_case((2, 2), "SAME"), inputs=[("B", 3, "H", "W"), (4, 3, 3, 3)],
          expect_ops=["Conv"]),
    _case("conv_same_symbolic_spatial_rhs_dilation", fn=_conv_case((2, 1), "SAME", rhs_dilation=(1, 2)),
          inputs=[("B", 3, "H", "W"), (4, 3, 3, 3)]),
    _case("conv_explicit_padding_symbolic_spatial", fn=_conv_case((1, 1), ((1, -1), (0, 2))),
          inputs=[("B", 3, "H", "W"), (4, 3, 3, 3)], expect_ops=["Pad", "Conv"]),
    _case("conv_nhwc_constant_kernel", factory=_constant_kernel((3, 3, 3, 4), _conv_case((1, 1), "SAME", NHWC)),
          inputs=[("B", 8, 8, 3)], expect_ops=["Transpose", "Conv", "Transpose"]),
    _case("conv_nhwc_kernel_input", fn=_conv_case((1, 1), "VALID", NHWC), inputs=[("B", 8, 8, 3), (3, 3, 3, 4)],
          expect_ops=["Transpose", "Transpose", "Conv", "Transpose"]),
    _case("conv_1d_nwc", fn=_conv_case((2,), "VALID", ("NWC", "WIO", "NWC")), inputs=[("B", 10, 3), (3, 3, 4)]),
    _case("conv_1d_ncw", fn=_conv_case((1,), ((2, 1),)), inputs=[("B", 3, 10), (4, 3, 3)],
          expect_ops=["Conv"]),
    _case("conv_3d_ncdhw", fn=_conv_case((1, 2, 1), "SAME"), inputs=[("B", 2, 5, 6, 7), (3, 2, 3, 3, 3)],
          expect_ops=["Conv"]),
    _case("conv_3d_ndhwc_constant_kernel",
          factory=_constant_kernel((3, 2, 3, 2, 4), _conv_case((1, 1, 2), "SAME", ("NDHWC", "DHWIO", "NDHWC"))),
          inputs=[("B", 5, 6, 7, 2)], expect_ops=["Transpose", "Conv", "Transpose"]),
    _case("conv_mixed_layouts", fn=_conv_case((1, 1), "SAME", ("NCHW", "OHWI", "NHWC")),
          inputs=[("B", 3, 6, 7), (4, 3, 3, 3)]),
    _case("conv_strided_same_asymmetric", fn=_conv_case((2, 2), "SAME"), inputs=[("B", 3, 8, 7), (4, 3, 4, 3)],
          expect_ops=["Conv"]),
    _case("conv_explicit_asymmetric_padding", fn=_conv_case((1, 2), ((1, 2), (0, 3))),
          inputs=[("B", 3, 8, 8), (4, 3, 3, 3)], expect_ops=["Conv"]),
    _case("conv_negative_padding", fn=_conv_case((1, 1), ((-1, 2), (1, -2))),
          inputs=[("B", 3, 8, 8), (4, 3, 3, 3)], expect_ops=["Pad", "Conv"]),
    _case("conv_rhs_dilation", fn=_conv_case((1, 1), "SAME", rhs_dilation=(2, 3)),
          inputs=[("B", 3, 9, 9), (4, 3, 3, 3)], expect_ops=["Conv"]),
    _case("conv_feature_groups", fn=_conv_case((1, 1), "SAME", feature_group_count=2),
          inputs=[("B", 4, 8, 8), (6, 2, 3, 3)], expect_ops=["Conv"]),
    _case("conv_depthwise_nhwc",
          factory=_constant_kernel((3, 3, 1, 4), _conv_case((1, 1), "SAME", NHWC, feature_group_count=4)),
          inputs=[("B", 8, 8, 4)], expect_ops=["Transpose", "Conv", "Transpose"]),
    _case("conv_batch_groups", fn=_conv_case((1, 1), "VALID", batch_group_count=2),
          inputs=[(4, 3, "H", "W"), (6, 3, 3, 3)], dim_sizes=(4, 7)),
    _case("conv_lhs_dilation", fn=_conv_case((1, 1), ((1, 2), (2, 0)), lhs_dilation=(2, 3)),
          inputs=[("B", 3, 5, 5), (4, 3, 3, 3)]),
    _case("conv_lhs_dilation_strided", fn=_conv_case((2, 3), ((0, 1), (1, 1)), lhs_dilation=(2, 2)),
          inputs=[("B", 3, 5, 6), (4, 3, 3, 2)]),
    _case("conv_lhs_dilation_wide_padding", fn=_conv_case((1, 1), ((4, 5), (-1, 3)), lhs_dilation=(2, 2)),
          inputs=[("B", 3, 5, 5), (4, 3, 3, 3)]),
    _case("conv_lhs_dilation_groups",
          fn=_conv_case((1, 1), ((1, 1), (2, 1)), lhs_dilation=(2, 2), feature_group_count=2),
          inputs=[("B", 4, 5, 5), (6, 2, 3, 3)]),
    _case("conv_lhs_dilation_batch_groups", fn=_conv_case((1, 1), ((2, 1), (0, 1)), lhs_dilation=(2, 1),
                                                          batch_group_count=2),
          inputs=[(4, 3, 5, 5), (6, 3, 3, 2)]),
    _case("conv_lhs_dilation_groups_constant_kernel",
          factory=_constant_kernel((6, 2, 3, 3), _conv_case((1, 1), ((1, 1), (2, 1)), lhs_dilation=(2, 2),
                                                             feature_group_count=2)),
          inputs=[("B", 4, 5, 5)], expect_ops=["ConvTranspose"]),
    _case("conv_f16", fn=_conv_case((1, 1), "SAME"), inputs=[("B", 3, 8, 8), (4, 3, 3, 3)],
          input_dtypes=[np.float16, np.float16], rtol=2e-3, atol=2e-3, expect_ops=["Conv"]),
    _case("conv_bf16_to_f32",
          fn=lambda x, k: _conv_case((1, 1), "SAME", preferred_element_type=jnp.float32)(
              x.astype(jnp.bfloat16), k.astype(jnp.bfloat16)),
          inputs=[("B", 3, 8, 8), (4, 3, 3, 3)]),
    # A window wider than the (dilated) input: an empty output, no Conv.
    _case("conv_kernel_wider_than_input", fn=_conv_case((1, 1), "VALID"), inputs=[("B", 3, 4, 5), (2, 3, 6, 3)],
          forbid_ops=["Conv"]),
    _case("conv_dilated_kernel_wider_than_input", fn=_conv_case((1, 1), "VALID", rhs_dilation=(3, 1)),
          inputs=[(2, 3, 5, 5), (2, 3, 3, 3)], forbid_ops=["Conv"]),
    # Integers: exact int64 MatMul over windows, wrapping to the output dtype as XLA does.
    _case("conv_int32_full_range", fn=_conv_case((2, 1), ((1, -1), (0, 2)), rhs_dilation=(1, 2)),
          inputs=[("B", 3, 7, 6), (4, 3, 3, 2)], input_dtypes=[np.int32, np.int32], forbid_ops=["Conv"],
          input_values=lambda rng, shapes: [rng.integers(-2**31, 2**31, s, dtype=np.int32) for s in shapes]),
    _case("conv_int8_to_int32_nhwc_groups",
          fn=_conv_case((1, 2), "SAME", NHWC, feature_group_count=2, preferred_element_type=jnp.int32),
          inputs=[("B", "H", "W", 4), (3, 3, 2, 6)], input_dtypes=[np.int8, np.int8], forbid_ops=["Conv"]),
    _case("conv_int16_lhs_dilation", fn=_conv_case((2, 1), ((2, 1), (-1, 3)), lhs_dilation=(2, 3)),
          inputs=[("B", 3, 4, "W"), (2, 3, 3, 2)], input_dtypes=[np.int16, np.int16], forbid_ops=["ConvTranspose"]),
    _case("conv_uint8_transpose", fn=_transpose_case((2, 2), "SAME", ("NCHW", "OIHW", "NCHW")),
          inputs=[("B", 4, 3, 3), (4, 4, 2, 3)], input_dtypes=[np.uint8, np.uint8], forbid_ops=["ConvTranspose"]),
    _case("conv_int8_wrapping_batch_groups", fn=_conv_case((1, 1), "VALID", batch_group_count=2),
          inputs=[(4, 3, "H", 5), (6, 3, 3, 3)], input_dtypes=[np.int8, np.int8], dim_sizes=(4, 7),
          input_values=lambda rng, shapes: [rng.integers(-128, 128, s, dtype=np.int8) for s in shapes]),
    _case("conv_transpose_same_constant_kernel",
          factory=_constant_kernel((3, 3, 3, 4), _transpose_case((2, 2), "SAME")),
          inputs=[("B", 5, 5, 3)], expect_ops=["Transpose", "ConvTranspose", "Transpose"]),
    _case("conv_transpose_valid_kernel_input", fn=_transpose_case((2, 2), "VALID"),
          inputs=[("B", 5, 5, 3), (3, 3, 3, 4)]),
    _case("conv_transpose_stride_above_kernel", fn=_transpose_case((3, 3), "VALID"),
          inputs=[("B", 4, 4, 3), (2, 2, 3, 4)]),
    _case("conv_transpose_kernel_transposed_constant",
          factory=_constant_kernel((3, 3, 4, 3), _transpose_case((2, 2), "SAME", transpose_kernel=True)),
          inputs=[("B", 5, 5, 3)], expect_ops=["Transpose", "ConvTranspose", "Transpose"]),
    _case("conv_transpose_kernel_transposed_input", fn=_transpose_case((2, 1), "SAME", transpose_kernel=True),
          inputs=[("B", 5, 5, 3), (3, 3, 4, 3)]),
    _case("conv_transpose_1d", fn=_transpose_case((2,), "SAME"), inputs=[("B", 7, 3), (4, 3, 2)]),
    _case("conv_transpose_3d_ncdhw", fn=_transpose_case((2, 1, 2), "VALID", ("NCDHW", "OIDHW", "NCDHW")),
          inputs=[("B", 2, 3, 4, 3), (3, 2, 2, 3, 2)]),
    _case("conv_transpose_rhs_dilation", fn=_transpose_case((2, 2), "SAME", rhs_dilation=(2, 1)),
          inputs=[("B", 5, 5, 3), (3, 3, 3, 4)]),
    _case("conv_transpose_explicit_padding", fn=_transpose_case((2, 2), ((1, 0), (2, 1))),
          inputs=[("B", 5, 5, 3), (3, 3, 3, 4)]),
]


@lowering("conv_general_dilated", component="jax.lax.conv_general_dilated",
          onnx=["Conv", "ConvTranspose", "Transpose", "Slice", "Pad", "Reshape", "MatMul", "ConstantOfShape"],
          since="0.1.0", doc=DOC,
          testcases=TESTCASES)
def lower_conv(ctx: LoweringContext, lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
               dimension_numbers,
               feature_group_count, batch_group_count, **params):
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    out_dtype, out_shape = np.dtype(ctx.out_avals[0].dtype), ctx.out_avals[0].shape
    if any(is_static(d) and d == 0 for d in out_shape):  # e.g. a kernel wider than the input: ONNX Conv rejects it
        if all(is_static(d) for d in out_shape):
            return ctx.const(np.zeros(out_shape, out_dtype))
        return ctx.op.ConstantOfShape(ctx.shape_tensor(out_shape), value=ir.tensor(np.zeros(1, out_dtype)))
    integer = jnp.issubdtype(out_dtype, jnp.integer)
    if not integer and not jnp.issubdtype(out_dtype, jnp.floating):
        raise ctx.unsupported_dtype(out_dtype, "floating point and integer")
    dtype = np.dtype(np.int64) if integer else out_dtype if out_dtype.name in CONV_DTYPES else np.dtype(np.float32)
    x = rearrange(ctx, lhs, lhs_spec, dtype, ctx.in_avals[0].dtype)
    if batch_group_count > 1:
        x = _batch_groups_as_features(ctx, x, batch_group_count, [ctx.in_avals[0].shape[d] for d in lhs_spec])
    groups = feature_group_count * batch_group_count
    if integer:
        kernel_shape = [ctx.in_avals[1].shape[d] for d in rhs_spec]
        if any(d > 1 for d in lhs_dilation):
            x = _dilated(ctx, x, lhs_dilation, [out_shape[out_spec[0]], kernel_shape[1] * groups,
                                                *(ctx.in_avals[0].shape[d] for d in lhs_spec[2:])])
        y = _integer_conv(ctx, x, rearrange(ctx, rhs, rhs_spec, dtype, ctx.in_avals[1].dtype), kernel_shape,
                          window_strides, padding, rhs_dilation, groups, [out_shape[d] for d in out_spec])
    elif any(d > 1 for d in lhs_dilation):
        y = _transposed_conv(ctx, x, rhs, rhs_spec, dtype, window_strides, padding, lhs_dilation, rhs_dilation, groups)
    else:
        window = [(ctx.in_avals[1].shape[d] - 1) * r + 1 for d, r in zip(rhs_spec[2:], rhs_dilation)]
        same = jax.lax.padtype_to_pads([ctx.in_avals[0].shape[d] for d in lhs_spec[2:]], window, window_strides,
                                       "SAME")
        y = _conv(ctx, x, rearrange(ctx, rhs, rhs_spec, dtype, ctx.in_avals[1].dtype), window_strides, padding,
                  rhs_dilation, groups, same=[tuple(p) for p in padding] == [tuple(p) for p in same])
    return ctx.cast(rearrange(ctx, y, np.argsort(out_spec).tolist(), dtype, dtype), out_dtype, dtype)
