"""The public API: to_onnx, save_onnx, allclose."""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import secrets
import signal
import stat
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import jax
import numpy as np
import onnx
import onnx_ir as ir

from . import _compat, modes, passes
from .builder import GraphBuilder, Namer, from_physical, onnx_dtype, tensor_type, to_physical
from .errors import ExportOptionError, Jax2OnnxError, UnknownOptionError, UnsupportedPrimitiveError
from .layout import NCHW_TO_NHWC, NHWC_TO_NCHW, Layout
from .lower import NORMALIZATION_MODES, Converter, ExportOptions, PrimitiveLog, missing_primitives
from .progress import Report
from .registry import disabled_plugins, get_registry
from .trace import CallTable, in_mode, input_tree, is_shape_spec, make_specs, trace

MIN_OPSET, MAX_OPSET = 13, 26
EXTERNAL_DATA_THRESHOLD = 1 << 30
PROTOBUF_LIMIT = 1 << 31
EXPORT_MODES = ("standard", "web")


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
    training: str = "eval",
    random_keys: str = "input",
    inputs_as_nchw: Sequence[int | str] | None = None,
    outputs_as_nchw: Sequence[int | str] | None = None,
    export_mode: str = "standard",
    normalization_mode: str = "auto",
    record_primitive_calls_file: str | os.PathLike | None = None,
    source_metadata: bool = True,
    verbose: bool = False,
    disable_plugins: Sequence[str] | None = None,
    **unknown_options: Any,
) -> Any:
    """Exports ``fn`` called on ``inputs`` to ONNX.

    ``inputs`` holds one spec per positional argument (pytrees of specs are flattened in
    ``jax.tree_util`` order): a shape tuple such as ``('B', 30)`` whose strings are symbolic
    dims shared by all inputs, a ``jax.ShapeDtypeStruct``, or an array. ``input_params`` are
    keyword arguments that become scalar graph inputs after the positional ones. Outputs are the
    leaves of ``fn``'s result in ``jax.tree_util`` order.

    ``return_mode``: "proto" (an ``onnx.ModelProto``), "ir" (an ``onnx_ir.Model``) or "file"
    (writes ``output_path`` and returns the path).

    ``training``: "eval" (default) exports modules in inference mode, as after ``model.eval()``
    (Flax NNX) or ``eqx.nn.inference_mode`` (Equinox), without changing the model; "preserve"
    keeps the model's current mode; "train" exports training behaviour. Flags passed through
    ``input_params`` (``deterministic``, ``use_running_average``) still switch at run time.
    Where training behaviour draws random numbers from the model's RNG streams, each stream's
    key becomes a graph input after the others (``random_keys="input"``, uint32 key data as
    ``jax.random.key_data`` gives it); ``random_keys="constant"`` bakes the model's current
    keys in instead, so every run draws the same numbers.

    ``inputs_as_nchw`` / ``outputs_as_nchw``: positions (or names) of rank-4 inputs/outputs that
    the ONNX model takes/returns channels-first while ``fn`` works channels-last (NHWC); the
    boundary Transposes cancel against those of NHWC convolutions inside the graph.
    ``export_mode``: "standard" (weights over 1 GiB go to ``output_path.data``) or "web" (one
    self-contained file for onnxruntime-web; an error above protobuf's 2 GB limit).
    ``normalization_mode``: "auto" and "prefer_native" emit native normalization ops
    (LayerNormalization, RMSNormalization, GroupNormalization) where the opset has them;
    "force_decomposed" emits their elementwise decomposition. ``record_primitive_calls_file``
    writes a log of every primitive the export lowered (nesting, params, shapes, rule).
    ``source_metadata``: each node's ``metadata_props`` name the JAX primitive, the plugin rule
    that lowered it and the user's ``file:line`` (relative to the working directory or import
    root, so models stay byte-identical across machines); False leaves them out.
    ``verbose``: print each phase's time (trace, lower, passes, save) to stderr, with a progress
    bar over the equations of a large program when stderr is a terminal.

    ``disable_plugins``: plugin packages to leave out of this export, each by distribution name
    (``"jax2onnx-plugins-nnx"``) or entry-point name (``"nnx"``); the environment variable
    ``JAX2ONNX_DISABLE_PLUGINS`` (comma-separated, same names) adds to them. What a disabled
    package lowered then goes through the remaining ones (a Flax NNX module through the lax
    rules of its body), or is an unsupported-primitive error naming what was searched.

    An unknown keyword option is an ``UnknownOptionError`` naming the accepted ones.
    """
    _reject_unknown("to_onnx", unknown_options, to_onnx)
    if not callable(fn):
        raise ExportOptionError(f"fn must be callable (a function or a module): got {type(fn).__name__} {fn!r:.60}")
    _check_options(opset, return_mode, output_path)
    modes.check(training)
    if random_keys not in ("input", "constant"):
        raise ExportOptionError(f"random_keys={random_keys!r}: use 'input' or 'constant'")
    options = _export_options(export_mode, normalization_mode, external_data, source_metadata)
    registry = get_registry(disabled_plugins(disable_plugins))
    report = Report(bool(verbose))
    try:
        model = _export(fn, inputs, dict(input_params or {}), model_name, opset, enable_double_precision,
                        input_names, output_names, input_dtypes, ir_version, training, random_keys,
                        Layout(inputs_as_nchw, outputs_as_nchw), options, record_primitive_calls_file, registry,
                        report=report)
    except Jax2OnnxError as exc:
        # The message names the user's line; the converter's frames would only bury it.
        raise exc.with_traceback(None) from exc.__cause__
    if return_mode == "ir":
        return model
    if return_mode == "file":
        with report.phase("save"):
            _save(model, os.fspath(output_path), external_data, export_mode)
        return os.fspath(output_path)
    with report.phase("proto"):
        return ir.to_proto(model)


def save_onnx(fn: Callable, inputs: Sequence[Any], path: str | os.PathLike, **options: Any) -> str:
    """Exports ``fn`` and writes the model to ``path`` (weights over 1 GiB go to ``path.data``).

    ``options`` are those of ``to_onnx`` except ``return_mode`` and ``output_path``.
    """
    _reject_unknown("save_onnx", options, save_onnx,
                    [p for p in _option_names(to_onnx) if p not in ("fn", "inputs", "return_mode", "output_path")])
    return to_onnx(fn, inputs, return_mode="file", output_path=path, **options)


def _option_names(function: Callable) -> list[str]:
    return [name for name, p in inspect.signature(function).parameters.items() if p.kind != p.VAR_KEYWORD]


def _reject_unknown(name: str, given: Mapping[str, Any], function: Callable,
                    accepted: Sequence[str] | None = None) -> None:
    """An option ``function`` does not take is an error that names it, the accepted ones and a close match."""
    accepted = list(_option_names(function) if accepted is None else accepted)
    unknown = [k for k in given if k not in accepted]
    if unknown:
        raise UnknownOptionError(name, unknown[0], accepted)


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


def _export_options(export_mode: str, normalization_mode: str, external_data: bool | None,
                    source_metadata: bool = True) -> ExportOptions:
    if export_mode not in EXPORT_MODES:
        raise ExportOptionError(f"export_mode={export_mode!r}: use one of {', '.join(map(repr, EXPORT_MODES))}")
    if normalization_mode not in NORMALIZATION_MODES:
        raise ExportOptionError(
            f"normalization_mode={normalization_mode!r}: use one of {', '.join(map(repr, NORMALIZATION_MODES))}")
    if export_mode == "web" and external_data:
        raise ExportOptionError("export_mode='web' writes one self-contained file: drop external_data=True")
    return ExportOptions(normalization_mode=normalization_mode, source_metadata=bool(source_metadata))


def _export(fn, inputs, input_params, model_name, opset, double, input_names, output_names,
            input_dtypes, ir_version, training="eval", random_keys="input", layout=None, options=None,
            record_file=None, registry=None, probe=None, report=None) -> ir.Model:
    report = report or Report(False)
    registry = registry or get_registry()
    calls = CallTable()
    specs = make_specs(inputs, input_dtypes, double)
    with report.phase("trace"):
        traced = trace(fn, specs, input_tree(inputs), input_params, double, registry, calls, training, random_keys)
    with report.phase("lower"):
        model = _lower(traced, specs, registry, calls, model_name, opset, double, input_names, output_names,
                       ir_version, layout, options, record_file, probe, report)
    with report.phase("passes"):
        return passes.clean(model)


def _lower(traced, specs, registry, calls, model_name, opset, double, input_names, output_names, ir_version,
           layout, options, record_file, probe, report) -> ir.Model:
    jaxpr = traced.closed_jaxpr
    layout = layout or Layout()

    namer = Namer()
    builder = GraphBuilder(opset, namer)
    names = _names(input_names, len(specs), "in", "input_names")
    nchw_in = layout.inputs(names, specs)
    if input_names is None:
        names = [f"{n}_nchw" if i in nchw_in else n for i, n in enumerate(names)]
    names += traced.param_names + traced.key_names
    graph_inputs = [builder.add_input(n, aval.dtype, layout.outer_shape(aval.shape, i in nchw_in), exact_name=True)
                    for i, (n, aval) in enumerate(zip(names, traced.in_avals))]
    inner_inputs = [layout.to_nhwc(builder, v, aval) if i in nchw_in else v
                    for i, (v, aval) in enumerate(zip(graph_inputs, traced.in_avals))]
    consts = [builder.param(c, traced.const_names.get(id(c), "const")) for c in jaxpr.consts]
    recorder = PrimitiveLog() if record_file is not None else None
    converter = Converter(registry, opset, double, calls, namer, options=options, recorder=recorder)
    traced_inputs = [_as_traced(builder, value, aval) for value, aval in zip(inner_inputs, jaxpr.in_avals)]
    try:
        with report.equations(len(jaxpr.jaxpr.eqns)) as advance:
            outs = converter.lower_jaxpr(builder, jaxpr.jaxpr, consts, traced_inputs,
                                         None if probe is None else probe.equations, advance)
    except UnsupportedPrimitiveError as exc:  # name every missing primitive, not just the first met
        missing = missing_primitives(registry, jaxpr) or exc.missing
        missing.setdefault(exc.primitive, [exc.source])
        raise UnsupportedPrimitiveError(exc.primitive, exc.source, exc.searched, missing) from None
    if recorder is not None:
        recorder.write(record_file)

    out_names = _names(output_names, len(outs), "out", "output_names")
    nchw_out = layout.outputs(out_names, jaxpr.out_avals)
    final = []
    for i, (value, name, aval) in enumerate(zip(outs, out_names, jaxpr.out_avals)):
        if i in nchw_out:
            value = layout.to_nchw(builder, value, aval)
        if value.producer() is None or value in final:
            value = builder.identity(value)
        value.name = name
        value.type, value.shape = tensor_type(aval.dtype, layout.outer_shape(aval.shape, i in nchw_out))
        final.append(value)
    if probe is not None:
        final += probe.outputs(builder, traced)
    # A key input that the exported behaviour never draws from is not asked for.
    builder.inputs = [v for i, v in enumerate(builder.inputs) if i < len(names) - len(traced.key_names) or v.uses()]
    graph = builder.build(final, model_name)
    model = ir.Model(graph, ir_version=ir_version, producer_name="jax2onnx",
                     producer_version=_version(), functions=list(converter.functions.values()))
    for function in converter.functions.values():
        model.opset_imports[function.domain] = 1
    return model


def _as_traced(builder: GraphBuilder, value: ir.Value, aval: Any) -> ir.Value:
    """Without x64, JAX traces a 64-bit spec at 32 bits: the input keeps its declared type, one Cast follows."""
    ir_type, shape = tensor_type(aval.dtype, aval.shape)
    if value.type == ir_type:
        return value
    cast = builder.op("Cast", [value], {"to": onnx_dtype(aval.dtype)})
    cast.type, cast.shape = ir_type, shape
    return cast


def _names(given: Sequence[str] | None, count: int, prefix: str, option: str) -> list[str]:
    if given is None:
        return [f"{prefix}_{i}" for i in range(count)]
    if len(given) != count:
        raise ExportOptionError(f"{option} has {len(given)} names for {count} {prefix}puts")
    return list(given)


def _version() -> str:
    from . import __version__

    return __version__


def _save(model: ir.Model, path: str, external_data: bool | None, export_mode: str = "standard") -> None:
    """Writes atomically: a failed save leaves any previous file at ``path`` untouched.

    With external data the model and its ``.data`` file change as a pair (see ``_commit``): a failure
    or a SIGINT/SIGTERM at any point leaves both old files or both new ones, and no temporary files.
    """
    size = sum(v.const_value.nbytes for v in model.graph.initializers.values() if v.const_value is not None)
    use_external = size > EXTERNAL_DATA_THRESHOLD if external_data is None else external_data
    directory = os.path.dirname(os.path.abspath(path))
    data_name = os.path.basename(path) + ".data"
    _remove_stale_temporaries(directory)
    if export_mode == "web":
        if size >= PROTOBUF_LIMIT:
            raise ExportOptionError(
                f"export_mode='web' writes one self-contained file, but the weights alone take "
                f"{size / 2**30:.2f} GiB and one ONNX file cannot exceed 2 GiB (protobuf's limit). Shrink the "
                "model (float16 or quantized weights) or use export_mode='standard' (weights in a .data file).")
        use_external = False
    tmp = _temporary_file(directory)
    tmp_data = tmp + ".data"
    restore = _signals_raise()
    try:
        if use_external:
            ir.save(model, tmp, external_data=os.path.basename(tmp_data))
            proto = onnx.load(tmp, load_external_data=False)
            for tensor in proto.graph.initializer:
                for entry in tensor.external_data:
                    if entry.key == "location":
                        entry.value = data_name
            onnx.save(proto, tmp)
            _keep_mode(os.path.join(directory, data_name), tmp_data)
            _keep_mode(path, tmp)
            _commit(tmp, [(tmp_data, os.path.join(directory, data_name)), (tmp, path)])
        else:
            ir.save(model, tmp)
            _keep_mode(path, tmp)
            os.replace(tmp, path)
        if export_mode == "web" and os.path.exists(os.path.join(directory, data_name)):
            os.remove(os.path.join(directory, data_name))  # a stale sidecar of an earlier standard export
    except OSError as exc:
        raise Jax2OnnxError(f"could not write {path!r}: {exc}") from exc
    finally:
        for leftover in (tmp, tmp_data):
            if os.path.exists(leftover):
                os.remove(leftover)
        restore()


def _commit(tmp: str, moves: list[tuple[str, str]]) -> None:
    """Renames each written temporary over its target, all or none, with SIGINT/SIGTERM held off meanwhile.

    A rename that fails undoes those before it (each replaced file was kept as a hard link). A process
    killed outright (SIGKILL, power loss) between the renames leaves a journal listing them: the next
    save in that directory completes them (see ``_remove_stale_temporaries``).
    """
    journal = tmp + ".commit"
    done: list[tuple[str, str, str | None]] = []
    with _signals_held():
        with open(journal, "w", encoding="utf-8") as f:
            f.write("".join(f"{source}\t{target}\n" for source, target in moves))
            f.flush()
            os.fsync(f.fileno())
        try:
            for k, (source, target) in enumerate(moves):
                backup = f"{tmp}.old{k}" if os.path.exists(target) else None
                if backup is not None:
                    try:
                        os.link(target, backup)
                    except OSError:  # a file system without hard links: the target is briefly absent
                        os.replace(target, backup)
                done.append((source, target, backup))
                os.replace(source, target)
        except BaseException:
            for source, target, backup in reversed(done):
                if backup is not None:
                    os.replace(backup, target)
                elif not os.path.exists(source):
                    os.remove(target)
            raise
        finally:
            os.remove(journal)
            for _, _, backup in done:
                if backup is not None and os.path.exists(backup):
                    os.remove(backup)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM that arrive while the block runs take effect right after it.

    Python runs signal handlers in the main thread only: there they are deferred; a save in another
    thread is never interrupted by them anyway.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    held = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) is not None]  # None: set in C
    previous = {s: signal.signal(s, lambda signum, frame: arrived.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for signum in dict.fromkeys(arrived):
            signal.raise_signal(signum)


def _signals_raise() -> Callable[[], None]:
    """While a save runs in the main thread, SIGTERM raises (as Ctrl-C does) so its files are cleaned up."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    if previous not in (signal.SIG_DFL, None):
        return lambda: None  # the program handles SIGTERM itself

    def interrupted(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, interrupted)
    return lambda: signal.signal(signal.SIGTERM, previous)


_TEMPORARY = re.compile(r"\.jax2onnx-(\d+)-[0-9a-f]+\.onnx\.tmp(\.data|\.commit|\.old\d+)?")


def _remove_stale_temporaries(directory: str) -> None:
    """Cleans up after a save killed outright (SIGKILL, power loss) in ``directory``: its process is gone.

    A save killed while renaming its files left a journal: its remaining renames are done first, so
    the model and its data end up both new. Other leftovers are removed.
    """
    names = sorted(os.listdir(directory), key=lambda n: not n.endswith(".commit"))
    for name in names:
        match = _TEMPORARY.fullmatch(name)
        if not match or _alive(int(match.group(1))):
            continue
        path = os.path.join(directory, name)
        with contextlib.suppress(OSError):
            if name.endswith(".commit"):
                with open(path, encoding="utf-8") as f:
                    moves = [line.split("\t") for line in f.read().splitlines()]
                if all(len(m) == 2 for m in moves):
                    for source, target in moves:
                        if os.path.exists(source):
                            os.replace(source, target)
            os.remove(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _temporary_file(directory: str) -> str:
    """A new empty file in ``directory`` with the mode ``open(path, "w")`` would give (umask applied)."""
    while True:
        name = os.path.join(directory, f".jax2onnx-{os.getpid()}-{secrets.token_hex(8)}.onnx.tmp")
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return name
        except FileExistsError:
            continue


def _keep_mode(existing: str, replacement: str) -> None:
    """A file that replaces another keeps the other's permissions, as an in-place rewrite would."""
    if os.path.exists(existing):
        os.chmod(replacement, stat.S_IMODE(os.stat(existing).st_mode))


def allclose(
    fn: Callable,
    onnx_model_path: Any,
    inputs: Sequence[Any],
    input_params: Mapping[str, Any] | None = None,
    rtol: float = 1e-3,
    atol: float = 1e-5,
    *,
    enable_double_precision: bool = False,
    inputs_as_nchw: Sequence[int | str] | None = None,
    outputs_as_nchw: Sequence[int | str] | None = None,
    training: str = "eval",
    compare_intermediates: bool = False,
    **unknown_options: Any,
) -> tuple[bool, str]:
    """Runs ``fn`` in JAX and the model in ONNX Runtime on the same ``inputs``; ``(ok, message)``.

    ``onnx_model_path`` is a path, an ``onnx.ModelProto`` or an ``onnx_ir.Model``. ``inputs`` are
    arrays, or shape tuples for which uniform [0, 1) random inputs are drawn (a dim name stands
    for 2). ``input_params`` are fed to the model inputs of those names and to ``fn`` as keywords.
    ``enable_double_precision`` runs ``fn`` with 64-bit JAX. ``inputs_as_nchw`` /
    ``outputs_as_nchw`` are those given to ``to_onnx``: the rank-4 ``inputs`` stay NHWC for ``fn``
    and are transposed for the model, whose outputs are transposed back. The message gives the
    largest absolute error per output.

    ``training`` puts ``fn`` in the mode the export used (see ``to_onnx``): by default a module is
    compared in inference mode, as the default export computes it. Complex values travel as the
    model holds them: real arrays with a trailing axis of 2 [real, imag].

    The message gives, per output, its dtype and shape and the largest absolute and relative
    errors with where they occur. With ``compare_intermediates=True``, when outputs differ,
    ``fn`` is exported again at the inputs' shapes with every top-level equation's values
    exposed, and the message names the first equation whose values differ: its JAX primitive,
    the user's line and the ONNX node (see ``jax2onnx.diagnose``).
    """
    _reject_unknown("allclose", unknown_options, allclose)
    modes.check(training)
    params = dict(input_params or {})
    values = sample_inputs(inputs, enable_double_precision)
    session = _ort_session(onnx_model_path)
    feeds = _feeds(session, values, params, inputs_as_nchw)
    got = session.run(None, feeds)
    nchw_out = Layout(outputs_as_nchw=outputs_as_nchw).outputs([o.name for o in session.get_outputs()], None)
    got = [np.transpose(g, NCHW_TO_NHWC) if i in nchw_out and g.ndim == 4 else g for i, g in enumerate(got)]
    with _compat.enable_x64(enable_double_precision):
        want = [np.asarray(x) for x in jax.tree_util.tree_leaves(in_mode(fn, training)(*values, **params))]
    got = [from_physical(g, w.dtype) for g, w in zip(got, want)]
    ok, message = compare_outputs(got, want, rtol, atol, "JAX")
    if not ok and compare_intermediates:
        from .diagnose import first_divergence  # noqa: PLC0415 - only needed to diagnose

        divergence = first_divergence(fn, values, params, rtol, atol, double=enable_double_precision,
                                      training=training)
        message += f"; {divergence}" if divergence else "; no intermediate value differs beyond the tolerance"
    return ok, message


def sample_inputs(inputs: Sequence[Any], double: bool = False, seed: int = 0) -> list[Any]:
    """``inputs`` with every shape spec replaced by uniform [0, 1) random values (a dim name is 2)."""
    rng = np.random.default_rng(seed)
    dtype = np.float64 if double else np.float32

    def sample(spec: Any) -> Any:
        if not is_shape_spec(spec):
            return spec
        return rng.random([d if isinstance(d, (int, np.integer)) else 2 for d in spec]).astype(dtype)

    root = list(inputs)
    return jax.tree_util.tree_map(sample, root, is_leaf=lambda x: x is not root and is_shape_spec(x))


def _ort_session(model: Any) -> Any:
    import onnxruntime as ort

    if isinstance(model, ir.Model):
        model = ir.to_proto(model)
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else os.fspath(model)
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"])


def _feeds(session: Any, values: Sequence[Any], params: Mapping[str, Any],
           inputs_as_nchw: Sequence[int | str] | None) -> dict[str, np.ndarray]:
    """Model inputs by name: ``params`` by their names, the flattened ``values`` in order for the rest."""
    metas = session.get_inputs()
    positional = [m for m in metas if m.name not in params]
    flat = jax.tree_util.tree_leaves(list(values))
    nchw_in = Layout(inputs_as_nchw).inputs([m.name for m in positional], None)
    feeds = {}
    for i, (meta, value) in enumerate(zip(positional, flat)):
        value = np.asarray(to_physical(value))
        feeds[meta.name] = np.transpose(value, NHWC_TO_NCHW) if i in nchw_in and value.ndim == 4 else value
    for name, value in params.items():
        feeds[name] = value
    types = {m.name: m.type for m in metas}
    return {name: np.asarray(v, dtype=_ort_dtype(types[name], v)) for name, v in feeds.items() if name in types}


def compare_outputs(got: Sequence[np.ndarray], want: Sequence[np.ndarray], rtol: float, atol: float,
                    reference: str) -> tuple[bool, str]:
    """``(ok, message)`` comparing the model's outputs with the reference's, output by output.

    Each output's part of the message gives its dtype and shape, the largest absolute and
    relative errors and the index where each occurs; parts are joined by "; ".
    """
    if len(got) != len(want):
        return False, f"ONNX model has {len(got)} outputs, {reference} returned {len(want)}"
    messages, ok = [], True
    for i, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape:
            ok = False
            messages.append(f"output {i}: shape {g.shape} != {reference} {w.shape}")
            continue
        close, report = _compare_one(g, w, rtol, atol)
        ok &= close
        messages.append(f"output {i}: {report}" + ("" if close else " (NOT close)"))
    return ok, "; ".join(messages)


def _compare_one(g: np.ndarray, w: np.ndarray, rtol: float, atol: float) -> tuple[bool, str]:
    """Whether ``g`` is close to ``w``, and the errors: max absolute and relative, with their indices."""
    kind = f"{w.dtype.name}[{', '.join(map(str, w.shape))}]"
    wide = np.complex128 if "c" in (g.dtype.kind, w.dtype.kind) else np.float64
    numeric = g.dtype.kind in "fciub" and w.dtype.kind in "fciub"
    if not numeric or g.size == 0:
        same = bool(np.array_equal(g, w))
        return same, f"{kind}, " + ("equal" if same else "values differ")
    g64, w64 = g.astype(wide), w.astype(wide)
    close = bool(np.allclose(g64, w64, rtol=rtol, atol=atol, equal_nan=True))
    both_nan = np.isnan(g64) & np.isnan(w64)
    err = np.where(both_nan, 0.0, np.abs(g64 - w64))
    err = np.where(np.isnan(err), np.inf, err)  # NaN on one side only is the largest error
    at = np.unravel_index(int(np.argmax(err)), err.shape)
    scale = np.abs(np.where(np.isnan(w64), 1.0, w64))
    rel = err / np.maximum(scale, np.finfo(np.float64).tiny)
    rel_at = np.unravel_index(int(np.argmax(rel)), rel.shape)
    return close, (f"{kind}, max abs error {float(err[at]):.3g} at {_index(at)} (model {_scalar(g[at])}, "
                   f"want {_scalar(w[at])}), max rel error {float(rel[rel_at]):.3g} at {_index(rel_at)}")


def _index(at: tuple) -> str:
    return "[" + ", ".join(str(int(k)) for k in at) + "]"


def _scalar(x: Any) -> str:
    x = np.asarray(x).item()
    return f"{x:.7g}" if isinstance(x, float) else str(x)


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
