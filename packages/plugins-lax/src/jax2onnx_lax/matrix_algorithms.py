"""Matrix factorizations and solves written in jax.numpy/lax, for the linalg rules to lower.

ONNX has no decomposition ops. The linalg rules trace these functions on the equation's
shapes and lower the resulting jaxpr, so the loops become ONNX ``Loop`` nodes through the
scan/while rules. Every function works on stacks of matrices (leading batch axes, symbolic
ones included); the matrix axes must be static. Conventions follow LAPACK as JAX calls it
on CPU: Householder reflectors as in ``dlarfg``/``zlarfg``, partial pivoting as in ``getrf``.
The same code serves complex matrices: transposes there are conjugate transposes (``jnp.conj``
leaves real arrays as they are) and comparisons read real parts.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax


def _at(x, i, axis: int):
    """``x`` indexed at the traced position ``i`` along ``axis``."""
    return lax.dynamic_index_in_dim(x, i, axis % x.ndim, keepdims=False)


def _mT(x):
    return jnp.swapaxes(x, -1, -2)


def _mH(x):
    return jnp.conj(_mT(x))


def _abs1(x):
    """LAPACK's pivot magnitude: |x|, and |re| + |im| for complex ``x`` (izamax's cabs1)."""
    return jnp.abs(x.real) + jnp.abs(x.imag) if jnp.iscomplexobj(x) else jnp.abs(x)


def _matvec(a, x):
    return jnp.einsum("...ij,...j->...i", a, x)


def _put_column(a, j, column):
    """``a`` with column ``j`` replaced by ``column`` (``...``, m)."""
    return jnp.where(jnp.arange(a.shape[-1]) == j, column[..., :, None], a)


def _loop(count: int, step, init):
    """``step`` applied for i in range(count): a Loop, and no body at all for empty matrices."""
    return lax.fori_loop(0, count, step, init) if count else init


def _eps(dtype) -> float:
    return float(jnp.finfo(dtype).eps)


# --- Householder reflectors -------------------------------------------------------------------


def householder(x, k):
    """The reflector ``H = I - tau v v^H`` with ``H^H x = beta e_k`` on rows ``k:``, as LAPACK's dlarfg/zlarfg.

    Returns ``v`` (zero above row ``k``, one at ``k``), ``tau`` and ``beta`` (real, in ``x``'s dtype).
    """
    rows = jnp.arange(x.shape[-1])
    alpha = _at(x, k, -1)
    tail = jnp.where(rows > k, x, 0)
    xnorm = jnp.sqrt(jnp.sum((tail * jnp.conj(tail)).real, axis=-1))
    trivial = (xnorm == 0) & (alpha.imag == 0)
    beta = jnp.where(alpha.real >= 0, -1, 1) * jnp.sqrt((alpha * jnp.conj(alpha)).real + xnorm * xnorm)
    safe_beta = jnp.where(trivial, 1, beta)
    tau = jnp.where(trivial, 0, (safe_beta - alpha) / safe_beta)
    scale = jnp.where(trivial, 0, 1 / jnp.where(trivial, 1, alpha - safe_beta))
    beta = beta.astype(x.dtype)
    v = jnp.where(rows == k, 1, tail * scale[..., None]).astype(x.dtype)
    return v, tau.astype(x.dtype), jnp.where(trivial, alpha, beta).astype(x.dtype)


def _reflector(packed, j):
    """The ``j``-th reflector vector stored below the diagonal of ``packed`` (geqrf layout)."""
    rows = jnp.arange(packed.shape[-2])
    return jnp.where(rows < j, 0, jnp.where(rows == j, 1, _at(packed, j, -1))).astype(packed.dtype)


def geqrf(a):
    """QR in LAPACK's packed form: R on and above the diagonal, reflectors below; and their taus."""
    m, n = a.shape[-2:]
    k = min(m, n)
    rows, cols = jnp.arange(m), jnp.arange(n)

    def step(j, carry):
        a, taus = carry
        column = _at(a, j, -1)
        v, tau, beta = householder(column, j)
        w = jnp.where(cols > j, jnp.einsum("...m,...mn->...n", jnp.conj(v), a), 0)
        a = a - jnp.conj(tau)[..., None, None] * v[..., :, None] * w[..., None, :]
        a = _put_column(a, j, jnp.where(rows < j, column, jnp.where(rows == j, beta[..., None], v)))
        return a, jnp.where(jnp.arange(k) == j, tau[..., None], taus)

    return _loop(k, step, (a, jnp.zeros((*a.shape[:-2], k), a.dtype)))


def householder_product(packed, taus):
    """The first ``n`` columns of ``H_0 H_1 ... H_{k-1}`` (LAPACK's orgqr) for a packed (m, n) input."""
    m, n = packed.shape[-2:]
    k = taus.shape[-1]
    q = jnp.broadcast_to(jnp.eye(m, n, dtype=packed.dtype), packed.shape)

    def step(i, q):
        j = k - 1 - i
        v, tau = _reflector(packed, j), _at(taus, j, -1)
        w = jnp.einsum("...m,...mn->...n", jnp.conj(v), q)
        return q - tau[..., None, None] * v[..., :, None] * w[..., None, :]

    return _loop(k, step, q)


def qr(a, full_matrices: bool):
    m, n = a.shape[-2:]
    packed, taus = geqrf(a)
    if m < n:
        q_in = packed[..., :, :m]
    elif full_matrices and m > n:
        q_in = jnp.concatenate([packed, jnp.zeros((*a.shape[:-2], m, m - n), a.dtype)], axis=-1)
    else:
        q_in = packed
    r = packed if full_matrices else packed[..., :min(m, n), :]
    return householder_product(q_in, taus), jnp.triu(r)


# --- Cholesky, LU ------------------------------------------------------------------------------


def cholesky(a):
    """Lower Cholesky factor from the lower triangle, as LAPACK's potrf: the strict upper triangle keeps
    ``a``'s entries; all NaN where ``a`` is not positive definite, as JAX."""
    n = a.shape[-1]
    if n == 0:
        return a
    rows = jnp.arange(n)

    def step(j, carry):
        low, ok = carry
        v = _at(a, j, -1) - _matvec(low, jnp.conj(_at(low, j, -2)))
        d = _at(v, j, -1).real
        root = jnp.sqrt(jnp.where(d > 0, d, 1))[..., None]
        column = jnp.where(rows > j, v / root, jnp.where(rows == j, root, 0))
        return _put_column(low, j, column), ok & (d > 0)

    low, ok = _loop(n, step, (jnp.zeros_like(a), jnp.ones(a.shape[:-2], bool)))
    factor = jnp.where(rows[:, None] >= rows, low, a)
    return jnp.where(ok[..., None, None], factor, jnp.nan).astype(a.dtype)


def lu(a):
    """LU with partial pivoting as LAPACK's getrf: packed L\\U, pivots and the row permutation (int32)."""
    m, n = a.shape[-2:]
    k = min(m, n)
    rows, cols = jnp.arange(m), jnp.arange(n)
    batch = a.shape[:-2]

    def step(j, carry):
        a, pivots, perm = carry
        magnitude = jnp.where(rows >= j, _abs1(_at(a, j, -1)), -1)
        p = jnp.argmax(magnitude, axis=-1)
        is_j, is_p = rows == j, rows == p[..., None]
        row_j = _at(a, j, -2)
        row_p = jnp.einsum("...m,...mn->...n", is_p.astype(a.dtype), a)
        a = jnp.where(is_j[..., None], row_p[..., None, :], jnp.where(is_p[..., None], row_j[..., None, :], a))
        perm_p = jnp.sum(jnp.where(is_p, perm, 0), axis=-1, keepdims=True, dtype=perm.dtype)
        perm = jnp.where(is_j, perm_p, jnp.where(is_p, _at(perm, j, -1)[..., None], perm))
        pivot = _at(row_p, j, -1)[..., None]
        column = _at(a, j, -1)
        lower = jnp.where(rows > j, jnp.where(pivot == 0, column, column / jnp.where(pivot == 0, 1, pivot)), 0)
        upper = jnp.where(cols > j, row_p, 0)
        a = a - lower[..., :, None] * upper[..., None, :]
        a = _put_column(a, j, jnp.where(rows > j, lower, column))
        pivots = jnp.where(jnp.arange(k) == j, p[..., None].astype(np.int32), pivots)
        return a, pivots, perm

    init = (a, jnp.zeros((*batch, k), np.int32), jnp.broadcast_to(jnp.arange(m, dtype=np.int32), (*batch, m)))
    return _loop(k, step, init)


def lu_pivots_to_permutation(pivots, size: int):
    """The permutation that applying the row swaps ``i <-> pivots[i]`` in order makes of ``arange(size)``."""
    rows = jnp.arange(size, dtype=pivots.dtype)

    def step(i, perm):
        p = _at(pivots, i, -1)[..., None]
        at_i, at_p = _at(perm, i, -1)[..., None], jnp.sum(jnp.where(rows == p, perm, 0), -1, perm.dtype, keepdims=True)
        return jnp.where(rows == i, at_p, jnp.where(rows == p, at_i, perm))

    return _loop(pivots.shape[-1], step, jnp.broadcast_to(rows, (*pivots.shape[:-1], size)))


# --- Solves ------------------------------------------------------------------------------------


def triangular_solve(a, b, *, left_side, lower, transpose_a, conjugate_a, unit_diagonal):
    """Solves ``op(a) x = b`` (left side) or ``x op(a) = b`` reading only ``a``'s triangle."""
    if not left_side:
        # x op(a) = b  <=>  op(a)^T x^T = b^T
        b, transpose_a = _mT(b), not transpose_a
    n = a.shape[-1]
    a = jnp.conj(a) if conjugate_a else a
    diagonal = jnp.ones(a.shape[:-1], a.dtype) if unit_diagonal else jnp.diagonal(a, axis1=-2, axis2=-1)
    strict = jnp.tril(a, -1) if lower else jnp.triu(a, 1)
    t = _mT(strict) if transpose_a else strict
    forward = lower != transpose_a

    def step(k, x):
        i = k if forward else n - 1 - k
        row = _at(b, i, -2) - jnp.einsum("...n,...nr->...r", _at(t, i, -2), x)
        return lax.dynamic_update_index_in_dim(x, row / _at(diagonal, i, -1)[..., None], i, x.ndim - 2)

    x = _loop(n, step, jnp.zeros_like(b))
    return x if left_side else _mT(x)


def tridiagonal_solve(dl, d, du, b):
    """The Thomas algorithm (no pivoting) for ``(..., m)`` diagonals and ``(..., m, k)`` right-hand sides."""
    front = [jnp.moveaxis(x, -1, 0) for x in (dl, d, du)]
    rhs = jnp.moveaxis(b, -2, 0)

    def forward(carry, xs):
        c_prev, y_prev = carry
        lo, di, up, bi = xs
        denom = di - lo * c_prev
        c, y = up / denom, (bi - lo[..., None] * y_prev) / denom[..., None]
        return (c, y), (c, y)

    init = (jnp.zeros_like(front[1][0]), jnp.zeros_like(rhs[0]))
    _, (c, y) = lax.scan(forward, init, (*front, rhs))

    def backward(x_next, cy):
        x = cy[1] - cy[0][..., None] * x_next
        return x, x

    _, x = lax.scan(backward, jnp.zeros_like(rhs[0]), (c, y), reverse=True)
    return jnp.moveaxis(x, 0, -2)


# --- Jacobi rotations: eigh and svd --------------------------------------------------------------


def _tournament(n: int) -> tuple[np.ndarray, np.ndarray]:
    """One-hot rows of the round-robin pairing: (rounds, n/2, n) for p and for q; a bye pairs with nothing."""
    players = list(range(n + n % 2))
    rounds = []
    for _ in range(len(players) - 1):
        half = len(players) // 2
        rounds.append([(min(p, q), max(p, q)) for p, q in zip(players[:half], players[half:][::-1])])
        players = [players[0], players[-1], *players[1:-1]]
    eye = np.vstack([np.eye(n), np.zeros((1, n))])
    return eye[[[p for p, _ in r] for r in rounds]], eye[[[q for _, q in r] for r in rounds]]


def _rotation(app, apq, aqq):
    """(c, s) of the Jacobi rotation that zeroes ``apq`` (the classical choice, |angle| <= pi/4)."""
    zero = apq == 0
    theta = (aqq - app) / (2 * jnp.where(zero, 1, apq))
    big = jnp.abs(theta) > 1 / _eps(theta.dtype)
    root = jnp.sqrt(jnp.where(big, 1, theta * theta) + 1)
    t = jnp.where(big, 0.5 / jnp.where(theta == 0, 1, theta), jnp.where(theta >= 0, 1, -1) / (jnp.abs(theta) + root))
    t = jnp.where(zero, 0, t)
    c = 1 / jnp.sqrt(t * t + 1)
    return c, t * c


def _phased_rotation(app, apq, aqq):
    """(c, s) of the rotation that zeroes ``apq``; for a complex ``apq`` = |apq| e^(i phi) the real rotation
    of |apq| with s turned by e^(i phi), so that J^H A J is diagonal on the pair."""
    if not jnp.iscomplexobj(apq):
        return _rotation(app, apq, aqq)
    size = jnp.abs(apq)
    c, s = _rotation(app.real, size, aqq.real)
    return c.astype(apq.dtype), s * (apq / jnp.where(size == 0, 1, size))


def _pair_entries(g, op, oq):
    gp, gq = jnp.einsum("kn,...nm->...km", op, g), jnp.einsum("kn,...nm->...km", oq, g)
    return jnp.sum(gp * op, -1), jnp.sum(gp * oq, -1), jnp.sum(gq * oq, -1)


def _rotations(op, oq, c, s):
    """The (n, n) product of the round's disjoint rotations: J[p,p] = J[q,q] = c, J[p,q] = s, J[q,p] = -conj(s)."""
    pair = lambda x, y, w: jnp.einsum("kn,...k,km->...nm", x, w, y)  # noqa: E731
    return pair(op, op, c) + pair(oq, oq, c) + pair(op, oq, s) - pair(oq, op, jnp.conj(s))


def _sweeps(state, gram, apply, max_sweeps: int, tol: float, n: int):
    """Cyclic parallel Jacobi: sweeps of round-robin rounds until ``gram``'s pairs are decoupled."""
    op_all, oq_all = (jnp.asarray(x, state[0].dtype) for x in _tournament(n))
    rounds = op_all.shape[0]

    def one_round(r, state):
        op, oq = _at(op_all, r, 0), _at(oq_all, r, 0)
        c, s = _phased_rotation(*_pair_entries(gram(state), op, oq))
        return apply(state, _rotations(op, oq, c, s))

    def coupled(g):
        diag = jnp.abs(jnp.diagonal(g, axis1=-2, axis2=-1))
        off = jnp.where(jnp.eye(n, dtype=bool), 0, jnp.abs(g))
        return jnp.any(off > tol * jnp.sqrt(diag[..., :, None] * diag[..., None, :]))

    def more(carry):
        sweep, state = carry
        return (sweep < max_sweeps) & coupled(gram(state))

    return lax.while_loop(more, lambda c: (c[0] + 1, lax.fori_loop(0, rounds, one_round, c[1])), (0, state))[1]


def _permute_columns(x, order):
    """``x[..., :, order]`` through an exact one-hot product (gathers with batched indices are costlier)."""
    onehot = (order[..., None, :] == jnp.arange(x.shape[-1])[:, None]).astype(x.dtype)
    return x @ onehot


def eigh(a, *, lower: bool, sort_eigenvalues: bool, subset_by_index):
    """Symmetric (Hermitian) eigendecomposition of the given triangle by Jacobi sweeps; ascending eigenvalues."""
    n = a.shape[-1]
    if n == 0:
        return a, jnp.sum(a, axis=-1).real  # computed, not a constant: the graph outputs stay node outputs
    tri = jnp.tril(a) if lower else jnp.triu(a)
    sym = tri + _mH(jnp.tril(a, -1) if lower else jnp.triu(a, 1))
    if jnp.iscomplexobj(a):  # LAPACK's heevd reads the real parts of the diagonal only
        sym = jnp.where(jnp.eye(n, dtype=bool), sym.real.astype(a.dtype), sym)
    eye = jnp.broadcast_to(jnp.eye(n, dtype=a.dtype), a.shape)
    a_rot, v = _sweeps((sym, eye), lambda st: st[0], lambda st, j: (_mH(j) @ st[0] @ j, st[1] @ j),
                       max_sweeps=20, tol=_eps(a.dtype), n=n)
    w = jnp.diagonal(a_rot, axis1=-2, axis2=-1).real
    if sort_eigenvalues:
        w, order = lax.sort_key_val(w, jnp.broadcast_to(jnp.arange(n), w.shape))
        v = _permute_columns(v, order)
    if subset_by_index is not None:
        lo, hi = subset_by_index
        v, w = v[..., lo:hi], w[..., lo:hi]
    return v, w


def _jacobi_svd_square(r):
    """One-sided Jacobi on a square ``r``: (u, s, v) with ``r = u diag(s) v^H``, s descending."""
    n = r.shape[-1]
    eye = jnp.broadcast_to(jnp.eye(n, dtype=r.dtype), r.shape)
    u, v = _sweeps((r, eye), lambda st: _mH(st[0]) @ st[0], lambda st, j: (st[0] @ j, st[1] @ j),
                   max_sweeps=20, tol=_eps(r.dtype), n=n)
    s = jnp.sqrt(jnp.sum((u * jnp.conj(u)).real, axis=-2))
    neg, order = lax.sort_key_val(-s, jnp.broadcast_to(jnp.arange(n), s.shape))
    s = -neg
    u, v = _permute_columns(u, order), _permute_columns(v, order)
    # Columns of zero singular values are zero: a QR completes them to an orthonormal basis, others stay.
    q, r = qr(u / jnp.where(s == 0, 1, s)[..., None, :], full_matrices=False)
    return q * jnp.where(jnp.diagonal(r, axis1=-2, axis2=-1).real < 0, -1, 1).astype(q.dtype)[..., None, :], s, v


def svd(a, *, full_matrices: bool, compute_uv: bool, subset_by_index):
    """SVD by QR then one-sided Jacobi on R; singular values descending."""
    m, n = a.shape[-2:]
    if m < n:
        outs = svd(_mH(a), full_matrices=full_matrices, compute_uv=compute_uv, subset_by_index=subset_by_index)
        return outs if not compute_uv else (outs[0], _mH(outs[2]), _mH(outs[1]))
    width = m if full_matrices else n
    if n == 0:
        s = jnp.zeros((*a.shape[:-2], 0), jnp.finfo(a.dtype).dtype)
        u = jnp.broadcast_to(jnp.eye(m, width, dtype=a.dtype), (*a.shape[:-2], m, width))
        return (s, u, jnp.zeros((*a.shape[:-2], 0, 0), a.dtype)) if compute_uv else (s,)
    packed, taus = geqrf(a)
    u_r, s, v = _jacobi_svd_square(jnp.triu(packed[..., :n, :]))
    if subset_by_index is not None:
        lo, hi = subset_by_index
        s, u_r, v = s[..., lo:hi], u_r[..., lo:hi], v[..., lo:hi]
    if not compute_uv:
        return (s,)
    q_in = jnp.concatenate([packed, jnp.zeros((*a.shape[:-2], m, width - n), a.dtype)], axis=-1)
    q = householder_product(q_in, taus)
    u = q[..., :, :n] @ u_r
    if full_matrices and subset_by_index is None:
        u = jnp.concatenate([u, q[..., :, n:]], axis=-1)
    return s, u, _mH(v)


# --- Tridiagonal reduction ---------------------------------------------------------------------


def _tridiagonal_lower(a):
    n = a.shape[-1]
    rows = jnp.arange(n)
    sym = jnp.tril(a) + _mT(jnp.tril(a, -1))

    def step(i, carry):
        s, packed, taus = carry
        column = _at(s, i, -1)
        v, tau, beta = householder(column, i + 1)
        p = tau[..., None] * _matvec(s, v)
        w = p - (0.5 * tau * jnp.sum(p * v, -1))[..., None] * v
        s = s - v[..., :, None] * w[..., None, :] - w[..., :, None] * v[..., None, :]
        packed = _put_column(packed, i, jnp.where(rows > i + 1, v, jnp.where(rows == i + 1, beta[..., None], 0)))
        return s, packed, jnp.where(jnp.arange(n - 1) == i, tau[..., None], taus)

    init = (sym, jnp.zeros_like(a), jnp.zeros((*a.shape[:-2], max(n - 1, 0)), a.dtype))
    s, packed, taus = _loop(max(n - 1, 0), step, init)
    d = jnp.diagonal(s, axis1=-2, axis2=-1)
    e = jnp.diagonal(packed, offset=-1, axis1=-2, axis2=-1)
    arr = jnp.where(rows[:, None] > rows, packed, jnp.where(rows[:, None] == rows, d[..., None], a))
    return arr, d, e, taus


def tridiagonal(a, *, lower: bool):
    """Householder reduction of a symmetric matrix to tridiagonal form, in LAPACK sytrd's packed layout."""
    if lower:
        return _tridiagonal_lower(a)
    flip = lambda x: jnp.flip(x, axis=(-2, -1))  # noqa: E731
    arr, d, e, taus = _tridiagonal_lower(flip(a))
    return flip(arr), jnp.flip(d, -1), jnp.flip(e, -1), jnp.flip(taus, -1)


# --- Nonsymmetric eigendecomposition: Hessenberg reduction, complex Schur form, eigenvectors ----


def _abs2(x):
    return jnp.real(x) ** 2 + jnp.imag(x) ** 2


def _scaled(x, r):
    """``x`` divided by the real ``r`` as a product: a complex division would square ``r``, which can underflow."""
    return x * (1 / r).astype(x.dtype)


def _phase(x):
    """``x / |x|``, and 1 where ``x`` is 0."""
    r = jnp.abs(x)
    return jnp.where(r == 0, 1, _scaled(x, jnp.where(r == 0, 1, r)))


def _pick(x, row_mask, col_mask):
    """The entry of ``x`` where the one-hot ``row_mask`` and ``col_mask`` (``...``, n) meet."""
    return jnp.sum(jnp.where(row_mask[..., :, None] & col_mask[..., None, :], x, 0), axis=(-2, -1))


def _hessenberg(a):
    """``(h, z)`` with ``a = z h z^H``, ``h`` upper Hessenberg, by Hermitian Householder reflectors."""
    n = a.shape[-1]
    rows = jnp.arange(n)

    def step(k, carry):
        h, z = carry
        x = jnp.where(rows > k, _at(h, k, -1), 0)
        alpha, xnorm = _at(x, k + 1, -1), jnp.sqrt(jnp.sum(_abs2(x), -1))
        # v = x - beta e_{k+1} with beta = -phase(alpha) |x|: no cancellation in v's leading entry.
        v = x + jnp.where(rows == k + 1, (_phase(alpha) * xnorm)[..., None], 0)
        vv = jnp.sum(_abs2(v), -1)
        scale = jnp.where(vv == 0, 0, 2 / jnp.where(vv == 0, 1, vv)).astype(a.dtype)[..., None, None]
        v_col, v_row = v[..., :, None], jnp.conj(v)[..., None, :]
        h = h - scale * v_col * (v_row @ h)
        return h - scale * (h @ v_col) * v_row, z - scale * (z @ v_col) * v_row

    eye = jnp.broadcast_to(jnp.eye(n, dtype=a.real.dtype).astype(a.dtype), a.shape)
    h, z = _loop(max(n - 2, 0), step, (a, eye))
    return jnp.where(rows[:, None] > rows + 1, 0, h), z


def _givens(x, y):
    """``(c, s)``, c real, with ``[[c, s], [-conj(s), c]] [x, y] = [r, 0]``."""
    r = jnp.sqrt(_abs2(x) + _abs2(y))
    safe = jnp.where(r == 0, 1, r)
    return jnp.where(r == 0, 1, jnp.abs(x) / safe), _scaled(_phase(x) * jnp.conj(y), safe)


def _rotate_rows(m, k, c, s):
    """Rows ``k, k+1`` of ``m`` mixed by the rotation ``(c, s)`` (per batch entry)."""
    rk, rk1 = _at(m, k, -2), _at(m, k + 1, -2)
    c, s = c[..., None].astype(m.dtype), s[..., None]
    new_k, new_k1 = c * rk + s * rk1, c * rk1 - jnp.conj(s) * rk
    rows = jnp.arange(m.shape[-2])[:, None]
    return jnp.where(rows == k, new_k[..., None, :], jnp.where(rows == k + 1, new_k1[..., None, :], m))


def _rotate_columns(m, k, c, s):
    """Columns ``k, k+1`` of ``m`` times the rotation's conjugate transpose."""
    return _mT(_rotate_rows(_mT(m), k, c, jnp.conj(s)))


def _schur(h, z):
    """``(t, q)``, the complex Schur form ``t = q^H a q``, from Hessenberg ``h = z^H a z``: single-shift QR
    sweeps of Givens rotations with Wilkinson shifts, deflating the active block ``[0, m)`` from the bottom."""
    n = h.shape[-1]
    if n < 2:
        return h, z
    rows = jnp.arange(n)
    eps = _eps(h.real.dtype)
    tiny = float(jnp.finfo(h.real.dtype).tiny) / eps
    eye = jnp.eye(n, dtype=bool)

    def sweep(carry):
        it, t, z, m, stalled = carry
        last, prev = rows == (m - 1)[..., None], rows == (m - 2)[..., None]
        a, b, c, d = _pick(t, prev, prev), _pick(t, prev, last), _pick(t, last, prev), _pick(t, last, last)
        half = (a - d) / 2
        root = jnp.sqrt(half * half + b * c)
        # The eigenvalue (a + d) / 2 +- root of the trailing 2x2 block nearer d; every tenth stalled sweep
        # an exceptional shift.
        mu = (a + d) / 2 + jnp.where(_abs2(half + root) <= _abs2(half - root), root, -root)
        mu = jnp.where((stalled % 10) == 9, d + 0.75 * jnp.abs(c).astype(t.dtype), mu)
        # Only an active block is shifted: the deflated rest, and finished matrices, keep their rounding.
        shift = mu[..., None, None] * (eye & (rows < jnp.where(m > 1, m, 0)[..., None])[..., None, :])
        shifted = t - shift

        def rows_step(k, carry):
            t, cs, ss = carry
            cc, sc = _givens(_pick(t, rows == k, rows == k), _pick(t, rows == k + 1, rows == k))
            active = k + 1 < m
            cc, sc = jnp.where(active, cc, 1), jnp.where(active, sc, 0)
            put = jnp.arange(n - 1) == k
            return _rotate_rows(t, k, cc, sc), jnp.where(put, cc[..., None], cs), jnp.where(put, sc[..., None], ss)

        zeros = jnp.zeros((*t.shape[:-2], n - 1), t.real.dtype)
        r, cs, ss = lax.fori_loop(0, n - 1, rows_step, (shifted, zeros, zeros.astype(t.dtype)))

        def columns_step(k, carry):
            t, z = carry
            cc, sc = _at(cs, k, -1), _at(ss, k, -1)
            return _rotate_columns(t, k, cc, sc), _rotate_columns(z, k, cc, sc)

        t, z = lax.fori_loop(0, n - 1, columns_step, (r, z))
        t = t + shift
        sub = jnp.abs(_pick(t, last, prev))
        small = (sub <= eps * (jnp.abs(_pick(t, prev, prev)) + jnp.abs(_pick(t, last, last)))) | (sub <= tiny)
        small = small & (m > 1)
        t = jnp.where(small[..., None, None] & last[..., :, None] & prev[..., None, :], 0, t)
        return it + 1, t, z, jnp.where(small, m - 1, m), jnp.where(small, 0, stalled + 1)

    def more(carry):
        return (carry[0] < 30 * max(n, 10)) & jnp.any(carry[3] > 1)

    m = jnp.full(h.shape[:-2], n, jnp.int32)
    _, t, z, _, _ = lax.while_loop(more, sweep, (0, h, z, m, jnp.zeros_like(m)))
    return jnp.triu(t), z


def _triangular_eigenvectors(t):
    """Upper triangular ``y`` with ``t y = y diag(t)`` for ``t`` of norm about 1, by back substitution (as
    LAPACK's trevc: pivots at least eps, each column rescaled to a largest entry of 1 against overflow)."""
    n = t.shape[-1]
    cols = jnp.arange(n)
    diag = jnp.diagonal(t, axis1=-2, axis2=-1)
    smin = _eps(t.real.dtype)

    def step(k, y):
        i = n - 1 - k
        row = jnp.einsum("...n,...nj->...j", _at(t, i, -2), y)
        pivot = _at(diag, i, -1)[..., None] - diag
        pivot = jnp.where(jnp.abs(pivot) < smin, smin, pivot)
        new = jnp.where(cols > i, -row / pivot, jnp.where(cols == i, 1, 0).astype(t.dtype))
        y = lax.dynamic_update_index_in_dim(y, new, i, y.ndim - 2)
        largest = jnp.max(jnp.abs(y), axis=-2, keepdims=True)
        return _scaled(y, jnp.where(largest == 0, 1, largest))

    return _loop(n, step, jnp.zeros_like(t))


def _normalized(v):
    """Columns of unit norm with their largest entry real and positive, as LAPACK's geev."""
    v = _scaled(v, jnp.sqrt(jnp.sum(_abs2(v), axis=-2, keepdims=True)))
    largest = jnp.argmax(_abs2(v), axis=-2)
    onehot = jnp.arange(v.shape[-2])[:, None] == largest[..., None, :]
    return v * jnp.conj(_phase(jnp.sum(jnp.where(onehot, v, 0), axis=-2, keepdims=True)))


def eig(a, *, dtype, compute_left_eigenvectors: bool, compute_right_eigenvectors: bool):
    """Eigenvalues and left/right eigenvectors (columns) of a square matrix, all complex ``dtype``: the
    complex Schur form ``a = q t q^H`` by Hessenberg QR iteration, then back substitution on ``t``."""
    a = a.astype(dtype)
    n = a.shape[-1]
    if n == 0:
        w = jnp.sum(a, axis=-1)  # computed, not a constant: the graph outputs stay node outputs
        return (w, *[a] * (compute_left_eigenvectors + compute_right_eigenvectors))
    # Scaled to a largest entry of 1 (undone on the eigenvalues): no overflow or underflow of squares.
    scale = jnp.max(jnp.abs(a), axis=(-2, -1), keepdims=True)
    scale = jnp.where((scale > 0) & jnp.isfinite(scale), scale, 1)
    t, q = _schur(*_hessenberg(_scaled(a, scale)))
    outs = [jnp.diagonal(t, axis1=-2, axis2=-1) * scale[..., 0].astype(dtype)]
    if compute_left_eigenvectors:
        # Left eigenvectors of t are right eigenvectors of t^T with rows and columns reversed.
        flip = lambda x: jnp.flip(x, axis=(-2, -1))  # noqa: E731
        outs.append(_normalized(q @ jnp.conj(flip(_triangular_eigenvectors(flip(_mT(t)))))))
    if compute_right_eigenvectors:
        outs.append(_normalized(q @ _triangular_eigenvectors(t)))
    return tuple(outs)
