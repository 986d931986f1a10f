"""Equinox compositions and modules that lower through other rules: what their graphs become."""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp

from jax2onnx.plugin import Testcase, coverage

from ._util import KEY, both_ways

_DOC = "https://docs.kidger.site/equinox/api/nn/{}/"


def _sequential():
    k1, k2 = jax.random.split(KEY)
    return eqx.nn.Sequential([eqx.nn.Linear(3, 8, key=k1), eqx.nn.Lambda(jnp.tanh), eqx.nn.Linear(8, 2, key=k2)])


coverage("equinox.nn.Sequential / Lambda", via=["call:equinox.nn.Linear.__call__", "tanh"],
         onnx=["Gemm", "Tanh"], since="0.1.0", doc=_DOC.format("sequential"),
         testcases=both_ways("eqx_sequential", _sequential, (3,), vmap_expect_ops=["Gemm", "Tanh", "Gemm"]),
         module=__name__)

coverage("equinox.nn.MLP", via=["call:equinox.nn.Linear.__call__", "max"], onnx=["Gemm", "Max"], since="0.1.0",
         doc=_DOC.format("mlp"),
         # The stored activation (jax.nn.relu) is the original function: it lowers through its body (Max).
         testcases=both_ways("eqx_mlp", lambda: eqx.nn.MLP(3, 2, 8, 2, key=KEY), (3,),
                             vmap_expect_ops=["Gemm", "Max", "Gemm", "Max", "Gemm"]),
         module=__name__)


def _dropout_stack(inference: bool):
    k1, k2 = jax.random.split(KEY)
    model = eqx.nn.Sequential([eqx.nn.Linear(4, 6, key=k1), eqx.nn.Dropout(0.5), eqx.nn.Linear(6, 2, key=k2)])
    return eqx.nn.inference_mode(model, inference)


def _dropout_training():
    dropout = eqx.nn.Dropout(0.5)
    return lambda x: dropout(x, key=jax.random.key(1)) * 2.0


coverage("equinox.nn.Dropout", via=["random_bits", "select_n"], onnx=[], since="0.1.0", doc=_DOC.format("dropout"),
         testcases=[
             # eqx.nn.inference_mode: Dropout is the identity, the graph is the two Linear layers.
             *both_ways("eqx_dropout_inference", lambda: _dropout_stack(True), (4,),
                        plain_expect_ops=["MatMul", "Add", "MatMul", "Add"], vmap_expect_ops=["Gemm", "Gemm"]),
             # Training mode with a fixed key: the mask is computed in the graph and matches JAX's.
             Testcase("eqx_dropout_training_fixed_key", factory=_dropout_training, inputs=[("B", 5)]),
         ],
         module=__name__)


def _scan_cell(cell_type):
    cell = cell_type(3, 5, key=KEY)

    def run(xs):
        zeros = jnp.zeros(5, xs.dtype)
        carry = (zeros, zeros) if cell_type is eqx.nn.LSTMCell else zeros

        def step(carry, x):
            carry = cell(x, carry)
            return carry, carry[0] if isinstance(carry, tuple) else carry

        return jax.lax.scan(step, carry, xs)

    return run


coverage("equinox.nn.GRUCell / LSTMCell in jax.lax.scan", via=["scan", "call:equinox.nn.Linear.__call__"],
         onnx=["Scan", "MatMul", "Sigmoid", "Tanh"], since="0.1.0", doc=_DOC.format("rnn"),
         testcases=[*both_ways("eqx_gru_cell_scan", lambda: _scan_cell(eqx.nn.GRUCell), ("T", 3)),
                    *both_ways("eqx_lstm_cell_scan", lambda: _scan_cell(eqx.nn.LSTMCell), ("T", 3))],
         module=__name__)


def _self_attention(**options):
    mha = eqx.nn.MultiheadAttention(2, 8, key=KEY, **options)
    return lambda x: mha(x, x, x)


coverage("equinox.nn.MultiheadAttention", via=["call:equinox.nn.Linear.__call__", "dot_general", "softmax"],
         onnx=["MatMul", "Softmax"], since="0.1.0", doc=_DOC.format("attention"),
         testcases=[*both_ways("eqx_multihead_attention", _self_attention, ("L", 8)),
                    *both_ways("eqx_multihead_attention_bias", lambda: _self_attention(use_query_bias=True,
                                                                                       use_output_bias=True), (4, 8))],
         module=__name__)

# RoPE builds its frequency table with NumPy on the static sequence length: static L here.
coverage("equinox.nn.RotaryPositionalEmbedding", via=["mul", "add", "slice", "concatenate"],
         onnx=["Mul", "Add", "Slice", "Concat"], since="0.1.0", doc=_DOC.format("embedding"),
         testcases=both_ways("eqx_rope", lambda: eqx.nn.RotaryPositionalEmbedding(8), (6, 8)),
         module=__name__)

coverage("equinox.nn.ConvTranspose", via=["conv_general_dilated"], onnx=["Conv"], since="0.1.0",
         doc=_DOC.format("conv"),
         # float32 only: lax.conv_general_dilated refuses float64 inputs with the float32 weights.
         testcases=[*both_ways("eqx_conv_transpose2d", lambda: eqx.nn.ConvTranspose2d(3, 2, 3, stride=2, key=KEY),
                               (3, 5, 4), x64=False),
                    *both_ways("eqx_conv_transpose1d_padded",
                               lambda: eqx.nn.ConvTranspose1d(2, 3, 4, stride=2, padding=1, output_padding=1,
                                                              key=KEY), (2, 6), x64=False)],
         module=__name__)


@eqx.filter_jit
def _filter_jitted(model, x):
    return jax.nn.sigmoid(model(x))


coverage("equinox.filter_jit", via=["jit"], onnx=[], since="0.1.0", doc="https://docs.kidger.site/equinox/api/jit/",
         testcases=both_ways("eqx_filter_jit", lambda: functools.partial(_filter_jitted, eqx.nn.Linear(3, 2, key=KEY)),
                             (3,), vmap_expect_ops=["Gemm", "Sigmoid"]),
         module=__name__)
