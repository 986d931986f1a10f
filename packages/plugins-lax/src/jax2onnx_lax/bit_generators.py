"""XLA's RngBitGenerator (``jax.lax.rng_bit_generator``) bit for bit as JAX computes it on CPU.

The key is XLA's state: uint64[2] words (JAX passes uint32[4], read as two little-endian
words). Word 0 is the generator's key; ThreeFry-2x32 counts from word 1, Philox-4x32-10 from the
128-bit counter (low word 1, high word 0), each advanced by what it drew. The default algorithm
is Philox on CPU. The algorithms are written here in jax.numpy on 64-bit words, traced in 64-bit
mode and lowered: integer Mul, Add, BitShift and Bitwise ops, no loops.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.extend.random as jex_random
import jax.numpy as jnp
import numpy as np
from jax import lax

from jax2onnx.plugin import Testcase, lowering

U32, U64 = np.uint32, np.uint64
# Philox-4x32 round multipliers and key increments (Salmon et al.).
PHILOX_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
PHILOX_KEY_STEP = (0x9E3779B9, 0xBB67AE85)


def _words(x):
    """(low, high) uint32 words of a uint64 array."""
    return x.astype(U32), (x >> U64(32)).astype(U32)


def _join(low, high):
    return low.astype(U64) | (high.astype(U64) << U64(32))


def _counts(start, shape):
    """``start`` plus the row-major index over ``shape``."""
    index = jnp.zeros(shape, U64)
    stride = 1
    for axis in reversed(range(len(shape))):
        index = index + lax.broadcasted_iota(U64, shape, axis) * U64(stride)
        stride *= shape[axis]
    return start + index


def _halved(shape):
    """XLA's split of a 32-bit draw into two halves: (half shape, axis), on the first even axis or the longest."""
    if not shape:
        return (1,), 0
    even = [i for i, d in enumerate(shape) if d % 2 == 0]
    axis = even[0] if even else int(np.argmax(shape))
    return (*shape[:axis], -(-shape[axis] // 2), 1, *shape[axis + 1:]), axis


def threefry_bits(key, start, shape, wide: bool):
    """ThreeFry-2x32 of consecutive counts: (bits as uint32, or uint64 when ``wide``; the next count)."""
    k0, k1 = _words(key)
    hash_ = functools.partial(jex_random.threefry2x32_p.bind, k0, k1)
    if wide:
        return _join(*hash_(*_words(_counts(start, shape)))), start + U64(math.prod(shape))
    half, axis = _halved(shape)
    x0, x1 = hash_(*_words(_counts(start, half)))
    if not shape:
        return x0.reshape(()), start + U64(1)
    padded = [*shape[:axis], 2 * half[axis], *shape[axis + 1:]]
    bits = jnp.concatenate([x0, x1], axis=axis + 1).reshape(padded)
    return bits[tuple(slice(0, d) for d in shape)], start + U64(math.prod(half))


def _mul_words(x, multiplier: int):
    """(high, low) uint32 words of the 64-bit product."""
    low, high = _words(x.astype(U64) * U64(multiplier))
    return high, low


def philox4x32(x, key):
    """Ten Philox-4x32 rounds on four uint32 words under a two-word key."""
    k0, k1 = key
    for _ in range(10):
        h0, l0 = _mul_words(x[0], PHILOX_MULTIPLIERS[0])
        h1, l1 = _mul_words(x[2], PHILOX_MULTIPLIERS[1])
        x = (h1 ^ x[1] ^ k0, l1, h0 ^ x[3] ^ k1, l0)
        k0, k1 = k0 + U32(PHILOX_KEY_STEP[0]), k1 + U32(PHILOX_KEY_STEP[1])
    return x


def _add_128(low, high, n):
    """(low, high) 64-bit words of a 128-bit counter plus ``n``."""
    total = low + n
    return total, jnp.where(total < low, high + U64(1), high)


def philox_bits(key, low, high, shape, wide: bool):
    """Philox-4x32-10 on consecutive 128-bit counters, its four words interleaved: (bits, next low word)."""
    size = math.prod(shape)
    blocks = -(-size * (2 if wide else 1) // 4)
    c_low, c_high = _add_128(low, high, jnp.arange(blocks, dtype=U64))
    x = philox4x32((*_words(c_low), *_words(c_high)), _words(key))
    if wide:
        x = (_join(x[0], x[1]), _join(x[2], x[3]))
    bits = jnp.stack(x, axis=1).reshape(-1)[:size].reshape(shape)
    return bits, _add_128(low, high, U64(blocks))[0]


def rng_bit_generator(key, *, shape, dtype, algorithm):
    """(new key, bits) as ``lax.rng_bit_generator``; traced in 64-bit mode."""
    state = _join(key[0::2], key[1::2]) if key.dtype == U32 else key
    wide = np.dtype(dtype).itemsize == 8
    if algorithm == lax.RandomAlgorithm.RNG_THREE_FRY:
        bits, word = threefry_bits(state[0], state[1], shape, wide)
    else:  # Philox, the CPU default
        bits, word = philox_bits(state[0], state[1], state[0], shape, wide)
    new = jnp.stack([state[0], word])
    if key.dtype == U32:
        new = jnp.stack(_words(new), axis=1).reshape(4)
    return new, bits.astype(dtype)  # 8- and 16-bit draws keep a 32-bit draw's low bits


def _key(dtype):
    return lambda rng, shapes: [rng.integers(0, np.iinfo(dtype).max, shapes[0], dtype=dtype, endpoint=True)]


def _case(name, algorithm, shape, dtype, key_dtype=U32):
    fn = lambda key: lax.rng_bit_generator(key, shape, dtype=dtype, algorithm=algorithm)  # noqa: E731
    wide = U64 in (np.dtype(dtype), np.dtype(key_dtype))
    return Testcase(f"rng_bit_generator_{name}", fn=fn, inputs=[(4 if key_dtype == U32 else 2,)],
                    input_dtypes=[key_dtype], input_values=_key(key_dtype), x64="only" if wide else False)


ALGORITHMS = lax.RandomAlgorithm


@lowering("rng_bit_generator", component="jax.lax.rng_bit_generator",
          onnx=["Mul", "Add", "BitShift", "BitwiseXor", "BitwiseOr", "Cast"], since="0.2.0",
          doc="https://docs.jax.dev/en/latest/_autosummary/jax.lax.rng_bit_generator.html",
          testcases=[
              _case("threefry_odd", ALGORITHMS.RNG_THREE_FRY, (5, 7), np.uint32),
              _case("threefry_scalar_uint8", ALGORITHMS.RNG_THREE_FRY, (), np.uint8),
              _case("threefry_uint64", ALGORITHMS.RNG_THREE_FRY, (3, 4), np.uint64),
              _case("philox", ALGORITHMS.RNG_PHILOX, (6, 5), np.uint32),
              _case("philox_uint16", ALGORITHMS.RNG_PHILOX, (2, 3, 1), np.uint16),
              _case("philox_uint64_key", ALGORITHMS.RNG_PHILOX, (5,), np.uint64, key_dtype=U64),
              _case("default", ALGORITHMS.RNG_DEFAULT, (10, 10), np.uint32),
          ])
def lower_rng_bit_generator(ctx, key, *, shape, dtype, algorithm, **params):
    if not all(isinstance(d, int) for d in shape):
        raise ctx.fail(f"the output shape {tuple(shape)} must be static: give the draw a concrete shape")
    generate = functools.partial(rng_bit_generator, shape=tuple(shape), dtype=np.dtype(dtype), algorithm=algorithm)
    with jax.enable_x64(True):  # the algorithms add and multiply 64-bit words
        closed = jax.make_jaxpr(generate)(jax.ShapeDtypeStruct(ctx.in_avals[0].shape, ctx.in_avals[0].dtype))
    return ctx.lower_jaxpr(closed, key)
