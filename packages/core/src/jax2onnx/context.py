"""The typed surface a lowering rule sees: :class:`LoweringContext`.

Rules are written against this protocol (``def lower_add(ctx: LoweringContext, x, y)``), so
editors complete ``ctx.`` and a type checker checks rule bodies. Core's implementation lives in
``jax2onnx.lower``; nothing else of core is meant for rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import onnx_ir as ir

from .errors import LoweringError, UnsupportedDtypeError

if TYPE_CHECKING:
    from .lower import ExportOptions


class Ops(Protocol):
    """``ctx.op.<OpType>(*inputs, **attributes)`` emits one ONNX node of the default domain.

    ``None`` stands for an omitted optional input; ``_outputs=n`` asks for ``n`` outputs (a
    tuple is returned); ``_domain=`` puts the node in another domain. Attributes whose value is
    ``None`` are left out. Below the opset of a current op form, core emits the older form.
    """

    def __getattr__(self, op_type: str) -> Callable[..., Any]: ...


class LoweringContext(Protocol):
    """What a lowering rule gets as ``ctx``: the equation, and everything needed to emit its graph.

    Values are ``onnx_ir.Value``\\ s. Core stamps the rule's outputs with the equation's types,
    so a rule only types values it builds a subgraph's outputs from (see :meth:`subgraph`).
    """

    # The equation being lowered.

    @property
    def primitive(self) -> Any:
        """The JAX primitive (``ctx.primitive.name``; ``ctx.primitive.impl`` to trace its reference)."""
        ...

    @property
    def params(self) -> dict[str, Any]:
        """The equation's params, in the form of the oldest supported JAX."""
        ...

    @property
    def in_avals(self) -> list[Any]:
        """Abstract values (``shape``, ``dtype``) of the inputs; symbolic dims are JAX dim expressions."""
        ...

    @property
    def out_avals(self) -> list[Any]:
        """Abstract values of the outputs the rule must return, in order."""
        ...

    @property
    def source(self) -> str:
        """The user's source line of the equation (``file.py:12 (fn)``), for messages."""
        ...

    # The export.

    @property
    def opset(self) -> int:
        """The default-domain opset the model targets: pick a native op or its decomposition by it."""
        ...

    @property
    def options(self) -> ExportOptions:
        """The export's options (``normalization_mode``)."""
        ...

    @property
    def double_precision(self) -> bool:
        """Whether the export runs in float64 mode (``enable_double_precision=True``)."""
        ...

    @property
    def vmapped(self) -> bool:
        """True while a named call's rule sees arguments that ``vmap`` gave a leading batch axis."""
        ...

    # Emitting nodes.

    @property
    def op(self) -> Ops:
        """``ctx.op.Add(x, y)``, ``ctx.op.TopK(x, k, axis=-1, _outputs=2)``: see :class:`Ops`."""
        ...

    def emit(self, op_type: str, inputs: Sequence[ir.Value | None], attributes: Mapping[str, Any] | None = None,
             *, domain: str = "", num_outputs: int = 1, name: str | None = None, version: int | None = None) -> Any:
        """Emits one node, for an op type held in a variable: one value, or a tuple if ``num_outputs > 1``.

        ``domain`` (a custom or contrib domain) is added to the model's opset imports at
        ``version`` (default 1). ``name`` is the node's name within the current scope.
        """
        ...

    def const(self, value: Any, dtype: Any = None) -> ir.Value:
        """A constant (an initializer, or a Constant node inside an ONNX function); equal small ones are shared.

        A Python float without ``dtype`` becomes float32.
        """
        ...

    def const_value(self, x: ir.Value) -> np.ndarray | None:
        """The value of ``x`` if it is a known constant, else None."""
        ...

    def cast(self, x: ir.Value, dtype: Any, from_dtype: Any = None) -> ir.Value:
        """Casts ``x`` to ``dtype``; no node when its dtype (known, or given as ``from_dtype``) matches."""
        ...

    # Shapes.

    def dim(self, d: Any) -> ir.Value:
        """A dimension (int or symbolic expression such as ``2*B``) as an int64 tensor of shape [1]."""
        ...

    def shape_tensor(self, dims: Sequence[Any]) -> ir.Value:
        """A 1-D int64 shape tensor for ``dims``; a constant when every dim is static."""
        ...

    # What ONNX Runtime can run (one table in core, jax2onnx.plugin.kernels).

    def has_kernel(self, op_type: str, dtype: Any) -> bool:
        """Whether ONNX Runtime's CPU provider runs ``op_type`` on ``dtype`` at this opset."""
        ...

    def kernel_dtype(self, op_type: str, dtype: Any) -> str | None:
        """``dtype``'s name if ONNX Runtime runs ``op_type`` on it, else the nearest wider dtype it runs, or None."""
        ...

    def supported_dtypes(self, op_type: str) -> list[str]:
        """The dtypes ``op_type`` can be computed for at this opset, directly or in a wider dtype."""
        ...

    def kernel_op(self, op_type: str, *inputs: ir.Value | None, dtype: Any, data: Sequence[int] | None = None,
                  back: Sequence[int] = (0,), num_outputs: int = 1, kernel_key: str | None = None,
                  **attrs: Any) -> Any:
        """``op_type`` on ``inputs`` of ``dtype``, computed in a wider dtype where ONNX Runtime has no kernel.

        ``data`` are the positions of the inputs of ``dtype`` (default: all); ``back`` the outputs
        cast back to ``dtype``; ``kernel_key`` looks up another row of the table (``ScatterND:add``).
        Raises UnsupportedDtypeError, naming the supported dtypes, when no wider dtype has a kernel.
        """
        ...

    # Sub-jaxprs, control flow and other rules.

    def lower_jaxpr(self, jaxpr: Any, *inputs: ir.Value) -> list[ir.Value]:
        """Inlines a (closed) sub-jaxpr here; returns its outputs."""
        ...

    def subgraph(self, jaxpr: Any, input_avals: Sequence[Any], name: str,
                 extra_inputs: Sequence[tuple[str, Any, Sequence[Any]]] = (),
                 wrap_outputs: Callable[..., list[ir.Value]] | None = None) -> ir.Graph:
        """Builds a control-flow body graph (If/Loop/Scan attribute) that may read outer values.

        ``jaxpr`` is a jaxpr, or a callable ``body(body_ctx, *extras, *inputs)`` that emits the
        body through ``body_ctx`` (a context on the body graph) and returns its outputs, typed
        (``value.type, value.shape = tensor_type(dtype, shape)``). ``extra_inputs`` (name,
        dtype, shape) come first in the body's inputs, such as a Loop's iteration count and
        condition.
        """
        ...

    def lower_call(self, path: str, **arguments: Any) -> Any:
        """Lowers the named call ``path`` (``"jax.nn.gelu"``) with whatever rule an installed plugin has.

        Returns the rule's outputs, or ``NotImplemented`` when no plugin lowers it (or the rule
        declines), so a rule can delegate: ``return ctx.lower_call("jax.nn.relu", x=x)``.
        """
        ...

    def function_call(self, name: str, inputs: Sequence[ir.Value], body: Callable[..., Sequence[ir.Value]],
                      input_avals: Sequence[Any], output_avals: Sequence[Any], *,
                      domain: str = "jax2onnx.functions") -> Any:
        """Calls an ONNX function ``domain.name``, built once per export by ``body(function_ctx, *inputs)``.

        The body emits through ``function_ctx`` (self-contained: constants become Constant
        nodes) on inputs of ``input_avals`` and returns outputs of ``output_avals``. Returns one
        value, or a tuple for several outputs.
        """
        ...

    # Naming and metadata (what Netron shows).

    @property
    def scope(self) -> str:
        """The scope prefixed to node names (``block/linear1``), from JAX's name stack and modules."""
        ...

    @property
    def node_metadata(self) -> Mapping[str, str]:
        """Metadata given to each node emitted now (``jax2onnx.source``, ``jax2onnx.primitive`` …)."""
        ...

    def enter_scope(self, path: str, metadata: Mapping[str, str] | None = None) -> None:
        """Names the nodes the rule emits from now on ``<scope>/<path>/<Op>``, adding ``metadata`` to them."""
        ...

    def naming(self, scope: str, metadata: Mapping[str, str]) -> AbstractContextManager[None]:
        """Within ``with ctx.naming(scope, metadata):`` nodes get exactly this scope and metadata."""
        ...

    # Errors that name the user's line.

    def fail(self, message: str) -> LoweringError:
        """A LoweringError naming the primitive and the user's line: ``raise ctx.fail("...")``."""
        ...

    def unsupported_dtype(self, dtype: Any, supported: str) -> UnsupportedDtypeError:
        """An UnsupportedDtypeError naming the dtype, the supported ones and the user's line."""
        ...


if TYPE_CHECKING:
    from . import lower

    def _implemented_by(ctx: lower.LoweringContext) -> LoweringContext:
        # The type checker checks core's context against the protocol here.
        return ctx
