"""Helpers shared by the NNX rules: a rebuilt module's variables as graph values, layout moves."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx_ir as ir

from jax2onnx.plugin import LoweringContext


def value_of(variable: Any) -> Any:
    """The graph value held by an optional nnx Variable (None stays None)."""
    return None if variable is None else variable.get_value()


def typed(value: ir.Value, type_: ir.TypeProtocol | None) -> ir.Value:
    """Gives an intermediate value its type (constant folding keeps it for the folded weight)."""
    if value.type is None:
        value.type = type_
    return value


# Ops that act on each element alone: a Transpose commutes with them.
ELEMENTWISE = {
    "Relu", "LeakyRelu", "Elu", "Celu", "Selu", "Gelu", "Sigmoid", "HardSigmoid", "HardSwish", "Softplus",
    "Softsign", "Mish", "Tanh", "Neg", "Abs", "Exp", "Sqrt", "Clip", "Cast",
}


def transpose(ctx: LoweringContext, x: ir.Value, perm: Sequence[int] | np.ndarray) -> ir.Value:
    """Transpose, merged with a Transpose that produced ``x`` (none at all when the two cancel).

    This is what keeps NHWC layers NCHW inside: Conv -> Transpose -> Transpose -> Conv loses both,
    and so does Conv -> Transpose -> Relu -> Transpose -> Conv (the Relu moves inside).
    """
    perm = [int(p) for p in perm]
    node = x.producer()
    source = node.inputs[0] if node is not None and node.inputs else None
    if node is not None and source is not None and node.op_type in ELEMENTWISE and not node.domain \
            and _produced_by_transpose(node):
        moved = transpose(ctx, source, perm)
        # The moved node keeps the name and metadata of the one it replaces.
        with ctx.naming("", dict(node.metadata_props)):
            out = ctx.emit(node.op_type, [moved, *node.inputs[1:]], dict(node.attributes), name=node.name)
        return typed(out, node.outputs[0].type)
    if node is not None and source is not None and node.op_type == "Transpose":
        inner = list(node.attributes["perm"].as_ints())
        perm, x = [inner[p] for p in perm], source
    if perm == sorted(perm):
        return x
    return ctx.op.Transpose(x, perm=perm)


def _produced_by_transpose(node: ir.Node) -> bool:
    source = node.inputs[0].producer() if node.inputs and node.inputs[0] is not None else None
    return source is not None and source.op_type == "Transpose"


def channels_first(ctx: LoweringContext, x: ir.Value, axis: int, rank: int,
                   apply: Callable[[ir.Value], ir.Value]) -> ir.Value:
    """Applies ``apply`` (which wants channels on axis 1) to ``x`` whose channels are on ``axis``."""
    if axis == 1:
        return apply(x)
    perm = [0, axis] + [i for i in range(1, rank) if i != axis]
    return transpose(ctx, apply(transpose(ctx, x, perm)), np.argsort(perm))


def onnx_pads(pairs: list[tuple[int, int]]) -> list[int]:
    return [lo for lo, _ in pairs] + [hi for _, hi in pairs]


def same_pads(spatial, kernel_size, strides, kernel_dilation) -> list[tuple[int, int]] | None:
    """lax's SAME padding when every size it depends on is known (stride 1, or static input sizes)."""
    pairs = []
    for size, k, s, d in zip(spatial, kernel_size, strides, kernel_dilation):
        if s != 1 and not isinstance(size, int):
            return None
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0) if s != 1 else (k - 1) * d
        pairs.append((total // 2, total - total // 2))
    return pairs


def ops_apart_from_casts(*expected: str) -> Callable[[Any], None]:
    """A testcase check: the main graph's ops, Casts left out (modules that compute in their param dtype)."""

    def check(model: Any) -> None:
        ops = [n.op_type for n in model.graph.node if n.op_type != "Cast"]
        if ops != list(expected):
            raise AssertionError(f"graph ops {ops} (Casts left out), expected {list(expected)}")

    return check
