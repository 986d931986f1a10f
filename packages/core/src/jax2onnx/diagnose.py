"""Where a wrong number starts: the first equation whose ONNX values differ from JAX's.

:func:`first_divergence` exports the function again at the concrete shapes of the inputs, with
the outputs of every top-level equation exposed as extra graph outputs, runs that model in ONNX
Runtime and the same jaxpr in JAX equation by equation, and reports the first equation (in
program order) whose values differ beyond the tolerance: its JAX primitive, the user's line and
the ONNX node that computed it. A named call (an ``nnx.Linear``, ``jax.nn.gelu``) is one
equation at the top level.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
import onnx_ir as ir

from . import _compat
from .builder import GraphBuilder, from_physical, tensor_type


@dataclasses.dataclass
class _Point:
    index: int
    eqn: Any
    position: int
    name: str
    node: str


@dataclasses.dataclass
class Probe:
    """Collects each top-level equation's ONNX values during an export and exposes them as outputs."""

    equations: list = dataclasses.field(default_factory=list)
    points: list[_Point] = dataclasses.field(default_factory=list)
    traced: Any = None

    def outputs(self, builder: GraphBuilder, traced: Any) -> list[ir.Value]:
        self.traced = traced
        extra = []
        for k, (eqn, values) in enumerate(self.equations):
            for j, (var, value) in enumerate(zip(eqn.outvars, values)):
                if isinstance(var, _compat.DropVar) or _compat.is_key_dtype(var.aval.dtype):
                    continue
                producer = value.producer()
                node = f"{producer.op_type} node '{producer.name}'" if producer is not None else "an input or constant"
                out = builder.identity(value)
                out.name = f"probe_{k}_{j}"
                out.type, out.shape = tensor_type(var.aval.dtype, var.aval.shape)
                self.points.append(_Point(k, eqn, j, out.name, node))
                extra.append(out)
        return extra


@dataclasses.dataclass
class Divergence:
    """The first equation whose ONNX values differ from JAX's beyond the tolerance."""

    primitive: str
    source: str
    node: str
    equation: int
    report: str

    def __str__(self) -> str:
        return (f"first divergence at equation {self.equation}: '{self.primitive}' at {self.source}, "
                f"computed by {self.node}: {self.report}")


def first_divergence(fn: Any, values: Sequence[Any], params: Mapping[str, Any], rtol: float, atol: float, *,
                     double: bool = False, training: str = "eval", opset: int = 23) -> Divergence | None:
    """The first equation of ``fn`` on ``values`` where ONNX Runtime and JAX disagree, or None."""
    from .api import _compare_one, _export, _ort_session  # noqa: PLC0415 - api imports this module lazily

    flat = [np.asarray(v) for v in jax.tree_util.tree_leaves(list(values))]
    specs = [jax.ShapeDtypeStruct(v.shape, v.dtype) for v in flat]
    probe = Probe()
    model = _export(fn, specs, dict(params), "probe", opset, double, None, None, None, 10, training,
                    "constant", probe=probe)
    session = _ort_session(model)
    names = [m.name for m in session.get_inputs()]
    feeds = dict(zip(names, [*flat, *(np.asarray(params[n]) for n in probe.traced.param_names)]))
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    with _compat.enable_x64(double):
        want = _evaluate(probe.traced.closed_jaxpr, [*flat, *(params[n] for n in probe.traced.param_names)])
    for point in probe.points:
        reference = np.asarray(want[point.index][point.position])
        value = from_physical(got[point.name], reference.dtype)
        if value.shape != reference.shape:
            report = f"shape {value.shape}, JAX {reference.shape}"
        else:
            close, report = _compare_one(value, reference, rtol, atol)
            if close:
                continue
        return Divergence(point.eqn.primitive.name, _compat.source_line(point.eqn) or "<unknown source>",
                          point.node, point.index, report)
    return None


def _evaluate(closed: Any, args: Sequence[Any]) -> list[list[Any]]:
    """Each top-level equation's outputs, evaluated in JAX in program order."""
    jaxpr = closed.jaxpr
    env: dict[Any, Any] = dict(zip(jaxpr.constvars, closed.consts))
    env.update(zip(jaxpr.invars, args))

    def read(atom: Any) -> Any:
        return atom.val if isinstance(atom, _compat.Literal) else env[atom]

    results = []
    for eqn in jaxpr.eqns:
        outs = _compat.eval_equation(eqn, [read(v) for v in eqn.invars])
        for var, out in zip(eqn.outvars, outs):
            if not isinstance(var, _compat.DropVar):
                env[var] = out
        results.append([_compat.physical_array(o) if _compat.is_key_dtype(o.dtype) else o for o in outs])
    return results
