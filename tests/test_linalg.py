"""Raw outputs of the linalg primitives against JAX, where the kit's elementwise comparison cannot be used.

Eigenvectors and singular vectors are unique up to sign: each column (row of V^T) of the ONNX
result is flipped to point like JAX's before comparing.
"""

import jax
import jax.numpy as jnp
import numpy as np
import onnxruntime as ort
import pytest
from jax._src.lax import linalg as lax_linalg

from jax2onnx import to_onnx
from jax2onnx.errors import LoweringError

# Jacobi sweeps and LAPACK round differently; eigenvectors amplify that by 1/eigengap.
TOL = {np.float32: 2e-4, np.float64: 1e-10}


def _run(fn, specs, args, double):
    model = to_onnx(fn, specs, enable_double_precision=double)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: a for i, a in zip(session.get_inputs(), args)})
    with jax.enable_x64(double):
        want = [np.asarray(w) for w in jax.tree_util.tree_leaves(fn(*[jnp.asarray(a) for a in args]))]
    return model, got, want


def _aligned(got, want, axis):
    """``got`` with each vector (summing over ``axis``) flipped to point like ``want``'s."""
    signs = np.sign(np.sum(got * want, axis=axis, keepdims=True))
    return got * np.where(signs == 0, 1, signs)


def _close(got, want, dtype):
    scale = max(1.0, float(np.max(np.abs(want))))
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL[dtype] * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [2, 3])
def test_eigh_vectors_match_jax_up_to_sign(dtype, batch):
    rng = np.random.default_rng(batch)
    a = rng.standard_normal((batch, 6, 6)).astype(dtype)
    fn = lambda x: jax.lax.linalg.eigh(x, lower=False, symmetrize_input=False)  # noqa: E731
    _, (v, w), (v_jax, w_jax) = _run(fn, [("B", 6, 6)], [a], dtype == np.float64)
    _close(w, w_jax, dtype)
    _close(_aligned(v, v_jax, -2), v_jax, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 3), (3, 5)])
def test_svd_vectors_match_jax_up_to_sign(dtype, shape):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, *shape)).astype(dtype)
    fn = lambda x: jnp.linalg.svd(x, full_matrices=False)  # noqa: E731
    _, (u, s, vt), (u_jax, s_jax, vt_jax) = _run(fn, [("B", *shape)], [a], dtype == np.float64)
    _close(s, s_jax, dtype)
    _close(_aligned(u, u_jax, -2), u_jax, dtype)
    _close(_aligned(vt, vt_jax, -1), vt_jax, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_geqrf_and_cholesky_primitives_match_lapack_layout(dtype):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 5, 4)).astype(dtype)
    _, got, want = _run(lax_linalg.geqrf, [("B", 5, 4)], [a], dtype == np.float64)
    for g, w in zip(got, want):
        _close(g, w, dtype)
    square = a[:, :4, :] @ np.swapaxes(a[:, :4, :], -1, -2) + 4 * np.eye(4, dtype=dtype)
    # The primitive leaves the strict upper triangle as it was, as LAPACK's potrf.
    _, (low,), (low_jax,) = _run(lax_linalg.cholesky_p.bind, [("B", 4, 4)], [square], dtype == np.float64)
    _close(low, low_jax, dtype)


@pytest.mark.parametrize("fn", [jnp.linalg.eigh, jnp.linalg.eig])
def test_loops_are_not_unrolled(fn):
    """The graph of eigh (eig) has the same nodes for every matrix size: the sweeps are Loop bodies."""
    def node_count(n):
        model = to_onnx(fn, [("B", n, n)])
        assert "Loop" in [node.op_type for node in model.graph.node]
        return len(model.graph.node)

    assert node_count(4) == node_count(16)


def test_symbolic_matrix_size_is_a_clear_error():
    with pytest.raises(LoweringError, match="must be static"):
        to_onnx(jnp.linalg.qr, [("B", "N", "N")])


def test_subset_by_index_slices_the_sorted_spectrum():
    """JAX has subset_by_index on TPU only: compare with the matching slice of its full result."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((2, 5, 5)).astype(np.float32)
    a = a + np.swapaxes(a, -1, -2)
    subset_w = lambda x: jax.lax.linalg.eigh(x, subset_by_index=(1, 3))[1]  # noqa: E731
    subset_s = lambda x: jax.lax.linalg.svd(x, full_matrices=False, compute_uv=False, subset_by_index=(0, 2))  # noqa: E731
    for fn, full in [(subset_w, lambda x: jnp.linalg.eigvalsh(x)[..., 1:3]),
                     (subset_s, lambda x: jnp.linalg.svd(x, compute_uv=False)[..., 0:2])]:
        model = to_onnx(fn, [("B", 5, 5)])
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: a})[0]
        _close(got, np.asarray(full(a)), np.float32)


HARD_MATRICES = {
    "random": lambda rng: rng.standard_normal((2, 6, 6)),
    "cyclic_permutation": lambda rng: np.eye(5)[np.r_[1:5, 0]][None],  # unshifted QR never converges on it
    "jordan_block": lambda rng: (np.eye(5) + np.eye(5, k=1))[None],  # defective: back substitution overflows
    "zero": lambda rng: np.zeros((1, 4, 4)),
    "graded": lambda rng: (lambda s: s @ np.diag(10.0 ** np.arange(-3, 3)) @ np.linalg.inv(s))(
        np.eye(6) + 0.3 * rng.standard_normal((6, 6)))[None],
    "tiny_complex": lambda rng: 1e-20 * (rng.standard_normal((2, 4, 4)) + 1j * rng.standard_normal((2, 4, 4))),
}


@pytest.mark.parametrize("double", [False, True])
@pytest.mark.parametrize("kind", sorted(HARD_MATRICES))
def test_eig_outputs_follow_lapack_conventions(kind, double):
    """Eigenvalues as LAPACK's (as a multiset: the order is LAPACK's own); left and right eigenvectors with small
    residuals, of unit norm, their largest entry real and positive (as LAPACK's geev)."""
    from jax2onnx.builder import from_physical, to_physical

    a = HARD_MATRICES[kind](np.random.default_rng(3))
    a = a.astype({(False, "f"): np.float32, (True, "f"): np.float64, (False, "c"): np.complex64,
                  (True, "c"): np.complex128}[double, a.dtype.kind])
    model = to_onnx(jax.lax.linalg.eig, [("B", *a.shape[1:])], input_dtypes=[a.dtype], enable_double_precision=double)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out_dtype = np.complex128 if double else np.complex64
    w, vl, vr = (from_physical(x, out_dtype) for x in session.run(None, {session.get_inputs()[0].name: to_physical(a)}))
    # NumPy's LAPACK call, not JAX's: JAX's complex64 eig of the 1e-20 matrices is off by a factor ~1e7.
    w_lapack = np.linalg.eigvals(a)
    tol, scale = TOL[np.float64 if double else np.float32], np.max(np.abs(a), axis=(-2, -1), keepdims=True)
    scale = np.where(scale == 0, 1, scale)
    np.testing.assert_allclose(np.sort_complex(np.round(w / scale[..., 0], 6)),
                               np.sort_complex(np.round(w_lapack / scale[..., 0], 6)), atol=tol)
    mH = lambda x: np.conj(np.swapaxes(x, -1, -2))  # noqa: E731
    for residual in (a @ vr - vr * w[..., None, :], mH(vl) @ a - w[..., :, None] * mH(vl)):
        assert np.max(np.abs(residual) / scale) < tol
    for v in (vl, vr):
        np.testing.assert_allclose(np.linalg.norm(v, axis=-2), 1, atol=tol)
        largest = np.abs(v) >= np.max(np.abs(v), axis=-2, keepdims=True) - tol  # ties: any of them
        assert np.all(np.any(largest & (np.abs(v.imag) < tol) & (v.real > 0), axis=-2))
