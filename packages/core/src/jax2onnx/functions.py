"""``onnx_function``: keep a function or a module class as an ONNX function in the export."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .trace import call_as_named_jit, tracing_active


def onnx_function(target: Any) -> Any:
    """Decorates a function or a class (its ``__call__``) so each call exports as an ONNX function.

    Outside an export the decorated object behaves exactly as before. During an export each call
    becomes one node calling a FunctionProto (one per distinct traced body); weights are passed
    in as inputs, so they stay initializers of the main graph.
    """
    if isinstance(target, type):
        target.__call__ = _wrap(target.__call__, target.__qualname__)
        return target
    return _wrap(target, getattr(target, "__qualname__", "function"))


def _wrap(fn: Callable, name: str) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not tracing_active():
            return fn(*args, **kwargs)
        return call_as_named_jit(name, fn, args, kwargs, kind="function")

    return wrapper
