"""Running one testcase: export, onnx.checker, strict shape inference, ONNX Runtime, compare with JAX."""

from __future__ import annotations

import dataclasses
import os
import zlib
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
import onnx

from .. import _compat, legacy
from ..api import MIN_OPSET, to_onnx
from ..builder import from_physical, to_physical
from ..plugin import Lowering, Testcase
from ..registry import get_registry

# The default run: the default opset and the lowest accepted. Every rule picks a native op or an
# older form by comparing ctx.opset with one threshold, so these two sides of every threshold run
# every form a rule emits; JAX2ONNX_TEST_OPSETS=23,18,13 adds the opsets between (FULL_OPSETS).
DEFAULT_OPSETS = (23, MIN_OPSET)
FULL_OPSETS = (23, 18, MIN_OPSET)

# Tolerances when a testcase gives none; float32 matches the "exact op" bar of the coverage tables.
TOLERANCES = {
    "float64": (1e-10, 1e-12),
    "float32": (1e-5, 1e-6),
    "complex128": (1e-10, 1e-12),
    "complex64": (1e-5, 1e-6),
    "float16": (2e-3, 2e-3),
    "bfloat16": (2e-2, 2e-2),
}


@dataclasses.dataclass(frozen=True)
class Case:
    """One test: a testcase of a lowering, at one opset, in float32 or float64 mode."""

    lowering: Lowering
    testcase: Testcase
    opset: int
    double: bool

    @property
    def id(self) -> str:
        return f"{self.testcase.name}-op{self.opset}" + ("-f64" if self.double else "")


def collect_cases(distribution: str | None = None, opsets: Sequence[int] | None = None) -> list[Case]:
    """Every testcase of every installed plugin (or of one distribution), per opset and dtype mode."""
    explicit = opsets is not None or "JAX2ONNX_TEST_OPSETS" in os.environ
    opsets = tuple(opsets or _env_opsets())
    cases = []
    for row in get_registry().all_lowerings():
        if distribution is not None and row.distribution != distribution:
            continue
        for tc in row.testcases:
            # A testcase pinned to its own opsets runs there, unless the run names its opsets.
            chosen = opsets if tc.opsets is None else [o for o in tc.opsets if o in opsets or not explicit]
            for opset in chosen:
                if opset < (tc.min_opset or 0):
                    continue
                if tc.x64 != "only":
                    cases.append(Case(row, tc, opset, False))
                if tc.x64 == "only" or (tc.x64 and _has_float_inputs(tc)):
                    cases.append(Case(row, tc, opset, True))
    return cases


def opset_floors(distribution: str | None = None) -> list[tuple[str, int, str]]:
    """The testcases that need an opset above the lowest accepted one: (name, opset, reason)."""
    floors = []
    for row in get_registry().all_lowerings():
        if distribution is None or row.distribution == distribution:
            floors += [(tc.name, tc.min_opset, tc.min_opset_reason) for tc in row.testcases
                       if (tc.min_opset or 0) > MIN_OPSET]
    return sorted(floors)


def case_params(distribution: str | None = None, opsets: Sequence[int] | None = None) -> list[Any]:
    import pytest

    params = []
    for case in collect_cases(distribution, opsets):
        marks = [pytest.mark.skip(reason=case.testcase.skip)] if case.testcase.skip else []
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


def _env_opsets() -> tuple[int, ...]:
    text = os.environ.get("JAX2ONNX_TEST_OPSETS")
    return tuple(int(x) for x in text.split(",")) if text else DEFAULT_OPSETS


def _has_float_inputs(tc: Testcase) -> bool:
    if tc.input_dtypes is None:
        return True
    return any(np.dtype(d).kind in "fc" for d in tc.input_dtypes)


def _mode_dtypes(tc: Testcase, double: bool) -> list[Any] | None:
    if tc.input_dtypes is None:
        return None
    wide = {np.dtype(np.float32): np.dtype(np.float64), np.dtype(np.complex64): np.dtype(np.complex128)}
    return [wide.get(np.dtype(d), np.dtype(d)) if double else np.dtype(d) for d in tc.input_dtypes]


def run_case(case: Case) -> Any:
    """Exports and checks one case; raises AssertionError describing the first mismatch."""
    import onnxruntime as ort

    tc = case.testcase
    fn = tc.build()
    dtypes = _mode_dtypes(tc, case.double)
    # The kit checks that the export computes what the callable computes as it stands: its mode and
    # its RNG keys as they are (the training and random_keys defaults have tests of their own).
    model = to_onnx(fn, tc.inputs, input_params=tc.input_params, opset=case.opset,
                    enable_double_precision=case.double, input_dtypes=dtypes,
                    training="preserve", random_keys="constant")
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    _check_graph(tc, model, case.opset)
    _keep_for_docs(case, model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    symbols = _symbols(tc.inputs)
    sizes = tc.dim_sizes if symbols else tc.dim_sizes[:1]
    for size in sizes:
        env = {name: size + k for k, name in enumerate(symbols)}
        seed = input_seed(tc.name, size)
        args = _make_inputs(tc, env, dtypes, case.double, np.random.default_rng(seed))
        params = dict(tc.input_params or {})
        values = [*jax.tree_util.tree_leaves(args), *params.values()]
        feeds = {m.name: np.asarray(to_physical(v)) for m, v in zip(session.get_inputs(), values)}
        got = session.run(None, feeds)
        with _compat.enable_x64(case.double):
            # Call with JAX arrays, as users do: NumPy arrays would index and update like NumPy.
            jax_args = jax.tree_util.tree_map(jax.numpy.asarray, args)
            want = [np.asarray(w) for w in jax.tree_util.tree_leaves(fn(*jax_args, **params))]
        got = [from_physical(g, w.dtype) for g, w in zip(got, want)]
        try:
            _compare(tc, got, want, env)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n(random inputs from numpy.random.default_rng({seed}))") from None
    return model


def _keep_for_docs(case: Case, model: onnx.ModelProto) -> None:
    """With JAX2ONNX_SAVE_MODELS=DIR, each float32 case's model is written to DIR/<case id>.onnx
    (``name-op23.onnx``): the docs site links each one to Netron."""
    directory = os.environ.get("JAX2ONNX_SAVE_MODELS")
    if not directory or case.double:
        return
    os.makedirs(directory, exist_ok=True)
    onnx.save_model(model, os.path.join(directory, f"{case.id}.onnx"))


def input_seed(name: str, size: int) -> int:
    """The seed of a testcase's random inputs: stable across runs and processes (unlike ``hash()``)."""
    return zlib.crc32(f"{name}:{size}".encode())


def _check_graph(tc: Testcase, model: onnx.ModelProto, opset: int) -> None:
    ops = [n.op_type for n in model.graph.node]
    # Below the opset that shows an expected op, its older form (other ops) stands in for it.
    expected = tc.expect_ops is not None and all(legacy.shown_from(op) <= opset for op in tc.expect_ops)
    if expected and ops != list(tc.expect_ops):
        raise AssertionError(f"{tc.name}: graph ops {ops}, expected {list(tc.expect_ops)}")
    stray = sorted(set(ops) & set(tc.forbid_ops))
    if stray:
        raise AssertionError(f"{tc.name}: graph has {stray} nodes: {ops}")
    if tc.check_model is not None:
        tc.check_model(model)


def _symbols(inputs: Sequence[Any]) -> list[str]:
    names: list[str] = []
    for spec in jax.tree_util.tree_leaves(list(inputs), is_leaf=lambda x: isinstance(x, tuple)):
        if isinstance(spec, tuple):
            for d in spec:
                if isinstance(d, str):
                    for token in _identifiers(d):
                        if token not in names:
                            names.append(token)
    return names


def _identifiers(text: str) -> list[str]:
    import re

    return [t for t in re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text) if t not in ("floordiv", "mod", "max", "min")]


class _IntOps:
    add = staticmethod(lambda a, b: a + b)
    sub = staticmethod(lambda a, b: a - b)
    mul = staticmethod(lambda a, b: a * b)
    floordiv = staticmethod(lambda a, b: a // b)
    mod = staticmethod(lambda a, b: a % b)
    max = staticmethod(max)
    min = staticmethod(min)


def concrete_shape(spec: tuple, env: dict[str, int]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else _compat.evaluate_dim(d, env, _IntOps) for d in spec)


def _make_inputs(tc: Testcase, env: dict[str, int], dtypes: Any, double: bool, rng: np.random.Generator) -> list:
    leaves, tree = jax.tree_util.tree_flatten(list(tc.inputs), is_leaf=lambda x: isinstance(x, tuple))
    shapes, kinds = [], []
    for i, spec in enumerate(leaves):
        if isinstance(spec, tuple):
            shapes.append(concrete_shape(spec, env))
            kinds.append(np.dtype(dtypes[i]) if dtypes is not None else np.dtype(np.float64 if double else np.float32))
        else:
            arr = np.asarray(spec) if not isinstance(spec, jax.ShapeDtypeStruct) else None
            shapes.append(tuple(spec.shape))
            kinds.append(np.dtype(spec.dtype))
            if arr is not None:
                leaves[i] = arr
    if tc.input_values is not None:
        values = list(tc.input_values(rng, shapes))
        values = [np.asarray(v, dtype=k) for v, k in zip(values, kinds)]
    else:
        values = [_random(rng, s, k) for s, k in zip(shapes, kinds)]
    return list(jax.tree_util.tree_unflatten(tree, values))


def _random(rng: np.random.Generator, shape: tuple, dtype: np.dtype) -> np.ndarray:
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind == "i":
        return rng.integers(-8, 9, size=shape).astype(dtype)
    if dtype.kind == "u":
        return rng.integers(0, 17, size=shape).astype(dtype)
    if dtype.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _compare(tc: Testcase, got: list, want: list, env: dict[str, int]) -> None:
    where = f"{tc.name} (dims {env})" if env else tc.name
    if len(got) != len(want):
        raise AssertionError(f"{where}: ONNX returned {len(got)} outputs, JAX {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if g.dtype != w.dtype:
            raise AssertionError(f"{where}: output {i} dtype {g.dtype}, JAX {w.dtype}")
        if g.shape != w.shape:
            raise AssertionError(f"{where}: output {i} shape {g.shape}, JAX {w.shape}")
        if w.dtype.kind in "fc" or w.dtype.name == "bfloat16":
            rtol, atol = TOLERANCES.get(w.dtype.name, (1e-5, 1e-6))
            rtol, atol = tc.rtol if tc.rtol is not None else rtol, tc.atol if tc.atol is not None else atol
            wide = np.complex128 if w.dtype.kind == "c" else np.float64
            g64, w64 = g.astype(wide), w.astype(wide)
            if not np.allclose(g64, w64, rtol=rtol, atol=atol, equal_nan=True):
                err = np.nanmax(np.abs(g64 - w64))
                raise AssertionError(f"{where}: output {i} differs from JAX: max abs error {err:.3g} "
                                     f"(rtol={rtol}, atol={atol})")
        elif not np.array_equal(g, w):
            raise AssertionError(f"{where}: output {i} differs from JAX:\n{g}\nJAX:\n{w}")
