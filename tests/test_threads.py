"""Concurrent exports: same bytes as sequential ones, and every wrapped attribute restored after."""

import asyncio
import concurrent.futures

import jax
import numpy as np
from flax import nnx

import jax2onnx
from jax2onnx.registry import get_registry
from jax2onnx.trace import _resolve

THREADS, EXPORTS = 8, 20


class Block(nnx.Module):
    def __init__(self, width, rngs):
        self.linear = nnx.Linear(width, width, rngs=rngs)
        self.norm = nnx.LayerNorm(width, rngs=rngs)

    def __call__(self, x):
        return jax.nn.softmax(jax.nn.gelu(self.norm(self.linear(x))))


MODELS = [Block(width, nnx.Rngs(width)) for width in (4, 6, 8, 10)]


def _export(i):
    model = MODELS[i % len(MODELS)]
    width = model.linear.in_features
    return jax2onnx.to_onnx(model, [("B", width)]).SerializeToString()


def _originals():
    found = {}
    for path in get_registry().call_targets():
        resolved = _resolve(path)
        if resolved is not None:
            owner, attr, _ = resolved
            found[path] = owner.__dict__.get(attr) if isinstance(owner, type) else getattr(owner, attr)
    return found


def test_threads_export_the_same_bytes_and_restore_every_attribute():
    before = _originals()
    assert "jax.nn.gelu" in before and "flax.nnx.Linear.__call__" in before
    sequential = [_export(i) for i in range(len(MODELS))]
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(_export, range(THREADS * EXPORTS)))
    assert all(result == sequential[i % len(MODELS)] for i, result in enumerate(results))
    ops = [n.op_type for n in __import__("onnx").load_from_string(sequential[0]).graph.node]
    assert {"Gemm", "LayerNormalization", "Gelu", "Softmax"} <= set(ops)
    after = _originals()
    assert all(after[path] is before[path] for path in before)


def test_asyncio_executor_exports_match():
    async def main():
        loop = asyncio.get_running_loop()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            return await asyncio.gather(*(loop.run_in_executor(pool, _export, i) for i in range(16)))

    before = _originals()
    results = asyncio.run(main())
    assert all(result == _export(i) for i, result in enumerate(results))
    assert all(_originals()[path] is before[path] for path in before)


def test_calls_outside_an_export_are_untouched_while_another_thread_exports():
    # While exports run in other threads, a plain JAX call here is not recorded as a named call.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(_export, i) for i in range(8)]
        for _ in range(50):
            jaxpr = jax.make_jaxpr(jax.nn.gelu)(np.ones(3, np.float32))
            assert "jax2onnx_call" not in str(jaxpr)
        concurrent.futures.wait(futures)
