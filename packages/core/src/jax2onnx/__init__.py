"""jax2onnx: export JAX callables (Flax NNX modules, jax.numpy functions) to ONNX."""

from __future__ import annotations

__version__ = "0.1.0"

from . import _deferred  # noqa: F401 - first: it defers what onnx_ir imports but exports do not use
from .api import allclose, save_onnx, to_onnx
from .errors import (
    ExportOptionError,
    GraphPassError,
    InputSpecError,
    Jax2OnnxError,
    LoweringError,
    OpsetError,
    OutputSpecError,
    PluginConflictError,
    PluginLoadError,
    TraceError,
    UnknownOptionError,
    UnsupportedDtypeError,
    UnsupportedPrimitiveError,
)
from .functions import onnx_function
from .web import allclose_onnxruntime_web

__all__ = [
    "ExportOptionError",
    "GraphPassError",
    "InputSpecError",
    "Jax2OnnxError",
    "LoweringError",
    "OpsetError",
    "OutputSpecError",
    "PluginConflictError",
    "PluginLoadError",
    "TraceError",
    "UnknownOptionError",
    "UnsupportedDtypeError",
    "UnsupportedPrimitiveError",
    "allclose",
    "allclose_onnxruntime_web",
    "onnx_function",
    "save_onnx",
    "to_onnx",
]
