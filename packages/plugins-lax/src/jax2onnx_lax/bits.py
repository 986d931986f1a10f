"""Bit-level primitives: shifts, population count, leading zeros, bitcasts between dtypes, nextafter,
reduce_precision, mulhi and the total-order comparisons of sort comparators.

ONNX has no bitcast below opset 26: a float's bit pattern is computed arithmetically (exponent by
Log and Pow, mantissa by scaling) and back.
"""

from __future__ import annotations

import jax
import numpy as np

from jax2onnx.plugin import SINT, Testcase, lowering
from jax2onnx_lax._shared import (
    LAX_DOC,
    _c,
    _compute_dtype,
    _formula,
    _is_float,
    _kernel_dtype,
    _lax,
    _name,
    _op,
    _ties,
    _tiny_and_large,
    _typed,
    _where,
)


def _unsigned(ctx, x, dtype):
    """The bits of ``x`` as the unsigned type of its width, widened to one BitShift has a kernel for."""
    width = np.dtype(dtype).itemsize * 8
    u = ctx.cast(x, f"uint{width}", from_dtype=dtype)
    return ctx.cast(u, _kernel_dtype(ctx, "BitShift", f"uint{width}"), from_dtype=f"uint{width}")


def _from_unsigned(ctx, u, kernel, dtype):
    width = np.dtype(dtype).itemsize * 8
    return ctx.cast(ctx.cast(u, f"uint{width}", from_dtype=kernel), dtype, from_dtype=f"uint{width}")


def _shift(direction, arithmetic):
    def rule(ctx, x, s):
        dtype = ctx.in_avals[0].dtype
        width = np.dtype(dtype).itemsize * 8
        kernel = _kernel_dtype(ctx, "BitShift", f"uint{width}")
        xu, su = _unsigned(ctx, x, dtype), _unsigned(ctx, s, dtype)
        if arithmetic:
            # Shift the complement of negatives so vacated bits fill with the sign; JAX clamps the
            # amount (negative ones too, read as unsigned) to width - 1.
            negative = ctx.op.Less(ctx.cast(x, f"int{width}", from_dtype=dtype), _c(ctx, 0, f"int{width}"))
            flip = ctx.op.Mul(ctx.cast(negative, kernel), _c(ctx, 2**width - 1, kernel))
            amount = ctx.op.Min(su, _c(ctx, width - 1, kernel))
            out = ctx.op.BitwiseXor(ctx.op.BitShift(ctx.op.BitwiseXor(xu, flip), amount, direction="RIGHT"), flip)
        else:
            # JAX defines shifts by the width or more (negative ones too, read as unsigned) as 0.
            in_range = ctx.cast(ctx.op.Less(su, _c(ctx, width, kernel)), kernel)
            out = ctx.op.Mul(ctx.op.BitShift(xu, su, direction=direction), in_range)
        return _from_unsigned(ctx, out, kernel, dtype)

    return rule


def _shift_values(rng, shapes):
    return [rng.integers(-100, 100, shapes[0]), rng.integers(-2, 40, shapes[1])]


# primitive: (BitShift direction, arithmetic)
SHIFTS = {"shift_left": ("LEFT", False), "shift_right_logical": ("RIGHT", False),
          "shift_right_arithmetic": ("RIGHT", True)}
for _prim, (_direction, _arithmetic) in SHIFTS.items():
    lowering(_prim, component=f"jax.lax.{_prim}", onnx=["BitShift", "Cast", "Mul", "BitwiseXor"], since="0.1.0",
             doc=LAX_DOC.format(_prim),
             testcases=[_typed(_prim, _lax(_prim), d, 2, values=_shift_values)
                        for d in ("int32", "uint32", "int8", "uint8", "int16", "uint16", "int64", "uint64")],
             )(_shift(_direction, _arithmetic))


def _popcount(ctx, u, kernel):
    """Bits set in each element of the unsigned ``u`` (SWAR: Hacker's Delight, figure 5-2)."""
    width = np.dtype(kernel).itemsize * 8

    def mask(byte):
        return _c(ctx, int.from_bytes(bytes([byte]) * (width // 8), "little"), kernel)

    def shr(v, n):
        return ctx.op.BitShift(v, _c(ctx, n, kernel), direction="RIGHT")

    u = ctx.op.Sub(u, ctx.op.BitwiseAnd(shr(u, 1), mask(0x55)))
    u = ctx.op.Add(ctx.op.BitwiseAnd(u, mask(0x33)), ctx.op.BitwiseAnd(shr(u, 2), mask(0x33)))
    u = ctx.op.BitwiseAnd(ctx.op.Add(u, shr(u, 4)), mask(0x0F))
    return shr(ctx.op.Mul(u, mask(0x01)), width - 8) if width > 8 else u


@lowering("population_count", component="jax.lax.population_count", onnx=["BitShift", "BitwiseAnd", "Mul"],
          since="0.1.0", doc=LAX_DOC.format("population_count"),
          testcases=[_typed("population_count", _lax("population_count"), d,
                            values=lambda rng, s: [rng.integers(-2**7, 2**7, s[0]) * rng.integers(1, 2**20, s[0])])
                     for d in ("int32", "uint8", "int8", "uint16", "int64", "uint64")])
def lower_population_count(ctx, x):
    dtype = ctx.in_avals[0].dtype
    kernel = _kernel_dtype(ctx, "BitShift", f"uint{dtype.itemsize * 8}")
    return _from_unsigned(ctx, _popcount(ctx, _unsigned(ctx, x, dtype), kernel), kernel, dtype)


@lowering("clz", component="jax.lax.clz", onnx=["BitShift", "BitwiseOr", "BitwiseAnd", "Mul"], since="0.1.0",
          doc=LAX_DOC.format("clz"),
          testcases=[_typed("clz", _lax("clz"), d,
                            values=lambda rng, s: [rng.integers(-2**7, 2**7, s[0]) * 2 ** rng.integers(0, 24, s[0])])
                     for d in ("int32", "uint8", "int8", "uint16", "int64", "uint32")])
def lower_clz(ctx, x):
    dtype = ctx.in_avals[0].dtype
    width = dtype.itemsize * 8
    kernel = _kernel_dtype(ctx, "BitShift", f"uint{width}")
    u = _unsigned(ctx, x, dtype)
    shift = 1
    while shift < width:  # smear the leading one into every lower bit; the zeros above it remain
        u = ctx.op.BitwiseOr(u, ctx.op.BitShift(u, _c(ctx, shift, kernel), direction="RIGHT"))
        shift *= 2
    return _from_unsigned(ctx, ctx.op.Sub(_c(ctx, width, kernel), _popcount(ctx, u, kernel)), kernel, dtype)


# float dtype: (exponent bits, mantissa bits)
FORMATS = {"float16": (5, 10), "bfloat16": (8, 7), "float32": (8, 23), "float64": (11, 52)}


def _magnitude_bits(ctx, a, fmt, dt):
    """The bit pattern (int64) of ``a >= 0`` in format ``fmt``, computed arithmetically: ONNX has no bitcast."""
    ebits, mbits = fmt
    bias = 2 ** (ebits - 1) - 1
    emin = 1 - bias
    # floor(log2 a) is off by one at worst where Log rounds: compare with the powers of two around it.
    e = ctx.op.Clip(ctx.op.Floor(ctx.op.Mul(ctx.op.Log(a), _c(ctx, 1 / np.log(2), dt))), _c(ctx, emin, dt),
                    _c(ctx, bias, dt))
    e = ctx.op.Sub(e, ctx.cast(ctx.op.Greater(ctx.op.Pow(_c(ctx, 2, dt), e), a), dt))
    e = ctx.op.Add(e, ctx.cast(ctx.op.LessOrEqual(ctx.op.Pow(_c(ctx, 2, dt), ctx.op.Add(e, _c(ctx, 1, dt))), a), dt))
    normal = ctx.op.GreaterOrEqual(a, _c(ctx, 2.0**emin, dt))
    scale = _c(ctx, 2.0**mbits, dt)
    significand = ctx.op.Sub(ctx.op.Div(a, ctx.op.Pow(_c(ctx, 2, dt), e)), _c(ctx, 1, dt))
    mantissa = ctx.op.Where(normal, ctx.op.Mul(significand, scale),
                            ctx.op.Mul(ctx.op.Mul(a, _c(ctx, 2.0**-emin, dt)), scale))
    exponent = ctx.op.Where(normal, ctx.op.Add(e, _c(ctx, bias, dt)), _c(ctx, 0, dt))
    nan, inf = ctx.op.IsNaN(a), ctx.op.IsInf(a)
    exponent = ctx.op.Where(ctx.op.Or(nan, inf), _c(ctx, 2**ebits - 1, dt), exponent)
    mantissa = ctx.op.Where(nan, _c(ctx, 2 ** (mbits - 1), dt), ctx.op.Where(inf, _c(ctx, 0, dt), mantissa))
    exponent = ctx.op.Mul(ctx.cast(exponent, np.int64), _c(ctx, 2**mbits, np.int64))
    return ctx.op.Add(exponent, ctx.cast(mantissa, np.int64))


def _magnitude_value(ctx, bits, fmt, dt):
    """The inverse of ``_magnitude_bits``: ``bits`` (uint64, sign bit clear) as a float of ``dt``."""
    ebits, mbits = fmt
    bias = 2 ** (ebits - 1) - 1
    exponent = ctx.op.BitShift(bits, _c(ctx, mbits, np.uint64), direction="RIGHT")
    fraction = ctx.op.Mul(ctx.cast(ctx.op.BitwiseAnd(bits, _c(ctx, 2**mbits - 1, np.uint64)), dt),
                          _c(ctx, 2.0**-mbits, dt))
    e = ctx.cast(exponent, dt)
    power = ctx.op.Pow(_c(ctx, 2, dt), ctx.op.Sub(e, _c(ctx, bias, dt)))
    normal = ctx.op.Mul(ctx.op.Add(fraction, _c(ctx, 1, dt)), power)
    subnormal = ctx.op.Mul(fraction, _c(ctx, 2.0 ** (1 - bias), dt))
    special = ctx.op.Where(ctx.op.Equal(fraction, _c(ctx, 0, dt)), _c(ctx, np.inf, dt), _c(ctx, np.nan, dt))
    top = ctx.op.Equal(exponent, _c(ctx, 2**ebits - 1, np.uint64))
    value = ctx.op.Where(top, special, normal)
    return ctx.op.Where(ctx.op.Equal(exponent, _c(ctx, 0, np.uint64)), subnormal, value)


def _float_to_bits(ctx, x, dtype, to):
    fmt, dt = FORMATS[_name(dtype)], _compute_dtype(dtype)
    x = ctx.cast(x, dt, from_dtype=dtype)
    bits = _magnitude_bits(ctx, ctx.op.Abs(x), fmt, dt)
    # Reciprocal catches -0.0 (whose reciprocal is -inf)
    negative = ctx.op.Or(ctx.op.Less(x, _c(ctx, 0, dt)), ctx.op.Less(ctx.op.Reciprocal(x), _c(ctx, 0, dt)))
    width = np.dtype(dtype).itemsize * 8
    sign = _c(ctx, np.array(1 << (width - 1), np.uint64).astype(np.int64), np.int64)
    return ctx.cast(ctx.op.Where(negative, ctx.op.BitwiseOr(bits, sign), bits), to, from_dtype=np.int64)


def _bits_to_float(ctx, bits, dtype, to):
    width = np.dtype(dtype).itemsize * 8
    fmt, dt = FORMATS[_name(to)], _compute_dtype(to)
    u = ctx.cast(ctx.cast(bits, f"uint{width}", from_dtype=dtype), np.uint64, from_dtype=f"uint{width}")
    magnitude = _magnitude_value(ctx, ctx.op.BitwiseAnd(u, _c(ctx, 2 ** (width - 1) - 1, np.uint64)), fmt, dt)
    negative = ctx.op.Equal(ctx.op.BitShift(u, _c(ctx, width - 1, np.uint64), direction="RIGHT"),
                            _c(ctx, 1, np.uint64))
    return ctx.cast(ctx.op.Where(negative, ctx.op.Neg(magnitude), magnitude), to, from_dtype=dt)


def _bitcast_values(rng, shapes):
    x = rng.standard_normal(shapes[0]) * 10.0 ** rng.integers(-30, 30, shapes[0])
    special = rng.choice([0.0, -0.0, np.inf, -np.inf, 1e-40, -3e-42], shapes[0])
    return [np.where(rng.random(shapes[0]) < 0.2, special, x)]


def _float_bytes(rng, shapes):
    floats = _bitcast_values(rng, [shapes[0][:-1]])[0].astype(np.float32)
    return [floats.view(np.uint8).reshape(shapes[0])]


def _half_patterns(rng, shapes):
    return [rng.integers(0, 0x7C00, shapes[0]) + rng.choice([0, 0x8000], shapes[0])]  # finite, either sign


def _int_patterns(rng, shapes):
    return [rng.integers(-2**31, 2**31, shapes[0])]


@lowering("bitcast_convert_type", component="jax.lax.bitcast_convert_type",
          onnx=["Cast", "Log", "Pow", "Floor", "BitShift", "BitwiseAnd", "Where"], since="0.1.0",
          doc=LAX_DOC.format("bitcast_convert_type"),
          testcases=[Testcase("bitcast_f32_i32", fn=lambda x: jax.lax.bitcast_convert_type(x, np.int32),
                              inputs=[("B", 8)], input_values=_bitcast_values, x64=False),
                     Testcase("bitcast_f32_u32", fn=lambda x: jax.lax.bitcast_convert_type(x, np.uint32),
                              inputs=[("B", 8)], input_values=_bitcast_values, x64=False),
                     Testcase("bitcast_i32_f32", fn=lambda x: jax.lax.bitcast_convert_type(x, np.float32),
                              inputs=[("B", 8)], input_dtypes=["int32"], input_values=_int_patterns),
                     Testcase("bitcast_f16_i16", fn=lambda x: jax.lax.bitcast_convert_type(x, np.int16),
                              inputs=[("B", 8)], input_dtypes=["float16"], x64=False,
                              input_values=_tiny_and_large(-50, 50)),
                     Testcase("bitcast_u16_f16", fn=lambda x: jax.lax.bitcast_convert_type(x, np.float16),
                              inputs=[("B", 8)], input_dtypes=["uint16"],
                              input_values=_half_patterns),
                     Testcase("bitcast_i32_u32", fn=lambda x: jax.lax.bitcast_convert_type(x, np.uint32),
                              inputs=[("B", 8)], input_dtypes=["int32"], expect_ops=["Cast"]),
                     Testcase("bitcast_f64_i64", fn=lambda x: jax.lax.bitcast_convert_type(x, np.int64),
                              inputs=[("B", 8)], input_dtypes=["float64"], input_values=_bitcast_values,
                              x64="only"),
                     Testcase("bitcast_f32_u8", fn=lambda x: jax.lax.bitcast_convert_type(x, np.uint8),
                              inputs=[("B", 3)], input_values=_bitcast_values, x64=False),
                     Testcase("bitcast_u8_f32", fn=lambda x: jax.lax.bitcast_convert_type(x, np.float32),
                              inputs=[("B", 3, 4)], input_dtypes=["uint8"],
                              input_values=_float_bytes),
                     Testcase("bitcast_i32_i16", fn=lambda x: jax.lax.bitcast_convert_type(x, np.int16),
                              inputs=[("B", 3)], input_dtypes=["int32"], input_values=_int_patterns),
                     Testcase("bitcast_i16_f32", fn=lambda x: jax.lax.bitcast_convert_type(x, np.float32),
                              inputs=[("B", 2)], input_dtypes=["int16"],
                              input_values=lambda rng, s: [rng.integers(-2**15, 2**15, s[0])]),
                     Testcase("bitcast_f16_u8", fn=lambda x: jax.lax.bitcast_convert_type(x, np.uint8),
                              inputs=[("B", 3)], input_dtypes=["float16"], x64=False),
                     Testcase("bitcast_f16_bf16",
                              fn=lambda x: jax.lax.bitcast_convert_type(x, jax.numpy.bfloat16).astype(np.float32),
                              inputs=[("B", 3)], input_dtypes=["float16"], x64=False)])
def lower_bitcast_convert_type(ctx, x, *, new_dtype):
    src, dst = np.dtype(ctx.in_avals[0].dtype), np.dtype(new_dtype)
    if src.itemsize == dst.itemsize and not (_is_float(src) and _is_float(dst)):
        if _is_float(src):
            return _float_to_bits(ctx, x, src, dst)
        if _is_float(dst):
            return _bits_to_float(ctx, x, src, dst)
        return ctx.cast(x, dst, from_dtype=src)  # integer casts of one width keep the bits
    pattern = _pattern(ctx, x, src)
    if src.itemsize != dst.itemsize:
        pattern = (_split_bits if src.itemsize > dst.itemsize else _join_bits)(ctx, pattern, src, dst)
    return _from_pattern(ctx, pattern, dst)


def _pattern(ctx, x, dtype):
    """The bits of ``x`` as uint64."""
    if _is_float(dtype):
        return _float_to_bits(ctx, x, dtype, np.uint64)
    unsigned = f"uint{np.dtype(dtype).itemsize * 8}"
    return ctx.cast(ctx.cast(x, unsigned, from_dtype=dtype), np.uint64, from_dtype=unsigned)


def _from_pattern(ctx, u, dtype):
    """The inverse of ``_pattern``."""
    unsigned = f"uint{np.dtype(dtype).itemsize * 8}"
    bits = ctx.cast(u, unsigned, from_dtype=np.uint64)
    if _is_float(dtype):
        return _bits_to_float(ctx, bits, unsigned, dtype)
    return ctx.cast(bits, dtype, from_dtype=unsigned)


def _split_bits(ctx, u, src, dst):
    """Each element's bits into a new last axis of narrower parts, little-endian as in JAX."""
    width = 8 * np.dtype(dst).itemsize
    parts = []
    for k in range(np.dtype(src).itemsize // np.dtype(dst).itemsize):
        part = ctx.op.BitShift(u, _c(ctx, k * width, np.uint64), direction="RIGHT")
        part = ctx.op.BitwiseAnd(part, _c(ctx, 2**width - 1, np.uint64))
        parts.append(ctx.op.Unsqueeze(part, _c(ctx, [-1], np.int64)))
    return ctx.op.Concat(*parts, axis=-1)


def _join_bits(ctx, u, src, dst):
    """The inverse of ``_split_bits``: the last axis joins into one element."""
    width, out = 8 * np.dtype(src).itemsize, None
    for k in range(np.dtype(dst).itemsize // np.dtype(src).itemsize):
        part = ctx.op.BitShift(ctx.op.Gather(u, _c(ctx, k, np.int64), axis=-1), _c(ctx, k * width, np.uint64),
                               direction="LEFT")
        out = part if out is None else ctx.op.BitwiseOr(out, part)
    return out


@lowering("nextafter", component="jax.lax.nextafter", onnx=["Cast", "Log", "Pow", "BitShift", "Where"], since="0.1.0",
          doc=LAX_DOC.format("nextafter"),
          testcases=[Testcase("nextafter", fn=_lax("nextafter"), inputs=[("B", 8), ("B", 8)],
                              input_values=lambda rng, s: [*_bitcast_values(rng, s[:1]),
                                                           rng.choice([0.0, 1.0, -1.0, np.inf, -np.inf], s[1])]),
                     _typed("nextafter", _lax("nextafter"), "float16", 2)])
def lower_nextafter(ctx, x, y):
    return _formula(_nextafter)(ctx, x, y, fmt=FORMATS[_name(ctx.in_avals[0].dtype)])


def _nextafter(ctx, x, y, dt, fmt):
    zero = _c(ctx, 0, dt)
    away = ctx.op.Equal(ctx.op.Less(x, y), ctx.op.Greater(x, zero))  # the step grows |x|
    bits = ctx.op.Add(_magnitude_bits(ctx, ctx.op.Abs(x), fmt, dt),
                      ctx.op.Where(away, _c(ctx, 1, np.int64), _c(ctx, -1, np.int64)))
    at_zero = ctx.op.Equal(x, zero)
    bits = ctx.op.Where(at_zero, _c(ctx, 1, np.int64), bits)  # the smallest subnormal, toward y
    magnitude = _magnitude_value(ctx, ctx.cast(bits, np.uint64, from_dtype=np.int64), fmt, dt)
    negative = ctx.op.Or(ctx.op.Less(x, zero), ctx.op.And(at_zero, ctx.op.Less(y, zero)))
    out = ctx.op.Where(ctx.op.Equal(x, y), y, ctx.op.Where(negative, ctx.op.Neg(magnitude), magnitude))
    return ctx.op.Where(ctx.op.Or(ctx.op.IsNaN(x), ctx.op.IsNaN(y)), ctx.op.Add(x, y), out)


# (exponent bits, mantissa bits) of reduce_precision that a round trip through an ONNX float type gives.
REDUCED = {(5, 10): "float16", (8, 7): "bfloat16", (8, 23): "float32"}


@lowering("reduce_precision", component="jax.lax.reduce_precision", onnx=["Cast", "Abs", "Less", "Where"],
          since="0.1.0", doc=LAX_DOC.format("reduce_precision"),
          testcases=[Testcase(f"reduce_precision_{e}_{m}", fn=lambda x, e=e, m=m: jax.lax.reduce_precision(x, e, m) * x,
                              inputs=[("B", 8)], input_values=lambda rng, s: [
                                  rng.standard_normal(s[0]) * 2.0 ** rng.integers(-30, 20, s[0])])
                     for e, m in ((5, 10), (8, 7), (8, 23), (11, 52), (4, 3), (6, 16), (10, 40), (2, 0))])
def lower_reduce_precision(ctx, x, *, exponent_bits, mantissa_bits):
    dtype = ctx.in_avals[0].dtype
    ebits, mbits = FORMATS[_name(dtype)]
    if exponent_bits >= ebits and mantissa_bits >= mbits:
        return x
    target = REDUCED.get((exponent_bits, mantissa_bits))
    if target is None or FORMATS[target][0] > ebits or FORMATS[target][1] > mbits:
        return _rounded_to_format(ctx, x, dtype, min(exponent_bits, ebits), min(mantissa_bits, mbits))
    out = ctx.cast(ctx.cast(x, target, from_dtype=dtype), dtype, from_dtype=target)
    if exponent_bits == ebits:
        return out
    # XLA flushes results below the smallest normal to zero where the cast keeps subnormals; the
    # threshold is the midpoint under 2**emin at mantissa_bits, which rounds up (ties to even).
    emin = 2 - 2 ** (exponent_bits - 1)
    tiny = ctx.op.Less(_op(ctx, "Abs", x, dtype=dtype), _c(ctx, 2.0**emin - 2.0 ** (emin - 2 - mantissa_bits), dtype))
    return _where(ctx, tiny, _op(ctx, "Mul", x, _c(ctx, 0, dtype), dtype=dtype), out, dtype)


def _rounded_to_format(ctx, x, dtype, exponent_bits, mantissa_bits):
    """XLA's ReducePrecision without an ONNX type of that format: the significand rounds to nearest
    even at ``mantissa_bits``, then results beyond the format's normal range become inf or zero."""
    src_ebits, src_mbits = FORMATS[_name(dtype)]
    dt = _compute_dtype(dtype)
    x = ctx.cast(x, dt, from_dtype=dtype)
    out = x
    if mantissa_bits < src_mbits:
        # The quantum is 2**(e - mantissa_bits), e = floor(log2 |x|) but at least the source's minimum
        # exponent (its subnormals round at that quantum); dividing and multiplying by it is exact.
        src_emin = 2 - 2 ** (src_ebits - 1)
        a = ctx.op.Max(ctx.op.Abs(x), _c(ctx, 2.0**src_emin, dt))
        e = ctx.op.Floor(ctx.op.Mul(ctx.op.Log(a), _c(ctx, 1 / np.log(2), dt)))
        two = _c(ctx, 2, dt)
        e = ctx.op.Sub(e, ctx.cast(ctx.op.Greater(ctx.op.Pow(two, e), a), dt))
        e = ctx.op.Add(e, ctx.cast(ctx.op.LessOrEqual(ctx.op.Pow(two, ctx.op.Add(e, _c(ctx, 1, dt))), a), dt))
        quantum = ctx.op.Pow(_c(ctx, 2, dt), ctx.op.Sub(e, _c(ctx, mantissa_bits, dt)))
        rounded = ctx.op.Mul(ctx.op.Round(ctx.op.Div(x, quantum)), quantum)
        out = ctx.op.Where(ctx.op.Or(ctx.op.IsNaN(x), ctx.op.IsInf(x)), x, rounded)
    if exponent_bits < src_ebits:
        emax, emin = 2 ** (exponent_bits - 1) - 1, 2 - 2 ** (exponent_bits - 1)
        magnitude = ctx.op.Abs(out)
        huge = ctx.op.GreaterOrEqual(magnitude, _c(ctx, 2.0 ** (emax + 1), dt))
        out = ctx.op.Where(huge, ctx.op.Mul(ctx.op.Sign(out), _c(ctx, np.inf, dt)), out)
        out = ctx.op.Where(ctx.op.Less(magnitude, _c(ctx, 2.0**emin, dt)), ctx.op.Mul(out, _c(ctx, 0, dt)), out)
    return ctx.cast(out, dtype, from_dtype=dt)


@lowering("mulhi", component="jax.lax.mulhi", onnx=["Mul", "BitShift", "BitwiseAnd"], since="0.1.0",
          doc=LAX_DOC.format("mulhi"),
          testcases=[_typed("mulhi", _lax("mulhi"), d, 2,
                            values=lambda rng, s: [rng.integers(-2**62, 2**62, t) for t in s])
                     for d in ("int32", "uint32", "int8", "uint16", "int64", "uint64")])
def lower_mulhi(ctx, x, y):
    dtype = ctx.in_avals[0].dtype
    width = dtype.itemsize * 8
    signed = _name(dtype) in SINT
    if width < 64:  # the whole product fits 64 bits
        wide = np.int64 if signed else np.uint64
        product = ctx.op.Mul(ctx.cast(x, wide, from_dtype=dtype), ctx.cast(y, wide, from_dtype=dtype))
        if signed:  # an exact division of what the arithmetic shift keeps
            low = ctx.op.BitwiseAnd(product, _c(ctx, 2**width - 1, np.int64))
            high = ctx.op.Div(ctx.op.Sub(product, low), _c(ctx, 2**width, np.int64))
        else:
            high = ctx.op.BitShift(product, _c(ctx, width, np.uint64), direction="RIGHT")
        return ctx.cast(high, dtype, from_dtype=wide)
    xu, yu = ctx.cast(x, np.uint64, from_dtype=dtype), ctx.cast(y, np.uint64, from_dtype=dtype)
    high = _mulhi_u64(ctx, xu, yu)
    if signed:  # two's complement: subtract the other factor for each negative one, modulo 2**64
        for a, b in ((x, yu), (y, xu)):
            negative = ctx.cast(ctx.op.Less(a, _c(ctx, 0, np.int64)), np.uint64)
            high = ctx.op.Sub(high, ctx.op.Mul(negative, b))
    return ctx.cast(high, dtype, from_dtype=np.uint64)


def _mulhi_u64(ctx, x, y):
    """The high 64 bits of the 128-bit product, from 32-bit halves."""
    mask, shift = _c(ctx, 2**32 - 1, np.uint64), _c(ctx, 32, np.uint64)

    def halves(v):
        return ctx.op.BitwiseAnd(v, mask), ctx.op.BitShift(v, shift, direction="RIGHT")

    def high(v):
        return ctx.op.BitShift(v, shift, direction="RIGHT")

    (x_lo, x_hi), (y_lo, y_hi) = halves(x), halves(y)
    lh, hl = ctx.op.Mul(x_lo, y_hi), ctx.op.Mul(x_hi, y_lo)
    middle = ctx.op.Add(ctx.op.Add(high(ctx.op.Mul(x_lo, y_lo)), ctx.op.BitwiseAnd(lh, mask)),
                        ctx.op.BitwiseAnd(hl, mask))
    return ctx.op.Add(ctx.op.Add(ctx.op.Mul(x_hi, y_hi), high(lh)), ctx.op.Add(high(hl), high(middle)))


def _total_order_key(ctx, x, dtype):
    """An int64 ordered like JAX's total order of floats: -inf < ... < -0.0 < +0.0 < ... < inf < NaN."""
    fmt, dt = FORMATS[_name(dtype)], _compute_dtype(dtype)
    x = ctx.cast(x, dt, from_dtype=dtype)
    magnitude = _magnitude_bits(ctx, ctx.op.Abs(x), fmt, dt)
    negative = ctx.op.Or(ctx.op.Less(x, _c(ctx, 0, dt)), ctx.op.Less(ctx.op.Reciprocal(x), _c(ctx, 0, dt)))
    return ctx.op.Where(negative, ctx.op.Sub(ctx.op.Neg(magnitude), _c(ctx, 1, np.int64)), magnitude)


def _total_order(op_type):
    def rule(ctx, x, y):
        dtype = ctx.in_avals[0].dtype
        if not _is_float(dtype):
            return _op(ctx, op_type, x, y, dtype=dtype)
        return getattr(ctx.op, op_type)(_total_order_key(ctx, x, dtype), _total_order_key(ctx, y, dtype))

    return rule


def _bind(name):
    """Binds the primitive ``jax.lax.<name>_p``, which has no public function."""
    return lambda *args: getattr(jax.lax, f"{name}_p").bind(*args)


def _signed_zeros(rng, shapes):
    return [rng.choice([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-40], s) for s in shapes]


# Comparisons in the total order of sort comparators; NaNs are read as positive (ONNX cannot see their sign).
TOTAL_ORDER = {"eq_to": "Equal", "lt_to": "Less", "le_to": "LessOrEqual"}
for _prim, _onnx in TOTAL_ORDER.items():
    lowering(_prim, component=f"jax.lax.{_prim}", onnx=[_onnx, "Log", "Pow", "Where"], since="0.1.0",
             testcases=[Testcase(_prim, fn=_bind(_prim), inputs=[("B", 8), ("B", 8)], input_values=_signed_zeros),
                        _typed(_prim, _bind(_prim), "int32", 2, values=_ties, expect_ops=[_onnx])],
             )(_total_order(_onnx))
