"""PRNG primitives, bit for bit as JAX: keys live in the graph as their uint32[..., 2] data and
Threefry-2x32 runs on uint32 Add (which wraps), BitShift and Bitwise ops (opset 18).

Only the threefry implementation and the default ``jax_threefry_partitionable=True`` are lowered.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.extend.random as jex_random
import numpy as np
import onnx_ir as ir

from jax2onnx.plugin import LoweringContext, Testcase, lowering
from jax2onnx_lax._shared import RANDOM_DOC

# Rotation schedule and key-schedule parity of Threefry-2x32 (Salmon et al., as in jax.random).
ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
PARITY = 0x1BD11BDA


def _u32(ctx: LoweringContext, value: int) -> ir.Value:
    return ctx.const(np.uint32(value))


def _threefry2x32(ctx: LoweringContext, k1: ir.Value, k2: ir.Value, x1: ir.Value, x2: ir.Value) -> list[ir.Value]:
    """The 20-round Threefry-2x32 hash of counts (x1, x2) under key (k1, k2); inputs broadcast."""
    ks = [k1, k2, ctx.op.BitwiseXor(ctx.op.BitwiseXor(k1, k2), _u32(ctx, PARITY))]
    x = [ctx.op.Add(x1, ks[0]), ctx.op.Add(x2, ks[1])]
    for block in range(5):
        for r in ROTATIONS[block % 2]:
            first = ctx.op.Add(x[0], x[1])
            rotated = ctx.op.BitwiseOr(ctx.op.BitShift(x[1], _u32(ctx, r), direction="LEFT"),
                                       ctx.op.BitShift(x[1], _u32(ctx, 32 - r), direction="RIGHT"))
            x = [first, ctx.op.BitwiseXor(first, rotated)]
        injected = ctx.op.Add(ks[(block + 2) % 3], _u32(ctx, block + 1))
        x = [ctx.op.Add(x[0], ks[(block + 1) % 3]), ctx.op.Add(x[1], injected)]
    return x


@functools.cache
def _threefry_key_dtype():
    return jax.eval_shape(lambda: jax.random.key(0, impl="threefry2x32")).dtype


def _require_threefry(ctx: LoweringContext, key_dtype) -> None:
    if key_dtype != _threefry_key_dtype():
        raise ctx.fail(f"keys of dtype {key_dtype} are not supported: only threefry2x32 keys "
                       "(jax.random.key(seed) with the default impl) export bit-exactly")
    if not jax.config.jax_threefry_partitionable:  # type: ignore[attr-defined]  # a flag JAX's stubs omit
        raise ctx.fail("jax_threefry_partitionable=False is not supported: export with the default "
                       "jax.config.update('jax_threefry_partitionable', True)")


def _key_halves(ctx: LoweringContext, keys: ir.Value, extra_dims: int) -> list[ir.Value]:
    """The two uint32 words of keys[..., 2], with ``extra_dims`` trailing axes for broadcasting."""
    rank = ctx.in_avals[0].ndim
    halves = [ctx.op.Gather(keys, ctx.const(np.int64(i)), axis=-1) for i in (0, 1)]
    if rank and extra_dims:
        axes = ctx.const(np.arange(rank, rank + extra_dims, dtype=np.int64))
        halves = [ctx.op.Unsqueeze(h, axes) for h in halves]
    return halves


def _iota_2x32(ctx: LoweringContext, shape) -> list[ir.Value]:
    """(high, low) uint32 words of a row-major uint64 iota over ``shape`` (prng.iota_2x32_shape)."""
    if not shape:
        return [_u32(ctx, 0), _u32(ctx, 0)]
    size = ctx.op.Squeeze(ctx.dim(math.prod(shape)))
    counts = ctx.op.Reshape(ctx.op.Range(ctx.const(np.int64(0)), size, ctx.const(np.int64(1))),
                            ctx.shape_tensor(shape))
    high = ctx.op.Div(counts, ctx.const(np.int64(1 << 32)))
    return [ctx.cast(high, np.uint32), ctx.cast(counts, np.uint32)]


def _stack_key(ctx: LoweringContext, words: list[ir.Value]) -> ir.Value:
    last = ctx.const(np.array([-1], dtype=np.int64))
    return ctx.op.Concat(*[ctx.op.Unsqueeze(w, last) for w in words], axis=-1)


def _hash_iota(ctx: LoweringContext, keys: ir.Value, shape) -> list[ir.Value]:
    """Threefry of each key over an iota of ``shape``: the partitionable bits/split of JAX."""
    _require_threefry(ctx, ctx.in_avals[0].dtype)
    return _threefry2x32(ctx, *_key_halves(ctx, keys, len(shape)), *_iota_2x32(ctx, shape))


def _raw_key(rng, shapes):
    """Testcase inputs: a raw key from a random seed first, then normal samples."""
    key = np.asarray(jax.random.PRNGKey(int(rng.integers(0, 2**31))))
    return [key, *(rng.standard_normal(s) for s in shapes[1:])]


def _with_captured_key(sampler):
    """A testcase fn whose typed key is a constant of the traced function."""
    key = jax.random.key(42)
    return lambda x: sampler(key, x.shape)


def _shuffled_keys(raw_key, batch):
    """Typed key arrays through transpose, reshape, rev, select_n and broadcast_in_dim."""
    keys = jax.random.split(jax.random.wrap_key_data(raw_key), (2, 3)).T.reshape(6)
    keys = jax.numpy.where(jax.numpy.arange(6) % 2 == 0, keys, keys[::-1])
    wide = jax.numpy.broadcast_to(keys[1], (batch,))
    return jax.random.key_data(keys), jax.vmap(lambda k: jax.random.bits(k, (3,)))(wide)


@lowering("threefry2x32", component="jax.extend.random.threefry_2x32",
          onnx=["Add", "BitShift", "BitwiseOr", "BitwiseXor"], since="0.1.0",
          testcases=[Testcase(
              "random_threefry2x32",
              fn=lambda k1, k2, x1, x2: jex_random.threefry2x32_p.bind(k1, k2, x1, x2),
              inputs=[(), (), ("B", 3), ("B", 3)], input_dtypes=[np.uint32] * 4,
              input_values=lambda rng, shapes: [rng.integers(0, 2**32, s, dtype=np.uint32) for s in shapes])])
def lower_threefry2x32(ctx: LoweringContext, k1, k2, x1, x2):
    return _threefry2x32(ctx, k1, k2, x1, x2)


@lowering("iota_2x32_shape", component="jax._src.prng.iota_2x32_shape", onnx=["Range", "Div", "Cast"],
          since="0.1.0", doc=RANDOM_DOC.format("bits"),
          testcases=[Testcase("iota_2x32_shape_threefry_impl",
                              fn=lambda key: jex_random.threefry_prng_impl.random_bits(key, 32, (3, 4)),
                              inputs=[(2,)], input_dtypes=[np.uint32], input_values=_raw_key)])
def lower_iota_2x32_shape(ctx: LoweringContext, *, shape):
    return _iota_2x32(ctx, shape)


@lowering("random_bits", component="jax.random.bits", onnx=["Add", "BitShift", "BitwiseXor", "Range"],
          since="0.1.0", doc=RANDOM_DOC.format("bits"),
          testcases=[
              Testcase("random_bits_key_input", fn=lambda key, x: jax.random.bits(key, x.shape),
                       inputs=[(2,), ("B", 3)], input_dtypes=[np.uint32, np.float32], input_values=_raw_key),
              Testcase("random_bits_uint8_typed_key",
                       fn=lambda key, x: jax.random.bits(jax.random.wrap_key_data(key), x.shape, jax.numpy.uint8),
                       inputs=[(2,), ("B", 3)], input_dtypes=[np.uint32, np.float32], input_values=_raw_key),
              Testcase("random_bits_batched_keys",
                       fn=lambda key: jax.vmap(lambda k: jax.random.bits(k, (2, 3)))(jax.random.split(key, 4)),
                       inputs=[(2,)], input_dtypes=[np.uint32], input_values=_raw_key),
              Testcase("random_uniform_key_input", fn=lambda key, x: jax.random.uniform(key, x.shape),
                       inputs=[(2,), ("B", 3)], input_dtypes=[np.uint32, np.float32], input_values=_raw_key),
              # normal, gamma and beta use erf_inv, which lowers in float32 only.
              Testcase("random_normal_key_const", factory=lambda: _with_captured_key(jax.random.normal),
                       inputs=[("B", 3)], x64=False),
              Testcase("random_bernoulli", fn=lambda key, p: jax.random.bernoulli(key, jax.numpy.abs(p) / 3),
                       inputs=[(2,), ("B", 3)], input_dtypes=[np.uint32, np.float32], input_values=_raw_key),
              Testcase("random_categorical", fn=lambda key, logits: jax.random.categorical(key, logits),
                       inputs=[(2,), ("B", 5)], input_dtypes=[np.uint32, np.float32], input_values=_raw_key),
          ])
def lower_random_bits(ctx: LoweringContext, keys, *, bit_width, shape):
    high, low = _hash_iota(ctx, keys, shape)
    if bit_width == 64:
        wide = ctx.op.BitShift(ctx.cast(high, np.uint64), ctx.const(np.uint64(32)), direction="LEFT")
        return ctx.op.BitwiseOr(wide, ctx.cast(low, np.uint64))
    return ctx.cast(ctx.op.BitwiseXor(high, low), ctx.out_avals[0].dtype)


@lowering("random_split", component="jax.random.split", onnx=["Add", "BitShift", "BitwiseXor", "Concat"],
          since="0.1.0", doc=RANDOM_DOC.format("split"),
          testcases=[Testcase(
              "random_split_fold_in_chain",
              fn=lambda key: jax.random.key_data(jax.random.split(
                  jax.random.fold_in(jax.random.split(jax.random.wrap_key_data(key))[1], 7), (2, 3))),
              inputs=[(2,)], input_dtypes=[np.uint32], input_values=_raw_key),
              Testcase("random_key_array_data_movement", fn=lambda key, x: _shuffled_keys(key, x.shape[0]),
                       inputs=[(2,), ("B",)], input_dtypes=[np.uint32, np.float32], input_values=_raw_key)])
def lower_random_split(ctx: LoweringContext, keys, *, shape):
    return _stack_key(ctx, _hash_iota(ctx, keys, shape))


@lowering("random_fold_in", component="jax.random.fold_in", onnx=["Add", "BitShift", "BitwiseXor", "Concat"],
          since="0.1.0", doc=RANDOM_DOC.format("fold_in"),
          testcases=[Testcase(
              "random_fold_in_data_input",
              fn=lambda key, data: jax.random.fold_in(key, data[0]),
              inputs=[(2,), (1,)], input_dtypes=[np.uint32, np.int32],
              input_values=lambda rng, shapes: [_raw_key(rng, shapes[:1])[0], rng.integers(-2**31, 2**31, 1)]),
              Testcase(
                  "random_fold_in_loop_carry",
                  fn=lambda key: jax.random.key_data(jax.lax.fori_loop(
                      0, 3, lambda i, k: jax.random.clone(jax.random.fold_in(k, i)), jax.random.wrap_key_data(key))),
                  inputs=[(2,)], input_dtypes=[np.uint32], input_values=_raw_key)])
def lower_random_fold_in(ctx: LoweringContext, keys, msgs):
    _require_threefry(ctx, ctx.in_avals[0].dtype)
    # fold_in hashes the count pair (0, msg): threefry_seed of a uint32 message.
    k1, k2 = _key_halves(ctx, keys, 0)
    return _stack_key(ctx, _threefry2x32(ctx, k1, k2, _u32(ctx, 0), ctx.cast(msgs, np.uint32)))


@lowering("random_seed", component="jax.random.key", onnx=["Cast", "BitShift", "Concat"], since="0.1.0",
          doc=RANDOM_DOC.format("key"),
          testcases=[
              Testcase("random_seed_input", fn=lambda seed: jax.random.key_data(jax.vmap(jax.random.key)(seed)),
                       inputs=[("B",)], input_dtypes=[np.int32],
                       input_values=lambda rng, shapes: [rng.integers(-2**31, 2**31, shapes[0])]),
              Testcase("random_seed_const_split",
                       fn=lambda: jax.random.key_data(jax.random.split(jax.random.key(-3), 4))),
          ])
def lower_random_seed(ctx: LoweringContext, seeds, *, impl):
    _require_threefry(ctx, ctx.out_avals[0].dtype)
    # threefry_seed: the key is the seed's 64 bits as (high, low) words; 32-bit seeds have high 0.
    if np.dtype(ctx.in_avals[0].dtype).itemsize == 8:
        wide = ctx.op.BitShift(ctx.cast(seeds, np.uint64), ctx.const(np.uint64(32)), direction="RIGHT")
        high = ctx.cast(wide, np.uint32)
    else:
        high = ctx.op.Expand(_u32(ctx, 0), ctx.op.Shape(seeds))
    return _stack_key(ctx, [high, ctx.cast(seeds, np.uint32)])


def _key_roundtrip(name: str, fn) -> list[Testcase]:
    return [Testcase(name, fn=fn, inputs=[(2,), ("B", 3)], input_dtypes=[np.uint32, np.float32],
                     input_values=_raw_key)]


@lowering("random_wrap", component="jax.random.wrap_key_data", onnx=[], since="0.1.0",
          doc=RANDOM_DOC.format("wrap_key_data"), testcases=_key_roundtrip(
              "random_wrap_bits", lambda key, x: jax.random.bits(jax.random.wrap_key_data(key), x.shape)))
@lowering("random_unwrap", component="jax.random.key_data", onnx=[], since="0.1.0", doc=RANDOM_DOC.format("key_data"),
          testcases=_key_roundtrip("random_unwrap_split", lambda key, x: jax.random.key_data(
              jax.random.split(jax.random.wrap_key_data(key), x.shape[0]))))
@lowering("random_clone", component="jax.random.clone", onnx=[], since="0.1.0", doc=RANDOM_DOC.format("clone"),
          testcases=_key_roundtrip("random_clone_bits", lambda key, x: jax.random.bits(
              jax.random.clone(jax.random.wrap_key_data(key)), x.shape)))
def lower_random_wrap(ctx: LoweringContext, data, **params):
    # A key array and its data are the same uint32[..., 2] tensor in the graph.
    return data


@lowering("random_gamma", component="jax.random.gamma", onnx=["Loop", "Add", "BitShift", "BitwiseXor"],
          since="0.1.0", doc=RANDOM_DOC.format("gamma"),
          testcases=[
              # The sampler draws normals: erf_inv lowers in float32 only.
              Testcase("random_gamma", fn=lambda key, a: jax.random.gamma(key, jax.numpy.abs(a) + 0.2),
                       inputs=[(2,), ("B", 3)], input_dtypes=[np.uint32, np.float32], input_values=_raw_key,
                       x64=False),
              Testcase("random_beta_log_space", fn=lambda key, a: jax.random.beta(key, jax.numpy.abs(a) + 0.2, 2.0),
                       inputs=[(2,), ("B",)], input_dtypes=[np.uint32, np.float32], input_values=_raw_key,
                       x64=False),
          ])
def lower_random_gamma(ctx: LoweringContext, keys, alphas, *, log_space):
    _require_threefry(ctx, ctx.in_avals[0].dtype)
    # As JAX lowers it: its own rejection sampler, while loops of threefry draws per element.
    sampler = functools.partial(ctx.primitive.impl, log_space=log_space)
    with jax.enable_x64(ctx.double_precision):
        closed = jax.make_jaxpr(sampler)(*[jax.ShapeDtypeStruct(a.shape, a.dtype) for a in ctx.in_avals])
    return ctx.lower_jaxpr(closed, keys, alphas)
