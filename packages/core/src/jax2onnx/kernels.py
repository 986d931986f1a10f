"""What ONNX Runtime's CPU provider can run: one table of op x dtype, and where to compute otherwise.

ONNX Runtime lacks CPU kernels for some op/dtype pairs (no float16 ScatterND with a reduction,
no bfloat16 TopK or Where, no int16 Pad). A rule emits such an op through
:meth:`LoweringContext.kernel_op`, which computes in the nearest wider dtype whose round trip
is exact (``WIDER``) and casts back, or raises UnsupportedDtypeError when there is none.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOAT = ("float32", "float64", "float16")
SINT = ("int8", "int16", "int32", "int64")
UINT = ("uint8", "uint16", "uint32", "uint64")
INT = SINT + UINT
NUMERIC = FLOAT + INT
ALL_DTYPES = NUMERIC + ("bfloat16", "bool")

# ONNX Runtime 1.31-1.32 CPU kernels, probed with one-node models at opsets 18 and 23 (a dtype is
# listed when both run it). An op not listed runs FLOAT. "Op:reduction" keys a Scatter reduction.
KERNELS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(["Add", "Sub", "Mul", "Div", "Mod", "Abs", "Less", "LessOrEqual", "Greater",
                     "GreaterOrEqual"], NUMERIC),
    "Equal": NUMERIC + ("bool",),
    "Sign": NUMERIC + ("bfloat16",),
    "Neg": FLOAT + SINT,
    **dict.fromkeys(["Max", "Min", "Clip"], FLOAT + ("int8", "int32", "int64", "uint8", "uint32", "uint64")),
    "Where": FLOAT + ("int8", "int32", "int64", "uint8", "uint32"),
    **dict.fromkeys(["IsNaN", "IsInf"], ("float32", "float64")),
    **dict.fromkeys(["Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Erf"],
                    ("float32", "float16")),
    **dict.fromkeys(["Not", "And", "Or", "Xor"], ("bool",)),
    **dict.fromkeys(["BitwiseNot", "BitwiseAnd", "BitwiseOr", "BitwiseXor"], INT),
    "BitShift": ("uint8", "uint32", "uint64"),
    "MatMul": FLOAT + ("int32", "int64", "uint32", "uint64"),
    "Gemm": FLOAT,
    "Einsum": FLOAT + ("int32", "int64"),
    "TopK": FLOAT + ("int8", "int16", "int32", "int64", "uint8"),
    "Pad": FLOAT + ("int8", "int32", "int64", "uint8", "uint32", "uint64", "bool"),
    **dict.fromkeys(["ScatterND", "ScatterElements"], ALL_DTYPES),
    **dict.fromkeys(["ScatterND:add", "ScatterND:mul", "ScatterElements:add", "ScatterElements:mul"],
                    ("float32", "float64") + INT + ("bool",)),
    **dict.fromkeys(["ScatterND:min", "ScatterND:max"], ("float32", "float64") + INT),
    **dict.fromkeys(["ScatterElements:min", "ScatterElements:max"], FLOAT + INT),
}
# Exact round trips to a wider dtype; uint64 -> int64 keeps the bits, which is all data movement needs.
WIDER = {"float16": "float32", "bfloat16": "float32", "bool": "uint8", "int8": "int32", "int16": "int32",
         "uint8": "uint32", "uint16": "uint32", "uint64": "int64"}


def dtype_name(dtype: Any) -> str:
    return np.dtype(dtype).name


# Opset 13's Add, Sub, Mul and Div take no 8- or 16-bit integers (opset 14 added them); bit
# tricks on BitShift's unsigned values do arithmetic too, so they widen with them.
SMALL_INTS_FROM_14 = {"Add", "Sub", "Mul", "Div", "BitShift"}


def has_kernel(op_type: str, dtype: Any, opset: int | None = None) -> bool:
    name = dtype_name(dtype)
    if opset is not None and opset < 14 and op_type in SMALL_INTS_FROM_14 and name in ("int8", "int16", "uint8",
                                                                                      "uint16"):
        return False
    return name in KERNELS.get(op_type, FLOAT)


def kernel_dtype(op_type: str, dtype: Any, opset: int | None = None) -> str | None:
    """``dtype``'s name if ORT runs ``op_type`` on it, else the nearest wider dtype that it runs; None if none."""
    name = dtype_name(dtype)
    while not has_kernel(op_type, name, opset) and name in WIDER:
        name = WIDER[name]
    return name if has_kernel(op_type, name, opset) else None


def supported_dtypes(op_type: str, opset: int | None = None) -> list[str]:
    """The dtypes ``op_type`` can be computed for, directly or in a wider dtype."""
    return [d for d in ALL_DTYPES if kernel_dtype(op_type, d, opset) is not None]
