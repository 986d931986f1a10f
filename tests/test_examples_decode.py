"""The Llama example's KV-cache decode step, run as a generation loop in ONNX Runtime against JAX's loop.

The prompt goes through the exported prefill model, then each exported decode step is fed the previous step's
outputs (greedy next token, updated cache), for STEPS steps. Each step's logits and cache must match the JAX
decode loop's, and the last logits must match a JAX prefill over the whole generated sequence.
"""

import jax.numpy as jnp
import numpy as np
import onnxruntime as ort
from flax import nnx

from jax2onnx import to_onnx
from jax2onnx_examples.llm import LLAMA_SMALL, Llama, LlamaDecodeStep, llama_cache_spec

STEPS = 8
RTOL, ATOL = 1e-4, 1e-5


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _close(got, want, what):
    np.testing.assert_allclose(got, np.asarray(want), rtol=RTOL, atol=ATOL, err_msg=what)


def test_llama_decode_loop_matches_jax():
    cfg = LLAMA_SMALL
    model = Llama(cfg, rngs=nnx.Rngs(0))
    prefill = _session(to_onnx(model, [("B", "T")], input_dtypes=[np.int32]))
    step = _session(to_onnx(LlamaDecodeStep(model), [("B", 1), llama_cache_spec(cfg), llama_cache_spec(cfg)],
                            input_dtypes=[np.int32, np.float32, np.float32]))
    assert [i.shape[3] for i in step.get_inputs()[1:]] == ["P", "P"]

    prompt = np.random.default_rng(0).integers(0, cfg.vocab, size=(2, 5)).astype(np.int32)
    logits, keys, values = prefill.run(None, {prefill.get_inputs()[0].name: prompt})
    want_logits, want_keys, want_values = model(jnp.asarray(prompt))
    _close(logits, want_logits, "prefill logits")
    _close(keys, want_keys, "prefill keys")
    tokens = [prompt]
    for i in range(STEPS):
        token = np.argmax(logits[:, -1:], axis=-1).astype(np.int32)
        assert np.array_equal(token, np.argmax(np.asarray(want_logits)[:, -1:], axis=-1)), f"step {i}: tokens differ"
        tokens.append(token)
        names = [m.name for m in step.get_inputs()]
        logits, keys, values = step.run(None, dict(zip(names, (token, keys, values))))
        want_logits, want_keys, want_values = model(jnp.asarray(token), want_keys, want_values)
        assert keys.shape == (cfg.layers, 2, cfg.kv_heads, 5 + i + 1, cfg.head_dim)
        _close(logits, want_logits, f"step {i}: logits")
        _close(keys, want_keys, f"step {i}: keys")
        _close(values, want_values, f"step {i}: values")

    # The cached loop computes what one pass over the whole sequence computes.
    full_logits, _, _ = model(jnp.asarray(np.concatenate(tokens, axis=1)))
    np.testing.assert_allclose(logits[:, -1], np.asarray(full_logits)[:, -1], rtol=1e-4, atol=1e-5)
