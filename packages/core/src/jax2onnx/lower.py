"""Lowering: walks a jaxpr's equations and hands each to the rule a plugin registered for it."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
import onnx_ir as ir

from . import _compat
from .builder import GraphBuilder, Namer, onnx_dtype, tensor_type
from .errors import Jax2OnnxError, LoweringError, UnsupportedDtypeError, UnsupportedPrimitiveError
from .plugin import CALL_PREFIX
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


class Converter:
    """Lowers jaxprs into graph builders; one per export."""

    def __init__(self, registry: Any, opset: int, double: bool, calls: CallTable, namer: Namer):
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
                    inputs: Sequence[ir.Value]) -> list[ir.Value]:
        """Inlines ``jaxpr`` (open or closed) into ``builder``; returns its outputs."""
        if isinstance(jaxpr, _compat.ClosedJaxpr):
            consts = [builder.const(np.asarray(c)) for c in jaxpr.consts]
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
        builder.node_metadata = {"jax2onnx.source": ctx.source, "jax2onnx.primitive": name}
        try:
            outs = self._dispatch(ctx, builder, name, inputs)
        finally:
            builder.scope, builder.node_metadata = saved
        return ctx.finish(outs)

    def _dispatch(self, ctx: LoweringContext, builder: GraphBuilder, name: str, inputs: list[ir.Value]) -> Any:
        eqn = ctx.eqn
        if name in ("jit", "pjit") and str(eqn.params.get("name", "")).startswith(CALL_NAME_PREFIX):
            outs = self._lower_named_call(ctx, inputs)
        elif name in KEY_DATA_MOVEMENT and any(_compat.is_key_dtype(a.dtype) for a in ctx.out_avals):
            # Rules see key arrays as their uint32[..., 2] data: move it with shapes that know the last axis.
            outs = self.lower_jaxpr(builder, _compat.on_key_data(eqn), [], inputs)
        else:
            entry = self.registry.lookup(name)
            if entry is not None:
                outs = ctx.run(entry.rule, inputs, eqn.params)
            elif name in INLINED_CALLS:
                self._call_sites.append(ctx.source)
                try:
                    outs = self.lower_jaxpr(builder, eqn.params[INLINED_CALLS[name]], [], inputs)
                finally:
                    self._call_sites.pop()
            else:
                raise UnsupportedPrimitiveError(name, ctx.source, self.registry.searched)
        return outs

    def _lower_named_call(self, ctx: LoweringContext, inputs: list[ir.Value]) -> Any:
        record = self.calls.records.get(ctx.eqn.params["name"])
        if record is None:
            # Traced by an earlier export and reused from a jit cache: its record is gone, its body is not.
            return self.lower_jaxpr(ctx.builder, ctx.eqn.params["jaxpr"], [], inputs)
        if record.kind == "function":
            return self.lower_function_call(ctx, record, inputs)
        entry = self.registry.lookup(CALL_PREFIX + record.target)
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
        return ctx.run(lambda c, *_, **kw: entry.rule(c, **arguments), inputs, {})

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
        # Nested named calls get fresh names per trace; key the body by their targets instead.
        records = self.calls.records
        body = re.sub(rf"{CALL_NAME_PREFIX}\d+", lambda m: getattr(records.get(m.group(0)), "target", m.group(0)),
                      str(closed.jaxpr))
        key = (record.target, body, tuple(str(a) for a in ctx.in_avals))
        function = self.functions.get(key)
        if function is None:
            fb = GraphBuilder(self.opset, self.namer, kind="function")
            fn_inputs = [fb.add_input("x", a.dtype, a.shape) for a in ctx.in_avals]
            outs = self.lower_jaxpr(fb, closed, [], fn_inputs)
            outs = [fb.identity(o) if o.producer() is None else o for o in outs]
            for out, aval in zip(outs, ctx.out_avals):
                out.type, out.shape = tensor_type(aval.dtype, aval.shape)
            graph = fb.build(outs, record.target)
            name = f"{record.target.rsplit('.', 1)[-1]}_{len(self.functions)}"
            function = ir.Function("jax2onnx.functions", name, graph=graph, attributes=[])
            self.functions[key] = function
        ctx.builder.custom_opsets["jax2onnx.functions"] = 1
        return ctx.builder.op(function.name, inputs, domain="jax2onnx.functions",
                              num_outputs=len(ctx.out_avals), name=function.name)


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
    """What a rule sees: the equation, its abstract values, and node-emitting helpers.

    ``ctx.op.Add(x, y)`` emits a node (attributes as keywords, ``_outputs=n`` for several
    outputs); ``ctx.const``, ``ctx.dim``, ``ctx.shape_tensor``, ``ctx.cast`` cover the rest.
    """

    def __init__(self, converter: Converter, builder: GraphBuilder, eqn: Any):
        self.converter = converter
        self.builder = builder
        self.eqn = eqn
        self.op = _OpProxy(builder)
        # True while a named call's rule runs on arguments that vmap gave a leading batch axis.
        self.vmapped = False

    @property
    def opset(self) -> int:
        return self.converter.opset

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.eqn.params)

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

    def cast(self, x: ir.Value, dtype: Any, from_dtype: Any = None) -> ir.Value:
        """Casts ``x`` to ``dtype``; no node when its dtype (known, or given as ``from_dtype``) matches."""
        target = onnx_dtype(dtype)
        if x.dtype == target or (from_dtype is not None and onnx_dtype(from_dtype) == target):
            return x
        return self.op.Cast(x, to=target)

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
                f"Lowering '{self.eqn.primitive.name}' at {self.source} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def finish(self, outs: Any) -> list[ir.Value]:
        if isinstance(outs, ir.Value):
            outs = [outs]
        outs = list(outs)
        if len(outs) != len(self.eqn.outvars):
            raise self.fail(f"the rule returned {len(outs)} outputs, the equation has {len(self.eqn.outvars)}")
        for out, aval in zip(outs, self.out_avals):
            if out.type is None:
                out.type, out.shape = tensor_type(aval.dtype, aval.shape)
        return outs
