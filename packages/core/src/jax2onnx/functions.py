"""``onnx_function``: keep a function or a module class as an ONNX function in the export."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

from .errors import ExportOptionError
from .trace import call_as_named_jit, tracing_active

DEFAULT_DOMAIN = "jax2onnx.functions"


@dataclasses.dataclass(frozen=True)
class FunctionSpec:
    """How a decorated callable appears in the model: FunctionProto name and domain."""

    name: str
    domain: str = DEFAULT_DOMAIN
    unique: bool = False


def onnx_function(target: Any = None, *, unique: bool = False, namespace: str | None = None,
                  name: str | None = None, type: str | None = None) -> Any:  # noqa: A002 - the established keyword
    """Decorates a function or a class (its ``__call__``) so each call exports as an ONNX function.

    Usable bare (``@onnx_function``) or with options (``@onnx_function(name="Block")``).
    Outside an export the decorated object behaves exactly as before. During an export each call
    becomes one node calling a FunctionProto; weights are passed in as inputs, so they stay
    initializers of the main graph, and call sites whose traced bodies match share one function
    (two instances of a module class with different weights included).

    ``name`` (or ``type``, which wins when both are given) sets the function's name, the op type
    of its call nodes; the default is the function's or class's name. ``namespace`` sets the
    function's domain. ``unique=True`` asks for one function shared by all call sites of the same
    type: that is already what happens, since weights are inputs rather than part of the body.
    Decorating the same target again with a different name or namespace raises
    ``ExportOptionError``.
    """
    if target is None:
        return functools.partial(onnx_function, unique=unique, namespace=namespace, name=name, type=type)
    base = type or name or getattr(target, "__name__", None) or "function"
    spec = FunctionSpec(base, namespace or DEFAULT_DOMAIN, unique)
    previous = vars(target).get("_jax2onnx_function") if hasattr(target, "__dict__") else None
    if previous is not None:
        if (previous.name, previous.domain) != (spec.name, spec.domain):
            raise ExportOptionError(
                f"{getattr(target, '__qualname__', target)!r} is already an onnx_function named "
                f"{previous.domain}.{previous.name}; it cannot also be {spec.domain}.{spec.name}")
        return target
    if inspect.isclass(target):
        target.__call__ = _wrap(target.__call__, spec)
        target._jax2onnx_function = spec
        return target
    wrapper = _wrap(target, spec)
    wrapper._jax2onnx_function = spec
    return wrapper


def _wrap(fn: Callable, spec: FunctionSpec) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not tracing_active():
            return fn(*args, **kwargs)
        return call_as_named_jit(spec.name, fn, args, kwargs, kind="function", function=spec)

    return wrapper
