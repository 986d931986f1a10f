"""Graph building on onnx_ir: nodes, constants and symbolic-shape arithmetic for one graph.

Complex numbers: ONNX Runtime has no complex kernels (it cannot even load a model with a
complex64 input), so a complex array is a real array of its parts' dtype with a trailing axis
of 2 holding [real, imag], inside the graph and at its inputs and outputs: complex64[3, 4] is
float32[3, 4, 2], complex128 is float64. This is the layout of ONNX's DFT. ``to_physical`` and
``from_physical`` convert arrays to and from it; key arrays likewise travel as their data.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx_ir as ir

from . import _compat, legacy
from .errors import InputSpecError, UnsupportedDtypeError


def onnx_dtype(dtype: Any) -> ir.DataType:
    try:
        return ir.DataType.from_numpy(np.dtype(dtype))
    except Exception as exc:
        raise UnsupportedDtypeError(f"dtype {dtype} has no ONNX equivalent") from exc


def onnx_dim(d: Any) -> int | str:
    return d if isinstance(d, int) else str(d).replace(" ", "")


def is_complex(dtype: Any) -> bool:
    return not _compat.is_key_dtype(dtype) and np.dtype(dtype).kind == "c"


def complex_part_dtype(dtype: Any) -> np.dtype:
    """float32 for complex64, float64 for complex128."""
    return np.finfo(np.dtype(dtype)).dtype


def physical_type(dtype: Any, shape: Sequence[Any]) -> tuple[Any, tuple]:
    """(dtype, shape) of an array as the graph holds it: complex and key arrays gain a trailing axis."""
    if _compat.is_key_dtype(dtype):
        return _compat.key_data_type(dtype, tuple(shape))
    if is_complex(dtype):
        return complex_part_dtype(dtype), (*shape, 2)
    return dtype, tuple(shape)


def to_physical(value: Any) -> Any:
    """An array as the graph holds it (complex: parts on a trailing axis; keys: their data)."""
    value = _compat.physical_array(value)
    array = np.asarray(value)
    return np.stack([array.real, array.imag], axis=-1) if array.dtype.kind == "c" else value


def from_physical(array: np.ndarray, dtype: Any) -> np.ndarray:
    """A graph's output back as ``dtype``: [..., 2] parts become complex when ``dtype`` is."""
    array = np.asarray(array)
    if is_complex(dtype) and array.dtype.kind == "f" and array.shape[-1:] == (2,):
        return (array[..., 0] + 1j * array[..., 1]).astype(np.result_type(array.dtype, np.complex64))
    return array


def tensor_type(dtype: Any, shape: Sequence[Any]) -> tuple[ir.TensorType, ir.Shape]:
    """The ONNX type and shape of a JAX array (``value.type, value.shape = tensor_type(aval.dtype, aval.shape)``).

    Symbolic dims become named dims; complex and key arrays get their graph layout (a trailing axis).
    """
    dtype, shape = physical_type(dtype, shape)
    return ir.TensorType(onnx_dtype(dtype)), ir.Shape([onnx_dim(d) for d in shape])


class Namer:
    """Unique value and node names across a model and all its subgraphs (ONNX needs SSA names)."""

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._count = itertools.count()

    def fresh(self, hint: str) -> str:
        name = hint
        while name in self._used:
            name = f"{hint}_{next(self._count)}"
        self._used.add(name)
        return name

    def reserve(self, name: str) -> None:
        self._used.add(name)


class GraphBuilder:
    """Collects the nodes of one graph.

    ``kind`` is "main" (constants become initializers), "subgraph" (a control-flow body: it
    may read the outer graph, so constants and shape arithmetic go to the main graph), or
    "function" (an ONNX function: self-contained, constants become Constant nodes).
    """

    def __init__(self, opset: int, namer: Namer, kind: str = "main",
                 parent: GraphBuilder | None = None, metadata: dict[str, str] | None = None):
        self.opset = opset
        self.namer = namer
        self.kind = kind
        self.parent = parent
        self.nodes: list[ir.Node] = []
        self.inputs: list[ir.Value] = []
        self.initializers: list[ir.Value] = []
        self._const_cache: dict[tuple, ir.Value] = {}
        self._dim_env: dict[str, tuple[ir.Value, int]] = {}
        self._dim_cache: dict[str, ir.Value] = {}
        self.node_metadata = metadata or {}
        self.scope = ""
        self.custom_opsets: dict[str, int] = {}

    @property
    def root(self) -> GraphBuilder:
        return self.parent.root if self.kind == "subgraph" and self.parent else self

    def add_input(self, hint: str, dtype: Any, shape: Sequence[Any], exact_name: bool = False) -> ir.Value:
        ir_type, ir_shape = tensor_type(dtype, shape)
        name = hint if exact_name else self.namer.fresh(hint)
        if exact_name:
            self.namer.reserve(name)
        value = ir.Value(name=name, type=ir_type, shape=ir_shape)
        self.inputs.append(value)
        for axis, d in enumerate(shape):
            if _compat.is_symbolic_dim(d) and str(d).isidentifier():
                self._dim_env.setdefault(str(d), (value, axis))
        return value

    def op(self, op_type: str, inputs: Sequence[ir.Value | None], attributes: dict | None = None,
           *, domain: str = "", num_outputs: int = 1, name: str | None = None,
           version: int | None = None) -> ir.Value | tuple[ir.Value, ...]:
        attributes = {k: v for k, v in (attributes or {}).items() if v is not None}
        if not domain:
            older = legacy.emit_older(self, op_type, list(inputs), attributes, num_outputs)
            if older is not None:
                return older
        attrs = ir.convenience.convert_attributes(attributes)
        node = ir.Node(domain, op_type, list(inputs), attrs, num_outputs=num_outputs,
                       name=self.namer.fresh(f"{self.scope}/{name or op_type}" if self.scope else name or op_type),
                       version=version,
                       metadata_props=dict(self.node_metadata) or None)
        for out in node.outputs:
            out.name = self.namer.fresh(f"{op_type.lower()}_out")
        self.nodes.append(node)
        return node.outputs[0] if num_outputs == 1 else tuple(node.outputs)

    def identity(self, x: ir.Value) -> ir.Value:
        out = self.op("Identity", [x])
        out.type, out.shape = x.type, x.shape
        return out

    def const(self, value: Any, dtype: Any = None, name: str | None = None) -> ir.Value:
        """A constant; identical small constants are shared."""
        if self.kind == "subgraph":
            return self.root.const(value, dtype, name)
        array = np.asarray(value, dtype=dtype, order="C")
        if array.dtype.kind == "c":
            array = np.ascontiguousarray(to_physical(array))
        if array.dtype == np.float64 and dtype is None and not isinstance(value, np.ndarray):
            array = array.astype(np.float32)
        key = None
        if name is None and array.size <= 4096:
            key = (array.dtype.str, array.shape, array.tobytes())
            if key in self._const_cache:
                return self._const_cache[key]
        if self.kind == "function":
            out = self.op("Constant", [], {"value": ir.tensor(array)}, name="const")
        else:
            out = ir.Value(name=self.namer.fresh(name or "const"), type=ir.TensorType(onnx_dtype(array.dtype)),
                           shape=ir.Shape(array.shape), const_value=ir.tensor(array))
            self.initializers.append(out)
        if key is not None:
            self._const_cache[key] = out
        return out

    def param(self, array: Any, name: str) -> ir.Value:
        """A weight: an initializer referencing the array without copying it."""
        if self.kind != "main":
            return self.root.param(array, name) if self.kind == "subgraph" else self.const(np.asarray(array))
        tensor = ir.tensor(np.asarray(to_physical(array), order="C"), name=name)
        value = ir.Value(name=self.namer.fresh(name), type=ir.TensorType(tensor.dtype),
                         shape=ir.Shape(tensor.shape), const_value=tensor)
        self.initializers.append(value)
        return value

    def dim(self, d: Any) -> ir.Value:
        """A dimension (int or symbolic expression) as an int64 tensor of shape [1]."""
        if self.kind == "subgraph":
            return self.root.dim(d)
        if not _compat.is_symbolic_dim(d):
            return self.const(np.array([int(d)], dtype=np.int64))
        key = str(d)
        if key not in self._dim_cache:
            env = {name: _SymbolShape(value, axis) for name, value_axis in self._dim_env.items()
                   for (value, axis) in [value_axis]}
            try:
                result = _compat.evaluate_dim(d, env, _DimArith(self))
            except KeyError as exc:
                raise InputSpecError(
                    f"symbolic dimension '{d}' uses {exc} which no input shape defines; give an "
                    "input a dimension named exactly that") from None
            self._dim_cache[key] = self._as_dim_value(result)
        return self._dim_cache[key]

    def shape_tensor(self, dims: Sequence[Any]) -> ir.Value:
        """A 1-D int64 shape tensor; a constant when every dim is static."""
        if not any(_compat.is_symbolic_dim(d) for d in dims):
            return self.const(np.array([int(d) for d in dims], dtype=np.int64))
        parts = [self.dim(d) for d in dims]
        return parts[0] if len(parts) == 1 else self.op("Concat", parts, {"axis": 0})

    def _as_dim_value(self, v: Any) -> ir.Value:
        if isinstance(v, _SymbolShape):
            return self.op("Shape", [v.value], {"start": v.axis, "end": v.axis + 1})
        if isinstance(v, int):
            return self.const(np.array([v], dtype=np.int64))
        return v

    def build(self, outputs: Sequence[ir.Value], name: str) -> ir.Graph:
        return ir.Graph(self.inputs, list(outputs), nodes=self.nodes, initializers=self.initializers,
                        opset_imports={"": self.opset, **self.custom_opsets}, name=name)


class _SymbolShape:
    """A symbol whose value is read lazily from an input's shape."""

    def __init__(self, value: ir.Value, axis: int):
        self.value, self.axis = value, axis


class _DimArith:
    """Folds integer dims in Python and emits int64 shape arithmetic otherwise."""

    def __init__(self, builder: GraphBuilder):
        self.b = builder

    def _binary(self, op_type: str, py, x, y):
        if isinstance(x, int) and isinstance(y, int):
            return py(x, y)
        return self.b.op(op_type, [self.b._as_dim_value(x), self.b._as_dim_value(y)])

    def add(self, x, y):
        return self._binary("Add", lambda a, b: a + b, x, y)

    def sub(self, x, y):
        return self._binary("Sub", lambda a, b: a - b, x, y)

    def mul(self, x, y):
        if y == 1 or x == 1:
            return x if y == 1 else y
        return self._binary("Mul", lambda a, b: a * b, x, y)

    def floordiv(self, x, y):
        if isinstance(x, int) and isinstance(y, int):
            return x // y
        remainder = self.mod(x, y)
        return self._binary("Div", None, self.sub(x, remainder), y)

    def mod(self, x, y):
        return self._binary("Mod", lambda a, b: a % b, x, y)

    def max(self, x, y):
        return self._binary("Max", max, x, y)

    def min(self, x, y):
        return self._binary("Min", min, x, y)
