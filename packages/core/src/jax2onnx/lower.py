"""Lowering: walks a jaxpr's equations and hands each to the rule a plugin registered for it."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import jax
import numpy as np
import onnx
import onnx_ir as ir

from . import _compat, kernels
from .builder import GraphBuilder, Namer, is_complex, onnx_dtype, physical_type, tensor_type
from .errors import Jax2OnnxError, LoweringError, UnsupportedDtypeError, UnsupportedPrimitiveError
from .plugin import CALL_PREFIX, COMPLEX_PREFIX
from .trace import CALL_NAME_PREFIX, CallTable

# Call-like primitives whose body is inlined unless a plugin claims them: primitive -> param.
INLINED_CALLS = {
    "jit": "jaxpr",
    "pjit": "jaxpr",
    "closed_call": "call_jaxpr",
    "core_call": "call_jaxpr",
    "named_call": "call_jaxpr",
    "custom_jvp_call": "call_jaxpr",
    "custom_vjp_call": "call_jaxpr",
    "custom_vjp_call_jaxpr": "fun_jaxpr",
    "checkpoint": "jaxpr",
    "remat": "jaxpr",
    "remat2": "jaxpr",
    "custom_lin": "jaxpr",
}

# Primitives whose params name every axis (shapes, permutations, predicates): on key arrays they
# run on the key data vmapped over its last axis. Slicing and indexing need nothing.
KEY_DATA_MOVEMENT = {"reshape", "broadcast_in_dim", "transpose", "select_n"}

# Primitives that act on a complex array's real and imaginary parts alike: on complex arrays they run
# on the [..., 2] parts vmapped over the last axis. Other primitives need a rule registered for
# "complex:<primitive>" (see COMPLEX_PREFIX); control flow is dtype-agnostic.
COMPLEX_PARTWISE = KEY_DATA_MOVEMENT | {
    "add", "sub", "neg", "add_any", "copy", "stop_gradient", "reduce_sum", "cumsum", "squeeze",
    "expand_dims", "slice", "dynamic_slice", "dynamic_update_slice", "concatenate", "pad", "rev", "gather",
    "scatter", "scatter-add", "scatter-sub", "split", "tile", "stack", "unstack",
}
COMPLEX_AGNOSTIC = {"cond", "while", "scan", "optimization_barrier", "name"}


NORMALIZATION_MODES = ("auto", "prefer_native", "force_decomposed")


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """Export-wide choices that rules read through ``ctx.options``.

    ``normalization_mode``: "auto" and "prefer_native" let normalization rules emit a native op
    (LayerNormalization, RMSNormalization, GroupNormalization) where the opset has one;
    "force_decomposed" asks them for the elementwise decomposition (they return NotImplemented,
    so the call's JAX body is lowered instead).
    """

    normalization_mode: str = "auto"
    source_metadata: bool = True

    @property
    def native_normalization(self) -> bool:
        return self.normalization_mode != "force_decomposed"


class PrimitiveLog:
    """The ``record_primitive_calls_file`` log: every equation lowered, nested calls indented."""

    def __init__(self) -> None:
        self.lines: list[str | None] = []
        self.depth = 0
        self._pending: dict[int, tuple[int, Any, str]] = {}

    def open(self, eqn: Any, source: str) -> int:
        """Reserves the equation's line (its rule is known once it is lowered); returns its slot."""
        self.lines.append(None)
        self._pending[len(self.lines) - 1] = (self.depth, eqn, source)
        self.depth += 1
        return len(self.lines) - 1

    def close(self, slot: int, rule: str) -> None:
        self.depth -= 1
        depth, eqn, source = self._pending.pop(slot)
        pad = "  " * depth
        avals = lambda vs: ", ".join(_aval_text(v.aval) for v in vs)  # noqa: E731
        lines = [f"{pad}{eqn.primitive.name}  [{rule}]  at {source}",
                 f"{pad}  in:  {avals(eqn.invars)}", f"{pad}  out: {avals(eqn.outvars)}"]
        lines += [f"{pad}  {k} = {_param_text(v)}" for k, v in sorted(eqn.params.items()) if k not in _PLACEMENT]
        self.lines[slot] = "\n".join(lines)

    def write(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(line for line in self.lines if line is not None) + "\n")


# jit params about devices and compilation, the same on every call: noise in the log.
_PLACEMENT = {"compiler_options_kvs", "ctx_mesh", "donated_invars", "in_layouts", "in_shardings", "out_layouts",
              "out_shardings", "keep_unused", "inline"}


def _aval_text(aval: Any) -> str:
    shape = ",".join(str(d) for d in getattr(aval, "shape", ()))
    return f"{np.dtype(aval.dtype).name if hasattr(aval, 'dtype') else aval}[{shape}]"


def _param_text(value: Any) -> str:
    if isinstance(value, (_compat.ClosedJaxpr, _compat.Jaxpr)):
        jaxpr = value.jaxpr if isinstance(value, _compat.ClosedJaxpr) else value
        return f"<jaxpr with {len(jaxpr.eqns)} equations>"
    text = repr(value).replace("\n", " ")
    return text if len(text) <= 200 else text[:197] + "..."


def missing_primitives(registry: Any, jaxpr: Any) -> dict[str, list[str]]:
    """Every primitive in ``jaxpr`` and the jaxprs inside it that no installed plugin lowers,
    with the user's lines that use it (for an error that lists them all at once)."""
    found: dict[str, list[str]] = {}
    handled = set(INLINED_CALLS) | set(_compat.EXPANDED_CALLS) | COMPLEX_PARTWISE | COMPLEX_AGNOSTIC

    def walk(j: Any) -> None:
        for eqn in (j.jaxpr if isinstance(j, _compat.ClosedJaxpr) else j).eqns:
            name = eqn.primitive.name
            named_call = name in ("jit", "pjit") and str(eqn.params.get("name", "")).startswith(CALL_NAME_PREFIX)
            if name not in handled and not named_call and _lookup(registry, name) is None:
                found.setdefault(name, []).append(_compat.source_line(eqn) or "<unknown source>")
            for sub in _compat.sub_jaxprs(eqn.params):
                walk(sub)

    walk(jaxpr)
    return found


def _lookup(registry: Any, name: str) -> Any:
    try:
        return registry.lookup(name)
    except Jax2OnnxError:  # a broken plugin module is reported by the lowering itself
        return True


class Converter:
    """Lowers jaxprs into graph builders; one per export."""

    def __init__(self, registry: Any, opset: int, double: bool, calls: CallTable, namer: Namer,
                 *, options: ExportOptions | None = None, recorder: PrimitiveLog | None = None):
        self.options = options or ExportOptions()
        self.recorder = recorder
        self.registry = registry
        self.opset = opset
        self.double = double
        self.calls = calls
        self.namer = namer
        self.functions: dict[tuple, ir.Function] = {}
        self._call_sites: list[str] = []

    def source_of(self, eqn: Any) -> str:
        """The user's line for an equation, or for the call it was inlined from."""
        line = _compat.source_line(eqn)
        if line is None:
            line = self._call_sites[-1] if self._call_sites else "<unknown source>"
        return line

    def lower_jaxpr(self, builder: GraphBuilder, jaxpr: Any, consts: Sequence[ir.Value],
                    inputs: Sequence[ir.Value], probe: list | None = None,
                    advance: Callable[[], None] | None = None) -> list[ir.Value]:
        """Inlines ``jaxpr`` (open or closed) into ``builder``; returns its outputs. ``probe``, when
        given, collects ``(equation, output values)`` of each equation (to diagnose numerics)."""
        if isinstance(jaxpr, _compat.ClosedJaxpr):
            consts = [builder.const(np.asarray(_compat.physical_array(c))) for c in jaxpr.consts]
            jaxpr = jaxpr.jaxpr
        env: dict[Any, ir.Value] = {}
        for var, value in zip(jaxpr.constvars, consts):
            env[var] = value
        for var, value in zip(jaxpr.invars, inputs):
            env[var] = value

        def read(atom: Any) -> ir.Value:
            if isinstance(atom, _compat.Literal):
                return builder.const(np.asarray(atom.val, dtype=atom.aval.dtype))
            return env[atom]

        for eqn in jaxpr.eqns:
            outs = self.lower_eqn(builder, eqn, [read(v) for v in eqn.invars])
            if probe is not None:
                probe.append((eqn, outs))
            if advance is not None:
                advance()
            for var, value in zip(eqn.outvars, outs):
                if not isinstance(var, _compat.DropVar):
                    env[var] = value
        return [read(v) for v in jaxpr.outvars]

    def lower_eqn(self, builder: GraphBuilder, eqn: Any, inputs: list[ir.Value]) -> list[ir.Value]:
        name = eqn.primitive.name
        ctx = LoweringContext(self, builder, eqn)
        saved = builder.scope, builder.node_metadata
        # Netron shows node names and metadata: say which named scope and user line a node came from.
        builder.scope = str(eqn.source_info.name_stack)
        builder.node_metadata = ({"jax2onnx.source": portable_path(ctx.source), "jax2onnx.primitive": name}
                                 if self.options.source_metadata else {})
        slot = self.recorder.open(eqn, ctx.source) if self.recorder is not None else None
        try:
            outs = self._dispatch(ctx, builder, name, inputs)
        finally:
            builder.scope, builder.node_metadata = saved
            if slot is not None:
                self.recorder.close(slot, ctx.lowered_by)
        return ctx.finish(outs)

    def _dispatch(self, ctx: LoweringContext, builder: GraphBuilder, name: str, inputs: list[ir.Value]) -> Any:
        eqn = ctx.eqn
        if name in ("jit", "pjit") and str(eqn.params.get("name", "")).startswith(CALL_NAME_PREFIX):
            outs = self._lower_named_call(ctx, inputs)
        elif name in KEY_DATA_MOVEMENT and any(_compat.is_key_dtype(a.dtype) for a in ctx.out_avals):
            # Rules see key arrays as their uint32[..., 2] data: move it with shapes that know the last axis.
            ctx.lowered_by = "on key data"
            outs = self.lower_jaxpr(builder, _compat.on_physical_data(eqn, physical_type), [], inputs)
        elif (name not in INLINED_CALLS and name not in _compat.EXPANDED_CALLS and name not in COMPLEX_AGNOSTIC
              and any(is_complex(a.dtype) for a in (*ctx.in_avals, *ctx.out_avals))):
            outs = self._lower_complex(ctx, builder, name, inputs)
        else:
            entry = self.registry.lookup(name)
            if entry is not None:
                ctx.lowered_by, ctx.entry = _rule_name(entry), entry
                if self.options.source_metadata:
                    builder.node_metadata = {**builder.node_metadata, "jax2onnx.rule": ctx.lowered_by}
                outs = ctx.run(entry.rule, inputs, ctx.params)
            elif name in INLINED_CALLS or name in _compat.EXPANDED_CALLS:
                ctx.lowered_by = "inlined"
                body = (eqn.params[INLINED_CALLS[name]] if name in INLINED_CALLS
                        else _compat.expand_call(eqn, self.double))
                self._call_sites.append(ctx.source)
                try:
                    outs = self.lower_jaxpr(builder, body, [], inputs)
                finally:
                    self._call_sites.pop()
            else:
                raise UnsupportedPrimitiveError(name, ctx.source, self.registry.searched)
        return outs

    def _lower_complex(self, ctx: LoweringContext, builder: GraphBuilder, name: str,
                       inputs: list[ir.Value]) -> Any:
        entry = self.registry.lookup(COMPLEX_PREFIX + name)
        if entry is not None:
            ctx.entry = entry
            return ctx.run(entry.rule, inputs, ctx.params)
        if name in COMPLEX_PARTWISE:
            return self.lower_jaxpr(builder, _compat.on_physical_data(ctx.eqn, physical_type), [], inputs)
        dtype = next(a.dtype for a in (*ctx.in_avals, *ctx.out_avals) if is_complex(a.dtype))
        raise UnsupportedDtypeError(
            f"{name} at {ctx.source}: no lowering handles {np.dtype(dtype).name} operands (installed plugins "
            f"lower '{COMPLEX_PREFIX}<primitive>' for complex {', '.join(self.registry.complex_targets())}). "
            "Compute on real and imaginary parts (jnp.real, jnp.imag) or use a plugin that adds it.")

    def _lower_named_call(self, ctx: LoweringContext, inputs: list[ir.Value]) -> Any:
        record = self.calls.records.get(ctx.eqn.params["name"])
        # A call traced by an earlier export and reused from a jit cache has no record here; named-call
        # rules take real operands. Either way the call's body lowers instead.
        if record is None or any(is_complex(a.dtype) for a in (*ctx.in_avals, *ctx.out_avals)):
            return self.lower_jaxpr(ctx.builder, ctx.eqn.params["jaxpr"], [], inputs)
        if record.kind == "function":
            ctx.lowered_by = f"onnx_function {record.target}"
            return self.lower_function_call(ctx, record, inputs)
        entry = self.registry.lookup(CALL_PREFIX + record.target)
        if entry is None:
            return self.lower_jaxpr(ctx.builder, ctx.eqn.params["jaxpr"], [], inputs)
        ctx.lowered_by = f"{record.target}: body inlined (vmap/grad changed its shapes)"
        recorded = ([np.shape(record.leaves[i]) for i in record.dynamic], record.out_shapes)
        if recorded == ([tuple(a.shape) for a in ctx.in_avals], [tuple(a.shape) for a in ctx.out_avals]):
            outs = self._run_call_rule(ctx, record, entry, inputs)
        else:
            # vmap batched the call, or grad split it into primal and tangent parts, after it was
            # recorded: only a rule that takes a leading batch axis on the batched arguments fits.
            outs = self._lower_vmapped_call(ctx, record, entry, inputs)
        if outs is NotImplemented:
            return self.lower_jaxpr(ctx.builder, ctx.eqn.params["jaxpr"], [], inputs)
        return outs

    def _run_call_rule(self, ctx: LoweringContext, record: Any, entry: Any, inputs: list[ir.Value]) -> Any:
        leaves = list(record.leaves)
        for slot, value in zip(record.dynamic, inputs):
            leaves[slot] = value
        arguments = jax.tree_util.tree_unflatten(record.treedef, leaves)
        ctx.lowered_by, ctx.entry = f"{record.target}: {_rule_name(entry)}", entry
        outs = ctx.run(lambda c, *_, **kw: entry.rule(c, **arguments), inputs, {})
        if outs is NotImplemented:
            ctx.lowered_by = f"{record.target}: body inlined (the rule declined)"
        return outs

    def _lower_vmapped_call(self, ctx: LoweringContext, record: Any, entry: Any, inputs: list[ir.Value]) -> Any:
        """A call vmap batched: its ``batched`` arguments and all outputs gained one axis each.

        The rule sees those arguments with the batch axis moved to the front and returns outputs
        with the batch in front (an output vmap left unbatched, such as a state passed through,
        stays as it is); anything else (batched weights, nested vmap) inlines the body.
        """
        if not entry.batched:
            return NotImplemented
        slots = jax.tree_util.tree_unflatten(record.treedef, list(range(len(record.leaves))))
        allowed = {i for name in entry.batched for i in jax.tree_util.tree_leaves(slots.get(name))}
        in_axes = [_added_axis(np.shape(record.leaves[i]), a.shape) for i, a in zip(record.dynamic, ctx.in_avals)]
        out_axes = [_added_axis(r, a.shape) for r, a in zip(record.out_shapes, ctx.out_avals)]
        batched = [slot for slot, axis in zip(record.dynamic, in_axes) if axis != -1]
        if None in in_axes or None in out_axes or not batched or not set(batched) <= allowed:
            return NotImplemented
        moved = [x if axis in (-1, 0) else _move_axis(ctx, x, axis, 0, len(a.shape))
                 for x, axis, a in zip(inputs, in_axes, ctx.in_avals)]
        ctx.vmapped = True
        outs = self._run_call_rule(ctx, record, entry, moved)
        if outs is NotImplemented:
            return outs
        outs = [outs] if isinstance(outs, ir.Value) else list(outs)
        for y, axis, a in zip(outs, out_axes, ctx.out_avals):
            if y.type is None and axis > 0:
                # Typed as it leaves the rule (batch first), since a Transpose follows.
                y.type, y.shape = tensor_type(a.dtype, [a.shape[axis], *a.shape[:axis], *a.shape[axis + 1:]])
        return [y if axis in (-1, 0) else _move_axis(ctx, y, 0, axis, len(a.shape))
                for y, axis, a in zip(outs, out_axes, ctx.out_avals)]

    def lower_function_call(self, ctx: LoweringContext, record: Any, inputs: list[ir.Value]) -> Any:
        """Emits a call to an ONNX function built once per distinct traced body."""
        closed = ctx.eqn.params["jaxpr"]
        spec = record.function
        # Nested named calls get fresh names per trace; key the body by their targets instead.
        records = self.calls.records
        body = re.sub(rf"{CALL_NAME_PREFIX}\d+", lambda m: getattr(records.get(m.group(0)), "target", m.group(0)),
                      str(closed.jaxpr))
        key = (spec.domain, spec.name, body, tuple(str(a) for a in ctx.in_avals))
        function = self.functions.get(key)
        if function is None:
            fb = GraphBuilder(self.opset, self.namer, kind="function")
            fn_inputs = [fb.add_input("x", a.dtype, a.shape) for a in ctx.in_avals]
            outs = self.lower_jaxpr(fb, closed, [], fn_inputs)
            outs = [fb.identity(o) if o.producer() is None else o for o in outs]
            for out, aval in zip(outs, ctx.out_avals):
                out.type, out.shape = tensor_type(aval.dtype, aval.shape)
            graph = fb.build(outs, spec.name)
            taken = {(f.domain, f.name) for f in self.functions.values()}
            name = next(n for n in (spec.name, *(f"{spec.name}_{k}" for k in range(2, len(taken) + 3)))
                        if (spec.domain, n) not in taken)
            function = ir.Function(spec.domain, name, graph=graph, attributes=[])
            self.functions[key] = function
        ctx.builder.custom_opsets[spec.domain] = 1
        return ctx.builder.op(function.name, inputs, domain=spec.domain,
                              num_outputs=len(ctx.out_avals), name=function.name)


def portable_path(source: str) -> str:
    """``source`` ('file:line (function)') with the file relative to the working directory or to
    the import root it was found under, so models are byte-identical across checkouts and machines."""
    path, sep, rest = source.partition(":")
    if not sep or not os.path.isabs(path):
        return source
    roots = [os.getcwd(), *(p for p in sys.path if p and os.path.isabs(p))]
    under = [r for r in roots if path.startswith(os.path.join(r, ""))]
    if not under:
        return source
    return os.path.relpath(path, max(under, key=len)).replace(os.sep, "/") + sep + rest


def _rule_name(entry: Any) -> str:
    return f"{entry.distribution or 'unknown'}: {entry.module}.{getattr(entry.rule, '__name__', 'rule')}"


def _added_axis(before: Sequence[Any], after: Sequence[Any]) -> int | None:
    """-1 if the shape is unchanged, the one axis vmap added to it, or None if that is not clear."""
    before, after = [str(d) for d in before], [str(d) for d in after]
    if after == before:
        return -1
    axes = [p for p in range(len(after)) if after[:p] + after[p + 1:] == before]
    return axes[0] if len(axes) == 1 else None


def _move_axis(ctx: LoweringContext, x: ir.Value, source: int, destination: int, rank: int) -> ir.Value:
    perm = [i for i in range(rank) if i != source]
    perm.insert(destination, source)
    out = ctx.op.Transpose(x, perm=perm)
    if x.shape is not None:
        out.type, out.shape = x.type, ir.Shape([x.shape[p] for p in perm])
    return out


class _OpProxy:
    def __init__(self, builder: GraphBuilder):
        self._builder = builder

    def __getattr__(self, op_type: str) -> Callable[..., Any]:
        def emit(*inputs: ir.Value | None, _outputs: int = 1, _domain: str = "", **attrs: Any):
            return self._builder.op(op_type, inputs, attrs, domain=_domain, num_outputs=_outputs)

        return emit


class LoweringContext:
    """Core's implementation of the rule context; rules see it as ``jax2onnx.plugin.LoweringContext``.

    ``ctx.op.Add(x, y)`` emits a node (attributes as keywords, ``_outputs=n`` for several
    outputs); ``ctx.const``, ``ctx.dim``, ``ctx.shape_tensor``, ``ctx.cast`` cover the rest.
    """

    def __init__(self, converter: Converter, builder: GraphBuilder, eqn: Any):
        self.converter = converter
        self.builder = builder
        self.eqn = eqn
        self.op = _OpProxy(builder)
        self.lowered_by = ""
        self.entry: Any = None  # the plugin row whose rule lowers this equation, once one runs
        # True while a named call's rule runs on arguments that vmap gave a leading batch axis.
        self.vmapped = False

    @property
    def opset(self) -> int:
        return self.converter.opset

    @property
    def options(self) -> ExportOptions:
        """The export's options (``normalization_mode`` …): what ``to_onnx`` was asked for."""
        return self.converter.options

    @property
    def params(self) -> dict[str, Any]:
        """The equation's params, in the form of the oldest supported JAX (see ``_compat.rule_params``)."""
        return _compat.rule_params(self.eqn.primitive.name, self.eqn.params)

    @property
    def in_avals(self) -> list[Any]:
        return [v.aval for v in self.eqn.invars]

    @property
    def out_avals(self) -> list[Any]:
        return [v.aval for v in self.eqn.outvars]

    @property
    def source(self) -> str:
        return self.converter.source_of(self.eqn)

    def const(self, value: Any, dtype: Any = None) -> ir.Value:
        return self.builder.const(value, dtype)

    def dim(self, d: Any) -> ir.Value:
        return self.builder.dim(d)

    def shape_tensor(self, dims: Sequence[Any]) -> ir.Value:
        return self.builder.shape_tensor(dims)

    # The rest of the public surface (documented on jax2onnx.context.LoweringContext).

    @property
    def primitive(self) -> Any:
        return self.eqn.primitive

    @property
    def double_precision(self) -> bool:
        return self.converter.double

    def emit(self, op_type: str, inputs: Sequence[ir.Value | None], attributes: Mapping[str, Any] | None = None,
             *, domain: str = "", num_outputs: int = 1, name: str | None = None, version: int | None = None) -> Any:
        if domain:
            self.builder.root.custom_opsets.setdefault(domain, version or 1)
        return self.builder.op(op_type, inputs, dict(attributes or {}), domain=domain, num_outputs=num_outputs,
                               name=name)

    def has_kernel(self, op_type: str, dtype: Any) -> bool:
        return kernels.has_kernel(op_type, dtype, self.opset)

    def kernel_dtype(self, op_type: str, dtype: Any) -> str | None:
        return kernels.kernel_dtype(op_type, dtype, self.opset)

    def supported_dtypes(self, op_type: str) -> list[str]:
        return kernels.supported_dtypes(op_type, self.opset)

    def lower_call(self, path: str, **arguments: Any) -> Any:
        entry = self.converter.registry.lookup(CALL_PREFIX + path)
        return NotImplemented if entry is None else entry.rule(self, **arguments)

    def function_call(self, name: str, inputs: Sequence[ir.Value], body: Callable[..., Sequence[ir.Value]],
                      input_avals: Sequence[Any], output_avals: Sequence[Any], *,
                      domain: str = "jax2onnx.functions") -> Any:
        key = ("rule", domain, name, tuple(str(a) for a in input_avals))
        if key not in self.converter.functions:
            fb = GraphBuilder(self.opset, self.converter.namer, kind="function")
            fn_inputs = [fb.add_input("x", a.dtype, a.shape) for a in input_avals]
            outs = list(body(LoweringContext(self.converter, fb, self.eqn), *fn_inputs))
            outs = [fb.identity(o) if o.producer() is None else o for o in outs]
            for out, aval in zip(outs, output_avals):
                out.type, out.shape = tensor_type(aval.dtype, aval.shape)
            self.converter.functions[key] = ir.Function(domain, name, graph=fb.build(outs, name), attributes=[])
        self.builder.root.custom_opsets[domain] = 1
        return self.builder.op(name, list(inputs), domain=domain, num_outputs=len(output_avals), name=name)

    @property
    def scope(self) -> str:
        return self.builder.scope

    @property
    def node_metadata(self) -> Mapping[str, str]:
        return dict(self.builder.node_metadata)

    def enter_scope(self, path: str, metadata: Mapping[str, str] | None = None) -> None:
        self.builder.scope = f"{self.builder.scope}/{path}" if self.builder.scope else path
        self.builder.node_metadata = {**self.builder.node_metadata, **(metadata or {})}

    @contextlib.contextmanager
    def naming(self, scope: str, metadata: Mapping[str, str]) -> Iterator[None]:
        saved = self.builder.scope, self.builder.node_metadata
        self.builder.scope, self.builder.node_metadata = scope, dict(metadata)
        try:
            yield
        finally:
            self.builder.scope, self.builder.node_metadata = saved

    def cast(self, x: ir.Value, dtype: Any, from_dtype: Any = None) -> ir.Value:
        """Casts ``x`` to ``dtype``; no node when its dtype (known, or given as ``from_dtype``) matches."""
        target = onnx_dtype(dtype)
        if x.dtype == target or (from_dtype is not None and onnx_dtype(from_dtype) == target):
            return x
        return self.op.Cast(x, to=target)

    def kernel_op(self, op_type: str, *inputs: ir.Value | None, dtype: Any, data: Sequence[int] | None = None,
                  back: Sequence[int] = (0,), num_outputs: int = 1, kernel_key: str | None = None,
                  **attrs: Any) -> Any:
        """``op_type`` on ``inputs`` of ``dtype``, computed in a wider dtype where ONNX Runtime has no kernel.

        ``data`` are the positions of the inputs of ``dtype`` (default: all); ``back`` the outputs
        cast back to ``dtype``; ``kernel_key`` looks up another row of the table (``ScatterND:add``).
        """
        kernel = kernels.kernel_dtype(kernel_key or op_type, dtype, self.opset)
        if kernel is None:
            raise self.unsupported_dtype(dtype, ", ".join(kernels.supported_dtypes(kernel_key or op_type, self.opset)))
        name = np.dtype(dtype).name
        if kernel != name:
            positions = range(len(inputs)) if data is None else data
            inputs = tuple(self._widen(x, kernel) if i in positions and x is not None else x
                           for i, x in enumerate(inputs))
        outs: Any = self.builder.op(op_type, inputs, attrs, num_outputs=num_outputs)
        if kernel == name:
            return outs
        if num_outputs == 1:
            return self.cast(outs, name) if 0 in back else outs
        return tuple(self.cast(o, name) if i in back else o for i, o in enumerate(outs))

    def _widen(self, x: ir.Value, dtype: str) -> ir.Value:
        """A Cast, or for a constant the constant in ``dtype``."""
        value = self.const_value(x)
        return self.cast(x, dtype) if value is None else self.const(value.astype(dtype))

    def const_value(self, x: ir.Value) -> np.ndarray | None:
        """The value of ``x`` if it is a known constant, else None."""
        if x.const_value is not None:
            return x.const_value.numpy()
        node = x.producer()
        if node is not None and node.op_type == "Constant" and "value" in node.attributes:
            return node.attributes["value"].as_tensor().numpy()
        return None

    def lower_jaxpr(self, jaxpr: Any, *inputs: ir.Value) -> list[ir.Value]:
        """Inlines a sub-jaxpr here (for rules that fall back to a body)."""
        return self.converter.lower_jaxpr(self.builder, jaxpr, [], list(inputs))

    def subgraph(self, jaxpr: Any, input_avals: Sequence[Any], name: str,
                 extra_inputs: Sequence[tuple[str, Any, Sequence[Any]]] = (),
                 wrap_outputs: Callable[[GraphBuilder, list[ir.Value], list[ir.Value]], list[ir.Value]] | None = None,
                 ) -> ir.Graph:
        """Builds ``jaxpr`` as a control-flow body graph (If/Loop/Scan); it may read outer values.

        ``extra_inputs`` (name, dtype, shape) come first in the body's inputs (a Loop's
        iteration count and condition) and are passed to ``wrap_outputs`` with the jaxpr's
        inputs and outputs, which returns the body's final outputs.

        ``jaxpr`` may instead be a callable ``body(body_ctx, *extras, *inputs)`` that emits the
        body through ``body_ctx`` (a context on the body graph) and returns its typed outputs,
        for bodies that are more than one jaxpr (nested Ifs, a Loop slicing its scanned inputs).
        """
        sub = GraphBuilder(self.opset, self.converter.namer, kind="subgraph", parent=self.builder)
        extras = [sub.add_input(n, dt, shp) for n, dt, shp in extra_inputs]
        body_inputs = [sub.add_input(f"{name}_in", a.dtype, a.shape) for a in input_avals]
        if isinstance(jaxpr, (_compat.ClosedJaxpr, _compat.Jaxpr)):
            outs = self.converter.lower_jaxpr(sub, jaxpr, [], body_inputs)
            if wrap_outputs is not None:
                outs = wrap_outputs(sub, extras, outs)
        else:
            outs = list(jaxpr(LoweringContext(self.converter, sub, self.eqn), *extras, *body_inputs))
        final: list[ir.Value] = []
        produced_here = {id(n) for n in sub.nodes}
        for out in outs:
            # A body output must be produced inside the body, once.
            if out.producer() is None or id(out.producer()) not in produced_here or out in final:
                out = sub.identity(out)
            final.append(out)
        return sub.build(final, self.converter.namer.fresh(name))

    def fail(self, message: str) -> LoweringError:
        return LoweringError(f"{self.eqn.primitive.name} at {self.source}: {message}")

    def unsupported_dtype(self, dtype: Any, supported: str) -> UnsupportedDtypeError:
        return UnsupportedDtypeError(
            f"{self.eqn.primitive.name} at {self.source}: dtype {np.dtype(dtype).name} is not supported "
            f"(supported: {supported})")

    def run(self, rule: Callable, inputs: list[ir.Value], params: dict[str, Any]) -> Any:
        try:
            return rule(self, *inputs, **params)
        except Jax2OnnxError:
            raise
        except Exception as exc:
            raise LoweringError(
                f"Lowering '{self.eqn.primitive.name}' at {self.source} failed in {rule_origin(self.entry)}: "
                f"{type(exc).__name__}: {exc}") from exc

    def finish(self, outs: Any) -> list[ir.Value]:
        if isinstance(outs, (ir.Value, str)) or not hasattr(outs, "__iter__"):
            outs = [outs]
        outs = list(outs)
        if len(outs) != len(self.eqn.outvars):
            raise self.fail(f"{rule_origin(self.entry)} returned {len(outs)} outputs, the equation has "
                            f"{len(self.eqn.outvars)}")
        if self.entry is not None:
            check_rule_outputs(self, outs)
        for out, aval in zip(outs, self.out_avals):
            if out.type is None:
                out.type, out.shape = tensor_type(aval.dtype, aval.shape)
        return outs


# Plugin packages of this project: their rules' outputs are checked by the testing kit (see check_rule_outputs).
FIRST_PARTY_PLUGINS = frozenset(
    {"jax2onnx-plugins-lax", "jax2onnx-plugins-nnx", "jax2onnx-plugins-equinox", "jax2onnx-examples"})


def rule_origin(entry: Any) -> str:
    """``the rule module:function of plugin package 'name'`` for error messages."""
    if entry is None:
        return "jax2onnx's own lowering"
    function = getattr(entry.rule, "__qualname__", getattr(entry.rule, "__name__", "rule"))
    return f"the rule {entry.module}:{function} of plugin package '{entry.distribution or 'unknown'}'"


def check_rule_outputs(ctx: LoweringContext, outs: Sequence[Any]) -> None:
    """A rule's outputs must have the dtype and shape of the equation's: a wrong one fails here, naming the rule.

    An output the rule typed is compared as it is. One it left untyped is inferred from its node (ONNX's
    per-node inference, on typed inputs only) for packages outside this project; this project's rules
    skip that (about half a millisecond per equation): the testing kit runs strict whole-model shape
    inference on every testcase of theirs. Symbolic dims are not compared.
    """
    infer = ctx.entry.distribution not in FIRST_PARTY_PLUGINS
    for i, (out, aval) in enumerate(zip(outs, ctx.out_avals)):
        if not isinstance(out, ir.Value):
            raise ctx.fail(f"{rule_origin(ctx.entry)} returned {type(out).__name__} as output {i}, not a graph value")
        want_type, want_shape = tensor_type(aval.dtype, aval.shape)
        if out.type is not None:
            got_dtype, got_shape = out.dtype, out.shape
        else:
            got_dtype, got_shape = _node_inferred(ctx, out) if infer else (None, None)
        problem = None
        if got_dtype is not None and got_dtype != want_type.dtype:
            problem = f"dtype {_dtype_text(got_dtype)} where the equation gives {_dtype_text(want_type.dtype)}"
        elif got_shape is not None and not _same_static_shape(got_shape, want_shape):
            problem = f"shape {_dims_text(got_shape)} where the equation gives {_dims_text(want_shape)}"
        if problem:
            raise ctx.fail(f"{rule_origin(ctx.entry)} returned output {i} with {problem}. "
                           "This is a bug in that plugin: report it to its authors, or disable the package "
                           "(to_onnx(disable_plugins=[...]) or JAX2ONNX_DISABLE_PLUGINS) to use another.")


def _same_static_shape(got: Sequence[Any], want: Sequence[Any]) -> bool:
    if len(got) != len(want):
        return False
    return all(not (isinstance(g, int) and isinstance(w, int)) or g == w for g, w in zip(got, want))


def _dtype_text(dtype: ir.DataType) -> str:
    try:
        return np.dtype(dtype.numpy()).name
    except Exception:
        return dtype.name.lower()


def _dims_text(shape: Sequence[Any]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _node_inferred(ctx: LoweringContext, out: ir.Value) -> tuple[Any, Any]:
    """(dtype, static-or-None dims) of an untyped output as ONNX infers it from its node, else (None, None)."""
    node = out.producer()
    if node is None or node.domain not in ("", "ai.onnx") or any(
            a.type == ir.AttributeType.GRAPH or a.type == ir.AttributeType.GRAPHS for a in node.attributes.values()):
        return None, None
    if any(v is not None and v.type is None for v in node.inputs):
        return None, None
    try:
        schema = onnx.defs.get_schema(node.op_type, ctx.opset, "")
        proto = ir.serde.serialize_node(node)
        types = {v.name: _type_proto(v) for v in node.inputs if v is not None}
        inferred = onnx.shape_inference.infer_node_outputs(schema, proto, types)
    except Exception:
        return None, None  # no verdict: ONNX cannot infer this node on its own
    found = inferred.get(out.name)
    if found is None or not found.HasField("tensor_type") or not found.tensor_type.elem_type:
        return None, None
    tensor = found.tensor_type
    dtype = ir.DataType(tensor.elem_type)
    if not tensor.HasField("shape"):
        return dtype, None
    return dtype, [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim]


def _type_proto(value: ir.Value) -> Any:
    dims = None if value.shape is None else [d if isinstance(d, int) else str(d) for d in value.shape]
    return onnx.helper.make_tensor_type_proto(int(value.dtype), dims)
