"""inputs_as_nchw / outputs_as_nchw: a channels-first model boundary around a channels-last function."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import onnx_ir as ir

from .builder import GraphBuilder, tensor_type
from .errors import ExportOptionError

NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)


@dataclasses.dataclass(frozen=True)
class Layout:
    """Which inputs and outputs the model takes and returns NCHW while the function sees NHWC.

    Entries are positions (0-based, as in the established API) or names of model inputs/outputs.
    The boundary gets one Transpose per tensor; the clean-up passes push it through elementwise
    ops and cancel it against the Transposes of NHWC convolutions, so a conv stack has none left.
    """

    inputs_as_nchw: Sequence[int | str] | None = None
    outputs_as_nchw: Sequence[int | str] | None = None

    def inputs(self, names: Sequence[str], avals: Sequence[Any] | None) -> set[int]:
        return _positions(self.inputs_as_nchw, names, avals, "inputs_as_nchw", "input")

    def outputs(self, names: Sequence[str], avals: Sequence[Any] | None) -> set[int]:
        return _positions(self.outputs_as_nchw, names, avals, "outputs_as_nchw", "output")

    @staticmethod
    def outer_shape(shape: Sequence[Any], nchw: bool) -> tuple:
        return tuple(shape[p] for p in NHWC_TO_NCHW) if nchw else tuple(shape)

    @staticmethod
    def to_nhwc(builder: GraphBuilder, value: ir.Value, aval: Any) -> ir.Value:
        out = builder.op("Transpose", [value], {"perm": list(NCHW_TO_NHWC)})
        out.type, out.shape = tensor_type(aval.dtype, aval.shape)
        return out

    @staticmethod
    def to_nchw(builder: GraphBuilder, value: ir.Value, aval: Any) -> ir.Value:
        return builder.op("Transpose", [value], {"perm": list(NHWC_TO_NCHW)})


def _positions(entries: Sequence[int | str] | None, names: Sequence[str], avals: Sequence[Any] | None,
               option: str, kind: str) -> set[int]:
    if entries is None:
        return set()
    if isinstance(entries, (int, str)):
        raise ExportOptionError(f"{option} takes a list of {kind} positions or names, got {entries!r}")
    found: set[int] = set()
    for entry in entries:
        if isinstance(entry, str) and entry in names:
            index = list(names).index(entry)
        elif isinstance(entry, int) and not isinstance(entry, bool) and 0 <= entry < len(names):
            index = int(entry)
        else:
            raise ExportOptionError(
                f"{option}: {entry!r} is neither a position (0 to {len(names) - 1}) nor a name of the "
                f"{len(names)} {kind}s ({', '.join(names)})")
        if index in found:
            raise ExportOptionError(f"{option} names {kind} {index} twice")
        if avals is not None and len(avals[index].shape) != 4:
            raise ExportOptionError(
                f"{option}: {kind} {index} ({names[index]}) has rank {len(avals[index].shape)}; NCHW needs rank 4")
        found.add(index)
    return found
