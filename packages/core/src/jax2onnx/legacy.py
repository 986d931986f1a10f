"""Older forms of ONNX ops, for models that target an opset below an op's current form.

Rules emit the current form (``ctx.op.ReduceMax(x, axes)``, ``ctx.op.BitwiseAnd(a, b)``,
``ctx.op.Shape(x, start=1)``). When the model's opset predates that form, the builder hands the
node to the function registered here, which emits the same computation in ops the opset has.
An op with neither the form nor a fallback at the target opset raises :class:`OpsetError`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir

from .errors import OpsetError

# op_type -> (first opset of the form rules emit, emit(builder, op_type, inputs, attrs, num_outputs)), where
# ``emit`` returns the older form's output, or None when the node does not use the newer form.
DOWNGRADES: dict[str, tuple[int, Callable[..., Any]]] = {}
# op_type -> the opset below which its older form is other ops (not the op with its arguments rearranged).
REPLACED_BELOW: dict[str, int] = {}


def downgrade(*op_types: str, since: int, replaced_below: int | None = None) -> Callable:
    def register(emit: Callable) -> Callable:
        for op_type in op_types:
            DOWNGRADES[op_type] = (since, emit)
            REPLACED_BELOW[op_type] = since if replaced_below is None else replaced_below
        return emit

    return register


def shown_from(op_type: str) -> int:
    """The first opset at which a graph shows ``op_type`` where a rule emits it."""
    return max(first_opset(op_type), REPLACED_BELOW.get(op_type, 0))


def emit_older(builder: Any, op_type: str, inputs: list, attrs: dict, num_outputs: int) -> Any:
    """The older form's outputs for a node the builder's opset lacks, or None to emit it as is."""
    since, emit = DOWNGRADES.get(op_type, (0, None))
    result = None
    if emit is not None and builder.opset < since:
        result = emit(builder, op_type, inputs, attrs, num_outputs)
    if result is None:
        needed = first_opset(op_type)
        if needed > builder.opset:
            raise opset_error(builder, f"ONNX {op_type}", needed)
    return result


def first_opset(op_type: str) -> int:
    """The first opset of the default ONNX domain that defines ``op_type`` (0 if none does)."""
    return _first_opsets().get(op_type, 0)


@functools.cache
def _first_opsets() -> dict[str, int]:
    first: dict[str, int] = {}
    for schema in onnx.defs.get_all_schemas_with_history():
        if schema.domain in ("", "ai.onnx"):
            first[schema.name] = min(first.get(schema.name, schema.since_version), schema.since_version)
    return first


def opset_error(builder: Any, what: str, needed: int) -> OpsetError:
    where = builder.node_metadata.get("jax2onnx.source", "<unknown source>")
    primitive = builder.node_metadata.get("jax2onnx.primitive", "the function")
    return OpsetError(what, needed, builder.opset, f"{primitive} at {where}")


def constant(value: ir.Value | None) -> np.ndarray | None:
    if value is None:
        return None
    if value.const_value is not None:
        return value.const_value.numpy()
    node = value.producer()
    if node is not None and node.op_type == "Constant" and "value" in node.attributes:
        return node.attributes["value"].as_tensor().numpy()
    return None


def _ints(builder: Any, values) -> ir.Value:
    return builder.const(np.asarray(values, dtype=np.int64))


@downgrade("ReduceMax", "ReduceMin", "ReduceMean", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
           "ReduceLogSumExp", "ReduceSumSquare", since=18, replaced_below=0)
def _reduce_axes_attribute(b, op_type, inputs, attrs, num_outputs):
    if len(inputs) < 2 or inputs[1] is None:
        return None
    axes = constant(inputs[1])
    if axes is None:
        raise opset_error(b, f"ONNX {op_type} over axes computed in the graph", 18)
    return b.op(op_type, [inputs[0]], {**attrs, "axes": [int(a) for a in axes.reshape(-1)]})


@downgrade("Shape", since=15)
def _shape_slice(b, op_type, inputs, attrs, num_outputs):
    start, end = attrs.get("start"), attrs.get("end")
    if start is None and end is None:
        return None
    shape = b.op("Shape", inputs)
    return b.op("Slice", [shape, _ints(b, [start or 0]), _ints(b, [np.iinfo(np.int64).max if end is None else end]),
                          _ints(b, [0])])


@downgrade("Split", since=18, replaced_below=0)
def _split_sizes(b, op_type, inputs, attrs, num_outputs):
    if "num_outputs" not in attrs:
        return None
    # Before 18, Split without sizes cuts equal parts, one per output (an uneven split fails at run time).
    rest = {k: v for k, v in attrs.items() if k != "num_outputs"}
    return b.op("Split", inputs, rest, num_outputs=num_outputs)


@downgrade("Pad", since=19, replaced_below=18)
def _pad_all_axes(b, op_type, inputs, attrs, num_outputs):
    if attrs.get("mode") == "wrap":
        raise opset_error(b, "ONNX Pad with mode='wrap'", 19)
    if len(inputs) < 4 or inputs[3] is None or b.opset >= 18:
        return None
    x, pads, fill, axes = inputs
    # Pads for the listed axes, scattered into zeros for every axis ([begins..., ends...]).
    rank = b.op("Shape", [b.op("Shape", [x])])
    axes = b.op("Mod", [b.op("Add", [axes, rank]), rank])
    slots = b.op("Concat", [axes, b.op("Add", [axes, rank])], {"axis": 0})
    zeros = b.op("ConstantOfShape", [b.op("Mul", [rank, _ints(b, [2])])],
                 {"value": ir.tensor(np.zeros(1, np.int64))})
    return b.op("Pad", [x, b.op("ScatterElements", [zeros, slots, pads]), fill], attrs)


@downgrade("Reshape", since=14, replaced_below=0)
def _reshape_without_allowzero(b, op_type, inputs, attrs, num_outputs):
    if "allowzero" not in attrs:
        return None
    shape = constant(inputs[1])
    if not attrs["allowzero"] or shape is not None and 0 not in shape:
        return b.op("Reshape", inputs)
    dtype = dtype_of(inputs[0])
    if shape is None or dtype is None:
        raise opset_error(b, "ONNX Reshape to a computed shape with allowzero=1", 14)
    # A literal 0 in the shape: the result holds no elements, whatever the input's values.
    return b.op("ConstantOfShape", [inputs[1]], {"value": ir.tensor(np.zeros(1, dtype))})


# Bitwise ops on integers, bit by bit: the bits of x are (x >> k) mod 2 in an unsigned type
# BitShift covers; the bool op combines them; the bits' weighted sum (disjoint bits) is the result.
_BOOL_OPS = {"BitwiseAnd": "And", "BitwiseOr": "Or", "BitwiseXor": "Xor", "BitwiseNot": "Not"}


@downgrade(*_BOOL_OPS, since=18)
def _bitwise_by_bits(b, op_type, inputs, attrs, num_outputs):
    dtype = dtype_of(inputs[0])
    if dtype is None or dtype.kind not in "iu":
        raise opset_error(b, f"ONNX {op_type} on a value of unknown dtype", 18)
    width = 8 * dtype.itemsize
    unsigned = np.dtype({1: np.uint8, 2: np.uint32, 4: np.uint32, 8: np.uint64}[dtype.itemsize])
    to_unsigned = ir.DataType.from_numpy(unsigned)
    shifts = b.const(np.arange(width, dtype=unsigned))

    def bits(x):
        column = b.op("Unsqueeze", [b.op("Cast", [x], {"to": to_unsigned}), _ints(b, [-1])])
        shifted = b.op("BitShift", [column, shifts], {"direction": "RIGHT"})
        return b.op("Cast", [b.op("Mod", [shifted, b.const(np.array(2, unsigned))])], {"to": ir.DataType.BOOL})

    combined = b.op(_BOOL_OPS[op_type], [bits(x) for x in inputs])
    weighted = b.op("Mul", [b.op("Cast", [combined], {"to": ir.DataType.INT64}),
                            b.const(np.int64(1) << (np.arange(width, dtype=np.int64) % 32))])
    if width <= 32:
        total = b.op("ReduceSum", [weighted, _ints(b, [-1])], {"keepdims": 0})
    else:  # ONNX Runtime's int64 ReduceSum is inexact past 2**53: sum 32-bit halves, shift in uint64
        low, high = (_sum_bits(b, b.op("Slice", [weighted, _ints(b, [start]), _ints(b, [start + 32]), _ints(b, [-1])]),
                               ir.DataType.UINT64) for start in (0, 32))
        total = b.op("Add", [low, b.op("BitShift", [high, b.const(np.uint64(32))], {"direction": "LEFT"})])
    return b.op("Cast", [total], {"to": ir.DataType.from_numpy(dtype)})


def _sum_bits(b, weighted, to):
    return b.op("Cast", [b.op("ReduceSum", [weighted, _ints(b, [-1])], {"keepdims": 0})], {"to": to})


# Ops whose output dtype is that of their first input (for the dtypes the bitwise fallback needs).
_SAME_DTYPE = {
    "Add", "Sub", "Mul", "Div", "Mod", "Neg", "Abs", "Max", "Min", "BitShift", "Reshape", "Transpose", "Unsqueeze",
    "Squeeze", "Slice", "Gather", "GatherElements", "GatherND", "Concat", "Expand", "Identity", "Tile", "Flatten",
    "ScatterND", "ScatterElements", "Pad", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "CumSum",
    *_BOOL_OPS,
}


def dtype_of(value: ir.Value) -> np.dtype | None:
    """The numpy dtype of ``value``: its type, or followed back through dtype-preserving producers."""
    for _ in range(64):
        if value.dtype is not None:
            return value.dtype.numpy()
        node = value.producer()
        if node is None:
            return None
        if node.op_type == "Cast":
            return ir.DataType(node.attributes["to"].value).numpy()
        if node.op_type == "Where":
            value = node.inputs[1]
        elif node.op_type in _SAME_DTYPE:
            value = node.inputs[0]
        else:
            return None
    return None


_REDUCTION_OPSET = {"none": 1, "add": 16, "mul": 16, "max": 18, "min": 18}


@downgrade("ScatterND", "ScatterElements", since=18, replaced_below=0)
def _scatter_reduction(b, op_type, inputs, attrs, num_outputs):
    reduction = attrs.get("reduction") or "none"
    if reduction == "none" and b.opset < 16 and "reduction" in attrs:
        return b.op(op_type, inputs, {k: v for k, v in attrs.items() if k != "reduction"})
    if _REDUCTION_OPSET[reduction] <= b.opset:
        return None
    raise opset_error(b, f"ONNX {op_type} with reduction='{reduction}'", _REDUCTION_OPSET[reduction])
