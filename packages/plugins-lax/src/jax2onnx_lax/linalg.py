"""dot_general as MatMul, Gemm or Einsum, computed in a dtype ONNX Runtime has a kernel for."""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import onnx_ir as ir

from jax2onnx.plugin import LoweringContext, Testcase, kernels, lowering

DOC = "https://docs.jax.dev/en/latest/_autosummary/jax.lax.dot_general.html"

INT8 = {"int8", "uint8"}


def rearrange(ctx: LoweringContext, x: ir.Value, perm: Sequence[int], dtype: Any, from_dtype: Any) -> ir.Value:
    """``x`` transposed by ``perm`` and cast to ``dtype``, at export time when ``x`` is a constant."""
    identity = list(perm) == sorted(perm)
    value = ctx.const_value(x)
    if value is not None and not (identity and value.dtype == dtype):
        return ctx.const(np.ascontiguousarray(np.transpose(value, perm), dtype=dtype))
    if not identity:
        x = ctx.op.Transpose(x, perm=list(perm))
    return ctx.cast(x, dtype, from_dtype)


def compute_dtype(op_type: str, out_dtype: Any) -> np.dtype:
    """The dtype to run ``op_type`` in for a result of ``out_dtype``.

    Integer products are exact modulo 2**bits in any type at least as wide, so narrow or
    unsigned integers run in int32/int64 and the result is cast back.
    """
    out = np.dtype(out_dtype)
    if kernels.has_kernel(op_type, out):
        return out
    if np.issubdtype(out, np.integer):
        return np.dtype(np.int64 if out.itemsize == 8 else np.int32)
    return np.dtype(np.float32)


def _einsum_equation(lhs_rank: int, rhs_rank: int, contract, batch) -> str:
    letters = iter(string.ascii_lowercase)
    lhs = [next(letters) for _ in range(lhs_rank)]
    rhs = [""] * rhs_rank
    for a, b in zip((*contract[0], *batch[0]), (*contract[1], *batch[1])):
        rhs[b] = lhs[a]
    rhs = [c or next(letters) for c in rhs]
    out = [lhs[a] for a in batch[0]] + [lhs[i] for i in _free(lhs_rank, contract[0], batch[0])] + \
          [rhs[i] for i in _free(rhs_rank, contract[1], batch[1])]
    return f"{''.join(lhs)},{''.join(rhs)}->{''.join(out)}"


def _free(rank: int, contract: Sequence[int], batch: Sequence[int]) -> list[int]:
    return [i for i in range(rank) if i not in contract and i not in batch]


def _dot(contract, batch=((), ()), dtype=None):
    return lambda x, y: jax.lax.dot_general(x, y, (contract, batch), preferred_element_type=dtype)


def _single_node(*op_types: str):
    def check(model) -> None:
        ops = [n.op_type for n in model.graph.node]
        assert len(ops) == 1 and ops[0] in op_types, f"expected one of {op_types}, got {ops}"
    return check


TESTCASES = [
    Testcase("matmul_3d_by_2d", fn=lambda x, w: x @ w, inputs=[("B", 4, 8), (8, 16)], expect_ops=["MatMul"]),
    Testcase("einsum_bij_jk", fn=lambda x, w: jnp.einsum("bij,jk->bik", x, w), inputs=[("B", 4, 8), (8, 16)],
             check_model=_single_node("MatMul", "Einsum")),
    Testcase("dot_general_vector_vector", fn=_dot(([0], [0])), inputs=[("N",), ("N",)],
             expect_ops=["MatMul"]),
    Testcase("dot_general_matrix_vector", fn=_dot(([1], [0])), inputs=[("B", 8), (8,)], expect_ops=["MatMul"]),
    Testcase("dot_general_vector_matrix", fn=_dot(([0], [0])), inputs=[(8,), (8, "B")], expect_ops=["MatMul"]),
    Testcase("dot_general_batched", fn=_dot(([2], [1]), ([0], [0])), inputs=[("B", 3, 4), ("B", 4, 5)],
             expect_ops=["MatMul"]),
    Testcase("dot_general_two_batch_dims", fn=_dot(([3], [2]), ([0, 1], [0, 1])),
             inputs=[("B", 2, 3, 4), ("B", 2, 4, 5)], expect_ops=["MatMul"]),
    Testcase("dot_general_attention_scores", fn=_dot(([3], [3]), ([0, 1], [0, 1])),
             inputs=[("B", 2, 5, 8), ("B", 2, 6, 8)], expect_ops=["Transpose", "MatMul"]),
    Testcase("dot_general_batch_not_leading", fn=_dot(([2], [2]), ([1], [1])),
             inputs=[(3, "B", 4), (5, "B", 4)], expect_ops=["Transpose", "Transpose", "MatMul"]),
    Testcase("dot_general_batched_lhs_transposed", fn=_dot(([1], [1]), ([0], [0])), inputs=[("B", 4, 3), ("B", 4, 5)],
             expect_ops=["Transpose", "MatMul"]),
    Testcase("dot_general_3d_by_transposed_weight", fn=_dot(([2], [1])), inputs=[("B", 4, 8), (16, 8)],
             expect_ops=["Transpose", "MatMul"]),
    Testcase("dot_general_contract_first_gemm", fn=_dot(([0], [0])), inputs=[(8, "B"), (8, 16)],
             expect_ops=["Gemm"]),
    Testcase("dot_general_transposed_weight_gemm", fn=_dot(([1], [1])), inputs=[("B", 8), (16, 8)],
             expect_ops=["Gemm"]),
    Testcase("dot_general_constant_weight_folded",
             factory=lambda: (lambda w: lambda x: _dot(([2], [1]))(x, w))(
                 np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)),
             inputs=[("B", 4, 8)], expect_ops=["MatMul"]),
    Testcase("dot_general_matrix_vector_contract_first", fn=_dot(([0], [0])), inputs=[(8, "B"), (8,)],
             expect_ops=["MatMul"]),
    Testcase("dot_general_3d_vector_contract_first", fn=_dot(([0], [0])), inputs=[(8, "B", 3), (8,)],
             expect_ops=["Transpose", "MatMul"]),
    Testcase("dot_general_two_contracting_dims", fn=_dot(([1, 2], [0, 1])),
             inputs=[("B", 3, 4), (3, 4, 5)], expect_ops=["Einsum"]),
    Testcase("dot_general_batched_matrix_vector", fn=_dot(([2], [1]), ([0], [0])),
             inputs=[("B", 3, 4), ("B", 4)], expect_ops=["Einsum"]),
    Testcase("dot_general_rhs_two_free_dims", fn=_dot(([1], [1])), inputs=[("B", 4), (3, 4, 5)],
             expect_ops=["Einsum"]),
    Testcase("dot_general_int8_to_int32", fn=_dot(([1], [0]), dtype=jnp.int32),
             inputs=[("B", 8), (8, 4)], input_dtypes=[np.int8, np.int8], expect_ops=["MatMulInteger"]),
    Testcase("dot_general_uint8_int8_to_int32", fn=_dot(([1], [0]), dtype=jnp.int32),
             inputs=[("B", 8), (8, 4)], input_dtypes=[np.uint8, np.int8], expect_ops=["MatMulInteger"]),
    Testcase("dot_general_int8_wraps", fn=_dot(([1], [0])), inputs=[("B", 8), (8, 4)],
             input_dtypes=[np.int8, np.int8],
             input_values=lambda rng, shapes: [rng.integers(-128, 128, s) for s in shapes],
             expect_ops=["MatMulInteger", "Cast"]),
    Testcase("dot_general_int16", fn=_dot(([1], [0])), inputs=[("B", 8), (8, 4)],
             input_dtypes=[np.int16, np.int16], expect_ops=["Cast", "Cast", "MatMul", "Cast"]),
    Testcase("dot_general_int32", fn=_dot(([1], [0])), inputs=[("B", 8), (8, 4)],
             input_dtypes=[np.int32, np.int32], expect_ops=["MatMul"]),
    Testcase("dot_general_uint32", fn=_dot(([1], [0])), inputs=[("B", 8), (8, 4)],
             input_dtypes=[np.uint32, np.uint32], expect_ops=["MatMul"]),
    Testcase("dot_general_uint32_two_contracting_dims", fn=_dot(([1, 2], [0, 1])),
             inputs=[("B", 3, 4), (3, 4, 5)], input_dtypes=[np.uint32, np.uint32],
             expect_ops=["Cast", "Cast", "Einsum", "Cast"]),
    Testcase("dot_general_int8_two_contracting_dims_to_int32", fn=_dot(([1, 2], [0, 1]), dtype=jnp.int32),
             inputs=[("B", 3, 4), (3, 4, 5)], input_dtypes=[np.int8, np.int8],
             expect_ops=["Cast", "Cast", "Einsum"]),
    Testcase("dot_general_int8_to_f32", fn=_dot(([1], [0]), dtype=jnp.float32), inputs=[("B", 8), (8, 4)],
             input_dtypes=[np.int8, np.int8], expect_ops=["Cast", "Cast", "MatMul"]),
    Testcase("dot_general_mixed_int8_f32", fn=_dot(([1], [0])), inputs=[("B", 8), (8, 4)],
             input_dtypes=[np.int8, np.float32], expect_ops=["Cast", "MatMul"]),
    Testcase("dot_general_bool", fn=_dot(([1], [0])), inputs=[("B", 8), (8, 4)], input_dtypes=[np.bool_, np.bool_],
             expect_ops=["Cast", "Cast", "MatMul", "Cast"]),
    # ONNX Runtime's Python API cannot feed bfloat16 arrays: the inputs arrive as float32.
    Testcase("dot_general_bf16_to_f32",
             fn=lambda x, y: _dot(([1], [0]), dtype=jnp.float32)(x.astype(jnp.bfloat16), y.astype(jnp.bfloat16)),
             inputs=[("B", 8), (8, 4)], expect_ops=["Cast", "Cast", "Cast", "Cast", "MatMul"]),
    Testcase("dot_general_bf16",
             fn=lambda x, y: _dot(([1], [0]))(x.astype(jnp.bfloat16), y.astype(jnp.bfloat16)).astype(jnp.float32),
             inputs=[("B", 8), (8, 4)], expect_ops=["Cast", "Cast", "Cast", "Cast", "MatMul", "Cast", "Cast"],
             rtol=1e-2, atol=1e-2),  # a float32 sum in another order can round to the next bfloat16
    # bfloat16 x float16 is a bfloat16 product of the operands rounded to bfloat16: 1 + k/1024 in float16 rounds
    # to a multiple of 1/128, and with two terms the float32 sum is exact, so the results match exactly.
    Testcase("dot_general_bf16_f16",
             fn=lambda x, y: _dot(([1], [0]))(x.astype(jnp.bfloat16), y.astype(jnp.float16)).astype(jnp.float32),
             inputs=[("B", 2), (2, 3)], rtol=0.0, atol=0.0,
             input_values=lambda rng, s: [rng.choice([-1.0, 1.0], s[0]).astype(np.float32),
                                          (1 + rng.integers(0, 1024, s[1]) / 1024).astype(np.float32)]),
    Testcase("dot_general_f16", fn=_dot(([1], [0])), inputs=[("B", 8), (8, 4)],
             input_dtypes=[np.float16, np.float16], expect_ops=["MatMul"]),
]


@lowering("dot_general", component="jax.lax.dot_general", onnx=["MatMul", "Gemm", "Einsum", "MatMulInteger"],
          since="0.1.0", doc=DOC, testcases=TESTCASES)
def lower_dot_general(ctx: LoweringContext, lhs, rhs, *, dimension_numbers, **params):
    contract, batch = dimension_numbers
    (lhs_aval, rhs_aval), out_dtype = ctx.in_avals, np.dtype(ctx.out_avals[0].dtype)
    # As XLA on CPU, mixed operands are first rounded to the result dtype (integers wrap the same either way).
    if lhs_aval.dtype != rhs_aval.dtype and not np.issubdtype(out_dtype, np.integer):
        lhs, rhs = ctx.cast(lhs, out_dtype, lhs_aval.dtype), ctx.cast(rhs, out_dtype, rhs_aval.dtype)
        lhs_aval, rhs_aval = lhs_aval.update(dtype=out_dtype), rhs_aval.update(dtype=out_dtype)
    lhs_free, rhs_free = _free(lhs_aval.ndim, contract[0], batch[0]), _free(rhs_aval.ndim, contract[1], batch[1])
    # MatMul's layout: (batch..., M, K) @ (batch..., K, N), or any free lhs dims against (K, N) / (K,).
    if len(contract[0]) != 1 or len(rhs_free) > 1 or (batch[0] and (len(lhs_free), len(rhs_free)) != (1, 1)):
        dtype = compute_dtype("Einsum", out_dtype)
        out = ctx.op.Einsum(ctx.cast(lhs, dtype, lhs_aval.dtype), ctx.cast(rhs, dtype, rhs_aval.dtype),
                            equation=_einsum_equation(lhs_aval.ndim, rhs_aval.ndim, contract, batch))
        return ctx.cast(out, out_dtype, dtype)
    lhs_perm, rhs_perm = [*batch[0], *lhs_free, *contract[0]], [*batch[1], *contract[1], *rhs_free]
    # MatMulInteger sums in int32: exact modulo 2**32, so for integer results of at most 32 bits.
    if {lhs_aval.dtype.name, rhs_aval.dtype.name} <= INT8 and np.issubdtype(out_dtype, np.integer) and \
            out_dtype.itemsize <= 4:
        out = ctx.op.MatMulInteger(rearrange(ctx, lhs, lhs_perm, lhs_aval.dtype, lhs_aval.dtype),
                                   rearrange(ctx, rhs, rhs_perm, rhs_aval.dtype, rhs_aval.dtype))
        return ctx.cast(out, out_dtype, np.int32)
    dtype = compute_dtype("MatMul", out_dtype)
    transposed = (lhs_perm != sorted(lhs_perm), rhs_perm != sorted(rhs_perm))
    if lhs_aval.ndim == rhs_aval.ndim == 2 and any(transposed) and kernels.has_kernel("Gemm", dtype):
        # Gemm transposes its rank-2 operands itself.
        out = ctx.op.Gemm(ctx.cast(lhs, dtype, lhs_aval.dtype), ctx.cast(rhs, dtype, rhs_aval.dtype),
                          transA=int(transposed[0]) or None, transB=int(transposed[1]) or None)
    elif rhs_aval.ndim == 1 and transposed[0]:
        # v @ lhs needs no Transpose (ORT's Transpose+MatMul fusion is wrong for a 1-D right operand).
        out = ctx.op.MatMul(ctx.cast(rhs, dtype, rhs_aval.dtype),
                            rearrange(ctx, lhs, [*lhs_free[:-1], *contract[0], lhs_free[-1]], dtype, lhs_aval.dtype))
    else:
        out = ctx.op.MatMul(rearrange(ctx, lhs, lhs_perm, dtype, lhs_aval.dtype),
                            rearrange(ctx, rhs, rhs_perm, dtype, rhs_aval.dtype))
    return ctx.cast(out, out_dtype, dtype)
