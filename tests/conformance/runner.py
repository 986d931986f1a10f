"""Conformance: JAX's own primitive harnesses exported, checked and run in ONNX Runtime.

The harnesses (``jax._src.internal_test_util.test_harnesses``, shipped in every jax wheel) are
the use cases JAX tests its exporters with: ~5,500 of them in ~130 primitive groups, each a
function with argument makers, a dtype and params. JAX keeps them under ``jax._src`` only, so
this module is the one place that reaches in there.

For every harness JAX itself runs on CPU, :func:`run_harness` exports ``harness.dyn_fun`` on
the argument shapes and dtypes (64-bit ones with ``enable_double_precision=True``), checks the
model (onnx.checker full check, strict shape inference), runs it in ONNX Runtime and compares
with JAX: exactly for integers and booleans, within a tolerance per float dtype.

Run as a script for the summary: ``python -m tests.conformance.runner [full] [GROUP ...]``.
"""

from __future__ import annotations

import collections
import dataclasses
import fnmatch
import functools
import operator
import os
import re
import sys
import time
import tomllib
from collections.abc import Iterable, Sequence
from typing import Any

import jax
import ml_dtypes
import numpy as np
import onnx

KNOWN_FAILURES = os.path.join(os.path.dirname(__file__), "known_failures.toml")
SAMPLE_PER_GROUP = 3
SEED = 0

# (rtol, atol) per output dtype. Within one dtype JAX (XLA) and ONNX Runtime round the same
# operations differently (fused multiply-adds, summation order, their own transcendental
# approximations), so the bar is a few ulps of the dtype, scaled by magnitude.
TOLERANCES = {
    "float64": (1e-10, 1e-12),
    "float32": (1e-5, 1e-6),
    "float16": (2e-3, 2e-3),
    "bfloat16": (2e-2, 2e-2),
}
# Looser bars per group, each with its reason.
GROUP_TOLERANCES: dict[str, dict[str, tuple[float, float]]] = {
    # ONNX Runtime's Conv sums the 60-term windows in its own blocked order (errors ~5e-5 at values ~10);
    # a complex convolution is such float32 convolutions of its parts.
    "conv_general_dilated": {"float32": (1e-4, 1e-4), "complex64": (1e-4, 1e-4)},
    # XLA rounds every partial sum to float16/bfloat16; the export sums in float32 and rounds once.
    "cumsum": {"float16": (1e-2, 1e-2), "bfloat16": (5e-2, 5e-2)},
    # ONNX Runtime's DFT sums lengths that are not powers of two term by term where XLA's FFT factors them:
    # float32 errors grow to ~1e-4 of the transform's largest entries (~60 for 4080-point transforms).
    "fft": {"float32": (1e-4, 1e-2), "complex64": (1e-4, 1e-2)},
    # XLA's float32 lgamma is off by up to 5e-6 absolute near its zeros (against float64); the export is exact there.
    "lgamma": {"float32": (1e-5, 1e-5)},
}
# Matrix factorizations: XLA calls LAPACK's blocked algorithms, the export unblocked loops of the same
# (backward stable) steps. They agree to a few ulps of the matrix's scale, not of each entry: errors count
# against the largest entry of each output (norm-wise), with a float32 bar of n*eps for n up to 200.
NORMWISE = {"cholesky", "qr", "triangular_solve", "lu", "svd", "eigh"}
NORMWISE_TOLERANCES = {"float32": (1e-4, 0.0), "complex64": (1e-4, 0.0), "float64": (1e-11, 0.0),
                       "complex128": (1e-11, 0.0)}


def _mH(x: np.ndarray) -> np.ndarray:
    return np.conj(np.swapaxes(x, -1, -2))


def unique_views(group: str, outs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """What a decomposition determines uniquely: singular and eigenvectors are unique up to a sign (a phase
    for complex ones) per vector, so compare the values, the reconstruction and the vectors' Gram matrices."""
    if group == "svd" and len(outs) == 3:
        s, u, vt = outs
        k = s.shape[-1]
        rebuilt = (u[..., :, :k] * s[..., None, :].astype(u.dtype)) @ vt[..., :k, :]
        return [s, rebuilt, _mH(u) @ u, vt @ _mH(vt)]
    if group == "eigh":
        v, w = outs
        return [w, (v * w[..., None, :].astype(v.dtype)) @ _mH(v), _mH(v) @ v]
    return list(outs)


def compare_eig(a: np.ndarray, got: Sequence[np.ndarray], want: Sequence[np.ndarray], left: bool) -> str | None:
    """eig: LAPACK orders the eigenvalues its own way and eigenvectors are unique only up to a phase, so, as
    JAX's own eig tests, eigenvalues compare as multisets (an optimal matching) and eigenvectors by their
    residual ||A v - v w|| / ||A|| (u^H A - w u^H for left ones) and unit norm, against the norm-wise bar."""
    from scipy.optimize import linear_sum_assignment  # noqa: PLC0415 - a JAX dependency

    shapes = [(g.dtype, g.shape) for g in got] != [(w.dtype, w.shape) for w in want]
    if len(got) != len(want) or shapes:
        return f"outputs {[(g.dtype, g.shape) for g in got]}, JAX {[(w.dtype, w.shape) for w in want]}"
    n, count, tol = a.shape[-1], int(np.prod(a.shape[:-2])), NORMWISE_TOLERANCES[want[0].dtype.name][0]
    a = a.reshape(count, n, n).astype(np.complex128)
    w_got, w_want = (x.reshape(count, n).astype(np.complex128) for x in (got[0], want[0]))
    scale = np.maximum(np.linalg.norm(a, 2, axis=(-2, -1)) if n else np.ones(count), np.finfo(np.float64).tiny)
    problems = []
    for b in range(a.shape[0]):
        cost = np.abs(w_got[b][:, None] - w_want[b][None, :])
        err = cost[linear_sum_assignment(cost)].max(initial=0) / scale[b]
        problems += [f"eigenvalues of matrix {b} differ by {err:.3g} of ||A||"] if not err <= tol else []
    kinds = ["left", "right"] if left and len(got) == 3 else ["left" if left else "right"] * (len(got) - 1)
    for kind, v in zip(kinds, got[1:]):
        v = v.reshape(count, n, n).astype(np.complex128)
        op = _mH(a) if kind == "left" else a
        w = np.conj(w_got) if kind == "left" else w_got
        residual = np.linalg.norm(op @ v - v * w[:, None, :], axis=-2) / scale[:, None]
        norm = np.abs(np.linalg.norm(v, axis=-2) - 1)
        if not (residual.max(initial=0) <= tol and norm.max(initial=0) <= tol):
            problems.append(f"{kind} eigenvectors: residual {residual.max():.3g}, norm off by {norm.max():.3g}")
    return "; ".join(problems) or None


def _same_layout(got: Sequence[np.ndarray], want: Sequence[np.ndarray]) -> str | None:
    if [(g.dtype, g.shape) for g in got] != [(w.dtype, w.shape) for w in want]:
        return f"outputs {[(g.dtype, g.shape) for g in got]}, JAX {[(w.dtype, w.shape) for w in want]}"
    return None


def _identical(g: np.ndarray, w: np.ndarray) -> bool:
    return np.array_equal(g, w, equal_nan=g.dtype.kind in "fc" or g.dtype == BFLOAT16)


def compare_unstable_sort(got: Sequence[np.ndarray], want: Sequence[np.ndarray], dimension: int,
                          num_keys: int) -> str | None:
    """Unstable sort: XLA orders equal keys its own way, so the other arrays are compared by what the sort
    determines: the keys equal JAX's and are sorted, and along every line the tuples (key..., other...)
    are JAX's as a multiset (one permutation moved all arrays; no entry was lost, doubled or re-paired)."""
    problem = _same_layout(got, want)
    if problem:
        return problem
    for i in range(num_keys):
        if not _identical(got[i], want[i]):
            return f"key {i}: {int(np.sum(got[i] != want[i]))} of {want[i].size} elements differ"
    lines = [np.moveaxis(x, dimension, -1).reshape(-1, x.shape[dimension]) for x in got]
    order = np.zeros(lines[0][:, 1:].shape, np.int8)  # lexicographic comparison of neighbours, last key first
    for key in reversed(lines[:num_keys]):
        order = np.where(key[:, :-1] < key[:, 1:], -1, np.where(key[:, :-1] > key[:, 1:], 1, order))
    if (order > 0).any():
        return "keys are not sorted"
    wanted = [np.moveaxis(x, dimension, -1).reshape(-1, x.shape[dimension]) for x in want]
    for line in range(lines[0].shape[0]):
        rows = [sorted(zip(*([e.tobytes() for e in x[line]] for x in arrays))) for arrays in (lines, wanted)]
        if rows[0] != rows[1]:
            return f"line {line}: the sorted tuples are not a permutation of JAX's"
    return None


def compare_top_k_ties(operand: np.ndarray, got: Sequence[np.ndarray], want: Sequence[np.ndarray],
                       axis: int) -> str | None:
    """Top-k with ties: which of equal values XLA returns is its own choice, so the values equal JAX's and the
    indices are distinct, in range and pick those values from the operand along ``axis``."""
    problem = _same_layout(got, want)
    if problem:
        return problem
    values, indices = got
    if not _identical(values, want[0]):
        return f"values: {int(np.sum(values != want[0]))} of {values.size} elements differ"
    size = operand.shape[axis]
    if not ((indices >= 0) & (indices < size)).all():
        return f"indices outside [0, {size})"
    ordered = np.sort(np.moveaxis(indices, axis, -1), axis=-1)
    if (ordered[..., 1:] == ordered[..., :-1]).any():
        return "an index is repeated"
    picked = np.take_along_axis(operand, indices.astype(np.int64), axis=axis).astype(values.dtype)
    if not _identical(picked, values):
        return f"operand[indices] differs from the values at {int(np.sum(picked != values))} elements"
    return None


def summation_bound(lhs: np.ndarray, rhs: np.ndarray, dimension_numbers: Any, dtype: np.dtype) -> np.ndarray | None:
    """dot_general: two float sums of the same n products in different orders (XLA's and ONNX Runtime's
    blocking) each lie within n*eps/2 * sum|products| of the exact sum, so they may differ by up to
    n*eps * sum|products| per element: at most ~1e-6 of that sum for float32 and short sums, far below any
    wrong product or misplaced element. None for dtypes other than float32 and float64."""
    if np.dtype(dtype).name not in ("float32", "float64"):
        return None
    (contract, _), _ = dimension_numbers
    n = int(np.prod([lhs.shape[d] for d in contract]))
    with jax.enable_x64(True):
        magnitude = jax.lax.dot_general(np.abs(lhs).astype(np.float64), np.abs(rhs).astype(np.float64),
                                        dimension_numbers)
    return n * np.finfo(dtype).eps * np.asarray(magnitude)


BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
_WIDE = {np.dtype(t) for t in (np.float64, np.int64, np.uint64, np.complex128)}


@functools.cache
def harnesses() -> tuple[Any, ...]:
    """Every harness that JAX itself implements on CPU, in definition order."""
    from jax._src.internal_test_util import test_harnesses  # noqa: PLC0415 - harnesses live only there

    return tuple(h for h in test_harnesses.all_harnesses if _runs_on_cpu(h))


def _runs_on_cpu(harness: Any) -> bool:
    try:
        return harness.filter("cpu", include_jax_unimpl=False)
    except TypeError:  # a signature without the keyword: limitations still apply by default
        return harness.filter("cpu")


def case_id(harness: Any) -> str:
    return f"{harness.group_name}/{harness.name}"


def groups(cases: Iterable[Any] | None = None) -> dict[str, list[Any]]:
    by_group: dict[str, list[Any]] = collections.defaultdict(list)
    for h in cases if cases is not None else harnesses():
        by_group[h.group_name].append(h)
    return dict(by_group)


def sample(per_group: int = SAMPLE_PER_GROUP) -> list[Any]:
    """A deterministic spread: up to ``per_group`` cases of each group, evenly spaced through it."""
    chosen = []
    for cases in groups().values():
        if len(cases) <= per_group:
            chosen.extend(cases)
        else:
            step = (len(cases) - 1) / (per_group - 1) if per_group > 1 else 0
            chosen.extend(cases[round(i * step)] for i in range(per_group))
    return chosen


@dataclasses.dataclass
class Result:
    case: str
    group: str
    status: str  # "pass", "fail" or "jax" (JAX itself could not run the case here)
    stage: str = ""
    message: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "pass"


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _physical(x: Any) -> np.ndarray:
    return np.asarray(jax.random.key_data(x)) if _is_key(x) else np.asarray(x)


def _spec(x: Any) -> jax.ShapeDtypeStruct:
    if _is_key(x):
        return jax.ShapeDtypeStruct(x.shape, x.dtype)
    x = np.asarray(x)
    return jax.ShapeDtypeStruct(x.shape, x.dtype)


def _needs_x64(harness: Any, args: Sequence[Any]) -> bool:
    dtypes = [np.dtype(a.dtype) for a in args if not _is_key(a) and hasattr(a, "dtype")]
    dtypes += [np.dtype(type(a)) for a in args if isinstance(a, (np.generic,))]
    if harness.dtype is not None:
        try:
            dtypes.append(np.dtype(harness.dtype))
        except TypeError:
            pass
    if any(d in _WIDE for d in dtypes):
        return True
    try:  # 32-bit inputs may still make a 64-bit result (convert_element_type, iota)
        with jax.enable_x64(True):
            outs = jax.eval_shape(harness.dyn_fun, *args)
        return any(np.dtype(o.dtype) in _WIDE for o in jax.tree_util.tree_leaves(outs) if not _is_key(o))
    except Exception:
        return False


def _through_float32(fn: Any, args: list) -> tuple[Any, list]:
    """ONNX Runtime's Python API cannot feed or fetch bfloat16: such inputs and outputs pass as
    float32 and convert inside the model (exact both ways for bfloat16 values)."""
    narrow = [not _is_key(a) and a.dtype == BFLOAT16 for a in args]

    def wrapped(*xs):
        outs = fn(*(x.astype(BFLOAT16) if n else x for x, n in zip(xs, narrow)))
        return jax.tree_util.tree_map(lambda o: o.astype(np.float32) if o.dtype == BFLOAT16 else o, outs)

    return wrapped, [a.astype(np.float32) if n else a for a, n in zip(args, narrow)]


def run_harness(harness: Any) -> Result:
    """Exports one harness, checks the model, runs it in ONNX Runtime and compares with JAX."""
    start = time.perf_counter()
    result = _run(harness)
    result.seconds = time.perf_counter() - start
    return result


def _run(harness: Any) -> Result:
    import onnxruntime as ort

    from jax2onnx import to_onnx
    from jax2onnx.builder import from_physical, to_physical

    case, group = case_id(harness), harness.group_name

    def fail(stage: str, exc: BaseException | str) -> Result:
        text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        return Result(case, group, "fail", stage, " ".join(str(text).split())[:400])

    rng = np.random.RandomState(SEED)
    try:
        with jax.enable_x64(True):
            args = list(harness.dyn_args_maker(rng))
    except Exception as exc:  # noqa: BLE001 - JAX's own argument maker: not ours to judge
        return Result(case, group, "jax", "args", str(exc)[:200])
    double = _needs_x64(harness, args)
    with jax.enable_x64(double):
        args = [a if _is_key(a) else np.asarray(a) for a in args]
        try:
            want = [_physical(w) for w in jax.tree_util.tree_leaves(harness.dyn_fun(*args))]
        except Exception as exc:  # noqa: BLE001
            return Result(case, group, "jax", "jax", str(exc)[:200])
    fn, args = _through_float32(harness.dyn_fun, args)
    try:
        model = to_onnx(fn, [_spec(a) for a in args], enable_double_precision=double)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded with its stage
        return fail("export", exc)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # noqa: BLE001
        return fail("checker", exc)
    try:
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except Exception as exc:  # noqa: BLE001
        return fail("shape_inference", exc)
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 4  # failures are reported by the exception, not the log
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001
        return fail("ort_load", exc)
    # The model holds complex arrays as real ones with a trailing axis of 2 [real, imag], keys as their data.
    feeds = {m.name: to_physical(a) for m, a in zip(session.get_inputs(), args)}
    try:
        got = session.run(None, feeds)
    except Exception as exc:  # noqa: BLE001
        return fail("ort_run", exc)
    got = [g.astype(BFLOAT16) if w.dtype == BFLOAT16 else from_physical(g, w.dtype) for g, w in zip(got, want)]
    if group == "eig":
        problem = compare_eig(args[0], got, want, harness.params["compute_left_eigenvectors"])
    elif group == "sort" and not harness.params["is_stable"]:
        problem = compare_unstable_sort(got, want, harness.params["dimension"], harness.params["num_keys"])
    elif group == "approx_top_k":
        problem = compare_top_k_ties(args[0], got, want, axis=-1)  # the harnesses reduce the last axis
    elif group == "dot_general":
        bound = summation_bound(args[0], args[1], harness.params["dimension_numbers"], want[0].dtype)
        problem = compare(group, got, want, bound)
    else:
        problem = compare(group, unique_views(group, got), unique_views(group, want))
    return fail("compare", problem) if problem else Result(case, group, "pass")


def compare(group: str, got: Sequence[np.ndarray], want: Sequence[np.ndarray],
            bound: np.ndarray | None = None) -> str | None:
    """None when ONNX Runtime's outputs match JAX's, else what differs; ``bound`` (per element of a single
    output) widens the absolute tolerance where a known rounding bound exceeds it."""
    if len(got) != len(want):
        return f"ONNX returned {len(got)} outputs, JAX {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        if g.dtype != w.dtype:
            return f"output {i}: dtype {g.dtype}, JAX {w.dtype}"
        if g.shape != w.shape:
            return f"output {i}: shape {g.shape}, JAX {w.shape}"
        if w.dtype.kind in "fc" or w.dtype.name == "bfloat16":
            rtol, atol = GROUP_TOLERANCES.get(group, {}).get(w.dtype.name, TOLERANCES.get(w.dtype.name, (1e-5, 1e-6)))
            wide = np.complex128 if w.dtype.kind == "c" else np.float64
            g64, w64 = g.astype(wide), w.astype(wide)
            if group in NORMWISE and w.dtype.name in NORMWISE_TOLERANCES and w.size:
                scale = np.nanmax(np.abs(w64))
                rtol, atol = 0.0, NORMWISE_TOLERANCES[w.dtype.name][0] * (scale if np.isfinite(scale) else 1.0)
            if bound is not None:
                atol = np.maximum(atol, bound)
            if not np.allclose(g64, w64, rtol=rtol, atol=atol, equal_nan=True):
                err = np.nanmax(np.abs(g64 - w64))
                bar = atol if np.ndim(atol) == 0 else "n*eps*sum|products|"
                return f"output {i}: max abs error {err:.3g} (rtol={rtol}, atol={bar})"
        elif not np.array_equal(g, w):
            bad = int(np.sum(g != w))
            return f"output {i}: {bad} of {w.size} elements differ"
    return None


@dataclasses.dataclass(frozen=True)
class KnownFailure:
    pattern: str
    reason: str
    section: str


def known_failures(path: str = KNOWN_FAILURES, jax_version: str = jax.__version__) -> list[KnownFailure]:
    """Entries of the reviewed list that apply to ``jax_version``: glob patterns on ``group/name`` with a
    reason each (see the top of known_failures.toml for entries limited to some JAX versions)."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    entries = []
    for section, items in data.items():
        for pattern, value in items.items():
            if isinstance(value, dict):
                if not _version_matches(value["jax"], jax_version):
                    continue
                value = value["reason"]
            entries.append(KnownFailure(pattern, value, section))
    return entries


def _version_matches(condition: str, version: str) -> bool:
    """Whether ``version`` satisfies ``condition``: comparisons such as "<0.11" or ">=0.12", comma-separated."""
    def parts(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", v)[:3])

    compare = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}
    for clause in condition.split(","):
        op, bound = re.fullmatch(r"\s*(<=|>=|==|<|>)\s*([\d.]+)\s*", clause).groups()
        width = len(parts(bound))
        if not compare[op](parts(version)[:width], parts(bound)):
            return False
    return True


def listed(case: str, entries: Sequence[KnownFailure]) -> KnownFailure | None:
    return next((e for e in entries if fnmatch.fnmatchcase(case, e.pattern)), None)


def audit(results: Sequence[Result], entries: Sequence[KnownFailure]) -> tuple[list[Result], list[KnownFailure]]:
    """(failures not on the list, entries whose every case in ``results`` now passes)."""
    unlisted = [r for r in results if r.status == "fail" and listed(r.case, entries) is None]
    stale = []
    for entry in entries:
        matched = [r for r in results if r.status != "jax" and fnmatch.fnmatchcase(r.case, entry.pattern)]
        if matched and all(r.passed for r in matched):
            stale.append(entry)
    return unlisted, stale


def summary(results: Sequence[Result]) -> list[str]:
    """One line per group and a total; known failures count as failures."""
    lines = []
    by_group: dict[str, list[Result]] = collections.defaultdict(list)
    for r in results:
        by_group[r.group].append(r)
    worst = []
    for group in sorted(by_group):
        rs = [r for r in by_group[group] if r.status != "jax"]
        passed = sum(r.passed for r in rs)
        skipped = len(by_group[group]) - len(rs)
        stages = collections.Counter(r.stage for r in rs if not r.passed)
        detail = ", ".join(f"{k} {v}" for k, v in sorted(stages.items()))
        pct = 100.0 * passed / len(rs) if rs else 100.0
        worst.append(pct)
        lines.append(f"{group:28s} {passed:4d}/{len(rs):<4d} {pct:5.1f}%" + (f"  failed: {detail}" if detail else "")
                     + (f"  (JAX could not run {skipped})" if skipped else ""))
    total = [r for r in results if r.status != "jax"]
    passed = sum(r.passed for r in total)
    pct = 100.0 * passed / len(total) if total else 100.0
    lines.append(f"TOTAL {passed}/{len(total)} passed ({pct:.1f}%) in {len(by_group)} groups; "
                 f"lowest group {min(worst, default=100.0):.1f}%; {sum(r.seconds for r in results):.1f} s")
    return lines


def main(argv: Sequence[str]) -> int:
    full = "full" in argv or os.environ.get("JAX2ONNX_CONFORMANCE") == "full"
    wanted = [a for a in argv if a != "full"]
    per_group = int(os.environ.get("JAX2ONNX_CONFORMANCE_SAMPLE", SAMPLE_PER_GROUP))
    cases = list(harnesses()) if full else sample(per_group)
    shard = os.environ.get("JAX2ONNX_CONFORMANCE_SHARD")  # "i/n": every n-th case from the i-th
    if shard:
        index, count = (int(x) for x in shard.split("/"))
        cases = cases[index::count]
    if wanted:
        cases = [h for h in cases if any(fnmatch.fnmatchcase(case_id(h), w) or h.group_name == w for w in wanted)]
    start = time.perf_counter()
    results = []
    for h in cases:
        r = run_harness(h)
        results.append(r)
        if not r.passed and os.environ.get("JAX2ONNX_CONFORMANCE_VERBOSE"):
            print(f"{r.case}: {r.status} {r.stage}: {r.message}", flush=True)
    dump = os.environ.get("JAX2ONNX_CONFORMANCE_DUMP")
    if dump:
        import json

        with open(dump, "w") as fh:
            json.dump([dataclasses.asdict(r) for r in results], fh, indent=0)
    for line in summary(results):
        print(line)
    entries = known_failures()
    unlisted, stale = audit(results, entries)
    for r in unlisted:
        print(f"UNLISTED {r.case}: {r.stage}: {r.message}")
    for e in stale:
        print(f"STALE {e.pattern} ({e.section}): every run case passes")
    print(f"wall time {time.perf_counter() - start:.1f} s")
    return 1 if unlisted or stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
