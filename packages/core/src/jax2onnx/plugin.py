"""The plugin API: what a plugin package declares and how its lowering rules register.

A plugin distribution registers a :class:`PluginIndex` under the ``jax2onnx.plugins``
entry-point group. The index names, per module, the targets the module lowers, so core can
import a module only when a conversion needs one of its targets. Inside the module, rules
register with :func:`lowering` (a JAX primitive) or :func:`call_lowering` (a named
high-level call such as ``jax.nn.gelu``), each with its metadata and testcases.

A rule is ``rule(ctx: LoweringContext, *inputs, **params)``. This module and the top-level
``jax2onnx`` package are the whole API a plugin uses: the rule context, registration, the
kernel table of what ONNX Runtime can run (``kernels``), and ``tensor_type``.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx_ir as ir

from . import kernels
from ._compat import has_lax_primitive
from .builder import tensor_type
from .context import LoweringContext, Ops
from .kernels import ALL_DTYPES, FLOAT, INT, NUMERIC, SINT, UINT

__all__ = [
    "ALL_DTYPES", "CALL_PREFIX", "COMPLEX_PREFIX", "FLOAT", "INT", "NUMERIC", "SINT", "UINT", "Lowering",
    "LoweringContext", "Ops", "PluginIndex", "Testcase", "call_lowering", "coverage", "has_lax_primitive", "kernels",
    "cast_all", "in_module", "lowering", "registered_in", "tensor_type",
]

CALL_PREFIX = "call:"
# A target "complex:mul" lowers primitive mul when an operand or result is complex (see builder's
# module docstring for how complex arrays are held); the plain target keeps real dtypes.
COMPLEX_PREFIX = "complex:"


@dataclasses.dataclass(frozen=True)
class Testcase:
    """A callable plus input specs that the testing kit exports, runs and compares with JAX.

    ``inputs`` are input specs as for ``to_onnx``: shape tuples whose string entries are
    symbolic dims, ``jax.ShapeDtypeStruct``s, or arrays. ``input_dtypes`` gives a dtype per
    shape-tuple input (default float32). ``fn`` is the callable, or ``factory`` builds it
    when the test runs (models are built lazily so that reading metadata stays cheap).
    ``x64``: True runs the case in float32 and float64 mode, False in float32 mode only,
    "only" in float64 mode only (for int64/uint64/float64 inputs, which JAX has only there).
    ``min_opset`` is the lowest opset the case can export at, with ``min_opset_reason`` saying why
    (an ONNX op or form the older opsets lack, with no older form computing the same).
    """

    name: str
    fn: Callable | None = None
    inputs: Sequence[Any] = ()
    input_dtypes: Sequence[Any] | None = None
    factory: Callable[[], Callable] | None = None
    input_params: Mapping[str, Any] | None = None
    input_values: Callable[[Any, Sequence[tuple]], Sequence[Any]] | None = None
    rtol: float | None = None
    atol: float | None = None
    x64: bool | str = True
    opsets: Sequence[int] | None = None
    min_opset: int | None = None
    min_opset_reason: str | None = None
    expect_ops: Sequence[str] | None = None
    forbid_ops: Sequence[str] = ("Identity",)
    check_model: Callable[[Any], None] | None = None
    dim_sizes: Sequence[int] = (2, 5)
    skip: str | None = None

    def __post_init__(self) -> None:
        if self.min_opset is not None and not self.min_opset_reason:
            raise ValueError(f"testcase {self.name!r}: min_opset needs a min_opset_reason")

    def build(self) -> Callable:
        if self.factory is not None:
            return self.factory()
        if self.fn is None:
            raise ValueError(f"testcase {self.name!r} has neither fn nor factory")
        return self.fn


@dataclasses.dataclass
class Lowering:
    """One row of coverage: a target, its rule (None for a metadata-only row) and metadata."""

    target: str
    rule: Callable | None
    component: str
    onnx: tuple[str, ...]
    since: str
    doc: str = ""
    testcases: tuple[Testcase, ...] = ()
    via: tuple[str, ...] = ()
    bind: Callable | None = None
    when: Callable[..., bool] | None = None
    body: Callable | None = None
    batched: tuple[str, ...] = ()
    module: str = ""
    distribution: str = ""

    @property
    def is_call(self) -> bool:
        return self.target.startswith(CALL_PREFIX)


@dataclasses.dataclass(frozen=True)
class PluginIndex:
    """What a plugin distribution offers, cheap to import: module name -> targets it lowers.

    Targets are JAX primitive names (``"add"``) or named calls (``"call:jax.nn.gelu"``).
    ``coverage_modules`` hold metadata-only rows (components that lower through other rules).
    Between two distributions claiming one target, the higher ``priority`` wins; equal
    priorities are a conflict error.
    """

    distribution: str
    modules: Mapping[str, Sequence[str]]
    coverage_modules: Sequence[str] = ()
    priority: int = 0


_registered: dict[str, list[Lowering]] = {}


def _add(entry: Lowering) -> None:
    _registered.setdefault(entry.module, []).append(entry)


def _registering_module(explicit: str | None) -> str:
    """``explicit``, else the module whose top-level code runs the registration.

    That is the module a ``PluginIndex`` lists, also when the rule was made by a factory in a
    helper module, is a ``functools.partial``, or is registered by a helper function called at
    import time: the innermost module-level frame on the stack.
    """
    if explicit is not None:
        return explicit
    frame = inspect.currentframe()
    while frame is not None and frame.f_code.co_name != "<module>":
        frame = frame.f_back
    if frame is None:
        raise ValueError("registered outside a module's top level: pass module=__name__")
    return str(frame.f_globals["__name__"])


def lowering(
    *primitives: str,
    component: str,
    onnx: Sequence[str],
    since: str,
    doc: str = "",
    testcases: Sequence[Testcase] = (),
    module: str | None = None,
) -> Callable[[Callable], Callable]:
    """Registers ``rule(ctx, *inputs, **params)`` as the lowering of one or more JAX primitives.

    With several primitives (``component`` then formats ``{}`` with each name), a testcase goes to
    the row of the primitive its name starts with (``scatter_add_rows`` to ``scatter-add``).

    The rule receives the equation's inputs as graph values and its params as keywords,
    emits nodes through ``ctx`` (a :class:`LoweringContext`) and returns one value or a sequence
    of values. The rule registers under ``module``, by default the module whose top-level code
    runs the decorator: the one its ``PluginIndex`` must list.
    """

    def decorate(rule: Callable) -> Callable:
        owner = _registering_module(module)
        for name in primitives:
            _add(Lowering(name, rule, component if len(primitives) == 1 else component.format(name),
                          tuple(onnx), since, doc.format(name) if doc else "",
                          tuple(tc for tc in testcases if _row_of(tc, primitives) == name), module=owner))
        return rule

    return decorate


def _row_of(testcase: Testcase, primitives: Sequence[str]) -> str:
    """The primitive whose name (``-`` read as ``_``) is the longest prefix of the testcase's; else the first."""
    matches = [p for p in primitives if testcase.name.startswith(p.replace("-", "_"))]
    return max(matches, key=len) if matches else primitives[0]


def call_lowering(
    path: str,
    *,
    component: str | None = None,
    onnx: Sequence[str],
    since: str,
    doc: str = "",
    testcases: Sequence[Testcase] = (),
    when: Callable[..., bool] | None = None,
    body: Callable | None = None,
    batched: Sequence[str] = (),
    module: str | None = None,
) -> Callable[[Callable], Callable]:
    """Registers ``rule(ctx, **arguments)`` for a named high-level call such as ``jax.nn.gelu``.

    During tracing the function or method at ``path`` is wrapped in a named ``jax.jit`` so the
    call stays visible in the jaxpr while ``vmap``/``grad``/``jvp`` keep working. The rule gets
    the call's bound arguments by name, array leaves replaced by graph values; it returns the
    outputs, or ``NotImplemented`` to inline the call's body instead. ``when(*args, **kwargs)``
    decides per call whether to wrap at all (for instance only in eval mode). ``body(original, *args,
    **kwargs)`` is traced in the original's place (for instance to accept a flag that ``input_params``
    turned into a traced boolean where the original branches on it in Python). ``batched`` names the
    arguments that may carry one extra leading axis when ``vmap`` batched the call after it was traced
    (per-example modules, as in Equinox): the rule then sees them, and returns its outputs, batch first.
    ``module`` is where the rule registers, as for :func:`lowering`.
    """

    def decorate(rule: Callable) -> Callable:
        _add(Lowering(CALL_PREFIX + path, rule, component or path, tuple(onnx), since, doc,
                      tuple(testcases), when=when, body=body, batched=tuple(batched),
                      module=_registering_module(module)))
        return rule

    return decorate


def coverage(
    component: str,
    *,
    via: Sequence[str],
    onnx: Sequence[str] = (),
    since: str,
    doc: str = "",
    testcases: Sequence[Testcase] = (),
    module: str | None = None,
) -> None:
    """Declares a metadata-only row: a component that lowers through other rules (``via``).

    The row registers under ``module``, by default the module whose top-level code calls this.
    """
    _add(Lowering("component:" + component, None, component, tuple(onnx), since, doc,
                  tuple(testcases), via=tuple(via), module=_registering_module(module)))


def registered_in(module: str) -> list[Lowering]:
    """The rows registered under ``module`` so far (import the module first)."""
    return list(_registered.get(module, ()))


# Helpers for rules that lower a whole module of a neural-network library (Flax NNX, Equinox, ...).


def in_module(ctx: LoweringContext, weight: ir.Value | None, depth: int = 1) -> None:
    """Names the nodes a rule emits after the module's path in the model, read off a weight's name.

    ``linear1.kernel`` gives nodes named ``linear1/Gemm`` with metadata ``jax2onnx.module: linear1``
    (``depth`` 2 for a weight of a submodule: ``attn.query.kernel`` -> ``attn``). A weight that is
    not a named initializer leaves the naming as it is.
    """
    if weight is None or weight.const_value is None or not weight.name or weight.name.count(".") < depth:
        return
    path = weight.name.rsplit(".", depth)[0]
    ctx.enter_scope(path, {"jax2onnx.module": path})


def cast_all(ctx: LoweringContext, dtype: Any, *values: ir.Value | None) -> list[Any]:
    """Casts every present value to ``dtype`` (None stays None), as a module's dtype promotion does.

    A cast weight is folded into a new initializer by core's constant folding, which keeps the type
    given here.
    """
    type_ = ir.TensorType(ir.DataType.from_numpy(np.dtype(dtype)))
    out: list[Any] = []
    for value in values:
        if value is not None:
            value = ctx.cast(value, dtype)
            if value.type is None:
                value.type = type_
        out.append(value)
    return out
