"""jax.lax.fft (FFT, IFFT, RFFT, IRFFT over the last 1 to 3 axes) as ONNX DFT, one node per axis.

Complex values are [..., 2] real tensors (see ``complex.py``), which is DFT's own layout. Below
opset 17, which has no DFT, each axis is an Einsum with a DFT matrix (static lengths only).
ONNX Runtime's inverse DFT loses double precision (errors near 1e-8), so float64 inverses run
forward on the conjugate: ifft(x) = conj(fft(conj(x))) / n.
"""

from __future__ import annotations

import string

import jax
import jax.numpy as jnp
import numpy as np

from jax2onnx.plugin import LoweringContext, Testcase, lowering

from .complex import conjugate, part, part_dtype

DOC = "https://docs.jax.dev/en/latest/_autosummary/jax.lax.fft.html"
FFT, IFFT, RFFT, IRFFT = range(4)  # jax.lax.FftType values
DFT_OPSET, DFT_AXIS_INPUT_OPSET = 17, 20


def _dft(ctx: LoweringContext, x, axis: int, n, dtype, *, inverse: bool = False, onesided: bool = False):
    """The DFT of ``x`` (complex [..., 2], or real [..., 1] when ``onesided``) along ``axis`` of length ``n``."""
    if ctx.opset < DFT_OPSET:
        return _dft_by_matrix(ctx, x, axis, n, dtype, inverse, onesided)
    conjugated = inverse and dtype == np.float64
    if conjugated:
        x = conjugate(ctx, x, dtype)
    flags = {"inverse": int(inverse and not conjugated), "onesided": int(onesided)}
    if ctx.opset >= DFT_AXIS_INPUT_OPSET:
        y = ctx.op.DFT(x, None, ctx.const(np.array(axis, dtype=np.int64)), **flags)
    else:
        y = ctx.op.DFT(x, axis=axis, **flags)
    if not conjugated:
        return y
    if isinstance(n, int):
        return ctx.op.Mul(y, ctx.const(np.array([1 / n, -1 / n], dtype=dtype)))
    return ctx.op.Div(conjugate(ctx, y, dtype), ctx.cast(ctx.dim(n), dtype, np.int64))


def _dft_by_matrix(ctx: LoweringContext, x, axis: int, n, dtype, inverse: bool, onesided: bool):
    if not isinstance(n, int):
        raise ctx.fail(f"an FFT over a symbolic length ({n}) needs ONNX DFT: export at opset {DFT_OPSET} or later")
    t, k = np.arange(n)[:, None], np.arange(n // 2 + 1 if onesided else n)[None, :]
    theta = (2 if inverse else -2) * np.pi * ((t * k) % n) / n
    cos, sin = np.cos(theta) / (n if inverse else 1), np.sin(theta) / (n if inverse else 1)
    # Input part 0 (re) adds [cos, sin] to the output's parts, part 1 (im) adds [-sin, cos].
    rows = [np.stack([cos, sin], -1)] + ([] if onesided else [np.stack([-sin, cos], -1)])
    matrix = np.stack(rows, axis=1).astype(dtype)
    rank = len(ctx.in_avals[0].shape) + 1
    letters = string.ascii_lowercase[:rank]
    out = letters[:axis] + "y" + letters[axis + 1:-1] + "z"
    return ctx.op.Einsum(x, ctx.const(matrix), equation=f"{letters},{letters[axis]}{letters[-1]}yz->{out}")


def _hermitian_full(ctx: LoweringContext, x, axis: int, n: int, dtype):
    """The full spectrum of length ``n`` from its first n // 2 + 1 terms: X[n - k] = conj(X[k])."""
    mirrored = ctx.op.Slice(x, ctx.const(np.array([n - n // 2 - 1], np.int64)), ctx.const(np.array([0], np.int64)),
                            ctx.const(np.array([axis], np.int64)), ctx.const(np.array([-1], np.int64)))
    return ctx.op.Concat(x, conjugate(ctx, mirrored, dtype), axis=axis)


def _cases(name, fn, shape, complex_input=True, symbolic_axis=False):
    """A float32 and a float64 case of ``fn``; one over a symbolic axis needs DFT (opset 17)."""
    dtype = np.complex64 if complex_input else np.float32
    floor = dict(min_opset=17, min_opset_reason="an FFT over a symbolic length needs ONNX DFT") if symbolic_axis else {}
    # DFT rounding grows with the whole signal's norm, not with each output (ORT's float32 DFT
    # uses float32 twiddles: about 1e-5 relative at these sizes).
    return [Testcase(name, fn=fn, inputs=[shape], input_dtypes=[dtype], x64=False, rtol=1e-4, atol=1e-4, **floor),
            Testcase(f"{name}_f64", fn=fn, inputs=[shape], input_dtypes=[dtype], x64="only", atol=1e-11, **floor)]


TESTCASES = [
    *_cases("fft_1d", jnp.fft.fft, ("B", 8)),
    *_cases("fft_1d_odd", jnp.fft.fft, ("B", 7)),
    *_cases("fft_1d_symbolic_length", jnp.fft.fft, (3, "B"), symbolic_axis=True),
    *_cases("fft_ifft_1d", jnp.fft.ifft, ("B", 6)),
    *_cases("fft_ifft_symbolic_length", jnp.fft.ifft, (2, "B"), symbolic_axis=True),
    *_cases("fft_rfft_1d", jnp.fft.rfft, ("B", 6), complex_input=False),
    *_cases("fft_rfft_1d_odd", jnp.fft.rfft, ("B", 7), complex_input=False),
    *_cases("fft_rfft_symbolic_length", jnp.fft.rfft, (2, "B"), complex_input=False, symbolic_axis=True),
    *_cases("fft_irfft_1d", jnp.fft.irfft, ("B", 5)),
    *_cases("fft_irfft_1d_odd", lambda x: jnp.fft.irfft(x, n=7), ("B", 4)),
    *_cases("fft_fft2", jnp.fft.fft2, ("B", 4, 6)),
    *_cases("fft_ifft2", jnp.fft.ifft2, ("B", 3, 4)),
    *_cases("fft_fftn_3d", jnp.fft.fftn, ("B", 2, 3, 4), symbolic_axis=True),
    *_cases("fft_ifftn_3d", lambda x: jnp.fft.ifftn(x, axes=(0, 1, 2)), (3, 4, "B"), symbolic_axis=True),
    *_cases("fft_rfft2", jnp.fft.rfft2, ("B", 4, 6), complex_input=False),
    *_cases("fft_irfft2", jnp.fft.irfft2, ("B", 3, 4)),
    *_cases("fft_rfftn_3d", jnp.fft.rfftn, ("B", 2, 3, 5), complex_input=False, symbolic_axis=True),
    *_cases("fft_irfftn_3d", lambda x: jnp.fft.irfftn(x, s=(2, 3, 5), axes=(1, 2, 3)), ("B", 2, 3, 3)),
    *_cases("fft_real_input", lambda x: jnp.abs(jnp.fft.fft(x)), ("B", 6), complex_input=False),
    *_cases("fft_axis_0", lambda x: jnp.fft.fft(x, axis=0), (5, "B")),
    *_cases("fft_roundtrip", lambda x: jnp.fft.irfft(jnp.fft.rfft(x) * 2j), ("B", 8), complex_input=False),
    Testcase("fft_vmap", fn=jax.vmap(jnp.fft.fft), inputs=[("B", 4, 4)], input_dtypes=[np.complex64], x64=False,
             rtol=1e-4, atol=1e-4),
]


@lowering("complex:fft", component="jax.lax.fft",
          onnx=["DFT", "Unsqueeze", "Slice", "Concat", "Mul", "Gather", "Einsum"], since="0.2.0", doc=DOC,
          testcases=TESTCASES)
def lower_fft(ctx: LoweringContext, x, *, fft_type, fft_lengths):
    kind, rank = int(fft_type), len(ctx.in_avals[0].shape)
    axes = list(range(rank - len(fft_lengths), rank))
    dtype = part_dtype(ctx.out_avals[0].dtype if kind != IRFFT else ctx.in_avals[0].dtype)
    if kind == RFFT:
        x = ctx.op.Unsqueeze(x, ctx.const(np.array([-1], dtype=np.int64)))
        x = _dft(ctx, x, axes[-1], fft_lengths[-1], dtype, onesided=True)
        axes, fft_lengths = axes[:-1], fft_lengths[:-1]
    if kind == IRFFT:
        *axes, last = axes
        *fft_lengths, size = fft_lengths
        if not isinstance(size, int):
            raise ctx.fail(f"an inverse real FFT's output length must be static, not {size}")
    for axis, n in zip(axes, fft_lengths):
        x = _dft(ctx, x, axis, n, dtype, inverse=kind in (IFFT, IRFFT))
    if kind == IRFFT:
        x = part(ctx, _dft(ctx, _hermitian_full(ctx, x, last, size, dtype), last, size, dtype, inverse=True), 0)
    return x
