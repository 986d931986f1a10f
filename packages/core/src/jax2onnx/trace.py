"""Tracing: input specs to abstract values, named-call wrapping, and the traced ClosedJaxpr."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import inspect
import itertools
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import numpy as np

from . import _compat, modes
from .errors import InputSpecError, Jax2OnnxError, OutputSpecError, PluginLoadError, TraceError
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
    function: Any = None  # an onnx_function's FunctionSpec (name, domain)


# Names are unique in the process: a jit cache (jax.jit, eqx.filter_jit) may hand a later export the
# jaxpr an earlier one traced, whose named calls then must not be mistaken for this export's.
_call_ids = itertools.count()


class CallTable:
    """Side table from the unique name given to a wrapped call to its CallRecord."""

    def __init__(self) -> None:
        self.records: dict[str, CallRecord] = {}
        self.registry: Any = None
        self._broken: set[str] = set()

    def entry(self, path: str) -> Any:
        """The named-call rule this export's registry has for ``path``, if it loads.

        The rule's module is imported here, at the first call of the target, not when wrapping.
        """
        if self.registry is None or path in self._broken:
            return None
        try:
            return self.registry.lookup(CALL_PREFIX + path)
        except PluginLoadError as exc:
            # A broken plugin module must not break exports: its calls just stay decomposed.
            self._broken.add(path)
            warnings.warn(f"{exc} Exporting '{path}' through its decomposition instead.", stacklevel=4)
            return None

    def add(self, record: CallRecord) -> str:
        name = f"{CALL_NAME_PREFIX}{next(_call_ids)}"
        self.records[name] = record
        return name


_active_table: contextvars.ContextVar[CallTable | None] = contextvars.ContextVar("jax2onnx_calls", default=None)


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic))


def call_as_named_jit(target: str, original: Callable, args: tuple, kwargs: dict, kind: str = "call",
                      function: Any = None) -> Any:
    """Calls ``original`` inside a ``jax.jit`` whose name keys a CallRecord, so it stays visible."""
    table = _active_table.get()
    try:
        bound = inspect.signature(original).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return original(*args, **kwargs)
    bound.apply_defaults()
    leaves, treedef = jax.tree_util.tree_flatten(dict(bound.arguments))
    dynamic = [i for i, leaf in enumerate(leaves) if _is_array(leaf)]
    record = CallRecord(target, treedef, leaves, dynamic, kind, function=function)
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


# Wrappers stay installed while any export in the process traces (a count under a lock), and act
# only in the context whose trace is active (a ContextVar): concurrent exports in threads neither see
# nor undo each other's, and the last one to finish restores every original attribute.
_install_lock = threading.Lock()
_installed: dict[tuple[int, str], tuple[Any, str, Any]] = {}
_tracing_exports = 0


@contextlib.contextmanager
def named_calls(registry: Any, table: CallTable) -> Iterator[None]:
    """Wraps every named-call target of the installed plugins for the duration of a trace.

    Only targets whose library is already imported are wrapped; everything is restored when the
    last concurrent export ends, even on error. Thread-safe.
    """
    global _tracing_exports
    table.registry = registry
    with _install_lock:
        _tracing_exports += 1
        try:
            _install_missing(registry)
        except BaseException:
            _release()
            raise
    token = _active_table.set(table)
    try:
        yield
    finally:
        _active_table.reset(token)
        with _install_lock:
            _release()


def _release() -> None:
    global _tracing_exports
    _tracing_exports -= 1
    if _tracing_exports == 0:
        for owner, attr, raw in reversed(list(_installed.values())):
            setattr(owner, attr, raw)
        _installed.clear()


def _install_missing(registry: Any) -> None:
    installed = len(_installed)
    for path in registry.call_targets():
        found = _resolve(path)
        if found is None or (id(found[0]), found[1]) in _installed:
            continue
        owner, attr, original = found
        raw = inspect.getattr_static(owner, attr)
        _installed[(id(owner), attr)] = (owner, attr, raw)
        setattr(owner, attr, _wrap(path, original, isinstance(raw, staticmethod)))
    if len(_installed) > installed:
        # A jit cache (jax.jit, eqx.filter_jit) would hand back jaxprs traced before the wrapping.
        jax.clear_caches()


def _wrap(path: str, original: Callable, static: bool) -> Callable:
    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        table = _active_table.get()
        entry = table.entry(path) if table is not None else None
        if entry is None or (entry.when is not None and not entry.when(*args, **kwargs)):
            return original(*args, **kwargs)
        target = original if entry.body is None else functools.partial(entry.body, original)
        return call_as_named_jit(path, target, args, kwargs)

    return staticmethod(wrapper) if static else wrapper


@dataclasses.dataclass
class TracedFunction:
    closed_jaxpr: Any
    in_avals: list[Any]
    in_tree: Any
    out_tree: Any
    param_names: list[str]
    const_names: dict[int, str]
    key_names: list[str] = dataclasses.field(default_factory=list)


def make_specs(inputs: Sequence[Any], input_dtypes: Sequence[Any] | None, double: bool) -> list[Any]:
    """Input specs (shape tuples with string dims, ShapeDtypeStructs, arrays) to ShapeDtypeStructs."""
    scope = _compat.SymbolicScope()
    default = np.float64 if double else np.float32
    root = list(inputs)
    leaves, _ = jax.tree_util.tree_flatten(root, is_leaf=_spec_leaf(root))
    if input_dtypes is not None and len(input_dtypes) != len(leaves):
        raise InputSpecError(f"input_dtypes has {len(input_dtypes)} entries for {len(leaves)} inputs")
    specs = []
    for i, leaf in enumerate(leaves):
        dtype = np.dtype(input_dtypes[i]) if input_dtypes is not None else None
        leaf = _as_spec(leaf)
        if isinstance(leaf, tuple):
            specs.append(jax.ShapeDtypeStruct(_symbolic(i, leaf, scope), dtype or default))
        elif _is_abstract(leaf):
            # Keras and the established API pass ShapeDtypeStructs whose dims may be names ("batch").
            specs.append(jax.ShapeDtypeStruct(_symbolic(i, tuple(leaf.shape), scope), dtype or leaf.dtype))
        elif _is_array(leaf) or isinstance(leaf, (int, float, bool)):
            arr = np.asarray(leaf)
            specs.append(jax.ShapeDtypeStruct(arr.shape, dtype or arr.dtype))
        else:
            raise InputSpecError(
                f"input {i} is {type(leaf).__name__}: expected a shape tuple such as ('B', 30), "
                "a jax.ShapeDtypeStruct or an array")
    return specs


def _symbolic(i: int, shape: tuple, scope: Any) -> tuple:
    """A shape whose str dims ('B', '2*B') become symbolic dims of ``scope``, shared by all inputs."""
    for d in shape:
        if isinstance(d, bool) or not (isinstance(d, (int, str, np.integer)) or _compat.is_symbolic_dim(d)):
            raise InputSpecError(f"input {i}: dim {d!r} ({type(d).__name__}) in shape {shape!r}: expected a "
                                 "non-negative int, or a name such as 'B' for a symbolic dim")
        if isinstance(d, (int, np.integer)) and d < 0:
            raise InputSpecError(f"input {i}: dim {d} in shape {shape!r} is negative: give its size, or a name "
                                 "such as 'B' for a dim that varies")
        if isinstance(d, str) and not d.strip():
            raise InputSpecError(f"input {i}: shape {shape!r} has an empty dim name: name it, such as 'B'")
    if not any(isinstance(d, str) for d in shape):
        return tuple(d if _compat.is_symbolic_dim(d) else int(d) for d in shape)
    text = ", ".join(str(d) for d in shape)
    try:
        return _compat.symbolic_shape(text, scope=scope)
    except Exception as exc:
        raise InputSpecError(f"input {i}: cannot read shape {shape!r}: {exc}") from None


def _is_abstract(x: Any) -> bool:
    """A ShapeDtypeStruct or a ShapedArray-like abstract value (shape and dtype, no data)."""
    return isinstance(x, jax.ShapeDtypeStruct) or (
        hasattr(x, "shape") and hasattr(x, "dtype") and not _is_array(x) and type(x).__name__ == "ShapedArray")


def _is_shape(x: tuple | list) -> bool:
    """A tuple of dims is a shape spec; a tuple holding specs is a pytree container of inputs.

    A list is a shape only when it holds nothing but ints and dim names (``[None, 3]`` is not one).
    """
    if isinstance(x, list):
        return bool(x) and all(isinstance(d, (int, str, np.integer)) or _compat.is_symbolic_dim(d) for d in x)
    return not any(isinstance(d, (tuple, list, dict, jax.ShapeDtypeStruct)) or _is_array(d) or _has_shape(d)
                   for d in x)


def is_shape_spec(x: Any) -> bool:
    """A shape tuple or list such as ``('B', 30)``."""
    return isinstance(x, (tuple, list)) and _is_shape(x)


def _has_shape(x: Any) -> bool:
    """A ``jax.core.ShapedArray`` or any object exposing ``.shape`` and ``.dtype`` (not a plain number)."""
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, (int, float, bool, complex))


def _spec_leaf(root: list) -> Callable[[Any], bool]:
    """``is_leaf`` for the inputs' pytree: shape tuples and lists are leaves, the top-level list is not."""
    return lambda x: x is not root and is_shape_spec(x)


def _as_spec(leaf: Any) -> Any:
    """A shape list as a tuple; a ShapedArray or other ``.shape``/``.dtype`` object as a ShapeDtypeStruct."""
    if isinstance(leaf, list):
        return tuple(leaf)
    if not isinstance(leaf, jax.ShapeDtypeStruct) and not _is_array(leaf) and _has_shape(leaf):
        return jax.ShapeDtypeStruct(tuple(leaf.shape), np.dtype(leaf.dtype))
    return leaf


def input_tree(inputs: Sequence[Any]) -> Any:
    root = list(inputs)
    return jax.tree_util.tree_structure(root, is_leaf=_spec_leaf(root))


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
          registry: Any, table: CallTable, training: str = "eval", random_keys: str = "input") -> TracedFunction:
    param_names = list(input_params)
    param_specs = [jax.ShapeDtypeStruct((), _param_dtype(v, double)) for v in input_params.values()]

    model = _Rebuildable.of(fn)
    modes.announce(model.owner if model else fn, training)
    # A model's RNG streams (NNX Rngs, keys held by Equinox modules) become graph inputs where the
    # exported behaviour draws from them, so each run can draw anew instead of replaying one mask.
    key_slots = model.key_slots() if model and training != "eval" and random_keys == "input" else []
    key_specs = [jax.ShapeDtypeStruct(model.leaves[i].shape, model.leaves[i].dtype) for i in key_slots]
    n_args = len(specs) + len(param_specs)

    def flat_fn(*flat):
        args = jax.tree_util.tree_unflatten(tree, flat[: len(specs)])
        kwargs = dict(zip(param_names, flat[len(specs):n_args]))
        # A model that is a pytree (an NNX or Equinox module) is rebuilt inside the trace, so it may
        # update its state and enter module transforms there without touching the user's object.
        target = fn if model is None else model.rebuild(dict(zip(key_slots, flat[n_args:])), training)
        return _checked_outputs(target(*args, **kwargs))

    _check_arity(fn, tree, param_names)

    try:
        with _compat.enable_x64(double), named_calls(registry, table):
            closed, out_shape = jax.make_jaxpr(flat_fn, return_shape=True)(*specs, *param_specs, *key_specs)
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
    names = parameter_names(fn)
    key_names = [names.get(id(model.leaves[i]), "rng_key").replace(".", "_") for i in key_slots]
    return TracedFunction(closed, [*specs, *param_specs, *key_specs], tree, out_tree, param_names, names, key_names)


def _check_arity(fn: Callable, tree: Any, param_names: list[str]) -> None:
    """``fn`` accepts one positional argument per input spec and the ``input_params`` keywords."""
    args = jax.tree_util.tree_unflatten(tree, [None] * tree.num_leaves)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*args, **dict.fromkeys(param_names))
    except TypeError as exc:
        name = getattr(fn, "__qualname__", type(fn).__name__)
        raise InputSpecError(
            f"{name}{signature} cannot be called with {len(args)} input(s) and input_params "
            f"{param_names}: {exc}. Give one input spec per positional argument.") from None


def _checked_outputs(out: Any) -> Any:
    """The function's result, after checking that every leaf is an array (or a number)."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(out)[0]:
        if not isinstance(leaf, (jax.Array, np.ndarray, np.generic, int, float, complex)):
            where = jax.tree_util.keystr(path) or "(the whole result)"
            raise OutputSpecError(
                f"output {where} is {type(leaf).__name__} ({leaf!r:.60}): every output must be an array, or a "
                "pytree (tuple, list, dict) of arrays. Return only arrays from the exported function.")
    return out


def in_mode(fn: Callable, training: str) -> Callable:
    """``fn`` as an export with this ``training`` option sees it (a copy of a module, switched)."""
    model = _Rebuildable.of(fn) if training != "preserve" else None
    return fn if model is None else model.rebuild({}, training)


class _Rebuildable:
    """A callable that is a pytree with array leaves (a module), or a bound method of one."""

    def __init__(self, owner: Any, method: Any, leaves: list[Any], treedef: Any):
        self.owner, self.method, self.leaves, self.treedef = owner, method, leaves, treedef

    @classmethod
    def of(cls, fn: Any) -> _Rebuildable | None:
        owner = fn.__self__ if inspect.ismethod(fn) else fn
        if inspect.isfunction(owner) or inspect.ismethod(owner) or inspect.isbuiltin(owner) or inspect.ismodule(owner):
            return None
        try:
            leaves, treedef = jax.tree_util.tree_flatten(owner)
        except Exception:
            return None
        if not any(_is_array(leaf) for leaf in leaves):
            return None
        return cls(owner, fn.__func__ if inspect.ismethod(fn) else None, leaves, treedef)

    def key_slots(self) -> list[int]:
        return [i for i, leaf in enumerate(self.leaves)
                if isinstance(leaf, jax.Array) and _compat.is_key_dtype(leaf.dtype)]

    def rebuild(self, replaced: dict[int, Any], training: str) -> Callable:
        leaves = [replaced.get(i, leaf) for i, leaf in enumerate(self.leaves)]
        owner = modes.apply(jax.tree_util.tree_unflatten(self.treedef, leaves), training)
        return owner if self.method is None else self.method.__get__(owner)


def _param_dtype(value: Any, double: bool) -> Any:
    if isinstance(value, bool) or np.asarray(value).dtype == np.bool_:
        return np.bool_
    if isinstance(value, int):
        return np.int64 if double else np.int32
    if isinstance(value, float):
        return np.float64 if double else np.float32
    return np.asarray(value).dtype
