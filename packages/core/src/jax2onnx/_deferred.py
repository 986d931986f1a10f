"""Modules imported on first use instead of at import: what onnx_ir imports but exports never use.

onnx_ir imports sympy (and builds a table of sympy functions in ``onnx_ir._symbolic_shapes``) at
import time, for arithmetic on symbolic dims that exports never do. Importing sympy alone takes about
0.3 s on a 2-core machine, a large part of what ``import jax2onnx`` adds to importing JAX, Flax
and ONNX.

:func:`defer`, called when this module is imported (first thing in ``jax2onnx``), puts a
stand-in module in ``sys.modules`` for each of them before onnx_ir is imported.
``import sympy`` binds the stand-in; the first attribute looked up on it imports the real module and
the stand-in takes on its contents, so every later use sees the real module's objects. Nothing
changes if the module was already imported, is missing, or is imported by name by someone else
first (``sys.modules`` then holds the real one). Python's ``importlib.util.LazyLoader`` does not do
here: ``import sympy`` reads ``__spec__``, which makes it load at once.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import types

_LOCK = threading.RLock()


class _Deferred(types.ModuleType):
    """Stands in for a module until the first attribute that it does not have is looked up."""

    def __getattr__(self, attr: str):
        with _LOCK:
            real = _load(self)
        return getattr(real, attr)


def _load(stand_in: _Deferred) -> types.ModuleType:
    name = stand_in.__name__
    if sys.modules.get(name) is stand_in:
        del sys.modules[name]
        try:
            real = importlib.import_module(name)
        except BaseException:
            sys.modules.setdefault(name, stand_in)
            raise
        stand_in.__dict__.update(real.__dict__)  # later lookups find the real module's objects directly
        return real
    return sys.modules[name]


def _stand_in(name: str, spec: importlib.machinery.ModuleSpec | None) -> None:
    if name in sys.modules or spec is None:
        return
    module = _Deferred(name)
    module.__spec__ = spec  # `import name` checks spec._initializing: it must not trigger the load
    module.__file__ = spec.origin
    sys.modules[name] = module


def defer() -> None:
    """Defers sympy and onnx_ir's symbolic-shape parser until something uses them."""
    if "onnx_ir" in sys.modules:
        return
    onnx_ir = importlib.util.find_spec("onnx_ir")
    if onnx_ir is None or not onnx_ir.submodule_search_locations:
        return
    shapes = os.path.join(list(onnx_ir.submodule_search_locations)[0], "_symbolic_shapes.py")
    if not os.path.exists(shapes):
        return
    _stand_in("sympy", importlib.util.find_spec("sympy"))
    _stand_in("onnx_ir._symbolic_shapes", importlib.util.spec_from_file_location("onnx_ir._symbolic_shapes", shapes))


defer()
