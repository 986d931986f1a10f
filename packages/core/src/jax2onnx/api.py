"""The public API: to_onnx, save_onnx, allclose."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
import onnx
import onnx_ir as ir

from . import passes
from .builder import GraphBuilder, Namer, tensor_type
from .errors import ExportOptionError, Jax2OnnxError
from .lower import Converter
from .registry import get_registry
from .trace import CallTable, input_tree, make_specs, trace

MIN_OPSET, MAX_OPSET = 13, 26
EXTERNAL_DATA_THRESHOLD = 1 << 30


def to_onnx(
    fn: Callable,
    inputs: Sequence[Any],
    input_params: Mapping[str, Any] | None = None,
    model_name: str = "jax_model",
    opset: int = 23,
    enable_double_precision: bool = False,
    return_mode: str = "proto",
    output_path: str | os.PathLike | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    *,
    input_dtypes: Sequence[Any] | None = None,
    ir_version: int = 10,
    external_data: bool | None = None,
) -> Any:
    """Exports ``fn`` called on ``inputs`` to ONNX.

    ``inputs`` holds one spec per positional argument (pytrees of specs are flattened in
    ``jax.tree_util`` order): a shape tuple such as ``('B', 30)`` whose strings are symbolic
    dims shared by all inputs, a ``jax.ShapeDtypeStruct``, or an array. ``input_params`` are
    keyword arguments that become scalar graph inputs after the positional ones. Outputs are the
    leaves of ``fn``'s result in ``jax.tree_util`` order.

    ``return_mode``: "proto" (an ``onnx.ModelProto``), "ir" (an ``onnx_ir.Model``) or "file"
    (writes ``output_path`` and returns the path).
    """
    _check_options(opset, return_mode, output_path)
    try:
        model = _export(fn, inputs, dict(input_params or {}), model_name, opset, enable_double_precision,
                        input_names, output_names, input_dtypes, ir_version)
    except Jax2OnnxError as exc:
        # The message names the user's line; the converter's frames would only bury it.
        raise exc.with_traceback(None) from exc.__cause__
    if return_mode == "ir":
        return model
    if return_mode == "file":
        _save(model, os.fspath(output_path), external_data)
        return os.fspath(output_path)
    return ir.to_proto(model)


def save_onnx(fn: Callable, inputs: Sequence[Any], path: str | os.PathLike, **options: Any) -> str:
    """Exports ``fn`` and writes the model to ``path`` (weights over 1 GiB go to ``path.data``)."""
    return to_onnx(fn, inputs, return_mode="file", output_path=path, **options)


def _check_options(opset: int, return_mode: str, output_path: Any) -> None:
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ExportOptionError(f"opset={opset!r} is not supported: choose an opset from {MIN_OPSET} to {MAX_OPSET}")
    if return_mode not in ("proto", "ir", "file"):
        raise ExportOptionError(f"return_mode={return_mode!r}: use 'proto', 'ir' or 'file'")
    if return_mode == "file":
        if output_path is None:
            raise ExportOptionError("return_mode='file' needs output_path")
        directory = os.path.dirname(os.path.abspath(os.fspath(output_path)))
        if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
            raise ExportOptionError(
                f"cannot write {os.fspath(output_path)!r}: directory {directory!r} does not exist or is not "
                "writable. Create it or choose another output_path.")


def _export(fn, inputs, input_params, model_name, opset, double, input_names, output_names,
            input_dtypes, ir_version) -> ir.Model:
    registry = get_registry()
    calls = CallTable()
    specs = make_specs(inputs, input_dtypes, double)
    traced = trace(fn, specs, input_tree(inputs), input_params, double, registry, calls)
    jaxpr = traced.closed_jaxpr

    namer = Namer()
    builder = GraphBuilder(opset, namer)
    names = _names(input_names, len(specs), "in", "input_names") + traced.param_names
    graph_inputs = [builder.add_input(n, aval.dtype, aval.shape, exact_name=True)
                    for n, aval in zip(names, traced.in_avals)]
    consts = [builder.param(c, traced.const_names.get(id(c), "const")) for c in jaxpr.consts]
    converter = Converter(registry, opset, double, calls, namer)
    outs = converter.lower_jaxpr(builder, jaxpr.jaxpr, consts, graph_inputs)

    out_names = _names(output_names, len(outs), "out", "output_names")
    final = []
    for value, name, aval in zip(outs, out_names, jaxpr.out_avals):
        if value.producer() is None or value in final:
            value = builder.identity(value)
        value.name = name
        value.type, value.shape = tensor_type(aval.dtype, aval.shape)
        final.append(value)
    graph = builder.build(final, model_name)
    model = ir.Model(graph, ir_version=ir_version, producer_name="jax2onnx",
                     producer_version=_version(), functions=list(converter.functions.values()))
    if converter.functions:
        model.opset_imports["jax2onnx.functions"] = 1
    return passes.clean(model)


def _names(given: Sequence[str] | None, count: int, prefix: str, option: str) -> list[str]:
    if given is None:
        return [f"{prefix}_{i}" for i in range(count)]
    if len(given) != count:
        raise ExportOptionError(f"{option} has {len(given)} names for {count} {prefix}puts")
    return list(given)


def _version() -> str:
    from . import __version__

    return __version__


def _save(model: ir.Model, path: str, external_data: bool | None) -> None:
    """Writes atomically: a failed save leaves any previous file at ``path`` untouched."""
    size = sum(v.const_value.nbytes for v in model.graph.initializers.values() if v.const_value is not None)
    use_external = size > EXTERNAL_DATA_THRESHOLD if external_data is None else external_data
    directory = os.path.dirname(os.path.abspath(path))
    data_name = os.path.basename(path) + ".data"
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".onnx.tmp")
    os.close(fd)
    tmp_data = tmp + ".data"
    try:
        if use_external:
            ir.save(model, tmp, external_data=os.path.basename(tmp_data))
            proto = onnx.load(tmp, load_external_data=False)
            for tensor in proto.graph.initializer:
                for entry in tensor.external_data:
                    if entry.key == "location":
                        entry.value = data_name
            onnx.save(proto, tmp)
            os.replace(tmp_data, os.path.join(directory, data_name))
        else:
            ir.save(model, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise Jax2OnnxError(f"could not write {path!r}: {exc}") from exc
    finally:
        for leftover in (tmp, tmp_data):
            if os.path.exists(leftover):
                os.remove(leftover)


def allclose(
    fn: Callable,
    model_or_path: Any,
    inputs: Sequence[Any],
    input_params: Mapping[str, Any] | None = None,
    rtol: float = 1e-3,
    atol: float = 1e-5,
) -> tuple[bool, str]:
    """Runs ``fn`` in JAX and the model in ONNX Runtime on the same concrete ``inputs``.

    Returns ``(ok, message)``; the message gives the largest absolute error per output.
    """
    import onnxruntime as ort

    params = dict(input_params or {})
    if isinstance(model_or_path, ir.Model):
        model_or_path = ir.to_proto(model_or_path)
    if isinstance(model_or_path, onnx.ModelProto):
        source = model_or_path.SerializeToString()
    else:
        source = os.fspath(model_or_path)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    flat_inputs = jax.tree_util.tree_leaves(list(inputs))
    feeds = {}
    for meta, value in zip(session.get_inputs(), [*flat_inputs, *params.values()]):
        feeds[meta.name] = np.asarray(value, dtype=_ort_dtype(meta.type, value))
    got = session.run(None, feeds)
    want = [np.asarray(x) for x in jax.tree_util.tree_leaves(fn(*inputs, **params))]
    if len(got) != len(want):
        return False, f"ONNX model has {len(got)} outputs, JAX returned {len(want)}"
    messages, ok = [], True
    for i, (g, w) in enumerate(zip(got, want)):
        if g.shape != w.shape:
            ok = False
            messages.append(f"output {i}: shape {g.shape} != JAX {w.shape}")
            continue
        g = g.astype(np.float64) if g.dtype.kind in "fc" else g
        close = np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
        err = float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)))) if g.size else 0.0
        ok &= bool(close)
        messages.append(f"output {i}: max abs error {err:.3g}" + ("" if close else " (NOT close)"))
    return ok, "; ".join(messages)


_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int8)": np.int8, "tensor(int16)": np.int16, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8, "tensor(uint16)": np.uint16, "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64, "tensor(bool)": np.bool_,
}


def _ort_dtype(onnx_type: str, value: Any) -> Any:
    if onnx_type == "tensor(bfloat16)":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return _ORT_TYPES.get(onnx_type, np.asarray(value).dtype)
