"""allclose_onnxruntime_web: run an exported model in onnxruntime-web (WebAssembly) under Node.js."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
import onnx
import onnx_ir as ir

from . import _compat
from .api import _feeds, _ort_session, compare_outputs, sample_inputs
from .layout import NCHW_TO_NHWC, Layout
from .trace import in_mode

RUNNER = Path(__file__).with_name("node") / "onnxruntime_web_runner.cjs"
MODULE_DIR_ENV = "JAX2ONNX_ONNXRUNTIME_WEB_DIR"
RUNNER_ENV = "JAX2ONNX_ONNXRUNTIME_WEB_RUNNER"
# ONNX tensor type names of ONNX Runtime's Python API -> onnxruntime-web's Tensor type names.
WEB_TYPES = {
    np.dtype(np.float16): "float16", np.dtype(np.float32): "float32", np.dtype(np.float64): "float64",
    np.dtype(np.int8): "int8", np.dtype(np.uint8): "uint8", np.dtype(np.int16): "int16",
    np.dtype(np.uint16): "uint16", np.dtype(np.int32): "int32", np.dtype(np.uint32): "uint32",
    np.dtype(np.int64): "int64", np.dtype(np.uint64): "uint64", np.dtype(np.bool_): "bool",
}


def allclose_onnxruntime_web(
    onnx_model_path: Any,
    inputs: Sequence[Any],
    input_params: Mapping[str, Any] | None = None,
    rtol: float = 1e-3,
    atol: float = 1e-5,
    *,
    inputs_as_nchw: Sequence[int | str] | None = None,
    node_command: str = "node",
    runner: str | None = None,
    fn: Callable | None = None,
    outputs_as_nchw: Sequence[int | str] | None = None,
    enable_double_precision: bool = False,
    onnxruntime_web_dir: str | os.PathLike | None = None,
    training: str = "eval",
) -> tuple[bool, str]:
    """Runs the model in onnxruntime-web's WebAssembly backend under Node.js; ``(ok, message)``.

    The reference is ONNX Runtime on CPU (Python) on the same feeds, or JAX when ``fn`` is given
    (then ``outputs_as_nchw``, ``enable_double_precision`` and ``training`` mean what they mean
    for ``allclose``). ``inputs``, ``input_params`` and ``inputs_as_nchw`` are as for ``allclose``
    (shape tuples get random values). ``onnx_model_path`` is a path (typically written with
    ``export_mode="web"``), an ``onnx.ModelProto`` or an ``onnx_ir.Model``.

    The ``onnxruntime-web`` npm package is loaded from ``onnxruntime_web_dir`` (a folder whose
    ``node_modules`` holds it), else from the ``JAX2ONNX_ONNXRUNTIME_WEB_DIR`` environment
    variable, else from the working directory. ``runner`` (default: ``JAX2ONNX_ONNXRUNTIME_WEB_RUNNER``
    or "node") may only be "node" here; a browser runner is not offered.
    """
    runner = (runner or os.environ.get(RUNNER_ENV) or "node").strip().lower()
    if runner != "node":
        return False, f"onnxruntime-web runner {runner!r} is not supported: use runner='node' (Node.js WebAssembly)"
    params = dict(input_params or {})
    values = sample_inputs(inputs, enable_double_precision)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = _model_file(onnx_model_path, tmp)
        session = _ort_session(model_path)
        feeds = _feeds(session, values, params, inputs_as_nchw)
        output_names = [o.name for o in session.get_outputs()]
        if fn is None:
            want, reference = session.run(None, feeds), "ONNX Runtime CPU"
        else:
            with _compat.enable_x64(enable_double_precision):
                want = [np.asarray(x) for x in jax.tree_util.tree_leaves(in_mode(fn, training)(*values, **params))]
            reference = "JAX"
        module_dir = onnxruntime_web_dir or os.environ.get(MODULE_DIR_ENV)
        spec = {"model": os.path.abspath(model_path), "moduleDir": os.fspath(module_dir) if module_dir else None,
                "inputs": [_encode(name, value) for name, value in feeds.items()]}
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump(spec, f)
        try:
            done = subprocess.run([node_command, os.fspath(RUNNER), spec_path], capture_output=True, text=True,
                                  check=False)
        except FileNotFoundError:
            return False, f"Node.js command not found: {node_command!r} (install Node.js 18 or later)"
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        return False, "onnxruntime-web failed: " + " | ".join(detail[:5])
    result = json.loads(done.stdout)
    got = {o["name"]: _decode(o) for o in result["outputs"]}
    got = [got[name] for name in output_names]
    if fn is not None:
        nchw_out = Layout(outputs_as_nchw=outputs_as_nchw).outputs(output_names, None)
        got = [np.transpose(g, NCHW_TO_NHWC) if i in nchw_out and g.ndim == 4 else g for i, g in enumerate(got)]
    ok, message = compare_outputs(got, want, rtol, atol, reference)
    return ok, f"onnxruntime-web {result['version']} (wasm) vs {reference}: {message}"


def _model_file(model: Any, directory: str) -> str:
    if isinstance(model, ir.Model):
        model = ir.to_proto(model)
    if isinstance(model, onnx.ModelProto):
        path = os.path.join(directory, "model.onnx")
        onnx.save(model, path)
        return path
    return os.fspath(model)


def _encode(name: str, value: np.ndarray) -> dict[str, Any]:
    value = np.ascontiguousarray(value)
    if value.dtype not in WEB_TYPES:
        raise TypeError(f"input {name}: dtype {value.dtype} has no onnxruntime-web tensor type")
    data = value.astype(value.dtype.newbyteorder("<"), copy=False).tobytes()
    return {"name": name, "type": WEB_TYPES[value.dtype], "dims": list(value.shape),
            "data": base64.b64encode(data).decode("ascii")}


def _decode(tensor: Mapping[str, Any]) -> np.ndarray:
    dtype = next(d for d, t in WEB_TYPES.items() if t == tensor["type"])
    return np.frombuffer(base64.b64decode(tensor["data"]), dtype=dtype.newbyteorder("<")).astype(dtype).reshape(
        tensor["dims"])
