"""Linear solves as ONNX Loops (triangular, tridiagonal), custom_linear_solve, and the jax.numpy.linalg
functions that JAX builds from these and the decompositions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jax2onnx.plugin import LoweringContext, Testcase, coverage, lowering
from jax2onnx_lax import matrix_algorithms as alg
from jax2onnx_lax._shared import JNP_LINALG_DOC
from jax2onnx_lax.decompositions import HOUSEHOLDER_F32, ITERATIVE_F32, by_dtype, lower_traced, spd

DOC = "https://docs.jax.dev/en/latest/_autosummary/jax.lax.linalg.{}.html"


def _triangular(rng, shapes):
    """A well-conditioned matrix (strong diagonal; only one triangle is read) and a right-hand side."""
    n = shapes[0][-1]
    return [rng.standard_normal(shapes[0]) + 2 * n * np.eye(n), rng.standard_normal(shapes[1])]


def _complex_triangular(rng, shapes):
    n = shapes[0][-1]
    a, b = (rng.standard_normal(s) + 1j * rng.standard_normal(s) for s in shapes)
    return [a + 2 * n * np.eye(n), b]


def _tri_solve(**flags):
    return lambda a, b: jax.lax.linalg.triangular_solve(a, b, **flags)


TRIANGULAR_CASES = [
    Testcase("triangular_solve_left_lower", fn=_tri_solve(left_side=True, lower=True),
             inputs=[("B", 4, 4), ("B", 4, 3)], input_values=_triangular),
    Testcase("triangular_solve_left_upper_transpose", fn=_tri_solve(left_side=True, lower=False, transpose_a=True),
             inputs=[("B", 4, 4), ("B", 4, 3)], input_values=_triangular),
    Testcase("triangular_solve_right_lower_unit", fn=_tri_solve(left_side=False, lower=True, unit_diagonal=True),
             inputs=[("B", 4, 4), ("B", 2, 4)], input_values=_triangular),
    Testcase("triangular_solve_right_upper_transpose_conjugate",
             fn=_tri_solve(left_side=False, lower=False, transpose_a=True, conjugate_a=True),
             inputs=[("B", 5, 5), ("B", 3, 5)], input_values=_triangular),
    # Half precision runs the solve in float32 (ONNX Runtime's float16 kernels are few) and rounds back.
    Testcase("triangular_solve_float16", fn=_tri_solve(left_side=True, lower=True), inputs=[("B", 4, 4), ("B", 4, 2)],
             input_dtypes=[np.float16, np.float16], input_values=_triangular, x64=False),
    Testcase("triangular_solve_scipy", fn=lambda a, b: jax.scipy.linalg.solve_triangular(a, b, trans=1, lower=True),
             inputs=[("B", 4, 4), ("B", 4, 2)], input_values=_triangular),
    Testcase("triangular_solve_complex_left_lower_adjoint",
             fn=_tri_solve(left_side=True, lower=True, transpose_a=True, conjugate_a=True),
             inputs=[("B", 4, 4), ("B", 4, 3)], input_dtypes=[np.complex64] * 2, input_values=_complex_triangular),
    Testcase("triangular_solve_complex_right_upper_conjugate",
             fn=_tri_solve(left_side=False, lower=False, conjugate_a=True),
             inputs=[("B", 4, 4), ("B", 2, 4)], input_dtypes=[np.complex64] * 2, input_values=_complex_triangular),
]


@lowering("triangular_solve", "complex:triangular_solve", component="jax.lax.linalg.triangular_solve",
          onnx=["Loop", "MatMul", "Div"],
          since="0.2.0", doc=DOC.format("triangular_solve"), testcases=TRIANGULAR_CASES)
def lower_triangular_solve(ctx: LoweringContext, a, b, **flags):
    return lower_traced(ctx, alg.triangular_solve, a, b, **flags)


def _tridiagonal_system(rng, shapes):
    dl, d, du = (rng.standard_normal(shapes[0]) for _ in range(3))
    dl[..., 0], du[..., -1] = 0, 0
    return [dl, d + 4 * np.sign(d), du, rng.standard_normal(shapes[3])]


@lowering("tridiagonal_solve", component="jax.lax.linalg.tridiagonal_solve", onnx=["Loop", "Div"], since="0.2.0",
          doc=DOC.format("tridiagonal_solve"), testcases=[
              Testcase("tridiagonal_solve", fn=jax.lax.linalg.tridiagonal_solve,
                       inputs=[("B", 6), ("B", 6), ("B", 6), ("B", 6, 2)], input_values=_tridiagonal_system),
              Testcase("tridiagonal_solve_symbolic_size", fn=jax.lax.linalg.tridiagonal_solve,
                       inputs=[("M",), ("M",), ("M",), ("M", 3)], input_values=_tridiagonal_system),
          ])
def lower_tridiagonal_solve(ctx: LoweringContext, dl, d, du, b, *, perturb_singular=False):
    # The Thomas algorithm, without LAPACK gtsv's row interchanges: meant for diagonally dominant systems.
    if perturb_singular:
        raise ctx.fail("perturb_singular=True is not supported")
    return lower_traced(ctx, alg.tridiagonal_solve, dl, d, du, b, matrix_inputs=())


def _newton_solve(a, b):
    """custom_linear_solve with an explicit solve: the export runs the solve jaxpr."""
    matvec = lambda x: a @ x  # noqa: E731
    return jax.lax.custom_linear_solve(matvec, b, lambda _, y: jnp.linalg.solve(a, y), symmetric=True)


@lowering("custom_linear_solve", component="jax.lax.custom_linear_solve", onnx=["Loop"], since="0.2.0",
          doc="https://docs.jax.dev/en/latest/_autosummary/jax.lax.custom_linear_solve.html", testcases=[
              Testcase("custom_linear_solve_explicit", fn=_newton_solve, inputs=[(4, 4), (4,)],
                       input_values=lambda rng, shapes: [*spd(rng, shapes[:1]), rng.standard_normal(shapes[1])]),
              Testcase("custom_linear_solve_diagonal", inputs=[(3, 3), ("B", 3)],
                       fn=lambda a, b: jax.vmap(lambda v: jax.lax.custom_linear_solve(
                           lambda x: (a * a + 1) @ x, v, lambda _, w: w / jnp.diag(a * a + 1)))(b),
                       input_values=lambda rng, s: [np.diag(rng.standard_normal(s[0][0])), rng.standard_normal(s[1])]),
          ])
def lower_custom_linear_solve(ctx: LoweringContext, *args, const_lengths, jaxprs):
    # Only the forward solve runs; matvec and the transposed solve serve differentiation.
    start = const_lengths.matvec + const_lengths.vecmat
    consts, b = args[start:start + const_lengths.solve], args[sum(const_lengths):]
    return ctx.lower_jaxpr(jaxprs.solve, *consts, *b)


def _general(rng, shapes):
    """Well-conditioned square matrices (and random right-hand sides)."""
    n = shapes[0][-1]
    return [rng.standard_normal(shapes[0]) + n * np.eye(n), *(rng.standard_normal(s) for s in shapes[1:])]


LU_VIA = ["lu", "triangular_solve", "custom_linear_solve"]
SVD_VIA = ["svd"]
JNP_ROWS = {
    "solve": (LU_VIA, [Testcase("linalg_solve", fn=jnp.linalg.solve, inputs=[("B", 4, 4), ("B", 4, 2)],
                                input_values=_general)]),
    "inv": (LU_VIA, [Testcase("linalg_inv", fn=jnp.linalg.inv, inputs=[("B", 5, 5)], input_values=_general)]),
    "det": (["lu"], [Testcase("linalg_det", fn=jnp.linalg.det, inputs=[("B", 4, 4)])]),
    "slogdet": (["lu"], [Testcase("linalg_slogdet", fn=jnp.linalg.slogdet, inputs=[("B", 4, 4)])]),
    "pinv": (SVD_VIA, by_dtype("linalg_pinv", jnp.linalg.pinv, [("B", 5, 3)], ITERATIVE_F32)),
    "lstsq": (SVD_VIA, by_dtype("linalg_lstsq", jnp.linalg.lstsq, [(6, 3), (6, 2)], ITERATIVE_F32)),
    "matrix_power": (["dot_general"], [Testcase("linalg_matrix_power", fn=lambda a: jnp.linalg.matrix_power(a, 3),
                                                inputs=[("B", 3, 3)])]),
    "norm": (SVD_VIA, [
        *by_dtype("linalg_norm_2", lambda a: jnp.linalg.norm(a, 2, axis=(-2, -1)), [("B", 4, 3)], ITERATIVE_F32),
        *by_dtype("linalg_norm_nuc", lambda a: jnp.linalg.norm(a, "nuc", axis=(-2, -1)), [("B", 3, 4)],
                  ITERATIVE_F32)]),
    "cond": (SVD_VIA, by_dtype("linalg_cond", jnp.linalg.cond, [("B", 4, 4)], ITERATIVE_F32,
                               input_values=_general)),
    "cholesky": (["cholesky"], by_dtype("linalg_cho_solve", lambda a, b: jax.scipy.linalg.cho_solve(
        (jnp.linalg.cholesky(a), True), b), [("B", 4, 4), ("B", 4, 2)], HOUSEHOLDER_F32,
        input_values=lambda rng, shapes: [*spd(rng, shapes[:1]), rng.standard_normal(shapes[1])])),
}

for _name, (_via, _cases) in JNP_ROWS.items():
    coverage(f"jax.numpy.linalg.{_name}", via=_via, onnx=["Loop"], since="0.2.0", doc=JNP_LINALG_DOC.format(_name),
             testcases=_cases, module=__name__)
