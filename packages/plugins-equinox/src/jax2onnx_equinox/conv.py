"""eqx.nn.Conv (1-3D) as one ONNX Conv; weights are already OIHW, as ONNX wants them."""

from __future__ import annotations

import equinox as eqx

from jax2onnx.plugin import LoweringContext, call_lowering, cast_all, in_module

from ._util import KEY, both_ways, with_batch

_DOC = "https://docs.kidger.site/equinox/api/nn/conv/"
_AUTO_PAD = {"SAME": "SAME_UPPER", "SAME_LOWER": "SAME_LOWER"}


def pad_attributes(padding) -> dict | None:
    """ONNX's pads or auto_pad for an Equinox padding (a string or (lo, hi) pairs); None if negative."""
    if isinstance(padding, str):
        return {"auto_pad": _AUTO_PAD[padding]} if padding in _AUTO_PAD else {}
    if any(p < 0 for pair in padding for p in pair):
        return None
    return {"pads": [lo for lo, _ in padding] + [hi for _, hi in padding]}


@call_lowering("equinox.nn.Conv.__call__", component="equinox.nn.Conv", onnx=["Conv", "Add"], since="0.1.0",
               doc=_DOC, batched=("x",),
               # float32 only: lax.conv_general_dilated refuses float64 inputs with the float32 weights.
               testcases=[
                   *both_ways("eqx_conv1d", lambda: eqx.nn.Conv1d(3, 4, 3, padding=1, key=KEY), (3, 8),
                              plain_expect_ops=["Unsqueeze", "Conv", "Squeeze", "Add"],
                              vmap_expect_ops=["Conv", "Add"], x64=False),
                   *both_ways("eqx_conv2d_same_strided", lambda: eqx.nn.Conv2d(3, 4, 3, stride=2, padding="SAME",
                                                                               use_bias=False, key=KEY),
                              (3, 7, 6), vmap_expect_ops=["Conv"], x64=False),
                   *both_ways("eqx_conv2d_grouped_dilated", lambda: eqx.nn.Conv2d(4, 6, 2, dilation=2, groups=2,
                                                                                  padding=((1, 0), (0, 2)), key=KEY),
                              (4, 6, 5), vmap_expect_ops=["Conv", "Add"], x64=False),
                   *both_ways("eqx_conv3d", lambda: eqx.nn.Conv3d(2, 3, 2, key=KEY), (2, 4, 3, 4),
                              vmap_expect_ops=["Conv", "Add"], x64=False),
                   *both_ways("eqx_conv2d_reflect", lambda: eqx.nn.Conv2d(2, 3, 3, padding=1, padding_mode="REFLECT",
                                                                          key=KEY), (2, 5, 5), x64=False),
               ])
def lower_conv(ctx: LoweringContext, self, x, key=None):
    pads = pad_attributes(self.padding)
    if self.padding_mode != "ZEROS" or pads is None:
        return NotImplemented
    in_module(ctx, self.weight)
    x, weight, bias = cast_all(ctx, ctx.out_avals[0].dtype, x, self.weight, self.bias)
    y = with_batch(ctx, x, lambda v: ctx.op.Conv(v, weight, strides=list(self.stride),
                                                 dilations=list(self.dilation), group=self.groups, **pads))
    return ctx.op.Add(y, bias) if bias is not None else y
