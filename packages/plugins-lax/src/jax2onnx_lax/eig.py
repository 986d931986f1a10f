"""The nonsymmetric eigendecomposition (jax.lax.linalg.eig) as ONNX Loops.

eig's results are complex whatever its input, so the rule is ``complex:eig`` and works on complex
arrays as [..., 2] parts. It lowers ``matrix_algorithms.eig`` (Hessenberg reduction, shifted QR
iteration to the complex Schur form, back substitution) traced in complex arithmetic, whose
primitives the complex rules lower. Eigenvalues come out in the Schur form's order, not LAPACK's,
and eigenvectors are unique only up to a phase: the testcases compare order- and phase-free views.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jax2onnx.plugin import LoweringContext, lowering
from jax2onnx_lax import matrix_algorithms as alg
from jax2onnx_lax.decompositions import ITERATIVE_F32, by_dtype, lower_traced

DOC = "https://docs.jax.dev/en/latest/_autosummary/jax.lax.linalg.eig.html"


def _view(left: bool = True, right: bool = True):
    """Power sums of the eigenvalues (which fix them as a multiset) and V diag(w) V^H for each kind of
    eigenvector computed: sums over the eigenpairs of v v^H, free of the order and of the vectors' phases."""
    def view(a):
        w, *vectors = jax.lax.linalg.eig(a, compute_left_eigenvectors=left, compute_right_eigenvectors=right)
        sums = jnp.stack([jnp.sum(w ** k, axis=-1) for k in range(1, a.shape[-1] + 1)], axis=-1)
        return sums, *[(v * w[..., None, :]) @ jnp.conj(jnp.swapaxes(v, -1, -2)) for v in vectors]
    return view


def _similar(blocks):
    """Inputs ``s b s^-1`` for ``b`` made by ``blocks(rng, shape)``: a known spectrum, non-normal vectors."""
    def make(rng, shapes):
        shape = shapes[0]
        s = np.eye(shape[-1]) + 0.3 * rng.standard_normal(shape)
        return [s @ blocks(rng, shape) @ np.linalg.inv(s)]
    return make


def _rotations(rng, shape):
    """Scaled plane rotations on the diagonal: eigenvalue pairs r (cos t +- i sin t)."""
    b = np.zeros(shape)
    for k in range(0, shape[-1] - 1, 2):
        t, r = rng.uniform(0.3, 3, shape[:-2]), 1 + k / 2
        b[..., k, k], b[..., k, k + 1], b[..., k + 1, k], b[..., k + 1, k + 1] = (
            r * np.cos(t), -r * np.sin(t), r * np.sin(t), r * np.cos(t))
    return b


def _real_spectrum(rng, shape):
    return np.eye(shape[-1]) * (np.arange(shape[-1]) - 1.5) + np.triu(rng.standard_normal(shape), 1)


TESTCASES = [
    *by_dtype("eig", _view(), [("B", 5, 5)], ITERATIVE_F32),
    *by_dtype("eig_rotations", _view(), [("B", 4, 4)], ITERATIVE_F32, input_values=_similar(_rotations)),
    *by_dtype("eig_real_spectrum", _view(), [("B", 4, 4)], ITERATIVE_F32, input_values=_similar(_real_spectrum)),
    *by_dtype("eig_complex_input", _view(), [("B", 4, 4)], ITERATIVE_F32, input_dtypes=[np.complex64]),
    *by_dtype("eig_left_only", _view(right=False), [(3, 3)], ITERATIVE_F32),
    *by_dtype("eig_eigvals", lambda a: _view(False, False)(a)[0], [("B", 6, 6)], ITERATIVE_F32),
]


@lowering("complex:eig", component="jax.lax.linalg.eig", onnx=["Loop", "MatMul", "Where", "Sqrt"],
          since="0.2.0", doc=DOC, testcases=TESTCASES)
def lower_eig(ctx: LoweringContext, a, *, compute_left_eigenvectors, compute_right_eigenvectors, **params):
    return lower_traced(ctx, alg.eig, a, dtype=ctx.out_avals[0].dtype,
                        compute_left_eigenvectors=compute_left_eigenvectors,
                        compute_right_eigenvectors=compute_right_eigenvectors)
