"""The ``jax2onnx`` command: export, inspect, check and list plugins without writing a script.

Exit codes: 0 success, 1 an export or check failed, 2 the command line was wrong. Errors go to
stderr, first as one line that says what failed, then any detail.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import importlib.metadata
import inspect
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

OK, FAILED, USAGE = 0, 1, 2


class UsageError(Exception):
    """The command line names something that does not exist or cannot be understood."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except UsageError as exc:
        return _error(str(exc), USAGE)
    except Exception as exc:  # noqa: BLE001 - the command's failure, reported as one line first
        first, _, rest = str(exc).partition("\n")
        return _error(f"{type(exc).__name__}: {first}", FAILED, rest)


def _error(line: str, code: int, detail: str = "") -> int:
    print(f"jax2onnx: error: {line}", file=sys.stderr)
    if detail.strip():
        print(detail.rstrip(), file=sys.stderr)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jax2onnx", description="Export JAX callables to ONNX.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_core_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    export = commands.add_parser("export", help="export a callable to an ONNX file")
    export.add_argument("target", metavar="MODULE:OBJECT",
                        help="a callable, or a zero-argument factory returning one (e.g. pkg.models:make_model)")
    export.add_argument("--input", "-i", action="append", default=[], metavar="SHAPE",
                        help="one positional input's shape, comma-separated; names are symbolic dims (B,30)")
    export.add_argument("--dtype", default=None, help="dtype of every input (default float32)")
    export.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's)")
    export.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a keyword argument that becomes a graph input (deterministic=true)")
    export.add_argument("--double", action="store_true", help="export with 64-bit JAX (enable_double_precision)")
    export.add_argument("--output", "-o", required=True, help="the .onnx file to write")
    export.add_argument("--check", action="store_true",
                        help="run the model in ONNX Runtime and compare with JAX, per output; on a "
                             "mismatch, name the first equation whose values differ")
    export.add_argument("--verbose", "-v", action="store_true",
                        help="print each phase's time; a progress bar over large programs on a terminal")
    export.add_argument("--rtol", type=float, default=1e-3)
    export.add_argument("--atol", type=float, default=1e-5)
    export.set_defaults(run=_export)

    plugins = commands.add_parser("plugins", help="list installed plugin packages")
    plugins.set_defaults(run=_plugins)

    inspect_ = commands.add_parser("inspect", help="summarize an ONNX model")
    inspect_.add_argument("model", help="path to an .onnx file")
    inspect_.set_defaults(run=_inspect)

    check = commands.add_parser("check", help="checker, strict shape inference and an ONNX Runtime load")
    check.add_argument("model", help="path to an .onnx file")
    check.set_defaults(run=_check)
    return parser


def _core_version() -> str:
    try:
        return importlib.metadata.version("jax2onnx-core")
    except importlib.metadata.PackageNotFoundError:
        from . import __version__

        return __version__


# ---------------------------------------------------------------------------------------- export


def _export(args: argparse.Namespace) -> int:
    from .api import allclose, save_onnx

    fn = load_target(args.target, len(args.input))
    shapes = [parse_shape(s) for s in args.input]
    params = dict(parse_param(p) for p in args.param)
    options: dict[str, Any] = {"input_params": params, "enable_double_precision": args.double,
                               "verbose": args.verbose}
    if args.dtype:
        options["input_dtypes"] = [_dtype(args.dtype)] * len(shapes)
    if args.opset is not None:
        options["opset"] = args.opset
    path = save_onnx(fn, shapes, args.output, **options)
    print(f"wrote {path}")
    if not args.check:
        return OK
    inputs = _sample(shapes, args.dtype, args.double)
    ok, message = allclose(fn, path, inputs, params, rtol=args.rtol, atol=args.atol,
                           enable_double_precision=args.double, compare_intermediates=True)
    for part in message.split("; "):
        print(part)
    if ok:
        print("check: OK (ONNX Runtime matches JAX)")
        return OK
    return _error(f"check failed: ONNX Runtime differs from JAX beyond rtol={args.rtol}, atol={args.atol}", FAILED)


def load_target(target: str, n_inputs: int) -> Callable:
    """``module:object`` (dotted attributes allowed) as a callable; a zero-argument factory is called."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"target {target!r} is not MODULE:OBJECT (for example mypkg.models:make_model)")
    sys.path.insert(0, os.getcwd())  # like `python -m`, modules in the working directory are found
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import module {module_name!r}: {exc}") from exc
    finally:
        sys.path.pop(0)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"{target} is a {type(obj).__name__}, not a callable or a factory")
    if _is_factory(obj, n_inputs):
        if isinstance(obj, type) and (needed := _required(obj)):
            raise UsageError(f"class {target} needs arguments ({', '.join(needed)}) to be built: "
                             "name a zero-argument function that returns the model instead")
        try:
            obj = obj()
        except TypeError as exc:
            if not isinstance(obj, type):
                raise
            raise UsageError(f"class {target} cannot be built without arguments ({exc}): "
                             "name a zero-argument function that returns the model instead") from exc
        if not callable(obj):
            raise UsageError(f"factory {target} returned a {type(obj).__name__}, not a callable")
    return obj


def _is_factory(obj: Any, n_inputs: int) -> bool:
    """A class, or a function that needs no arguments while inputs were given."""
    if isinstance(obj, type):
        return True
    return inspect.isfunction(obj) and n_inputs > 0 and not _required(obj)


def _required(obj: Any) -> list[str]:
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def parse_shape(text: str) -> tuple[int | str, ...]:
    """``"B,30"`` -> ``('B', 30)``; ``""`` or ``"()"`` is a scalar."""
    text = text.strip().strip("()[]")
    dims: list[int | str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.lstrip("-").isdigit():
            if int(part) < 0:
                raise UsageError(f"--input {text!r}: dim {part} is negative; use a size >= 0 or a name")
            dims.append(int(part))
        elif part.isidentifier():
            dims.append(part)
        else:
            raise UsageError(f"--input {text!r}: dim {part!r} is neither a size nor a name")
    return tuple(dims)


def parse_param(text: str) -> tuple[str, Any]:
    """``deterministic=true`` -> ``('deterministic', True)``: bools, ints and floats are parsed."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise UsageError(f"--param {text!r} is not NAME=VALUE")
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return name, lowered == "true"
    for kind in (int, float):
        try:
            return name, kind(value)
        except ValueError:
            pass
    return name, value


def _dtype(name: str) -> Any:
    import numpy as np

    try:
        return np.dtype(name)
    except TypeError as exc:
        raise UsageError(f"--dtype {name!r} is not a dtype (float32, int32, ...)") from exc


def _sample(shapes: list[tuple], dtype: str | None, double: bool) -> list[Any]:
    from .api import sample_inputs

    values = sample_inputs(shapes, double)
    if dtype:
        values = [(v * 10).astype(_dtype(dtype)) if _dtype(dtype).kind in "iub" else v.astype(_dtype(dtype))
                  for v in values]
    return values


# --------------------------------------------------------------------------------------- plugins


def _plugins(args: argparse.Namespace) -> int:
    from .registry import get_registry

    registry = get_registry()
    rows: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    for entry in registry.all_lowerings():
        row = rows[entry.distribution]
        row[0] += entry.rule is not None
        row[1] += entry.rule is None
        row[2] += len(entry.testcases)
    print(f"{'package':28s} {'version':10s} {'rules':>6s} {'components':>11s} {'testcases':>10s}")
    for index in registry.indexes:
        rules, components, cases = rows[index.distribution]
        version = _dist_version(index.distribution)
        print(f"{index.distribution:28s} {version:10s} {rules:6d} {components:11d} {cases:10d}")
    for name, why in registry.broken.items():
        print(f"{name:32s} FAILED TO LOAD: {why}")
    return FAILED if registry.broken else OK


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "(in-process)"


# --------------------------------------------------------------------------------------- inspect


def _inspect(args: argparse.Namespace) -> int:
    import onnx

    model = _load(args.model, external=False)
    graph = model.graph
    print(f"model     {args.model}")
    print(f"ir        {model.ir_version}; opsets " +
          ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import))
    print(f"producer  {model.producer_name} {model.producer_version}".rstrip())
    for kind, values in (("input", graph.input), ("output", graph.output)):
        for v in values:
            print(f"{kind:9s} {v.name}: {_type_text(v.type)}")
    inline, external, files, count = 0, 0, set(), 0
    for t in _initializers(model):
        count += 1
        if t.data_location == onnx.TensorProto.EXTERNAL:
            info = {e.key: e.value for e in t.external_data}
            external += int(info.get("length", 0))
            files.add(info.get("location", "?"))
        else:
            inline += len(t.raw_data) or onnx.numpy_helper.to_array(t).nbytes
    print(f"weights   {count} initializers, {_bytes(inline)} inline, {_bytes(external)} external"
          + (f" in {', '.join(sorted(files))}" if files else ""))
    if model.functions:
        print("functions " + ", ".join(f"{f.domain}.{f.name} ({len(f.node)} nodes)" for f in model.functions))
    histogram = collections.Counter(
        (n.domain + "." if n.domain not in ("", "ai.onnx") else "") + n.op_type for n in _nodes(model))
    print(f"nodes     {sum(histogram.values())} (with subgraphs and functions)")
    for op, n in sorted(histogram.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {op:28s} {n:6d}")
    return OK


def _load(path: str, external: bool) -> Any:
    import onnx

    if not os.path.isfile(path):
        raise UsageError(f"no such model file: {path}")
    try:
        return onnx.load(path, load_external_data=external)
    except Exception as exc:  # noqa: BLE001 - a file that is not a model fails the command
        raise ValueError(f"{path} is not an ONNX model ({type(exc).__name__}: {exc})") from exc


def _type_text(t: Any) -> str:
    import onnx

    if not t.HasField("tensor_type"):
        return t.WhichOneof("value") or "?"
    tt = t.tensor_type
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name if tt.elem_type else "?"
    if dtype == "object":
        dtype = onnx.TensorProto.DataType.Name(tt.elem_type).lower()
    if not tt.HasField("shape"):
        return f"{dtype}[?]"
    dims = [d.dim_param or (str(d.dim_value) if d.HasField("dim_value") else "?") for d in tt.shape.dim]
    return f"{dtype}[{', '.join(dims)}]"


def _graphs(model: Any) -> Iterator[Any]:
    import onnx

    def walk(graph: Any) -> Iterator[Any]:
        yield graph
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    yield from walk(attr.g)
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    for g in attr.graphs:
                        yield from walk(g)

    yield from walk(model.graph)


def _nodes(model: Any) -> Iterator[Any]:
    for graph in _graphs(model):
        yield from graph.node
    for function in model.functions:
        yield from function.node


def _initializers(model: Any) -> Iterator[Any]:
    for graph in _graphs(model):
        yield from graph.initializer


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


# ----------------------------------------------------------------------------------------- check


def _check(args: argparse.Namespace) -> int:
    import onnx
    import onnxruntime as ort

    path = args.model
    model = _load(path, external=True)
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("checker (full)", lambda: onnx.checker.check_model(path, full_check=True)),
        ("strict shape inference",
         lambda: onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)),
        ("ONNX Runtime load", lambda: ort.InferenceSession(path, providers=["CPUExecutionProvider"])),
    ]
    for name, step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - each step's failure is the command's answer
            first, _, rest = str(exc).strip().partition("\n")
            return _error(f"{name} failed for {path}: {first}", FAILED, rest)
        print(f"{name}: OK")
    return OK


if __name__ == "__main__":
    sys.exit(main())
