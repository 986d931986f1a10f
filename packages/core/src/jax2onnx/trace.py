"""Tracing: input specs to abstract values, named-call wrapping, and the traced ClosedJaxpr."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import inspect
import itertools
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import numpy as np

from . import _compat
from .errors import InputSpecError, Jax2OnnxError, PluginLoadError, TraceError
from .plugin import CALL_PREFIX

CALL_NAME_PREFIX = "jax2onnx_call_"


@dataclasses.dataclass
class CallRecord:
    """What a named call saw when it was traced: its target, arguments and array leaf slots."""

    target: str
    treedef: Any
    leaves: list[Any]
    dynamic: list[int]
    kind: str = "call"
    out_shapes: list[tuple] | None = None


# Names are unique in the process: a jit cache (jax.jit, eqx.filter_jit) may hand a later export the
# jaxpr an earlier one traced, whose named calls then must not be mistaken for this export's.
_call_ids = itertools.count()


class CallTable:
    """Side table from the unique name given to a wrapped call to its CallRecord."""

    def __init__(self) -> None:
        self.records: dict[str, CallRecord] = {}

    def add(self, record: CallRecord) -> str:
        name = f"{CALL_NAME_PREFIX}{next(_call_ids)}"
        self.records[name] = record
        return name


_active_table: contextvars.ContextVar[CallTable | None] = contextvars.ContextVar("jax2onnx_calls", default=None)


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic))


def call_as_named_jit(target: str, original: Callable, args: tuple, kwargs: dict, kind: str = "call") -> Any:
    """Calls ``original`` inside a ``jax.jit`` whose name keys a CallRecord, so it stays visible."""
    table = _active_table.get()
    try:
        bound = inspect.signature(original).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return original(*args, **kwargs)
    bound.apply_defaults()
    leaves, treedef = jax.tree_util.tree_flatten(dict(bound.arguments))
    dynamic = [i for i, leaf in enumerate(leaves) if _is_array(leaf)]
    record = CallRecord(target, treedef, leaves, dynamic, kind)
    name = table.add(record)

    def body(*arrays):
        filled = list(leaves)
        for i, a in zip(dynamic, arrays):
            filled[i] = a
        rebuilt = inspect.BoundArguments(bound.signature, jax.tree_util.tree_unflatten(treedef, filled))
        return original(*rebuilt.args, **rebuilt.kwargs)

    body.__name__ = name
    out = jax.jit(body)(*[leaves[i] for i in dynamic])
    record.out_shapes = [np.shape(o) for o in jax.tree_util.tree_leaves(out)]
    return out


def tracing_active() -> bool:
    return _active_table.get() is not None


def _resolve(path: str) -> tuple[Any, str, Any] | None:
    """(owner object, attribute, current value) for a dotted path whose module is already imported."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        owner = module
        try:
            for attr in parts[cut:-1]:
                owner = getattr(owner, attr)
            return owner, parts[-1], getattr(owner, parts[-1])
        except AttributeError:
            return None
    return None


@contextlib.contextmanager
def named_calls(registry: Any, table: CallTable) -> Iterator[None]:
    """Wraps every named-call target of the installed plugins for the duration of a trace.

    Only targets whose library is already imported are wrapped; everything is restored on exit,
    even on error.
    """
    patched: list[tuple[Any, str, Any]] = []
    token = _active_table.set(table)
    try:
        for path in registry.call_targets():
            found = _resolve(path)
            if found is None:
                continue
            owner, attr, original = found
            try:
                entry = registry.lookup(CALL_PREFIX + path)
            except PluginLoadError as exc:
                # A broken plugin module must not break exports: its calls just stay decomposed.
                warnings.warn(f"{exc} Exporting '{path}' through its decomposition instead.", stacklevel=3)
                continue
            raw = inspect.getattr_static(owner, attr)
            patched.append((owner, attr, raw))
            setattr(owner, attr, _wrap(path, original, entry.when, isinstance(raw, staticmethod), entry.body))
        if patched:
            # A jit cache (jax.jit, eqx.filter_jit) would hand back jaxprs traced before the wrapping,
            # or by an earlier export whose named calls this one has no records of.
            jax.clear_caches()
        yield
    finally:
        for owner, attr, raw in reversed(patched):
            setattr(owner, attr, raw)
        _active_table.reset(token)


def _wrap(path: str, original: Callable, when: Callable | None, static: bool,
          body: Callable | None = None) -> Callable:
    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        if not tracing_active() or (when is not None and not when(*args, **kwargs)):
            return original(*args, **kwargs)
        return call_as_named_jit(path, original if body is None else functools.partial(body, original), args, kwargs)

    return staticmethod(wrapper) if static else wrapper


@dataclasses.dataclass
class TracedFunction:
    closed_jaxpr: Any
    in_avals: list[Any]
    in_tree: Any
    out_tree: Any
    param_names: list[str]
    const_names: dict[int, str]


def make_specs(inputs: Sequence[Any], input_dtypes: Sequence[Any] | None, double: bool) -> list[Any]:
    """Input specs (shape tuples with string dims, ShapeDtypeStructs, arrays) to ShapeDtypeStructs."""
    scope = _compat.SymbolicScope()
    default = np.float64 if double else np.float32
    leaves, _ = jax.tree_util.tree_flatten(list(inputs), is_leaf=lambda x: isinstance(x, tuple) and _is_shape(x))
    if input_dtypes is not None and len(input_dtypes) != len(leaves):
        raise InputSpecError(f"input_dtypes has {len(input_dtypes)} entries for {len(leaves)} inputs")
    specs = []
    for i, leaf in enumerate(leaves):
        dtype = np.dtype(input_dtypes[i]) if input_dtypes is not None else None
        if isinstance(leaf, tuple):
            if not all(isinstance(d, (int, str, np.integer)) or _compat.is_symbolic_dim(d) for d in leaf):
                raise InputSpecError(f"input {i}: shape {leaf!r} may hold only ints and symbolic dim names")
            text = ", ".join(str(d) for d in leaf)
            try:
                shape = _compat.symbolic_shape(text, scope=scope) if text else ()
            except Exception as exc:
                raise InputSpecError(f"input {i}: cannot read shape {leaf!r}: {exc}") from None
            specs.append(jax.ShapeDtypeStruct(shape, dtype or default))
        elif isinstance(leaf, jax.ShapeDtypeStruct):
            specs.append(jax.ShapeDtypeStruct(leaf.shape, dtype or leaf.dtype))
        elif _is_array(leaf) or isinstance(leaf, (int, float, bool)):
            arr = np.asarray(leaf)
            specs.append(jax.ShapeDtypeStruct(arr.shape, dtype or arr.dtype))
        else:
            raise InputSpecError(
                f"input {i} is {type(leaf).__name__}: expected a shape tuple such as ('B', 30), "
                "a jax.ShapeDtypeStruct or an array")
    return specs


def _is_shape(x: tuple) -> bool:
    """A tuple of dims is a shape spec; a tuple holding specs is a pytree container of inputs."""
    return not any(isinstance(d, (tuple, list, dict, jax.ShapeDtypeStruct)) or _is_array(d) for d in x)


def input_tree(inputs: Sequence[Any]) -> Any:
    return jax.tree_util.tree_structure(list(inputs), is_leaf=lambda x: isinstance(x, tuple) and _is_shape(x))


def parameter_names(fn: Any) -> dict[int, str]:
    """id(array) -> dotted parameter path, for arrays reachable from a model or its closure."""
    roots: list[tuple[str, Any]] = []
    target = getattr(fn, "__self__", None) if inspect.ismethod(fn) else fn
    if target is not None and not inspect.isfunction(target):
        roots.append(("", target))
    wrapped = getattr(fn, "__wrapped__", None)  # jax.vmap(model), functools.wraps around a model
    if wrapped is not None and not inspect.isfunction(wrapped):
        roots.append(("", wrapped))
    for func in (fn, getattr(fn, "func", None)):
        for cell in getattr(func, "__closure__", None) or ():
            try:
                roots.append(("", cell.cell_contents))
            except ValueError:
                continue
    names: dict[int, str] = {}
    for prefix, root in roots:
        try:
            flat, _ = jax.tree_util.tree_flatten_with_path(root)
        except Exception:
            continue
        for path, leaf in flat:
            if _is_array(leaf):
                names.setdefault(id(leaf), _path_name(prefix, path))
    return names


def _path_name(prefix: str, path: Sequence[Any]) -> str:
    parts = [prefix] if prefix else []
    for key in path:
        for attr in ("name", "key", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
    while parts and parts[-1] in ("value", "raw_value"):
        parts.pop()
    return ".".join(parts) or "param"


def trace(fn: Callable, specs: list[Any], tree: Any, input_params: dict[str, Any], double: bool,
          registry: Any, table: CallTable) -> TracedFunction:
    param_names = list(input_params)
    param_specs = [jax.ShapeDtypeStruct((), _param_dtype(v, double)) for v in input_params.values()]

    callable_leaves, callable_tree = _callable_pytree(fn)

    def flat_fn(*flat):
        args = jax.tree_util.tree_unflatten(tree, flat[: len(specs)])
        kwargs = dict(zip(param_names, flat[len(specs):]))
        # A model that is a pytree (an NNX or Equinox module) is rebuilt inside the trace, so it may
        # update its state and enter module transforms there without touching the user's object.
        target = fn if callable_tree is None else jax.tree_util.tree_unflatten(callable_tree, callable_leaves)
        return target(*args, **kwargs)

    try:
        with _compat.enable_x64(double), named_calls(registry, table):
            closed, out_shape = jax.make_jaxpr(flat_fn, return_shape=True)(*specs, *param_specs)
    except Jax2OnnxError:
        raise
    except Exception as exc:
        shapes = ", ".join(f"{np.dtype(s.dtype).name}{list(s.shape)}" for s in [*specs, *param_specs])
        where = _compat.user_frame(exc.__traceback__) or "<unknown source>"
        raise TraceError(
            f"JAX could not trace the function on inputs ({shapes}): {type(exc).__name__}: {exc}\n"
            f"  at {where}\n"
            "Check that the input specs (shapes, dtypes, symbolic dims) are what the function expects.") from exc
    out_tree = jax.tree_util.tree_structure(out_shape)
    return TracedFunction(closed, [*specs, *param_specs], tree, out_tree, param_names, parameter_names(fn))


def _callable_pytree(fn: Any) -> tuple[list[Any], Any]:
    """(leaves, treedef) of a callable that is a pytree with array leaves, else ([], None)."""
    if inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isbuiltin(fn):
        return [], None
    try:
        leaves, treedef = jax.tree_util.tree_flatten(fn)
    except Exception:
        return [], None
    if not any(_is_array(leaf) for leaf in leaves):
        return [], None
    return leaves, treedef


def _param_dtype(value: Any, double: bool) -> Any:
    if isinstance(value, bool) or np.asarray(value).dtype == np.bool_:
        return np.bool_
    if isinstance(value, int):
        return np.int64 if double else np.int32
    if isinstance(value, float):
        return np.float64 if double else np.float32
    return np.asarray(value).dtype
