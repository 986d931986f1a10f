"""Matrix decompositions (jax.lax.linalg) as ONNX Loops: Cholesky, LU, QR, eigh, SVD, tridiagonal.

Each rule lowers the jaxpr of the algorithm in ``matrix_algorithms`` traced on the equation's
shapes; its loops become ONNX ``Loop`` nodes with real bodies. Where a factorization is unique
(Cholesky, LU with its pivots, Householder QR, tridiagonal reduction) the outputs match
LAPACK's as JAX returns them on CPU; eigenvectors and singular vectors are unique up to sign,
so their testcases compare sign-free quantities (reconstructions, |v|).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jax2onnx.plugin import LoweringContext, Testcase, lowering
from jax2onnx_lax import matrix_algorithms as alg

DOC = "https://docs.jax.dev/en/latest/_autosummary/jax.lax.linalg.{}.html"
LOOP_OPS = ["Loop", "MatMul", "Where"]


def lower_traced(ctx: LoweringContext, algorithm, *inputs, matrix_inputs=(0,), **params):
    """Lowers ``algorithm(*inputs, **params)`` traced on the equation's input shapes."""
    for i in matrix_inputs:
        shape = ctx.in_avals[i].shape
        if not all(isinstance(d, int) for d in shape[-2:]):
            raise ctx.fail(f"the matrix dimensions {tuple(shape[-2:])} must be static (batch dimensions may be "
                           "symbolic): give the input a concrete size for its last two axes")
    specs = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in ctx.in_avals]
    with jax.enable_x64(ctx.double_precision):
        closed = jax.make_jaxpr(_widened(functools.partial(algorithm, **params)))(*specs)
    return ctx.lower_jaxpr(closed, *inputs)


def _widened(algorithm):
    """``algorithm`` run in float32 on float16/bfloat16 inputs (ONNX Runtime lacks their kernels), rounded back."""
    def run(*xs):
        narrow = [x.dtype for x in xs if x.dtype in (jnp.float16, jnp.bfloat16)]
        if not narrow:
            return algorithm(*xs)
        outs = algorithm(*[x.astype(jnp.float32) if x.dtype in narrow else x for x in xs])
        return jax.tree_util.tree_map(lambda y: y.astype(narrow[0]) if y.dtype == jnp.float32 else y, outs)
    return run


# --- input makers and sign-free views for testcases --------------------------------------------


C64 = np.complex64


def _mH(x):
    return jnp.conj(jnp.swapaxes(x, -1, -2))


def spd(rng, shapes):
    """Symmetric positive definite matrices, well conditioned."""
    a = rng.standard_normal(shapes[0])
    return [a @ np.swapaxes(a, -1, -2) + shapes[0][-1] * np.eye(shapes[0][-1])]


def hpd(rng, shapes):
    """Hermitian positive definite matrices, well conditioned."""
    a = rng.standard_normal(shapes[0]) + 1j * rng.standard_normal(shapes[0])
    return [a @ np.conj(np.swapaxes(a, -1, -2)) + shapes[0][-1] * np.eye(shapes[0][-1])]


def symmetric(rng, shapes):
    a = rng.standard_normal(shapes[0])
    return [a + np.swapaxes(a, -1, -2)]


def _eigh_view(fn):
    """Eigenvalues, the reconstruction V diag(w) V^H and |V|: unique whatever the eigenvectors' signs (phases)."""
    def view(a):
        v, w = fn(a)
        return w, (v * w[..., None, :]) @ _mH(v), jnp.abs(v)
    return view


def _svd_view(full_matrices):
    """Singular values, U diag(s) V^T, and what else does not depend on the vectors' signs."""
    def view(a):
        u, s, vt = jnp.linalg.svd(a, full_matrices=full_matrices)
        k = s.shape[-1]
        rebuilt = (u[..., :, :k] * s[..., None, :]) @ vt[..., :k, :]
        # With full_matrices the completing columns are any orthonormal basis: compare U^H U, V V^H.
        return s, rebuilt, _mH(u) @ u, vt @ _mH(vt), jnp.abs(u[..., :, :k]), jnp.abs(vt[..., :k, :])
    return view


def _svd_orthonormal(a):
    """Rank-deficient input: the vectors of zero singular values are any orthonormal completion."""
    u, s, vt = jnp.linalg.svd(a, full_matrices=False)
    return s, (u * s[..., None, :]) @ vt, _mH(u) @ u, vt @ _mH(vt)


def _rank_two(rng, shapes):
    m, n = shapes[0][-2:]
    return [rng.standard_normal((*shapes[0][:-1], 2)) @ rng.standard_normal((*shapes[0][:-2], 2, n))]


def by_dtype(name, fn, inputs, f32_tol, **kw):
    """The testcase twice: float32 with ``f32_tol`` (rtol, atol), float64 at the kit's default tolerance."""
    return [Testcase(name, fn=fn, inputs=inputs, x64=False, rtol=f32_tol[0], atol=f32_tol[1], **kw),
            Testcase(f"{name}_f64", fn=fn, inputs=inputs, x64="only", **kw)]


# Jacobi sweeps (eigh, svd) stop at a different point than LAPACK's algorithms and round differently;
# eigenvectors amplify that by 1/eigengap, so float32 compares at 1e-4 relative.
ITERATIVE_F32 = (1e-4, 2e-5)
# Householder steps on n columns accumulate a few ulps per step.
HOUSEHOLDER_F32 = (1e-4, 1e-5)


@lowering("cholesky", "complex:cholesky", component="jax.lax.linalg.cholesky", onnx=LOOP_OPS + ["Sqrt"], since="0.2.0",
          doc=DOC.format("cholesky"), testcases=[
              Testcase("cholesky_spd", fn=jax.lax.linalg.cholesky, inputs=[("B", 5, 5)], input_values=spd),
              Testcase("cholesky_jnp", fn=jnp.linalg.cholesky, inputs=[("B", 3, 3)], input_values=spd),
              # Not positive definite: JAX returns NaN for the whole matrix.
              Testcase("cholesky_not_pd", fn=jax.lax.linalg.cholesky, inputs=[("B", 4, 4)],
                       input_values=lambda rng, shapes: [-spd(rng, shapes)[0]]),
              Testcase("cholesky_complex", fn=jax.lax.linalg.cholesky, inputs=[("B", 4, 4)], input_dtypes=[C64],
                       input_values=hpd),
          ])
def lower_cholesky(ctx: LoweringContext, a, **params):
    return lower_traced(ctx, alg.cholesky, a)


@lowering("lu", "complex:lu", component="jax.lax.linalg.lu",
          onnx=LOOP_OPS + ["ArgMax"], since="0.2.0", doc=DOC.format("lu"),
          testcases=[
              Testcase("lu_square", fn=jax.lax.linalg.lu, inputs=[("B", 5, 5)]),
              Testcase("lu_tall", fn=jax.lax.linalg.lu, inputs=[("B", 5, 3)]),
              Testcase("lu_wide", fn=jax.lax.linalg.lu, inputs=[("B", 3, 5)]),
              Testcase("lu_scipy_vmap", fn=jax.vmap(jax.scipy.linalg.lu), inputs=[("B", 4, 4)]),
              # Complex pivots by |re| + |im|, as LAPACK's izamax.
              Testcase("lu_complex", fn=jax.lax.linalg.lu, inputs=[("B", 5, 4)], input_dtypes=[C64]),
          ])
def lower_lu(ctx: LoweringContext, a, **params):
    return lower_traced(ctx, alg.lu, a)


@lowering("lu_pivots_to_permutation", component="jax.lax.linalg.lu_pivots_to_permutation", onnx=["Loop", "Where"],
          since="0.2.0", doc=DOC.format("lu_pivots_to_permutation"), testcases=[
              Testcase("lu_pivots_to_permutation", fn=lambda p: jax.lax.linalg.lu_pivots_to_permutation(p, 6),
                       inputs=[("B", 4)], input_dtypes=[np.int32],
                       input_values=lambda rng, shapes: [rng.integers(np.arange(4), 6, shapes[0])]),
          ])
def lower_lu_pivots_to_permutation(ctx: LoweringContext, pivots, *, permutation_size):
    return lower_traced(ctx, alg.lu_pivots_to_permutation, pivots, matrix_inputs=(), size=permutation_size)


@lowering("qr", "complex:qr", component="jax.lax.linalg.qr",
          onnx=LOOP_OPS + ["Sqrt"], since="0.2.0", doc=DOC.format("qr"),
          testcases=[
              *by_dtype("qr_square", jnp.linalg.qr, [("B", 4, 4)], HOUSEHOLDER_F32),
              *by_dtype("qr_tall_complete", lambda a: jnp.linalg.qr(a, mode="complete"), [("B", 5, 3)],
                        HOUSEHOLDER_F32),
              *by_dtype("qr_wide_reduced", jnp.linalg.qr, [("B", 3, 5)], HOUSEHOLDER_F32),
              *by_dtype("qr_r_only", lambda a: jnp.linalg.qr(a, mode="r"), [("B", 6, 4)], HOUSEHOLDER_F32),
              *by_dtype("qr_complex_tall", jnp.linalg.qr, [("B", 5, 3)], HOUSEHOLDER_F32, input_dtypes=[C64]),
              *by_dtype("qr_complex_wide_complete", lambda a: jnp.linalg.qr(a, mode="complete"), [("B", 3, 4)],
                        HOUSEHOLDER_F32, input_dtypes=[C64]),
          ])
def lower_qr(ctx: LoweringContext, a, *, full_matrices, pivoting=False, **params):
    if pivoting:
        raise ctx.fail("QR with column pivoting is not supported: call jax.lax.linalg.qr with pivoting=False")
    return lower_traced(ctx, alg.qr, a, full_matrices=full_matrices)


@lowering("geqrf", component="jax.lax.linalg.geqrf", onnx=LOOP_OPS + ["Sqrt"], since="0.2.0", doc=DOC.format("qr"))
def lower_geqrf(ctx: LoweringContext, a):
    return lower_traced(ctx, alg.geqrf, a)


@lowering("householder_product", "complex:householder_product", component="jax.lax.linalg.householder_product",
          onnx=LOOP_OPS, since="0.2.0",
          doc=DOC.format("householder_product"), testcases=[
              *by_dtype("householder_product", jax.lax.linalg.householder_product, [("B", 5, 3), ("B", 3)],
                        HOUSEHOLDER_F32),
          ])
def lower_householder_product(ctx: LoweringContext, a, taus):
    return lower_traced(ctx, alg.householder_product, a, taus)


@lowering("eigh", "complex:eigh", component="jax.lax.linalg.eigh",
          onnx=LOOP_OPS + ["TopK"], since="0.2.0", doc=DOC.format("eigh"),
          testcases=[
              *by_dtype("eigh_jnp", _eigh_view(lambda a: jnp.linalg.eigh(a)[::-1]), [("B", 5, 5)], ITERATIVE_F32,
                        input_values=symmetric),
              *by_dtype("eigh_upper_odd", _eigh_view(lambda a: jax.lax.linalg.eigh(a, lower=False,
                                                                                    symmetrize_input=False)),
                        [("B", 7, 7)], ITERATIVE_F32),
              *by_dtype("eigh_eigvalsh", jnp.linalg.eigvalsh, [("B", 4, 4)], ITERATIVE_F32, input_values=spd),
              *by_dtype("eigh_complex", _eigh_view(lambda a: jnp.linalg.eigh(a)[::-1]), [("B", 5, 5)],
                        ITERATIVE_F32, input_dtypes=[C64]),
          ])
def lower_eigh(ctx: LoweringContext, a, *, lower, sort_eigenvalues, subset_by_index=None, **params):
    return lower_traced(ctx, alg.eigh, a, lower=lower, sort_eigenvalues=sort_eigenvalues,
                        subset_by_index=subset_by_index)


@lowering("svd", "complex:svd", component="jax.lax.linalg.svd",
          onnx=LOOP_OPS + ["TopK"], since="0.2.0", doc=DOC.format("svd"),
          testcases=[
              *by_dtype("svd_square", _svd_view(False), [("B", 4, 4)], ITERATIVE_F32),
              *by_dtype("svd_tall_full", _svd_view(True), [("B", 6, 3)], ITERATIVE_F32),
              *by_dtype("svd_wide_reduced", _svd_view(False), [("B", 3, 5)], ITERATIVE_F32),
              *by_dtype("svd_rank_deficient", _svd_orthonormal, [("B", 6, 4)], ITERATIVE_F32, input_values=_rank_two),
              *by_dtype("svd_values_only", lambda a: jnp.linalg.svd(a, compute_uv=False), [("B", 5, 4)],
                        ITERATIVE_F32),
              *by_dtype("svd_complex_tall", _svd_view(False), [("B", 5, 3)], ITERATIVE_F32, input_dtypes=[C64]),
              *by_dtype("svd_complex_wide_full", _svd_view(True), [("B", 3, 4)], ITERATIVE_F32, input_dtypes=[C64]),
          ])
def lower_svd(ctx: LoweringContext, a, *, full_matrices, compute_uv, subset_by_index=None, **params):
    return lower_traced(ctx, alg.svd, a, full_matrices=full_matrices, compute_uv=compute_uv,
                        subset_by_index=subset_by_index)


@lowering("tridiagonal", component="jax.lax.linalg.tridiagonal", onnx=LOOP_OPS + ["Sqrt"], since="0.2.0",
          doc=DOC.format("tridiagonal"), testcases=[
              *by_dtype("tridiagonal_lower", lambda a: jax.lax.linalg.tridiagonal(a, lower=True), [("B", 5, 5)],
                        HOUSEHOLDER_F32),
              *by_dtype("tridiagonal_upper", lambda a: jax.lax.linalg.tridiagonal(a, lower=False), [("B", 4, 4)],
                        HOUSEHOLDER_F32),
          ])
def lower_tridiagonal(ctx: LoweringContext, a, *, lower):
    return lower_traced(ctx, alg.tridiagonal, a, lower=lower)

